//! Token strategies through the public API: issuing, resolving credentials, refresh rotation,
//! reuse detection, grace retries, stateless versus stateful validation, custom strategies.

use std::sync::Arc;

use hallpass::testing::ManualClock;
use hallpass::{
    Algorithm, Engine, EngineConfig, IssueError, KeySet, PasswordHash, RevokeReason, SessionKey,
    SessionMeta, SidCipher, User,
};
use hallpass::{
    Issued, RefreshError, RequestCredentials, Resolved, SessionTokenStrategy, StrategyKind,
    TokenStrategy, resolve,
};
use hallpass::{JwtCodec, JwtSettings, JwtTokenStrategy, TokenUse};
use proptest::prelude::*;

use crate::util::{T0, mem_engine, open};

const SECRET: &[u8] = b"django-insecure-test-secret-key-for-hallpass-tests";

fn jwt(settings: JwtSettings) -> JwtTokenStrategy {
    let keys = KeySet::from_secret(Algorithm::HS256, SECRET).unwrap();
    JwtTokenStrategy::new(
        JwtCodec::new(keys),
        SidCipher::from_secret_key(SECRET),
        settings,
    )
}

fn rs256() -> JwtTokenStrategy {
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keys/rsa.pem"
    ))
    .unwrap();
    let keys = KeySet::from_private_pem(Algorithm::RS256, &pem).unwrap();
    JwtTokenStrategy::new(
        JwtCodec::new(keys),
        SidCipher::from_secret_key(SECRET),
        JwtSettings::default(),
    )
}

fn login(engine: &Engine, strategy: &dyn TokenStrategy) -> (User, Issued) {
    let n = engine.with_state(|s| s.user_count()) + 1;
    let user = engine
        .sign_up(&format!("u{n}@example.com"), "u", PasswordHash::unusable())
        .unwrap();
    let issued = strategy
        .create_session(engine, &user, SessionMeta::default())
        .unwrap();
    (user, issued)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn resolve_bearer(strategy: &dyn TokenStrategy, engine: &Engine, token: &str) -> Resolved {
    let header = bearer(token);
    resolve(
        strategy,
        engine,
        &RequestCredentials {
            session_token: None,
            authorization: Some(&header),
        },
    )
}

#[test]
fn strategy_names_parse_like_allauth() {
    for (name, kind) in [
        ("session", StrategyKind::Session),
        (
            "allauth.headless.tokens.strategies.sessions.SessionTokenStrategy",
            StrategyKind::Session,
        ),
        ("jwt", StrategyKind::Jwt),
        (
            "allauth.headless.tokens.strategies.jwt.strategy.JWTTokenStrategy",
            StrategyKind::Jwt,
        ),
    ] {
        assert_eq!(name.parse::<StrategyKind>().unwrap(), kind);
    }
    assert!("myapp.tokens.Custom".parse::<StrategyKind>().is_err());
}

#[test]
fn session_strategy_issues_only_a_session_token() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let strategy = SessionTokenStrategy;
    let (user, issued) = login(&engine, &strategy);
    assert!(issued.access_token.is_none() && issued.refresh_token.is_none());
    assert!(strategy.access_token_payload(&issued).is_empty());
    let creds = RequestCredentials {
        session_token: Some(issued.session_token.expose()),
        authorization: None,
    };
    let Resolved::Authenticated(auth) = resolve(&strategy, &engine, &creds) else {
        panic!()
    };
    assert_eq!(auth.session.user, user.id);
    assert!(matches!(
        strategy.refresh_token(&engine, "x"),
        Err(RefreshError::Unsupported)
    ));
    let dead = RequestCredentials {
        session_token: Some("nope"),
        authorization: None,
    };
    assert_eq!(resolve(&strategy, &engine, &dead), Resolved::Dead);
    assert_eq!(
        resolve(&strategy, &engine, &RequestCredentials::default()),
        Resolved::Anonymous
    );
}

