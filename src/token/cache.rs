//! A bounded, sharded cache of verified access tokens, so a client that presents the same
//! bearer token on every request pays for one signature check, not one per request.
//!
//! Invariants:
//!
//! - **Only verified access tokens go in.** [`VerifiedCache::insert`] ignores claims whose
//!   `token_use` is not `access`; its one caller, `JwtTokenStrategy::validate_access_token`,
//!   inserts only what [`JwtCodec::verify`](crate::token::jwt::JwtCodec::verify) accepted, with
//!   the session its `sid` names.
//! - **Expiry is rechecked on every hit.** [`VerifiedCache::get`] answers only while
//!   `exp > now_secs`, with the same zero leeway as the codec.
//! - **A hit means the very same token.** Entries are found by a hash of the token's tail,
//!   then the stored token is compared with the presented one in constant time (a word-wise
//!   fold decided by [`constant_time_eq`]); a hash collision is a miss, never someone else's
//!   claims.
//! - **Bounded memory.** At most `capacity` entries (about 1 KiB each for an RS256 token).
//!
//! A cache belongs to one codec: entries outlive key rotation until their `exp`, which
//! is at most the access-token lifetime (5 minutes by default). Stateful revocation (logout)
//! is the engine's business and must be checked after a hit, as after a full verification.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use parking_lot::RwLock;
use zeroize::Zeroizing;

use crate::crypto::{constant_time_eq, random_bytes};
use crate::event::SessionHash;
use crate::hashing::IdentityHasher;
use crate::token::jwt::{Claims, MAX_TOKEN_LEN, TokenUse};

/// The default number of entries: enough for 100k concurrently active clients.
pub(crate) const DEFAULT_CAPACITY: usize = 100_000;

/// Number of independently locked shards (a power of two).
const SHARDS: usize = 64;

/// How many trailing bytes of a token feed the hash.
///
/// The tail of a JWT is its signature (at least 43 characters for HS256), which differs
/// between any two tokens the codec accepted, so hashing only the tail keeps a lookup at tens
/// of nanoseconds for a 700-byte RS256 token without weakening the full comparison.
const HASHED_TAIL: usize = 32;

/// Verified access tokens and their claims.
///
/// Invariant: see the [module docs](self). All methods take `&self`; readers of different
/// shards never contend, and readers of one shard share a read lock.
pub struct VerifiedCache {
    shards: Box<[RwLock<Shard>]>,
    shard_capacity: usize,
    /// Random key mixed into every hash, from the OS CSPRNG. Only inserted tokens were
    /// verified, so flooding one bucket is not possible for an attacker anyway; the key just
    /// keeps bucket placement unpredictable.
    hash_key: [u8; 16],
}

impl VerifiedCache {
    /// A cache holding at most `capacity` tokens (rounded up to a multiple of the shard
    /// count, at least one per shard).
    pub fn new(capacity: usize) -> VerifiedCache {
        let shard_capacity = capacity.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect();
        VerifiedCache {
            shards,
            shard_capacity,
            hash_key: random_bytes(),
        }
    }

    /// The claims of `token` and the session its `sid` names, if it is cached and
    /// `exp > now_secs`.
    ///
    /// Costs one short hash, one read lock and one constant-time comparison of the token.
    pub fn get(&self, token: &str, now_secs: i64) -> Option<(Claims, SessionHash)> {
        let hash = self.hash(token.as_bytes());
        let shard = self.shard(hash).read();
        let entry = shard.entries.get(&hash)?;
        if !tokens_equal(&entry.token, token.as_bytes()) || entry.claims.exp <= now_secs {
            return None;
        }
        Some((entry.claims.clone(), entry.session))
    }

    /// Remembers that `token` verified to `claims`, its `sid` naming `session`.
    ///
    /// Ignores refresh tokens and tokens longer than [`MAX_TOKEN_LEN`]. When the token's shard
    /// is full, it first drops the entries that expired by `claims.iat` (a lower bound of the
    /// current time for a token just verified); if that frees nothing, it empties the shard,
    /// which costs those clients one re-verification each and keeps insertion O(1) amortized.
    pub fn insert(&self, token: &str, claims: Claims, session: SessionHash) {
        if claims.token_use != TokenUse::Access || token.len() > MAX_TOKEN_LEN {
            return;
        }
        let hash = self.hash(token.as_bytes());
        let mut shard = self.shard(hash).write();
        if shard.entries.len() >= self.shard_capacity && !shard.entries.contains_key(&hash) {
            let now = claims.iat;
            shard.entries.retain(|_, entry| entry.claims.exp > now);
            if shard.entries.len() >= self.shard_capacity {
                shard.entries.clear();
            }
        }
        let token = Zeroizing::new(token.as_bytes().into());
        shard.entries.insert(
            hash,
            Entry {
                token,
                claims,
                session,
            },
        );
    }

