//! allauth's default rate limits, as sliding windows kept in memory.
//!
//! Each limit counts hits per key (client address or e-mail) within a window, exactly: a key
//! keeps the times of its hits still in the window, at most the limit's `max` of them, and a hit
//! is refused while `max` are. Time comes from the engine's clock, so tests drive it with
//! `ManualClock`.
//!
//! Invariants this module keeps:
//!
//! - **A hit costs O(1) whatever the number of keys.** The keys are spread over [`SHARDS`]
//!   shards, each behind its own lock; a hit hashes its key (two SipHash passes), locks one
//!   shard, looks the key up, and inspects at most [`SWEEP_PER_HIT`] other keys of that shard
//!   to evict the expired ones. Nothing ever walks a whole shard.
//! - **Memory is bounded.** At most `max_keys` keys are tracked in total (`max_keys / SHARDS`
//!   per shard), each with at most `max` (≤ 60) timestamps. A new key in a full shard whose
//!   sweep freed nothing evicts the key under the sweep hand. **Eviction forgives the evicted
//!   key**: its hits are forgotten and it starts over. That is the price of the bound; with the
//!   default of [`DEFAULT_MAX_KEYS`] an attacker must bring about that many fresh keys (fresh
//!   addresses or /64s, or e-mails within the per-address limits) in the evicted key's window
//!   to forgive a single key, which the per-address limits make slow.
//! - **Keys are fingerprints.** A key is stored as two 64-bit values of `(limit, key)` under
//!   std's keyed SipHash with two random per-process keys ([`RandomState`]), never as the
//!   text: callers pass `&str` or an address and nothing is copied, and there are no collisions
//!   an attacker can aim for because the hash keys are secret. Two keys share a window only if both 64-bit halves
//!   collide (about 2⁻¹²⁸ per pair, ~10⁻²⁷ among a million keys), so false sharing is
//!   negligible.
//! - **IPv6 clients are counted by network**, as allauth's `ALLAUTH_RATE_LIMIT_IPV6_PREFIX`
//!   (default /64) does: one client usually holds a whole /64, and counting each address
//!   would give it 2⁶⁴ budgets. See [`mask_address`].

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::net::{IpAddr, Ipv6Addr};

use parking_lot::Mutex;

use crate::clock::Timestamp;

/// A limit: at most `max` hits per `window_secs` per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
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
    // --- password change and reset ---
    /// `change_password`: 5/min per user.
    ChangePassword,
    /// `reset_password` per address: 20/min.
    ResetPasswordIp,
    /// `reset_password` per e-mail: 5/min.
    ResetPasswordEmail,
    /// `reset_password_from_key`: 20/min per address, for `POST auth/password/reset` only.
    ResetPasswordFromKey,
    // --- login by code and reauthentication ---
    /// `request_login_code` per address: 20/min.
    RequestLoginCodeIp,
    /// `request_login_code` per e-mail (the address a code is asked for): 3/min.
    RequestLoginCodeEmail,
    /// `reauthenticate`: 10/min per user (every request to the reauthentication endpoints that
    /// ask for a password or a code).
    Reauthenticate,
    // --- e-mail addresses and verification ---
    /// `manage_email`: 10/min per user (adding, resending, marking primary, removing; `GET`s
    /// are not counted).
    ManageEmail,
    /// `confirm_email` with verification by link: one mail per address per 3 min (allauth's
    /// `ACCOUNT_EMAIL_CONFIRMATION_COOLDOWN`); a refused mail is silently not sent.
    ConfirmEmailByKey,
    /// `confirm_email` with verification by code: one mail per address per 10 s; refused is a
    /// 429, since the code in the session is the only one that works.
    ConfirmEmailByCode,
}