#[test]
fn session_token_wins_over_a_valid_bearer() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let strategy = jwt(JwtSettings::default());
    let (_, issued) = login(&engine, &strategy);
    let header = bearer(issued.access_token.as_deref().unwrap());
    let creds = RequestCredentials {
        session_token: Some("unknown"),
        authorization: Some(&header),
    };
    assert_eq!(resolve(&strategy, &engine, &creds), Resolved::Dead);
}

#[test]
fn jwt_login_issues_access_and_refresh_tokens_with_allauth_claims() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let strategy = rs256();
    let (user, issued) = login(&engine, &strategy);
    let access = issued.access_token.as_deref().unwrap();
    let refresh = issued.refresh_token.as_deref().unwrap();
    let now = engine.now().as_secs();
    let a = strategy
        .codec()
        .verify(access, TokenUse::Access, now)
        .unwrap();
    let r = strategy
        .codec()
        .verify(refresh, TokenUse::Refresh, now)
        .unwrap();
    assert_eq!(a.sub, user.id.to_string());
    assert_eq!((a.exp - a.iat, r.exp - r.iat), (300, 86_400));
    assert_eq!(a.sid.len(), 64, "padded base64 of 16-byte IV + 32-byte key");
    let sid = SidCipher::from_secret_key(SECRET);
    assert_eq!(
        sid.decrypt(&a.sid).as_deref(),
        Some(issued.session_token.expose())
    );
    assert_ne!(a.sid, r.sid, "a fresh IV per token");
    let meta = strategy.access_token_payload(&issued);
    assert_eq!(meta.len(), 2);
    let Resolved::Authenticated(auth) = resolve_bearer(&strategy, &engine, access) else {
        panic!()
    };
    assert_eq!(auth.claims.unwrap().jti, a.jti);
    // A refresh token is no access token, and garbage is anonymous, never an error.
    assert_eq!(
        resolve_bearer(&strategy, &engine, refresh),
        Resolved::Anonymous
    );
    assert_eq!(
        resolve_bearer(&strategy, &engine, "garbage"),
        Resolved::Anonymous
    );
    let wrong_scheme = format!("Token {access}");
    let creds = RequestCredentials {
        session_token: None,
        authorization: Some(&wrong_scheme),
    };
    assert_eq!(resolve(&strategy, &engine, &creds), Resolved::Anonymous);
    let lower = format!("bearer {access}");
    let creds = RequestCredentials {
        session_token: None,
        authorization: Some(&lower),
    };
    assert!(matches!(
        resolve(&strategy, &engine, &creds),
        Resolved::Authenticated(_)
    ));
}

#[test]
fn custom_claims_are_added_and_reserved_claims_win() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let strategy = jwt(JwtSettings::default()).with_custom_claims(|user: &User| {
        let mut m = serde_json::Map::new();
        m.insert(
            "email".into(),
            serde_json::Value::String(user.email.clone()),
        );
        m.insert("sub".into(), serde_json::Value::String("attacker".into()));
        m
    });
    let (user, issued) = login(&engine, &strategy);
    let now = engine.now().as_secs();
    let access = issued.access_token.unwrap();
    let claims = strategy
        .codec()
        .verify(&access, TokenUse::Access, now)
        .unwrap();
    assert_eq!(claims.sub, user.id.to_string());
    let (_, all) = strategy
        .codec()
        .verify_with_payload(&access, TokenUse::Access, now)
        .unwrap();
    assert_eq!(
        all.get("email").and_then(|v| v.as_str()),
        Some(user.email.as_str())
    );
}

#[test]
fn stateless_versus_stateful_after_logout() {
    for stateful in [false, true] {
        let (engine, _, _) = mem_engine(EngineConfig::default());
        let strategy = jwt(JwtSettings {
            stateful,
            ..JwtSettings::default()
        });
        let (_, issued) = login(&engine, &strategy);
        let access = issued.access_token.clone().unwrap();
        engine
            .revoke(issued.session_token.expose(), RevokeReason::Logout)
            .unwrap();
        let on_session_endpoint = resolve_bearer(&strategy, &engine, &access);
        let on_resource_api = strategy.validate_access_token(&engine, &access);
        if stateful {
            assert_eq!(on_session_endpoint, Resolved::Anonymous, "stateful: 401");
            assert!(on_resource_api.is_err(), "stateful: rejected at once");
        } else {
            assert_eq!(on_session_endpoint, Resolved::Dead, "stateless: 410");
            assert!(on_resource_api.is_ok(), "stateless: accepted until exp");
        }
        let refresh = issued.refresh_token.unwrap();
        assert!(matches!(
            strategy.refresh_token(&engine, &refresh),
            Err(RefreshError::Invalid)
        ));
    }
}

