//! Fault injection: failed appends, failed syncs and a full disk.

use hallpass::testing::{FaultPlan, FaultyStore, ManualClock};
use hallpass::{
    Durability, EngineConfig, EngineError, EventStore, MemStore, PasswordHash, SessionMeta,
    SledStore,
};

use crate::util::{T0, open, user};

fn check_faults(store: impl EventStore, reopen: impl FnOnce() -> Box<dyn EventStore>) {
    let plan = FaultPlan::new();
    let clock = ManualClock::new(T0);
    let (engine, _) = open(
        FaultyStore::new(store, plan.clone()),
        &clock,
        EngineConfig::default(),
    );
    let u = user(&engine, 1);
    let before = engine.with_state(|s| s.to_snapshot());

    plan.fail_append(1);
    let err = engine.create_session(u, SessionMeta::default(), None);
    assert!(
        matches!(err, Err(EngineError::Storage(_))),
        "append failure reaches the caller"
    );
    assert_eq!(
        engine.with_state(|s| s.to_snapshot()),
        before,
        "state unchanged"
    );

    plan.fail_sync(1);
    let err = engine.sign_up("b@example.com", "b", PasswordHash::unusable());
    assert!(
        matches!(err, Err(EngineError::Storage(_))),
        "sync failure reaches the caller"
    );
    assert_eq!(
        engine.with_state(|s| s.to_snapshot()),
        before,
        "state unchanged"
    );

    plan.set_disk_full(true);
    for _ in 0..3 {
        assert!(
            engine
                .create_session(u, SessionMeta::default(), None)
                .is_err()
        );
    }
    assert!(engine.snapshot().is_err());
    assert_eq!(engine.with_state(|s| s.to_snapshot()), before);

    plan.clear();
    let s = engine
        .create_session(u, SessionMeta::default(), None)
        .expect("works after the fault");
    let b = engine
        .sign_up("b@example.com", "b", PasswordHash::unusable())
        .expect("the failed sign-up left no trace");
    let key = s.key.expose().to_owned();
    drop(engine);
    let (engine, _) = open(reopen(), &clock, EngineConfig::default());
    assert!(engine.lookup(&key).is_some());
    assert_eq!(
        engine.user_by_email("b@example.com").map(|x| x.id),
        Some(b.id)
    );
    assert_eq!(
        engine.with_state(|s| s.session_count()),
        1,
        "failed writes did not come back"
    );
}

#[test]
fn faults_on_mem_store() {
    let store = MemStore::new();
    let again = store.clone();
    check_faults(store, move || Box::new(again));
}

#[test]
fn faults_on_sled_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), Durability::Fsync).unwrap();
    let path = dir.path().to_path_buf();
    check_faults(store, move || {
        Box::new(SledStore::open(&path, Durability::Fsync).unwrap())
    });
}

/// The child half of [`a_writer_panic_aborts_the_process`]: runs only when re-executed with
/// `HALLPASS_TEST_WRITER_PANIC` set.
#[test]
fn writer_panic_child() {
    if std::env::var_os("HALLPASS_TEST_WRITER_PANIC").is_none() {
        return;
    }
    let plan = FaultPlan::new();
    let clock = ManualClock::new(T0);
    let (engine, _) = open(
        FaultyStore::new(MemStore::new(), plan.clone()),
        &clock,
        EngineConfig::default(),
    );
    plan.panic_on_append();
    let _ = engine.sign_up("a@example.com", "a", PasswordHash::unusable());
    // The caller sees the writer gone at once; the abort follows on the writer thread. Still
    // running after five seconds means the process survived a writer panic.
    std::thread::sleep(std::time::Duration::from_secs(5));
    std::process::exit(3);
}

#[test]
#[cfg(unix)]
fn a_writer_panic_aborts_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new(exe)
        .args(["--exact", "faults::writer_panic_child", "--nocapture"])
        .env("HALLPASS_TEST_WRITER_PANIC", "1")
        .output()
        .expect("re-run the test binary");
    assert_eq!(
        out.status.signal(),
        Some(6),
        "the child ends by SIGABRT, not {:?}; stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_store_that_keeps_failing_stops_the_engine_after_the_limit() {
    let plan = FaultPlan::new();
    let clock = ManualClock::new(T0);
    let config = EngineConfig {
        max_consecutive_store_failures: 3,
        ..EngineConfig::default()
    };
    let (engine, _) = open(
        FaultyStore::new(MemStore::new(), plan.clone()),
        &clock,
        config,
    );
    let u = user(&engine, 1);
    assert!(engine.probe().is_ok(), "a healthy store passes the probe");

    plan.set_disk_full(true);
    assert!(matches!(engine.probe(), Err(EngineError::Storage(_))));
    assert!(
        engine
            .create_session(u, SessionMeta::default(), None)
            .is_err(),
        "second failure"
    );
    assert!(
        !engine.failed(),
        "two failures in a row are below the limit"
    );
    // A success in between resets the count.
    plan.set_disk_full(false);
    assert!(engine.probe().is_ok());
    plan.set_disk_full(true);
    for _ in 0..2 {
        assert!(matches!(
            engine.create_session(u, SessionMeta::default(), None),
            Err(EngineError::Storage(_))
        ));
    }
    assert!(!engine.failed());
    assert!(matches!(
        engine.create_session(u, SessionMeta::default(), None),
        Err(EngineError::Storage(_))
    ));
    assert!(
        engine.failed(),
        "the third failure in a row stops the engine"
    );
    plan.set_disk_full(false);
    assert!(matches!(
        engine.create_session(u, SessionMeta::default(), None),
        Err(EngineError::Closed)
    ));
    assert!(matches!(engine.probe(), Err(EngineError::Closed)));
    assert_eq!(engine.user(u).map(|x| x.id), Some(u), "reads still answer");
}

/// Commands queued behind the batch that stops the writer are answered `Closed`, never left
/// waiting: a channel keeps its messages while any sender lives, so the writer drops them.
#[test]
fn commands_queued_when_the_writer_stops_are_answered() {
    let plan = FaultPlan::new();
    let clock = ManualClock::new(T0);
    // One command per batch, so others are still queued when the failing one stops the writer.
    let config = EngineConfig {
        max_consecutive_store_failures: 1,
        max_batch: 1,
        ..EngineConfig::default()
    };
    let (engine, _) = open(
        FaultyStore::new(MemStore::new(), plan.clone()),
        &clock,
        config,
    );
    let u = user(&engine, 1);
    plan.set_disk_full(true);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for _ in 0..16 {
        let engine = engine.clone();
        let done = done_tx.clone();
        std::thread::spawn(move || {
            for _ in 0..50 {
                let _ = engine.create_session(u, SessionMeta::default(), None);
            }
            let _ = done.send(());
        });
    }
    for _ in 0..16 {
        done_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("every caller is answered");
    }
    assert!(engine.failed());
}