impl Limit {
    /// (max hits, window in seconds). `max` is at least 1 and at most 60.
    fn rate(self) -> (usize, i64) {
        match self {
            Limit::Login => (30, 60),
            Limit::LoginFailedIp => (10, 60),
            Limit::LoginFailedEmail => (5, 300),
            Limit::Signup => (20, 60),
            Limit::Refresh => (60, 60),
            // --- password change and reset ---
            Limit::ChangePassword => (5, 60),
            Limit::ResetPasswordIp => (20, 60),
            Limit::ResetPasswordEmail => (5, 60),
            Limit::ResetPasswordFromKey => (20, 60),
            Limit::RequestLoginCodeIp => (20, 60),
            Limit::RequestLoginCodeEmail => (3, 60),
            Limit::Reauthenticate => (10, 60),
            Limit::ManageEmail => (10, 60),
            Limit::ConfirmEmailByKey => (1, 180),
            Limit::ConfirmEmailByCode => (1, 10),
        }
    }
}

/// What a limit counts hits per: a text key (an e-mail) or a client address.
///
/// The two kinds never share a window, even where the text spells the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key<'a> {
    /// A text key, e.g. a normalized e-mail for `login_failed` per e-mail.
    Text(&'a str),
    /// A client address, `None` when unknown (all unknown clients share one window). IPv6
    /// addresses are counted by their network (see [`mask_address`]).
    Address(Option<IpAddr>),
}

impl<'a> From<&'a str> for Key<'a> {
    fn from(text: &'a str) -> Key<'a> {
        Key::Text(text)
    }
}

impl<'a> From<&'a String> for Key<'a> {
    fn from(text: &'a String) -> Key<'a> {
        Key::Text(text)
    }
}

impl From<Option<IpAddr>> for Key<'_> {
    fn from(ip: Option<IpAddr>) -> Self {
        Key::Address(ip)
    }
}

impl From<IpAddr> for Key<'_> {
    fn from(ip: IpAddr) -> Self {
        Key::Address(Some(ip))
    }
}

/// One hit taken by [`RateLimiter::reserve`], to be given back with [`RateLimiter::release`]
/// when it should not count after all (a login whose password was right).
///
/// Dropping it keeps the hit. It can be released once only (it is not `Clone`).
#[must_use = "dropping a reservation keeps the hit; release it if it should not count"]
#[derive(Debug)]
pub struct Reservation {
    /// The hit; `None` from a disabled limiter.
    hit: Option<Reserved>,
}

/// Where a reserved hit was recorded.
#[derive(Debug)]
struct Reserved {
    /// The key.
    fingerprint: Fingerprint,
    /// The key's entry when the hit was recorded: a later entry for the same key (after an
    /// expiry, eviction or clear) does not hold this hit.
    generation: u64,
    /// The hit's time.
    at: Timestamp,
}

/// The default cap on tracked keys: about 190 MB when full at one hit per key, plus 8 bytes
/// per further hit (the `ratelimit` bench measures it); below that, memory follows the keys.
pub(crate) const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// allauth's default `ALLAUTH_RATE_LIMIT_IPV6_PREFIX`: a /64, the usual end-site network.
pub(crate) const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The rate limiter. `enabled = false` (`ACCOUNT_RATE_LIMITS = false`) allows everything and
/// keeps nothing.
#[derive(Debug)]
pub struct RateLimiter {
    /// `ACCOUNT_RATE_LIMITS`.
    enabled: bool,
    /// `ALLAUTH_RATE_LIMIT_IPV6_PREFIX`, at most 128.
    ipv6_prefix: u8,
    /// The most keys one shard tracks (at least 1).
    shard_capacity: usize,
    /// The two secret SipHash keys a key's fingerprint is made with.
    hashers: [RandomState; 2],
    /// The shards, [`SHARDS`] of them; a key's lives in the one its fingerprint picks.
    shards: Box<[Mutex<Shard>]>,
}

impl RateLimiter {
    /// A limiter with allauth's defaults: IPv6 by /64, at most [`DEFAULT_MAX_KEYS`] keys.
    pub fn new(enabled: bool) -> RateLimiter {
        RateLimiter::with_limits(enabled, DEFAULT_IPV6_PREFIX, DEFAULT_MAX_KEYS)
    }

