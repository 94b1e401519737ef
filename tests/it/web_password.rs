//! Password change and reset (`account/password/change`, `auth/password/request`,
//! `auth/password/reset`): the recorded allauth exchanges replayed (`password_change*.json`,
//! `password_reset_by_key*.json`, `password_reset_by_code.json`, the rate-limit blocks of
//! `rate_limits*.json` and the bad input of `bad_input.json`), then what the fixtures cannot
//! show: every token mode, sessions and refresh tokens ended at once, expiry, reauthentication,
//! concurrent use of one key.

use serde_json::{Value, json};

use hallpass::{AuthMethod, PasswordChange, PasswordHash, SessionMeta, UserId};

use crate::allauth_replay::{CLIENT_IP_HEADER, Replay, sent};
use crate::web_auth::{assert_gone, call, codes, error_codes, get_session, login, session_token};
use crate::web_jwt::{refresh, session_by_bearer, session_by_token, tokens};
use crate::web_util::{Response, TestServer, spawn_web};

/// The recorder's `HEADLESS_FRONTEND_URLS`.
const FRONTEND_URLS: &str = r#"{"account_confirm_email": "https://app.example/verify-email/{key}", "account_reset_password": "https://app.example/reset-password", "account_reset_password_from_key": "https://app.example/reset-password/{key}", "account_signup": "https://app.example/signup"}"#;

/// The fixtures' passwords.
const PASSWORD: &str = "Correct-Horse-Battery-9";
const NEW_PASSWORD: &str = "Another-Staple-Horse-7";

/// The mails of this area, compared with the recorded ones.
const MAILS: &[&str] = &[
    "Password Reset Email",
    "Unknown Account",
    "Password Reset Code",
];

/// The three token modes.
const MODES: [&[(&str, &str)]; 3] = [
    &[("HEADLESS_TOKEN_STRATEGY", "session")],
    &[
        ("HEADLESS_TOKEN_STRATEGY", "jwt"),
        ("HEADLESS_JWT_ALGORITHM", "HS256"),
    ],
    &[
        ("HEADLESS_TOKEN_STRATEGY", "jwt"),
        ("HEADLESS_JWT_ALGORITHM", "HS256"),
        ("HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED", "true"),
    ],
];

/// A server as the recorder's base configuration (site `example.com`, its frontend URLs, no
/// rate limits), plus `extra` (later settings win).
fn server(extra: &[(&str, &str)]) -> TestServer {
    let mut settings = vec![
        ("HEADLESS_FRONTEND_URLS", FRONTEND_URLS),
        ("HALLPASS_SITE_NAME", "example.com"),
        ("ACCOUNT_RATE_LIMITS", "false"),
    ];
    settings.extend_from_slice(extra);
    spawn_web(&settings)
}

/// The user id a replay bound to `placeholder`.
fn user_id(replay: &Replay<'_>, placeholder: &str) -> UserId {
    UserId(replay.bound(placeholder).as_u64().unwrap())
}

/// A deliberate difference: hallpass ends a user's other sessions for good when their
/// password changes, so their tokens answer 410 at once; allauth answers 401 until the user's
/// next login purges them (`tests/allauth/README.md`, "Envelope, tokens, flows").
fn gone(expected: &mut Value) {
    expected["status"] = json!(410);
    expected["body"]["status"] = json!(410);
    expected["body"]["meta"]["is_authenticated"] = Value::Null;
}

/// allauth's `set_unusable_password()` (the recorder's fixture tool), which also ends the
/// user's sessions, then `n` sessions as a login by code makes them (that endpoint is another
/// area's); answers their tokens.
fn unusable_password_and_code_sessions(server: &TestServer, user: UserId, n: usize) -> Vec<String> {
    server
        .engine
        .change_password(
            user,
            PasswordHash::unusable(),
            PasswordChange::Changed,
            None,
        )
        .unwrap();
    (0..n)
        .map(|_| {
            let meta = SessionMeta {
                method: AuthMethod::Code,
                ..SessionMeta::default()
            };
            let new = server.engine.create_session(user, meta, None).unwrap();
            new.key.expose().to_owned()
        })
        .collect()
}

