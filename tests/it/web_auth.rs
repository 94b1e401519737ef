//! The authentication endpoints with the session strategy: sign-up, login, session state,
//! logout, the session list, the 409s, bad input and rate limits.

use serde_json::{Value, json};

use crate::web_util::{Response, TestServer, raw_request, request, spawn_web, spawn_web_faulty};

pub(crate) const API: &str = "/_allauth/app/v1";
pub(crate) const PASSWORD: &str = "correct-horse-battery-9";

/// `method API/path` with `headers` and a JSON body.
pub(crate) fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Response {
    let body = body.map(|b| b.to_string().into_bytes());
    let mut headers = headers.to_vec();
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    request(
        server.addr,
        method,
        &format!("{API}/{path}"),
        &headers,
        body.as_deref(),
    )
}

/// Signs `email` up with [`PASSWORD`]; returns the 200 body.
pub(crate) fn signup(server: &TestServer, email: &str) -> Value {
    call(
        server,
        "POST",
        "auth/signup",
        &[],
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .assert_envelope(200)
}

/// Logs `email` in with `password`.
pub(crate) fn login(server: &TestServer, email: &str, password: &str) -> Response {
    call(
        server,
        "POST",
        "auth/login",
        &[],
        Some(json!({"email": email, "password": password})),
    )
}

pub(crate) fn session_token(body: &Value) -> String {
    body["meta"]["session_token"].as_str().unwrap().to_owned()
}

pub(crate) fn get_session(server: &TestServer, headers: &[(&str, &str)]) -> Response {
    call(server, "GET", "auth/session", headers, None)
}

/// Asserts the 401 anonymous body (flows login and signup).
pub(crate) fn assert_anonymous(r: &Response) {
    let json = r.assert_envelope(401);
    assert_eq!(
        json["data"]["flows"],
        json!([{"id": "login"}, {"id": "signup"}])
    );
    assert_eq!(json["meta"], json!({"is_authenticated": false}));
}

/// Asserts the 410 dead-session body.
pub(crate) fn assert_gone(r: &Response) {
    let json = r.assert_envelope(410);
    assert_eq!(json["meta"], json!({"is_authenticated": null}));
    assert!(json["data"]["flows"].is_array());
}

pub(crate) fn error_codes(json: &Value) -> Vec<(String, Option<String>)> {
    json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap().to_owned(),
                e.get("param").map(|p| p.as_str().unwrap().to_owned()),
            )
        })
        .collect()
}

pub(crate) fn codes(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    pairs
        .iter()
        .map(|(c, p)| ((*c).to_owned(), p.map(str::to_owned)))
        .collect()
}

#[test]
fn web_session_strategy_signup_session_logout_contract() {
    let server = spawn_web(&[]);
    let body = signup(&server, "  Ann.Lee@Example.COM ");
    let token = session_token(&body);
    assert_eq!(token.len(), 32);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(body["data"]["methods"], json!([]));
    let user = &body["data"]["user"];
    assert_eq!(user["email"], "ann.lee@example.com");
    assert_eq!(user["display"], user["username"]);
    assert_eq!(user["has_usable_password"], true);
    assert!(user["id"].is_u64());
    assert!(body["meta"].get("access_token").is_none());
    assert!(body["meta"].get("refresh_token").is_none());
    assert_eq!(body["meta"]["is_authenticated"], true);

    let auth = [("X-Session-Token", token.as_str())];
    let r = get_session(&server, &auth).assert_envelope(200);
    assert_eq!(r["meta"], json!({"is_authenticated": true}));
    assert_eq!(r["data"]["user"], *user);
    // GET auth/session appends no event.
    let events = server
        .engine
        .stats()
        .events
        .load(std::sync::atomic::Ordering::Relaxed);
    get_session(&server, &auth).assert_envelope(200);
    assert_eq!(
        server
            .engine
            .stats()
            .events
            .load(std::sync::atomic::Ordering::Relaxed),
        events
    );

    assert_anonymous(&get_session(&server, &[]));
    assert_gone(&get_session(
        &server,
        &[("X-Session-Token", "nosuchsession")],
    ));
    // Tokens in the query string are never read.
    let r = request(
        server.addr,
        "GET",
        &format!("{API}/auth/session?session_token={token}&X-Session-Token={token}"),
        &[],
        None,
    );
    assert_anonymous(&r);

    // The session strategy has no refresh tokens.
    let r = call(
        &server,
        "POST",
        "tokens/refresh",
        &[],
        Some(json!({"refresh_token": "x"})),
    );
    assert_eq!(r.assert_envelope(400), json!({"status": 400}));
    let r = request(server.addr, "GET", "/.well-known/jwks.json", &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"keys": []}));

    // Logout: the 401 anonymous body; then the token is dead; no credentials: 401.
    let r = call(&server, "DELETE", "auth/session", &auth, None);
    assert_anonymous(&r);
    assert!(r.json()["meta"].get("session_token").is_none());
    assert_gone(&call(&server, "DELETE", "auth/session", &auth, None));
    assert_gone(&get_session(&server, &auth));
    assert_anonymous(&call(&server, "DELETE", "auth/session", &[], None));
}

