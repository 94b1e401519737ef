//! Shared helpers for the integration tests.

use std::sync::Arc;

use hallpass::testing::ManualClock;
use hallpass::{
    Engine, EngineConfig, EventStore, Jti, MemStore, NewSession, OpenReport, PasswordHash,
    SessionMeta, Timestamp, UserId,
};

/// 2026-01-01T00:00:00Z: a fixed start so failures reproduce.
pub(crate) const T0: Timestamp = Timestamp::from_secs(1_767_225_600);

/// An engine on a fresh in-memory store with a manual clock.
pub(crate) fn mem_engine(config: EngineConfig) -> (Engine, MemStore, ManualClock) {
    let store = MemStore::new();
    let clock = ManualClock::new(T0);
    let (engine, _) = open(store.clone(), &clock, config);
    (engine, store, clock)
}

/// Opens an engine on `store`.
pub(crate) fn open(
    store: impl EventStore,
    clock: &ManualClock,
    config: EngineConfig,
) -> (Engine, OpenReport) {
    Engine::open(store, Arc::new(clock.clone()), config).expect("open engine")
}

/// Signs a user up with a made-up e-mail derived from `n`.
pub(crate) fn user(engine: &Engine, n: u64) -> UserId {
    engine
        .sign_up(
            &format!("user{n}@example.com"),
            &format!("user{n}"),
            PasswordHash::unusable(),
        )
        .expect("sign up")
        .id
}

/// Creates a session with one refresh token expiring a day from now.
pub(crate) fn session_with_refresh(engine: &Engine, user: UserId) -> (NewSession, Jti) {
    let jti = Jti::random();
    let session = engine
        .create_session(
            user,
            SessionMeta::default(),
            Some((jti, engine.now().plus_secs(86_400))),
        )
        .expect("create session");
    (session, jti)
}

/// Asserts two engines hold equal state.
pub(crate) fn assert_same_state(a: &Engine, b: &Engine) {
    a.with_state(|sa| {
        b.with_state(|sb| {
            if let Some(diff) = sa.first_difference(sb) {
                panic!("states differ: {diff}");
            }
        })
    });
}
