//! Planning: one command checked against the state and the batch's overlay, into events and an
//! answer. Pure: no I/O, no counters, no logs (those follow the commit, from the events), and
//! nothing changes but the overlay. The one random choice is a username's suffix after ten
//! thousand taken names.

mod accounts;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::engine::protocol::{
    Call, Command, CreateSession, Created, Reply, Request, Revoke, RevokeNos, RevokeUser, Rotate,
    SignUp, Sweep,
};
use crate::engine::types::{
    EngineConfig, EngineError, RevokeSessionsOutcome, RotateOutcome, SessionInfo, Successor,
};
use crate::engine::username::unique_username;
use crate::event::{
    Event, FlowKind, Jti, MAX_SESSIONS_PER_EVENT, RevokeReason, SessionHash, UserId,
};
use crate::state::{EmailAddress, Flow, State, User};
use crate::store::StoreError;

/// What planning a command sees: the state under the read lock, what earlier commands of the
/// same batch will do, the batch's time, and the writer's settings and grace cache.
pub(super) struct Context<'a> {
    /// The state before this batch.
    pub(super) state: &'a State,
    /// The effects of the batch's earlier commands.
    pub(super) overlay: &'a mut Overlay,
    /// The batch's time (one clock read per batch).
    pub(super) now: Timestamp,
    /// The engine's settings.
    pub(super) config: &'a EngineConfig,
    /// Successors of rotations within the grace window, by the rotated-out `jti`.
    pub(super) grace: &'a HashMap<Jti, Grace>,
}

/// A rotation within the grace window, as the writer remembers it (in memory only: after a
/// restart a retry gets a plain rejection, never a revocation).
pub(super) struct Grace {
    /// When the token was rotated out.
    pub(super) at: Timestamp,
    /// The pair its rotation issued.
    pub(super) successor: Arc<Successor>,
    /// How many times the pair was handed out again since.
    pub(super) replays: u32,
}

/// What earlier commands of the batch being planned will do once it is durable.
#[derive(Default)]
pub(super) struct Overlay {
    emails: HashSet<String>,
    usernames: HashSet<String>,
    users: HashSet<UserId>,
    /// The next user id (set from the state when the batch starts).
    pub(super) next_user: u64,
    /// Sessions the batch creates: their user and number.
    created: HashMap<SessionHash, (UserId, u64)>,
    /// Sessions the batch ends.
    pub(super) revoked: HashSet<SessionHash>,
    /// Refresh tokens the batch rotates, and their successors: kept for the grace window once
    /// the batch commits.
    pub(super) rotated: HashMap<Jti, Arc<Successor>>,
    /// Rotated-out tokens the batch answers with their successor again, and how many times:
    /// added to their grace entries once the batch commits.
    pub(super) replays: HashMap<Jti, u32>,
    next_session_no: u64,
    /// Whether the batch persists pending last-seen times (a sweep or a shutdown asked).
    pub(super) flush_seen: bool,
    sweep: bool,
    /// Address books the batch changes, each user's latest.
    books: HashMap<UserId, Vec<EmailAddress>>,
    /// Flows the batch starts, changes or ends, each as the batch leaves it (`None`: ended).
    flows: HashMap<(SessionHash, FlowKind), Option<Flow>>,
    /// Digests of the link keys the batch spends.
    spent_keys: HashSet<[u8; 32]>,
    /// How many messages the batch queues.
    mails: u64,
    /// Messages the batch takes out of the outbox.
    mail_ended: HashSet<u64>,
}

/// A command the writer can plan: checked against the state and the batch so far, it yields
/// the events that make it happen and the answer its caller receives once they are durable.
trait Plan: Request + Sized {
    /// The events and the answer.
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<Self::Answer, EngineError>);
}

/// A planned command waiting for its batch's commit.
pub(super) trait Deliver: Send {
    /// Sends the answer: as planned when the batch committed, else the storage failure.
    fn deliver(self: Box<Self>, failed: Option<&Arc<StoreError>>);
}

/// A planned answer and its caller's reply channel.
struct Pending<T> {
    reply: Reply<T>,
    answer: Result<T, EngineError>,
}

impl<T: Send + 'static> Deliver for Pending<T> {
    fn deliver(self: Box<Self>, failed: Option<&Arc<StoreError>>) {
        let answer = match (failed, self.answer) {
            // A command that planned no change may still have read the overlay of this batch;
            // failing all is the safe answer.
            (Some(e), Ok(_)) => Err(EngineError::Storage(Arc::clone(e))),
            (_, answer) => answer,
        };
        self.reply.send(answer);
    }
}