    /// A limiter counting IPv6 clients by their `/ipv6_prefix` network (values above 128 count
    /// as 128, whole addresses) and tracking at most `max_keys` keys in all (`max_keys` below
    /// [`SHARDS`] still tracks one key per shard).
    pub fn with_limits(enabled: bool, ipv6_prefix: u8, max_keys: usize) -> RateLimiter {
        RateLimiter {
            enabled,
            ipv6_prefix: ipv6_prefix.min(128),
            shard_capacity: (max_keys / SHARDS).max(1),
            hashers: [RandomState::new(), RandomState::new()],
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// Records a hit for `key` unless it is at its limit; returns whether it was allowed.
    pub fn hit<'a>(&self, limit: Limit, key: impl Into<Key<'a>>, now: Timestamp) -> bool {
        self.reserve(limit, key, now).is_some()
    }

    /// As [`hit`](Self::hit), returning the recorded hit so that it can be given back: `None`
    /// when `key` is at its limit (nothing is recorded then).
    ///
    /// Checking and recording are one step under the shard's lock, so concurrent callers
    /// never get more than `max` reservations per window between them.
    pub fn reserve<'a>(
        &self,
        limit: Limit,
        key: impl Into<Key<'a>>,
        now: Timestamp,
    ) -> Option<Reservation> {
        if !self.enabled {
            return Some(Reservation { hit: None });
        }
        let fingerprint = self.fingerprint(limit, key.into());
        let mut shard = self.shard(fingerprint).lock();
        shard.sweep(now);
        let generation = shard.record(fingerprint, limit, now, self.shard_capacity)?;
        Some(Reservation {
            hit: Some(Reserved {
                fingerprint,
                generation,
                at: now,
            }),
        })
    }

    /// Gives back a hit taken by [`reserve`](Self::reserve), as if it had not happened. A key
    /// forgotten since (expired, evicted, cleared) has nothing to give back, even if it has
    /// been hit again.
    pub fn release(&self, reservation: Reservation) {
        let Some(hit) = reservation.hit else {
            return;
        };
        self.shard(hit.fingerprint).lock().unrecord(&hit);
    }

    /// Whether `key` is already at its limit (a hit now would be refused), without recording.
    pub fn exhausted<'a>(&self, limit: Limit, key: impl Into<Key<'a>>, now: Timestamp) -> bool {
        if !self.enabled {
            return false;
        }
        let fingerprint = self.fingerprint(limit, key.into());
        let mut shard = self.shard(fingerprint).lock();
        shard
            .window_mut(fingerprint)
            .is_some_and(|window| window.expire(now) >= limit.rate().0)
    }

    /// Forgets `key`'s hits (after a successful login, hallpass clears `login_failed` per
    /// e-mail).
    pub fn clear<'a>(&self, limit: Limit, key: impl Into<Key<'a>>) {
        if !self.enabled {
            return;
        }
        let fingerprint = self.fingerprint(limit, key.into());
        self.shard(fingerprint).lock().remove(fingerprint);
    }

    /// How many keys are tracked, expired ones not yet swept included (never more than the
    /// cap). Locks every shard in turn: for tests and benchmarks, not the request path.
    pub fn tracked_keys(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().expiries.len())
            .sum()
    }

    /// The fingerprint of `key` under `limit`, addresses masked to their network first.
    fn fingerprint(&self, limit: Limit, key: Key<'_>) -> Fingerprint {
        let key = match key {
            Key::Address(ip) => Key::Address(ip.map(|ip| mask_address(ip, self.ipv6_prefix))),
            text @ Key::Text(_) => text,
        };
        let [first, second] = &self.hashers;
        Fingerprint {
            index: first.hash_one((limit, key)),
            shard: second.hash_one((limit, key)),
        }
    }

    /// The shard `fingerprint` lives in.
    fn shard(&self, fingerprint: Fingerprint) -> &Mutex<Shard> {
        // The shard comes from the half the shard's map does not hash with, so that keys in one
        // shard do not all share the low bits the map's buckets are chosen by.
        let position = (fingerprint.shard % SHARDS as u64) as usize;
        // why: `shards` has SHARDS entries (built so in `with_limits`) and position < SHARDS.
        &self.shards[position]
    }
}

