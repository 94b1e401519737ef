//! The in-memory state: a pure fold of the event log.
//!
//! [`State::apply`] is the only function that changes state. It reads no clock, no randomness
//! and does no I/O — every such value is already in the event — so replaying the log rebuilds
//! exactly the live state (invariant 4 in `ARCHITECTURE.md`). The engine holds the state
//! behind a `parking_lot::RwLock`: readers share it, the writer thread takes the write lock
//! only to apply a batch that is already durable.
//!
//! Reads take the current time as a parameter: a session whose `expires_at` has passed is
//! invisible to every read at once, even before a sweep prunes it.

mod account;
mod addresses;
mod flows;
mod outbox;
mod session;
mod snapshot;

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::clock::Timestamp;
use crate::event::{
    AuthMethod, Envelope, Event, FlowKind, Jti, KeyPurpose, SecretDigest, Seq, SessionHash, UserId,
};
use crate::hashing::{IdentityHasher, UserIdHasher};

pub(crate) use account::Account;
pub use account::User;
pub use addresses::EmailAddress;
pub use flows::{Flow, Key};
pub use outbox::Mail;

use addresses::AddressBooks;
use flows::{Flows, Keys};
use outbox::Outbox;
pub use session::{RefreshTokens, Session};
pub use snapshot::SnapshotError;

use session::{Origin, Strings};

/// A map keyed by user id.
type UserMap<V> = HashMap<UserId, V, BuildHasherDefault<UserIdHasher>>;

/// One user's sessions: a set, so that ending one costs O(1) however many the user has (a list
/// scanned on removal made ending a user's n sessions O(n^2) under the write lock).
type UserSessions = HashSet<SessionHash, BuildHasherDefault<IdentityHasher>>;

/// What [`State::expired`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expired {
    /// Sessions past their lifetime.
    pub sessions: Vec<SessionHash>,
    /// Live sessions holding a refresh token past its `exp`.
    pub refresh: Vec<SessionHash>,
}

/// A refresh token rotated out recently: which session, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The session the token belonged to.
    pub session: SessionHash,
    /// When it was rotated out.
    pub at: Timestamp,
}

/// Sessions by key hash, hashed by the hash's own first bytes.
type SessionTable = HashMap<SessionHash, Session, BuildHasherDefault<IdentityHasher>>;

/// Everything the log says, folded.
///
/// Equality is semantic ([`State::first_difference`] is empty): the order inside the per-user
/// session lists does not count.
#[derive(Debug)]
pub struct State {
    users: UserMap<Account>,
    by_email: HashMap<String, UserId>,
    by_username: HashMap<String, UserId>,
    sessions: SessionTable,
    by_user: UserMap<UserSessions>,
    /// Refresh tokens rotated out within the last grace window: tells a retry (plain 400
    /// after a restart) from a reuse (revocation). Bounded by rotations per grace window.
    recent_rotations: HashMap<Jti, Rotation>,
    rotation_order: VecDeque<(Timestamp, Jti)>,
    next_session_no: u64,
    /// The highest user id so far; the next sign-up gets one more.
    max_user: u64,
    last_seq: Seq,
    grace_ms: i64,
    /// User agents and IPs shared by sessions.
    strings: Strings,
    /// Users' addresses beyond the implied sign-up one (format 4).
    addresses: AddressBooks,
    /// Flows sessions hold (format 4).
    flows: Flows,
    /// Link keys not yet used (format 4).
    keys: Keys,
    /// When and how sessions reauthenticated, latest last, at most
    /// [`MAX_REAUTHENTICATIONS`] each (format 4).
    reauthenticated: HashMap<SessionHash, Vec<(AuthMethod, Timestamp)>>,
    /// Messages waiting for delivery (format 4).
    outbox: Outbox,
}

/// The reauthentications a session remembers: allauth lists every one in the session's
/// `methods`; only the latest matters for `ACCOUNT_REAUTHENTICATION_TIMEOUT`.
const MAX_REAUTHENTICATIONS: usize = 8;

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.first_difference(other).is_none()
    }
}