/// Plans `command`; its answer waits in the returned box for the batch's commit.
pub(super) fn plan(command: Command, cx: &mut Context<'_>) -> (Vec<Event>, Box<dyn Deliver>) {
    fn planned<C: Plan>(call: Call<C>, cx: &mut Context<'_>) -> (Vec<Event>, Box<dyn Deliver>) {
        let Call { command, reply } = call;
        let (events, answer) = command.plan(cx);
        (events, Box::new(Pending { reply, answer }))
    }
    match command {
        Command::SignUp(call) => planned(call, cx),
        Command::CreateSession(call) => planned(call, cx),
        Command::Revoke(call) => planned(call, cx),
        Command::RevokeUser(call) => planned(call, cx),
        Command::RevokeNos(call) => planned(call, cx),
        Command::Rotate(call) => planned(call, cx),
        Command::Sweep(call) => planned(call, cx),
        Command::AddEmail(call) => planned(call, cx),
        Command::VerifyEmail(call) => planned(call, cx),
        Command::SetPrimaryEmail(call) => planned(call, cx),
        Command::RemoveEmail(call) => planned(call, cx),
        Command::ChangePassword(call) => planned(call, cx),
        Command::IssueKey(call) => planned(call, cx),
        Command::SpendKey(call) => planned(call, cx),
        Command::StartFlow(call) => planned(call, cx),
        Command::CheckCode(call) => planned(call, cx),
        Command::ResendCode(call) => planned(call, cx),
        Command::EndFlow(call) => planned(call, cx),
        Command::Reauthenticate(call) => planned(call, cx),
        Command::Mailed(call) => planned(call, cx),
        Command::QueueMail(call) => planned(call, cx),
    }
}

impl Plan for SignUp {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<User, EngineError>) {
        let (state, o) = (cx.state, &mut *cx.overlay);
        if state.user_by_email(&self.email).is_some() || o.emails.contains(&self.email) {
            return (vec![], Err(EngineError::EmailTaken));
        }
        let username = unique_username(&self.username_base, |u| {
            state.username_taken(u) || o.usernames.contains(u)
        });
        let user = UserId(o.next_user);
        o.next_user += 1;
        o.emails.insert(self.email.clone());
        o.usernames.insert(username.clone());
        o.users.insert(user);
        let view = User {
            id: user,
            email: self.email.clone(),
            username: username.clone(),
            has_usable_password: self.password_hash.is_usable(),
        };
        let event = Event::UserSignedUp {
            user,
            email: self.email,
            username,
            password_hash: self.password_hash,
        };
        (vec![event], Ok(view))
    }
}

impl Plan for CreateSession {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<Created, EngineError>) {
        let (state, o, now) = (cx.state, &mut *cx.overlay, cx.now);
        let user = self.user;
        if state.user(user).is_none() && !o.users.contains(&user) {
            return (vec![], Err(EngineError::UnknownUser { user }));
        }
        let hash = self.hash;
        if state.session(&hash, now).is_some() || o.created.contains_key(&hash) {
            return (vec![], Ok(Created::KeyCollision));
        }
        let no = state.next_session_no() + o.next_session_no;
        o.next_session_no += 1;
        let mut events = evict_for(cx.config.max_sessions_per_user, user, state, o, now);
        o.created.insert(hash, (user, no));
        let expires_at = now.plus_secs(cx.config.session_ttl_secs);
        let info = SessionInfo {
            hash,
            no,
            user,
            created_at: now,
            expires_at,
            last_seen: now,
            user_agent: self.user_agent.clone(),
            ip: self.ip.clone(),
            method: self.method,
        };
        let event = Event::SessionCreated {
            session: hash,
            user,
            expires_at,
            user_agent: self.user_agent,
            ip: self.ip,
            refresh: self.refresh,
            method: self.method,
        };
        events.push(event);
        (events, Ok(Created::Session(info)))
    }
}

