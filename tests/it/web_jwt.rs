//! The facade with the JWT strategy: stateless and stateful validation, rotation on and off,
//! reuse detection and the grace window, the after-logout table, the React Native refresh
//! flow under concurrency, RS256 with JWKS, and the `keygen` / `token verify` commands.

use std::sync::{Arc, Barrier};

use serde_json::{Value, json};

use crate::web_auth::{
    PASSWORD, assert_anonymous, assert_gone, call, get_session, login, session_token, signup,
};
use crate::web_util::{Response, TestServer, request, spawn_web};

const HS256: [(&str, &str); 2] = [
    ("HEADLESS_TOKEN_STRATEGY", "jwt"),
    ("HEADLESS_JWT_ALGORITHM", "HS256"),
];

pub(crate) fn jwt_server(extra: &[(&str, &str)]) -> TestServer {
    let mut settings = HS256.to_vec();
    settings.extend_from_slice(extra);
    spawn_web(&settings)
}

pub(crate) struct Tokens {
    pub(crate) session: String,
    pub(crate) access: String,
    pub(crate) refresh: String,
}

pub(crate) fn tokens(body: &Value) -> Tokens {
    Tokens {
        session: session_token(body),
        access: body["meta"]["access_token"].as_str().unwrap().to_owned(),
        refresh: body["meta"]["refresh_token"].as_str().unwrap().to_owned(),
    }
}

pub(crate) fn refresh(server: &TestServer, token: &str) -> Response {
    call(
        server,
        "POST",
        "tokens/refresh",
        &[],
        Some(json!({"refresh_token": token})),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn api_me(server: &TestServer, access: &str) -> Response {
    let header = bearer(access);
    request(
        server.api_addr,
        "GET",
        "/api/me",
        &[("Authorization", &header)],
        None,
    )
}

pub(crate) fn session_by_bearer(server: &TestServer, access: &str) -> Response {
    let header = bearer(access);
    get_session(server, &[("Authorization", &header)])
}

pub(crate) fn session_by_token(server: &TestServer, token: &str) -> Response {
    get_session(server, &[("X-Session-Token", token)])
}

#[test]
fn web_jwt_stateless_flow_and_after_logout_table() {
    let server = jwt_server(&[]);
    let body = signup(&server, "j@example.com");
    assert_eq!(body["data"]["methods"], json!([]));
    let t = tokens(&body);
    let r = session_by_bearer(&server, &t.access).assert_envelope(200);
    assert_eq!(r["meta"], json!({"is_authenticated": true}));
    // The scheme is compared case-insensitively; other schemes and garbage are anonymous.
    let lower = format!("bearer {}", t.access);
    get_session(&server, &[("Authorization", &lower)]).assert_envelope(200);
    for header in [
        format!("Token {}", t.access),
        "Bearer garbage".to_owned(),
        bearer(&t.refresh),
        format!("Bearer {}x", t.access),
    ] {
        assert_anonymous(&get_session(&server, &[("Authorization", &header)]));
    }
    // X-Session-Token wins, even when dead beside a valid bearer token.
    let header = bearer(&t.access);
    assert_gone(&get_session(
        &server,
        &[("X-Session-Token", "gone"), ("Authorization", &header)],
    ));
    let me = api_me(&server, &t.access);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["via_token"], true);

    let r = refresh(&server, &t.refresh).assert_envelope(200);
    assert!(r.get("meta").is_none());
    let data = r["data"].as_object().unwrap();
    assert_eq!(data.len(), 2);
    let new_access = data["access_token"].as_str().unwrap().to_owned();
    let new_refresh = data["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, t.refresh);
    session_by_bearer(&server, &new_access).assert_envelope(200);

    // Logout with the session token, then the stateless table: 410, 400, 410, accepted.
    assert_anonymous(&call(
        &server,
        "DELETE",
        "auth/session",
        &[("X-Session-Token", &t.session)],
        None,
    ));
    assert_gone(&session_by_token(&server, &t.session));
    assert_eq!(
        refresh(&server, &new_refresh).assert_envelope(400),
        json!({"status": 400})
    );
    assert_gone(&session_by_bearer(&server, &new_access));
    let me = api_me(&server, &new_access);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["session"], Value::Null);
    // ... until exp.
    server.clock.advance_secs(301);
    assert_anonymous(&api_me(&server, &new_access));
    assert_anonymous(&session_by_bearer(&server, &new_access));
}

#[test]
fn web_jwt_stateful_after_logout_table() {
    let server = jwt_server(&[("HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED", "true")]);
    let t = tokens(&signup(&server, "k@example.com"));
    session_by_bearer(&server, &t.access).assert_envelope(200);
    assert_eq!(api_me(&server, &t.access).status, 200);
    // Logout by bearer token ends the session its sid names.
    let header = bearer(&t.access);
    assert_anonymous(&call(
        &server,
        "DELETE",
        "auth/session",
        &[("Authorization", &header)],
        None,
    ));
    assert_gone(&session_by_token(&server, &t.session));
    refresh(&server, &t.refresh).assert_envelope(400);
    assert_anonymous(&session_by_bearer(&server, &t.access));
    assert_anonymous(&api_me(&server, &t.access));
}

#[test]
fn web_jwt_other_sessions_survive_logout() {
    let server = jwt_server(&[]);
    let a = tokens(&signup(&server, "l@example.com"));
    let b = tokens(&login(&server, "l@example.com", PASSWORD).assert_envelope(200));
    assert_eq!(
        login(&server, "l@example.com", PASSWORD).assert_envelope(200)["data"]["methods"][0]["method"],
        "password"
    );
    call(
        &server,
        "DELETE",
        "auth/session",
        &[("X-Session-Token", &a.session)],
        None,
    )
    .assert_envelope(401);
    session_by_token(&server, &b.session).assert_envelope(200);
    refresh(&server, &b.refresh).assert_envelope(200);
}

#[test]
fn web_jwt_rotation_off_returns_only_an_access_token() {
    let server = jwt_server(&[("HEADLESS_JWT_ROTATE_REFRESH_TOKEN", "false")]);
    let t = tokens(&signup(&server, "m@example.com"));
    for _ in 0..3 {
        let r = refresh(&server, &t.refresh).assert_envelope(200);
        let data = r["data"].as_object().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["access_token"]);
        session_by_bearer(&server, data["access_token"].as_str().unwrap()).assert_envelope(200);
    }
    // Every invalid token is a bare 400: garbage, an access token, an expired refresh token.
    refresh(&server, "garbage").assert_envelope(400);
    assert_eq!(
        refresh(&server, &t.access).assert_envelope(400),
        json!({"status": 400})
    );
    server.clock.advance_secs(86_401);
    refresh(&server, &t.refresh).assert_envelope(400);
}