#[test]
fn web_signup_validation_errors() {
    let server = spawn_web(&[]);
    let post = |body: Value| call(&server, "POST", "auth/signup", &[], Some(body));
    let r = post(json!({})).assert_envelope(400);
    assert_eq!(
        error_codes(&r),
        codes(&[("required", Some("email")), ("required", Some("password"))])
    );
    let r = post(json!({"email": "not-an-email", "password": PASSWORD})).assert_envelope(400);
    assert_eq!(error_codes(&r), codes(&[("invalid", Some("email"))]));
    let r = post(json!({"email": "b@example.com", "password": "1234"})).assert_envelope(400);
    assert_eq!(
        error_codes(&r),
        codes(&[
            ("password_too_short", Some("password")),
            ("password_too_common", Some("password")),
            ("password_entirely_numeric", Some("password")),
        ])
    );
    let r =
        post(json!({"email": "margaret.hamilton@example.com", "password": "margaret.hamilton"}))
            .assert_envelope(400);
    assert_eq!(
        error_codes(&r),
        codes(&[("password_too_similar", Some("password"))])
    );
    signup(&server, "c@example.com");
    let r = post(json!({"email": "C@example.com", "password": PASSWORD})).assert_envelope(400);
    assert_eq!(error_codes(&r), codes(&[("email_taken", Some("email"))]));

    let closed = spawn_web(&[("HALLPASS_SIGNUP_OPEN", "false")]);
    let r = call(
        &closed,
        "POST",
        "auth/signup",
        &[],
        Some(json!({"email": "d@example.com", "password": PASSWORD})),
    );
    r.assert_envelope(403);
    let r = get_session(&closed, &[]).assert_envelope(401);
    assert_eq!(r["data"]["flows"], json!([{"id": "login"}]));
}

