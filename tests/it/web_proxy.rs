//! The client's address behind a TLS-terminating proxy: `ALLAUTH_TRUSTED_PROXY_COUNT` and
//! `ALLAUTH_TRUSTED_CLIENT_IP_HEADER` decide the per-address rate-limit bucket and the IP a
//! session records; with neither set, forwarding headers are ignored.

use serde_json::json;

use crate::web_auth::{API, PASSWORD, call, session_token};
use crate::web_util::{Response, TestServer, raw_request, spawn_web};

/// `POST auth/login` with an empty body (a 400 that still counts against `login`, 30/min per
/// address) and `headers`.
fn login_attempt(server: &TestServer, headers: &[(&str, &str)]) -> u16 {
    call(server, "POST", "auth/login", headers, Some(json!({}))).status
}

/// Uses up the `login` limit of the address `headers` resolve to: 30 attempts, all 400.
fn exhaust_login_limit(server: &TestServer, headers: &[(&str, &str)]) {
    for _ in 0..30 {
        assert_eq!(login_attempt(server, headers), 400);
    }
    assert_eq!(login_attempt(server, headers), 429);
}

/// Signs up with `headers`; returns the IP the new session recorded.
fn signup_ip(server: &TestServer, email: &str, headers: &[(&str, &str)]) -> String {
    let body = call(
        server,
        "POST",
        "auth/signup",
        headers,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .assert_envelope(200);
    let token = session_token(&body);
    let list = call(
        server,
        "GET",
        "auth/sessions",
        &[("X-Session-Token", token.as_str())],
        None,
    )
    .assert_envelope(200);
    list["data"][0]["ip"].as_str().unwrap().to_owned()
}

#[test]
fn web_proxy_count_1_gives_each_forwarded_client_its_own_bucket() {
    let server = spawn_web(&[("ALLAUTH_TRUSTED_PROXY_COUNT", "1")]);
    let a = [("X-Forwarded-For", "203.0.113.1")];
    let b = [("X-Forwarded-For", "203.0.113.2")];
    exhaust_login_limit(&server, &a);
    assert_eq!(
        login_attempt(&server, &b),
        400,
        "another client, another bucket"
    );
    // Only the right-most entry is our proxy's: a client prepending entries stays itself.
    let spoofed = [("X-Forwarded-For", "198.51.100.1, 203.0.113.1")];
    assert_eq!(login_attempt(&server, &spoofed), 429);
    // Without the header (a direct request), the peer address: a third bucket.
    assert_eq!(login_attempt(&server, &[]), 400);
    server.clock.advance_secs(61);
    assert_eq!(login_attempt(&server, &a), 400);
}

#[test]
fn web_proxy_count_0_ignores_forwarded_for_so_spoofing_it_does_not_escape_the_limit() {
    let server = spawn_web(&[]);
    exhaust_login_limit(&server, &[("X-Forwarded-For", "203.0.113.1")]);
    for spoof in ["203.0.113.2", "198.51.100.7, 203.0.113.3", "garbage"] {
        assert_eq!(
            login_attempt(&server, &[("X-Forwarded-For", spoof)]),
            429,
            "{spoof}"
        );
    }
    assert_eq!(login_attempt(&server, &[("X-Real-IP", "203.0.113.4")]), 429);
    // The session records the peer address, whatever the headers say.
    server.clock.advance_secs(61);
    let ip = signup_ip(
        &server,
        "direct@example.com",
        &[
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Real-IP", "203.0.113.9"),
        ],
    );
    assert_eq!(ip, "127.0.0.1");
}

#[test]
fn web_proxy_count_sets_the_recorded_session_ip() {
    let server = spawn_web(&[("ALLAUTH_TRUSTED_PROXY_COUNT", "2")]);
    let ip = signup_ip(
        &server,
        "two@example.com",
        &[("X-Forwarded-For", "198.51.100.1, 2001:DB8::7, 10.0.0.2")],
    );
    assert_eq!(ip, "2001:db8::7");
    let ip = signup_ip(
        &server,
        "port@example.com",
        &[
            ("X-Forwarded-For", "203.0.113.5:50123"),
            ("X-Forwarded-For", "10.0.0.2"),
        ],
    );
    assert_eq!(
        ip, "203.0.113.5",
        "repeated header lines are one list; ports dropped"
    );
}

#[test]
fn web_trusted_client_ip_header_wins_over_forwarded_for() {
    let server = spawn_web(&[
        ("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", "X-Real-IP"),
        ("ALLAUTH_TRUSTED_PROXY_COUNT", "1"),
    ]);
    let a = [
        ("X-Real-IP", "198.51.100.7"),
        ("X-Forwarded-For", "203.0.113.1"),
    ];
    exhaust_login_limit(&server, &a);
    // Same X-Forwarded-For, another X-Real-IP: another client.
    let b = [
        ("x-real-ip", "198.51.100.8"),
        ("X-Forwarded-For", "203.0.113.1"),
    ];
    assert_eq!(login_attempt(&server, &b), 400);
    // Changing X-Forwarded-For does not change the client.
    let a_again = [
        ("X-Real-IP", "198.51.100.7"),
        ("X-Forwarded-For", "203.0.113.2"),
    ];
    assert_eq!(login_attempt(&server, &a_again), 429);
    let ip = signup_ip(&server, "real@example.com", &b);
    assert_eq!(ip, "198.51.100.8");
}

/// Whatever the forwarding headers hold, the request is answered normally from the peer
/// address: never a 500, never a panic.
#[test]
fn web_malformed_client_ip_headers_fall_back_to_the_peer_address() {
    let behind_two = spawn_web(&[("ALLAUTH_TRUSTED_PROXY_COUNT", "2")]);
    // Fewer entries than trusted proxies (allauth: ImproperlyConfigured, a 500).
    let ip = signup_ip(
        &behind_two,
        "short@example.com",
        &[("X-Forwarded-For", "203.0.113.9")],
    );
    assert_eq!(ip, "127.0.0.1");

    let behind_one = spawn_web(&[("ALLAUTH_TRUSTED_PROXY_COUNT", "1")]);
    for (n, garbage) in [
        "not-an-ip",
        ",",
        "203.0.113.9,",
        "999.0.0.1",
        "[::1",
        "\"1.2.3.4\"",
    ]
    .iter()
    .enumerate()
    {
        let ip = signup_ip(
            &behind_one,
            &format!("garbage{n}@example.com"),
            &[("X-Forwarded-For", garbage)],
        );
        assert_eq!(ip, "127.0.0.1", "{garbage}");
    }
    // Bytes that are not visible ASCII.
    let body = br#"{"email": "bytes@example.com", "password": "correct-horse-battery-9"}"#;
    let head = format!(
        "POST {API}/auth/signup HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\
         X-Forwarded-For: 203.0.113.9, \u{e9}t\u{e9}\r\n\r\n",
        body.len()
    );
    let r: Response = raw_request(behind_one.addr, &head, body);
    r.assert_envelope(200);

    let with_header = spawn_web(&[("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", "CF-Connecting-IP")]);
    for (n, headers) in [
        vec![],
        vec![("CF-Connecting-IP", "garbage")],
        vec![("CF-Connecting-IP", "203.0.113.1, 203.0.113.2")],
        vec![("X-Forwarded-For", "203.0.113.3")],
    ]
    .iter()
    .enumerate()
    {
        let ip = signup_ip(&with_header, &format!("header{n}@example.com"), headers);
        assert_eq!(ip, "127.0.0.1", "{headers:?}");
    }
}

#[test]
fn web_invalid_proxy_settings_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("ALLAUTH_TRUSTED_PROXY_COUNT", "one"),
        ("ALLAUTH_TRUSTED_PROXY_COUNT", "-1"),
        ("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", "X Real IP"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .arg("--set")
            .arg(format!("{name}={value}"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{stderr}");
    }
}
