//! `account/email`, `auth/email/verify` and `.../resend`, sign-up and login under each
//! `ACCOUNT_EMAIL_VERIFICATION`, and `GET config`, against what allauth 65.22.1 answered
//! (`tests/fixtures/allauth/email_addresses*.json`, `verification_none.json`,
//! `verify_by_key_*.json`, `verify_by_code*.json`, `verify_jwt_*.json`, `config.json`), each
//! flow in the three token modes. `#N` in a comment is the fixture exchange a step mirrors.
//!
//! Where hallpass answers differently on purpose ([ours]), the test says so: lists are the
//! primary address first, then the others by address (allauth's order is the database's);
//! another account's address is an unverifiable claim, never the adder's.

use hallpass::mail::{Kind, Rendered};
use hallpass::testing::sent_mail;
use serde_json::{Value, json};

use crate::web_auth::{PASSWORD, call, codes, error_codes};
use crate::web_util::{Response, TEST_SECRET_KEY, TestServer, spawn_web};

/// The three ways a client holds its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Session,
    Jwt,
    JwtStateful,
}

const MODES: [Mode; 3] = [Mode::Session, Mode::Jwt, Mode::JwtStateful];

/// The recorder's `HEADLESS_FRONTEND_URLS`.
const FRONTEND: &str = r#"{"account_confirm_email": "https://app.example/verify-email/{key}", "account_reset_password": "https://app.example/reset-password", "account_reset_password_from_key": "https://app.example/reset-password/{key}", "account_signup": "https://app.example/signup"}"#;

/// A server in `mode` with the recorder's base settings (rate limits off), then `extra`.
fn server(mode: Mode, extra: &[(&str, &str)]) -> TestServer {
    let mut settings = vec![
        ("ACCOUNT_RATE_LIMITS", "false"),
        ("HEADLESS_FRONTEND_URLS", FRONTEND),
    ];
    if mode != Mode::Session {
        settings.push(("HEADLESS_TOKEN_STRATEGY", "jwt"));
        settings.push(("HEADLESS_JWT_ALGORITHM", "HS256"));
    }
    if mode == Mode::JwtStateful {
        settings.push(("HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED", "true"));
    }
    settings.extend_from_slice(extra);
    spawn_web(&settings)
}

/// One client: the tokens it was given last.
#[derive(Clone, Debug, Default)]
struct Device {
    session: Option<String>,
    access: Option<String>,
}

impl Device {
    /// Keeps the tokens `body`'s `meta` carries, if any: a new session token replaces the
    /// flow's, and with JWT the access token is what the device sends from then on.
    fn absorb(&mut self, body: &Value) {
        if let Some(token) = body["meta"]["session_token"].as_str() {
            self.session = Some(token.to_owned());
            self.access = None;
        }
        if let Some(token) = body["meta"]["access_token"].as_str() {
            self.access = Some(token.to_owned());
        }
    }

    /// `method API/path` as this device (Bearer when it holds an access token).
    fn call(&self, s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Response {
        let bearer = self.access.as_ref().map(|a| format!("Bearer {a}"));
        let mut headers = Vec::new();
        match (&bearer, &self.session) {
            (Some(bearer), _) => headers.push(("Authorization", bearer.as_str())),
            (None, Some(token)) => headers.push(("X-Session-Token", token.as_str())),
            (None, None) => {}
        }
        call(s, method, path, &headers, body)
    }

    /// `GET auth/email/verify` with `key` in `X-Email-Verification-Key`.
    fn inspect(&self, s: &TestServer, key: &str) -> Response {
        let bearer = self.access.as_ref().map(|a| format!("Bearer {a}"));
        let mut headers = vec![("X-Email-Verification-Key", key)];
        match (&bearer, &self.session) {
            (Some(bearer), _) => headers.push(("Authorization", bearer.as_str())),
            (None, Some(token)) => headers.push(("X-Session-Token", token.as_str())),
            (None, None) => {}
        }
        call(s, "GET", "auth/email/verify", &headers, None)
    }

    /// `POST auth/email/verify {key}`, keeping any tokens the answer carries.
    fn verify(&mut self, s: &TestServer, key: &str) -> Response {
        let r = self.call(s, "POST", "auth/email/verify", Some(json!({ "key": key })));
        if r.status == 200 {
            self.absorb(&r.json());
        }
        r
    }

    /// `POST auth/signup` with [`PASSWORD`], keeping the tokens.
    fn signup(&mut self, s: &TestServer, email: &str) -> Response {
        let r = self.call(
            s,
            "POST",
            "auth/signup",
            Some(json!({"email": email, "password": PASSWORD})),
        );
        if r.status == 200 || r.status == 401 {
            self.absorb(&r.json());
        }
        r
    }

    /// `POST auth/login`, keeping the tokens.
    fn login(&mut self, s: &TestServer, email: &str, password: &str) -> Response {
        let r = self.call(
            s,
            "POST",
            "auth/login",
            Some(json!({"email": email, "password": password})),
        );
        if r.status == 200 || r.status == 401 {
            self.absorb(&r.json());
        }
        r
    }
}

/// A device signed up as `email` (optional or no verification: 200).
fn signed_up(s: &TestServer, email: &str) -> Device {
    let mut device = Device::default();
    device.signup(s, email).assert_envelope(200);
    device
}

/// Everything the server queued for sending so far, oldest first.
fn outbox(s: &TestServer) -> Vec<Rendered> {
    sent_mail(&s.engine, TEST_SECRET_KEY)
}

/// The last message queued, asserting it went to `to` as `kind`.
fn last_mail(s: &TestServer, to: &str, kind: Kind) -> Rendered {
    let mail = outbox(s).pop().expect("a message was queued");
    assert_eq!((mail.to.as_str(), mail.kind), (to, kind), "{}", mail.body);
    mail
}

/// The link key in a verification message.
fn link_key(mail: &Rendered) -> String {
    let (_, rest) = mail
        .body
        .split_once("https://app.example/verify-email/")
        .unwrap_or_else(|| panic!("no link in {:?}", mail.body));
    rest.split_whitespace().next().unwrap().to_owned()
}

/// The code in a verification message (`XXXX-XXXX` on its own line).
fn code(mail: &Rendered) -> String {
    mail.body
        .lines()
        .find(|l| {
            l.len() == 9
                && l.as_bytes()[4] == b'-'
                && l.chars()
                    .filter(|c| *c != '-')
                    .all(|c| c.is_ascii_uppercase())
        })
        .unwrap_or_else(|| panic!("no code in {:?}", mail.body))
        .to_owned()
}

/// An `account/email` list: (address, verified, primary).
fn addresses(entries: &[(&str, bool, bool)]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|(e, v, p)| json!({"email": e, "verified": v, "primary": p}))
            .collect(),
    )
}

/// Asserts `r` is the 400 with exactly these (code, param) errors.
fn assert_errors(r: &Response, expected: &[(&str, Option<&str>)]) {
    let json = r.assert_envelope(400);
    assert_eq!(error_codes(&json), codes(expected), "{json}");
}

/// The flows of allauth's 401 with the `verify_email` stage pending.
fn verify_email_pending() -> Value {
    json!([{"id": "login"}, {"id": "signup"}, {"id": "verify_email", "is_pending": true}])
}