#[test]
fn web_jwt_detection_off_grace_zero_behaves_like_allauth() {
    let server = jwt_server(&[
        ("HALLPASS_REFRESH_REUSE_DETECTION", "false"),
        ("HALLPASS_REFRESH_GRACE_SECONDS", "0"),
    ]);
    let t = tokens(&signup(&server, "n@example.com"));
    let r1 = refresh(&server, &t.refresh).assert_envelope(200);
    let r1 = r1["data"]["refresh_token"].as_str().unwrap().to_owned();
    server.clock.advance_secs(1);
    assert_eq!(
        refresh(&server, &t.refresh).assert_envelope(400),
        json!({"status": 400})
    );
    session_by_token(&server, &t.session).assert_envelope(200);
    session_by_bearer(&server, &t.access).assert_envelope(200);
    refresh(&server, &r1).assert_envelope(200);
}

#[test]
fn web_jwt_reuse_detection_revokes_the_session() {
    let server = jwt_server(&[]);
    let t = tokens(&signup(&server, "o@example.com"));
    let first = refresh(&server, &t.refresh).assert_envelope(200);
    // Within the grace window a retry gets the identical successor.
    let again = refresh(&server, &t.refresh).assert_envelope(200);
    assert_eq!(first, again);
    server.clock.advance_secs(11);
    refresh(&server, &t.refresh).assert_envelope(400);
    assert_gone(&session_by_token(&server, &t.session));
    let successor = first["data"]["refresh_token"].as_str().unwrap();
    refresh(&server, successor).assert_envelope(400);

    let grace0 = jwt_server(&[("HALLPASS_REFRESH_GRACE_SECONDS", "0")]);
    let t = tokens(&signup(&grace0, "p@example.com"));
    refresh(&grace0, &t.refresh).assert_envelope(200);
    grace0.clock.advance_secs(1);
    refresh(&grace0, &t.refresh).assert_envelope(400);
    assert_gone(&session_by_token(&grace0, &t.session));
}

