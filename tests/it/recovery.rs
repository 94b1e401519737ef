//! Reopen, snapshots, compaction, torn tails and corruption.

use std::sync::Arc;

use hallpass::testing::{Envelope, Event, ManualClock, encode_record};
use hallpass::{
    AuthMethod, Durability, Engine, EngineConfig, FlowKind, Jti, KeyPurpose, MailOutcome, MemStore,
    OpenError, PasswordChange, PasswordHash, RevokeReason, SecretDigest, Seq, SessionHash,
    SessionMeta, SledStore, StoreError, Successor,
};
use proptest::prelude::*;

use crate::util::{T0, assert_same_state, open, session_with_refresh, user};

/// Drives an engine through a deterministic pseudo-random mix of every command.
fn random_ops(engine: &Engine, clock: &ManualClock, seed: u64, steps: usize) {
    let mut rng = seed | 1;
    let mut next = move || {
        // xorshift64: deterministic, no dependency.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut signed_up = 0u64;
    let mut sign_up = || {
        signed_up += 1;
        user(engine, seed.wrapping_mul(1_000_003).wrapping_add(signed_up))
    };
    let mut users = vec![sign_up()];
    let mut sessions = Vec::new();
    for _ in 0..steps {
        if next() % 3 == 0 {
            account_op(engine, &users, &sessions, next());
            continue;
        }
        match next() % 9 {
            0 => users.push(sign_up()),
            1 | 2 => {
                let u = users[(next() % users.len() as u64) as usize];
                sessions.push(session_with_refresh(engine, u));
            }
            3 if !sessions.is_empty() => {
                let i = (next() % sessions.len() as u64) as usize;
                let (s, _) = sessions.swap_remove(i);
                engine.revoke(s.key.expose(), RevokeReason::Logout).unwrap();
            }
            4 | 5 if !sessions.is_empty() => {
                let i = (next() % sessions.len() as u64) as usize;
                let new = Jti::random();
                let (s, jti) = &mut sessions[i];
                let successor = Successor {
                    access_token: "a".into(),
                    refresh_token: "r".into(),
                };
                let exp = engine.now().plus_secs(86_400);
                engine
                    .rotate_refresh(s.info.hash, (*jti, exp), new, exp, successor)
                    .unwrap();
                *jti = new;
            }
            6 => {
                let u = users[(next() % users.len() as u64) as usize];
                engine
                    .revoke_user(u, None, RevokeReason::RevokeAll)
                    .unwrap();
            }
            7 => {
                clock.advance_secs((next() % 120_000) as i64);
                if let Some((s, _)) = sessions.first() {
                    engine.touch(&s.info.hash);
                }
            }
            _ => engine.sweep().unwrap(),
        }
    }
}

/// One of the account commands (format 4), chosen by `r`, on the given users and sessions.
fn account_op(
    engine: &Engine,
    users: &[hallpass::UserId],
    sessions: &[(hallpass::NewSession, Jti)],
    r: u64,
) {
    let u = users[(r as usize / 16) % users.len()];
    let email = format!("alt{}@example.org", (r / 7) % 5);
    let holder = SessionHash([(r % 4) as u8 + 1; 32]);
    let digest = SecretDigest([(r % 3) as u8; 32]);
    match r % 12 {
        0 => {
            let _ = engine.add_email(u, &email, 3).unwrap();
        }
        1 => {
            let _ = engine.verify_email(u, &email).unwrap();
        }
        2 => {
            let _ = engine
                .set_primary_email(u, &email, r.is_multiple_of(2))
                .unwrap();
        }
        3 => {
            let _ = engine.remove_email(u, &email).unwrap();
        }
        4 => {
            let keep = sessions.first().map(|(s, _)| s.info.hash);
            let hash = PasswordHash::from_phc(format!("$argon2id$fake${r}"));
            {
                let _ = engine
                    .change_password(u, hash, PasswordChange::Changed, keep)
                    .unwrap();
            };
        }
        5 => {
            let purpose = [KeyPurpose::VerifyEmail, KeyPurpose::ResetPassword][(r % 2) as usize];
            let mail = Some(vec![r as u8; 20]);
            {
                let _ = engine
                    .issue_key(digest, purpose, u, &email, 60_000, mail)
                    .unwrap();
            };
        }
        6 => {
            let _ = engine.spend_key(digest, KeyPurpose::ResetPassword).unwrap();
        }
        7 => {
            let kind = [FlowKind::LoginByCode, FlowKind::LoginVerifyEmail][(r % 2) as usize];
            let started = engine.start_flow(
                holder,
                kind,
                Some(u),
                Some(&email),
                Some(digest),
                AuthMethod::Password,
                90_000,
                Some(vec![7; 10]),
            );
            {
                let _ = started.unwrap();
            };
        }
        8 => {
            let _ = engine
                .check_code(
                    holder,
                    FlowKind::LoginByCode,
                    digest,
                    3,
                    r.is_multiple_of(2),
                )
                .unwrap();
        }
        9 => {
            let _ = engine
                .resend_code(holder, FlowKind::LoginByCode, digest, None)
                .unwrap();
        }
        10 => {
            if let Some((s, _)) = sessions.get((r as usize / 32) % sessions.len().max(1)) {
                {
                    let _ = engine
                        .reauthenticate(s.info.hash, AuthMethod::Password)
                        .unwrap();
                };
            }
        }
        _ => {
            if let Some(mail) = engine.outbox().first() {
                let outcome =
                    [MailOutcome::Sent, MailOutcome::Failed, MailOutcome::GaveUp][(r % 3) as usize];
                engine.mailed(mail.id, outcome).unwrap();
            }
        }
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        session_ttl_secs: 3_600 * 24 * 3,
        ..EngineConfig::default()
    }
}

#[test]
fn reopen_rebuilds_the_same_state_sled() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = SledStore::open(dir.path(), Durability::Flush).unwrap();
    let (engine, _) = open(store, &clock, config());
    random_ops(&engine, &clock, 7, 400);
    engine.sweep().unwrap();
    let store = SledStore::open(dir.path(), Durability::Flush);
    assert!(
        store.is_err(),
        "sled holds the directory while the engine is open"
    );
    let live = engine.with_state(|s| s.to_snapshot());
    drop(engine);
    let store = SledStore::open(dir.path(), Durability::Flush).unwrap();
    let (reopened, report) = open(store, &clock, config());
    assert!(report.replayed_events > 0 || report.snapshot_seq.is_some());
    assert_eq!(reopened.with_state(|s| s.to_snapshot()).len(), live.len());
    // The close path wrote a snapshot: compare full equality against a replay from scratch too.
    drop(reopened);
    let store = SledStore::open(dir.path(), Durability::Flush).unwrap();
    let (again, _) = open(store, &clock, config());
    again.with_state(|s| {
        let restored =
            hallpass::testing::State::from_snapshot(&live, config().refresh_grace_ms).unwrap();
        assert!(*s == restored, "reopened state differs from the live one");
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random operations, close, reopen from the log alone: the rebuilt state equals the live.
    #[test]
    fn replay_equals_live_state(seed in 1u64..u64::MAX, steps in 1usize..120) {
        let store = MemStore::new();
        let clock = ManualClock::new(T0);
        let config = EngineConfig { snapshot_every: u64::MAX, snapshot_on_close: false, ..config() };
        let (engine, _) = open(store.clone(), &clock, config.clone());
        random_ops(&engine, &clock, seed, steps);
        // A round trip through the writer, so queued touches and housekeeping are durable.
        engine.sweep().unwrap();
        // Replay a copy of the log (no snapshot) while the live engine still runs.
        let copy = MemStore::new();
        {
            let mut copy_store = copy.clone();
            use hallpass::EventStore;
            store.read_after(Seq(0), &mut |first, bytes| {
                let batch = hallpass::testing::decode_record(bytes).unwrap();
                let last = batch.last().unwrap().seq;
                copy_store.append(first, last, copy_store.high_water(), bytes)
            }).unwrap();
        }
        let (replayed, _) = open(copy, &clock, config);
        assert_same_state(&engine, &replayed);
    }
}

#[test]
fn snapshot_compacts_and_reopens_equal() {
    let store = MemStore::new();
    let clock = ManualClock::new(T0);
    let (engine, _) = open(store.clone(), &clock, config());
    random_ops(&engine, &clock, 11, 300);
    let before = store.record_count();
    engine.snapshot().unwrap();
    assert!(
        store.record_count() < before,
        "compaction dropped covered records"
    );
    random_ops(&engine, &clock, 12, 50);
    let (reopened, report) = {
        let engine2 = engine.clone();
        drop(engine2);
        let copy_state = engine.with_state(|s| s.to_snapshot());
        drop(engine);
        let (reopened, report) = open(store, &clock, config());
        reopened.with_state(|s| {
            let live =
                hallpass::testing::State::from_snapshot(&copy_state, config().refresh_grace_ms)
                    .unwrap();
            assert!(*s == live);
        });
        (reopened, report)
    };
    assert!(report.snapshot_seq.is_some());
    drop(reopened);
}

#[test]
fn automatic_snapshot_after_enough_events() {
    let store = MemStore::new();
    let clock = ManualClock::new(T0);
    let config = EngineConfig {
        snapshot_every: 50,
        ..config()
    };
    let (engine, _) = open(store.clone(), &clock, config.clone());
    for i in 0..200 {
        user(&engine, i);
    }
    assert!(
        store.record_count() < 60,
        "log is compacted as it grows: {}",
        store.record_count()
    );
    drop(engine);
    let (engine, report) = open(store, &clock, config);
    assert!(report.snapshot_seq.is_some());
    assert_eq!(engine.with_state(|s| s.user_count()), 200);
}

/// On sled, periodic snapshots are written and the log compacted by a thread beside the
/// writer, while commands go on; every acknowledged command is in the reopened state.
#[test]
fn background_snapshots_on_sled_compact_and_reopen_equal() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let config = EngineConfig {
        snapshot_every: 40,
        snapshot_on_close: false,
        ..config()
    };
    let store = SledStore::open(dir.path(), Durability::Flush).unwrap();
    let (engine, _) = open(store, &clock, config.clone());
    random_ops(&engine, &clock, 5, 600);
    engine.sweep().unwrap();
    let snapshot = dir.path().join("snapshot.bin");
    for _ in 0..500 {
        if snapshot.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(snapshot.exists(), "a background snapshot was written");
    let live = engine.with_state(|s| s.to_snapshot());
    drop(engine);
    let store = SledStore::open(dir.path(), Durability::Flush).unwrap();
    let mut records = 0;
    {
        use hallpass::EventStore;
        store
            .read_after(Seq(0), &mut |_, _| {
                records += 1;
                Ok(())
            })
            .unwrap();
    }
    let (reopened, report) = open(store, &clock, config.clone());
    assert!(report.snapshot_seq.is_some());
    assert!(
        records < 600,
        "the log was compacted: {records} records left"
    );
    reopened.with_state(|s| {
        let restored =
            hallpass::testing::State::from_snapshot(&live, config.refresh_grace_ms).unwrap();
        if let Some(diff) = s.first_difference(&restored) {
            panic!("reopened state differs from the live one: {diff}");
        }
    });
}

fn seeded_store() -> (MemStore, ManualClock, Vec<Seq>) {
    let store = MemStore::new();
    let clock = ManualClock::new(T0);
    let config = EngineConfig {
        snapshot_every: u64::MAX,
        snapshot_on_close: false,
        ..config()
    };
    let (engine, _) = open(store.clone(), &clock, config);
    for i in 0..5 {
        user(&engine, i);
    }
    drop(engine);
    let keys = store.record_keys();
    (store, clock, keys)
}

fn no_snapshot() -> EngineConfig {
    EngineConfig {
        snapshot_every: u64::MAX,
        snapshot_on_close: false,
        ..config()
    }
}

#[test]
fn torn_tail_is_dropped_with_its_seq() {
    let (store, clock, keys) = seeded_store();
    // No snapshot on close should cover the records for this test to mean anything.
    let store_clone = store.clone();
    let last = *keys.last().unwrap();
    let mut bytes = Vec::new();
    store_clone
        .read_after(Seq(last.0 - 1), &mut |_, b| {
            bytes = b.to_vec();
            Ok(())
        })
        .unwrap();
    bytes.truncate(bytes.len() / 2);
    store.overwrite_record(last, bytes);
    let (engine, report) = Engine::open(store.clone(), Arc::new(clock), no_snapshot()).unwrap();
    assert_eq!(report.dropped_torn_tail, Some(last));
    assert_eq!(engine.with_state(|s| s.user_count()), 4);
    // The engine works on after the repair, with fresh positions.
    user(&engine, 99);
    assert_eq!(engine.with_state(|s| s.user_count()), 5);
}

#[test]
fn corruption_in_the_middle_refuses_to_open() {
    let (store, clock, keys) = seeded_store();
    let victim = keys[1];
    store.overwrite_record(victim, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let err = Engine::open(store, Arc::new(clock), no_snapshot())
        .err()
        .expect("must refuse");
    match err {
        OpenError::Store(StoreError::Corrupt { seq, .. }) => assert_eq!(seq, victim),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn unknown_version_at_the_tail_refuses_rather_than_drops() {
    let (store, clock, _) = seeded_store();
    let envelope = Envelope {
        version: 1,
        seq: Seq(1000),
        at: T0,
        event: Event::ExpiredSwept { now: T0 },
    };
    let mut record = encode_record(&[envelope]).unwrap();
    // Pretend a newer build wrote version 9, with a valid checksum.
    record[4] = 9;
    let crc = crc32(&record[4..]);
    record[..4].copy_from_slice(&crc);
    store.overwrite_record(Seq(1000), record);
    let err = Engine::open(store, Arc::new(clock), no_snapshot())
        .err()
        .expect("must refuse");
    assert!(
        matches!(
            err,
            OpenError::Store(StoreError::Corrupt { seq: Seq(1000), .. })
        ),
        "{err}"
    );
}

#[test]
fn sessions_survive_reopen_on_sled_with_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = SledStore::open(dir.path(), Durability::Fsync).unwrap();
    let (engine, _) = open(store, &clock, config());
    let u = user(&engine, 1);
    let s = engine
        .create_session(u, SessionMeta::default(), None)
        .unwrap();
    let key = s.key.expose().to_owned();
    drop(engine);
    let store = SledStore::open(dir.path(), Durability::Fsync).unwrap();
    let (engine, _) = open(store, &clock, config());
    assert_eq!(engine.lookup(&key).unwrap().user, u);
    // No raw key on disk: scan every file in the data directory.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "session key found in {entry:?}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path))
        } else {
            out.push(path)
        }
    }
    out
}

fn crc32(bytes: &[u8]) -> [u8; 4] {
    // Same CRC-32 (IEEE) the codec uses, computed bitwise so the test does not share code.
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    (!crc).to_le_bytes()
}

use hallpass::EventStore as _;