#[test]
fn cached_validation_still_checks_expiry() {
    let (engine, _, clock) = mem_engine(EngineConfig::default());
    let strategy = jwt(JwtSettings::default());
    let (_, issued) = login(&engine, &strategy);
    let access = issued.access_token.unwrap();
    assert!(strategy.validate_access_token(&engine, &access).is_ok());
    assert!(
        strategy.validate_access_token(&engine, &access).is_ok(),
        "cache hit"
    );
    clock.advance_secs(300);
    assert!(
        strategy.validate_access_token(&engine, &access).is_err(),
        "exp == now is expired"
    );
}

#[test]
fn rotation_then_retry_then_reuse() {
    let (engine, _, clock) = mem_engine(EngineConfig::default());
    let strategy = jwt(JwtSettings::default());
    let (_, issued) = login(&engine, &strategy);
    let r0 = issued.refresh_token.unwrap();
    let first = strategy.refresh_token(&engine, &r0).unwrap();
    let r1 = first.refresh_token.clone().unwrap();
    assert_ne!(r1, r0);
    clock.advance_secs(5);
    let retry = strategy.refresh_token(&engine, &r0).unwrap();
    assert_eq!(
        retry, first,
        "a retry in the grace window gets the identical pair"
    );
    clock.advance_secs(6);
    assert!(matches!(
        strategy.refresh_token(&engine, &r0),
        Err(RefreshError::ReuseDetected)
    ));
    assert!(
        engine.lookup(issued.session_token.expose()).is_none(),
        "session revoked"
    );
    assert!(matches!(
        strategy.refresh_token(&engine, &r1),
        Err(RefreshError::Invalid)
    ));
}

#[test]
fn without_rotation_the_same_refresh_token_stays_valid() {
    let config = EngineConfig {
        reuse_detection: false,
        refresh_grace_ms: 0,
        ..EngineConfig::default()
    };
    let (engine, _, clock) = mem_engine(config);
    let strategy = jwt(JwtSettings {
        rotate_refresh: false,
        ..JwtSettings::default()
    });
    let (_, issued) = login(&engine, &strategy);
    let r0 = issued.refresh_token.unwrap();
    for _ in 0..3 {
        clock.advance_secs(1);
        let out = strategy.refresh_token(&engine, &r0).unwrap();
        assert!(out.refresh_token.is_none());
        assert!(
            strategy
                .validate_access_token(&engine, &out.access_token)
                .is_ok()
        );
    }
}

#[test]
fn refresh_for_a_deleted_user_is_invalid_not_an_error() {
    // A session whose user is gone cannot arise through the engine's API; a token naming
    // another user is the reachable case.
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let strategy = jwt(JwtSettings::default());
    let (_, issued) = login(&engine, &strategy);
    let access = issued.access_token.unwrap();
    assert!(matches!(
        strategy.refresh_token(&engine, &access),
        Err(RefreshError::Invalid)
    ));
    assert!(matches!(
        strategy.refresh_token(&engine, ""),
        Err(RefreshError::Invalid)
    ));
}

/// 32 presentations at once: one rotation and 31 replays, within the default replay cap of 32
/// (beyond it a presentation counts as reuse; see the engine tests).
#[test]
fn thirty_two_threads_refreshing_one_token_get_one_successor() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let strategy = Arc::new(jwt(JwtSettings::default()));
    let (_, issued) = login(&engine, &*strategy);
    let r0 = issued.refresh_token.unwrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let (engine, strategy, r0) = (engine.clone(), Arc::clone(&strategy), r0.clone());
                s.spawn(move || strategy.refresh_token(&engine, &r0).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "all 32 got the same pair"
    );
    assert_eq!(engine.with_state(|s| s.refresh_token_count()), 1);
}

