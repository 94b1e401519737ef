//! Events: the past-tense facts that make up hallpass's state.
//!
//! Every change is one of these, appended to the log inside an [`Envelope`] and folded into
//! [`crate::state::State`]. Events carry every value the fold needs (timestamps, ids, hashes),
//! so replay needs no clock, randomness or I/O.
//!
//! No event holds a raw session key or token: sessions are named by [`SessionHash`], the
//! SHA-256 of the key, so a leaked data directory hands out no live session.
//!
//! Versioning rule: the encoding of a format version never changes. A new field or variant
//! means a new [`FORMAT_VERSION`] and a decoder branch for the old one (see [`codec`]); the
//! fixtures in `tests/fixtures/events/` must decode forever.

pub(crate) mod codec;

pub use codec::{DecodeError, EncodeError};

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::clock::Timestamp;
use crate::crypto::{self, SessionKey, sha256};

/// The format version written by this build.
///
/// - 1: the first format.
/// - 2: format 1 plus [`Event::SessionCreated`] carrying the [`AuthMethod`] (the format-1
///   variant is [`Event::SessionCreatedV1`], still decoded and folded, never written) and
///   [`Event::RefreshTokensExpired`].
/// - 3: format 2 plus [`RevokeReason::Evicted`].
/// - 4: format 3 plus the account flows: e-mail addresses and their verification, password
///   changes, link keys, code flows held by sessions, reauthentication, the mail outbox
///   ([`Event::EmailAdded`] to [`Event::MailEnded`]), [`AuthMethod::Code`] and
///   [`RevokeReason::PasswordChanged`].
pub const FORMAT_VERSION: u16 = 4;

/// The most sessions one `SessionsSeen` or `RefreshTokensExpired` event names: about 170 KB
/// encoded, far below the 1 MiB an event may take. Larger sets are written as several events.
pub(crate) const MAX_SESSIONS_PER_EVENT: usize = 4096;

/// How the user authenticated when a session began: what allauth lists as the session's
/// `methods`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuthMethod {
    /// Not recorded: sessions from format 1, or created through the library without saying.
    #[default]
    Unknown,
    /// Signed up: allauth lists no method (`methods: []`).
    SignUp,
    /// Logged in with e-mail and password (`{"method": "password", "at", "email"}`).
    Password,
    /// Logged in with a code sent by e-mail (`{"method": "code", "at", "email"}`; format 4 on).
    Code,
    /// Logged in by resetting the password (`ACCOUNT_LOGIN_ON_PASSWORD_RESET`;
    /// `{"method": "password_reset", "at"}`; format 4 on).
    PasswordReset,
}

/// A position in the log.
///
/// Invariant: strictly increasing across the log and never reused, even after a crash or a
/// failed append (a failed batch leaves a gap).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Seq(pub u64);

impl Seq {
    /// The position after this one.
    pub const fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A user's id: a positive integer, assigned in sign-up order, as Django's auto primary key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// SHA-256 of a session key: how the log, snapshots and indexes name a session.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionHash(pub [u8; 32]);

/// Hashes as its first 8 bytes, one `write_u64`: the value is already a uniform SHA-256, so the
/// state's identity hasher uses those bits as they are (no second hashing round), and a table's
/// bucket is the prefix's low bits, which is the order snapshots are written and loaded in.
/// Keys are server-generated, so nobody outside chooses where a session lands.
impl std::hash::Hash for SessionHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.prefix())
    }
}

impl SessionHash {
    /// The hash of a session key: how the log, snapshots and indexes name its session.
    pub fn of(key: &SessionKey) -> SessionHash {
        SessionHash(key.digest())
    }

    /// The hash of a presented token's text, as [`SessionHash::of`] its key (without copying
    /// the token into a [`SessionKey`] first).
    pub fn of_presented(token: &str) -> SessionHash {
        SessionHash(sha256(token.as_bytes()))
    }

    /// The first 8 bytes, little-endian: what [`Hash`](std::hash::Hash) feeds the hasher.
    pub fn prefix(&self) -> u64 {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(prefix)
    }
}

