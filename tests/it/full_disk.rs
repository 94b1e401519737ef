//! sled on a really full filesystem: a small tmpfs mounted by the test (needs root and a
//! kernel that lets this process mount; otherwise the test says why it skips).
//!
//! What must hold: a write that does not fit fails with a storage error (no panic, nothing
//! acknowledged lost), the readiness probe fails, the engine stops after its limit of
//! consecutive failures, and once space is freed the data directory reopens with every
//! acknowledged write.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use hallpass::{
    Durability, Engine, EngineConfig, EngineError, SessionMeta, SledStore, SystemClock,
};

use crate::util::user;

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// `Err` with the reason when this process cannot mount one.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
            });
        if uid.as_deref() != Some("0") {
            return Err("not running as root".into());
        }
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = parent.path().join("fs");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir,
            _parent: parent,
        })
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn open(dir: &Path, config: EngineConfig) -> Engine {
    let store = SledStore::open(dir, Durability::Fsync).expect("open sled");
    Engine::open(store, Arc::new(SystemClock), config)
        .expect("open engine")
        .0
}

#[test]
fn sled_on_a_full_disk_fails_writes_stops_and_reopens_with_every_acknowledged_write() {
    let fs = match Tmpfs::mount("6m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED sled_on_a_full_disk…: {why} (run as root where mount is allowed)");
            return;
        }
    };
    // Space to give back once the disk is full.
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![0u8; 2 << 20]).expect("filler");
    let data = fs.path().join("data");
    let config = EngineConfig {
        max_consecutive_store_failures: 4,
        snapshot_every: u64::MAX,
        snapshot_on_close: false,
        ..EngineConfig::default()
    };
    let engine = open(&data, config.clone());
    let mut users = Vec::new();
    let mut keys = Vec::new();
    let first_error = loop {
        assert!(keys.len() < 1_000_000, "a 6 MiB disk never filled");
        let u = match users.last() {
            Some(&u) if keys.len() % 50 != 0 => u,
            _ => match engine.sign_up(
                &format!("u{}@example.com", users.len()),
                &format!("u{}", users.len()),
                hallpass::PasswordHash::unusable(),
            ) {
                Ok(u) => {
                    users.push(u.id);
                    u.id
                }
                Err(e) => break e,
            },
        };
        let meta = SessionMeta {
            user_agent: Some("x".repeat(200)),
            ..SessionMeta::default()
        };
        match engine.create_session(u, meta, None) {
            Ok(s) => keys.push(s.key),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(first_error, EngineError::Storage(_)),
        "a full disk is a storage error, not {first_error:?}"
    );
    assert!(keys.len() > 100, "some writes fit before the disk filled");
    assert!(
        engine.probe().is_err(),
        "the readiness probe sees the full disk"
    );
    let mut tries = 0;
    while !engine.failed() {
        tries += 1;
        assert!(tries <= 8, "the engine stops after its limit");
        let _ = engine.create_session(users[0], SessionMeta::default(), None);
    }
    assert!(matches!(
        engine.create_session(users[0], SessionMeta::default(), None),
        Err(EngineError::Closed)
    ));
    for key in &keys {
        assert!(engine.lookup(key.expose()).is_some(), "reads still answer");
    }
    drop(engine);

    std::fs::remove_file(&filler).expect("free space");
    let engine = open(&data, config);
    for key in &keys {
        assert!(
            engine.lookup(key.expose()).is_some(),
            "every acknowledged session is there after reopening"
        );
    }
    let u = user(&engine, 1_000_000);
    assert!(
        engine
            .create_session(u, SessionMeta::default(), None)
            .is_ok(),
        "writes work again"
    );
    eprintln!(
        "full disk: {} sessions acknowledged before ENOSPC; reopened with all of them",
        keys.len()
    );
}