/// A library user's own strategy, like allauth's custom `create_access_token`.
struct OpaqueAccessStrategy;

impl TokenStrategy for OpaqueAccessStrategy {
    fn create_session(
        &self,
        engine: &Engine,
        user: &User,
        meta: SessionMeta,
    ) -> Result<Issued, IssueError> {
        let mut issued = SessionTokenStrategy.create_session(engine, user, meta)?;
        issued.access_token = self.create_access_token(engine, user, &issued.session_token);
        Ok(issued)
    }

    fn create_access_token(&self, _: &Engine, user: &User, key: &SessionKey) -> Option<String> {
        Some(format!("opaque-{}-{}", user.id, &key.expose()[..4]))
    }
}

#[test]
fn a_custom_strategy_plugs_in() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let strategy: Box<dyn TokenStrategy> = Box::new(OpaqueAccessStrategy);
    let (user, issued) = login(&engine, &*strategy);
    let meta = strategy.access_token_payload(&issued);
    assert_eq!(
        meta.get("access_token").and_then(|v| v.as_str()),
        Some(format!("opaque-{}-{}", user.id, &issued.session_token.expose()[..4]).as_str())
    );
    let creds = RequestCredentials {
        session_token: Some(issued.session_token.expose()),
        authorization: None,
    };
    assert!(matches!(
        resolve(&*strategy, &engine, &creds),
        Resolved::Authenticated(_)
    ));
}

#[derive(Clone, Debug)]
enum Op {
    Refresh(usize),
    Logout,
    Advance(i64),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..8).prop_map(Op::Refresh),
        1 => Just(Op::Logout),
        3 => (0i64..15_000).prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random refresh / retry / reuse / logout / clock steps / restarts: never two live
    /// successors of one token, and a rotated-out token never refreshes after the window.
    #[test]
    fn rotation_invariants(ops in proptest::collection::vec(op(), 1..40)) {
        let store = hallpass::MemStore::new();
        let clock = ManualClock::new(T0);
        let (mut engine, _) = open(store.clone(), &clock, EngineConfig::default());
        let strategy = jwt(JwtSettings::default());
        let (_, issued) = login(&engine, &strategy);
        // Every refresh token ever seen, with the time it was rotated out (if it was).
        let mut tokens: Vec<(String, Option<i64>)> = vec![(issued.refresh_token.unwrap(), None)];
        let mut logged_out = false;
        for op in ops {
            match op {
                Op::Refresh(i) => {
                    let i = i % tokens.len();
                    let (token, rotated_at) = tokens[i].clone();
                    let now = engine.now().as_millis();
                    let result = strategy.refresh_token(&engine, &token);
                    if let Some(at) = rotated_at
                        && now - at > 10_000
                    {
                        prop_assert!(result.is_err(), "a rotated-out token refreshed after the window");
                    }
                    if logged_out {
                        prop_assert!(result.is_err());
                    }
                    if let Ok(out) = result {
                        let new = out.refresh_token.unwrap();
                        if !tokens.iter().any(|(t, _)| *t == new) {
                            tokens[i].1 = Some(now);
                            tokens.push((new, None));
                        }
                    }
                }
                Op::Logout => {
                    engine.revoke(issued.session_token.expose(), RevokeReason::Logout).unwrap();
                    logged_out = true;
                }
                Op::Advance(ms) => clock.advance_millis(ms),
                Op::Restart => {
                    drop(engine);
                    engine = open(store.clone(), &clock, EngineConfig::default()).0;
                }
            }
            let live = engine.with_state(|s| s.refresh_token_count());
            prop_assert!(live <= 1, "{live} live refresh tokens in one session");
        }
    }
}

/// The header's `alg` of a compact JWS.
fn alg(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["alg"].as_str().unwrap().to_owned()
}