/// The React Native client: call with Bearer; on 401 refresh and retry. 24 clients see the
/// access token expire at once and all refresh the same refresh token; under the defaults
/// every one must get a working token pair and the user must stay logged in.
#[test]
fn web_react_native_flow_with_concurrent_refreshes() {
    let server = Arc::new(jwt_server(&[]));
    let t = tokens(&login_after_signup(&server, "q@example.com"));
    assert_eq!(api_me(&server, &t.access).status, 200);
    session_by_bearer(&server, &t.access).assert_envelope(200);
    server.clock.advance_secs(301);
    const CLIENTS: usize = 24;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let server = Arc::clone(&server);
            let barrier = Arc::clone(&barrier);
            let access = t.access.clone();
            let refresh_token = t.refresh.clone();
            std::thread::spawn(move || {
                barrier.wait();
                assert_anonymous(&session_by_bearer(&server, &access));
                let r = refresh(&server, &refresh_token).assert_envelope(200);
                let access = r["data"]["access_token"].as_str().unwrap().to_owned();
                session_by_bearer(&server, &access).assert_envelope(200);
                assert_eq!(api_me(&server, &access).status, 200);
                r["data"]["refresh_token"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let successors: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "one successor"
    );
    session_by_token(&server, &t.session).assert_envelope(200);
    // The successor keeps the session going.
    server.clock.advance_secs(30);
    refresh(&server, &successors[0]).assert_envelope(200);
    session_by_token(&server, &t.session).assert_envelope(200);
}

fn login_after_signup(server: &TestServer, email: &str) -> Value {
    signup(server, email);
    login(server, email, PASSWORD).assert_envelope(200)
}

#[test]
fn web_rs256_tokens_and_jwks() {
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/rsa.pem");
    let server = spawn_web(&[
        ("HEADLESS_TOKEN_STRATEGY", "jwt"),
        ("HEADLESS_JWT_ALGORITHM", "RS256"),
        ("HEADLESS_JWT_PRIVATE_KEY", key),
    ]);
    let t = tokens(&signup(&server, "r@example.com"));
    let r = request(server.addr, "GET", "/.well-known/jwks.json", &[], None);
    assert_eq!(r.status, 200);
    let jwks = r.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["kty"], "RSA");
    assert!(keys[0].get("d").is_none());
    let header = t.access.split('.').next().unwrap();
    use base64::Engine as _;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], keys[0]["kid"]);
    session_by_bearer(&server, &t.access).assert_envelope(200);
    let r = refresh(&server, &t.refresh).assert_envelope(200);
    session_by_bearer(&server, r["data"]["access_token"].as_str().unwrap()).assert_envelope(200);
}

#[test]
fn web_refresh_is_rate_limited() {
    let server = jwt_server(&[]);
    for _ in 0..60 {
        refresh(&server, "garbage").assert_envelope(400);
    }
    assert_eq!(
        refresh(&server, "garbage").assert_envelope(429),
        json!({"status": 429})
    );
    server.clock.advance_secs(61);
    refresh(&server, "garbage").assert_envelope(400);
}