impl fmt::Debug for SessionHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell sessions apart in logs and assertions.
        write!(
            f,
            "SessionHash({:02x}{:02x}{:02x}{:02x}..)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A refresh token's `jti` (a UUID v4), as 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Jti(pub [u8; 16]);

impl Jti {
    /// A fresh random UUID v4.
    pub fn random() -> Jti {
        Jti(crypto::uuid_v4())
    }

    /// Parses the hyphenated UUID string form used in the `jti` claim.
    pub fn parse(s: &str) -> Option<Jti> {
        uuid::Uuid::try_parse(s).ok().map(|u| Jti(*u.as_bytes()))
    }
}

impl fmt::Display for Jti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&uuid::Uuid::from_bytes(self.0).hyphenated(), f)
    }
}

/// A user's password hash: an argon2id PHC string (or, imported, another hasher's), or empty
/// for a user without a usable password (Django's `set_unusable_password`).
///
/// Secret-adjacent: its `Debug` is redacted, its memory wiped on drop, and its text is read
/// only by the password-verification path (`accounts::password`). Encoded exactly as the
/// `String` it wraps, so the event and snapshot formats are unchanged.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// No usable password: every password check fails.
    pub fn unusable() -> PasswordHash {
        PasswordHash(String::new())
    }

    /// Wraps a PHC string produced by a password hasher (an argon2id one verifies; anything
    /// else never matches), or the empty string for no usable password.
    pub fn from_phc(phc: String) -> PasswordHash {
        PasswordHash(phc)
    }

    /// The PHC string's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether a password can match (Django's `has_usable_password`).
    pub fn is_usable(&self) -> bool {
        !self.0.is_empty()
    }

    /// The PHC string, for the verification path only.
    pub(crate) fn phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.is_usable() {
            true => f.write_str("PasswordHash(<redacted>)"),
            false => f.write_str("PasswordHash(<unusable>)"),
        }
    }
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RevokeReason {
    /// The user logged out (`DELETE auth/session`).
    Logout,
    /// The user (or an operator) ended all sessions, or all but the current one.
    RevokeAll,
    /// The session's lifetime ran out and a sweep pruned it.
    Expired,
    /// A rotated-out refresh token was presented after the grace window (RFC 9700 4.14.2).
    ReuseDetected,
    /// An operator revoked it (CLI or library call).
    Admin,
    /// The user deleted this session from their session list (`DELETE auth/sessions`).
    UserRequest,
    /// The user had as many sessions as they may, and a new one began: the oldest ended
    /// (format 3 on).
    Evicted,
    /// The user's password was changed or reset: their other sessions end, as allauth 65.19
    /// ends them (format 4 on).
    PasswordChanged,
}

/// The keyed digest of a code or link key: what the log stores instead of the secret.
///
/// The caller computes it (HMAC-SHA-256 under a key derived from `SECRET_KEY`, so a copy of
/// the data directory does not let anyone test guesses of a six-character code offline); the
/// engine only compares digests, in constant time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretDigest(pub [u8; 32]);

impl SecretDigest {
    /// Whether `self` and `other` are equal, in time independent of where they differ.
    pub fn matches(&self, other: &SecretDigest) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(<redacted>)")
    }
}

/// What a link key sent by e-mail lets its holder do (format 4 on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum KeyPurpose {
    /// Verify the address it was sent to (`auth/email/verify`).
    VerifyEmail,
    /// Set a new password (`auth/password/reset`).
    ResetPassword,
}

/// A flow in progress that a session holds, as allauth keeps them in the Django session: a
/// session may be anonymous (a pending session token) or authenticated (format 4 on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FlowKind {
    /// Sign-up or login authenticated the user, but the address must be verified first
    /// (mandatory verification: allauth's `verify_email` stage); holds the code when
    /// verification is by code.
    LoginVerifyEmail,
    /// Verifying an address by code while signed in (an added address).
    VerifyEmail,
    /// Login by code (`login_by_code`).
    LoginByCode,
    /// Password reset by code (`password_reset_by_code`).
    PasswordResetByCode,
    /// Reauthentication by code (`reauthenticate` with a code).
    ReauthenticateByCode,
    /// The anonymous session itself (allauth's Django session without a user), begun with its
    /// first flow: while it lasts, its token answers 401 (not 410) after its other flows end,
    /// until the client ends it with `DELETE auth/session`.
    AnonymousSession,
}

/// How a password came to change (format 4 on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PasswordChange {
    /// The user changed it, giving the current one (`account/password/change`).
    Changed,
    /// The user set one, having none usable.
    Set,
    /// The user reset it with a key or code.
    Reset,
}

