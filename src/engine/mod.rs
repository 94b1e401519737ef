//! The engine: one writer thread, group commit, and lock-shared reads of the folded state.
//!
//! Callers on any thread send a command over a crossbeam channel to the single writer. The
//! writer takes every command waiting, checks each against the current state in arrival order
//! (plus the effects of earlier commands in the same batch), appends the batch's events as one
//! record, makes it durable once, applies it to the in-memory state, and only then answers each
//! caller. So a caller's `Ok` means its events are durable, and commands on one session are
//! serialized — which is what makes refresh-token rotation race-free.
//!
//! Reads (`lookup`, `user_sessions`, ...) take the state's read lock and never touch disk.

mod accounts;
mod protocol;
mod recovery;
mod types;
mod username;
mod writer;

pub use types::{
    AddEmailOutcome, CodeCheck, EngineConfig, EngineError, MAX_SEALED_MAIL_BYTES, MailOutcome,
    Misuse, NewSession, OpenError, OpenReport, PrimaryOutcome, RemoveEmailOutcome,
    RevokeSessionsOutcome, RotateOutcome, SessionInfo, SessionMeta, Stats, Successor,
};
pub(crate) use username::{FALLBACK_USERNAME, MAX_USERNAME_CHARS, truncate_chars};

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};

use crate::clock::{Clock, Timestamp};
use crate::crypto::SessionKey;
use crate::event::{Jti, PasswordHash, RevokeReason, SessionHash, UserId};
use crate::state::{State, User};
use crate::store::{Durability, EventStore, SledStore};

use protocol::{
    Call, Command, Control, CreateSession, Created, Message, Reply, Request, Revoke, RevokeNos,
    RevokeUser, Rotate, SignUp, Sweep,
};
use writer::Writer;

/// How many fresh keys [`Engine::create_session`] draws before concluding that the platform's
/// randomness is broken (a collision of 165-bit keys is one chance in 2^165).
const KEY_ATTEMPTS: usize = 8;

/// The longest session key worth hashing when presented: ours are 32 characters, and other
/// allauth setups' at most 64 (what the `sid` cipher accepts too).
pub(crate) const MAX_PRESENTED_KEY_BYTES: usize = 64;

/// The longest password hash a user may carry: every PHC string of Django's and our hashers is
/// far shorter, and the bound keeps a sign-up event small.
const MAX_PASSWORD_HASH_BYTES: usize = 1024;

struct Shared {
    state: Arc<RwLock<State>>,
    tx: Sender<Message>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    stats: Arc<Stats>,
    /// Set by the writer thread once it answers nothing more (closed, or stopped after too
    /// many failed writes).
    stopped: Arc<AtomicBool>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    fn close(&self) {
        let mut writer = self.writer.lock();
        if let Some(handle) = writer.take() {
            let _ = self.tx.send(Message::Control(Control::Shutdown));
            let _ = handle.join();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.close();
    }
}

/// The session engine. Cheap to clone; all clones share one writer and one state.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// Opens an engine on a sled store in `dir`.
    ///
    /// # Errors
    ///
    /// [`OpenError`] when the store cannot be opened or its contents are corrupt.
    pub fn open_dir(
        dir: &Path,
        durability: Durability,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<(Engine, OpenReport), OpenError> {
        let store = SledStore::open(dir, durability)?;
        Engine::open(store, clock, config)
    }

    /// Opens an engine on `store`: loads the latest snapshot, replays the log after it, and
    /// starts the writer.
    ///
    /// A record at the tail that fails its checksum (a write torn by a crash) is dropped with a
    /// warning naming its position. A bad record anywhere else refuses to open.
    ///
    /// A panic on the writer thread (a bug) aborts the process: the log is the truth, and a
    /// restart recovers from it, where a live process could only refuse every write.
    ///
    /// # Errors
    ///
    /// [`OpenError`] on I/O failure, a corrupt record before the tail, or a corrupt snapshot.
    pub fn open(
        mut store: impl EventStore,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<(Engine, OpenReport), OpenError> {
        let (state, report) = recovery::recover(&mut store, config.refresh_grace_ms)?;
        let state = Arc::new(RwLock::new(state));
        let stats = Arc::new(Stats::default());
        let (tx, rx) = crossbeam_channel::bounded(65_536);
        let writer = Writer::new(
            Box::new(store),
            Arc::clone(&state),
            Arc::clone(&clock),
            config.clone(),
            Arc::clone(&stats),
            report.snapshot_seq.unwrap_or_default(),
        );
        let stopped = Arc::new(AtomicBool::new(false));
        let writer_stopped = Arc::clone(&stopped);
        let handle = std::thread::Builder::new()
            .name("hallpass-writer".into())
            .spawn(move || {
                // A panic here is a bug with the state half-applied or a batch half-answered:
                // serving on would answer every write with 503 forever. End the process, so a
                // supervisor restarts it and recovery rebuilds the state from the log.
                let run = std::panic::AssertUnwindSafe(|| writer.run(&rx));
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!("the engine's writer panicked; aborting the process");
                    std::process::abort();
                }
                // Nothing is answered from here on. A channel keeps its messages while any
                // sender lives, so drop what is queued (their callers see `Closed`); callers
                // that send later see the flag (see `Engine::wait`).
                writer_stopped.store(true, Ordering::SeqCst);
                for message in rx.try_iter() {
                    drop(message);
                }
            })
            .map_err(OpenError::Thread)?;
        let shared = Shared {
            state,
            tx,
            clock,
            config,
            stats,
            stopped,
            writer: Mutex::new(Some(handle)),
        };
        Ok((
            Engine {
                shared: Arc::new(shared),
            },
            report,
        ))
    }

    /// The engine's clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.shared.clock
    }

