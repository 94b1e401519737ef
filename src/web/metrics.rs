//! Prometheus text exposition for `GET /metrics`.
//!
//! The facade counts requests by route and status and failures by reason; the password gate
//! ([`GateLoad`]) supplies argon2 work in progress, waiting and refused; the engine's own
//! counters ([`crate::engine::Stats`]) supply refreshes, reuse detections, writer batches,
//! events and fsync time. Labels come from fixed sets, so the series count is bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use crate::engine::Stats;
use crate::web::password_gate::GateLoad;

/// The facade's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    failures: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn request(&self, route: &'static str, status: u16) {
        *self.requests.lock().entry((route, status)).or_default() += 1;
    }

    /// Counts one failed request by reason.
    pub(crate) fn failure(&self, reason: &'static str) {
        *self.failures.lock().entry(reason).or_default() += 1;
    }

    /// The exposition text, including the password gate's numbers and the engine's counters.
    pub(crate) fn render(&self, stats: &Stats, passwords: GateLoad) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP hallpass_http_requests_total Requests answered, by route and status.\n",
        );
        out.push_str("# TYPE hallpass_http_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().iter() {
            let _ = writeln!(
                out,
                "hallpass_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP hallpass_http_failures_total Failed requests, by reason.\n");
        out.push_str("# TYPE hallpass_http_failures_total counter\n");
        for (reason, n) in self.failures.lock().iter() {
            let _ = writeln!(
                out,
                "hallpass_http_failures_total{{reason=\"{reason}\"}} {n}"
            );
        }
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let batches = load(&stats.batches);
        let sync_micros = load(&stats.sync_micros);
        let counters = [
            (
                "hallpass_refresh_rotations_total",
                "Refresh tokens rotated.",
                load(&stats.rotations),
            ),
            (
                "hallpass_refresh_reuse_detections_total",
                "Sessions revoked for reusing a rotated-out refresh token.",
                load(&stats.reuse_detections),
            ),
            (
                "hallpass_writer_batches_total",
                "Batches made durable.",
                batches,
            ),
            (
                "hallpass_writer_commands_total",
                "Commands answered by the writer.",
                load(&stats.commands),
            ),
            (
                "hallpass_writer_events_total",
                "Events appended.",
                load(&stats.events),
            ),
            (
                "hallpass_writer_store_failures_total",
                "Failed batches or syncs.",
                load(&stats.store_failures),
            ),
            (
                "hallpass_writer_sync_micros_total",
                "Time in append + sync, microseconds.",
                sync_micros,
            ),
            (
                "hallpass_touches_dropped_total",
                "Last-seen touches dropped on a full queue.",
                load(&stats.touches_dropped),
            ),
            (
                "hallpass_password_checks_refused_total",
                "Password hashes and checks refused with 503: no slot free within the wait.",
                passwords.refused,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let mean = if batches == 0 {
            0.0
        } else {
            sync_micros as f64 / batches as f64
        };
        let _ = writeln!(
            out,
            "# HELP hallpass_writer_sync_micros_mean Mean append + sync time per batch.\n\
             # TYPE hallpass_writer_sync_micros_mean gauge\nhallpass_writer_sync_micros_mean {mean}"
        );
        let gauges = [
            (
                "hallpass_writer_consecutive_store_failures",
                "Writes failed since the last one that succeeded.",
                load(&stats.consecutive_store_failures),
            ),
            (
                "hallpass_writer_stopped",
                "1 once the writer stopped after too many failed writes in a row.",
                u64::from(stats.store_gave_up.load(Ordering::Relaxed)),
            ),
            (
                "hallpass_password_checks_in_progress",
                "Password hashes and checks (argon2) holding a slot.",
                passwords.in_progress,
            ),
            (
                "hallpass_password_checks_waiting",
                "Password hashes and checks waiting for a slot.",
                passwords.waiting,
            ),
            (
                "hallpass_password_checks_slots",
                "Password hashes and checks allowed at once (HALLPASS_PASSWORD_HASH_CONCURRENCY).",
                passwords.capacity,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_counters() {
        let m = Metrics::default();
        m.request("auth/login", 200);
        m.request("auth/login", 200);
        m.failure("invalid_body");
        let passwords = GateLoad {
            capacity: 2,
            in_progress: 2,
            waiting: 5,
            refused: 3,
        };
        let text = m.render(&Stats::default(), passwords);
        assert!(text.contains("hallpass_password_checks_in_progress 2\n"));
        assert!(text.contains("hallpass_password_checks_waiting 5\n"));
        assert!(text.contains("hallpass_password_checks_slots 2\n"));
        assert!(text.contains(
            "# TYPE hallpass_password_checks_refused_total counter\n\
             hallpass_password_checks_refused_total 3\n"
        ));
        assert!(
            text.contains("hallpass_http_requests_total{route=\"auth/login\",status=\"200\"} 2")
        );
        assert!(text.contains("hallpass_http_failures_total{reason=\"invalid_body\"} 1"));
        assert!(text.contains("hallpass_writer_sync_micros_mean 0"));
    }
}