impl State {
    /// An empty state; `grace_ms` is how long rotated-out refresh tokens are remembered.
    pub fn new(grace_ms: i64) -> State {
        State {
            users: UserMap::default(),
            by_email: HashMap::new(),
            by_username: HashMap::new(),
            sessions: HashMap::default(),
            by_user: UserMap::default(),
            recent_rotations: HashMap::new(),
            rotation_order: VecDeque::new(),
            next_session_no: 1,
            max_user: 0,
            last_seq: Seq(0),
            grace_ms: grace_ms.max(0),
            strings: Strings::default(),
            addresses: AddressBooks::default(),
            flows: Flows::default(),
            keys: Keys::default(),
            reauthenticated: HashMap::new(),
            outbox: Outbox::default(),
        }
    }

    /// Folds one event in. Total: never fails and never panics, whatever the event says.
    pub fn apply(&mut self, envelope: &Envelope) {
        self.last_seq = self.last_seq.max(envelope.seq);
        let at = envelope.at;
        match &envelope.event {
            Event::UserSignedUp {
                user,
                email,
                username,
                password_hash,
            } => {
                self.max_user = self.max_user.max(user.0);
                self.by_email.insert(email.clone(), *user);
                self.by_username.insert(username.clone(), *user);
                self.users.insert(
                    *user,
                    Account {
                        id: *user,
                        email: email.clone(),
                        username: username.clone(),
                        password_hash: password_hash.clone(),
                    },
                );
            }
            Event::SessionCreatedV1 {
                session,
                user,
                expires_at,
                user_agent,
                ip,
                refresh,
            } => {
                let origin =
                    self.strings
                        .origin(user_agent.as_deref(), ip.as_deref(), AuthMethod::Unknown);
                self.create_session(*session, *user, at, *expires_at, origin, *refresh);
            }
            Event::SessionCreated {
                session,
                user,
                expires_at,
                user_agent,
                ip,
                refresh,
                method,
            } => {
                let origin = self
                    .strings
                    .origin(user_agent.as_deref(), ip.as_deref(), *method);
                self.create_session(*session, *user, at, *expires_at, origin, *refresh);
            }
            Event::SessionRevoked { session, .. } => self.remove_session(session),
            Event::RefreshRotated {
                session,
                old,
                new,
                expires_at,
            } => {
                if let Some(s) = self.sessions.get_mut(session) {
                    s.refresh.retain(|(j, _)| j != old);
                    s.refresh.push((*new, *expires_at));
                }
                self.recent_rotations.insert(
                    *old,
                    Rotation {
                        session: *session,
                        at,
                    },
                );
                self.rotation_order.push_back((at, *old));
                self.prune_rotations(at);
            }
            Event::SessionsSeen { seen } => {
                for (session, when) in seen {
                    if let Some(s) = self.sessions.get(session) {
                        s.seen.fetch_max(when.as_millis(), Ordering::Relaxed);
                    }
                }
            }
            Event::ExpiredSwept { now } => self.sweep(*now),
            Event::RefreshTokensExpired { sessions, now } => {
                for hash in sessions {
                    if let Some(s) = self.sessions.get_mut(hash) {
                        s.refresh.retain(|(_, exp)| exp > now);
                    }
                }
                self.prune_rotations(*now);
            }
            Event::EmailAdded { user, email } => {
                if let Some(account) = self.users.get(user)
                    && !self.by_email.contains_key(email)
                {
                    self.addresses.add(account, email);
                    self.by_email.insert(email.clone(), *user);
                }
            }
            Event::EmailVerified { user, email } => {
                if let Some(account) = self.users.get(user) {
                    self.addresses.verify(account, email);
                }
            }
            Event::PrimaryEmailSet { user, email } => {
                if let Some(account) = self.users.get_mut(user)
                    && self.addresses.set_primary(account, email)
                {
                    account.email = email.clone();
                }
            }
            Event::EmailRemoved { user, email } => {
                if let Some(account) = self.users.get(user)
                    && self.addresses.remove(account, email)
                    && self.by_email.get(email) == Some(user)
                {
                    self.by_email.remove(email);
                }
            }
            Event::PasswordChanged {
                user,
                password_hash,
                ..
            } => {
                if let Some(account) = self.users.get_mut(user) {
                    account.password_hash = password_hash.clone();
                    self.keys.void(*user, KeyPurpose::ResetPassword);
                }
            }
            Event::KeyIssued {
                key,
                purpose,
                user,
                email,
                expires_at,
            } => self.keys.issue(
                *key,
                Key {
                    purpose: *purpose,
                    user: *user,
                    email: email.clone(),
                    expires_at: *expires_at,
                },
            ),
            Event::KeySpent { key } => self.keys.spend(key),
            Event::FlowStarted {
                holder,
                kind,
                user,
                email,
                code,
                method,
                expires_at,
            } => self.flows.start(
                *holder,
                Flow {
                    kind: *kind,
                    user: *user,
                    email: email.clone(),
                    code: *code,
                    method: *method,
                    started_at: at,
                    expires_at: *expires_at,
                    failed_attempts: 0,
                    resends: 0,
                },
            ),
            Event::FlowAttemptFailed { holder, kind } => self.flows.attempt_failed(holder, *kind),
            Event::FlowCodeResent { holder, kind, code } => {
                self.flows.code_resent(holder, *kind, *code)
            }
            Event::FlowEnded { holder, kind } => self.flows.end(holder, *kind),
            Event::SessionReauthenticated { session, method } => {
                if self.sessions.contains_key(session) {
                    let list = self.reauthenticated.entry(*session).or_default();
                    list.push((*method, at));
                    if list.len() > MAX_REAUTHENTICATIONS {
                        list.remove(0);
                    }
                }
            }
            Event::MailQueued { mail, sealed } => self.outbox.queue(*mail, sealed.clone(), at),
            Event::MailAttemptFailed { mail } => self.outbox.attempt_failed(*mail),
            Event::MailEnded { mail, .. } => self.outbox.end(*mail),
        }
    }

