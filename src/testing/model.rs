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
use crate::event::{Jti, PasswordChange, PasswordHash, RevokeReason, SessionHash, UserId};
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
    /// User `n` changes their password from session `m` (modulo all sessions; kept only when it
    /// is one of theirs): every other session of theirs ends, with its refresh tokens.
    ChangePassword(u8, u8),
    /// User `n`'s password is reset: every session of theirs ends.
    ResetPassword(u8),
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
            match kind % 18 {
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
                14 | 15 => Op::Sweep,
                16 => Op::ChangePassword(arg, arg.rotate_left(4)),
                _ => Op::ResetPassword(arg),
            }
        })
        .collect()
}

/// The refresh settings a run uses: the grace window and the replays it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `EngineConfig::refresh_grace_ms`.
    pub grace_ms: i64,
    /// `EngineConfig::refresh_grace_replays`.
    pub replays: u32,
}

impl Settings {
    /// A 10 s window with a small replay cap, so that concurrent presentations use it up.
    pub const GRACE: Settings = Settings {
        grace_ms: 10_000,
        replays: 3,
    };
    /// No window: allauth's behaviour, one presentation per token succeeds.
    pub const NO_GRACE: Settings = Settings {
        grace_ms: 0,
        replays: 3,
    };
}
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
    /// When it was rotated out, by which restart epoch, its successor, and how many times the
    /// successor was handed out again since.
    rotated: Option<(Timestamp, u32, Arc<Successor>, u32)>,
}