/// With a cap of `max` sessions per user, the events that end `user`'s oldest live sessions so
/// that one more fits (none when `max` is 0, no cap). Sessions earlier commands of the batch
/// create count, and are the newest.
fn evict_for(
    max: usize,
    user: UserId,
    state: &State,
    o: &mut Overlay,
    now: Timestamp,
) -> Vec<Event> {
    if max == 0 {
        return vec![];
    }
    let mut live: Vec<(u64, SessionHash)> = state
        .user_sessions(user, now)
        .into_iter()
        .map(|(h, s)| (s.no, h))
        .chain(
            o.created
                .iter()
                .filter(|(_, (u, _))| *u == user)
                .map(|(h, (_, no))| (*no, *h)),
        )
        .filter(|(_, h)| !o.revoked.contains(h))
        .collect();
    if live.len() < max {
        return vec![];
    }
    live.sort_unstable();
    let excess = live.len() + 1 - max;
    live.into_iter()
        .take(excess)
        .filter(|(_, h)| o.revoked.insert(*h))
        .map(|(_, session)| Event::SessionRevoked {
            session,
            reason: RevokeReason::Evicted,
        })
        .collect()
}

impl Plan for Revoke {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<bool, EngineError>) {
        let (state, o) = (cx.state, &mut *cx.overlay);
        let hash = self.hash;
        let live = (state.session(&hash, cx.now).is_some() || o.created.contains_key(&hash))
            && o.revoked.insert(hash);
        let events = match live {
            true => vec![Event::SessionRevoked {
                session: hash,
                reason: self.reason,
            }],
            false => vec![],
        };
        (events, Ok(live))
    }
}

impl Plan for RevokeUser {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<usize, EngineError>) {
        let RevokeUser { user, keep, reason } = self;
        let events = revoke_user_events(cx, user, keep, reason);
        let n = events.len();
        (events, Ok(n))
    }
}

/// The events ending every live session of `user` but `keep`, those earlier commands of the
/// batch create included, for `reason`.
fn revoke_user_events(
    cx: &mut Context<'_>,
    user: UserId,
    keep: Option<SessionHash>,
    reason: RevokeReason,
) -> Vec<Event> {
    let (state, o) = (cx.state, &mut *cx.overlay);
    let mut targets: Vec<SessionHash> = state
        .user_sessions(user, cx.now)
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    targets.extend(
        o.created
            .iter()
            .filter(|(_, (u, _))| *u == user)
            .map(|(h, _)| *h),
    );
    targets
        .into_iter()
        .filter(|h| Some(*h) != keep && o.revoked.insert(*h))
        .map(|session| Event::SessionRevoked { session, reason })
        .collect()
}

impl Plan for RevokeNos {
    fn plan(
        self,
        cx: &mut Context<'_>,
    ) -> (Vec<Event>, Result<RevokeSessionsOutcome, EngineError>) {
        let (state, o) = (cx.state, &mut *cx.overlay);
        let RevokeNos { user, nos, reason } = self;
        // All or nothing, decided here against the state and what earlier commands of this
        // batch revoke, so no logout can slip between the check and the revocation. Sessions
        // created earlier in the same batch are not candidates: their creators have not been
        // answered yet, so no client can have been given their numbers.
        let live: HashMap<u64, SessionHash> = state
            .user_sessions(user, cx.now)
            .into_iter()
            .filter(|(h, _)| !o.revoked.contains(h))
            .map(|(h, s)| (s.no, h))
            .collect();
        let mut targets = Vec::with_capacity(nos.len());
        for no in &nos {
            match live.get(no) {
                Some(hash) => targets.push(*hash),
                None => {
                    let outcome = RevokeSessionsOutcome::NotUserSession { no: *no };
                    return (vec![], Ok(outcome));
                }
            }
        }
        let events: Vec<Event> = targets
            .into_iter()
            .filter(|h| o.revoked.insert(*h))
            .map(|session| Event::SessionRevoked { session, reason })
            .collect();
        let n = events.len();
        (events, Ok(RevokeSessionsOutcome::Revoked(n)))
    }
}

impl Plan for Rotate {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<RotateOutcome, EngineError>) {
        let (events, outcome) = rotation(self, cx);
        (events, Ok(outcome))
    }
}