#[test]
fn web_cli_keygen_and_token_verify() {
    use hallpass::{Algorithm, Claims, Clock, JwtCodec, KeySet, SidCipher, SystemClock, TokenUse};

    let bin = env!("CARGO_BIN_EXE_hallpass");
    for alg in ["RS256", "ES256", "EdDSA"] {
        let out = std::process::Command::new(bin)
            .args(["keygen", "--alg", alg])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = String::from_utf8(out.stdout).unwrap();
        assert!(pem.starts_with("-----BEGIN"), "{pem}");
        let alg: Algorithm = alg.parse().unwrap();
        KeySet::from_private_pem(alg, pem.as_bytes()).unwrap();
    }
    let out = std::process::Command::new(bin)
        .args(["keygen", "--alg", "HS256"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let secret = crate::web_util::TEST_SECRET_KEY;
    let codec = JwtCodec::new(KeySet::from_secret(Algorithm::HS256, secret.as_bytes()).unwrap());
    let now = SystemClock.now().as_secs();
    let claims = Claims {
        sub: "7".into(),
        iat: now,
        exp: now + 300,
        jti: "00000000-0000-4000-8000-000000000000".into(),
        sid: SidCipher::from_secret_key(secret.as_bytes()).encrypt("abc"),
        token_use: TokenUse::Access,
    };
    let token = codec.sign(&claims, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let verify = |token: &str| {
        std::process::Command::new(bin)
            .args(["token", "verify", token, "--data-dir"])
            .arg(dir.path())
            .args(["--set", "HEADLESS_JWT_ALGORITHM=HS256"])
            .env("SECRET_KEY", secret)
            .output()
            .unwrap()
    };
    let out = verify(&token);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let payload: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(payload["sub"], "7");
    assert_eq!(payload["token_use"], "access");
    let out = verify(&format!("{token}x"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("invalid: "));
}

/// `HALLPASS_JWT_REFRESH_ALGORITHM=HS256` beside RS256 access tokens: the refresh flow is the
/// contract's, only the refresh token's signature differs; the JWKS still lists the RSA key
/// alone (nobody else verifies refresh tokens).
#[test]
fn web_refresh_tokens_signed_with_hmac_beside_rs256_access_tokens() {
    use base64::Engine as _;
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/rsa.pem");
    let server = spawn_web(&[
        ("HEADLESS_TOKEN_STRATEGY", "jwt"),
        ("HEADLESS_JWT_ALGORITHM", "RS256"),
        ("HEADLESS_JWT_PRIVATE_KEY", key),
        ("HALLPASS_JWT_REFRESH_ALGORITHM", "HS256"),
    ]);
    let alg = |token: &str| -> Value {
        let header = token.split('.').next().unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["alg"].clone()
    };
    let t = tokens(&signup(&server, "h@example.com"));
    assert_eq!(
        (alg(&t.access), alg(&t.refresh)),
        (json!("RS256"), json!("HS256"))
    );
    let r = refresh(&server, &t.refresh).assert_envelope(200);
    let next = r["data"]["refresh_token"].as_str().unwrap();
    assert_eq!(alg(next), json!("HS256"));
    assert_eq!(
        alg(r["data"]["access_token"].as_str().unwrap()),
        json!("RS256")
    );
    session_by_bearer(&server, r["data"]["access_token"].as_str().unwrap()).assert_envelope(200);
    // The refresh token is no bearer token.
    assert_anonymous(&session_by_bearer(&server, next));
    let jwks = request(server.addr, "GET", "/.well-known/jwks.json", &[], None).json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
}

/// `hallpass token verify` checks a refresh token as the server does: with the refresh codec
/// (`HALLPASS_JWT_REFRESH_ALGORITHM`) when one is set. Before, it tried the access-token keys
/// only, so an HMAC-refresh token was "invalid: bad signature".
#[test]
fn web_cli_token_verify_uses_the_refresh_codec() {
    use hallpass::{
        EngineConfig, MemStore, PasswordHash, RawConfig, SessionMeta, SystemClock, TokenStrategy,
    };
    let secret = crate::web_util::TEST_SECRET_KEY;
    let settings = [
        ("HEADLESS_TOKEN_STRATEGY", "jwt"),
        ("HEADLESS_JWT_ALGORITHM", "HS256"),
        ("HALLPASS_JWT_REFRESH_ALGORITHM", "HS512"),
        ("SECRET_KEY", secret),
    ];
    let mut raw = RawConfig::new();
    for (name, value) in settings {
        raw.set(name, value).unwrap();
    }
    let strategy = hallpass::build_jwt_strategy(&raw.validate().unwrap()).unwrap();
    let (engine, _) = hallpass::Engine::open(
        MemStore::new(),
        Arc::new(SystemClock),
        EngineConfig::default(),
    )
    .unwrap();
    let user = engine
        .sign_up("v@example.com", "v", PasswordHash::unusable())
        .unwrap();
    let issued = strategy
        .create_session(&engine, &user, SessionMeta::default())
        .unwrap();
    let refresh = issued.refresh_token.clone().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"));
    cli.args(["token", "verify", &refresh, "--data-dir"])
        .arg(dir.path());
    for (name, value) in &settings[..3] {
        cli.args(["--set", &format!("{name}={value}")]);
    }
    let out = cli.env("SECRET_KEY", secret).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let payload: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(payload["token_use"], "refresh");
}
