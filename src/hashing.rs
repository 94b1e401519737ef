//! Hashers for keys that are already well spread, so the state's maps and the verified-token
//! cache skip SipHash. A leaf: imports no other part of hallpass.

use std::hash::Hasher;

/// A hasher for keys that are already uniform hashes (a session hash feeds it its first 8
/// bytes; the verified-token cache its keyed SipHash as a `u64`): a lookup costs no second
/// hashing round.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached by keys other than session hashes; fold them in so it stays a hash.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A hasher for user ids: one multiplication by a large odd constant (Fibonacci hashing).
/// Ids are small consecutive integers chosen by the server, so the low bits (the bucket) stay
/// distinct and the multiplication fills the high bits hashbrown keeps as tags; no SipHash
/// round is needed where nobody outside picks the keys.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct UserIdHasher(u64);

impl Hasher for UserIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached by keys other than UserId; fold them in so it stays a hash.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}
