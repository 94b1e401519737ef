//! Events and records stay within what decoding accepts, however much one batch carries.
//!
//! Regression: a minute in which 40,000 sessions authenticated used to be persisted as one
//! `SessionsSeen` event of 1.6 MB; encoding had no limit, decoding refused bodies over 1 MiB, so
//! after a crash the log did not open (`corrupt log record at seq 40003: invalid body`).

use std::sync::Arc;

use hallpass::testing::{ManualClock, State};
use hallpass::{
    Durability, Engine, EngineConfig, EventStore, Jti, MemStore, RevokeReason, SessionMeta,
    SledStore,
};

use crate::util::{T0, user};

/// An engine on sled in `dir` that never snapshots, so reopening replays the whole log.
fn open_sled(dir: &std::path::Path, clock: &ManualClock) -> Engine {
    let config = EngineConfig {
        snapshot_every: u64::MAX,
        snapshot_on_close: false,
        // One user holds all of them: no cap on sessions per user here.
        max_sessions_per_user: 0,
        ..EngineConfig::default()
    };
    let store = SledStore::open(dir, Durability::None).unwrap();
    Engine::open(store, Arc::new(clock.clone()), config)
        .unwrap()
        .0
}

/// A round trip through the writer: every touch sent before it has been taken in.
fn drain(engine: &Engine) {
    engine
        .revoke("no-such-session", RevokeReason::Logout)
        .unwrap();
}

#[test]
fn a_busy_minute_of_100k_sessions_reopens_equal() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open_sled(dir.path(), &clock);
    let ann = user(&engine, 1);
    // Each with a refresh token that will have expired by the sweep below.
    let refresh_exp = engine.now().plus_secs(30);
    let hashes: Vec<_> = (0..100_000)
        .map(|_| {
            let refresh = Some((Jti::random(), refresh_exp));
            engine
                .create_session(ann, SessionMeta::default(), refresh)
                .unwrap()
                .info
                .hash
        })
        .collect();
    // A minute later every session authenticates a request: each touch is worth persisting.
    clock.advance_secs(61);
    for chunk in hashes.chunks(20_000) {
        for hash in chunk {
            engine.touch(hash);
        }
        drain(&engine);
    }
    assert_eq!(
        engine
            .stats()
            .touches_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // The sweep persists every pending last-seen time (before: one event of 4 MB) and prunes
    // 100,000 expired refresh tokens (before: one event of 3.2 MB).
    engine.sweep().unwrap();
    assert_eq!(engine.with_state(|s| s.refresh_token_count()), 0);
    let engine = reopen_equal(engine, dir.path(), &clock);
    assert_eq!(engine.user_sessions(ann).len(), 100_000);
    // Ending them all is one command and one batch of 100,000 events.
    assert_eq!(
        engine
            .revoke_user(ann, None, RevokeReason::RevokeAll)
            .unwrap(),
        100_000
    );
    let engine = reopen_equal(engine, dir.path(), &clock);
    assert!(engine.user_sessions(ann).is_empty());
}

/// Closes `engine` without a snapshot, reopens its log and checks the replay equals it.
fn reopen_equal(engine: Engine, dir: &std::path::Path, clock: &ManualClock) -> Engine {
    let live = engine.with_state(State::to_snapshot);
    engine.close();
    drop(engine);
    let reopened = open_sled(dir, clock);
    reopened.with_state(|state| {
        let live = State::from_snapshot(&live, EngineConfig::default().refresh_grace_ms).unwrap();
        assert_eq!(state.first_difference(&live), None);
    });
    reopened
}

/// Regression: a user could hold any number of sessions, and ending one scanned the user's
/// list under the write lock (ending n sessions cost O(n^2)). With a cap, a new session ends
/// the oldest by an event that says why.
#[test]
fn a_new_session_beyond_the_cap_ends_the_oldest() {
    let store = MemStore::new();
    let config = EngineConfig {
        max_sessions_per_user: 3,
        ..EngineConfig::default()
    };
    let clock = ManualClock::new(T0);
    let (engine, _) = crate::util::open(store.clone(), &clock, config);
    let (ann, bob) = (user(&engine, 1), user(&engine, 2));
    let bobs = engine
        .create_session(bob, SessionMeta::default(), None)
        .unwrap();
    let keys: Vec<_> = (0..5)
        .map(|_| {
            engine
                .create_session(ann, SessionMeta::default(), None)
                .unwrap()
                .key
        })
        .collect();
    let live: Vec<bool> = keys
        .iter()
        .map(|k| engine.lookup(k.expose()).is_some())
        .collect();
    assert_eq!(
        live,
        [false, false, true, true, true],
        "the two oldest ended"
    );
    assert!(
        engine.lookup(bobs.key.expose()).is_some(),
        "another user's untouched"
    );
    assert_eq!(engine.user_sessions(ann).len(), 3);
    // Concurrent logins in one batch keep the cap too.
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                engine
                    .create_session(ann, SessionMeta::default(), None)
                    .unwrap()
            });
        }
    });
    assert_eq!(engine.user_sessions(ann).len(), 3);
    // Each ended session has its own event, reason Evicted.
    let mut evicted = 0;
    store
        .read_after(hallpass::Seq(0), &mut |_, bytes| {
            for envelope in hallpass::testing::decode_record(bytes).unwrap() {
                if let hallpass::testing::Event::SessionRevoked { reason, .. } = envelope.event {
                    assert_eq!(reason, RevokeReason::Evicted);
                    evicted += 1;
                }
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(evicted, 2 + 16);
}

/// `HALLPASS_MAX_SESSIONS_PER_USER` reaches the engine `hallpass::open_engine` opens.
#[test]
fn the_session_cap_setting_reaches_the_engine() {
    let mut raw = hallpass::RawConfig::new();
    raw.set("HALLPASS_MAX_SESSIONS_PER_USER", "2").unwrap();
    raw.set("HALLPASS_DURABILITY", "none").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = hallpass::open_engine(dir.path(), &raw.validate().unwrap()).unwrap();
    let ann = user(&engine, 1);
    let keys: Vec<_> = (0..3)
        .map(|_| {
            engine
                .create_session(ann, SessionMeta::default(), None)
                .unwrap()
                .key
        })
        .collect();
    assert!(
        engine.lookup(keys[0].expose()).is_none(),
        "the oldest ended"
    );
    assert_eq!(engine.user_sessions(ann).len(), 2);
}