// --- the recorded exchanges ---

#[test]
fn web_password_change_replays_allauth() {
    let server = server(&[("ACCOUNT_LOGIN_BY_CODE_ENABLED", "true")]);
    let mut replay = Replay::new(&server, "password_change", MAILS);
    // Errors (#3-#9), the change with its new token (#10-#12), the other sessions (#13, #14),
    // old and new password (#15, #16).
    replay.run_range(0..=12);
    replay.run_edited(13, gone);
    // #14 asks `GET account/email`, another area's endpoint, with the same session.
    replay.run_range(15..=18);
    let ivan = user_id(&replay, "<user_id:2>");
    let tokens = unusable_password_and_code_sessions(&server, ivan, 2);
    replay.run_edited(19, gone);
    replay.bind("<session_token:8>", json!(tokens[0]));
    replay.bind("<session_token:10>", json!(tokens[1]));
    // Setting a first password: a current password is refused, the new one validated, then
    // set with a new token (#24-#27); the other session ends (#28); now one is required (#29).
    replay.run_range(24..=27);
    replay.run_edited(28, gone);
    replay.run(29);
}

#[test]
fn web_password_change_logout_replays_allauth() {
    let server = server(&[
        ("ACCOUNT_LOGIN_BY_CODE_ENABLED", "true"),
        ("ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE", "true"),
    ]);
    let mut replay = Replay::new(&server, "password_change_logout", MAILS);
    replay.run_range(0..=11);
    replay.run_edited(12, gone);
    // #13 asks `GET account/email`, another area's endpoint, with the same session.
    replay.run_range(14..=17);
    let ivan = user_id(&replay, "<user_id:2>");
    let tokens = unusable_password_and_code_sessions(&server, ivan, 2);
    replay.run_edited(18, gone);
    replay.bind("<session_token:7>", json!(tokens[0]));
    replay.bind("<session_token:9>", json!(tokens[1]));
    replay.run_range(23..=26);
    replay.run_edited(27, gone);
    replay.run(28);
}

#[test]
fn web_password_reset_by_key_replays_allauth() {
    let server = server(&[]);
    let mut replay = Replay::new(&server, "password_reset_by_key", MAILS);
    // Requests for known, unknown and upper-case addresses, bad input, while signed in.
    replay.run_range(0..=9);
    // A key made 10 days ago: `web_password_reset_key_expires` issues and ages one.
    replay.bind("<expired_reset_key:1>", json!("1-forged-ten-days-ago"));
    replay.run_range(10..=21);
    replay.run_edited(22, gone);
    replay.run_edited(23, gone);
    replay.run_range(24..=26);
    // #27 (`GET account/email`) is another area's endpoint: the address is still unverified.
    let jack = user_id(&replay, "<user_id:1>");
    assert!(!server.engine.email_addresses(jack)[0].verified);
    replay.run(28);
}

#[test]
fn web_password_reset_by_key_login_on_reset_replays_allauth() {
    let server = server(&[("ACCOUNT_LOGIN_ON_PASSWORD_RESET", "true")]);
    let mut replay = Replay::new(&server, "password_reset_by_key_login_on_reset", MAILS);
    replay.bind("<expired_reset_key:1>", json!("1-forged-ten-days-ago"));
    // allauth lists the login as `{"method": "password_reset", "at"}`, and so does hallpass.
    replay.run_range(0..=26);
    replay.run(28);
}