    /// The number of cached tokens, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().entries.len())
            .sum()
    }

    /// Whether the cache holds no token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most tokens the cache holds.
    pub fn capacity(&self) -> usize {
        self.shard_capacity * SHARDS
    }

    /// Forgets every token (for example after the key set changed).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            shard.write().entries.clear();
        }
    }

    /// A keyed SipHash-1-3 of the token's last [`HASHED_TAIL`] bytes.
    fn hash(&self, token: &[u8]) -> u64 {
        let tail = token
            .get(token.len().saturating_sub(HASHED_TAIL)..)
            .unwrap_or(token);
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write(&self.hash_key);
        hasher.write(tail);
        hasher.finish()
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        // The top bits pick the shard; the map uses the low bits, so they stay independent.
        let index = (hash >> 58) as usize % SHARDS;
        // why: `shards` has exactly SHARDS elements (built in `new`), and index < SHARDS.
        &self.shards[index]
    }
}

impl Default for VerifiedCache {
    /// A cache of [`DEFAULT_CAPACITY`] tokens.
    fn default() -> Self {
        VerifiedCache::new(DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

/// Whether two tokens are equal, in time that depends only on their lengths.
///
/// [`constant_time_eq`] (subtle) compares byte by byte behind an optimization barrier per byte,
/// about 2 ns a byte here: 1.5 us for an RS256 token, three times a cache hit's budget. This
/// XORs 8-byte words into one accumulator with no data-dependent branch, hides the accumulator
/// from the optimizer after every word so no early exit can be derived, and lets
/// [`constant_time_eq`] make the final decision on the 8-byte result.
fn tokens_equal(a: &[u8], b: &[u8]) -> bool {
    // Token lengths are not secret: every token of one codec has nearly the same length.
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    let mut diff = 0u64;
    for (x, y) in a_words.iter().zip(b_words) {
        diff = std::hint::black_box(diff | (u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y)));
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        diff = std::hint::black_box(diff | u64::from(x ^ y));
    }
    constant_time_eq(&diff.to_ne_bytes(), &[0; 8])
}

/// One lock's worth of entries, keyed by the token hash (already a keyed SipHash, so the map
/// uses it as is).
#[derive(Default)]
struct Shard {
    entries: HashMap<u64, Entry, BuildHasherDefault<IdentityHasher>>,
}

struct Entry {
    /// The whole token, to rule out hash collisions; a bearer credential, so wiped on drop.
    token: Zeroizing<Box<[u8]>>,
    claims: Claims,
    /// The session the token's `sid` names: stateful checks on a hit cost one index lookup,
    /// not a decryption and a hash.
    session: SessionHash,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const NOW: i64 = 1_700_000_000;
    const SESSION: SessionHash = SessionHash([7; 32]);

    fn claims(sub: &str, exp: i64) -> Claims {
        Claims {
            sub: sub.into(),
            iat: NOW,
            exp,
            jti: format!("jti-{sub}"),
            sid: "c2lk".into(),
            token_use: TokenUse::Access,
        }
    }

    #[test]
    fn hits_only_for_the_same_token_until_exp() {
        let cache = VerifiedCache::new(1000);
        cache.insert("token-a", claims("a", NOW + 10), SESSION);
        assert_eq!(
            cache.get("token-a", NOW),
            Some((claims("a", NOW + 10), SESSION))
        );
        assert_eq!(
            cache.get("token-a", NOW + 9).map(|(c, _)| c.sub),
            Some("a".into())
        );
        assert_eq!(
            cache.get("token-a", NOW + 10),
            None,
            "exp == now is expired"
        );
        assert_eq!(cache.get("token-b", NOW), None);
        assert_eq!(cache.get("", NOW), None);
    }

    #[test]
    fn a_hash_collision_is_a_miss() {
        // Same 32-byte tail, so the same hash and slot: only the full comparison tells them
        // apart.
        let tail = "S".repeat(HASHED_TAIL);
        let stored = format!("header.payload-of-alice.{tail}");
        let other = format!("header.payload-of-mallory.{tail}");
        let cache = VerifiedCache::new(100);
        assert_eq!(cache.hash(stored.as_bytes()), cache.hash(other.as_bytes()));
        cache.insert(&stored, claims("alice", NOW + 10), SESSION);
        assert_eq!(cache.get(&other, NOW), None);
        let same_len = format!("header.payload-of-alicE.{tail}");
        assert_eq!(cache.get(&same_len, NOW), None);
        assert!(cache.get(&stored, NOW).is_some());
    }

    #[test]
    fn tokens_equal_compares_every_byte() {
        let token: Vec<u8> = (0..=255u8).cycle().take(701).collect();
        assert!(tokens_equal(&token, &token.clone()));
        assert!(tokens_equal(b"", b""));
        assert!(!tokens_equal(&token, &token[..700]));
        for i in 0..token.len() {
            let mut other = token.clone();
            other[i] ^= 0x80;
            assert!(
                !tokens_equal(&token, &other),
                "difference at byte {i} missed"
            );
        }
    }

    #[test]
    fn refresh_tokens_and_oversized_tokens_are_not_cached() {
        let cache = VerifiedCache::new(100);
        let mut refresh = claims("r", NOW + 10);
        refresh.token_use = TokenUse::Refresh;
        cache.insert("refresh-token", refresh, SESSION);
        cache.insert(
            &"x".repeat(MAX_TOKEN_LEN + 1),
            claims("big", NOW + 10),
            SESSION,
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn capacity_is_a_hard_bound() {
        let cache = VerifiedCache::new(128);
        assert_eq!(cache.capacity(), 128);
        for i in 0..5000 {
            cache.insert(
                &format!("token-{i:05}"),
                claims(&i.to_string(), NOW + 300),
                SESSION,
            );
            assert!(cache.len() <= 128);
        }
        assert!(!cache.is_empty());
        // The newest entry always survives its own insertion.
        assert!(cache.get("token-04999", NOW).is_some());
    }

    #[test]
    fn full_shards_drop_expired_entries_first() {
        let cache = VerifiedCache::new(2 * SHARDS); // two entries per shard
        let shard_of = |t: &str| cache.hash(t.as_bytes()) >> 58;
        let target = shard_of("token-0");
        let same_shard: Vec<String> = (0..)
            .map(|i| format!("token-{i}"))
            .filter(|t| shard_of(t) == target)
            .take(3)
            .collect();
        cache.insert(&same_shard[0], claims("expired", NOW), SESSION);
        cache.insert(&same_shard[1], claims("live", NOW + 300), SESSION);
        cache.insert(&same_shard[2], claims("new", NOW + 300), SESSION);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&same_shard[1], NOW).is_some(), "live entry kept");
        assert!(cache.get(&same_shard[2], NOW).is_some());
        // With no expired entry to drop, the shard is emptied to make room.
        cache.insert(
            &format!("{}-x", same_shard[2]),
            claims("x", NOW + 300),
            SESSION,
        );
        let fourth = (3..)
            .map(|i| format!("token-{i}-y"))
            .find(|t| shard_of(t) == target)
            .unwrap();
        cache.insert(&fourth, claims("fourth", NOW + 300), SESSION);
        assert!(cache.get(&fourth, NOW).is_some());
        assert!(cache.len() <= 2 * SHARDS);
    }

    #[test]
    fn clear_forgets_everything() {
        let cache = VerifiedCache::default();
        assert_eq!(cache.capacity(), DEFAULT_CAPACITY.div_ceil(SHARDS) * SHARDS);
        cache.insert("t", claims("a", NOW + 1), SESSION);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn concurrent_readers_and_writers() {
        // Roomy enough that no shard overflows, so every token stays readable.
        let cache = Arc::new(VerifiedCache::new(DEFAULT_CAPACITY));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        let token = format!("token-{t}-{i}");
                        cache.insert(&token, claims(&token, NOW + 10), SESSION);
                        assert_eq!(cache.get(&token, NOW).map(|(c, _)| c.sub), Some(token));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(cache.len(), 8000);
    }

    #[test]
    fn debug_shows_no_tokens() {
        let cache = VerifiedCache::new(10);
        cache.insert("secret-bearer-token", claims("a", NOW + 10), SESSION);
        let shown = format!("{cache:?}");
        assert!(!shown.contains("secret-bearer"), "{shown}");
        assert!(shown.contains("len: 1"), "{shown}");
    }
}