struct Harness {
    backend: Backend,
    settings: Settings,
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

/// Runs `ops` against a fresh engine and the model with [`Settings::GRACE`]. Panics on the first
/// disagreement or violated invariant, naming the step.
pub fn run(ops: &[Op], backend: Backend) {
    run_with(ops, backend, Settings::GRACE);
}

/// As [`run`], with these refresh settings.
pub fn run_with(ops: &[Op], backend: Backend, settings: Settings) {
    let mut h = Harness::new(backend, settings);
    for (step, op) in ops.iter().enumerate() {
        h.step(step, op);
        h.check(step, op);
    }
}

fn config(settings: Settings) -> EngineConfig {
    EngineConfig {
        session_ttl_secs: SESSION_TTL_SECS,
        refresh_grace_ms: settings.grace_ms,
        refresh_grace_replays: settings.replays,
        reuse_detection: true,
        snapshot_on_close: false,
        sweep_interval_ms: 60_000,
        ..EngineConfig::default()
    }
}

impl Harness {
    fn new(backend: Backend, settings: Settings) -> Harness {
        let mut h = Harness {
            backend,
            settings,
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
        Engine::open(store, clock, config(self.settings))
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
            Op::ChangePassword(n, m) => {
                if self.users.is_empty() || self.sessions.is_empty() {
                    return;
                }
                let user = self.users[usize::from(n) % self.users.len()];
                let i = usize::from(m) % self.sessions.len();
                let keep = (self.sessions[i].user == user).then_some(i);
                self.change_password(step, user, keep);
            }
            Op::ResetPassword(n) => {
                if self.users.is_empty() {
                    return;
                }
                let user = self.users[usize::from(n) % self.users.len()];
                self.change_password(step, user, None);
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

    /// A password change or reset for `user`, keeping session `keep`: the engine must end
    /// exactly the user's other live sessions, in one write.
    fn change_password(&mut self, step: usize, user: UserId, keep: Option<usize>) {
        let expected = (0..self.sessions.len())
            .filter(|&i| self.sessions[i].user == user && self.session_live(i) && Some(i) != keep)
            .count();
        let (change, kept) = match keep {
            Some(i) => (PasswordChange::Changed, Some(self.sessions[i].hash)),
            None => (PasswordChange::Reset, None),
        };
        let hash = PasswordHash::from_phc(format!("$argon2id$model${step}"));
        let ended = self
            .engine()
            .change_password(user, hash, change, kept)
            .unwrap_or_else(|e| panic!("step {step}: change password: {e}"));
        assert_eq!(
            ended, expected,
            "step {step}: sessions a password change ends"
        );
        for (i, s) in self.sessions.iter_mut().enumerate() {
            if s.user == user && Some(i) != keep {
                s.revoked = true;
            }
        }
    }

    /// What the model says presenting token `t` does now.
    /// What one presentation of token `t` comes to now, in the model; updates the model as the
    /// engine's writer would. The engine serializes concurrent presentations, so `k` of them
    /// come to `k` of these in some order, whose counts are fixed.
    fn present(&mut self, t: usize) -> Expected {
        let now = self.now();
        let session = self.tokens[t].session;
        // An expired token is rejected before anything else: never a rotation, never a reuse.
        if !self.session_live(session) || self.tokens[t].expires_at <= now {
            return Expected::Rejected;
        }
        let Settings { grace_ms, replays } = self.settings;
        let epoch = self.epoch;
        match &mut self.tokens[t].rotated {
            None => Expected::Rotated,
            Some((at, rotated_in, successor, replayed)) if at.plus_millis(grace_ms) >= now => {
                if *rotated_in != epoch {
                    // Rotated within the window before a restart: the successor is gone.
                    Expected::Rejected
                } else if grace_ms > 0 && *replayed < replays {
                    *replayed += 1;
                    Expected::Retried(Arc::clone(successor))
                } else {
                    self.sessions[session].revoked = true;
                    Expected::Reuse
                }
            }
            Some(_) => {
                self.sessions[session].revoked = true;
                Expected::Reuse
            }
        }
    }

    fn refresh(&mut self, step: usize, t: usize, threads: usize) {
        let (hash, old) = (
            self.sessions[self.tokens[t].session].hash,
            self.tokens[t].jti,
        );
        let old_expires_at = self.tokens[t].expires_at;
        let now = self.now();
        let engine = self.engine().clone();
        let outcomes: Vec<RotateOutcome> = std::thread::scope(|scope| {
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
                        engine
                            .rotate_refresh(hash, (old, old_expires_at), new, exp, successor)
                            .unwrap_or_else(|e| panic!("step {step}: rotate: {e}"))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| panic!("step {step}")))
                .collect()
        });
        // The successor of this rotation, if one happened now (the model cannot know it).
        let winner = outcomes.iter().find_map(|o| match o {
            RotateOutcome::Rotated(s) => Some(Arc::clone(s)),
            _ => None,
        });
        let mut expected = [0usize; 4];
        for _ in 0..threads {
            let e = self.present(t);
            if e == Expected::Rotated {
                let Some(winner) = &winner else {
                    panic!("step {step}: expected a rotation, got {outcomes:?}")
                };
                self.rotated(t, now, winner);
            }
            if let Expected::Retried(s) = &e {
                let same = outcomes
                    .iter()
                    .all(|o| !matches!(o, RotateOutcome::Retried(x) if x != s));
                assert!(
                    same,
                    "step {step}: a replay hands out the one successor: {outcomes:?}"
                );
            }
            expected[e.kind()] += 1;
        }
        let mut got = [0usize; 4];
        for o in &outcomes {
            let kind = match o {
                RotateOutcome::Rotated(_) => 0,
                RotateOutcome::Retried(s) => {
                    if let Some(w) = &winner {
                        assert_eq!(s, w, "step {step}: all callers get one successor");
                    }
                    1
                }
                RotateOutcome::Rejected => 2,
                RotateOutcome::ReuseDetected => 3,
            };
            got[kind] += 1;
        }
        assert_eq!(
            got, expected,
            "step {step}: token {t}, {threads} presentations (rotated, retried, rejected, reuse): \
             {outcomes:?}"
        );
    }

    /// Token `t` was rotated out at `now` for `winner`: the model learns the new token.
    fn rotated(&mut self, t: usize, now: Timestamp, winner: &Arc<Successor>) {
        let new = Jti::parse(&winner.refresh_token).unwrap_or_else(|| panic!("jti"));
        self.tokens[t].rotated = Some((now, self.epoch, Arc::clone(winner), 0));
        self.tokens.push(ModelToken {
            session: self.tokens[t].session,
            jti: new,
            expires_at: now.plus_secs(REFRESH_TTL_SECS),
            rotated: None,
        });
        self.successors
            .insert(winner.refresh_token.clone(), self.tokens.len() - 1);
    }

    fn restart(&mut self, step: usize) {
        // Close first: the writer may still append (a sweep, last-seen times) until it stops.
        self.engine().close();
        let live = self.engine().with_state(|s| s.to_snapshot());
        self.engine = None;
        self.epoch += 1;
        let engine = self.open();
        engine.with_state(|s| {
            let before = State::from_snapshot(&live, self.settings.grace_ms)
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

#[derive(PartialEq, Eq)]
enum Expected {
    Rotated,
    Retried(Arc<Successor>),
    Rejected,
    Reuse,
}

impl Expected {
    /// Its index among (rotated, retried, rejected, reuse), for counting.
    fn kind(&self) -> usize {
        match self {
            Expected::Rotated => 0,
            Expected::Retried(_) => 1,
            Expected::Rejected => 2,
            Expected::Reuse => 3,
        }
    }
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
