//! Cryptographic helpers: OS randomness, hashing, constant-time comparison, session keys and
//! the `sid` cipher.
//!
//! A leaf: imports no other part of hallpass. Every random value in hallpass comes from
//! [`fill_random`], which reads the operating system's CSPRNG; there is no seeded or
//! user-space generator.

mod codes;
#[cfg_attr(not(feature = "server"), allow(dead_code))]
mod seal;
mod session_key;
pub(crate) mod sid;

pub use codes::{LinkKey, MAX_SECRET_TEXT, SecretHasher, UserCode, normalize_user_code};
#[cfg(feature = "server")]
pub(crate) use seal::Sealer;
pub use session_key::SessionKey;
pub use sid::SidCipher;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
///
/// Panics if the OS cannot supply randomness. That only happens on a broken platform (no
/// `getrandom(2)` and no `/dev/urandom`), where continuing would mint guessable secrets; an
/// auth server must not limp on without entropy.
pub(crate) fn fill_random(buf: &mut [u8]) {
    #[expect(
        clippy::expect_used,
        reason = "no entropy is a fatal platform fault, see # Panics"
    )]
    getrandom::fill(buf).expect("operating system randomness is unavailable");
}

/// `N` random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// `len` symbols drawn uniformly from `alphabet` (at most 256 distinct bytes, ASCII), from the
/// OS CSPRNG: session keys, Django's `get_random_secret_key`.
///
/// Rejection sampling keeps the symbols uniform: a random byte is used only below the largest
/// multiple of the alphabet's size that fits in a byte (252 for 36 symbols, 250 for 50).
/// The random buffer is wiped after use.
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256 && alphabet.is_ascii());
    let size = alphabet.len().clamp(1, 256);
    let limit = 256 - 256 % size;
    let mut out = String::with_capacity(len);
    let mut buf = zeroize::Zeroizing::new([0u8; 64]);
    while out.len() < len {
        fill_random(&mut buf[..]);
        for &b in buf.iter() {
            if usize::from(b) < limit && out.len() < len {
                // why: b % size < size <= alphabet.len(), so the index is in bounds.
                out.push(char::from(alphabet[usize::from(b) % size]));
            }
        }
    }
    out
}

/// 16 random bytes with the version (4) and RFC 4122 variant bits of a UUID v4, as
/// `uuid::Uuid::new_v4` sets them.
pub(crate) fn uuid_v4() -> [u8; 16] {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_strings_use_only_the_alphabet() {
        let s = random_string(b"ab", 1000);
        assert_eq!(s.len(), 1000);
        assert!(s.bytes().all(|b| b == b'a' || b == b'b'));
        assert!(s.contains('a') && s.contains('b'));
    }

    #[test]
    fn uuid_v4_bits() {
        let u = uuid::Uuid::from_bytes(uuid_v4());
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
    }
}