/// Regression: with HMAC access tokens and an HMAC refresh codec, a refresh token signed before
/// the switch failed the refresh codec with a bad signature (not a wrong algorithm), and was
/// refused instead of being checked against the access-token key it was signed with.
#[test]
fn hmac_refresh_tokens_from_before_the_switch_still_refresh() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let before = jwt(JwtSettings::default());
    let (_, old) = login(&engine, &before);
    let hmac = JwtCodec::new(KeySet::from_secret(Algorithm::HS256, b"refresh key").unwrap());
    let after = jwt(JwtSettings::default()).with_refresh_codec(hmac);
    let rotated = after
        .refresh_token(&engine, old.refresh_token.as_deref().unwrap())
        .unwrap();
    // The new refresh token is the refresh codec's: the access-token key does not verify it.
    assert!(matches!(
        before.refresh_token(&engine, rotated.refresh_token.as_deref().unwrap()),
        Err(RefreshError::Invalid)
    ));
    assert!(
        after
            .refresh_token(&engine, rotated.refresh_token.as_deref().unwrap())
            .is_ok()
    );
}

/// `HALLPASS_JWT_REFRESH_ALGORITHM`: refresh tokens signed with an HMAC key while access tokens
/// stay RS256. Tokens signed before the switch still refresh; neither kind passes for the other.
#[test]
fn refresh_tokens_can_be_signed_apart_from_access_tokens() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let before = rs256();
    let (_, old) = login(&engine, &before);
    let hmac = JwtCodec::new(KeySet::from_secret(Algorithm::HS256, b"refresh key").unwrap());
    let strategy = rs256().with_refresh_codec(hmac.clone());
    let (_, issued) = login(&engine, &strategy);
    let (access, refresh) = (issued.access_token.unwrap(), issued.refresh_token.unwrap());
    assert_eq!(
        (alg(&access), alg(&refresh)),
        ("RS256".into(), "HS256".into())
    );

    let rotated = strategy.refresh_token(&engine, &refresh).unwrap();
    assert_eq!(alg(&rotated.access_token), "RS256");
    assert_eq!(alg(rotated.refresh_token.as_deref().unwrap()), "HS256");
    // A refresh token from before the switch (RS256) still refreshes, once.
    let old_refresh = old.refresh_token.unwrap();
    assert!(strategy.refresh_token(&engine, &old_refresh).is_ok());
    // An HMAC refresh token is no access token, and the access codec does not know its key.
    assert_eq!(
        resolve_bearer(
            &strategy,
            &engine,
            rotated.refresh_token.as_deref().unwrap()
        ),
        Resolved::Anonymous
    );
    // Without the setting, HMAC refresh tokens are refused: the algorithm is pinned.
    let (_, again) = login(&engine, &strategy);
    assert!(matches!(
        before.refresh_token(&engine, again.refresh_token.as_deref().unwrap()),
        Err(RefreshError::Invalid)
    ));
    // An access token signed with the refresh key (a forger holding it) is not accepted.
    let now = engine.now().as_secs();
    let claims = strategy
        .codec()
        .verify(&access, TokenUse::Access, now)
        .unwrap();
    let forged = hmac.sign(&claims, None).unwrap();
    assert_eq!(
        resolve_bearer(&strategy, &engine, &forged),
        Resolved::Anonymous
    );
}

/// Tokens never show in `Debug` output (logs, panics, error chains).
#[test]
fn issued_and_refreshed_tokens_are_redacted_in_debug() {
    let (engine, _, _) = mem_engine(EngineConfig::default());
    let strategy = jwt(JwtSettings::default());
    let (_, issued) = login(&engine, &strategy);
    let shown = format!("{issued:?}");
    for secret in [
        issued.session_token.expose(),
        issued.access_token.as_deref().unwrap(),
        issued.refresh_token.as_deref().unwrap(),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let refreshed = strategy
        .refresh_token(&engine, issued.refresh_token.as_deref().unwrap())
        .unwrap();
    let shown = format!("{refreshed:?}");
    assert!(!shown.contains(&refreshed.access_token), "{shown}");
    assert!(
        !shown.contains(refreshed.refresh_token.as_deref().unwrap()),
        "{shown}"
    );
}
