//! A reference model of sessions and refresh-token rotation, and a driver that applies the
//! same operations to the real engine and to the model, comparing every answer.
//!
//! Used by the `engine_ops` fuzz target and the model-based proptest (`tests/it/model.rs`).
//! After every step it checks the invariants of ARCHITECTURE.md: at most one live successor per
//! refresh token, no refresh after the grace window for a rotated-out token, no authentication
//! by a revoked or expired session, replay equals live state (at every restart), acknowledged
//! operations survive restarts, and refresh-token state stays bounded.

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::{ManualClock, Timestamp};
use crate::engine::{Engine, EngineConfig, RotateOutcome, SessionMeta, Successor};
use crate::event::{Jti, PasswordHash, RevokeReason, SessionHash, UserId};
use crate::state::State;
use crate::store::{Durability, EventStore, MemStore, SledStore};

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A new user signs up.
    SignUp,
    /// User `n` (modulo the users so far) logs in: a session with one refresh token.
    LogIn(u8),
    /// Refresh token number `n` (modulo all tokens ever issued) is presented once.
    Refresh(u8),
    /// Refresh token `n` is presented by `k` threads at once.
    ConcurrentRefresh(u8, u8),
    /// Session `n` logs out.
    LogOut(u8),
    /// User `n` revokes all their sessions.
    RevokeAll(u8),
    /// The clock moves forward by this many milliseconds.
    Advance(u32),
    /// The engine is dropped and reopened from its store.
    Restart,
    /// A snapshot is written and the log compacted.
    Snapshot,
    /// Expired state is swept.
    Sweep,
}

/// Which store backs the engine under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// [`MemStore`].
    Memory,
    /// [`SledStore`] in a temporary directory, `Durability::Flush`.
    Sled,
}

