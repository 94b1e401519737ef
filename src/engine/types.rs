//! The engine's public value types: settings, answers, errors and counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::clock::Timestamp;
use crate::crypto::SessionKey;
use crate::event::{AuthMethod, Seq, SessionHash, UserId};
use crate::state::{Flow, SnapshotError};
use crate::store::StoreError;

/// Engine settings. Defaults follow Django and allauth where they have one.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Session lifetime in seconds (Django's `SESSION_COOKIE_AGE`, default two weeks).
    pub session_ttl_secs: i64,
    /// How long a just-rotated refresh token may be retried for the identical successor
    /// (`HALLPASS_REFRESH_GRACE_SECONDS`, default 10 s), in milliseconds.
    pub refresh_grace_ms: i64,
    /// How many times, within the grace window, a rotated-out refresh token may be answered
    /// with its successor again (`HALLPASS_REFRESH_GRACE_REPLAYS`, default 32); one more
    /// presentation counts as a reuse. As Ory Hydra's grace reuse count.
    pub refresh_grace_replays: u32,
    /// Whether presenting a rotated-out refresh token after the grace window revokes the
    /// session (`HALLPASS_REFRESH_REUSE_DETECTION`, default true).
    pub reuse_detection: bool,
    /// At most this many live sessions per user (`HALLPASS_MAX_SESSIONS_PER_USER`, default
    /// 100; 0: no cap): a new session beyond it ends the user's oldest, by an event
    /// (`SessionRevoked { reason: Evicted }`).
    pub max_sessions_per_user: usize,
    /// `last_seen_at` is persisted at most once per this many milliseconds per session.
    pub seen_coalesce_ms: i64,
    /// A snapshot is taken (and the log compacted) after this many events.
    pub snapshot_every: u64,
    /// How often the writer looks for expired state to prune, in milliseconds.
    pub sweep_interval_ms: i64,
    /// At most this many commands in one batch.
    pub max_batch: usize,
    /// Whether closing the engine writes a snapshot (so the next open replays little).
    pub snapshot_on_close: bool,
    /// After this many consecutive failed writes (batches or probes; default 8, 0: never) the
    /// writer stops: every later command answers [`EngineError::Closed`] and
    /// [`Engine::failed`](crate::Engine::failed) turns true. sled keeps a sticky error after a
    /// real I/O failure, so only reopening the store recovers; the binary exits non-zero then,
    /// for its supervisor to restart it (`HALLPASS_MAX_CONSECUTIVE_STORE_FAILURES`).
    pub max_consecutive_store_failures: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            session_ttl_secs: 1_209_600,
            refresh_grace_ms: 10_000,
            refresh_grace_replays: 32,
            max_sessions_per_user: 100,
            reuse_detection: true,
            seen_coalesce_ms: 60_000,
            snapshot_every: 200_000,
            sweep_interval_ms: 60_000,
            max_batch: 1024,
            snapshot_on_close: true,
            max_consecutive_store_failures: 8,
        }
    }
}

/// The tokens issued by one successful refresh, held so that a retry within the grace window
/// receives exactly the same pair. Wiped from memory on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Successor {
    /// The new access token.
    pub access_token: String,
    /// The new refresh token.
    pub refresh_token: String,
}

impl std::fmt::Debug for Successor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Successor(<redacted>)")
    }
}

/// What became of a refresh-token rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotateOutcome {
    /// The token was live and is now replaced by this successor (durably).
    Rotated(Arc<Successor>),
    /// The token was rotated moments ago (within the grace window): the same successor again.
    Retried(Arc<Successor>),
    /// Not refreshable, nothing changed: unknown or dead session, expired token, or a retry
    /// within the grace window whose successor is no longer in memory (after a restart).
    Rejected,
    /// A rotated-out token was presented after the grace window: the session is revoked.
    ReuseDetected,
}

/// What became of ending some of a user's sessions by their public numbers
/// ([`Engine::revoke_user_sessions`](crate::engine::Engine::revoke_user_sessions)).
///
/// All or nothing: the check that every number names a live session of the user and the
/// revocation are one writer command, so a concurrent logout can never leave half of a request
/// applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeSessionsOutcome {
    /// Every number named a live session of the user; this many sessions ended (durably). A
    /// number given twice counts once.
    Revoked(usize),
    /// `no`, the first number in the order given that is not a live session of the user
    /// (unknown, expired, already ended, or another user's): nothing was ended.
    NotUserSession {
        /// The offending number.
        no: u64,
    },
}

/// A live session as readers see it; no secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// SHA-256 of the session key.
    pub hash: SessionHash,
    /// Public session number (for session lists).
    pub no: u64,
    /// Whose session.
    pub user: UserId,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry time.
    pub expires_at: Timestamp,
    /// Latest time it authenticated a request.
    pub last_seen: Timestamp,
    /// `User-Agent` at creation, where known.
    pub user_agent: Option<String>,
    /// IP address at creation, where known.
    pub ip: Option<String>,
    /// How the user authenticated when the session began.
    pub method: AuthMethod,
}

/// A freshly created session: its secret key (for the client) and its public view.
#[derive(Debug)]
pub struct NewSession {
    /// The session key; give it to the client, never log or store it.
    pub key: SessionKey,
    /// The session as readers see it.
    pub info: SessionInfo,
}

/// Client details recorded with a new session.
#[derive(Clone, Debug, Default)]
pub struct SessionMeta {
    /// `User-Agent` header (truncated to 512 bytes when stored).
    pub user_agent: Option<String>,
    /// Client IP address.
    pub ip: Option<String>,
    /// How the user authenticated (allauth's session `methods`).
    pub method: AuthMethod,
}