/// Asserts the 401 anonymous state with `flows`; returns its body.
fn assert_unauthenticated(r: &Response, flows: &Value) -> Value {
    let json = r.assert_envelope(401);
    assert_eq!(&json["data"]["flows"], flows, "{json}");
    assert_eq!(json["meta"]["is_authenticated"], false);
    json
}

fn anonymous_flows() -> Value {
    json!([{"id": "login"}, {"id": "signup"}])
}

/// Asserts the 200 authenticated state; returns its body.
fn assert_signed_in(r: &Response, email: &str) -> Value {
    let json = r.assert_envelope(200);
    assert_eq!(json["data"]["user"]["email"], email, "{json}");
    assert_eq!(json["meta"]["is_authenticated"], true);
    json
}

/// Asserts the answer that completes a flow: a new session token, and with JWT both tokens.
fn assert_minted(mode: Mode, json: &Value) {
    assert!(json["meta"]["session_token"].is_string(), "{json}");
    let jwt = mode != Mode::Session;
    assert_eq!(json["meta"]["access_token"].is_string(), jwt, "{json}");
    assert_eq!(json["meta"]["refresh_token"].is_string(), jwt, "{json}");
}

/// Asserts a pending flow's first answer: its token only, never an access or refresh token.
fn assert_pending_token_only(json: &Value) {
    assert!(json["meta"]["session_token"].is_string(), "{json}");
    assert!(json["meta"].get("access_token").is_none(), "{json}");
    assert!(json["meta"].get("refresh_token").is_none(), "{json}");
}

/// `email_addresses.json`: list, add, resend, verify, mark primary, remove; another user's
/// address under enumeration prevention.
#[test]
fn web_email_addresses_list_add_resend_primary_remove() {
    for mode in MODES {
        let s = server(mode, &[("ACCOUNT_MAX_EMAIL_ADDRESSES", "4")]);
        let bob = signed_up(&s, "bob@example.com");
        let alice = signed_up(&s, "alice@example.com");
        // #0, #1: optional verification mails the sign-up address.
        let mail = last_mail(&s, "alice@example.com", Kind::EmailConfirmationSignup);
        assert!(
            mail.body
                .contains("user alice has given your email address")
        );
        // #2, #3
        let anonymous = Device::default();
        assert_unauthenticated(
            &anonymous.call(&s, "GET", "account/email", None),
            &anonymous_flows(),
        );
        let r = anonymous.call(
            &s,
            "POST",
            "account/email",
            Some(json!({"email": "x@example.com"})),
        );
        assert_eq!(r.assert_envelope(409), json!({"status": 409}));
        // #4
        let r = alice
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("alice@example.com", false, true)]));
        // #5
        let add =
            |email: &str| alice.call(&s, "POST", "account/email", Some(json!({ "email": email })));
        let r = add("alice2@example.com").assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("alice@example.com", false, true),
                ("alice2@example.com", false, false)
            ])
        );
        let mail = last_mail(&s, "alice2@example.com", Kind::EmailConfirmation);
        assert!(!link_key(&mail).is_empty());
        // #6, #7
        assert_errors(
            &add("alice2@example.com"),
            &[("duplicate_email", Some("email"))],
        );
        assert_errors(
            &add("ALICE2@Example.COM"),
            &[("duplicate_email", Some("email"))],
        );
        // #8: listed as allauth lists it, but only a claim [ours]: bob is told someone tried,
        // and no link that could verify it exists.
        let r = add("bob@example.com").assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("alice@example.com", false, true),
                ("alice2@example.com", false, false),
                ("bob@example.com", false, false),
            ])
        );
        let mail = last_mail(&s, "bob@example.com", Kind::AccountAlreadyExists);
        assert!(!mail.body.contains("verify-email"), "{}", mail.body);
        assert!(mail.body.contains("https://app.example/reset-password"));
        // #9, #10
        assert_errors(&add("not-an-email"), &[("invalid", Some("email"))]);
        let r = alice.call(&s, "POST", "account/email", Some(json!({})));
        assert_errors(&r, &[("required", Some("email"))]);
        // #11, #12: the claim counts against the maximum, as allauth's copy does.
        add("alice3@example.com").assert_envelope(200);
        let r = add("alice4@example.com");
        let json = r.assert_envelope(400);
        assert_eq!(
            json["errors"],
            json!([{"message": "You cannot add more than 4 email addresses.", "code": "max_email_addresses", "param": "email"}])
        );
        // #13
        let four = addresses(&[
            ("alice@example.com", false, true),
            ("alice2@example.com", false, false),
            ("alice3@example.com", false, false),
            ("bob@example.com", false, false),
        ]);
        let r = alice
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], four);
        // #14, #15
        let resend =
            |email: &str| alice.call(&s, "PUT", "account/email", Some(json!({ "email": email })));
        assert_eq!(
            resend("alice2@example.com").assert_envelope(200),
            json!({"status": 200})
        );
        let key = link_key(&last_mail(
            &s,
            "alice2@example.com",
            Kind::EmailConfirmation,
        ));
        let json = resend("nobody@example.com").assert_envelope(400);
        assert_eq!(
            json["errors"],
            json!([{"message": "Unknown email address.", "code": "unknown_email", "param": "email"}])
        );
        // A claim resends as an address does, but nothing goes out.
        let queued = outbox(&s).len();
        resend("bob@example.com").assert_envelope(200);
        assert_eq!(outbox(&s).len(), queued);
        // #16
        let json = assert_signed_in(&alice.clone().verify(&s, &key), "alice@example.com");
        assert_eq!(json["data"]["methods"], json!([]));
        assert!(json["meta"].get("session_token").is_none());
        // #17: a verified address is mailed again too.
        resend("alice2@example.com").assert_envelope(200);
        last_mail(&s, "alice2@example.com", Kind::EmailConfirmation);
        // #18
        let r = alice
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(
            r["data"][1],
            json!({"email": "alice2@example.com", "verified": true, "primary": false})
        );
        // #19 - #22
        let patch = |body: Value| alice.call(&s, "PATCH", "account/email", Some(body));
        let json =
            patch(json!({"email": "alice3@example.com", "primary": true})).assert_envelope(400);
        assert_eq!(
            json["errors"],
            json!([{"message": "Your primary email address must be verified.", "code": "unverified_primary_email", "param": "email"}])
        );
        assert_errors(
            &patch(json!({"email": "bob@example.com", "primary": true})),
            &[("unverified_primary_email", Some("email"))],
        );
        assert_errors(
            &patch(json!({"email": "alice2@example.com"})),
            &[("required", Some("primary"))],
        );
        assert_errors(
            &patch(json!({"email": "alice2@example.com", "primary": false})),
            &[("required", Some("primary"))],
        );
        assert_errors(
            &patch(json!({"email": "nobody@example.com", "primary": true})),
            &[("unknown_email", Some("email"))],
        );
        // #23: the primary moves, and `user.email` with it (#38).
        let r = patch(json!({"email": "alice2@example.com", "primary": true})).assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("alice2@example.com", true, true),
                ("alice3@example.com", false, false),
                ("alice@example.com", false, false),
                ("bob@example.com", false, false),
            ])
        );
        // #24 - #27
        let remove = |email: &str| {
            alice.call(
                &s,
                "DELETE",
                "account/email",
                Some(json!({ "email": email })),
            )
        };
        remove("alice3@example.com").assert_envelope(200);
        let json = remove("alice2@example.com").assert_envelope(400);
        assert_eq!(
            json["errors"],
            json!([{"message": "You cannot remove your primary email address.", "code": "cannot_remove_primary_email", "param": "email"}])
        );
        assert_errors(
            &remove("nobody@example.com"),
            &[("unknown_email", Some("email"))],
        );
        let r = remove("alice@example.com").assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("alice2@example.com", true, true),
                ("bob@example.com", false, false)
            ])
        );
        // #32, #33 [ours]: the claim gives alice nothing; bob@ still logs bob in, and only him.
        let mut bob2 = Device::default();
        assert_signed_in(
            &bob2.login(&s, "bob@example.com", PASSWORD),
            "bob@example.com",
        );
        let r = Device::default().login(&s, "bob@example.com", "Alices-Other-Password-1");
        assert_errors(&r, &[("email_password_mismatch", Some("password"))]);
        let r = bob
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("bob@example.com", false, true)]));
        // #34 - #38
        let r = remove("bob@example.com").assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("alice2@example.com", true, true)]));
        assert_errors(
            &remove("alice2@example.com"),
            &[("cannot_remove_primary_email", Some("email"))],
        );
        let r = alice.call(&s, "GET", "auth/session", None);
        assert_signed_in(&r, "alice2@example.com");
    }
}

