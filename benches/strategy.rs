//! Access-token validation through the JWT strategy: cached stateless versus cached stateful
//! (which adds a live-session check), beside a raw jsonwebtoken decode in the same run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a panic is a broken bench"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hallpass::testing::ManualClock;
use hallpass::{
    Algorithm, Engine, EngineConfig, JwtCodec, JwtSettings, JwtTokenStrategy, KeySet, MemStore,
    PasswordHash, SessionMeta, SidCipher, Timestamp, TokenStrategy,
};

const SECRET: &[u8] = b"bench-secret-key-bench-secret-key";

fn setup(stateful: bool) -> (Engine, JwtTokenStrategy, String) {
    let clock = ManualClock::new(Timestamp::from_secs(1_767_225_600));
    let (engine, _) =
        Engine::open(MemStore::new(), Arc::new(clock), EngineConfig::default()).unwrap();
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keys/rsa.pem"
    ))
    .unwrap();
    let keys = KeySet::from_private_pem(Algorithm::RS256, &pem).unwrap();
    let settings = JwtSettings {
        stateful,
        ..JwtSettings::default()
    };
    let strategy = JwtTokenStrategy::new(
        JwtCodec::new(keys),
        SidCipher::from_secret_key(SECRET),
        settings,
    );
    // 100k other sessions, so the session index is not trivially small.
    let user = engine
        .sign_up("bench@example.com", "bench", PasswordHash::unusable())
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for _ in 0..2_500 {
                    engine
                        .create_session(user.id, SessionMeta::default(), None)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let issued = strategy
        .create_session(&engine, &user, SessionMeta::default())
        .unwrap();
    let access = issued.access_token.unwrap();
    (engine, strategy, access)
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate_access_rs256");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let (engine, stateless, token) = setup(false);
    stateless.validate_access_token(&engine, &token).unwrap();
    group.bench_function("cached_stateless", |b| {
        b.iter(|| {
            stateless
                .validate_access_token(&engine, black_box(&token))
                .unwrap()
        })
    });
    let (engine2, stateful, token2) = setup(true);
    stateful.validate_access_token(&engine2, &token2).unwrap();
    group.bench_function("cached_stateful", |b| {
        b.iter(|| {
            stateful
                .validate_access_token(&engine2, black_box(&token2))
                .unwrap()
        })
    });
    // Baseline in the same run: a full RS256 verification with raw jsonwebtoken.
    let public = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keys/rsa.pub.pem"
    ))
    .unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    group.bench_function("raw_jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &key, &validation).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);