/// Why an engine command failed.
///
/// Three kinds, kept apart: a refusal decided by the state for input that came from outside
/// ([`EmailTaken`](EngineError::EmailTaken), [`UnknownUser`](EngineError::UnknownUser)), a
/// caller breaking the API's contract ([`Misuse`](EngineError::Misuse)), and storage failure
/// ([`Storage`](EngineError::Storage), [`Closed`](EngineError::Closed)), where nothing of the
/// command was applied.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The e-mail address belongs to an existing user.
    #[error("e-mail address already taken")]
    EmailTaken,
    /// No such user.
    #[error("unknown user {user}")]
    UnknownUser {
        /// The id asked for.
        user: UserId,
    },
    /// The caller passed what the API's contract rules out.
    #[error("api misuse: {0}")]
    Misuse(Misuse),
    /// Storage failed; nothing of the command was applied.
    #[error(transparent)]
    Storage(Arc<StoreError>),
    /// The engine has been closed (or its writer stopped).
    #[error("the engine is closed")]
    Closed,
}

impl EngineError {
    /// Whether this is a storage failure (or a stopped engine): nothing was applied, and the
    /// same command may succeed later.
    pub fn is_storage(&self) -> bool {
        matches!(self, EngineError::Storage(_) | EngineError::Closed)
    }
}

/// A call that breaks the engine API's contract: a bug in the caller, never the end user's
/// input (the facade validates that before it reaches the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// An e-mail address that is empty or over 320 bytes.
    #[error("e-mail address of {len} bytes (1 to 320 allowed)")]
    EmailLength {
        /// Its length in bytes.
        len: usize,
    },
    /// A password hash over 1,024 bytes.
    #[error("password hash of {len} bytes (at most 1024 allowed)")]
    PasswordHashLength {
        /// Its length in bytes.
        len: usize,
    },
    /// A username base over 150 bytes.
    #[error("username base of {len} bytes (at most 150 allowed)")]
    UsernameLength {
        /// Its length in bytes.
        len: usize,
    },
    /// A sealed message over `MAX_SEALED_MAIL_BYTES`.
    #[error("sealed message of {len} bytes (at most 65536 allowed)")]
    MailLength {
        /// Its length in bytes.
        len: usize,
    },
}

/// Why the engine could not open its data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The store failed or its contents are corrupt.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The snapshot does not decode.
    #[error("snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    /// The writer thread could not be started.
    #[error("cannot start writer thread: {0}")]
    Thread(std::io::Error),
}

/// What recovery found on open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The snapshot's position, if one was loaded.
    pub snapshot_seq: Option<Seq>,
    /// How many events were replayed after it.
    pub replayed_events: u64,
    /// A torn tail record that was dropped, by its first position.
    pub dropped_torn_tail: Option<Seq>,
}

/// Counters for metrics; monotonic, except `consecutive_store_failures` (a gauge) and
/// `store_gave_up` (a flag).
#[derive(Debug, Default)]
pub struct Stats {
    /// Batches made durable.
    pub batches: AtomicU64,
    /// Commands answered by the writer.
    pub commands: AtomicU64,
    /// Events appended.
    pub events: AtomicU64,
    /// Total time spent in `append` + `sync`, in microseconds.
    pub sync_micros: AtomicU64,
    /// Batches or syncs that failed.
    pub store_failures: AtomicU64,
    /// Writes (batches or probes) that failed since the last one that succeeded.
    pub consecutive_store_failures: AtomicU64,
    /// Set once the writer stopped after `max_consecutive_store_failures`.
    pub store_gave_up: AtomicBool,
    /// Refresh tokens rotated.
    pub rotations: AtomicU64,
    /// Reuse detections (sessions revoked for presenting a rotated-out token).
    pub reuse_detections: AtomicU64,
    /// Touches dropped because the writer's queue was full.
    pub touches_dropped: AtomicU64,
}

/// The longest sealed message the outbox takes: far above any e-mail we render, far below the
/// 1 MiB an event may take.
pub const MAX_SEALED_MAIL_BYTES: usize = 64 * 1024;

/// What adding an address came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddEmailOutcome {
    /// Added, unverified.
    Added,
    /// The user already has it.
    AlreadyYours,
    /// Another user has it.
    Taken,
    /// The user has as many addresses as they may.
    TooMany,
}

/// What making an address primary came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrimaryOutcome {
    /// It is the primary address now.
    Set,
    /// The user has no such address.
    NotYours,
    /// It is not verified (and unverified addresses may not be primary).
    Unverified,
}

/// What removing an address came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoveEmailOutcome {
    /// Removed.
    Removed,
    /// The user has no such address.
    NotYours,
    /// It is the primary address, which stays.
    Primary,
}

/// What checking a code came to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeCheck {
    /// The right code: the flow as it was (ended when the check consumed it).
    Accepted(Flow),
    /// A wrong code; this many more attempts are allowed.
    Wrong {
        /// Attempts left before the flow ends.
        remaining: u32,
    },
    /// A wrong code that used up the attempts: the flow ended.
    Exhausted,
    /// No such flow (never begun, ended, or timed out).
    NoFlow,
}

/// What a delivery attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailOutcome {
    /// Delivered: it leaves the outbox.
    Sent,
    /// Failed; it stays for another attempt.
    Failed,
    /// Failed for the last time: it leaves the outbox undelivered.
    GaveUp,
}