/// A state change, in the past tense.
///
/// Appending a variant is a format change: bump [`FORMAT_VERSION`] (bincode encodes the
/// variant index, so order matters and existing variants never move).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    /// A user signed up with e-mail and password.
    UserSignedUp {
        /// The new user's id (one more than the highest so far).
        user: UserId,
        /// The e-mail address, normalized (see `accounts`).
        email: String,
        /// The username, unique, derived from the e-mail's local part.
        username: String,
        /// The argon2id PHC string; empty when the user has no usable password.
        password_hash: PasswordHash,
    },
    /// A session began (format 1: without the authentication method).
    SessionCreatedV1 {
        /// SHA-256 of the session key.
        session: SessionHash,
        /// Whose session it is.
        user: UserId,
        /// When it stops being valid (creation time + `SESSION_COOKIE_AGE`).
        expires_at: Timestamp,
        /// The client's `User-Agent`, truncated, where known.
        user_agent: Option<String>,
        /// The client's IP address as text, where known.
        ip: Option<String>,
        /// A first refresh token issued with the session (JWT strategy), and its expiry.
        refresh: Option<(Jti, Timestamp)>,
    },
    /// A session ended, and every token hanging off it with it.
    SessionRevoked {
        /// The session.
        session: SessionHash,
        /// Why.
        reason: RevokeReason,
    },
    /// A refresh token was rotated: `old` is gone, `new` is live until `expires_at`.
    RefreshRotated {
        /// The session both tokens belong to.
        session: SessionHash,
        /// The `jti` presented and now rotated out.
        old: Jti,
        /// The successor's `jti`.
        new: Jti,
        /// The successor's expiry.
        expires_at: Timestamp,
    },
    /// Sessions last seen at these times (coalesced; at most about once a minute per session).
    SessionsSeen {
        /// Session and the latest time it authenticated a request.
        seen: Vec<(SessionHash, Timestamp)>,
    },
    /// Everything that expired at or before `now` was pruned: sessions past their lifetime and
    /// refresh tokens past their `exp`. Folded from logs of earlier builds; this build sweeps
    /// with one [`Event::SessionRevoked`] (reason [`RevokeReason::Expired`]) per session, so
    /// the fold's cost is the expired sessions, not all of them.
    ExpiredSwept {
        /// The sweep's cut-off.
        now: Timestamp,
    },
    /// A session began (format 2 on).
    SessionCreated {
        /// SHA-256 of the session key.
        session: SessionHash,
        /// Whose session it is.
        user: UserId,
        /// When it stops being valid (creation time + `SESSION_COOKIE_AGE`).
        expires_at: Timestamp,
        /// The client's `User-Agent`, truncated, where known.
        user_agent: Option<String>,
        /// The client's IP address as text, where known.
        ip: Option<String>,
        /// A first refresh token issued with the session (JWT strategy), and its expiry.
        refresh: Option<(Jti, Timestamp)>,
        /// How the user authenticated.
        method: AuthMethod,
    },
    /// The refresh tokens of these sessions whose `exp` is at or before `now` were pruned, and
    /// rotations older than the grace window forgotten (format 2 on; a sweep writes it with
    /// the sessions it found, so folding it costs those sessions, not all of them).
    RefreshTokensExpired {
        /// Sessions holding a refresh token expired at `now`.
        sessions: Vec<SessionHash>,
        /// The sweep's cut-off.
        now: Timestamp,
    },
    /// A user added an address, unverified and not primary (format 4 on).
    EmailAdded {
        /// Whose.
        user: UserId,
        /// Normalized.
        email: String,
    },
    /// One of a user's addresses was verified (format 4 on).
    EmailVerified {
        /// Whose.
        user: UserId,
        /// Normalized.
        email: String,
    },
    /// One of a user's addresses became the primary one (format 4 on).
    PrimaryEmailSet {
        /// Whose.
        user: UserId,
        /// Normalized.
        email: String,
    },
    /// A user removed one of their addresses, not the primary one (format 4 on).
    EmailRemoved {
        /// Whose.
        user: UserId,
        /// Normalized.
        email: String,
    },
    /// A user's password changed; their outstanding reset keys stop working (format 4 on).
    PasswordChanged {
        /// Whose.
        user: UserId,
        /// The new hash (empty: no usable password).
        password_hash: PasswordHash,
        /// How.
        change: PasswordChange,
    },
    /// A link key was sent: its digest works once, until `expires_at` (format 4 on).
    KeyIssued {
        /// The key's digest.
        key: SecretDigest,
        /// What it does.
        purpose: KeyPurpose,
        /// For whom.
        user: UserId,
        /// The address it was sent to, normalized.
        email: String,
        /// When it stops working.
        expires_at: Timestamp,
    },
    /// A link key was used (format 4 on).
    KeySpent {
        /// The key's digest.
        key: SecretDigest,
    },
    /// Session `holder` began a flow, replacing one of the same kind it held (format 4 on).
    FlowStarted {
        /// The session holding it: an anonymous (pending) or an authenticated one.
        holder: SessionHash,
        /// Which flow.
        kind: FlowKind,
        /// The user it concerns, when known (a login by code for an unknown address has none,
        /// so that it answers as a known one).
        user: Option<UserId>,
        /// The address it concerns, normalized, when there is one.
        email: Option<String>,
        /// The digest of the code sent, for flows by code.
        code: Option<SecretDigest>,
        /// How the user authenticated so far ([`FlowKind::LoginVerifyEmail`]).
        method: AuthMethod,
        /// When the flow times out.
        expires_at: Timestamp,
    },
    /// A wrong code was entered into a flow (format 4 on).
    FlowAttemptFailed {
        /// The session holding it.
        holder: SessionHash,
        /// Which flow.
        kind: FlowKind,
    },
    /// A flow's code was sent anew: the old one stops working (format 4 on).
    FlowCodeResent {
        /// The session holding it.
        holder: SessionHash,
        /// Which flow.
        kind: FlowKind,
        /// The new code's digest.
        code: SecretDigest,
    },
    /// A flow ended: completed, aborted, out of attempts or timed out (format 4 on).
    FlowEnded {
        /// The session holding it.
        holder: SessionHash,
        /// Which flow.
        kind: FlowKind,
    },
    /// A session's user proved again who they are, at the envelope's time (format 4 on).
    SessionReauthenticated {
        /// The session.
        session: SessionHash,
        /// How.
        method: AuthMethod,
    },
    /// A message was accepted for delivery: it is sent even if the process dies first
    /// (format 4 on).
    MailQueued {
        /// Its number, one more than the last.
        mail: u64,
        /// Recipient, subject and body, encrypted and authenticated under a key derived from
        /// `SECRET_KEY` (the body may hold a code or a link key).
        sealed: Vec<u8>,
    },
    /// A delivery attempt failed; it will be retried (format 4 on).
    MailAttemptFailed {
        /// Its number.
        mail: u64,
    },
    /// A message left the outbox: delivered, or given up after its attempts (format 4 on).
    MailEnded {
        /// Its number.
        mail: u64,
        /// Whether it was delivered.
        sent: bool,
    },
}

