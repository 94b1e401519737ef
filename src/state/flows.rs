//! Flows in progress that sessions hold, and link keys sent by e-mail, folded.
//!
//! allauth keeps a flow (a login waiting for its address to be verified, a login or password
//! reset by code, a reauthentication by code) in the Django session, and the session token
//! names it. Here a flow is keyed by its holder's [`SessionHash`]: an authenticated session, or
//! an anonymous one that exists only through the flows it holds (a pending session token).
//! Only digests of codes and keys are held (see [`SecretDigest`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::event::{AuthMethod, FlowKind, KeyPurpose, SecretDigest, SessionHash, UserId};

/// A flow in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Which flow.
    pub kind: FlowKind,
    /// The user it concerns, when known.
    pub user: Option<UserId>,
    /// The address it concerns, when there is one.
    pub email: Option<String>,
    /// The digest of the code sent, for flows by code.
    pub code: Option<SecretDigest>,
    /// How the user authenticated so far.
    pub method: AuthMethod,
    /// When it began.
    pub started_at: Timestamp,
    /// When it times out.
    pub expires_at: Timestamp,
    /// Wrong codes entered so far.
    pub failed_attempts: u32,
    /// How many times the code was sent again.
    pub resends: u32,
}

/// A link key sent by e-mail, by its digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// What it does.
    pub purpose: KeyPurpose,
    /// For whom.
    pub user: UserId,
    /// The address it was sent to.
    pub email: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// The flows every session holds.
///
/// Invariant: at most one flow per (holder, kind); a holder's list is never empty (it is
/// removed with its last flow).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Flows {
    by_holder: HashMap<SessionHash, Vec<Flow>>,
}

impl Flows {
    /// The flows `holder` holds that have not timed out at `now`.
    pub(crate) fn of(&self, holder: &SessionHash, now: Timestamp) -> Vec<Flow> {
        self.by_holder
            .get(holder)
            .into_iter()
            .flatten()
            .filter(|f| f.expires_at > now)
            .cloned()
            .collect()
    }

    /// `holder`'s flow of `kind`, if it has not timed out at `now`.
    pub(crate) fn get(
        &self,
        holder: &SessionHash,
        kind: FlowKind,
        now: Timestamp,
    ) -> Option<&Flow> {
        self.by_holder
            .get(holder)?
            .iter()
            .find(|f| f.kind == kind && f.expires_at > now)
    }

    /// Whether `holder` holds any flow that has not timed out at `now`.
    pub(crate) fn holds_any(&self, holder: &SessionHash, now: Timestamp) -> bool {
        self.by_holder
            .get(holder)
            .is_some_and(|flows| flows.iter().any(|f| f.expires_at > now))
    }

    /// Starts `flow` for `holder`, replacing its flow of the same kind.
    pub(crate) fn start(&mut self, holder: SessionHash, flow: Flow) {
        let flows = self.by_holder.entry(holder).or_default();
        flows.retain(|f| f.kind != flow.kind);
        flows.push(flow);
        flows.sort_by_key(|f| f.kind);
    }

    /// Counts a wrong code against `holder`'s flow of `kind`.
    pub(crate) fn attempt_failed(&mut self, holder: &SessionHash, kind: FlowKind) {
        if let Some(f) = self.flow_mut(holder, kind) {
            f.failed_attempts = f.failed_attempts.saturating_add(1);
        }
    }

    /// Replaces the code of `holder`'s flow of `kind`, counting a resend.
    pub(crate) fn code_resent(&mut self, holder: &SessionHash, kind: FlowKind, code: SecretDigest) {
        if let Some(f) = self.flow_mut(holder, kind) {
            f.code = Some(code);
            f.resends = f.resends.saturating_add(1);
        }
    }

    /// Ends `holder`'s flow of `kind`.
    pub(crate) fn end(&mut self, holder: &SessionHash, kind: FlowKind) {
        if let Some(flows) = self.by_holder.get_mut(holder) {
            flows.retain(|f| f.kind != kind);
            if flows.is_empty() {
                self.by_holder.remove(holder);
            }
        }
    }

