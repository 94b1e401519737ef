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
use crate::engine::types::{
    AddEmailOutcome, CodeCheck, MailOutcome, PrimaryOutcome, RemoveEmailOutcome,
};
use crate::engine::types::{EngineError, RevokeSessionsOutcome, RotateOutcome, SessionInfo};
use crate::event::{
    AuthMethod, FlowKind, Jti, KeyPurpose, PasswordChange, PasswordHash, RevokeReason,
    SecretDigest, SessionHash, UserId,
};
use crate::state::{Flow, Key, User};

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
    /// Add an address to a user.
    AddEmail(Call<AddEmail>),
    /// Mark a user's address verified.
    VerifyEmail(Call<VerifyEmail>),
    /// Make an address a user's primary one.
    SetPrimaryEmail(Call<SetPrimaryEmail>),
    /// Remove a user's address.
    RemoveEmail(Call<RemoveEmail>),
    /// Set a user's password and end their other sessions.
    ChangePassword(Call<ChangePassword>),
    /// Record a link key (and queue its message).
    IssueKey(Call<IssueKey>),
    /// Use a link key, once.
    SpendKey(Call<SpendKey>),
    /// Begin a flow held by a session (and queue its message).
    StartFlow(Call<StartFlow>),
    /// Check a code entered into a flow.
    CheckCode(Call<CheckCode>),
    /// Send a flow's code anew.
    ResendCode(Call<ResendCode>),
    /// End a flow.
    EndFlow(Call<EndFlow>),
    /// Record a reauthentication.
    Reauthenticate(Call<Reauthenticate>),
    /// Record a delivery attempt's outcome.
    Mailed(Call<Mailed>),
    // --- password change and reset ---
    /// Queue a message that no key or flow goes with.
    QueueMail(Call<QueueMail>),
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

/// `AddEmail`: add `email` (normalized), unverified, to `user`, who may hold at most `max`
/// addresses (0: no limit).
pub(super) struct AddEmail {
    pub(super) user: UserId,
    pub(super) email: String,
    pub(super) max: usize,
}

impl Request for AddEmail {
    type Answer = AddEmailOutcome;
}

/// `VerifyEmail`: mark `user`'s address `email` verified; answers whether the user has it.
pub(super) struct VerifyEmail {
    pub(super) user: UserId,
    pub(super) email: String,
}

impl Request for VerifyEmail {
    type Answer = bool;
}

/// `SetPrimaryEmail`: make `email` `user`'s primary address (verified only, unless
/// `allow_unverified`).
pub(super) struct SetPrimaryEmail {
    pub(super) user: UserId,
    pub(super) email: String,
    pub(super) allow_unverified: bool,
}

impl Request for SetPrimaryEmail {
    type Answer = PrimaryOutcome;
}

/// `RemoveEmail`: remove `user`'s address `email`, unless it is the primary one.
pub(super) struct RemoveEmail {
    pub(super) user: UserId,
    pub(super) email: String,
}

impl Request for RemoveEmail {
    type Answer = RemoveEmailOutcome;
}

/// `ChangePassword`: `user`'s password becomes `password_hash`; every session of the user but
/// `keep` ends; answers how many ended.
pub(super) struct ChangePassword {
    pub(super) user: UserId,
    pub(super) password_hash: PasswordHash,
    pub(super) change: PasswordChange,
    pub(super) keep: Option<SessionHash>,
}

impl Request for ChangePassword {
    type Answer = usize;
}

/// `IssueKey`: record link key `key` for `purpose`, working for `ttl_ms`, and queue `mail`.
pub(super) struct IssueKey {
    pub(super) key: SecretDigest,
    pub(super) purpose: KeyPurpose,
    pub(super) user: UserId,
    pub(super) email: String,
    pub(super) ttl_ms: i64,
    pub(super) mail: Option<Vec<u8>>,
}

impl Request for IssueKey {
    type Answer = Option<u64>;
}

/// `SpendKey`: use link key `key` for `purpose`, once; answers what it was for.
pub(super) struct SpendKey {
    pub(super) key: SecretDigest,
    pub(super) purpose: KeyPurpose,
}

impl Request for SpendKey {
    type Answer = Option<Key>;
}

/// `StartFlow`: `holder` begins flow `kind` (replacing one of that kind), timing out after
/// `ttl_ms`, and `mail` is queued; answers the message's id.
pub(super) struct StartFlow {
    pub(super) holder: SessionHash,
    pub(super) kind: FlowKind,
    pub(super) user: Option<UserId>,
    pub(super) email: Option<String>,
    pub(super) code: Option<SecretDigest>,
    pub(super) method: AuthMethod,
    pub(super) ttl_ms: i64,
    pub(super) mail: Option<Vec<u8>>,
}

impl Request for StartFlow {
    type Answer = Option<u64>;
}

/// `CheckCode`: compare `code` with the code of `holder`'s flow `kind`; a wrong one counts,
/// and the `max_attempts`th wrong one ends the flow; a right one ends it when `consume`.
pub(super) struct CheckCode {
    pub(super) holder: SessionHash,
    pub(super) kind: FlowKind,
    pub(super) code: SecretDigest,
    pub(super) max_attempts: u32,
    pub(super) consume: bool,
}

impl Request for CheckCode {
    type Answer = CodeCheck;
}

/// `ResendCode`: `holder`'s flow `kind` gets code `code` instead, and `mail` is queued;
/// answers the message's id, or `None` when there is no such flow.
pub(super) struct ResendCode {
    pub(super) holder: SessionHash,
    pub(super) kind: FlowKind,
    pub(super) code: SecretDigest,
    pub(super) mail: Option<Vec<u8>>,
}

impl Request for ResendCode {
    type Answer = Option<Option<u64>>;
}

/// `EndFlow`: end `holder`'s flow `kind`; answers the flow it was.
pub(super) struct EndFlow {
    pub(super) holder: SessionHash,
    pub(super) kind: FlowKind,
}

impl Request for EndFlow {
    type Answer = Option<Flow>;
}

/// `Reauthenticate`: session `session` reauthenticated now by `method`; answers whether it
/// is live.
pub(super) struct Reauthenticate {
    pub(super) session: SessionHash,
    pub(super) method: AuthMethod,
}

impl Request for Reauthenticate {
    type Answer = bool;
}

/// `Mailed`: what a delivery attempt of message `mail` came to.
pub(super) struct Mailed {
    pub(super) mail: u64,
    pub(super) outcome: MailOutcome,
}

impl Request for Mailed {
    type Answer = ();
}

// --- password change and reset ---

/// `QueueMail`: queue `mail` (sealed) on its own; answers the message's id.
pub(super) struct QueueMail {
    pub(super) mail: Vec<u8>,
}

impl Request for QueueMail {
    type Answer = u64;
}
