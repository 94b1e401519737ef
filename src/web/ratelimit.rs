//! allauth's default rate limits, as sliding windows kept in memory.
//!
//! Each limit counts hits per key (client address or e-mail) within a window. Time comes from
//! the engine's clock, so tests drive it with `ManualClock`. Memory is bounded: keys whose
//! newest hit has left the window are pruned, and no key keeps more hits than its limit.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use crate::clock::Timestamp;

/// A limit: at most `max` hits per `window_secs` per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Limit {
    /// `login`: 30/min per address.
    Login,
    /// `login_failed` per address: 10/min.
    LoginFailedIp,
    /// `login_failed` per e-mail: 5 per 5 min.
    LoginFailedEmail,
    /// `signup`: 20/min per address.
    Signup,
    /// `refresh`: 60/min per address (hallpass's own).
    Refresh,
}

impl Limit {
    /// (max hits, window in seconds).
    fn rate(self) -> (usize, i64) {
        match self {
            Limit::Login => (30, 60),
            Limit::LoginFailedIp => (10, 60),
            Limit::LoginFailedEmail => (5, 300),
            Limit::Signup => (20, 60),
            Limit::Refresh => (60, 60),
        }
    }
}

/// Above this many keys, a hit first prunes every expired key.
const PRUNE_ABOVE: usize = 10_000;

/// The rate limiter. `enabled = false` (`ACCOUNT_RATE_LIMITS = false`) allows everything.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    enabled: bool,
    hits: Mutex<HashMap<(Limit, String), VecDeque<Timestamp>>>,
}

impl RateLimiter {
    /// A limiter; disabled ones allow everything and keep nothing.
    pub(crate) fn new(enabled: bool) -> RateLimiter {
        RateLimiter {
            enabled,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records a hit for `key` unless it is over the limit; returns whether it was allowed.
    pub(crate) fn hit(&self, limit: Limit, key: &str, now: Timestamp) -> bool {
        if !self.enabled {
            return true;
        }
        let (max, window) = limit.rate();
        let mut hits = self.hits.lock();
        if hits.len() > PRUNE_ABOVE {
            prune(&mut hits, now);
        }
        let entry = hits.entry((limit, key.to_owned())).or_default();
        expire(entry, now, window);
        if entry.len() >= max {
            return false;
        }
        entry.push_back(now);
        true
    }

    /// Whether `key` is already at its limit (a hit now would be refused), without recording.
    pub(crate) fn exhausted(&self, limit: Limit, key: &str, now: Timestamp) -> bool {
        if !self.enabled {
            return false;
        }
        let (max, window) = limit.rate();
        let mut hits = self.hits.lock();
        match hits.get_mut(&(limit, key.to_owned())) {
            Some(entry) => {
                expire(entry, now, window);
                entry.len() >= max
            }
            None => false,
        }
    }

    /// Forgets `key`'s hits (after a successful login, allauth clears `login_failed`).
    pub(crate) fn clear(&self, limit: Limit, key: &str) {
        self.hits.lock().remove(&(limit, key.to_owned()));
    }

    /// How many keys are tracked.
    #[cfg(test)]
    pub(crate) fn tracked_keys(&self) -> usize {
        self.hits.lock().len()
    }
}

fn expire(entry: &mut VecDeque<Timestamp>, now: Timestamp, window_secs: i64) {
    let cutoff = now.plus_secs(-window_secs);
    while entry.front().is_some_and(|t| *t <= cutoff) {
        entry.pop_front();
    }
}

fn prune(hits: &mut HashMap<(Limit, String), VecDeque<Timestamp>>, now: Timestamp) {
    hits.retain(|(limit, _), entry| {
        expire(entry, now, limit.rate().1);
        !entry.is_empty()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp::from_secs(1_000_000);

    #[test]
    fn sliding_window_allows_max_then_refuses_until_oldest_expires() {
        let rl = RateLimiter::new(true);
        for i in 0..5 {
            assert!(rl.hit(Limit::LoginFailedEmail, "a@x", T.plus_secs(i)));
        }
        assert!(rl.exhausted(Limit::LoginFailedEmail, "a@x", T.plus_secs(10)));
        assert!(!rl.hit(Limit::LoginFailedEmail, "a@x", T.plus_secs(10)));
        assert!(!rl.exhausted(Limit::LoginFailedEmail, "b@x", T));
        assert!(rl.hit(Limit::LoginFailedEmail, "a@x", T.plus_secs(301)));
    }

    #[test]
    fn disabled_allows_everything() {
        let rl = RateLimiter::new(false);
        for _ in 0..100 {
            assert!(rl.hit(Limit::Login, "ip", T));
        }
        assert_eq!(rl.tracked_keys(), 0);
    }

    #[test]
    fn memory_is_bounded_by_pruning() {
        let rl = RateLimiter::new(true);
        for i in 0..=PRUNE_ABOVE {
            rl.hit(Limit::Login, &i.to_string(), T);
        }
        rl.hit(Limit::Login, "late", T.plus_secs(61));
        assert_eq!(rl.tracked_keys(), 1);
    }
}
