//! Crash test (harness = false), after sled's `test_crash_recovery.rs`.
//!
//! The parent re-runs this binary as a child that drives the engine from several threads on a
//! sled store with `fsync` durability and prints a line for each acknowledged command (and an
//! intent line before each rotation). The parent kills the child with SIGKILL at a random
//! moment, reopens the data directory and checks that every acknowledged command is there and
//! nothing is half-applied. `HALLPASS_CRASH_ROUNDS` sets the rounds (default 20; the long run
//! documented in the README uses 1000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]
#![allow(
    clippy::print_stdout,
    reason = "the harness-less test reports on stdout"
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hallpass::{
    Durability, Engine, EngineConfig, Jti, PasswordHash, RevokeReason, SessionHash, SessionMeta,
    Successor, SystemClock,
};

const ROTATIONS_PER_SESSION: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(Path::new(&args[2]));
        return;
    }
    let rounds: usize = std::env::var("HALLPASS_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut total_acks = 0;
    for round in 0..rounds {
        total_acks += one_round(dir.path(), round);
    }
    println!("crash: {rounds} rounds, {total_acks} acknowledged commands checked");
    println!("test result: ok. {rounds} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

fn child(dir: &Path) {
    let config = EngineConfig {
        sweep_interval_ms: 50,
        snapshot_every: 2_000,
        ..EngineConfig::default()
    };
    let (engine, _) =
        Engine::open_dir(dir, Durability::Fsync, Arc::new(SystemClock), config).expect("open");
    let out = Arc::new(parking_lot::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let engine = engine.clone();
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                let say = |line: String| {
                    let mut out = out.lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                };
                let tag = u64::from_le_bytes(hallpass::testing::random_bytes::<8>());
                for i in 0.. {
                    let email = format!("t{t}-{tag}-{i}@example.com");
                    let user = engine
                        .sign_up(&email, "crash", PasswordHash::unusable())
                        .expect("sign up");
                    say(format!("U {email}"));
                    let mut jti = Jti::random();
                    let exp = engine.now().plus_secs(86_400);
                    let s = engine
                        .create_session(user.id, SessionMeta::default(), Some((jti, exp)))
                        .expect("create");
                    let hash = hex(&s.info.hash);
                    say(format!("C {hash} {jti}"));
                    for _ in 0..ROTATIONS_PER_SESSION {
                        let new = Jti::random();
                        say(format!("I {hash} {new}"));
                        let successor = Successor {
                            access_token: String::new(),
                            refresh_token: String::new(),
                        };
                        engine
                            .rotate_refresh(s.info.hash, (jti, exp), new, exp, successor)
                            .expect("rotate");
                        say(format!("R {hash} {new}"));
                        jti = new;
                    }
                    if i % 2 == 0 {
                        engine
                            .revoke_hash(&s.info.hash, RevokeReason::Logout)
                            .expect("revoke");
                        say(format!("X {hash}"));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[derive(Default)]
struct Expect {
    acked: Option<Jti>,
    intended: Option<Jti>,
    rotations: usize,
    revoked: bool,
}

fn one_round(dir: &Path, round: usize) -> usize {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .arg("child")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let wait = 50 + u64::from(hallpass::testing::random_bytes::<2>()[0]) * 3;
    std::thread::sleep(Duration::from_millis(wait));
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap child");
    let lines = reader.join().expect("reader");

    let (engine, report) = Engine::open_dir(
        dir,
        Durability::Fsync,
        Arc::new(SystemClock),
        EngineConfig::default(),
    )
    .unwrap_or_else(|e| panic!("round {round}: data directory does not open: {e}"));
    let mut sessions: HashMap<String, Expect> = HashMap::new();
    let mut acks = 0;
    for line in &lines {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["U", email] => {
                acks += 1;
                assert!(
                    engine.user_by_email(email).is_some(),
                    "round {round}: lost user {email}"
                );
            }
            ["C", hash, jti] => {
                acks += 1;
                sessions.entry(hash.to_string()).or_default().acked = Jti::parse(jti);
            }
            ["I", hash, jti] => {
                sessions.entry(hash.to_string()).or_default().intended = Jti::parse(jti)
            }
            ["R", hash, jti] => {
                acks += 1;
                let e = sessions.entry(hash.to_string()).or_default();
                e.acked = Jti::parse(jti);
                e.intended = None;
                e.rotations += 1;
            }
            ["X", hash] => {
                acks += 1;
                sessions.entry(hash.to_string()).or_default().revoked = true;
            }
            _ => {} // a line torn by the kill
        }
    }
    for (hash, e) in &sessions {
        let Some(acked) = e.acked else { continue };
        let session = unhex(hash);
        let live = engine.with_state(|s| {
            s.session(&session, engine.now())
                .map(|s| s.refresh.iter().map(|(j, _)| *j).collect::<Vec<_>>())
        });
        match live {
            None => assert!(
                e.revoked || e.rotations == ROTATIONS_PER_SESSION,
                "round {round}: session {hash} lost after {} acked rotations",
                e.rotations
            ),
            Some(jtis) => {
                assert!(!e.revoked, "round {round}: acked revoke of {hash} undone");
                assert_eq!(
                    jtis.len(),
                    1,
                    "round {round}: half-applied rotation in {hash}"
                );
                assert!(
                    jtis[0] == acked || Some(jtis[0]) == e.intended,
                    "round {round}: {hash} holds neither the acked nor the intended token"
                );
            }
        }
    }
    if let Some(seq) = report.dropped_torn_tail {
        eprintln!("round {round}: dropped a torn tail record at seq {seq}");
    }
    acks
}

fn hex(hash: &SessionHash) -> String {
    hash.0.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> SessionHash {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    SessionHash(out)
}
