//! Encoding the folded state as a snapshot, and back.
//!
//! A snapshot is `version: u16 LE | bincode(SnapshotV1)`. Like events, a snapshot format never
//! changes once written; a new layout gets a new version. Sessions appear by key hash only.

use std::sync::atomic::AtomicI64;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::event::{Jti, Seq, SessionHash, UserId};
use crate::state::{RefreshTokens, Rotation, Session, State, User};

const SNAPSHOT_VERSION: u16 = 1;

/// Why a snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The snapshot names a version this build does not know.
    #[error("unknown snapshot version {version}")]
    UnknownVersion {
        /// The version found.
        version: u16,
    },
    /// The bytes do not decode.
    #[error("invalid snapshot: {reason}")]
    Invalid {
        /// What the decoder reported.
        reason: String,
    },
}

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
    users: Vec<User>,
    sessions: Vec<SessionRecord>,
    rotations: Vec<(Timestamp, Jti, SessionHash)>,
}

impl State {
    /// Encodes the state as snapshot bytes.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut users: Vec<User> = self.users.values().cloned().collect();
        users.sort_by_key(|u| u.id);
        let mut sessions: Vec<SessionRecord> = self
            .sessions
            .iter()
            .map(|(hash, s)| SessionRecord {
                hash: *hash,
                no: s.no,
                user: s.user,
                created_at: s.created_at,
                expires_at: s.expires_at,
                seen: s.last_seen(),
                user_agent: s.user_agent().map(str::to_owned),
                ip: s.ip().map(str::to_owned),
                refresh: s.refresh.clone(),
            })
            .collect();
        // Deterministic bytes, in the order `from_snapshot` inserts (see there).
        let mask = bucket_mask(sessions.len());
        sessions.sort_unstable_by_key(|r| (bucket(&r.hash, mask), r.hash));
        let rotations = self
            .rotation_order
            .iter()
            .filter_map(|(at, jti)| {
                self.recent_rotations
                    .get(jti)
                    .filter(|r| r.at == *at)
                    .map(|r| (*at, *jti, r.session))
            })
            .collect();
        let snapshot = SnapshotV1 {
            last_seq: self.last_seq,
            next_session_no: self.next_session_no,
            users,
            sessions,
            rotations,
        };
        let mut out = SNAPSHOT_VERSION.to_le_bytes().to_vec();
        // why: serde encoding of owned plain data into a Vec has no failure mode but a bug;
        // an empty body would then fail loudly at the next open rather than panic here.
        let body = bincode::serde::encode_to_vec(&snapshot, bincode::config::standard())
            .unwrap_or_default();
        out.extend_from_slice(&body);
        out
    }

    /// Rebuilds a state from snapshot bytes.
    ///
    /// # Errors
    ///
    /// [`SnapshotError`] when the bytes are not a snapshot this build can read.
    pub fn from_snapshot(bytes: &[u8], grace_ms: i64) -> Result<State, SnapshotError> {
        let version = bytes
            .get(..2)
            .map(|v| u16::from_le_bytes([v[0], v[1]]))
            .ok_or(SnapshotError::Invalid {
                reason: "empty".into(),
            })?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnknownVersion { version });
        }
        let (snapshot, _): (SnapshotV1, usize) =
            bincode::serde::decode_from_slice(&bytes[2..], bincode::config::standard()).map_err(
                |e| SnapshotError::Invalid {
                    reason: e.to_string(),
                },
            )?;
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
        // Insert in bucket order: the index hashes a session by its hash's first 8 bytes and
        // picks a bucket by the low bits, so sorting by those bits turns a million random
        // writes into a nearly sequential sweep over the table (start-up is dominated by cache
        // misses otherwise). The mask matches any power-of-two table at least this large.
        // Snapshots are written in this order already, so this sort is a linear check.
        let mask = bucket_mask(sessions.len());
        sessions.sort_unstable_by_key(|r| (bucket(&r.hash, mask), r.hash));
        for r in sessions {
            let session = Session {
                no: r.no,
                user: r.user,
                created_at: r.created_at,
                expires_at: r.expires_at,
                seen: AtomicI64::new(r.seen.as_millis()),
                client: super::client_info(r.user_agent.as_deref(), r.ip.as_deref()),
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
}

/// The bucket mask of a hash table sized for `n` entries (hashbrown's 7/8 load factor).
fn bucket_mask(n: usize) -> u64 {
    (n.saturating_mul(8) / 7)
        .next_power_of_two()
        .saturating_sub(1) as u64
}

/// The bucket a session lands in, given the table's mask.
fn bucket(hash: &SessionHash, mask: u64) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash.0[..8]);
    u64::from_le_bytes(prefix) & mask
}