#[test]
fn web_login_contract_and_409s() {
    let server = spawn_web(&[]);
    let first = signup(&server, "e@example.com");
    let r = login(&server, "E@example.com", PASSWORD).assert_envelope(200);
    let methods = r["data"]["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0]["method"], "password");
    assert_eq!(methods[0]["email"], "e@example.com");
    assert!(methods[0]["at"].is_f64());
    assert_ne!(session_token(&r), session_token(&first));
    // A later GET auth/session lists the same method (the session records it), and a
    // signed-up session lists none.
    let again = session_token(&r);
    let later = get_session(&server, &[("X-Session-Token", again.as_str())]).assert_envelope(200);
    assert_eq!(later["data"]["methods"], r["data"]["methods"]);
    let first_token = session_token(&first);
    let later = get_session(&server, &[("X-Session-Token", first_token.as_str())]);
    assert_eq!(later.assert_envelope(200)["data"]["methods"], json!([]));

    // Wrong password and unknown e-mail: the same body.
    let wrong = login(&server, "e@example.com", "wrong-password-1").assert_envelope(400);
    let unknown = login(&server, "nobody@example.com", PASSWORD).assert_envelope(400);
    assert_eq!(wrong, unknown);
    assert_eq!(
        error_codes(&wrong),
        codes(&[("email_password_mismatch", Some("password"))])
    );
    assert_eq!(
        wrong["errors"][0]["message"],
        "The email address and/or password you specified are not correct."
    );

    // Already authenticated: 409, checked after the password.
    let token = session_token(&first);
    let auth = [("X-Session-Token", token.as_str())];
    let body = json!({"email": "e@example.com", "password": PASSWORD});
    let r = call(&server, "POST", "auth/login", &auth, Some(body.clone()));
    assert_eq!(r.assert_envelope(409), json!({"status": 409}));
    let bad = json!({"email": "e@example.com", "password": "wrong-password-1"});
    call(&server, "POST", "auth/login", &auth, Some(bad)).assert_envelope(400);
    let signup_body = json!({"email": "f@example.com", "password": PASSWORD});
    let r = call(&server, "POST", "auth/signup", &auth, Some(signup_body));
    assert_eq!(r.assert_envelope(409), json!({"status": 409}));
    // A dead token is no session: login proceeds.
    let dead = [("X-Session-Token", "deadbeef")];
    call(&server, "POST", "auth/login", &dead, Some(body)).assert_envelope(200);
}

#[test]
fn web_session_list_and_end_sessions() {
    let server = spawn_web(&[]);
    let a = session_token(&signup(&server, "g@example.com"));
    let b = session_token(&login(&server, "g@example.com", PASSWORD).assert_envelope(200));
    let auth = [("X-Session-Token", a.as_str())];
    let list = call(&server, "GET", "auth/sessions", &auth, None).assert_envelope(200);
    let sessions = list["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    for s in sessions {
        for field in [
            "id",
            "created_at",
            "last_seen_at",
            "is_current",
            "user_agent",
            "ip",
        ] {
            assert!(s.get(field).is_some(), "{field} in {s}");
        }
        assert!(s["created_at"].is_f64());
    }
    assert_eq!(sessions[0]["is_current"], true);
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    let other = sessions[1]["id"].clone();
    let r = call(
        &server,
        "DELETE",
        "auth/sessions",
        &auth,
        Some(json!({"sessions": [other]})),
    )
    .assert_envelope(200);
    assert_eq!(r["data"].as_array().unwrap().len(), 1);
    assert_gone(&get_session(&server, &[("X-Session-Token", b.as_str())]));
    let r = call(
        &server,
        "DELETE",
        "auth/sessions",
        &auth,
        Some(json!({"sessions": "all"})),
    );
    assert_eq!(
        error_codes(&r.assert_envelope(400)),
        codes(&[("invalid_list", Some("sessions"))])
    );
    let current = sessions[0]["id"].clone();
    let r = call(
        &server,
        "DELETE",
        "auth/sessions",
        &auth,
        Some(json!({"sessions": [current]})),
    );
    assert_anonymous(&r);
    assert_gone(&get_session(&server, &auth));
    assert_anonymous(&call(&server, "GET", "auth/sessions", &[], None));
}

#[test]
fn web_bad_input_is_a_400_or_413_envelope() {
    let server = spawn_web(&[]);
    for path in ["auth/login", "auth/signup", "tokens/refresh"] {
        let url = format!("{API}/{path}");
        for body in [
            &b"not json"[..],
            b"[]",
            b"\"str\"",
            b"{\"email\":\"\xff\xfe\"}",
            b"\xff\xfe\xfd",
            b"",
        ] {
            let r = request(server.addr, "POST", &url, &[], Some(body));
            let json = r.assert_envelope(400);
            assert_eq!(json["errors"][0]["code"], "invalid", "{path} {body:?}");
        }
        let big = vec![b'{'; 64 * 1024 + 1];
        request(server.addr, "POST", &url, &[], Some(&big)).assert_envelope(413);
    }
    let r = call(
        &server,
        "POST",
        "auth/login",
        &[],
        Some(json!({"email": 5, "password": ["x"]})),
    )
    .assert_envelope(400);
    assert_eq!(
        error_codes(&r),
        codes(&[("invalid", Some("email")), ("invalid", Some("password"))])
    );
    let r = call(
        &server,
        "POST",
        "tokens/refresh",
        &[],
        Some(json!({"refresh_token": {"a": 1}})),
    );
    assert_eq!(r.assert_envelope(400), json!({"status": 400}));
    let r = call(&server, "POST", "tokens/refresh", &[], Some(json!({})));
    assert_eq!(
        error_codes(&r.assert_envelope(400)),
        codes(&[("required", Some("refresh_token"))])
    );
    // Unreadable credential headers: never a panic, never a 500.
    let head = format!(
        "GET {API}/auth/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Session-Token: été\r\n\r\n"
    );
    assert_gone(&raw_request(server.addr, &head, b""));
    let head = format!(
        "GET {API}/auth/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer é\r\n\r\n"
    );
    assert_anonymous(&raw_request(server.addr, &head, b""));
    call(&server, "PUT", "auth/login", &[], None).assert_envelope(405);
}

#[test]
fn web_rate_limits_follow_the_manual_clock() {
    let server = spawn_web(&[]);
    signup(&server, "h@example.com");
    // Failed logins: 5 per e-mail per 5 minutes, then even the right password is refused.
    for _ in 0..5 {
        login(&server, "h@example.com", "wrong-password-1").assert_envelope(400);
    }
    let r = login(&server, "h@example.com", PASSWORD).assert_envelope(400);
    assert_eq!(error_codes(&r), codes(&[("too_many_login_attempts", None)]));
    assert_eq!(
        r["errors"][0]["message"],
        "Too many failed login attempts. Try again later."
    );
    server.clock.advance_secs(301);
    login(&server, "h@example.com", PASSWORD).assert_envelope(200);
    // Failed logins per address: 10 per minute, across e-mails.
    server.clock.advance_secs(301);
    for i in 0..10 {
        login(&server, &format!("x{i}@example.com"), PASSWORD).assert_envelope(400);
    }
    let r = login(&server, "h@example.com", PASSWORD).assert_envelope(400);
    assert_eq!(error_codes(&r), codes(&[("too_many_login_attempts", None)]));
    server.clock.advance_secs(61);
    login(&server, "h@example.com", PASSWORD).assert_envelope(200);

    // `login`: 30 per minute per address (bodies that fail to parse still count).
    server.clock.advance_secs(61);
    let mut statuses = Vec::new();
    for _ in 0..31 {
        let r = call(&server, "POST", "auth/login", &[], Some(json!({})));
        statuses.push(r.status);
    }
    assert!(statuses[..30].iter().all(|s| *s == 400), "{statuses:?}");
    let r = call(&server, "POST", "auth/login", &[], Some(json!({})));
    assert_eq!(r.assert_envelope(429), json!({"status": 429}));
    server.clock.advance_secs(61);
    call(&server, "POST", "auth/login", &[], Some(json!({}))).assert_envelope(400);

    // `signup`: 20 per minute per address.
    for _ in 0..20 {
        call(&server, "POST", "auth/signup", &[], Some(json!({}))).assert_envelope(400);
    }
    let r = call(&server, "POST", "auth/signup", &[], Some(json!({})));
    assert_eq!(r.assert_envelope(429), json!({"status": 429}));
    server.clock.advance_secs(61);
    call(&server, "POST", "auth/signup", &[], Some(json!({}))).assert_envelope(400);

    // ACCOUNT_RATE_LIMITS=false disables them.
    let open = spawn_web(&[("ACCOUNT_RATE_LIMITS", "false")]);
    for _ in 0..40 {
        call(&open, "POST", "auth/login", &[], Some(json!({}))).assert_envelope(400);
    }
}

#[test]
fn web_protected_filter_with_session_tokens() {
    let server = spawn_web(&[]);
    let token = session_token(&signup(&server, "i@example.com"));
    let auth = [("X-Session-Token", token.as_str())];
    let r = request(server.api_addr, "GET", "/api/me", &auth, None);
    assert_eq!(r.status, 200);
    let me = r.json();
    assert_eq!(me["via_token"], false);
    assert!(me["session"].is_u64());
    assert_anonymous(&request(server.api_addr, "GET", "/api/me", &[], None));
    call(&server, "DELETE", "auth/session", &auth, None).assert_envelope(401);
    assert_anonymous(&request(server.api_addr, "GET", "/api/me", &auth, None));
    let r = request(server.api_addr, "GET", "/api/nope", &[], None);
    r.assert_envelope(404);
}

#[test]
fn web_storage_failures_are_503_envelopes_and_change_nothing() {
    let plan = hallpass::testing::FaultPlan::new();
    let server = spawn_web_faulty(&[], plan.clone());
    let token = session_token(&signup(&server, "s@example.com"));
    let auth = [("X-Session-Token", token.as_str())];
    plan.set_disk_full(true);
    let body = json!({"email": "t@example.com", "password": PASSWORD});
    let r = call(&server, "POST", "auth/signup", &[], Some(body.clone()));
    assert_eq!(r.assert_envelope(503)["errors"][0]["code"], "unavailable");
    login(&server, "s@example.com", PASSWORD).assert_envelope(503);
    call(&server, "DELETE", "auth/session", &auth, None).assert_envelope(503);
    // Reads still work, and the failed logout left the session live.
    get_session(&server, &auth).assert_envelope(200);
    plan.clear();
    call(&server, "POST", "auth/signup", &[], Some(body)).assert_envelope(200);
    assert_anonymous(&call(&server, "DELETE", "auth/session", &auth, None));
}

#[test]
fn healthz_is_up_and_readyz_follows_the_disk() {
    let plan = hallpass::testing::FaultPlan::new();
    let server = spawn_web_faulty(
        &[("HALLPASS_MAX_CONSECUTIVE_STORE_FAILURES", "3")],
        plan.clone(),
    );
    let get = |path| request(server.addr, "GET", path, &[], None);
    let r = get("/healthz");
    assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));
    let r = get("/readyz");
    assert_eq!((r.status, r.json()), (200, json!({"status": "ready"})));

    plan.set_disk_full(true);
    let r = get("/readyz");
    assert_eq!(r.assert_envelope(503)["errors"][0]["code"], "unavailable");
    assert_eq!(get("/healthz").status, 200, "the process is still up");
    plan.set_disk_full(false);
    assert_eq!(
        get("/readyz").status,
        200,
        "a passing write makes it ready again"
    );

    plan.set_disk_full(true);
    for _ in 0..3 {
        get("/readyz").assert_envelope(503);
    }
    assert!(
        server.engine.failed(),
        "three failed writes in a row stop the engine"
    );
    plan.set_disk_full(false);
    get("/readyz").assert_envelope(503);
    let metrics = String::from_utf8_lossy(&get("/metrics").body).into_owned();
    assert!(metrics.contains("hallpass_writer_stopped 1"), "{metrics}");
}