/// `email_addresses_prevent_enumeration_off.json#8`: without enumeration prevention another
/// account's address is `email_taken`.
#[test]
fn web_email_taken_without_enumeration_prevention() {
    for mode in MODES {
        let s = server(mode, &[("ACCOUNT_PREVENT_ENUMERATION", "false")]);
        signed_up(&s, "bob@example.com");
        let alice = signed_up(&s, "alice@example.com");
        let queued = outbox(&s).len();
        let r = alice.call(
            &s,
            "POST",
            "account/email",
            Some(json!({"email": "Bob@Example.com"})),
        );
        let json = r.assert_envelope(400);
        assert_eq!(
            json["errors"],
            json!([{"message": "A user is already registered with this email address.", "code": "email_taken", "param": "email"}])
        );
        assert_eq!(outbox(&s).len(), queued);
    }
}

/// A dead token is 410 on every method; an anonymous or pending session is 401, `POST` 409.
#[test]
fn web_email_addresses_need_a_live_session() {
    let s = server(
        Mode::Session,
        &[("ACCOUNT_EMAIL_VERIFICATION", "mandatory")],
    );
    let dead = Device {
        session: Some("thisisnotasessiontoken0000000000".into()),
        access: None,
    };
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let r = dead.call(
            &s,
            method,
            "account/email",
            Some(json!({"email": "a@example.com"})),
        );
        assert_eq!(
            r.assert_envelope(410)["meta"]["is_authenticated"],
            Value::Null,
            "{method}"
        );
    }
    let mut pending = Device::default();
    pending.signup(&s, "hana@example.com");
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let r = pending.call(
            &s,
            method,
            "account/email",
            Some(json!({"email": "hana@example.com"})),
        );
        assert_unauthenticated(&r, &verify_email_pending());
    }
    // verify_by_code_resend_change.json#7 needs SUPPORTS_CHANGE, which hallpass does not offer.
    let r = pending.call(
        &s,
        "POST",
        "account/email",
        Some(json!({"email": "hana-new@example.com"})),
    );
    r.assert_envelope(409);
}

/// `bad_input.json#61` - `#94`: bodies of every method.
#[test]
fn web_email_addresses_bad_input() {
    let s = server(Mode::Session, &[]);
    let quinn = signed_up(&s, "quinn@example.com");
    let send = |method: &str, body: &[u8]| {
        crate::web_util::request(
            s.addr,
            method,
            "/_allauth/app/v1/account/email",
            &[
                ("X-Session-Token", quinn.session.as_deref().unwrap()),
                ("Content-Type", "application/json"),
            ],
            Some(body),
        )
    };
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        for garbage in [
            &b"{\"email\": "[..],
            b"[\"x\"]",
            b"\"x\"",
            b"null",
            b"email=a%40b.c",
        ] {
            assert_eq!(send(method, garbage).status, 400, "{method} {garbage:?}");
        }
    }
    for method in ["POST", "PUT", "DELETE"] {
        for (body, code) in [
            (&b""[..], "required"),
            (b"{}", "required"),
            (br#"{"email": null}"#, "required"),
            (br#"{"email": ""}"#, "required"),
            (br#"{"email": 123}"#, "invalid"),
            (br#"{"email": true}"#, "invalid"),
            (br#"{"email": ["quinn@example.com"]}"#, "invalid"),
            (br#"{"email": {"a": 1}}"#, "invalid"),
        ] {
            assert_errors(&send(method, body), &[(code, Some("email"))]);
        }
    }
    // #82 - #88: `primary` is Django's BooleanField.
    assert_errors(
        &send("PATCH", b"{}"),
        &[("required", Some("email")), ("required", Some("primary"))],
    );
    assert_errors(
        &send("PATCH", br#"{"primary": true}"#),
        &[("required", Some("email"))],
    );
    for falsy in [
        "false",
        "0",
        "\"false\"",
        "\"FALSE\"",
        "\"0\"",
        "\"\"",
        "null",
        "[]",
    ] {
        let body = format!(r#"{{"email": "quinn@example.com", "primary": {falsy}}}"#);
        assert_errors(
            &send("PATCH", body.as_bytes()),
            &[("required", Some("primary"))],
        );
    }
    for truthy in ["\"yes\"", "1", "true", "\"true\""] {
        let body = format!(r#"{{"email": "quinn@example.com", "primary": {truthy}}}"#);
        // #84, #86: no verified address, so the unverified one may be (stay) primary.
        let json = send("PATCH", body.as_bytes()).assert_envelope(200);
        assert_eq!(
            json["data"],
            addresses(&[("quinn@example.com", false, true)])
        );
    }
    assert_errors(
        &send("PATCH", br#"{"email": 1, "primary": true}"#),
        &[("invalid", Some("email"))],
    );
    assert_errors(
        &send("PATCH", br#"{"email": "nobody@example.com", "primary": 0}"#),
        &[
            ("unknown_email", Some("email")),
            ("required", Some("primary")),
        ],
    );
}

/// `email_addresses_change_email.json`: adding is changing; one pending change; verifying it
/// replaces the address.
#[test]
fn web_email_change_email_replaces_the_address_once_verified() {
    for mode in MODES {
        let s = server(mode, &[("ACCOUNT_CHANGE_EMAIL", "true")]);
        signed_up(&s, "bob@example.com");
        let mut alice = signed_up(&s, "alice@example.com");
        // #2, #3
        let key = link_key(&last_mail(
            &s,
            "alice@example.com",
            Kind::EmailConfirmationSignup,
        ));
        alice.verify(&s, &key).assert_envelope(200);
        let add =
            |email: &str| alice.call(&s, "POST", "account/email", Some(json!({ "email": email })));
        // #4 - #8
        let r = add("alice2@example.com").assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("alice@example.com", true, true),
                ("alice2@example.com", false, false)
            ])
        );
        assert_errors(
            &add("alice2@example.com"),
            &[("duplicate_email", Some("email"))],
        );
        let r = add("alice3@example.com").assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("alice@example.com", true, true),
                ("alice3@example.com", false, false)
            ])
        );
        // #9, #10: another account's address replaces the pending change too (as a claim).
        let r = add("bob@example.com").assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("alice@example.com", true, true),
                ("bob@example.com", false, false)
            ])
        );
        last_mail(&s, "bob@example.com", Kind::AccountAlreadyExists);
        // #11 - #15
        let r = add("alice3@example.com").assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("alice@example.com", true, true),
                ("alice3@example.com", false, false)
            ])
        );
        alice
            .call(
                &s,
                "PUT",
                "account/email",
                Some(json!({"email": "alice3@example.com"})),
            )
            .assert_envelope(200);
        let key = link_key(&last_mail(
            &s,
            "alice3@example.com",
            Kind::EmailConfirmation,
        ));
        assert_signed_in(&alice.clone().verify(&s, &key), "alice3@example.com");
        let r = alice
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("alice3@example.com", true, true)]));
        // #16, #17
        let r = Device::default().login(&s, "alice@example.com", PASSWORD);
        assert_errors(&r, &[("email_password_mismatch", Some("password"))]);
        assert_signed_in(
            &Device::default().login(&s, "alice3@example.com", PASSWORD),
            "alice3@example.com",
        );
        // #18 - #20: removing the pending address cancels the change.
        add("alice4@example.com").assert_envelope(200);
        let r = alice
            .call(
                &s,
                "DELETE",
                "account/email",
                Some(json!({"email": "alice4@example.com"})),
            )
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("alice3@example.com", true, true)]));
        // #21 - #24 [ours]: allauth deletes an unverified only address at once and leaves the
        // user without one; hallpass keeps it until the new one is verified.
        let mut carl = signed_up(&s, "carl@example.com");
        let r = carl
            .call(
                &s,
                "POST",
                "account/email",
                Some(json!({"email": "carl2@example.com"})),
            )
            .assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("carl@example.com", false, true),
                ("carl2@example.com", false, false)
            ])
        );
        let key = link_key(&last_mail(&s, "carl2@example.com", Kind::EmailConfirmation));
        assert_signed_in(&carl.verify(&s, &key), "carl2@example.com");
        let r = carl
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("carl2@example.com", true, true)]));
    }
}