    /// The live session `hash`, if it exists and has not expired at `now`.
    pub fn session(&self, hash: &SessionHash, now: Timestamp) -> Option<&Session> {
        self.sessions.get(hash).filter(|s| s.expires_at > now)
    }

    /// A user by id.
    pub(crate) fn user(&self, id: UserId) -> Option<&Account> {
        self.users.get(&id)
    }

    /// A user by normalized e-mail address.
    pub(crate) fn user_by_email(&self, email: &str) -> Option<&Account> {
        self.by_email.get(email).and_then(|id| self.users.get(id))
    }

    /// `user`'s e-mail addresses, primary first; empty for an unknown user.
    pub fn email_addresses(&self, user: UserId) -> Vec<EmailAddress> {
        self.users
            .get(&user)
            .map(|a| self.addresses.of(a))
            .unwrap_or_default()
    }

    /// `user`'s address `email`, if they have it.
    pub fn email_address(&self, user: UserId, email: &str) -> Option<EmailAddress> {
        self.users
            .get(&user)
            .and_then(|a| self.addresses.find(a, email))
    }

    /// Who has address `email` (any of their addresses, verified or not).
    pub fn email_owner(&self, email: &str) -> Option<UserId> {
        self.by_email.get(email).copied()
    }

    /// The flows `holder` holds that have not timed out at `now`.
    pub fn flows(&self, holder: &SessionHash, now: Timestamp) -> Vec<Flow> {
        self.flows.of(holder, now)
    }

    /// `holder`'s flow of `kind`, if it has not timed out at `now`.
    pub fn flow(&self, holder: &SessionHash, kind: FlowKind, now: Timestamp) -> Option<&Flow> {
        self.flows.get(holder, kind, now)
    }

    /// Whether `holder` holds a flow that has not timed out at `now` (a pending session).
    pub fn holds_flow(&self, holder: &SessionHash, now: Timestamp) -> bool {
        self.flows.holds_any(holder, now)
    }

    /// The unused key with `digest` for `purpose`, if it works at `now`.
    pub fn key(&self, digest: &SecretDigest, purpose: KeyPurpose, now: Timestamp) -> Option<&Key> {
        self.keys.get(digest, purpose, now)
    }

    /// When and how session `hash` reauthenticated, latest last.
    pub fn reauthentications(&self, hash: &SessionHash) -> &[(AuthMethod, Timestamp)] {
        self.reauthenticated.get(hash).map_or(&[], Vec::as_slice)
    }

    /// The messages waiting for delivery, oldest first.
    pub fn outbox(&self) -> Vec<Mail> {
        self.outbox.waiting()
    }

    /// Whether message `id` waits for delivery.
    pub fn mail_waits(&self, id: u64) -> bool {
        self.outbox.holds(id)
    }

    /// The id the next queued message gets.
    pub fn next_mail_id(&self) -> u64 {
        self.outbox.next_id()
    }