    /// Ends every flow `holder` holds (its session ended).
    pub(crate) fn end_all(&mut self, holder: &SessionHash) {
        self.by_holder.remove(holder);
    }

    /// The flows timed out at `now`, as (holder, kind).
    pub(crate) fn expired(&self, now: Timestamp) -> Vec<(SessionHash, FlowKind)> {
        let mut out: Vec<(SessionHash, FlowKind)> = self
            .by_holder
            .iter()
            .flat_map(|(h, flows)| {
                flows
                    .iter()
                    .filter(|f| f.expires_at <= now)
                    .map(|f| (*h, f.kind))
            })
            .collect();
        out.sort();
        out
    }

    /// How many flows are held, timed out or not.
    pub(crate) fn len(&self) -> usize {
        self.by_holder.values().map(Vec::len).sum()
    }

    /// Every flow, for a snapshot, in a deterministic order.
    pub(crate) fn all(&self) -> Vec<(SessionHash, Vec<Flow>)> {
        let mut out: Vec<(SessionHash, Vec<Flow>)> = self
            .by_holder
            .iter()
            .map(|(h, f)| (*h, f.clone()))
            .collect();
        out.sort_by_key(|(h, _)| *h);
        out
    }

    /// The flows of a snapshot.
    pub(crate) fn from_all(all: Vec<(SessionHash, Vec<Flow>)>) -> Flows {
        Flows {
            by_holder: all.into_iter().filter(|(_, f)| !f.is_empty()).collect(),
        }
    }

    fn flow_mut(&mut self, holder: &SessionHash, kind: FlowKind) -> Option<&mut Flow> {
        self.by_holder
            .get_mut(holder)?
            .iter_mut()
            .find(|f| f.kind == kind)
    }
}

/// Link keys not yet used, by digest.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Keys {
    by_digest: HashMap<[u8; 32], Key>,
}

impl Keys {
    /// Records an issued key.
    pub(crate) fn issue(&mut self, digest: SecretDigest, key: Key) {
        self.by_digest.insert(digest.0, key);
    }

    /// The unused key with `digest` for `purpose`, if it works at `now`.
    ///
    /// The lookup is by digest: a digest is a keyed hash of a random 256-bit key, so finding it
    /// in a hash map leaks nothing an attacker could use (they cannot choose digests).
    pub(crate) fn get(
        &self,
        digest: &SecretDigest,
        purpose: KeyPurpose,
        now: Timestamp,
    ) -> Option<&Key> {
        self.by_digest
            .get(&digest.0)
            .filter(|k| k.purpose == purpose && k.expires_at > now)
    }

    /// Forgets a used key.
    pub(crate) fn spend(&mut self, digest: &SecretDigest) {
        self.by_digest.remove(&digest.0);
    }

    /// Forgets `user`'s keys for `purpose` (a password change voids reset keys).
    pub(crate) fn void(&mut self, user: UserId, purpose: KeyPurpose) {
        self.by_digest
            .retain(|_, k| !(k.user == user && k.purpose == purpose));
    }

    /// The keys expired at `now`.
    pub(crate) fn expired(&self, now: Timestamp) -> Vec<SecretDigest> {
        let mut out: Vec<SecretDigest> = self
            .by_digest
            .iter()
            .filter(|(_, k)| k.expires_at <= now)
            .map(|(d, _)| SecretDigest(*d))
            .collect();
        out.sort_by_key(|d| d.0);
        out
    }

    /// How many keys are held.
    pub(crate) fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Every key, for a snapshot, by digest.
    pub(crate) fn all(&self) -> Vec<(SecretDigest, Key)> {
        let mut out: Vec<(SecretDigest, Key)> = self
            .by_digest
            .iter()
            .map(|(d, k)| (SecretDigest(*d), k.clone()))
            .collect();
        out.sort_by_key(|(d, _)| d.0);
        out
    }

    /// The keys of a snapshot.
    pub(crate) fn from_all(all: Vec<(SecretDigest, Key)>) -> Keys {
        Keys {
            by_digest: all.into_iter().map(|(d, k)| (d.0, k)).collect(),
        }
    }
}