/// `verification_none.json`: no mail at sign-up; adding and `PUT` still send links that work.
#[test]
fn web_email_verification_none_sends_no_signup_mail() {
    for mode in MODES {
        let s = server(mode, &[("ACCOUNT_EMAIL_VERIFICATION", "none")]);
        let mut vera = signed_up(&s, "vera@example.com");
        assert!(outbox(&s).is_empty());
        vera.call(
            &s,
            "POST",
            "account/email",
            Some(json!({"email": "vera2@example.com"})),
        )
        .assert_envelope(200);
        last_mail(&s, "vera2@example.com", Kind::EmailConfirmation);
        vera.call(
            &s,
            "PUT",
            "account/email",
            Some(json!({"email": "vera@example.com"})),
        )
        .assert_envelope(200);
        let key = link_key(&last_mail(&s, "vera@example.com", Kind::EmailConfirmation));
        assert_signed_in(&vera.verify(&s, &key), "vera@example.com");
        let r = vera
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("vera@example.com", true, true),
                ("vera2@example.com", false, false)
            ])
        );
    }
}

/// `verify_by_key_optional.json`: GET and POST by key; invalid, missing, expired, reused
/// keys; a key used from a device without a session.
#[test]
fn web_email_verify_by_key_optional() {
    for mode in MODES {
        let s = server(mode, &[]);
        let mut carol = signed_up(&s, "carol@example.com");
        let key = link_key(&last_mail(
            &s,
            "carol@example.com",
            Kind::EmailConfirmationSignup,
        ));
        let invalid = json!([{"message": "Invalid or expired key.", "code": "invalid_or_expired_key", "param": "key"}]);
        // #2, #3
        assert_eq!(
            carol.inspect(&s, "not-a-key").assert_envelope(400)["errors"],
            invalid
        );
        let r = carol.call(&s, "GET", "auth/email/verify", None);
        assert_errors(&r, &[("required", Some("key"))]);
        // #6: GET does not use the key up.
        for _ in 0..2 {
            let json = carol.inspect(&s, &key).assert_envelope(200);
            assert_eq!(json["data"]["email"], "carol@example.com");
            assert_eq!(json["data"]["user"]["username"], "carol");
            assert_eq!(json["meta"], json!({"is_authenticating": false}));
        }
        // #7, #9 - #13
        assert_eq!(
            carol.verify(&s, "not-a-key").assert_envelope(400)["errors"],
            invalid
        );
        let json = assert_signed_in(&carol.verify(&s, &key), "carol@example.com");
        assert_eq!(json["meta"], json!({"is_authenticated": true}));
        assert_eq!(
            carol.verify(&s, &key).assert_envelope(400)["errors"],
            invalid
        );
        assert_eq!(
            carol.inspect(&s, &key).assert_envelope(400)["errors"],
            invalid
        );
        let r = carol
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("carol@example.com", true, true)]));
        // #5, #8: expired after ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS (3).
        signed_up(&s, "dave@example.com");
        let old = link_key(&last_mail(
            &s,
            "dave@example.com",
            Kind::EmailConfirmationSignup,
        ));
        s.clock.advance_secs(3 * 86_400 + 1);
        let mut dave = Device::default();
        dave.login(&s, "dave@example.com", PASSWORD)
            .assert_envelope(200);
        assert_eq!(
            dave.inspect(&s, &old).assert_envelope(400)["errors"],
            invalid
        );
        assert_eq!(
            dave.clone().verify(&s, &old).assert_envelope(400)["errors"],
            invalid
        );
        // #14 - #18: another device, no session: it verifies, and answers 401.
        dave.call(
            &s,
            "PUT",
            "account/email",
            Some(json!({"email": "dave@example.com"})),
        )
        .assert_envelope(200);
        let key = link_key(&last_mail(&s, "dave@example.com", Kind::EmailConfirmation));
        let mut other = Device::default();
        let json = other.inspect(&s, &key).assert_envelope(200);
        assert_eq!(json["meta"], json!({"is_authenticating": false}));
        assert_unauthenticated(&other.verify(&s, &key), &anonymous_flows());
        let r = dave
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("dave@example.com", true, true)]));
        assert_signed_in(
            &dave.call(&s, "GET", "auth/session", None),
            "dave@example.com",
        );
        // #19: resend is a by-code endpoint.
        dave.call(&s, "POST", "auth/email/verify/resend", None)
            .assert_envelope(409);
        // #20, #21
        let r = Device::default().signup(&s, "carol@example.com");
        assert_errors(&r, &[("email_taken", Some("email"))]);
    }
}

/// `bad_input.json#37` - `#47`: bodies of `POST auth/email/verify`.
#[test]
fn web_email_verify_bad_input() {
    let s = server(Mode::Session, &[]);
    let send = |body: &[u8]| {
        crate::web_util::request(
            s.addr,
            "POST",
            "/_allauth/app/v1/auth/email/verify",
            &[("Content-Type", "application/json")],
            Some(body),
        )
    };
    for garbage in [
        &b"{\"email\": "[..],
        b"[\"x\"]",
        b"\"x\"",
        b"null",
        b"email=a%40b.c",
    ] {
        assert_eq!(send(garbage).status, 400, "{garbage:?}");
    }
    for body in [&b""[..], b"{}", br#"{"key": null}"#, br#"{"key": "  "}"#] {
        assert_errors(&send(body), &[("required", Some("key"))]);
    }
    for body in [&br#"{"key": 5}"#[..], br#"{"key": ["a"]}"#] {
        assert_errors(&send(body), &[("invalid_or_expired_key", Some("key"))]);
    }
}

