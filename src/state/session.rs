//! One live session: its record in the index, how it began, and its refresh tokens.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::clock::Timestamp;
use crate::event::{AuthMethod, Jti, UserId};

/// A live session.
#[derive(Debug)]
pub struct Session {
    /// A small public number for the session (its position among all sessions ever
    /// created), shown in session lists; not a secret.
    pub no: u64,
    /// Whose session.
    pub user: UserId,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops being valid.
    pub expires_at: Timestamp,
    /// Latest time it authenticated a request. Updated in memory on reads (an atomic, so
    /// readers need only the read lock) and persisted coalesced by `SessionsSeen`.
    pub(super) seen: AtomicI64,
    /// `User-Agent`, IP and authentication method at creation; boxed because a session created
    /// through the library may have none of them, and the index should not pay for them inline.
    pub(super) origin: Option<Box<Origin>>,
    /// Live refresh tokens: `jti -> exp`, allauth's `headless_refresh_tokens`.
    pub refresh: RefreshTokens,
}

/// How a session began: the client's details and how the user authenticated. The strings are
/// shared through [`Strings`]: a million sessions carry a few hundred distinct user agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin {
    pub(super) user_agent: Option<Arc<str>>,
    pub(super) ip: Option<Arc<str>>,
    pub(super) method: AuthMethod,
}

/// The distinct user agents and IP addresses of live sessions, each held once.
///
/// Invariant: holds exactly the strings some session's [`Origin`] refers to. A string leaves
/// with its last session ([`Strings::release`] runs before a removed session drops, when the
/// set and that session are its only owners; all changes happen under the write lock).
#[derive(Debug, Default)]
pub(super) struct Strings(pub(super) HashSet<Arc<str>>);

impl Strings {
    pub(super) fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(s) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(s);
        self.0.insert(Arc::clone(&shared));
        shared
    }

    pub(super) fn origin(
        &mut self,
        user_agent: Option<&str>,
        ip: Option<&str>,
        method: AuthMethod,
    ) -> Option<Box<Origin>> {
        if user_agent.is_none() && ip.is_none() && method == AuthMethod::Unknown {
            return None;
        }
        Some(Box::new(Origin {
            user_agent: user_agent.map(|s| self.intern(s)),
            ip: ip.map(|s| self.intern(s)),
            method,
        }))
    }

    /// Forgets the strings of `origin` that nothing else holds.
    pub(super) fn release(&mut self, origin: &Origin) {
        for s in [&origin.user_agent, &origin.ip].into_iter().flatten() {
            if Arc::strong_count(s) == 2 {
                self.0.remove(s);
            }
        }
    }
}

/// The live refresh tokens of one session: usually exactly one, stored inline without a heap
/// allocation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefreshTokens(RefreshRepr);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum RefreshRepr {
    #[default]
    Empty,
    One((Jti, Timestamp)),
    Many(Vec<(Jti, Timestamp)>),
}

/// Encoded as a plain sequence, exactly as the `Vec<(Jti, Timestamp)>` it replaced in the
/// snapshot format; decoding fills the inline slot without a heap allocation.
impl serde::Serialize for RefreshTokens {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for RefreshTokens {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RefreshTokens;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence of (jti, exp)")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut tokens = RefreshTokens::default();
                while let Some(token) = seq.next_element()? {
                    tokens.push(token);
                }
                Ok(tokens)
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

impl RefreshTokens {
    /// The tokens, `(jti, exp)`.
    pub fn as_slice(&self) -> &[(Jti, Timestamp)] {
        match &self.0 {
            RefreshRepr::Empty => &[],
            RefreshRepr::One(token) => std::slice::from_ref(token),
            RefreshRepr::Many(tokens) => tokens,
        }
    }

    /// Iterates over `(jti, exp)`.
    pub fn iter(&self) -> std::slice::Iter<'_, (Jti, Timestamp)> {
        self.as_slice().iter()
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    pub(super) fn one(token: (Jti, Timestamp)) -> RefreshTokens {
        RefreshTokens(RefreshRepr::One(token))
    }

    pub(super) fn from_vec(mut tokens: Vec<(Jti, Timestamp)>) -> RefreshTokens {
        RefreshTokens(match tokens.len() {
            0 => RefreshRepr::Empty,
            1 => RefreshRepr::One(tokens.remove(0)),
            _ => RefreshRepr::Many(tokens),
        })
    }

    pub(super) fn push(&mut self, token: (Jti, Timestamp)) {
        self.0 = match std::mem::take(&mut self.0) {
            RefreshRepr::Empty => RefreshRepr::One(token),
            RefreshRepr::One(first) => RefreshRepr::Many(vec![first, token]),
            RefreshRepr::Many(mut tokens) => {
                tokens.push(token);
                RefreshRepr::Many(tokens)
            }
        };
    }

    pub(super) fn retain(&mut self, keep: impl Fn(&(Jti, Timestamp)) -> bool) {
        if self.iter().all(&keep) {
            return;
        }
        let kept: Vec<_> = self.iter().copied().filter(|t| keep(t)).collect();
        *self = RefreshTokens::from_vec(kept);
    }
}

impl Session {
    /// `User-Agent` at creation, where known.
    pub fn user_agent(&self) -> Option<&str> {
        self.origin.as_ref().and_then(|c| c.user_agent.as_deref())
    }

    /// IP address at creation, where known.
    pub fn ip(&self) -> Option<&str> {
        self.origin.as_ref().and_then(|c| c.ip.as_deref())
    }

    /// How the user authenticated when the session began.
    pub fn method(&self) -> AuthMethod {
        self.origin
            .as_ref()
            .map_or(AuthMethod::Unknown, |c| c.method)
    }

    /// The latest time this session authenticated a request, as known in memory.
    pub fn last_seen(&self) -> Timestamp {
        Timestamp::from_millis(self.seen.load(Ordering::Relaxed))
    }

    /// Records a use at `now`; returns true if the change is worth persisting (the stored value
    /// is at least `coalesce_ms` old and this caller won the race to update it).
    pub(crate) fn mark_seen(&self, now: Timestamp, coalesce_ms: i64) -> bool {
        let old = self.seen.load(Ordering::Relaxed);
        if now.as_millis().saturating_sub(old) < coalesce_ms {
            return false;
        }
        self.seen
            .compare_exchange(old, now.as_millis(), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// The expiry of refresh token `jti`, if it is live in this session.
    pub fn refresh_expiry(&self, jti: &Jti) -> Option<Timestamp> {
        self.refresh
            .iter()
            .find(|(j, _)| j == jti)
            .map(|(_, exp)| *exp)
    }

    pub(super) fn seen_raw(&self) -> i64 {
        self.seen.load(Ordering::Relaxed)
    }
}

impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        self.no == other.no
            && self.user == other.user
            && self.created_at == other.created_at
            && self.expires_at == other.expires_at
            && self.seen_raw() == other.seen_raw()
            && self.origin == other.origin
            && self.refresh == other.refresh
    }
}