/// Decides a rotation: rotated, retried within grace, rejected, or reuse detected.
fn rotation(r: Rotate, cx: &mut Context<'_>) -> (Vec<Event>, RotateOutcome) {
    let (state, o, now) = (cx.state, &mut *cx.overlay, cx.now);
    if r.presented_expires_at <= now {
        // Expired, whatever else: never a reuse.
        return (vec![], RotateOutcome::Rejected);
    }
    let Some(session) = state
        .session(&r.hash, now)
        .filter(|_| !o.revoked.contains(&r.hash))
    else {
        return (vec![], RotateOutcome::Rejected);
    };
    // A second presentation of a token this batch rotates: a replay within the grace window,
    // counted like any other; with no grace window (or none left), a reuse.
    if let Some(first) = o.rotated.get(&r.old).cloned() {
        return match replay(cx.config, o, r.old, 0) {
            true => (vec![], RotateOutcome::Retried(first)),
            false => reused(cx.config, o, r.hash),
        };
    }
    match session.refresh_expiry(&r.old) {
        Some(exp) if exp > now => {
            o.rotated.insert(r.old, Arc::clone(&r.successor));
            let event = Event::RefreshRotated {
                session: r.hash,
                old: r.old,
                new: r.new,
                expires_at: r.expires_at,
            };
            return (vec![event], RotateOutcome::Rotated(r.successor));
        }
        // Live in the session but past its exp: expired, not reused.
        Some(_) => return (vec![], RotateOutcome::Rejected),
        None => {}
    }
    let grace = cx.config.refresh_grace_ms;
    if let Some(rotation) = state
        .recent_rotation(&r.old)
        .filter(|x| x.session == r.hash)
        && rotation.at.plus_millis(grace) >= now
    {
        return match cx.grace.get(&r.old) {
            Some(g) if replay(cx.config, o, r.old, g.replays) => {
                (vec![], RotateOutcome::Retried(Arc::clone(&g.successor)))
            }
            // Its replays are used up: one presentation too many is a reuse.
            Some(_) => reused(cx.config, o, r.hash),
            // Rotated within the window before a restart: the successor is gone.
            None => (vec![], RotateOutcome::Rejected),
        };
    }
    // A token we signed for this session that is neither live nor just rotated: it was rotated
    // out earlier.
    reused(cx.config, o, r.hash)
}

/// Whether a rotated-out token, already replayed `before` times in earlier batches, may be
/// answered with its successor once more; if so, the replay is counted in the overlay.
fn replay(config: &EngineConfig, o: &mut Overlay, old: Jti, before: u32) -> bool {
    let in_batch = o.replays.entry(old).or_default();
    let allowed = config.refresh_grace_ms > 0
        && before.saturating_add(*in_batch) < config.refresh_grace_replays;
    if allowed {
        *in_batch += 1;
    }
    allowed
}

/// A rotated-out token presented again outside what the grace window allows. RFC 9700 4.14.2:
/// treat as theft and end the session (when reuse detection is on), else a plain rejection.
fn reused(
    config: &EngineConfig,
    o: &mut Overlay,
    session: SessionHash,
) -> (Vec<Event>, RotateOutcome) {
    if config.reuse_detection && o.revoked.insert(session) {
        let event = Event::SessionRevoked {
            session,
            reason: RevokeReason::ReuseDetected,
        };
        return (vec![event], RotateOutcome::ReuseDetected);
    }
    (vec![], RotateOutcome::Rejected)
}

impl Plan for Sweep {
    fn plan(self, cx: &mut Context<'_>) -> (Vec<Event>, Result<(), EngineError>) {
        let (state, o, now) = (cx.state, &mut *cx.overlay, cx.now);
        o.flush_seen = true;
        if o.sweep {
            return (vec![], Ok(()));
        }
        o.sweep = true;
        // One event per expired session, found here under the read lock: applying them costs
        // the write lock O(expired), where `ExpiredSwept` (what earlier builds wrote; still
        // folded from old logs) scanned every session with readers locked out.
        let expired = state.expired(now);
        let mut events: Vec<Event> = expired
            .sessions
            .into_iter()
            .filter(|hash| o.revoked.insert(*hash))
            .map(|session| Event::SessionRevoked {
                session,
                reason: RevokeReason::Expired,
            })
            .collect();
        let sessions: Vec<SessionHash> = expired
            .refresh
            .into_iter()
            .filter(|hash| !o.revoked.contains(hash))
            .collect();
        for chunk in sessions.chunks(MAX_SESSIONS_PER_EVENT) {
            let sessions = chunk.to_vec();
            events.push(Event::RefreshTokensExpired { sessions, now });
        }
        if sessions.is_empty() && state.has_stale_rotations(now) {
            events.push(Event::RefreshTokensExpired { sessions, now });
        }
        // Flows and keys past their time: reads already ignore them; this frees them.
        let (flows, keys) = state.expired_flows_and_keys(now);
        for (holder, kind) in flows {
            if !o.flows.contains_key(&(holder, kind)) {
                events.push(Event::FlowEnded { holder, kind });
            }
        }
        for key in keys {
            if o.spent_keys.insert(key.0) {
                events.push(Event::KeySpent { key });
            }
        }
        (events, Ok(()))
    }
}