/// The address a per-address limit counts `ip` under: IPv4 as it is; an IPv4-mapped IPv6
/// address (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4 peer) as that IPv4
/// address; any other IPv6 address as its `/ipv6_prefix` network (prefixes above 128 count as
/// 128, a prefix of 0 puts all IPv6 clients in one window).
///
/// allauth (`allauth.core.internal.ratelimit.truncate_ip`, 65.22) masks IPv4-mapped addresses
/// as IPv6 ones, which at /64 puts every IPv4 client of a dual-stack socket in one bucket;
/// hallpass counts them as the IPv4 clients they are.
pub(crate) fn mask_address(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    let v6 = match ip {
        IpAddr::V4(_) => return ip,
        IpAddr::V6(v6) => v6,
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let prefix = u32::from(ipv6_prefix.min(128));
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
}

/// How many shards the keys are spread over: enough that the server's worker threads rarely
/// wait on one another's shard.
pub(crate) const SHARDS: usize = 32;

/// How many entries of its shard a hit inspects for expiry. More than one, so that the sweep
/// outruns new keys (each hit adds at most one) and every expired entry is found within
/// `len / (SWEEP_PER_HIT - 1)` hits on its shard.
const SWEEP_PER_HIT: usize = 2;

/// A key's identity: two independent 64-bit keyed hashes of `(limit, key)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    /// The hash the shard's map buckets the key by.
    index: u64,
    /// The hash that picks the shard.
    shard: u64,
}

impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One half is enough to bucket by (and already a keyed hash); equality checks both.
        state.write_u64(self.index);
    }
}

/// A hasher that passes a [`Fingerprint`]'s already-keyed hash through instead of hashing it
/// again.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (by `Fingerprint::hash`); mix anything else in plainly.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One shard: its keys' windows in a map, and beside it a dense vector with each key's
/// expiry, which the sweep walks round-robin without scanning.
///
/// Invariant: `windows` and `expiries` hold the same keys, and `windows[k].slot` is the
/// position of `k` in `expiries`.
#[derive(Debug, Default)]
struct Shard {
    /// Each tracked key's window.
    windows: HashMap<Fingerprint, Window, BuildHasherDefault<PassThrough>>,
    /// Each tracked key once, with when its newest hit leaves the window, in no particular
    /// order. Small and dense, so that the sweep's reads stay in cache.
    expiries: Vec<Expiry>,
    /// The sweep hand: the next position in `expiries` to inspect (may be past the end, then
    /// it wraps).
    hand: usize,
    /// The generation the next new window gets.
    next_generation: u64,
}

