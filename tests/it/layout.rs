//! The data directory's layout: new directories hold the store directly (`DIR/log/` for sled,
//! `DIR/snapshot.bin`); a directory in the earlier layout (`DIR/log/log/`, `DIR/log/snapshot.bin`,
//! what `hallpass serve` wrote before) still opens, where it is.
//!
//! `tests/fixtures/datadir-log-log/` is such a directory, as the earlier binary left it: its
//! `Engine::open_dir(data_dir.join("log"))` put sled at `log/log/`. It holds two users, a session
//! of each, and one session ended by logout, partly in the snapshot and partly in the log after
//! it. `HALLPASS_WRITE_FIXTURES=1 cargo test --test it layout` writes it again.

use std::path::{Path, PathBuf};

use hallpass::{Config, Durability, Engine, EngineConfig, RevokeReason, SessionMeta, SystemClock};

use crate::util::user;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/datadir-log-log")
}

/// The session keys the fixture's live sessions were created with (kept beside it, as a client
/// would hold them).
fn fixture_keys() -> Vec<String> {
    let text = std::fs::read_to_string(fixture().join("session_keys.txt")).unwrap();
    text.lines().map(str::to_owned).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Writes the fixture as the earlier binary did: the engine opened on `DIR/log`.
fn write_fixture(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let config = EngineConfig {
        snapshot_on_close: false,
        ..EngineConfig::default()
    };
    let clock = std::sync::Arc::new(SystemClock);
    let (engine, _) = Engine::open_dir(&dir.join("log"), Durability::Fsync, clock, config).unwrap();
    let (ann, bob) = (user(&engine, 1), user(&engine, 2));
    let ann_session = engine
        .create_session(ann, SessionMeta::default(), None)
        .unwrap();
    let ended = engine
        .create_session(bob, SessionMeta::default(), None)
        .unwrap();
    engine.snapshot().unwrap();
    let bob_session = engine
        .create_session(bob, SessionMeta::default(), None)
        .unwrap();
    engine
        .revoke(ended.key.expose(), RevokeReason::Logout)
        .unwrap();
    engine.close();
    let keys = format!(
        "{}\n{}\n",
        ann_session.key.expose(),
        bob_session.key.expose()
    );
    std::fs::write(dir.join("session_keys.txt"), keys).unwrap();
}

#[test]
fn a_data_directory_in_the_earlier_layout_opens_where_it_is() {
    if std::env::var_os("HALLPASS_WRITE_FIXTURES").is_some() {
        write_fixture(&fixture());
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    let (engine, report) = hallpass::open_engine(dir.path(), &Config::default()).unwrap();
    assert!(
        report.snapshot_seq.is_some(),
        "the fixture's snapshot loaded"
    );
    assert!(report.replayed_events > 0, "and the log after it replayed");
    let keys = fixture_keys();
    let sessions: Vec<_> = keys.iter().map(|k| engine.lookup(k)).collect();
    assert!(sessions.iter().all(Option::is_some), "both live sessions");
    assert_eq!(
        engine
            .user_sessions(sessions[1].as_ref().unwrap().user)
            .len(),
        1,
        "the logged-out session stays ended"
    );
    assert!(
        engine.user_by_email("user1@example.com").is_some()
            && engine.user_by_email("user2@example.com").is_some()
    );
    // New writes go to the same store, and nothing was created beside it.
    let third = engine
        .create_session(
            sessions[0].as_ref().unwrap().user,
            SessionMeta::default(),
            None,
        )
        .unwrap();
    engine.close();
    drop(engine);
    assert!(!dir.path().join("log/db").exists(), "no second store");
    assert!(!dir.path().join("snapshot.bin").exists());
    let (engine, _) = hallpass::open_engine(dir.path(), &Config::default()).unwrap();
    assert!(engine.lookup(third.key.expose()).is_some());
}

#[test]
fn new_data_directories_hold_the_store_directly() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = hallpass::open_engine(dir.path(), &Config::default()).unwrap();
    let ann = user(&engine, 1);
    let session = engine
        .create_session(ann, SessionMeta::default(), None)
        .unwrap();
    engine.close();
    drop(engine);
    assert!(dir.path().join("log/db").is_file(), "sled at DIR/log");
    assert!(dir.path().join("snapshot.bin").is_file(), "snapshot at DIR");
    assert!(!dir.path().join("log/log").exists());
    let (engine, _) = hallpass::open_engine(dir.path(), &Config::default()).unwrap();
    assert!(engine.lookup(session.key.expose()).is_some());
}
