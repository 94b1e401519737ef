//! [`ServerLimits`]: how long the server waits on a client, and how many connections it holds.
//!
//! These bound what an idle or slow client can take from the server: a file descriptor and a
//! few kilobytes per connection, for a bounded time. The accept loop (`listener`) enforces the
//! header and idle timeouts and the cap; `server::read_body` enforces the body timeout.

use std::time::Duration;

use crate::config::Config;

/// The default [`ServerLimits::header_read_timeout`].
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The default [`ServerLimits::body_read_timeout`].
const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The default [`ServerLimits::idle_timeout`]. Longer than the 60 s idle timeout of common
/// reverse proxies and load balancers (nginx `keepalive_timeout` upstream pools, AWS ALB), so
/// that the proxy, not us, closes a pooled connection: a server that closes first races the
/// proxy's next request on that connection.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// Descriptors left to everything else when the cap is derived from `RLIMIT_NOFILE`: the
/// listener, the event log's files, the runtime's epoll and wake-up descriptors, stdio, and the
/// one connection the accept loop holds while it frees a slot.
const FD_HEADROOM: u64 = 128;

/// The default cap when `RLIMIT_NOFILE` is large or unlimited. An idle connection costs a
/// descriptor and about 14 KiB of memory (hyper's 8 KiB read buffer, the task, our state;
/// measured with 2,000 of them), so 8,192 fit in about 110 MiB; more would mostly serve an
/// attacker.
const MAX_DEFAULT_CONNECTIONS: usize = 8192;

/// The smallest default cap, for a process whose open-file limit is tiny.
const MIN_DEFAULT_CONNECTIONS: usize = 32;

/// The largest cap [`ServerLimits::with_max_connections`] takes: far above any useful value,
/// and small enough for a semaphore's permit count.
const MAX_CONNECTIONS: usize = 1 << 20;

/// The cap when the open-file limit cannot be read (not unix): what a 1,024 limit gives.
#[cfg(not(unix))]
const FALLBACK_CONNECTIONS: usize = 896;

/// Timeouts and the connection cap of [`serve_with`](crate::serve_with).
///
/// Invariant: `1 <= max_connections <= 2^20`. Timeouts are used as given; a settings layer should
/// refuse 0, which would close every connection at once.
///
/// With the defaults, 2,000 idle or slow clients neither exhaust descriptors nor delay a normal
/// request: connections stay below the cap, which stays below `RLIMIT_NOFILE`, and when the cap
/// is reached a new connection closes the connection that has waited longest without a request
/// in progress, so a new client is served at once however many idle ones sit there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    header_read_timeout: Duration,
    body_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
}

impl Default for ServerLimits {
    /// Header 10 s, body 30 s, idle 75 s, and a cap of the open-file soft limit less 128 (at
    /// least 32, at most 8,192): 896 under the common `ulimit -n` of 1,024.
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: default_max_connections(),
        }
    }
}

impl ServerLimits {
    /// How long a client has to send a whole request head (request line and headers): from
    /// accepting a new connection, or from the first byte of a later request on a kept-alive
    /// one. A client still short of it then is disconnected, without a response.
    pub fn header_read_timeout(&self) -> Duration {
        self.header_read_timeout
    }

    /// How long a client has to send a whole request body, from when the endpoint starts
    /// reading it. Past it the request is answered 408 and the connection closed.
    pub fn body_read_timeout(&self) -> Duration {
        self.body_read_timeout
    }

    /// How long a kept-alive connection may wait, with no request in progress and no byte of
    /// the next one received, before it is closed.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// How many connections are held at once. At the cap, a new connection closes the one that
    /// has waited longest with no request in progress; when every connection has a request in
    /// progress, new ones wait in the listen backlog until one ends.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// The limits `config` sets: `HALLPASS_HTTP_HEADER_TIMEOUT_SECONDS`,
    /// `HALLPASS_HTTP_BODY_TIMEOUT_SECONDS`, `HALLPASS_HTTP_IDLE_TIMEOUT_SECONDS` and
    /// `HALLPASS_HTTP_MAX_CONNECTIONS`; with no cap set, the cap follows the open-file limit as in
    /// [`Default`].
    pub fn from_config(config: &Config) -> ServerLimits {
        let limits = ServerLimits::default()
            .with_header_read_timeout(secs(config.http_header_timeout_secs))
            .with_body_read_timeout(secs(config.http_body_timeout_secs))
            .with_idle_timeout(secs(config.http_idle_timeout_secs));
        match config.http_max_connections {
            Some(max) => limits.with_max_connections(max),
            None => limits,
        }
    }

    /// With [`header_read_timeout`](Self::header_read_timeout) set to `timeout`.
    pub fn with_header_read_timeout(self, timeout: Duration) -> ServerLimits {
        ServerLimits {
            header_read_timeout: timeout,
            ..self
        }
    }

