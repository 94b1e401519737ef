//! Failed-login limits under concurrency: `login_failed` (10/min per address, 5 per 5 min per
//! e-mail) is reserved before the password is checked, so parallel wrong guesses cannot all
//! slip past a check made before any of them was recorded, and a right password gives its
//! reservation back.
//!
//! Regression: the limits used to be checked before argon2 and recorded only after a failure,
//! so 30 concurrent wrong passwords for one e-mail were all answered `email_password_mismatch`
//! (30 guesses where the limit allows 5).

use std::sync::{Arc, Barrier};

use serde_json::json;

use crate::web_auth::{PASSWORD, call, error_codes, signup};
use crate::web_util::{TestServer, spawn_web};

/// The header that gives each request its own client address in these tests.
const CLIENT_IP_HEADER: &str = "X-Real-IP";

/// A server that takes the client's address from [`CLIENT_IP_HEADER`].
fn server() -> Arc<TestServer> {
    Arc::new(spawn_web(&[(
        "ALLAUTH_TRUSTED_CLIENT_IP_HEADER",
        CLIENT_IP_HEADER,
    )]))
}

/// `POST auth/login` for `email` with `password` from client address `ip`; returns the
/// single error code of the 400 it must be.
fn failed_login(server: &TestServer, email: &str, password: &str, ip: &str) -> String {
    let r = call(
        server,
        "POST",
        "auth/login",
        &[(CLIENT_IP_HEADER, ip)],
        Some(json!({"email": email, "password": password})),
    )
    .assert_envelope(400);
    let codes = error_codes(&r);
    assert_eq!(codes.len(), 1, "{codes:?}");
    codes[0].0.clone()
}

/// `POST auth/login` with the right password from `ip`; returns the status.
fn good_login(server: &TestServer, email: &str, ip: &str) -> u16 {
    call(
        server,
        "POST",
        "auth/login",
        &[(CLIENT_IP_HEADER, ip)],
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .status
}

/// Sends `attempts.len()` wrong-password logins at once, `(email, ip)` each, released together
/// by a barrier; returns how many were answered `email_password_mismatch` and how many
/// `too_many_login_attempts` (any other answer fails the test).
fn concurrent_wrong_logins(
    server: &Arc<TestServer>,
    attempts: Vec<(String, String)>,
) -> (usize, usize) {
    let barrier = Arc::new(Barrier::new(attempts.len()));
    let handles: Vec<_> = attempts
        .into_iter()
        .map(|(email, ip)| {
            let server = Arc::clone(server);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                failed_login(&server, &email, "wrong-password-1", &ip)
            })
        })
        .collect();
    let codes: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mismatches = codes
        .iter()
        .filter(|c| *c == "email_password_mismatch")
        .count();
    let refused = codes
        .iter()
        .filter(|c| *c == "too_many_login_attempts")
        .count();
    assert_eq!(mismatches + refused, codes.len(), "{codes:?}");
    (mismatches, refused)
}

/// 30 concurrent wrong passwords for one e-mail, each from its own address so that only the
/// per-e-mail limit applies: exactly 5 are checked, 25 refused, and the account stays locked
/// for the window even with the right password.
#[test]
fn web_login_failed_per_email_holds_under_concurrent_guesses() {
    let server = server();
    let email = "victim@example.com";
    call(
        &server,
        "POST",
        "auth/signup",
        &[(CLIENT_IP_HEADER, "198.51.100.1")],
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .assert_envelope(200);
    let attempts = (0..30)
        .map(|i| (email.to_owned(), format!("203.0.113.{}", i + 1)))
        .collect();
    assert_eq!(concurrent_wrong_logins(&server, attempts), (5, 25));
    assert_eq!(
        failed_login(&server, email, PASSWORD, "192.0.2.1"),
        "too_many_login_attempts"
    );
    server.clock.advance_secs(301);
    assert_eq!(good_login(&server, email, "192.0.2.1"), 200);
}

/// 30 concurrent wrong passwords from one address for 30 e-mails: the per-address limit lets
/// exactly 10 through.
#[test]
fn web_login_failed_per_address_holds_under_concurrent_guesses() {
    let server = server();
    let attempts = (0..30)
        .map(|i| (format!("u{i}@example.com"), "203.0.113.7".to_owned()))
        .collect();
    assert_eq!(concurrent_wrong_logins(&server, attempts), (10, 20));
    // Another address is not affected.
    assert_eq!(
        failed_login(&server, "u0@example.com", "wrong-password-1", "203.0.113.8"),
        "email_password_mismatch"
    );
}

/// Both limits at once: 20 concurrent wrong passwords for one e-mail from one address. The
/// e-mail's 5 run out first; attempts it refuses give their per-address reservation back, so
/// the address has 5 of its 10 left afterwards.
#[test]
fn web_login_failed_both_limits_under_concurrent_guesses() {
    let server = server();
    let ip = "203.0.113.9";
    let attempts = (0..20)
        .map(|_| ("one@example.com".to_owned(), ip.to_owned()))
        .collect();
    assert_eq!(concurrent_wrong_logins(&server, attempts), (5, 15));
    for i in 0..5 {
        assert_eq!(
            failed_login(
                &server,
                &format!("o{i}@example.com"),
                "wrong-password-1",
                ip
            ),
            "email_password_mismatch",
            "attempt {i}"
        );
    }
    assert_eq!(
        failed_login(&server, "o5@example.com", "wrong-password-1", ip),
        "too_many_login_attempts"
    );
}

/// Successful logins do not use up failure slots: a reservation is given back when the
/// password is right, so 12 good logins from one address leave its 10 failures intact.
#[test]
fn web_successful_logins_give_their_failure_slot_back() {
    let server = server();
    let ip = "203.0.113.10";
    signup(&server, "good@example.com");
    for _ in 0..12 {
        assert_eq!(good_login(&server, "good@example.com", ip), 200);
    }
    for i in 0..10 {
        assert_eq!(
            failed_login(
                &server,
                &format!("g{i}@example.com"),
                "wrong-password-1",
                ip
            ),
            "email_password_mismatch",
            "attempt {i}"
        );
    }
    assert_eq!(
        failed_login(&server, "g10@example.com", "wrong-password-1", ip),
        "too_many_login_attempts"
    );
}
