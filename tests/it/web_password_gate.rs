//! The password gate: at most `HALLPASS_PASSWORD_HASH_CONCURRENCY` argon2 hashes or checks at
//! once, a 503 envelope with `Retry-After` for a login that finds no slot within
//! `HALLPASS_PASSWORD_HASH_WAIT_SECONDS`, and engine writes that never wait behind it.
//!
//! Regression: every login and sign-up ran argon2 (19 MiB, tens of milliseconds) straight on
//! tokio's blocking pool, unbounded: a flood of logins took up to 512 threads (about 9.7 GiB)
//! and queued the engine writes of everyone else, a logout included, behind them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::web_auth::{PASSWORD, call, error_codes, get_session, session_token, signup};
use crate::web_util::{Response, TestServer, request, spawn_web};

/// The header that gives each request its own client address in these tests.
const CLIENT_IP_HEADER: &str = "X-Real-IP";

/// One password slot, refused at once when it is taken; no rate limits in the way.
const ONE_SLOT_NO_WAIT: &[(&str, &str)] = &[
    ("HALLPASS_PASSWORD_HASH_CONCURRENCY", "1"),
    ("HALLPASS_PASSWORD_HASH_WAIT_SECONDS", "0"),
    ("ACCOUNT_RATE_LIMITS", "false"),
];

/// The value of the unlabelled series `name` in the server's `/metrics`.
fn metric(addr: SocketAddr, name: &str) -> u64 {
    metric_if_any(addr, name).unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// As [`metric`], `None` when the server has no such series.
fn metric_if_any(addr: SocketAddr, name: &str) -> Option<u64> {
    let r = request(addr, "GET", "/metrics", &[], None);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

/// `POST auth/login` for `email` with `password` from client address `ip`.
fn login_from(server: &TestServer, email: &str, password: &str, ip: &str) -> Response {
    call(
        server,
        "POST",
        "auth/login",
        &[(CLIENT_IP_HEADER, ip)],
        Some(json!({"email": email, "password": password})),
    )
}

/// Sends `logins.len()` logins `(email, password, ip)` at once, released together by a
/// barrier; the threads answer with their responses.
fn concurrent_logins(
    server: &Arc<TestServer>,
    logins: Vec<(String, String, String)>,
) -> Vec<JoinHandle<Response>> {
    let barrier = Arc::new(Barrier::new(logins.len()));
    logins
        .into_iter()
        .map(|(email, password, ip)| {
            let server = Arc::clone(server);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                login_from(&server, &email, &password, &ip)
            })
        })
        .collect()
}

/// Asserts the gate's refusal: the 503 envelope every overload gets, and `Retry-After`.
fn assert_overloaded(r: &Response) {
    let json = r.assert_envelope(503);
    assert_eq!(
        json["errors"],
        json!([{
            "message": "Service temporarily unavailable. Try again later.",
            "code": "unavailable",
        }])
    );
    assert_eq!(r.header("retry-after"), Some("1"));
}