#[test]
fn web_password_reset_by_code_replays_allauth() {
    let server = server(&[
        ("ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED", "true"),
        ("ACCOUNT_PASSWORD_RESET_BY_CODE_TIMEOUT", "4"),
    ]);
    let mut replay = Replay::new(&server, "password_reset_by_code", MAILS);
    // No flow (#1, #2), the pending flow (#3, #4), a wrong then the right code by GET (#5-#7),
    // weak password and wrong code by POST (#8, #9), the reset (#10-#12).
    replay.run_range(0..=12);
    replay.run_edited(13, gone);
    // Three wrong codes end the flow (#14-#19); an unknown address gets the same (#20-#22).
    replay.run_range(14..=23);
    server.clock.advance_secs(5);
    // Past the timeout (#24, #25); a second request in the same session replaces the code
    // (#26-#28); the latest one, typed lower-case without its dash, resets (#29).
    replay.run_range(24..=31);
    // #32 (`GET account/email`) is another area's endpoint: the code verified the address.
    let kim = user_id(&replay, "<user_id:1>");
    assert!(server.engine.email_addresses(kim)[0].verified);
}

#[test]
fn web_password_rate_limits_replay_allauth() {
    let server = server(&[
        ("ACCOUNT_RATE_LIMITS", "true"),
        ("ACCOUNT_LOGIN_BY_CODE_ENABLED", "true"),
        ("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", CLIENT_IP_HEADER),
    ]);
    let mut replay = Replay::new(&server, "rate_limits", MAILS);
    replay.run(0);
    // `reset_password`: 5/min per address (#21-#26), 20/min per client (#27-#47);
    // `reset_password_from_key`: 20/min per client for POSTs (#48-#68), GETs never (#69-#91).
    replay.run_range(21..=91);
    // `change_password`: 5/min per user, the right password refused too (#117-#124).
    replay.run_range(117..=124);
}

#[test]
fn web_password_reset_by_code_rate_limit_replays_allauth() {
    let server = server(&[
        ("ACCOUNT_RATE_LIMITS", "true"),
        ("ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED", "true"),
        ("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", CLIENT_IP_HEADER),
    ]);
    // #0 signs pia up under mandatory verification by code (another area's flow).
    call(
        &server,
        "POST",
        "auth/signup",
        &[],
        Some(json!({"email": "pia@example.com", "password": PASSWORD})),
    );
    let mut replay = Replay::new(&server, "rate_limits_by_code", MAILS);
    replay.run_range(7..=12);
}

#[test]
fn web_password_bad_input_replays_allauth() {
    let server = server(&[("ACCOUNT_LOGIN_BY_CODE_ENABLED", "true")]);
    let mut replay = Replay::new(&server, "bad_input", MAILS);
    // A body that is not a JSON object: allauth answers an empty `text/html` 400, hallpass the
    // 400 envelope every endpoint answers for it.
    let invalid_body = |expected: &mut Value| {
        expected["body"] = json!({"status": 400, "errors": [
            {"message": "Invalid request body.", "code": "invalid"}
        ]});
    };
    replay.run(0);
    for i in [1, 2, 3, 4, 6, 7] {
        replay.run_edited(i, invalid_body);
    }
    replay.run_range(8..=15);
    // A 255-character address: allauth's form takes up to 320 and mails "Unknown Account";
    // hallpass takes addresses up to 254 (no account can have a longer one) and answers
    // `invalid`, which says nothing about any account either.
    replay.run_edited(16, |expected| {
        expected["status"] = json!(400);
        expected["body"] = json!({"status": 400, "errors": [
            {"message": "Enter a valid email address.", "code": "invalid", "param": "email"}
        ]});
        expected["emails"] = json!([]);
    });
    replay.run(17);
    for i in [24, 25, 26, 27, 29, 30] {
        replay.run_edited(i, invalid_body);
    }
    replay.run(28);
    replay.run_range(31..=36);
    for i in [48, 49, 50, 51, 53, 54] {
        replay.run_edited(i, invalid_body);
    }
    replay.run(52);
    replay.run_range(55..=60);
}

// --- what the fixtures do not show ---

