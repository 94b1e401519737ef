//! Planning: one command checked against the state and the batch's overlay, into events and an
//! answer. Pure but for the writer's grace cache and counters.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::warn;

use super::{Command, Overlay, Planned, Reply, Writer};
use crate::clock::Timestamp;
use crate::engine::{EngineError, RevokeSessionsOutcome, RotateOutcome, SessionInfo, Successor};
use crate::event::{Event, Jti, RevokeReason, SessionHash, UserId};
use crate::state::{State, User};

impl Writer {
    pub(super) fn plan(
        &mut self,
        command: Command,
        state: &State,
        o: &mut Overlay,
        now: Timestamp,
    ) -> Planned {
        let done = |events, reply| Planned {
            events,
            reply: Ok(reply),
        };
        match command {
            Command::SignUp {
                email,
                username_base,
                password_hash,
            } => {
                if state.user_by_email(&email).is_some() || o.emails.contains(&email) {
                    return Planned {
                        events: vec![],
                        reply: Err(EngineError::EmailTaken),
                    };
                }
                let username = crate::accounts::email::unique_username(&username_base, |u| {
                    state.username_taken(u) || o.usernames.contains(u)
                });
                let user = UserId(o.next_user);
                o.next_user += 1;
                o.emails.insert(email.clone());
                o.usernames.insert(username.clone());
                o.users.insert(user);
                let record = User {
                    id: user,
                    email: email.clone(),
                    username: username.clone(),
                    password_hash: password_hash.clone(),
                };
                done(
                    vec![Event::UserSignedUp {
                        user,
                        email,
                        username,
                        password_hash,
                    }],
                    Reply::User(record),
                )
            }
            Command::CreateSession {
                hash,
                user,
                user_agent,
                ip,
                refresh,
                method,
            } => {
                if state.user(user).is_none() && !o.users.contains(&user) {
                    return Planned {
                        events: vec![],
                        reply: Err(EngineError::UnknownUser { user }),
                    };
                }
                if state.session(&hash, now).is_some() || o.created.contains_key(&hash) {
                    return Planned {
                        events: vec![],
                        reply: Err(EngineError::Invalid {
                            reason: "session key collision",
                        }),
                    };
                }
                o.created.insert(hash, user);
                let no = state.next_session_no() + o.next_session_no;
                o.next_session_no += 1;
                let expires_at = now.plus_secs(self.config.session_ttl_secs);
                let info = SessionInfo {
                    hash,
                    no,
                    user,
                    created_at: now,
                    expires_at,
                    last_seen: now,
                    user_agent: user_agent.clone(),
                    ip: ip.clone(),
                    method,
                };
                let event = Event::SessionCreated {
                    session: hash,
                    user,
                    expires_at,
                    user_agent,
                    ip,
                    refresh,
                    method,
                };
                done(vec![event], Reply::Session(info))
            }
            Command::Revoke { hash, reason } => {
                let live = (state.session(&hash, now).is_some() || o.created.contains_key(&hash))
                    && o.revoked.insert(hash);
                let events = if live {
                    vec![Event::SessionRevoked {
                        session: hash,
                        reason,
                    }]
                } else {
                    vec![]
                };
                done(events, Reply::Count(usize::from(live)))
            }
            Command::RevokeUser { user, keep, reason } => {
                let mut targets: Vec<SessionHash> = state
                    .user_sessions(user, now)
                    .into_iter()
                    .map(|(h, _)| h)
                    .collect();
                targets.extend(
                    o.created
                        .iter()
                        .filter(|(_, u)| **u == user)
                        .map(|(h, _)| *h),
                );
                let events: Vec<Event> = targets
                    .into_iter()
                    .filter(|h| Some(*h) != keep && o.revoked.insert(*h))
                    .map(|session| Event::SessionRevoked { session, reason })
                    .collect();
                let n = events.len();
                done(events, Reply::Count(n))
            }
            Command::RevokeNos { user, nos, reason } => {
                // All or nothing, decided here against the state and what earlier commands of
                // this batch revoke, so no logout can slip between the check and the revocation.
                // Sessions created earlier in the same batch are not candidates: their creators
                // have not been answered yet, so no client can have been given their numbers.
                let live: HashMap<u64, SessionHash> = state
                    .user_sessions(user, now)
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
                            return done(vec![], Reply::Sessions(outcome));
                        }
                    }
                }
                let events: Vec<Event> = targets
                    .into_iter()
                    .filter(|h| o.revoked.insert(*h))
                    .map(|session| Event::SessionRevoked { session, reason })
                    .collect();
                let n = events.len();
                done(events, Reply::Sessions(RevokeSessionsOutcome::Revoked(n)))
            }
            Command::Rotate {
                hash,
                old,
                presented_expires_at,
                new,
                expires_at,
                successor,
            } => {
                if presented_expires_at <= now {
                    // Expired, whatever else: never a reuse.
                    return done(vec![], Reply::Rotate(RotateOutcome::Rejected));
                }
                self.plan_rotate(state, o, now, hash, old, new, expires_at, successor)
            }
            Command::Touch { hash, at } => {
                let latest = self.pending_seen.entry(hash).or_insert(at);
                *latest = (*latest).max(at);
                done(vec![], Reply::Done)
            }
            Command::Sweep => {
                o.flush_seen = true;
                // One event per expired session, found here under the read lock: applying them
                // costs the write lock O(expired), where `ExpiredSwept` (what earlier builds wrote; still
                // folded from old logs) scanned every session with readers locked out.
                let events = if o.sweep {
                    vec![]
                } else {
                    o.sweep = true;
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
                    if !sessions.is_empty() || state.has_stale_rotations(now) {
                        events.push(Event::RefreshTokensExpired { sessions, now });
                    }
                    events
                };
                done(events, Reply::Done)
            }
            Command::Snapshot | Command::Shutdown => done(vec![], Reply::Done),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of one command, unpacked"
    )]
    fn plan_rotate(
        &mut self,
        state: &State,
        o: &mut Overlay,
        now: Timestamp,
        hash: SessionHash,
        old: Jti,
        new: Jti,
        expires_at: Timestamp,
        successor: Arc<Successor>,
    ) -> Planned {
        let reply = |outcome| Ok(Reply::Rotate(outcome));
        let Some(session) = state
            .session(&hash, now)
            .filter(|_| !o.revoked.contains(&hash))
        else {
            return Planned {
                events: vec![],
                reply: reply(RotateOutcome::Rejected),
            };
        };
        // A second rotation of the same token in this batch: the first one's successor.
        if let Some(first) = o.rotated.get(&old) {
            return Planned {
                events: vec![],
                reply: reply(RotateOutcome::Retried(Arc::clone(first))),
            };
        }
        if session.refresh_expiry(&old).is_some_and(|exp| exp > now) {
            o.rotated.insert(old, Arc::clone(&successor));
            self.stats.rotations.fetch_add(1, Ordering::Relaxed);
            let event = Event::RefreshRotated {
                session: hash,
                old,
                new,
                expires_at,
            };
            return Planned {
                events: vec![event],
                reply: reply(RotateOutcome::Rotated(successor)),
            };
        }
        if session.refresh_expiry(&old).is_some() {
            // Live in the session but past its exp: expired, not reused.
            return Planned {
                events: vec![],
                reply: reply(RotateOutcome::Rejected),
            };
        }
        let grace = self.config.refresh_grace_ms;
        if let Some(rotation) = state.recent_rotation(&old).filter(|r| r.session == hash)
            && rotation.at.plus_millis(grace) >= now
        {
            {
                return match self.grace.get(&old) {
                    Some((_, successor)) => Planned {
                        events: vec![],
                        reply: reply(RotateOutcome::Retried(Arc::clone(successor))),
                    },
                    // Rotated within the window before a restart: the successor is gone.
                    None => Planned {
                        events: vec![],
                        reply: reply(RotateOutcome::Rejected),
                    },
                };
            }
        }
        // A token we signed for this session that is neither live nor just rotated: it was
        // rotated out earlier. RFC 9700 4.14.2: treat as theft, end the session.
        if self.config.reuse_detection && o.revoked.insert(hash) {
            self.stats.reuse_detections.fetch_add(1, Ordering::Relaxed);
            warn!(session = ?hash, "refresh token reuse detected; revoking the session");
            let event = Event::SessionRevoked {
                session: hash,
                reason: RevokeReason::ReuseDetected,
            };
            return Planned {
                events: vec![event],
                reply: reply(RotateOutcome::ReuseDetected),
            };
        }
        Planned {
            events: vec![],
            reply: reply(RotateOutcome::Rejected),
        }
    }
}