/// `verify_by_key_mandatory.json`, `verify_jwt_by_key.json`: sign-up and an unverified login
/// wait for the address (401, `verify_email` pending, a token of their own and no access
/// token); verifying ends the wait without logging in; then the user logs in.
#[test]
fn web_email_verify_by_key_mandatory() {
    for mode in MODES {
        let s = server(mode, &[("ACCOUNT_EMAIL_VERIFICATION", "mandatory")]);
        // #0, #1
        let mut carol = Device::default();
        let json = assert_unauthenticated(
            &carol.signup(&s, "carol@example.com"),
            &verify_email_pending(),
        );
        assert_pending_token_only(&json);
        let key = link_key(&last_mail(
            &s,
            "carol@example.com",
            Kind::EmailConfirmationSignup,
        ));
        let json = assert_unauthenticated(
            &carol.call(&s, "GET", "auth/session", None),
            &verify_email_pending(),
        );
        assert!(json["meta"].get("session_token").is_none());
        // #2 - #6
        assert_errors(
            &carol.inspect(&s, "not-a-key"),
            &[("invalid_or_expired_key", Some("key"))],
        );
        let json = carol.inspect(&s, &key).assert_envelope(200);
        assert_eq!(json["meta"], json!({"is_authenticating": true}));
        // #9, #12: verified, but not logged in; the flow is over, the token stays 401.
        let r = carol.verify(&s, &key);
        let json = assert_unauthenticated(&r, &anonymous_flows());
        assert!(json["meta"].get("session_token").is_none());
        assert_errors(
            &carol.verify(&s, &key),
            &[("invalid_or_expired_key", Some("key"))],
        );
        assert_unauthenticated(
            &carol.call(&s, "GET", "auth/session", None),
            &anonymous_flows(),
        );
        // #13, #14: a login from that session gets a session of its own.
        let json = assert_signed_in(
            &carol.login(&s, "carol@example.com", PASSWORD),
            "carol@example.com",
        );
        assert_minted(mode, &json);
        assert_eq!(json["data"]["methods"][0]["method"], "password");
        let r = carol
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("carol@example.com", true, true)]));
        // #15 - #19: verified from a device without the session: the original stays pending,
        // and the user can log in elsewhere.
        let mut dave = Device::default();
        dave.signup(&s, "dave@example.com");
        let key = link_key(&last_mail(
            &s,
            "dave@example.com",
            Kind::EmailConfirmationSignup,
        ));
        let mut other = Device::default();
        assert_eq!(
            other.inspect(&s, &key).assert_envelope(200)["meta"]["is_authenticating"],
            false
        );
        assert_unauthenticated(&other.verify(&s, &key), &anonymous_flows());
        assert_unauthenticated(
            &dave.call(&s, "GET", "auth/session", None),
            &verify_email_pending(),
        );
        assert_signed_in(
            &Device::default().login(&s, "dave@example.com", PASSWORD),
            "dave@example.com",
        );
        // #20
        dave.call(&s, "POST", "auth/email/verify/resend", None)
            .assert_envelope(409);
        // #21, #22: a taken address gets the same pending flow and "Account Already Exists".
        let mut x = Device::default();
        let json =
            assert_unauthenticated(&x.signup(&s, "carol@example.com"), &verify_email_pending());
        assert_pending_token_only(&json);
        last_mail(&s, "carol@example.com", Kind::AccountAlreadyExists);
        assert_unauthenticated(
            &x.call(&s, "GET", "auth/session", None),
            &verify_email_pending(),
        );
        // #23 - #26: an unverified user's login waits too, and is mailed a new link.
        Device::default().signup(&s, "erin@example.com");
        let first = link_key(&last_mail(
            &s,
            "erin@example.com",
            Kind::EmailConfirmationSignup,
        ));
        let mut erin = Device::default();
        let json = assert_unauthenticated(
            &erin.login(&s, "erin@example.com", PASSWORD),
            &verify_email_pending(),
        );
        assert_pending_token_only(&json);
        let second = link_key(&last_mail(&s, "erin@example.com", Kind::EmailConfirmation));
        assert_ne!(first, second);
        assert_unauthenticated(
            &erin.call(&s, "GET", "auth/session", None),
            &verify_email_pending(),
        );
        let r = erin.login(&s, "erin@example.com", "BBBB-BBBB");
        assert_errors(&r, &[("email_password_mismatch", Some("password"))]);
        // A second login from the pending session continues it: no new token.
        let json = assert_unauthenticated(
            &erin.login(&s, "erin@example.com", PASSWORD),
            &verify_email_pending(),
        );
        assert!(json["meta"].get("session_token").is_none());
        // A key works from any session, the fake flow's too, but logs nobody in there.
        assert_unauthenticated(&x.verify(&s, &second), &anonymous_flows());
        assert_signed_in(
            &Device::default().login(&s, "erin@example.com", PASSWORD),
            "erin@example.com",
        );
    }
}

/// `verify_by_key_mandatory_login_on_confirmation.json`,
/// `verify_jwt_by_key_login_on_confirmation.json`: the key completes the login of the session
/// waiting for it (a new token, and with JWT the access and refresh tokens).
#[test]
fn web_email_verify_by_key_logs_in_on_confirmation() {
    for mode in MODES {
        let s = server(
            mode,
            &[
                ("ACCOUNT_EMAIL_VERIFICATION", "mandatory"),
                ("ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION", "true"),
            ],
        );
        let mut carol = Device::default();
        carol.signup(&s, "carol@example.com");
        let pending = carol.clone();
        let key = link_key(&last_mail(
            &s,
            "carol@example.com",
            Kind::EmailConfirmationSignup,
        ));
        // #9
        let json = assert_signed_in(&carol.verify(&s, &key), "carol@example.com");
        assert_minted(mode, &json);
        assert_eq!(json["data"]["methods"], json!([]));
        assert_ne!(carol.session, pending.session);
        // The pending flow's token is gone (allauth rotates the session key).
        pending
            .call(&s, "GET", "auth/session", None)
            .assert_envelope(410);
        // #10 - #14
        assert_errors(
            &carol.verify(&s, &key),
            &[("invalid_or_expired_key", Some("key"))],
        );
        assert_signed_in(
            &carol.call(&s, "GET", "auth/session", None),
            "carol@example.com",
        );
        carol
            .login(&s, "carol@example.com", PASSWORD)
            .assert_envelope(409);
        // #15 - #19: from another device the key verifies but logs nobody in.
        let mut dave = Device::default();
        dave.signup(&s, "dave@example.com");
        let key = link_key(&last_mail(
            &s,
            "dave@example.com",
            Kind::EmailConfirmationSignup,
        ));
        assert_unauthenticated(&Device::default().verify(&s, &key), &anonymous_flows());
        assert_unauthenticated(
            &dave.call(&s, "GET", "auth/session", None),
            &verify_email_pending(),
        );
        // An unverified login completes with the login's method.
        Device::default().signup(&s, "erin@example.com");
        let mut erin = Device::default();
        erin.login(&s, "erin@example.com", PASSWORD);
        let key = link_key(&last_mail(&s, "erin@example.com", Kind::EmailConfirmation));
        let json = assert_signed_in(&erin.verify(&s, &key), "erin@example.com");
        assert_eq!(json["data"]["methods"][0]["method"], "password");
        assert_signed_in(
            &erin.call(&s, "GET", "auth/session", None),
            "erin@example.com",
        );
        // The fake flow never completes, not even with another user's key.
        Device::default().signup(&s, "frank@example.com");
        let frank = link_key(&last_mail(
            &s,
            "frank@example.com",
            Kind::EmailConfirmationSignup,
        ));
        let mut x = Device::default();
        x.signup(&s, "carol@example.com");
        assert_unauthenticated(&x.verify(&s, &frank), &anonymous_flows());
        assert_unauthenticated(&x.call(&s, "GET", "auth/session", None), &anonymous_flows());
    }
}

