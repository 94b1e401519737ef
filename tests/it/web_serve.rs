//! `hallpass serve` as an operator runs it: the HTTP limits, the separate metrics bind and the
//! warning about an ignored `X-Forwarded-For` are settings of the binary, seen from outside.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::web_util::{ServeChild, request};

const CONFIG: &str = "/_allauth/app/v1/config";

/// The address in a log line's `addr=…` field.
fn addr_in(line: &str) -> SocketAddr {
    crate::web_util::listening_addr(&mut std::iter::once(Ok(line.to_owned())))
}

#[test]
fn header_and_idle_timeouts_are_settings_of_serve() {
    let server = ServeChild::start(&[
        ("HALLPASS_HTTP_HEADER_TIMEOUT_SECONDS", "1"),
        ("HALLPASS_HTTP_IDLE_TIMEOUT_SECONDS", "2"),
        ("HALLPASS_HTTP_MAX_CONNECTIONS", "40"),
    ]);
    let line = server.wait_for_log("listening");
    assert!(line.contains("header_timeout_s=1"), "{line}");
    assert!(line.contains("idle_timeout_s=2"), "{line}");
    assert!(line.contains("max_connections=40"), "{line}");

    // Half a request head: cut off after the 1 s header timeout, not the default 10 s.
    let started = Instant::now();
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    slow.write_all(b"GET /_allauth/app/v1/config HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );

    // A normal request is still served.
    assert_eq!(request(server.addr, "GET", CONFIG, &[], None).status, 200);
}

#[test]
fn a_zero_timeout_is_refused_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--set", "HALLPASS_HTTP_BODY_TIMEOUT_SECONDS=0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HALLPASS_HTTP_BODY_TIMEOUT_SECONDS"),
        "{stderr}"
    );
}

#[test]
fn metrics_bind_serves_metrics_apart_and_the_api_bind_answers_404() {
    let server = ServeChild::start(&[("HALLPASS_METRICS_BIND", "127.0.0.1:0")]);
    let metrics = addr_in(&server.wait_for_log("serving /metrics"));
    assert_ne!(metrics, server.addr);

    let scraped = request(metrics, "GET", "/metrics", &[], None);
    assert_eq!(scraped.status, 200);
    assert!(String::from_utf8_lossy(&scraped.body).contains("hallpass_http_requests_total"));
    assert_eq!(request(metrics, "GET", "/readyz", &[], None).status, 200);
    // The metrics bind serves nothing of the API...
    assert_eq!(request(metrics, "GET", CONFIG, &[], None).status, 404);
    // ...and the API's bind no longer serves the metrics.
    let hidden = request(server.addr, "GET", "/metrics", &[], None);
    hidden.assert_envelope(404);
    assert_eq!(request(server.addr, "GET", CONFIG, &[], None).status, 200);
}

#[test]
fn an_ignored_forwarded_for_is_warned_about_once_naming_the_setting() {
    let server = ServeChild::start(&[]);
    let plain = request(server.addr, "GET", CONFIG, &[], None);
    assert_eq!(plain.status, 200);
    assert_eq!(server.log_count("X-Forwarded-For ignored"), 0);
    for _ in 0..3 {
        let r = request(
            server.addr,
            "GET",
            CONFIG,
            &[("X-Forwarded-For", "203.0.113.7")],
            None,
        );
        assert_eq!(r.status, 200);
    }
    let line = server.wait_for_log("X-Forwarded-For ignored");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("ALLAUTH_TRUSTED_PROXY_COUNT"), "{line}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.log_count("X-Forwarded-For ignored"), 1);
}

#[test]
fn a_trusted_proxy_count_silences_the_forwarded_for_warning() {
    let server = ServeChild::start(&[("ALLAUTH_TRUSTED_PROXY_COUNT", "1")]);
    let r = request(
        server.addr,
        "GET",
        CONFIG,
        &[("X-Forwarded-For", "203.0.113.7")],
        None,
    );
    assert_eq!(r.status, 200);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.log_count("X-Forwarded-For ignored"), 0);
}
