//! The writer's protocol: what callers send the writer thread, and how each gets its answer.
//!
//! Every command carries its own reply channel, typed by what that command answers
//! ([`Request::Answer`]), so a caller receives exactly its command's answer type and there is no
//! "unexpected reply" to handle anywhere. Commands change state and are planned into events;
//! control messages ([`Control`]) steer the writer itself and are never planned.

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::clock::Timestamp;
use crate::engine::types::Successor;
use crate::engine::types::{EngineError, RevokeSessionsOutcome, RotateOutcome, SessionInfo};
use crate::event::{AuthMethod, Jti, PasswordHash, RevokeReason, SessionHash, UserId};
use crate::state::User;

/// One message on the writer's queue.
pub(super) enum Message {
    /// A change to plan, commit and answer.
    Command(Command),
    /// An instruction to the writer itself.
    Control(Control),
}

/// Instructions to the writer that plan no events of their own.
pub(super) enum Control {
    /// Session `hash` authenticated a request at `at`: buffered, persisted coalesced as one
    /// `SessionsSeen` event per interval. Never answered (readers must not wait on the writer).
    Touch {
        /// The session.
        hash: SessionHash,
        /// When.
        at: Timestamp,
    },
    /// Write a snapshot and compact the log now, answered when done.
    Snapshot(Reply<()>),
    /// Check that a write reaches the disk (`EventStore::probe`), answered when done.
    Probe(Reply<()>),
    /// Stop after what is already queued: persist pending last-seen times, snapshot, exit.
    Shutdown,
}

/// Every state-changing command, each with its typed reply channel.
pub(super) enum Command {
    /// Create a user.
    SignUp(Call<SignUp>),
    /// Create a session.
    CreateSession(Call<CreateSession>),
    /// End one session.
    Revoke(Call<Revoke>),
    /// End every session of a user, but one.
    RevokeUser(Call<RevokeUser>),
    /// End some sessions of a user by number, all or none.
    RevokeNos(Call<RevokeNos>),
    /// Rotate a refresh token.
    Rotate(Call<Rotate>),
    /// Prune what has expired.
    Sweep(Call<Sweep>),
}

/// A command and where its answer goes.
pub(super) struct Call<C: Request> {
    /// The command's arguments.
    pub(super) command: C,
    /// Its reply channel.
    pub(super) reply: Reply<C::Answer>,
}

/// Where one caller waits for its answer; `None` for commands the writer sends itself.
pub(super) struct Reply<T>(pub(super) Option<Sender<Result<T, EngineError>>>);

impl<T> Reply<T> {
    /// A reply nobody waits for.
    pub(super) fn none() -> Reply<T> {
        Reply(None)
    }

    /// Sends `answer` to the caller, if one waits.
    pub(super) fn send(self, answer: Result<T, EngineError>) {
        if let Some(tx) = self.0 {
            // The caller may have given up (dropped its receiver); nothing to do then.
            let _ = tx.send(answer);
        }
    }
}

/// A command's arguments, and the type of what its caller receives.
pub(super) trait Request: Send + 'static {
    /// What the caller receives.
    type Answer: Send + 'static;
}

/// `SignUp`: a new user with a normalized e-mail, a username made unique from
/// `username_base`, and a password hash.
pub(super) struct SignUp {
    pub(super) email: String,
    pub(super) username_base: String,
    pub(super) password_hash: PasswordHash,
}

impl Request for SignUp {
    type Answer = User;
}

/// `CreateSession`: a session for `user` named by `hash`.
pub(super) struct CreateSession {
    pub(super) hash: SessionHash,
    pub(super) user: UserId,
    pub(super) user_agent: Option<String>,
    pub(super) ip: Option<String>,
    pub(super) refresh: Option<(Jti, Timestamp)>,
    pub(super) method: AuthMethod,
}

/// What creating a session came to.
pub(super) enum Created {
    /// The session, durable.
    Session(SessionInfo),
    /// Another session already has this key's hash (about one chance in 2^165): nothing was
    /// written; the caller draws another key.
    KeyCollision,
}

impl Request for CreateSession {
    type Answer = Created;
}

/// `Revoke`: end session `hash`; answers whether it was live.
pub(super) struct Revoke {
    pub(super) hash: SessionHash,
    pub(super) reason: RevokeReason,
}

impl Request for Revoke {
    type Answer = bool;
}

/// `RevokeUser`: end every session of `user` but `keep`; answers how many ended.
pub(super) struct RevokeUser {
    pub(super) user: UserId,
    pub(super) keep: Option<SessionHash>,
    pub(super) reason: RevokeReason,
}

impl Request for RevokeUser {
    type Answer = usize;
}

/// `RevokeNos`: end the sessions of `user` numbered `nos`, all or none.
pub(super) struct RevokeNos {
    pub(super) user: UserId,
    pub(super) nos: Vec<u64>,
    pub(super) reason: RevokeReason,
}

impl Request for RevokeNos {
    type Answer = RevokeSessionsOutcome;
}

/// `Rotate`: replace refresh token `old` (presented with expiry `presented_expires_at`) of
/// session `hash` by `new`, once.
pub(super) struct Rotate {
    pub(super) hash: SessionHash,
    pub(super) old: Jti,
    pub(super) presented_expires_at: Timestamp,
    pub(super) new: Jti,
    pub(super) expires_at: Timestamp,
    pub(super) successor: Arc<Successor>,
}

impl Request for Rotate {
    type Answer = RotateOutcome;
}

/// `Sweep`: prune expired sessions and refresh tokens, and persist pending last-seen times.
pub(super) struct Sweep;

impl Request for Sweep {
    type Answer = ();
}