/// `verify_by_code.json`, `verify_jwt_by_code.json`: attempts, the flow's end, codes typed
/// loosely, completion (a new token; with JWT the access and refresh tokens), adding an address
/// by code, the fake flow, and 409 without a flow.
#[test]
fn web_email_verify_by_code() {
    for mode in MODES {
        let s = server(
            mode,
            &[
                ("ACCOUNT_EMAIL_VERIFICATION", "mandatory"),
                ("ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED", "true"),
            ],
        );
        // #0 - #3
        let mut gina = Device::default();
        let json = assert_unauthenticated(
            &gina.signup(&s, "gina@example.com"),
            &verify_email_pending(),
        );
        assert_pending_token_only(&json);
        let first = code(&last_mail(
            &s,
            "gina@example.com",
            Kind::EmailConfirmationSignup,
        ));
        let incorrect =
            json!([{"message": "Incorrect code.", "code": "incorrect_code", "param": "key"}]);
        assert_eq!(
            gina.inspect(&s, "BBBB-BBBB").assert_envelope(400)["errors"],
            incorrect
        );
        let json = gina.inspect(&s, &first).assert_envelope(200);
        assert_eq!(json["data"]["email"], "gina@example.com");
        assert_eq!(json["meta"], json!({"is_authenticating": true}));
        // #4 - #8: the third wrong code ends the flow; then even the right one is 409.
        assert_eq!(
            gina.verify(&s, "BBBB-BBBB").assert_envelope(400)["errors"],
            incorrect
        );
        assert_eq!(
            gina.verify(&s, "BBBB-BBBB").assert_envelope(400)["errors"],
            incorrect
        );
        assert_eq!(
            gina.verify(&s, &first).assert_envelope(409),
            json!({"status": 409})
        );
        assert_unauthenticated(
            &gina.call(&s, "GET", "auth/session", None),
            &anonymous_flows(),
        );
        gina.call(&s, "POST", "auth/email/verify/resend", None)
            .assert_envelope(409);
        // #9 - #14: a missing key counts as an attempt.
        let mut gina2 = Device::default();
        let json = assert_unauthenticated(
            &gina2.login(&s, "gina@example.com", PASSWORD),
            &verify_email_pending(),
        );
        assert_pending_token_only(&json);
        let second = code(&last_mail(&s, "gina@example.com", Kind::EmailConfirmation));
        gina2.verify(&s, "BBBB-BBBB").assert_envelope(400);
        gina2
            .call(&s, "POST", "auth/email/verify/resend", None)
            .assert_envelope(409);
        let r = gina2.call(&s, "POST", "auth/email/verify", Some(json!({})));
        assert_errors(&r, &[("required", Some("key"))]);
        gina2.verify(&s, "BBBB-BBBB").assert_envelope(400);
        gina2.verify(&s, &second).assert_envelope(409);
        // #15 - #19: the code in lower case without its dash completes the login.
        let mut gina3 = Device::default();
        gina3.login(&s, "gina@example.com", PASSWORD);
        let pending = gina3.clone();
        let third = code(&last_mail(&s, "gina@example.com", Kind::EmailConfirmation));
        let loose = third.replace('-', "").to_lowercase();
        let json = assert_signed_in(&gina3.verify(&s, &loose), "gina@example.com");
        assert_minted(mode, &json);
        assert_eq!(json["data"]["methods"][0]["method"], "password");
        // verify_jwt_by_code.json#4 - #7: the new tokens work, the pending token is gone.
        assert_signed_in(
            &gina3.call(&s, "GET", "auth/session", None),
            "gina@example.com",
        );
        pending
            .call(&s, "GET", "auth/session", None)
            .assert_envelope(410);
        if mode != Mode::Session {
            let refresh = json["meta"]["refresh_token"].as_str().unwrap();
            call(
                &s,
                "POST",
                "tokens/refresh",
                &[],
                Some(json!({"refresh_token": refresh})),
            )
            .assert_envelope(200);
        }
        gina3.verify(&s, &third).assert_envelope(409);
        let r = gina3
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("gina@example.com", true, true)]));
        // #20 - #25: signed in, an added address waits in the session for its code.
        let r = gina3
            .call(
                &s,
                "POST",
                "account/email",
                Some(json!({"email": "gina2@example.com"})),
            )
            .assert_envelope(200);
        let both = addresses(&[
            ("gina@example.com", true, true),
            ("gina2@example.com", false, false),
        ]);
        assert_eq!(r["data"], both);
        let fourth = code(&last_mail(&s, "gina2@example.com", Kind::EmailConfirmation));
        let r = gina3
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], both);
        let json = assert_signed_in(
            &gina3.call(&s, "GET", "auth/session", None),
            "gina@example.com",
        );
        assert!(json["data"].get("flows").is_none());
        let json = gina3.inspect(&s, &fourth).assert_envelope(200);
        assert_eq!(json["data"]["email"], "gina2@example.com");
        assert_eq!(json["meta"], json!({"is_authenticating": false}));
        let json = assert_signed_in(&gina3.verify(&s, &fourth), "gina@example.com");
        assert!(json["meta"].get("session_token").is_none());
        let r = gina3
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(
            r["data"],
            addresses(&[
                ("gina@example.com", true, true),
                ("gina2@example.com", true, false)
            ])
        );
        // #26, #27: the fake flow takes no code.
        let mut x = Device::default();
        let json =
            assert_unauthenticated(&x.signup(&s, "gina@example.com"), &verify_email_pending());
        assert_pending_token_only(&json);
        let mail = last_mail(&s, "gina@example.com", Kind::AccountAlreadyExists);
        assert!(!mail.body.contains(&third));
        assert_eq!(
            x.verify(&s, &third).assert_envelope(400)["errors"],
            incorrect
        );
        // #28, #29: no flow, no session.
        let anonymous = Device::default();
        anonymous.clone().verify(&s, &third).assert_envelope(409);
        anonymous.inspect(&s, &third).assert_envelope(409);
    }
}

