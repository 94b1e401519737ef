//! The HTTP facade against a real server on `127.0.0.1:0`.

use crate::web_util::{raw_request, request, spawn_web};

const API: &str = "/_allauth/app/v1";

#[test]
fn config_describes_email_login_and_open_signup() {
    let server = spawn_web(&[]);
    let r = request(server.addr, "GET", &format!("{API}/config"), &[], None);
    let json = r.assert_envelope(200);
    assert_eq!(
        json["data"]["account"]["login_methods"],
        serde_json::json!(["email"])
    );
    assert_eq!(json["data"]["account"]["is_open_for_signup"], true);
    assert!(r.header("x-request-id").is_some());

    let closed = spawn_web(&[("HALLPASS_SIGNUP_OPEN", "false")]);
    let r = request(closed.addr, "GET", &format!("{API}/config"), &[], None);
    assert_eq!(
        r.assert_envelope(200)["data"]["account"]["is_open_for_signup"],
        false
    );
}

#[test]
fn unknown_paths_and_methods_are_envelopes() {
    let server = spawn_web(&[]);
    let r = request(server.addr, "GET", "/nope", &[], None);
    let json = r.assert_envelope(404);
    assert_eq!(json["errors"][0]["code"], "not_found");
    let r = request(
        server.addr,
        "PUT",
        &format!("{API}/config"),
        &[],
        Some(b"{}"),
    );
    r.assert_envelope(405);
}

#[test]
fn oversized_bodies_are_413_envelopes() {
    let server = spawn_web(&[]);
    let big = vec![b'a'; 64 * 1024 + 1];
    let r = request(
        server.addr,
        "GET",
        &format!("{API}/config"),
        &[],
        Some(&big),
    );
    r.assert_envelope(413);
    // Chunked, with no Content-Length: caught while reading.
    let chunk = vec![b'a'; 40 * 1024];
    let mut body = Vec::new();
    for _ in 0..2 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "GET {API}/config HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    raw_request(server.addr, &head, &body).assert_envelope(413);
}

#[test]
fn client_request_id_is_echoed_and_metrics_count_requests() {
    let server = spawn_web(&[]);
    let r = request(
        server.addr,
        "GET",
        &format!("{API}/config"),
        &[("X-Request-Id", "abc-123")],
        None,
    );
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    request(server.addr, "GET", "/nope", &[], None);
    let r = request(server.addr, "GET", "/metrics", &[], None);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.contains("hallpass_http_requests_total{route=\"config\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("hallpass_http_failures_total{reason=\"not_found\"} 1"));
    assert!(text.contains("hallpass_writer_batches_total"));
    let _ = (&server.engine, &server.clock);
}

#[test]
fn invalid_setting_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN"),
        "{stderr}"
    );

    // The environment beats the file: a valid env value hides an invalid file value.
    let file = dir.path().join("settings.toml");
    std::fs::write(&file, "HALLPASS_DURABILITY = \"sometimes\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["sessions", "list", "--user", "1", "--data-dir"])
        .arg(dir.path())
        .arg("--config")
        .arg(&file)
        .env("HALLPASS_DURABILITY", "none")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["sessions", "list", "--user", "1", "--data-dir"])
        .arg(dir.path())
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HALLPASS_DURABILITY"));
    assert!(dir.path().join("secret_key").exists());
}

#[test]
fn serve_answers_then_exits_0_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--set",
            "HALLPASS_DURABILITY=none",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr: std::net::SocketAddr = crate::web_util::listening_addr(&mut lines);
    let r = request(addr, "GET", &format!("{API}/config"), &[], None);
    r.assert_envelope(200);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let status = child.wait().unwrap();
    let log = drain.join().unwrap().join("\n");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("engine closed"), "{log}");
    assert!(!log.contains("Bearer"));
}

#[test]
fn flags_beat_env_and_sessions_commands_list_and_revoke() {
    use hallpass::{Durability, PasswordHash, SessionMeta, SystemClock};
    let dir = tempfile::tempdir().unwrap();
    let user = {
        let (engine, _) = hallpass::Engine::open_dir(
            &dir.path().join("log"),
            Durability::Flush,
            std::sync::Arc::new(SystemClock),
            hallpass::EngineConfig::default(),
        )
        .unwrap();
        let user = engine
            .sign_up("a@example.com", "a", PasswordHash::unusable())
            .unwrap()
            .id;
        for _ in 0..2 {
            let meta = SessionMeta {
                user_agent: Some("cli-test".into()),
                ip: None,
                ..SessionMeta::default()
            };
            engine.create_session(user, meta, None).unwrap();
        }
        user
    };
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--set")
            .arg("HALLPASS_DURABILITY=flush")
            .env("HALLPASS_DURABILITY", "sometimes")
            .output()
            .unwrap()
    };
    let id = user.0.to_string();
    let out = run(&["sessions", "list", "--user", &id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    assert_eq!(listing.lines().count(), 2, "{listing}");
    assert!(listing.contains("user_agent=cli-test"));
    let first_no = listing.split('\t').next().unwrap().to_owned();
    let out = run(&["sessions", "revoke", "--user", &id, "--session", &first_no]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1 session(s) ended"
    );
    let out = run(&["sessions", "revoke", "--all-for-user", &id]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1 session(s) ended"
    );
    let out = run(&["sessions", "list", "--user", &id]);
    assert!(out.stdout.is_empty());
}