/// Signs `email` up; the 200 body.
fn signup(server: &TestServer, email: &str) -> Value {
    call(
        server,
        "POST",
        "auth/signup",
        &[],
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .assert_envelope(200)
}

fn change(server: &TestServer, headers: &[(&str, &str)], body: Value) -> Response {
    call(
        server,
        "POST",
        "account/password/change",
        headers,
        Some(body),
    )
}

fn reset_request(server: &TestServer, headers: &[(&str, &str)], email: &str) -> Response {
    call(
        server,
        "POST",
        "auth/password/request",
        headers,
        Some(json!({"email": email})),
    )
}

fn reset(server: &TestServer, headers: &[(&str, &str)], key: &str, password: &str) -> Response {
    call(
        server,
        "POST",
        "auth/password/reset",
        headers,
        Some(json!({"key": key, "password": password})),
    )
}

/// The key of the latest reset link mailed.
fn latest_reset_key(server: &TestServer) -> String {
    let mail = sent(server)
        .into_iter()
        .rev()
        .find(|m| m.subject.ends_with("Password Reset Email"))
        .expect("a reset mail");
    let at = mail.body.find("/reset-password/").unwrap() + "/reset-password/".len();
    mail.body[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The code of the latest reset-code mail.
fn latest_reset_code(server: &TestServer) -> String {
    let mail = sent(server)
        .into_iter()
        .rev()
        .find(|m| m.subject.ends_with("Password Reset Code"))
        .expect("a reset-code mail");
    mail.body
        .lines()
        .find(|l| l.len() == 9 && l.as_bytes()[4] == b'-')
        .unwrap()
        .to_owned()
}

/// A password change answers a new session in every token mode; with JWT it carries new
/// access and refresh tokens that work, while everything of the old session is dead at once:
/// its token, its refresh token, and (stateful validation) its access token. The user's other
/// sessions end alike.
#[test]
fn web_password_change_in_every_token_mode() {
    for (mode, settings) in MODES.iter().enumerate() {
        let server = server(settings);
        let jwt = mode > 0;
        let stateful = mode == 2;
        let first = signup(&server, "ada@example.com");
        let other = login(&server, "ada@example.com", PASSWORD).assert_envelope(200);
        let token = session_token(&first);
        let body = change(
            &server,
            &[("X-Session-Token", &token)],
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .assert_envelope(200);
        let new_token = session_token(&body);
        assert_ne!(new_token, token);
        assert_eq!(body["data"]["user"]["has_usable_password"], true);
        assert_eq!(body["data"]["methods"], json!([]), "signed up: no method");
        assert_gone(&session_by_token(&server, &token));
        assert_gone(&session_by_token(&server, &session_token(&other)));
        session_by_token(&server, &new_token).assert_envelope(200);
        if !jwt {
            assert!(body["meta"].get("access_token").is_none(), "mode {mode}");
            continue;
        }
        let new = tokens(&body);
        session_by_bearer(&server, &new.access).assert_envelope(200);
        refresh(&server, &new.refresh).assert_envelope(200);
        // A change authenticated by the access token alone answers the same way.
        let header = format!("Bearer {}", new.access);
        let again = change(
            &server,
            &[("Authorization", &header)],
            json!({"current_password": NEW_PASSWORD, "new_password": PASSWORD}),
        )
        .assert_envelope(200);
        let newer = tokens(&again);
        assert_gone(&session_by_token(&server, &new.session));
        session_by_bearer(&server, &newer.access).assert_envelope(200);
        for old in [tokens(&first), tokens(&other)] {
            assert_eq!(
                refresh(&server, &old.refresh).assert_envelope(400),
                json!({"status": 400}),
                "mode {mode}"
            );
            let by_bearer = session_by_bearer(&server, &old.access);
            if stateful {
                assert_eq!(by_bearer.status, 401, "mode {mode}: stateful access token");
            } else {
                // A stateless access token names a session that is gone: 410 here, though
                // a resource server validating it statelessly accepts it until `exp`.
                assert_gone(&by_bearer);
            }
        }
    }
}

/// After a reset (by key and by code), in every token mode: every session and refresh token
/// of the user is dead, and a stateful-validation access token of an ended session answers
/// 401 at once (no clock advance).
#[test]
fn web_password_reset_ends_every_session_and_token() {
    for by_code in [false, true] {
        for (mode, settings) in MODES.iter().enumerate() {
            let mut settings = settings.to_vec();
            if by_code {
                settings.push(("ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED", "true"));
            }
            let server = server(&settings);
            let jwt = mode > 0;
            let a = signup(&server, "bo@example.com");
            let b = login(&server, "bo@example.com", PASSWORD).assert_envelope(200);
            let reset_reply = if by_code {
                let pending = reset_request(&server, &[], "bo@example.com").assert_envelope(401);
                let holder = session_token(&pending);
                assert!(pending["meta"].get("access_token").is_none());
                let code = latest_reset_code(&server);
                reset(
                    &server,
                    &[("X-Session-Token", &holder)],
                    &code,
                    NEW_PASSWORD,
                )
            } else {
                reset_request(&server, &[], "bo@example.com").assert_envelope(200);
                reset(&server, &[], &latest_reset_key(&server), NEW_PASSWORD)
            };
            reset_reply.assert_envelope(401);
            let context = format!("by_code {by_code}, mode {mode}");
            for old in [&a, &b] {
                assert_gone(&session_by_token(&server, &session_token(old)));
                if jwt {
                    let old = tokens(old);
                    assert_eq!(
                        refresh(&server, &old.refresh).status,
                        400,
                        "{context}: refresh token"
                    );
                    let r = session_by_bearer(&server, &old.access);
                    if mode == 2 {
                        assert_eq!(r.status, 401, "{context}: stateful access token");
                        assert_eq!(r.json()["meta"]["is_authenticated"], false);
                    } else {
                        assert_gone(&r);
                    }
                }
            }
            assert!(
                server.engine.user_sessions(UserId(1)).is_empty(),
                "{context}"
            );
            login(&server, "bo@example.com", PASSWORD).assert_envelope(400);
            login(&server, "bo@example.com", NEW_PASSWORD).assert_envelope(200);
        }
    }
}

/// `ACCOUNT_LOGIN_ON_PASSWORD_RESET` in every token mode: 200 with a new session (and with
/// JWT its tokens), by key and by code; by code the pending session's token is gone after,
/// as allauth rotates it.
#[test]
fn web_password_login_on_reset_in_every_token_mode() {
    for by_code in [false, true] {
        for (mode, settings) in MODES.iter().enumerate() {
            let mut settings = settings.to_vec();
            settings.push(("ACCOUNT_LOGIN_ON_PASSWORD_RESET", "true"));
            if by_code {
                settings.push(("ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED", "true"));
            }
            let server = server(&settings);
            signup(&server, "cy@example.com");
            let (body, holder) = if by_code {
                let pending = reset_request(&server, &[], "cy@example.com").assert_envelope(401);
                let holder = session_token(&pending);
                let code = latest_reset_code(&server);
                let r = reset(
                    &server,
                    &[("X-Session-Token", &holder)],
                    &code,
                    NEW_PASSWORD,
                );
                (r.assert_envelope(200), Some(holder))
            } else {
                reset_request(&server, &[], "cy@example.com").assert_envelope(200);
                let key = latest_reset_key(&server);
                (
                    reset(&server, &[], &key, NEW_PASSWORD).assert_envelope(200),
                    None,
                )
            };
            let context = format!("by_code {by_code}, mode {mode}");
            assert_eq!(body["meta"]["is_authenticated"], true, "{context}");
            let token = session_token(&body);
            session_by_token(&server, &token).assert_envelope(200);
            if mode > 0 {
                let t = tokens(&body);
                session_by_bearer(&server, &t.access).assert_envelope(200);
                refresh(&server, &t.refresh).assert_envelope(200);
            } else {
                assert!(body["meta"].get("access_token").is_none());
            }
            if let Some(holder) = holder {
                assert_gone(&session_by_token(&server, &holder));
            }
        }
    }
}

/// A user without a usable password sets one only from a session that authenticated within
/// `ACCOUNT_REAUTHENTICATION_TIMEOUT`: else allauth's 401 with the reauthentication flows,
/// before the body is read (a malformed one included). Changing a usable password never asks.
#[test]
fn web_password_set_needs_a_recent_authentication() {
    let server = server(&[("ACCOUNT_REAUTHENTICATION_TIMEOUT", "300")]);
    let signed_up = signup(&server, "di@example.com");
    let user = UserId(signed_up["data"]["user"]["id"].as_u64().unwrap());
    let token = unusable_password_and_code_sessions(&server, user, 1).remove(0);
    server.clock.advance_secs(301);
    for body in [
        json!({"new_password": NEW_PASSWORD}),
        json!(["not", "an", "object"]),
    ] {
        let r = change(&server, &[("X-Session-Token", &token)], body).assert_envelope(401);
        assert_eq!(r["meta"], json!({"is_authenticated": true}));
        // No usable password and no verified address: nothing to reauthenticate with.
        assert_eq!(r["data"]["flows"], json!([]));
        assert_eq!(r["data"]["user"]["has_usable_password"], false);
    }
    // A fresh session may.
    let fresh = unusable_password_and_code_sessions(&server, user, 1).remove(0);
    let body = change(
        &server,
        &[("X-Session-Token", &fresh)],
        json!({"new_password": NEW_PASSWORD}),
    )
    .assert_envelope(200);
    assert_eq!(body["data"]["user"]["has_usable_password"], true);
    assert_eq!(body["data"]["methods"][0]["method"], "code");
    // With a usable password, an old session changes it without reauthenticating.
    let token = session_token(&body);
    server.clock.advance_secs(301);
    change(
        &server,
        &[("X-Session-Token", &token)],
        json!({"current_password": NEW_PASSWORD, "new_password": PASSWORD}),
    )
    .assert_envelope(200);
}

/// A reset link works for `PASSWORD_RESET_TIMEOUT`, then is `invalid_password_reset` for GET
/// and POST, and a password change voids every reset key issued before it.
#[test]
fn web_password_reset_key_expires_and_dies_with_a_change() {
    let server = server(&[("PASSWORD_RESET_TIMEOUT", "60")]);
    let token = session_token(&signup(&server, "ed@example.com"));
    reset_request(&server, &[], "ed@example.com").assert_envelope(200);
    let key = latest_reset_key(&server);
    assert_eq!(key.len(), 43);
    let check = |key: &str| {
        call(
            &server,
            "GET",
            "auth/password/reset",
            &[("X-Password-Reset-Key", key)],
            None,
        )
    };
    check(&key).assert_envelope(200);
    server.clock.advance_secs(61);
    let invalid = codes(&[("invalid_password_reset", Some("key"))]);
    assert_eq!(error_codes(&check(&key).assert_envelope(400)), invalid);
    let r = reset(&server, &[], &key, NEW_PASSWORD).assert_envelope(400);
    assert_eq!(error_codes(&r), invalid);

    reset_request(&server, &[], "ed@example.com").assert_envelope(200);
    let key = latest_reset_key(&server);
    check(&key).assert_envelope(200);
    let body = change(
        &server,
        &[("X-Session-Token", &token)],
        json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .assert_envelope(200);
    assert_eq!(error_codes(&check(&key).assert_envelope(400)), invalid);
    session_by_token(&server, &session_token(&body)).assert_envelope(200);
}

/// Of concurrent resets with one key, exactly one sets its password; the others are told the
/// key is invalid.
#[test]
fn web_password_reset_key_works_once_under_concurrency() {
    let server = server(&[]);
    signup(&server, "fay@example.com");
    reset_request(&server, &[], "fay@example.com").assert_envelope(200);
    let key = latest_reset_key(&server);
    let passwords = [
        "Another-Staple-Horse-1",
        "Another-Staple-Horse-2",
        "Another-Staple-Horse-3",
        "Another-Staple-Horse-4",
    ];
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = passwords
            .iter()
            .map(|p| {
                let (server, key) = (&server, &key);
                scope.spawn(move || reset(server, &[], key, p).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        3,
        "{statuses:?}"
    );
    let winners: Vec<_> = passwords
        .iter()
        .filter(|p| login(&server, "fay@example.com", p).status == 200)
        .collect();
    assert_eq!(winners.len(), 1);
}

/// By code, an unknown address gets the same answers and the same limits as a known one: a
/// pending flow whose every code is wrong, ended by the third attempt (GET or POST alike), a
/// weak password reported beside a wrong code, and an "Unknown Account" mail instead of a
/// code. (allauth counts no GET attempt and validates no password for an unknown address.)
#[test]
fn web_password_reset_by_code_unknown_address_behaves_as_a_known_one() {
    let server = server(&[("ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED", "true")]);
    signup(&server, "gil@example.com");
    let mut answers = Vec::new();
    for email in ["gil@example.com", "nobody@example.com"] {
        let pending = reset_request(&server, &[], email).assert_envelope(401);
        let holder = session_token(&pending);
        let headers = [("X-Session-Token", holder.as_str())];
        let wrong = |r: Response| error_codes(&r.assert_envelope(400));
        let get = call(
            &server,
            "GET",
            "auth/password/reset",
            &[
                ("X-Session-Token", &holder),
                ("X-Password-Reset-Key", "BBBB-BBBB"),
            ],
            None,
        );
        let first = wrong(get);
        // A weak password is reported beside the wrong code, for either address.
        let second = wrong(reset(&server, &headers, "BBBB-BBBB", "short"));
        let third = wrong(reset(&server, &headers, "BBBB-BBBB", NEW_PASSWORD));
        let after = reset(&server, &headers, "BBBB-BBBB", NEW_PASSWORD).status;
        assert_eq!(
            second,
            codes(&[
                ("incorrect_code", Some("key")),
                ("password_too_short", Some("password"))
            ])
        );
        let mut pending = pending;
        pending["meta"]["session_token"] = json!("<token>");
        answers.push((pending, first, second, third, after));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].4, 409);
    // (Besides the sign-up's own verification mail.)
    let subjects: Vec<String> = sent(&server)
        .into_iter()
        .map(|m| m.subject)
        .filter(|s| !s.ends_with("Please Confirm Your Email Address"))
        .collect();
    assert_eq!(
        subjects,
        [
            "[example.com] Password Reset Code",
            "[example.com] Unknown Account"
        ]
    );
}

/// A reset forgets the failed logins of the user's addresses (allauth's
/// `finalize_password_reset`): the new password logs in at once.
#[test]
fn web_password_reset_clears_failed_logins() {
    let server = server(&[("ACCOUNT_RATE_LIMITS", "true")]);
    signup(&server, "hal@example.com");
    for _ in 0..5 {
        login(&server, "hal@example.com", "wrong-password").assert_envelope(400);
    }
    let r = login(&server, "hal@example.com", PASSWORD).assert_envelope(400);
    assert_eq!(error_codes(&r), codes(&[("too_many_login_attempts", None)]));
    reset_request(&server, &[], "hal@example.com").assert_envelope(200);
    reset(&server, &[], &latest_reset_key(&server), NEW_PASSWORD).assert_envelope(401);
    login(&server, "hal@example.com", NEW_PASSWORD).assert_envelope(200);
}

/// Without `HEADLESS_FRONTEND_URLS` the reset mail carries the bare key, which works.
#[test]
fn web_password_reset_mail_without_frontend_urls_carries_the_key() {
    let server = spawn_web(&[("ACCOUNT_RATE_LIMITS", "false")]);
    signup(&server, "ivy@example.com");
    reset_request(&server, &[], "ivy@example.com").assert_envelope(200);
    let mail = sent(&server).pop().unwrap();
    let key = mail
        .body
        .split_whitespace()
        .find(|w| w.len() == 43)
        .expect("the key in the mail")
        .to_owned();
    reset(&server, &[], &key, NEW_PASSWORD).assert_envelope(401);
    get_session(&server, &[]).assert_envelope(401);
}