/// `verify_by_code_resend_change.json`: two resends, the old code wrong after each; the code
/// timeout is found lazily; a new login from that session continues in it.
#[test]
fn web_email_verify_by_code_resend_and_timeout() {
    for mode in MODES {
        let s = server(
            mode,
            &[
                ("ACCOUNT_EMAIL_VERIFICATION", "mandatory"),
                ("ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED", "true"),
                ("ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT", "5"),
                ("ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND", "true"),
            ],
        );
        // #0 - #4
        let mut hana = Device::default();
        hana.signup(&s, "hana@example.com");
        let first = code(&last_mail(
            &s,
            "hana@example.com",
            Kind::EmailConfirmationSignup,
        ));
        let resend = |d: &Device| d.call(&s, "POST", "auth/email/verify/resend", None);
        assert_eq!(resend(&hana).assert_envelope(200), json!({"status": 200}));
        let second = code(&last_mail(
            &s,
            "hana@example.com",
            Kind::EmailConfirmationSignup,
        ));
        assert_errors(&hana.verify(&s, &first), &[("incorrect_code", Some("key"))]);
        resend(&hana).assert_envelope(200);
        let third = code(&last_mail(
            &s,
            "hana@example.com",
            Kind::EmailConfirmationSignup,
        ));
        assert_ne!(second, third);
        resend(&hana).assert_envelope(409);
        let json = assert_signed_in(&hana.verify(&s, &third), "hana@example.com");
        assert_minted(mode, &json);
        assert_eq!(json["data"]["methods"], json!([]));
        // #15 - #19
        let mut tom = Device::default();
        tom.signup(&s, "tom@example.com");
        let code6 = code(&last_mail(
            &s,
            "tom@example.com",
            Kind::EmailConfirmationSignup,
        ));
        s.clock.advance_secs(6);
        assert_unauthenticated(
            &tom.call(&s, "GET", "auth/session", None),
            &verify_email_pending(),
        );
        tom.verify(&s, &code6).assert_envelope(409);
        assert_unauthenticated(
            &tom.call(&s, "GET", "auth/session", None),
            &anonymous_flows(),
        );
        let json = assert_unauthenticated(
            &tom.login(&s, "tom@example.com", PASSWORD),
            &verify_email_pending(),
        );
        assert!(json["meta"].get("session_token").is_none());
        let code7 = code(&last_mail(&s, "tom@example.com", Kind::EmailConfirmation));
        assert_signed_in(&tom.verify(&s, &code7), "tom@example.com");
    }
}

/// An address of another account, added by code: listed while the (unsent) code is
/// outstanding, no code verifies it, and its owner keeps it [ours].
#[test]
fn web_email_claim_by_code_is_never_verified() {
    for mode in MODES {
        let s = server(
            mode,
            &[("ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED", "true")],
        );
        signed_up(&s, "bob@example.com");
        let bob_code = code(&last_mail(
            &s,
            "bob@example.com",
            Kind::EmailConfirmationSignup,
        ));
        let mut alice = signed_up(&s, "alice@example.com");
        let r = alice
            .call(
                &s,
                "POST",
                "account/email",
                Some(json!({"email": "bob@example.com"})),
            )
            .assert_envelope(200);
        let listed = addresses(&[
            ("alice@example.com", false, true),
            ("bob@example.com", false, false),
        ]);
        assert_eq!(r["data"], listed);
        let mail = last_mail(&s, "bob@example.com", Kind::AccountAlreadyExists);
        assert!(!mail.body.contains("code is listed"), "{}", mail.body);
        assert_errors(
            &alice.inspect(&s, &bob_code),
            &[("incorrect_code", Some("key"))],
        );
        assert_errors(
            &alice.verify(&s, "BBBB-BBBB"),
            &[("incorrect_code", Some("key"))],
        );
        let r = alice
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], listed);
        assert_errors(
            &alice.verify(&s, &bob_code),
            &[("incorrect_code", Some("key"))],
        );
        // The third attempt ended it, as for a real address.
        let r = alice
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("alice@example.com", false, true)]));
        assert_signed_in(
            &Device::default().login(&s, "bob@example.com", PASSWORD),
            "bob@example.com",
        );
    }
}

/// allauth's limits on e-mail management: `manage_email` 10/min per user, not counting `GET`s
/// (`rate_limits.json#6` - `#20`); `confirm_email` by link, one mail per address per 3 minutes,
/// `PUT` answering 403 inside it (`rate_limits.json#0` - `#4`).
#[test]
fn web_email_rate_limits_by_key() {
    for mode in MODES {
        let s = server(mode, &[("ACCOUNT_RATE_LIMITS", "true")]);
        let olga = signed_up(&s, "olga@example.com");
        let put = |d: &Device, email: &str| {
            d.call(&s, "PUT", "account/email", Some(json!({ "email": email })))
        };
        let queued = outbox(&s).len();
        assert_eq!(
            put(&olga, "olga@example.com").assert_envelope(403),
            json!({"status": 403})
        );
        assert_eq!(outbox(&s).len(), queued);
        s.clock.advance_secs(181);
        put(&olga, "olga@example.com").assert_envelope(200);
        assert_eq!(outbox(&s).len(), queued + 1);
        let mel = signed_up(&s, "mel@example.com");
        for n in 1..=10 {
            let email = format!("mel{n}@example.com");
            mel.call(&s, "POST", "account/email", Some(json!({ "email": email })))
                .assert_envelope(200);
        }
        let r = mel.call(
            &s,
            "POST",
            "account/email",
            Some(json!({"email": "mel11@example.com"})),
        );
        assert_eq!(r.assert_envelope(429), json!({"status": 429}));
        mel.call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        mel.call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        put(&mel, "mel1@example.com").assert_envelope(429);
        mel.call(
            &s,
            "DELETE",
            "account/email",
            Some(json!({"email": "mel1@example.com"})),
        )
        .assert_envelope(429);
        s.clock.advance_secs(61);
        mel.call(
            &s,
            "DELETE",
            "account/email",
            Some(json!({"email": "mel1@example.com"})),
        )
        .assert_envelope(200);
    }
}

/// `rate_limits_by_code.json#0` - `#3`: by code, `confirm_email` is one mail per address per
/// 10 s: a resend inside it is 429, and an unverified user's login inside it is refused.
#[test]
fn web_email_rate_limits_by_code() {
    for mode in MODES {
        let s = server(
            mode,
            &[
                ("ACCOUNT_RATE_LIMITS", "true"),
                ("ACCOUNT_EMAIL_VERIFICATION", "mandatory"),
                ("ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED", "true"),
                ("ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND", "true"),
            ],
        );
        let mut pia = Device::default();
        pia.signup(&s, "pia@example.com");
        let r = pia.call(&s, "POST", "auth/email/verify/resend", None);
        assert_eq!(r.assert_envelope(429), json!({"status": 429}));
        let json = Device::default()
            .login(&s, "pia@example.com", PASSWORD)
            .assert_envelope(400);
        assert_eq!(
            json["errors"],
            json!([{"message": "Too many failed login attempts. Try again later.", "code": "too_many_login_attempts"}])
        );
        for _ in 0..3 {
            assert_errors(
                &pia.verify(&s, "BBBB-BBBB"),
                &[("incorrect_code", Some("key"))],
            );
        }
        s.clock.advance_secs(11);
        let mut pia2 = Device::default();
        assert_unauthenticated(
            &pia2.login(&s, "pia@example.com", PASSWORD),
            &verify_email_pending(),
        );
        let code = code(&last_mail(&s, "pia@example.com", Kind::EmailConfirmation));
        assert_signed_in(&pia2.verify(&s, &code), "pia@example.com");
    }
}