    /// With [`body_read_timeout`](Self::body_read_timeout) set to `timeout`.
    pub fn with_body_read_timeout(self, timeout: Duration) -> ServerLimits {
        ServerLimits {
            body_read_timeout: timeout,
            ..self
        }
    }

    /// With [`idle_timeout`](Self::idle_timeout) set to `timeout`.
    pub fn with_idle_timeout(self, timeout: Duration) -> ServerLimits {
        ServerLimits {
            idle_timeout: timeout,
            ..self
        }
    }

    /// With [`max_connections`](Self::max_connections) set to `max`, taken into 1..=2^20.
    pub fn with_max_connections(self, max: usize) -> ServerLimits {
        ServerLimits {
            max_connections: max.clamp(1, MAX_CONNECTIONS),
            ..self
        }
    }
}

/// Whole seconds as a duration; validation keeps them at least 1, so a negative value (which
/// cannot come from a [`Config`]) is taken as 1.
fn secs(secs: i64) -> Duration {
    Duration::from_secs(u64::try_from(secs).unwrap_or(1))
}

/// The open-file soft limit less [`FD_HEADROOM`], clamped to
/// [`MIN_DEFAULT_CONNECTIONS`]..=[`MAX_DEFAULT_CONNECTIONS`]. Read at each call: a binary that
/// raises its own limit before building the limits gets the larger cap.
#[cfg(unix)]
fn default_max_connections() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    // why: `None` is RLIM_INFINITY.
    let soft = limit.current.unwrap_or(u64::MAX);
    let usable = usize::try_from(soft.saturating_sub(FD_HEADROOM)).unwrap_or(usize::MAX);
    usable.clamp(MIN_DEFAULT_CONNECTIONS, MAX_DEFAULT_CONNECTIONS)
}

/// Where the open-file limit cannot be read, what a limit of 1,024 would give.
#[cfg(not(unix))]
fn default_max_connections() -> usize {
    FALLBACK_CONNECTIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_stays_below_the_open_file_limit() {
        let limits = ServerLimits::default();
        let cap = limits.max_connections();
        assert!((MIN_DEFAULT_CONNECTIONS..=MAX_DEFAULT_CONNECTIONS).contains(&cap));
        #[cfg(unix)]
        {
            let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
            if let Some(soft) = soft.filter(|&soft| soft > FD_HEADROOM + 32) {
                assert!(cap as u64 + FD_HEADROOM <= soft, "cap {cap}, limit {soft}");
            }
        }
    }

    #[test]
    fn the_settings_defaults_are_the_limits_defaults() {
        let from_settings = ServerLimits::from_config(&Config::default());
        assert_eq!(from_settings, ServerLimits::default());
        let mut raw = crate::config::RawConfig::default();
        raw.set("HALLPASS_HTTP_HEADER_TIMEOUT_SECONDS", "3")
            .unwrap();
        raw.set("HALLPASS_HTTP_BODY_TIMEOUT_SECONDS", "4").unwrap();
        raw.set("HALLPASS_HTTP_IDLE_TIMEOUT_SECONDS", "5").unwrap();
        raw.set("HALLPASS_HTTP_MAX_CONNECTIONS", "77").unwrap();
        let limits = ServerLimits::from_config(&raw.validate().unwrap());
        assert_eq!(limits.header_read_timeout(), Duration::from_secs(3));
        assert_eq!(limits.body_read_timeout(), Duration::from_secs(4));
        assert_eq!(limits.idle_timeout(), Duration::from_secs(5));
        assert_eq!(limits.max_connections(), 77);
        for zero in [
            "HALLPASS_HTTP_HEADER_TIMEOUT_SECONDS",
            "HALLPASS_HTTP_BODY_TIMEOUT_SECONDS",
            "HALLPASS_HTTP_IDLE_TIMEOUT_SECONDS",
            "HALLPASS_HTTP_MAX_CONNECTIONS",
        ] {
            let mut raw = crate::config::RawConfig::default();
            raw.set(zero, "0").unwrap();
            let err = raw.validate().unwrap_err();
            assert_eq!(
                err.setting, zero,
                "0 is refused: it would close every connection"
            );
        }
    }

    #[test]
    fn builders_set_one_field_and_the_cap_is_at_least_one() {
        let limits = ServerLimits::default()
            .with_header_read_timeout(Duration::from_millis(500))
            .with_body_read_timeout(Duration::from_secs(1))
            .with_idle_timeout(Duration::from_secs(2))
            .with_max_connections(0);
        assert_eq!(limits.header_read_timeout(), Duration::from_millis(500));
        assert_eq!(limits.body_read_timeout(), Duration::from_secs(1));
        assert_eq!(limits.idle_timeout(), Duration::from_secs(2));
        assert_eq!(limits.max_connections(), 1);
        let huge = ServerLimits::default().with_max_connections(usize::MAX);
        assert_eq!(huge.max_connections(), MAX_CONNECTIONS);
    }
}
