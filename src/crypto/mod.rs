//! Cryptographic helpers: OS randomness, hashing, constant-time comparison, the `sid` cipher.
//!
//! Every random value in hallpass comes from [`fill_random`], which reads the operating
//! system's CSPRNG; there is no seeded or user-space generator.

mod session_key;
pub mod sid;

pub use session_key::{SESSION_KEY_LEN, SessionKey};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
///
/// Panics if the OS cannot supply randomness. That only happens on a broken platform (no
/// `getrandom(2)` and no `/dev/urandom`), where continuing would mint guessable secrets; an
/// auth server must not limp on without entropy.
pub fn fill_random(buf: &mut [u8]) {
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

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