/// Polls `/metrics` from another thread until stopped; the largest value of `name` it saw.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Sampler {
    fn start(addr: SocketAddr, name: &'static str) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let most = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                while !stop.load(Ordering::SeqCst) {
                    let value = metric_if_any(addr, name).unwrap_or(0);
                    most.fetch_max(value, Ordering::SeqCst);
                }
                most.load(Ordering::SeqCst)
            }
        });
        Sampler { stop, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// 16 concurrent right-password logins through one slot that does not wait: the ones that
/// find it taken are the 503 envelope, the rest sign in, every refusal is counted, and the
/// gate is never seen holding more than its one slot.
#[test]
fn web_logins_beyond_the_password_slots_are_refused_with_503() {
    let server = Arc::new(spawn_web(ONE_SLOT_NO_WAIT));
    signup(&server, "flood@example.com");
    let sampler = Sampler::start(server.addr, "hallpass_password_checks_in_progress");
    let logins = (0..16)
        .map(|i| {
            let ip = format!("203.0.113.{}", i + 1);
            ("flood@example.com".to_owned(), PASSWORD.to_owned(), ip)
        })
        .collect();
    let responses: Vec<Response> = concurrent_logins(&server, logins)
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let most_in_progress = sampler.finish();
    let mut refused = 0;
    for r in &responses {
        match r.status {
            200 => assert!(!session_token(&r.json()).is_empty()),
            503 => {
                assert_overloaded(r);
                refused += 1;
            }
            status => panic!("unexpected {status}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert!(
        refused >= 1,
        "16 logins at once through one slot: some must be refused"
    );
    assert!(refused < 16, "the first login finds the slot free");
    assert!(
        most_in_progress <= 1,
        "{most_in_progress} checks held a slot at once"
    );
    assert_eq!(metric(server.addr, "hallpass_password_checks_slots"), 1);
    assert_eq!(
        metric(server.addr, "hallpass_password_checks_refused_total"),
        refused
    );
    assert_eq!(
        metric(server.addr, "hallpass_password_checks_in_progress"),
        0
    );
    assert_eq!(metric(server.addr, "hallpass_password_checks_waiting"), 0);
}

/// A login the gate refuses had no password checked, so it is no failure: 10 concurrent wrong
/// passwords from one address (its `login_failed` limit is 10 a minute) through one slot that
/// does not wait. Only the ones checked keep their reservation; afterwards the address has
/// exactly the rest of its 10.
#[test]
fn web_a_login_refused_by_the_password_gate_keeps_no_failed_login_slot() {
    let server = Arc::new(spawn_web(&[
        ("HALLPASS_PASSWORD_HASH_CONCURRENCY", "1"),
        ("HALLPASS_PASSWORD_HASH_WAIT_SECONDS", "0"),
        ("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", CLIENT_IP_HEADER),
    ]));
    let ip = "203.0.113.50";
    let logins = (0..10)
        .map(|i| {
            (
                format!("w{i}@example.com"),
                "wrong-password-1".to_owned(),
                ip.to_owned(),
            )
        })
        .collect();
    let (mut checked, mut refused) = (0, 0);
    for handle in concurrent_logins(&server, logins) {
        let r = handle.join().unwrap();
        if r.status == 503 {
            assert_overloaded(&r);
            refused += 1;
        } else {
            let codes = error_codes(&r.assert_envelope(400));
            assert_eq!(codes[0].0, "email_password_mismatch", "{codes:?}");
            checked += 1;
        }
    }
    assert!(
        refused >= 1,
        "10 logins at once through one slot: some must be refused"
    );
    for i in checked..10 {
        let r = login_from(
            &server,
            &format!("s{i}@example.com"),
            "wrong-password-1",
            ip,
        );
        let codes = error_codes(&r.assert_envelope(400));
        assert_eq!(codes[0].0, "email_password_mismatch", "failure {i} of 10");
    }
    let r = login_from(&server, "s10@example.com", "wrong-password-1", ip);
    let codes = error_codes(&r.assert_envelope(400));
    assert_eq!(
        codes[0].0, "too_many_login_attempts",
        "{checked} checked, {refused} refused"
    );
}

/// While 50 logins queue for the one password slot (waiting up to 5 s each), `GET
/// auth/session` and a logout, an engine write, are answered at once: the logout is done
/// while logins are still waiting, so it waited behind none of them.
#[test]
fn web_logout_is_not_queued_behind_password_checks() {
    let server = Arc::new(spawn_web(&[
        ("HALLPASS_PASSWORD_HASH_CONCURRENCY", "1"),
        ("HALLPASS_PASSWORD_HASH_WAIT_SECONDS", "5"),
        ("ACCOUNT_RATE_LIMITS", "false"),
    ]));
    let body = signup(&server, "queue@example.com");
    let token = session_token(&body);
    let logins = (0..50)
        .map(|i| {
            let ip = format!("203.0.113.{}", i + 1);
            ("queue@example.com".to_owned(), PASSWORD.to_owned(), ip)
        })
        .collect();
    let flood = concurrent_logins(&server, logins);
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(server.addr, "hallpass_password_checks_waiting") < 10 {
        assert!(Instant::now() < deadline, "the logins never queued");
    }
    let started = Instant::now();
    get_session(&server, &[("X-Session-Token", &token)]).assert_envelope(200);
    let read = started.elapsed();
    let started = Instant::now();
    let r = call(
        &server,
        "DELETE",
        "auth/session",
        &[("X-Session-Token", &token)],
        None,
    );
    let logout = started.elapsed();
    let still_waiting = metric(server.addr, "hallpass_password_checks_waiting");
    // allauth's answer to a logout: the anonymous 401.
    r.assert_envelope(401);
    assert!(
        still_waiting >= 1,
        "the queue drained before the logout was answered"
    );
    assert!(
        read < Duration::from_secs(2),
        "GET auth/session took {read:?}"
    );
    assert!(logout < Duration::from_secs(2), "logout took {logout:?}");
    for handle in flood {
        let status = handle.join().unwrap().status;
        assert!(status == 200 || status == 503, "{status}");
    }
    get_session(&server, &[("X-Session-Token", &token)]).assert_envelope(410);
}