    /// Flows and keys that have timed out at `now`, for a sweep to end.
    pub fn expired_flows_and_keys(
        &self,
        now: Timestamp,
    ) -> (Vec<(SessionHash, FlowKind)>, Vec<SecretDigest>) {
        (self.flows.expired(now), self.keys.expired(now))
    }

    /// How many flows, keys and waiting messages are held.
    pub fn flow_key_mail_counts(&self) -> (usize, usize, usize) {
        (self.flows.len(), self.keys.len(), self.outbox.len())
    }

    /// Whether `username` is taken.
    pub fn username_taken(&self, username: &str) -> bool {
        self.by_username.contains_key(username)
    }

    /// The highest user id so far (0 when there are none).
    pub fn max_user_id(&self) -> u64 {
        self.max_user
    }

    /// The live sessions of `user` at `now`, oldest first.
    pub fn user_sessions(&self, user: UserId, now: Timestamp) -> Vec<(SessionHash, &Session)> {
        let mut out: Vec<(SessionHash, &Session)> = self
            .by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|h| self.session(h, now).map(|s| (*h, s)))
            .collect();
        out.sort_by_key(|(_, s)| s.no);
        out
    }

    /// The rotation that took refresh token `jti` out, if within the grace window.
    pub fn recent_rotation(&self, jti: &Jti) -> Option<Rotation> {
        self.recent_rotations.get(jti).copied()
    }

    /// What a sweep at `now` prunes, in no particular order: the sessions whose lifetime has
    /// ended (still held, invisible to reads, until the sweep revokes them), and the live ones
    /// holding an expired refresh token. One scan of every session.
    pub fn expired(&self, now: Timestamp) -> Expired {
        let mut out = Expired::default();
        for (hash, s) in &self.sessions {
            if s.expires_at <= now {
                out.sessions.push(*hash);
            } else if s.refresh.iter().any(|(_, exp)| *exp <= now) {
                out.refresh.push(*hash);
            }
        }
        out
    }

    /// Whether rotations older than the grace window are remembered at `now`.
    pub fn has_stale_rotations(&self, now: Timestamp) -> bool {
        self.rotation_order
            .front()
            .is_some_and(|(at, _)| at.plus_millis(self.grace_ms) < now)
    }

    /// Whether anything has expired at `now` that an `ExpiredSwept` event would prune.
    pub fn has_expired(&self, now: Timestamp) -> bool {
        self.sessions
            .values()
            .any(|s| s.expires_at <= now || s.refresh.iter().any(|(_, exp)| *exp <= now))
            || self
                .rotation_order
                .front()
                .is_some_and(|(at, _)| at.plus_millis(self.grace_ms) < now)
    }

    /// The position of the last event folded in.
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// The number the next created session will get.
    pub fn next_session_no(&self) -> u64 {
        self.next_session_no
    }

    /// How many sessions are held (including expired ones not yet swept).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// How many users exist.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// How many refresh tokens are held across all sessions.
    pub fn refresh_token_count(&self) -> usize {
        self.sessions.values().map(|s| s.refresh.len()).sum()
    }

    /// How many rotated-out tokens are remembered for the grace window.
    pub fn recent_rotation_count(&self) -> usize {
        self.recent_rotations.len()
    }

    /// The session numbered `no`, if live at `now`.
    pub fn session_by_no(&self, user: UserId, no: u64, now: Timestamp) -> Option<SessionHash> {
        self.user_sessions(user, now)
            .into_iter()
            .find(|(_, s)| s.no == no)
            .map(|(h, _)| h)
    }

    /// The first difference between two states, described; `None` when they are equal.
    ///
    /// For tests of the replay invariant: readable where `assert_eq!` on hash maps is not.
    pub fn first_difference(&self, other: &State) -> Option<String> {
        if self.last_seq != other.last_seq {
            return Some(format!("last_seq {} vs {}", self.last_seq, other.last_seq));
        }
        if self.next_session_no != other.next_session_no {
            return Some(format!(
                "next_session_no {} vs {}",
                self.next_session_no, other.next_session_no
            ));
        }
        for (id, user) in &self.users {
            if other.users.get(id) != Some(user) {
                return Some(format!("user {id}: {user:?} vs {:?}", other.users.get(id)));
            }
        }
        if self.users.len() != other.users.len() {
            return Some(format!(
                "{} users vs {}",
                self.users.len(),
                other.users.len()
            ));
        }
        for (hash, session) in &self.sessions {
            if other.sessions.get(hash) != Some(session) {
                return Some(format!(
                    "session {hash:?}: {session:?} vs {:?}",
                    other.sessions.get(hash)
                ));
            }
        }
        if self.sessions.len() != other.sessions.len() {
            return Some(format!(
                "{} sessions vs {}",
                self.sessions.len(),
                other.sessions.len()
            ));
        }
        let sorted = |m: &UserMap<UserSessions>| {
            let mut v: Vec<(UserId, Vec<SessionHash>)> = m
                .iter()
                .map(|(u, set)| {
                    let mut l: Vec<SessionHash> = set.iter().copied().collect();
                    l.sort();
                    (*u, l)
                })
                .collect();
            v.sort();
            v
        };
        if sorted(&self.by_user) != sorted(&other.by_user) {
            return Some("by_user index differs".into());
        }
        if self.by_email != other.by_email || self.by_username != other.by_username {
            return Some("e-mail or username index differs".into());
        }
        if self.recent_rotations != other.recent_rotations
            || self.rotation_order != other.rotation_order
        {
            return Some(format!(
                "recent rotations {:?} vs {:?}",
                self.rotation_order, other.rotation_order
            ));
        }
        if self.max_user != other.max_user || self.grace_ms != other.grace_ms {
            return Some(format!("max_user {} vs {}", self.max_user, other.max_user));
        }
        if self.addresses != other.addresses {
            return Some(format!(
                "address books {:?} vs {:?}",
                self.addresses.explicit(),
                other.addresses.explicit()
            ));
        }
        if self.flows != other.flows {
            return Some(format!(
                "flows {:?} vs {:?}",
                self.flows.all(),
                other.flows.all()
            ));
        }
        if self.keys != other.keys {
            return Some(format!("{} keys vs {}", self.keys.len(), other.keys.len()));
        }
        if self.reauthenticated != other.reauthenticated {
            return Some("reauthentications differ".into());
        }
        if self.outbox != other.outbox {
            return Some(format!(
                "outbox {:?} vs {:?}",
                self.outbox.parts().0,
                other.outbox.parts().0
            ));
        }
        None
    }

    fn create_session(
        &mut self,
        hash: SessionHash,
        user: UserId,
        at: Timestamp,
        expires_at: Timestamp,
        origin: Option<Box<Origin>>,
        refresh: Option<(Jti, Timestamp)>,
    ) {
        let no = self.next_session_no;
        self.next_session_no += 1;
        let record = Session {
            no,
            user,
            created_at: at,
            expires_at,
            seen: AtomicI64::new(at.as_millis()),
            origin,
            refresh: refresh.map_or_else(RefreshTokens::default, RefreshTokens::one),
        };
        self.insert_session(hash, record);
    }

    fn insert_session(&mut self, hash: SessionHash, session: Session) {
        let user = session.user;
        if self.sessions.insert(hash, session).is_none() {
            // Unordered: O(1) per session however many a user has; equality sorts a copy.
            self.by_user.entry(user).or_default().insert(hash);
        }
    }

    fn remove_session(&mut self, hash: &SessionHash) {
        self.flows.end_all(hash);
        self.reauthenticated.remove(hash);
        let Some(session) = self.sessions.remove(hash) else {
            return;
        };
        if let Some(origin) = &session.origin {
            self.strings.release(origin);
        }
        if let Some(set) = self.by_user.get_mut(&session.user) {
            set.remove(hash);
            if set.is_empty() {
                self.by_user.remove(&session.user);
            }
        }
    }

    fn sweep(&mut self, now: Timestamp) {
        let expired: Vec<SessionHash> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.expires_at <= now)
            .map(|(h, _)| *h)
            .collect();
        for hash in &expired {
            self.remove_session(hash);
        }
        for session in self.sessions.values_mut() {
            session.refresh.retain(|(_, exp)| *exp > now);
        }
        self.prune_rotations(now);
    }

    fn prune_rotations(&mut self, now: Timestamp) {
        while let Some((at, jti)) = self.rotation_order.front().copied() {
            if at.plus_millis(self.grace_ms) >= now {
                break;
            }
            self.rotation_order.pop_front();
            // A jti is rotated out once; the map entry is this queue entry's.
            if self.recent_rotations.get(&jti).is_some_and(|r| r.at == at) {
                self.recent_rotations.remove(&jti);
            }
        }
    }
}
