//! Snapshot format 1: `bincode(SnapshotV1)`. Decoded, never written.

use std::sync::atomic::AtomicI64;

use serde::{Deserialize, Serialize};

use super::format::{SnapshotError, bucket, bucket_mask, invalid};
use crate::clock::Timestamp;
use crate::event::{AuthMethod, Jti, Seq, SessionHash, UserId};
use crate::state::{Account, RefreshTokens, Rotation, Session, State};

#[derive(Serialize, Deserialize)]
struct SessionRecord {
    hash: SessionHash,
    no: u64,
    user: UserId,
    created_at: Timestamp,
    expires_at: Timestamp,
    seen: Timestamp,
    user_agent: Option<String>,
    ip: Option<String>,
    refresh: RefreshTokens,
}

#[derive(Serialize, Deserialize)]
struct SnapshotV1 {
    last_seq: Seq,
    next_session_no: u64,
    users: Vec<Account>,
    sessions: Vec<SessionRecord>,
    rotations: Vec<(Timestamp, Jti, SessionHash)>,
}

pub(super) fn decode(body: &[u8], grace_ms: i64) -> Result<State, SnapshotError> {
    let (snapshot, _): (SnapshotV1, usize) =
        bincode::serde::decode_from_slice(body, bincode::config::standard())
            .map_err(|e| invalid(e.to_string()))?;
    let mut state = State::new(grace_ms);
    state.last_seq = snapshot.last_seq;
    state.next_session_no = snapshot.next_session_no;
    state.users.reserve(snapshot.users.len());
    for user in snapshot.users {
        state.max_user = state.max_user.max(user.id.0);
        state.by_email.insert(user.email.clone(), user.id);
        state.by_username.insert(user.username.clone(), user.id);
        state.users.insert(user.id, user);
    }
    state.sessions.reserve(snapshot.sessions.len());
    let mut sessions = snapshot.sessions;
    let mask = bucket_mask(sessions.len());
    sessions.sort_unstable_by_key(|r| (bucket(&r.hash, mask), r.hash));
    for r in sessions {
        let session = Session {
            no: r.no,
            user: r.user,
            created_at: r.created_at,
            expires_at: r.expires_at,
            seen: AtomicI64::new(r.seen.as_millis()),
            origin: state.strings.origin(
                r.user_agent.as_deref(),
                r.ip.as_deref(),
                AuthMethod::Unknown,
            ),
            refresh: r.refresh,
        };
        state.insert_session(r.hash, session);
    }
    for (at, jti, session) in snapshot.rotations {
        state.recent_rotations.insert(jti, Rotation { session, at });
        state.rotation_order.push_back((at, jti));
    }
    Ok(state)
}