/// Decodes fuzzer bytes into operations, two bytes per operation.
pub fn ops_from_bytes(data: &[u8]) -> Vec<Op> {
    data.chunks(2)
        .take(64)
        .map(|pair| {
            let (kind, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
            match kind % 16 {
                0 => Op::SignUp,
                1 | 2 => Op::LogIn(arg),
                3..=5 => Op::Refresh(arg),
                6 => Op::ConcurrentRefresh(arg, 2 + arg % 7),
                7 => Op::LogOut(arg),
                8 => Op::RevokeAll(arg),
                9 | 10 => Op::Advance(u32::from(arg) * 250),
                11 => Op::Advance(u32::from(arg) * 60_000),
                12 => Op::Restart,
                13 => Op::Snapshot,
                _ => Op::Sweep,
            }
        })
        .collect()
}

const GRACE_MS: i64 = 10_000;
const SESSION_TTL_SECS: i64 = 3 * 3_600;
const REFRESH_TTL_SECS: i64 = 3_600;
const START: Timestamp = Timestamp::from_secs(1_767_225_600);

struct ModelSession {
    key: String,
    hash: SessionHash,
    user: UserId,
    expires_at: Timestamp,
    revoked: bool,
}

struct ModelToken {
    session: usize,
    jti: Jti,
    expires_at: Timestamp,
    /// When it was rotated out, by which restart epoch, and its successor.
    rotated: Option<(Timestamp, u32, Arc<Successor>)>,
}

struct Harness {
    backend: Backend,
    store: MemStore,
    dir: Option<tempfile_free::Dir>,
    clock: ManualClock,
    engine: Option<Engine>,
    epoch: u32,
    users: Vec<UserId>,
    sessions: Vec<ModelSession>,
    tokens: Vec<ModelToken>,
    successors: HashMap<String, usize>,
}

/// Runs `ops` against a fresh engine and the model. Panics on the first disagreement or
/// violated invariant, naming the step.
pub fn run(ops: &[Op], backend: Backend) {
    let mut h = Harness::new(backend);
    for (step, op) in ops.iter().enumerate() {
        h.step(step, op);
        h.check(step, op);
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        session_ttl_secs: SESSION_TTL_SECS,
        refresh_grace_ms: GRACE_MS,
        reuse_detection: true,
        snapshot_on_close: false,
        sweep_interval_ms: 60_000,
        ..EngineConfig::default()
    }
}

impl Harness {
    fn new(backend: Backend) -> Harness {
        let mut h = Harness {
            backend,
            store: MemStore::new(),
            dir: None,
            clock: ManualClock::new(START),
            engine: None,
            epoch: 0,
            users: Vec::new(),
            sessions: Vec::new(),
            tokens: Vec::new(),
            successors: HashMap::new(),
        };
        if backend == Backend::Sled {
            h.dir = Some(tempfile_free::Dir::new());
        }
        h.engine = Some(h.open());
        h
    }

    fn open(&self) -> Engine {
        let clock = Arc::new(self.clock.clone());
        let store: Box<dyn EventStore> = match (&self.dir, self.backend) {
            (Some(dir), Backend::Sled) => Box::new(
                SledStore::open(dir.path(), Durability::Flush).unwrap_or_else(|e| panic!("{e}")),
            ),
            _ => Box::new(self.store.clone()),
        };
        Engine::open(store, clock, config())
            .unwrap_or_else(|e| panic!("reopen: {e}"))
            .0
    }

    fn engine(&self) -> &Engine {
        // why: `engine` is only None inside `restart`, between drop and reopen.
        #[expect(clippy::expect_used, reason = "see why")]
        self.engine.as_ref().expect("engine is open")
    }

    fn now(&self) -> Timestamp {
        self.engine().now()
    }

    fn session_live(&self, i: usize) -> bool {
        let s = &self.sessions[i];
        !s.revoked && s.expires_at > self.now()
    }

    fn step(&mut self, step: usize, op: &Op) {
        match *op {
            Op::SignUp => {
                let n = self.users.len();
                let user = self
                    .engine()
                    .sign_up(&format!("m{n}@example.com"), "m", PasswordHash::unusable())
                    .unwrap_or_else(|e| panic!("step {step}: sign up: {e}"));
                assert_eq!(
                    user.id.0,
                    n as u64 + 1,
                    "step {step}: user ids are sequential"
                );
                self.users.push(user.id);
            }
            Op::LogIn(n) => {
                if self.users.is_empty() {
                    return;
                }
                let user = self.users[usize::from(n) % self.users.len()];
                let jti = Jti::random();
                let expires_at = self.now().plus_secs(REFRESH_TTL_SECS);
                let created = self
                    .engine()
                    .create_session(user, SessionMeta::default(), Some((jti, expires_at)))
                    .unwrap_or_else(|e| panic!("step {step}: log in: {e}"));
                self.sessions.push(ModelSession {
                    key: created.key.expose().to_owned(),
                    hash: created.info.hash,
                    user,
                    expires_at: self.now().plus_secs(SESSION_TTL_SECS),
                    revoked: false,
                });
                self.tokens.push(ModelToken {
                    session: self.sessions.len() - 1,
                    jti,
                    expires_at,
                    rotated: None,
                });
            }
            Op::Refresh(n) => {
                if !self.tokens.is_empty() {
                    self.refresh(step, usize::from(n) % self.tokens.len(), 1);
                }
            }
            Op::ConcurrentRefresh(n, k) => {
                if !self.tokens.is_empty() {
                    self.refresh(
                        step,
                        usize::from(n) % self.tokens.len(),
                        usize::from(k.max(1)),
                    );
                }
            }
            Op::LogOut(n) => {
                if self.sessions.is_empty() {
                    return;
                }
                let i = usize::from(n) % self.sessions.len();
                let expected = self.session_live(i);
                let was = self
                    .engine()
                    .revoke(&self.sessions[i].key, RevokeReason::Logout)
                    .unwrap_or_else(|e| panic!("step {step}: logout: {e}"));
                assert_eq!(was, expected, "step {step}: logout of session {i}");
                self.sessions[i].revoked = true;
            }
            Op::RevokeAll(n) => {
                if self.users.is_empty() {
                    return;
                }
                let user = self.users[usize::from(n) % self.users.len()];
                let expected = (0..self.sessions.len())
                    .filter(|&i| self.sessions[i].user == user && self.session_live(i))
                    .count();
                let count = self
                    .engine()
                    .revoke_user(user, None, RevokeReason::RevokeAll)
                    .unwrap_or_else(|e| panic!("step {step}: revoke all: {e}"));
                assert_eq!(count, expected, "step {step}: revoke-all count");
                for s in self.sessions.iter_mut().filter(|s| s.user == user) {
                    s.revoked = true;
                }
            }
            Op::Advance(ms) => self.clock.advance_millis(i64::from(ms)),
            Op::Restart => self.restart(step),
            Op::Snapshot => {
                self.engine()
                    .snapshot()
                    .unwrap_or_else(|e| panic!("step {step}: snapshot: {e}"));
            }
            Op::Sweep => {
                self.engine()
                    .sweep()
                    .unwrap_or_else(|e| panic!("step {step}: sweep: {e}"));
                let (refresh, sessions) = self
                    .engine()
                    .with_state(|s| (s.refresh_token_count(), s.session_count()));
                let live = (0..self.sessions.len())
                    .filter(|&i| self.session_live(i))
                    .count();
                assert_eq!(
                    sessions, live,
                    "step {step}: sweep leaves exactly the live sessions"
                );
                assert!(
                    refresh <= live,
                    "step {step}: {refresh} refresh tokens for {live} sessions"
                );
            }
        }
    }

    /// What the model says presenting token `t` does now.
    fn expect_refresh(&self, t: usize) -> Expected {
        let token = &self.tokens[t];
        let now = self.now();
        // An expired token is rejected before anything else: never a rotation, never a reuse.
        if !self.session_live(token.session) || token.expires_at <= now {
            return Expected::Rejected;
        }
        match &token.rotated {
            None => Expected::Rotated,
            Some((at, epoch, successor)) if at.plus_millis(GRACE_MS) >= now => {
                if *epoch == self.epoch {
                    Expected::Retried(Arc::clone(successor))
                } else {
                    Expected::Rejected
                }
            }
            Some(_) => Expected::Reuse,
        }
    }

    fn refresh(&mut self, step: usize, t: usize, threads: usize) {
        let expected = self.expect_refresh(t);
        let (hash, old) = (
            self.sessions[self.tokens[t].session].hash,
            self.tokens[t].jti,
        );
        let old_expires_at = self.tokens[t].expires_at;
        let now = self.now();
        let engine = self.engine().clone();
        let outcomes: Vec<(Jti, RotateOutcome)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let engine = engine.clone();
                    scope.spawn(move || {
                        let new = Jti::random();
                        let successor = Successor {
                            access_token: format!("access-{new}-{i}"),
                            refresh_token: new.to_string(),
                        };
                        let exp = now.plus_secs(REFRESH_TTL_SECS);
                        let outcome =
                            engine.rotate_refresh(hash, (old, old_expires_at), new, exp, successor);
                        (
                            new,
                            outcome.unwrap_or_else(|e| panic!("step {step}: rotate: {e}")),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| panic!("step {step}")))
                .collect()
        });
        let rotated: Vec<&(Jti, RotateOutcome)> = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, RotateOutcome::Rotated(_)))
            .collect();
        match expected {
            Expected::Rotated => {
                assert_eq!(
                    rotated.len(),
                    1,
                    "step {step}: exactly one successor, got {outcomes:?}"
                );
                let RotateOutcome::Rotated(winner) = &rotated[0].1 else {
                    unreachable!()
                };
                for (_, o) in &outcomes {
                    match o {
                        RotateOutcome::Rotated(s) | RotateOutcome::Retried(s) => {
                            assert_eq!(s, winner, "step {step}: all callers get one successor")
                        }
                        other => panic!("step {step}: concurrent refresh got {other:?}"),
                    }
                }
                let new = Jti::parse(&winner.refresh_token).unwrap_or_else(|| panic!("jti"));
                self.tokens[t].rotated = Some((now, self.epoch, Arc::clone(winner)));
                self.tokens.push(ModelToken {
                    session: self.tokens[t].session,
                    jti: new,
                    expires_at: now.plus_secs(REFRESH_TTL_SECS),
                    rotated: None,
                });
                self.successors
                    .insert(winner.refresh_token.clone(), self.tokens.len() - 1);
            }
            Expected::Retried(successor) => {
                for (_, o) in &outcomes {
                    assert_eq!(
                        o,
                        &RotateOutcome::Retried(Arc::clone(&successor)),
                        "step {step}"
                    );
                }
            }
            Expected::Rejected => {
                for (_, o) in &outcomes {
                    assert_eq!(o, &RotateOutcome::Rejected, "step {step}: token {t}");
                }
            }
            Expected::Reuse => {
                assert!(
                    matches!(
                        outcomes[0].1,
                        RotateOutcome::ReuseDetected | RotateOutcome::Rejected
                    ),
                    "step {step}: {outcomes:?}"
                );
                assert!(
                    outcomes
                        .iter()
                        .filter(|(_, o)| *o == RotateOutcome::ReuseDetected)
                        .count()
                        == 1,
                    "step {step}: one revocation for a reuse, got {outcomes:?}"
                );
                for (_, o) in &outcomes {
                    assert!(
                        matches!(o, RotateOutcome::ReuseDetected | RotateOutcome::Rejected),
                        "step {step}: a rotated-out token refreshed after the window: {o:?}"
                    );
                }
                let s = self.tokens[t].session;
                self.sessions[s].revoked = true;
            }
        }
    }

    fn restart(&mut self, step: usize) {
        // Close first: the writer may still append (a sweep, last-seen times) until it stops.
        self.engine().close();
        let live = self.engine().with_state(|s| s.to_snapshot());
        self.engine = None;
        self.epoch += 1;
        let engine = self.open();
        engine.with_state(|s| {
            let before = State::from_snapshot(&live, GRACE_MS)
                .unwrap_or_else(|e| panic!("step {step}: snapshot of live state: {e}"));
            if let Some(diff) = s.first_difference(&before) {
                panic!("step {step}: replayed state differs from the live one: {diff}");
            }
        });
        self.engine = Some(engine);
    }

    /// The invariants that must hold after every step.
    fn check(&self, step: usize, op: &Op) {
        let engine = self.engine();
        let now = self.now();
        for (i, s) in self.sessions.iter().enumerate() {
            let live = self.session_live(i);
            assert_eq!(
                engine.lookup(&s.key).is_some(),
                live,
                "step {step} ({op:?}): session {i} should be {}",
                if live { "live" } else { "gone" }
            );
            let live_tokens = self
                .tokens
                .iter()
                .filter(|t| t.session == i && engine.refresh_is_live(&s.hash, &t.jti))
                .count();
            assert!(
                live_tokens <= 1,
                "step {step}: {live_tokens} live refresh tokens in session {i}"
            );
            if !live {
                assert_eq!(
                    live_tokens, 0,
                    "step {step}: a dead session's refresh token is live"
                );
            }
        }
        for t in &self.tokens {
            let model_live =
                t.rotated.is_none() && t.expires_at > now && self.session_live(t.session);
            let hash = self.sessions[t.session].hash;
            assert_eq!(
                engine.refresh_is_live(&hash, &t.jti),
                model_live,
                "step {step}: token liveness"
            );
        }
        let rotations = engine.with_state(|s| s.recent_rotation_count());
        assert!(
            rotations <= self.tokens.len(),
            "step {step}: rotation memory grows without bound"
        );
    }
}

enum Expected {
    Rotated,
    Retried(Arc<Successor>),
    Rejected,
    Reuse,
}

/// A temporary directory without a dev-dependency (the fuzz crate and the library use this).
mod tempfile_free {
    use std::path::{Path, PathBuf};

    pub(super) struct Dir(PathBuf);

    impl Dir {
        pub(super) fn new() -> Dir {
            let name = format!(
                "hallpass-model-{:016x}",
                u64::from_le_bytes(crate::crypto::random_bytes())
            );
            let path = std::env::temp_dir().join(name);
            Dir(path)
        }

        pub(super) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
