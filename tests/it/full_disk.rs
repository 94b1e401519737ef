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
        // Lazy: the mount goes once nothing holds a file on it.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
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

/// `hallpass serve` on a data directory whose disk fills: `/readyz` turns 503, and after
/// `HALLPASS_MAX_CONSECUTIVE_STORE_FAILURES` failed writes the process exits non-zero (for its
/// supervisor to restart it), saying why.
#[test]
fn serve_exits_non_zero_once_the_store_keeps_failing() {
    use std::io::{BufRead, BufReader, Write};
    let fs = match Tmpfs::mount("8m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED serve_exits_non_zero…: {why} (run as root where mount is allowed)");
            return;
        }
    };
    let data = fs.path().join("data");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_hallpass"))
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(["--set", "HALLPASS_MAX_CONSECUTIVE_STORE_FAILURES=2"])
            .env("NO_COLOR", "1")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start hallpass"),
    );
    let mut lines = BufReader::new(child.0.stderr.take().expect("stderr")).lines();
    let addr: std::net::SocketAddr = crate::web_util::listening_addr(&mut lines);
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let get = |path: &str| crate::web_util::request(addr, "GET", path, &[], None);
    assert_eq!(get("/readyz").status, 200);

    // Fill the disk to the last byte.
    let mut filler = std::fs::File::create(fs.path().join("filler")).expect("filler");
    let chunk = vec![0u8; 64 << 10];
    while filler.write_all(&chunk).is_ok() {}
    while filler.write_all(&[1]).is_ok() {}
    let _ = filler.sync_all();

    // sled writes into log segments it already allocated, so writes (and probes) succeed
    // until the current segment is used up; then every write fails.
    let mut probes = 0;
    while get("/readyz").status == 200 {
        probes += 1;
        assert!(probes < 50_000, "a full disk never failed a probe");
    }
    eprintln!("readyz: {probes} probes fit in sled's allocated segments, then 503");
    // The second failed write in a row reaches the limit (the answer may be a closed socket).
    let _ = std::panic::catch_unwind(|| get("/readyz"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server still runs after repeated store failures"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let log = drain.join().expect("log").join("\n");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("too many writes in a row"), "{log}");
}

/// A child process killed when the test ends, passing or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