    /// The current time by the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// Metric counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Creates a user. `email` must already be normalized (see `normalize_email`); the username
    /// is `username_base` made unique (a number appended, as allauth does).
    ///
    /// # Errors
    ///
    /// [`EngineError::EmailTaken`] if a user has this e-mail address; [`Misuse`] for an e-mail
    /// over 320 bytes, a username base over 150 or a password hash over 1,024; storage errors.
    pub fn sign_up(
        &self,
        email: &str,
        username_base: &str,
        password_hash: PasswordHash,
    ) -> Result<User, EngineError> {
        if email.is_empty() || email.len() > 320 {
            return Err(EngineError::Misuse(Misuse::EmailLength {
                len: email.len(),
            }));
        }
        if username_base.len() > 150 {
            let len = username_base.len();
            return Err(EngineError::Misuse(Misuse::UsernameLength { len }));
        }
        if password_hash.len() > MAX_PASSWORD_HASH_BYTES {
            let len = password_hash.len();
            return Err(EngineError::Misuse(Misuse::PasswordHashLength { len }));
        }
        let command = SignUp {
            email: email.to_owned(),
            username_base: username_base.to_owned(),
            password_hash,
        };
        self.call(command, Command::SignUp)
    }

    /// Creates a session for `user`, with an optional first refresh token (`jti`, expiry), in
    /// one durable write.
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownUser`]; storage errors.
    ///
    /// # Panics
    ///
    /// If eight fresh keys in a row name existing sessions: the OS randomness is then broken,
    /// and an auth server must not go on minting guessable keys (as [`SessionKey::generate`]).
    pub fn create_session(
        &self,
        user: UserId,
        meta: SessionMeta,
        refresh: Option<(Jti, Timestamp)>,
    ) -> Result<NewSession, EngineError> {
        let user_agent = meta.user_agent.map(|ua| truncate(ua, 512));
        let ip = meta.ip.map(|ip| truncate(ip, 64));
        for _ in 0..KEY_ATTEMPTS {
            let key = SessionKey::generate();
            let command = CreateSession {
                hash: SessionHash::of(&key),
                user,
                user_agent: user_agent.clone(),
                ip: ip.clone(),
                refresh,
                method: meta.method,
            };
            match self.call(command, Command::CreateSession)? {
                Created::Session(info) => return Ok(NewSession { key, info }),
                Created::KeyCollision => continue,
            }
        }
        panic!("{KEY_ATTEMPTS} fresh session keys collided: the OS randomness is broken");
    }

    /// The live session behind a presented session key, if any. Never touches disk. A key
    /// longer than any session key (64 bytes) finds nothing without being hashed.
    pub fn lookup(&self, key: &str) -> Option<SessionInfo> {
        if key.len() > MAX_PRESENTED_KEY_BYTES {
            return None;
        }
        self.lookup_hash(&SessionHash::of_presented(key))
    }

    /// The live session with this hash, if any.
    pub fn lookup_hash(&self, hash: &SessionHash) -> Option<SessionInfo> {
        let now = self.now();
        let state = self.shared.state.read();
        state.session(hash, now).map(|s| info(*hash, s))
    }

    /// Whether the session with this hash is live (cheaper than [`Engine::lookup_hash`]).
    pub fn is_live(&self, hash: &SessionHash) -> bool {
        let now = self.now();
        self.shared.state.read().session(hash, now).is_some()
    }

    /// Whether refresh token `jti` is live in session `hash` (unexpired, not rotated out).
    pub fn refresh_is_live(&self, hash: &SessionHash, jti: &Jti) -> bool {
        let now = self.now();
        let state = self.shared.state.read();
        state
            .session(hash, now)
            .and_then(|s| s.refresh_expiry(jti))
            .is_some_and(|exp| exp > now)
    }

    /// Notes that session `hash` authenticated a request now. In memory at once; persisted
    /// coalesced (at most once per `seen_coalesce_ms` per session). Never blocks.
    pub fn touch(&self, hash: &SessionHash) {
        let now = self.now();
        let worth_persisting = {
            let state = self.shared.state.read();
            state
                .session(hash, now)
                .is_some_and(|s| s.mark_seen(now, self.shared.config.seen_coalesce_ms))
        };
        if worth_persisting {
            let note = Message::Control(Control::Touch {
                hash: *hash,
                at: now,
            });
            if let Err(TrySendError::Full(_)) = self.shared.tx.try_send(note) {
                self.shared
                    .stats
                    .touches_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Ends the session behind `key` and everything hanging off it. Returns whether it was live.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn revoke(&self, key: &str, reason: RevokeReason) -> Result<bool, EngineError> {
        if key.len() > MAX_PRESENTED_KEY_BYTES {
            return Ok(false);
        }
        self.revoke_hash(&SessionHash::of_presented(key), reason)
    }

    /// Ends session `hash`. Returns whether it was live.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn revoke_hash(
        &self,
        hash: &SessionHash,
        reason: RevokeReason,
    ) -> Result<bool, EngineError> {
        let command = Revoke {
            hash: *hash,
            reason,
        };
        self.call(command, Command::Revoke)
    }

    /// Ends every session of `user`, except `keep` if given. Returns how many ended.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn revoke_user(
        &self,
        user: UserId,
        keep: Option<SessionHash>,
        reason: RevokeReason,
    ) -> Result<usize, EngineError> {
        self.call(RevokeUser { user, keep, reason }, Command::RevokeUser)
    }

    /// Ends the sessions of `user` with these public numbers, all or none: if any number is not a
    /// live session of `user` when the writer reaches the command, nothing ends and the answer
    /// names the first such number. Checked and applied by one writer command, so a concurrent
    /// logout cannot make the request half-applied.
    ///
    /// # Errors
    ///
    /// Storage errors (nothing ended).
    pub fn revoke_user_sessions(
        &self,
        user: UserId,
        nos: &[u64],
        reason: RevokeReason,
    ) -> Result<RevokeSessionsOutcome, EngineError> {
        let command = RevokeNos {
            user,
            nos: nos.to_vec(),
            reason,
        };
        self.call(command, Command::RevokeNos)
    }

    /// The live sessions of `user`, oldest first.
    pub fn user_sessions(&self, user: UserId) -> Vec<SessionInfo> {
        let now = self.now();
        let state = self.shared.state.read();
        state
            .user_sessions(user, now)
            .into_iter()
            .map(|(h, s)| info(h, s))
            .collect()
    }

    /// A user by id.
    pub fn user(&self, id: UserId) -> Option<User> {
        self.shared.state.read().user(id).map(|a| a.view())
    }

    /// A user by normalized e-mail address.
    pub fn user_by_email(&self, email: &str) -> Option<User> {
        self.shared
            .state
            .read()
            .user_by_email(email)
            .map(|a| a.view())
    }

    /// The user with this normalized e-mail address and their password hash: for the
    /// password-verification path only (`accounts::password`).
    pub(crate) fn login_candidate(&self, email: &str) -> Option<(User, PasswordHash)> {
        let state = self.shared.state.read();
        let account = state.user_by_email(email)?;
        Some((account.view(), account.password_hash().clone()))
    }

    /// Rotates the presented refresh token of session `hash` — its `jti` and the `exp` its
    /// verified claims carry — to `new` (expiring at `expires_at`), exactly once: of any number
    /// of concurrent calls for one token, one rotates and the rest, within the grace window,
    /// receive the same `successor`. A presented token past its `exp` is rejected, never taken
    /// for a reuse (its `jti` may already be swept from the session).
    ///
    /// # Errors
    ///
    /// Storage errors (nothing changed).
    pub fn rotate_refresh(
        &self,
        hash: SessionHash,
        presented: (Jti, Timestamp),
        new: Jti,
        expires_at: Timestamp,
        successor: Successor,
    ) -> Result<RotateOutcome, EngineError> {
        let successor = Arc::new(successor);
        let (old, presented_expires_at) = presented;
        let command = Rotate {
            hash,
            old,
            presented_expires_at,
            new,
            expires_at,
            successor,
        };
        self.call(command, Command::Rotate)
    }

    /// Prunes expired sessions and refresh tokens and persists pending last-seen times now (the
    /// writer also does this on its own every `sweep_interval_ms`).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn sweep(&self) -> Result<(), EngineError> {
        self.call(Sweep, Command::Sweep)
    }

    /// Writes a snapshot of the state and compacts the log it covers.
    ///
    /// # Errors
    ///
    /// Storage errors; the previous snapshot and the log are then intact.
    pub fn snapshot(&self) -> Result<(), EngineError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.wait(Message::Control(Control::Snapshot(Reply(Some(tx)))), &rx)
    }

    /// Checks that a write reaches the disk now, without adding to the log (what `/readyz`
    /// asks): the store writes a marker and syncs. A success resets the consecutive-failure
    /// count, a failure adds to it (see [`EngineConfig::max_consecutive_store_failures`]).
    ///
    /// # Errors
    ///
    /// [`EngineError::Storage`] when the write failed; [`EngineError::Closed`] when the engine
    /// is closed or stopped after too many failed writes.
    pub fn probe(&self) -> Result<(), EngineError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.wait(Message::Control(Control::Probe(Reply(Some(tx)))), &rx)
    }

    /// Whether the writer stopped after [`EngineConfig::max_consecutive_store_failures`]
    /// failed writes in a row. Reads still answer; every command answers
    /// [`EngineError::Closed`]. Only reopening the store recovers: a server should exit (the
    /// binary does, non-zero) so that its supervisor restarts it.
    pub fn failed(&self) -> bool {
        self.shared.stats.store_gave_up.load(Ordering::Relaxed)
    }

    /// Stops the writer after the commands already queued: it persists pending last-seen
    /// times, writes a snapshot (if `snapshot_on_close`) and exits; this call waits for it.
    /// Reads keep working on the final state; commands answer [`EngineError::Closed`].
    /// Dropping the last clone of the engine does the same. Idempotent.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Runs `f` on the current state under the read lock (for tests and tools).
    #[cfg(feature = "testing")]
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.shared.state.read())
    }

    /// Runs `f` on the current state under the read lock.
    fn read_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.shared.state.read())
    }

    /// Sends `command` (wrapped as the writer's `wrap` variant) and waits for its answer.
    fn call<C: Request>(
        &self,
        command: C,
        wrap: fn(Call<C>) -> Command,
    ) -> Result<C::Answer, EngineError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let call = Call {
            command,
            reply: Reply(Some(tx)),
        };
        self.wait(Message::Command(wrap(call)), &rx)
    }

    /// Sends `message` to the writer and waits for the answer on `answer`.
    ///
    /// A message queued when the writer stops is never answered, so besides the answer this
    /// watches the writer's `stopped` flag: once it is set, nothing more will come.
    fn wait<T>(
        &self,
        message: Message,
        answer: &Receiver<Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        if self.shared.stopped.load(Ordering::SeqCst) {
            return Err(EngineError::Closed);
        }
        self.shared
            .tx
            .send(message)
            .map_err(|_| EngineError::Closed)?;
        loop {
            match answer.recv_timeout(Duration::from_millis(50)) {
                Ok(result) => return result,
                Err(RecvTimeoutError::Disconnected) => return Err(EngineError::Closed),
                Err(RecvTimeoutError::Timeout) if self.shared.stopped.load(Ordering::SeqCst) => {
                    // An answer sent just before the flag was set is still here to take.
                    return answer.try_recv().unwrap_or(Err(EngineError::Closed));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

fn info(hash: SessionHash, s: &crate::state::Session) -> SessionInfo {
    SessionInfo {
        hash,
        no: s.no,
        user: s.user,
        created_at: s.created_at,
        expires_at: s.expires_at,
        last_seen: s.last_seen(),
        user_agent: s.user_agent().map(str::to_owned),
        ip: s.ip().map(str::to_owned),
        method: s.method(),
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