/// `reauthenticate.json#2` - `#19`: with `ACCOUNT_REAUTHENTICATION_REQUIRED`, adding, marking
/// primary and removing need a recent authentication; listing, resending and verifying do
/// not; a bad request is answered before the reauthentication.
#[test]
fn web_email_reauthentication() {
    for mode in MODES {
        let s = server(
            mode,
            &[
                ("ACCOUNT_REAUTHENTICATION_REQUIRED", "true"),
                ("ACCOUNT_REAUTHENTICATION_TIMEOUT", "3"),
            ],
        );
        let mut leo = signed_up(&s, "leo@example.com");
        let key = link_key(&last_mail(
            &s,
            "leo@example.com",
            Kind::EmailConfirmationSignup,
        ));
        s.engine
            .add_email(hallpass::UserId(1), "leo2@example.com", 0)
            .unwrap();
        s.clock.advance_secs(4);
        // #3, #4
        assert_signed_in(&leo.verify(&s, &key), "leo@example.com");
        leo.call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        // #5, #14, #15
        let due = |r: &Response| {
            let json = r.assert_envelope(401);
            assert_eq!(json["meta"], json!({"is_authenticated": true}));
            assert_eq!(json["data"]["user"]["email"], "leo@example.com");
            assert_eq!(
                json["data"]["flows"],
                json!([{"id": "reauthenticate"}, {"id": "reauthenticate_by_code", "recipients": [{"email": "leo@example.com"}]}])
            );
        };
        due(&leo.call(
            &s,
            "POST",
            "account/email",
            Some(json!({"email": "leo3@example.com"})),
        ));
        due(&leo.call(
            &s,
            "DELETE",
            "account/email",
            Some(json!({"email": "leo2@example.com"})),
        ));
        due(&leo.call(
            &s,
            "PATCH",
            "account/email",
            Some(json!({"email": "leo@example.com", "primary": true})),
        ));
        // #16
        leo.call(
            &s,
            "PUT",
            "account/email",
            Some(json!({"email": "leo2@example.com"})),
        )
        .assert_envelope(200);
        // #17 - #19
        let r = leo.call(
            &s,
            "PATCH",
            "account/email",
            Some(json!({"email": "leo2@example.com", "primary": true})),
        );
        assert_errors(&r, &[("unverified_primary_email", Some("email"))]);
        let r = leo.call(
            &s,
            "DELETE",
            "account/email",
            Some(json!({"email": "nobody@example.com"})),
        );
        assert_errors(&r, &[("unknown_email", Some("email"))]);
        let r = leo.call(
            &s,
            "POST",
            "account/email",
            Some(json!({"email": "leo2@example.com"})),
        );
        assert_errors(&r, &[("duplicate_email", Some("email"))]);
        // Without the setting, nothing asks.
        let s = server(mode, &[("ACCOUNT_REAUTHENTICATION_TIMEOUT", "3")]);
        let quinn = signed_up(&s, "quinn@example.com");
        s.clock.advance_secs(60);
        quinn
            .call(
                &s,
                "POST",
                "account/email",
                Some(json!({"email": "quinn2@example.com"})),
            )
            .assert_envelope(200);
        quinn
            .call(
                &s,
                "DELETE",
                "account/email",
                Some(json!({"email": "quinn2@example.com"})),
            )
            .assert_envelope(200);
    }
}

/// `config.json`: `data.account` as allauth answers it for each recorded configuration, plus
/// `usersessions`; no `mfa` section, as hallpass has none.
#[test]
fn web_email_config_advertises_what_is_enabled() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/allauth/config.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let runs = fixture["runs"].as_array().unwrap();
    assert!(runs.len() > 10);
    for run in runs {
        let mut settings = Vec::new();
        for name in [
            "ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED",
            "ACCOUNT_LOGIN_BY_CODE_ENABLED",
            "ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED",
            "ACCOUNT_EMAIL_VERIFICATION",
        ] {
            match &run["settings"][name] {
                Value::Bool(b) => settings.push((name, b.to_string())),
                Value::String(v) => settings.push((name, v.clone())),
                _ => {}
            }
        }
        let settings: Vec<(&str, &str)> = settings.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let s = server(Mode::Session, &settings);
        let config = &run["exchanges"][0]["response"]["body"];
        let json = call(&s, "GET", "config", &[], None).assert_envelope(200);
        assert_eq!(
            json["data"]["account"], config["data"]["account"],
            "{}",
            run["configuration"]
        );
        assert!(json["data"].get("mfa").is_none());
        assert_eq!(
            json["data"]["usersessions"],
            json!({"track_activity": true})
        );
    }
}

/// Signed in, by code: the sign-up address's code is the session's (optional verification);
/// an added address can be resent (quota), refused as primary, and cancelled; `PUT` of a
/// stored address starts its verification in the session.
#[test]
fn web_email_signed_in_verification_by_code() {
    for mode in MODES {
        let s = server(
            mode,
            &[
                ("ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED", "true"),
                ("ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND", "true"),
            ],
        );
        let ivy = signed_up(&s, "ivy@example.com");
        let signup_code = code(&last_mail(
            &s,
            "ivy@example.com",
            Kind::EmailConfirmationSignup,
        ));
        let json = ivy.inspect(&s, &signup_code).assert_envelope(200);
        assert_eq!(json["meta"], json!({"is_authenticating": false}));
        let r = ivy
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("ivy@example.com", false, true)]));
        // Adding replaces the session's verification.
        ivy.call(
            &s,
            "POST",
            "account/email",
            Some(json!({"email": "ivy2@example.com"})),
        )
        .assert_envelope(200);
        assert_errors(
            &ivy.clone().verify(&s, &signup_code),
            &[("incorrect_code", Some("key"))],
        );
        let put =
            |email: &str| ivy.call(&s, "PUT", "account/email", Some(json!({ "email": email })));
        put("ivy2@example.com").assert_envelope(200);
        s.clock.advance_secs(11);
        put("ivy2@example.com").assert_envelope(200);
        let resent = code(&last_mail(&s, "ivy2@example.com", Kind::EmailConfirmation));
        assert_eq!(
            put("ivy2@example.com").assert_envelope(403),
            json!({"status": 403})
        );
        let r = ivy.call(
            &s,
            "PATCH",
            "account/email",
            Some(json!({"email": "ivy2@example.com", "primary": true})),
        );
        assert_errors(&r, &[("unverified_primary_email", Some("email"))]);
        let r = ivy
            .call(
                &s,
                "DELETE",
                "account/email",
                Some(json!({"email": "ivy2@example.com"})),
            )
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("ivy@example.com", false, true)]));
        ivy.clone().verify(&s, &resent).assert_envelope(409);
        // `PUT` of the stored address: a new code, in the session.
        put("ivy@example.com").assert_envelope(200);
        let again = code(&last_mail(&s, "ivy@example.com", Kind::EmailConfirmation));
        assert_signed_in(&ivy.clone().verify(&s, &again), "ivy@example.com");
        let r = ivy
            .call(&s, "GET", "account/email", None)
            .assert_envelope(200);
        assert_eq!(r["data"], addresses(&[("ivy@example.com", true, true)]));
        // A signed-in session without a code flow: 409.
        ivy.clone().verify(&s, &again).assert_envelope(409);
        ivy.call(&s, "POST", "auth/email/verify/resend", None)
            .assert_envelope(409);
    }
}