impl Shard {
    /// Records a hit at `now` for `fingerprint` under `limit` unless it is at the limit;
    /// returns the generation of the window it was recorded in, `None` if refused. A new key
    /// in a full shard evicts the key under the hand.
    fn record(
        &mut self,
        fingerprint: Fingerprint,
        limit: Limit,
        now: Timestamp,
        capacity: usize,
    ) -> Option<u64> {
        let (max, window_secs) = limit.rate();
        let expires_at = now.plus_secs(window_secs);
        if let Some(window) = self.windows.get_mut(&fingerprint) {
            if window.expire(now) >= max {
                return None;
            }
            window.push(now);
            if let Some(expiry) = self.expiries.get_mut(window.slot) {
                expiry.at = expiry.at.max(expires_at);
            }
            return Some(window.generation);
        }
        if self.expiries.len() >= capacity {
            self.evict();
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let window = Window {
            slot: self.expiries.len(),
            generation,
            limit,
            hits: VecDeque::from([now]),
        };
        self.windows.insert(fingerprint, window);
        self.expiries.push(Expiry {
            fingerprint,
            at: expires_at,
        });
        Some(generation)
    }

    /// Removes the reserved hit from its key's window, and the key once it has none. Hits at
    /// the same time are alike, so any one of them goes.
    fn unrecord(&mut self, hit: &Reserved) {
        let Some(window) = self.windows.get_mut(&hit.fingerprint) else {
            return;
        };
        if window.generation != hit.generation {
            return;
        }
        if let Some(found) = window.hits.iter().rposition(|t| *t == hit.at) {
            window.hits.remove(found);
        }
        let slot = window.slot;
        match window.hits.back() {
            Some(newest) => {
                let expires_at = newest.plus_secs(window.limit.rate().1);
                if let Some(expiry) = self.expiries.get_mut(slot) {
                    expiry.at = expires_at;
                }
            }
            None => self.remove_at(slot),
        }
    }

    /// The window of `fingerprint`, if tracked.
    fn window_mut(&mut self, fingerprint: Fingerprint) -> Option<&mut Window> {
        self.windows.get_mut(&fingerprint)
    }

    /// Forgets `fingerprint`.
    fn remove(&mut self, fingerprint: Fingerprint) {
        if let Some(window) = self.windows.get(&fingerprint) {
            self.remove_at(window.slot);
        }
    }

    /// Inspects up to [`SWEEP_PER_HIT`] keys at the hand, removing those whose hits have all
    /// left their window.
    fn sweep(&mut self, now: Timestamp) {
        for _ in 0..SWEEP_PER_HIT {
            if self.hand >= self.expiries.len() {
                self.hand = 0;
            }
            let Some(expiry) = self.expiries.get(self.hand) else {
                return;
            };
            if expiry.at <= now {
                // The last key moves into this position: inspect it next.
                self.remove_at(self.hand);
            } else {
                self.hand += 1;
            }
        }
    }

    /// Removes the key under the hand (the one the sweep inspected longest ago), to make room
    /// in a full shard.
    fn evict(&mut self) {
        if self.hand >= self.expiries.len() {
            self.hand = 0;
        }
        self.remove_at(self.hand);
    }

    /// Removes the key at `slot` of `expiries`, moving the last one into its place.
    fn remove_at(&mut self, slot: usize) {
        if slot >= self.expiries.len() {
            return;
        }
        let removed = self.expiries.swap_remove(slot);
        self.windows.remove(&removed.fingerprint);
        if let Some(moved) = self.expiries.get(slot)
            && let Some(window) = self.windows.get_mut(&moved.fingerprint)
        {
            window.slot = slot;
        }
    }
}

/// A key's place in the sweep.
#[derive(Debug)]
struct Expiry {
    /// The key.
    fingerprint: Fingerprint,
    /// When the key's newest hit leaves its window: from then on the window is empty.
    at: Timestamp,
}

/// One key's window.
#[derive(Debug)]
struct Window {
    /// The key's position in its shard's `expiries`.
    slot: usize,
    /// Which window of its shard this is (a key forgotten and hit again gets a new one), so
    /// that a reservation from before cannot take a later hit away.
    generation: u64,
    /// The limit the key counts under (its window length).
    limit: Limit,
    /// The times of the hits still in the window (until the next [`Window::expire`]), at most
    /// the limit's `max`, in order, oldest first.
    hits: VecDeque<Timestamp>,
}

impl Window {
    /// Records a hit at `now`, keeping `hits` in order: concurrent requests read the clock
    /// before they take the lock, so a hit may come in slightly older than the newest.
    fn push(&mut self, now: Timestamp) {
        let after = self
            .hits
            .iter()
            .rposition(|t| *t <= now)
            .map_or(0, |p| p + 1);
        self.hits.insert(after, now);
    }

    /// Drops the hits that have left the window at `now`; returns how many remain.
    fn expire(&mut self, now: Timestamp) -> usize {
        let cutoff = now.plus_secs(-self.limit.rate().1);
        while self.hits.front().is_some_and(|t| *t <= cutoff) {
            self.hits.pop_front();
        }
        self.hits.len()
    }
}

#[cfg(test)]
mod tests;
