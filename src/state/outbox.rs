//! Messages accepted for delivery and not yet delivered or given up, folded.
//!
//! A message enters with `MailQueued` in the same durable write that made it necessary (a
//! code, a key), so a crash after the answer never loses it: the mailer sends what the outbox
//! holds after a restart. Its contents are sealed by the caller; the engine holds bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// A message waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    /// Its number: one more than the last queued.
    pub id: u64,
    /// Recipient, subject and body, sealed by the caller.
    pub sealed: Vec<u8>,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// Failed delivery attempts so far.
    pub failed_attempts: u32,
}

/// The outbox.
///
/// Invariant: `next_id` is above every id ever queued (ids are never reused, even once a
/// message has left).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outbox {
    waiting: BTreeMap<u64, Mail>,
    next_id: u64,
}

impl Outbox {
    /// Queues message `id`.
    pub(crate) fn queue(&mut self, id: u64, sealed: Vec<u8>, at: Timestamp) {
        self.next_id = self.next_id.max(id.saturating_add(1));
        self.waiting.insert(
            id,
            Mail {
                id,
                sealed,
                queued_at: at,
                failed_attempts: 0,
            },
        );
    }

    /// Counts a failed attempt at message `id`.
    pub(crate) fn attempt_failed(&mut self, id: u64) {
        if let Some(mail) = self.waiting.get_mut(&id) {
            mail.failed_attempts = mail.failed_attempts.saturating_add(1);
        }
    }

    /// Message `id` left the outbox.
    pub(crate) fn end(&mut self, id: u64) {
        self.waiting.remove(&id);
    }

    /// The waiting messages, oldest first.
    pub(crate) fn waiting(&self) -> Vec<Mail> {
        self.waiting.values().cloned().collect()
    }

    /// Whether message `id` waits.
    pub(crate) fn holds(&self, id: u64) -> bool {
        self.waiting.contains_key(&id)
    }

    /// The id the next message gets.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.max(1)
    }

    /// How many messages wait.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Everything, for a snapshot.
    pub(crate) fn parts(&self) -> (u64, Vec<Mail>) {
        (self.next_id, self.waiting())
    }

    /// The outbox of a snapshot.
    pub(crate) fn from_parts(next_id: u64, waiting: Vec<Mail>) -> Outbox {
        Outbox {
            waiting: waiting.into_iter().map(|m| (m.id, m)).collect(),
            next_id,
        }
    }
}