impl Event {
    /// The first format version that has this event's variant.
    pub fn since_version(&self) -> u16 {
        match self {
            Event::SessionRevoked {
                reason: RevokeReason::PasswordChanged,
                ..
            }
            | Event::SessionCreated {
                method: AuthMethod::Code | AuthMethod::PasswordReset,
                ..
            }
            | Event::EmailAdded { .. }
            | Event::EmailVerified { .. }
            | Event::PrimaryEmailSet { .. }
            | Event::EmailRemoved { .. }
            | Event::PasswordChanged { .. }
            | Event::KeyIssued { .. }
            | Event::KeySpent { .. }
            | Event::FlowStarted { .. }
            | Event::FlowAttemptFailed { .. }
            | Event::FlowCodeResent { .. }
            | Event::FlowEnded { .. }
            | Event::SessionReauthenticated { .. }
            | Event::MailQueued { .. }
            | Event::MailAttemptFailed { .. }
            | Event::MailEnded { .. } => 4,
            Event::SessionRevoked {
                reason: RevokeReason::Evicted,
                ..
            } => 3,
            Event::SessionCreated { .. } | Event::RefreshTokensExpired { .. } => 2,
            _ => 1,
        }
    }
}

/// An event in the log: format version, position, time of the write, and the event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The format version the event was encoded with.
    pub version: u16,
    /// The event's position in the log.
    pub seq: Seq,
    /// When the writer accepted the event; the fold's only notion of "now".
    pub at: Timestamp,
    /// The fact itself.
    pub event: Event,
}
