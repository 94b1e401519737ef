//! Sealing small records at rest: AES-256-GCM under a key derived from `SECRET_KEY`.
//!
//! A sealed record is `nonce (12 bytes) | ciphertext | tag (16 bytes)`, the nonce fresh from the
//! OS CSPRNG for each record (random 96-bit nonces stay safe far beyond the number of messages
//! one key seals). The label is bound as associated data, so a record sealed for one use never
//! opens as another.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::random_bytes;

/// Bytes of the nonce in front of every sealed record.
const NONCE: usize = 12;

/// Seals and opens records under one key, for one label.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Sealer {
    key: [u8; 32],
    #[zeroize(skip)]
    label: &'static [u8],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    /// A sealer with `key` for records labelled `label`.
    pub(crate) fn new(key: [u8; 32], label: &'static [u8]) -> Sealer {
        Sealer { key, label }
    }

    /// `plain`, sealed.
    pub(crate) fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = random_bytes::<NONCE>();
        let cipher = Aes256Gcm::new((&self.key).into());
        let payload = Payload {
            msg: plain,
            aad: self.label,
        };
        // why: AES-GCM encryption fails only for inputs over 64 GiB; records are kilobytes.
        let sealed = match cipher.encrypt(Nonce::from_slice(&nonce), payload) {
            Ok(sealed) => sealed,
            Err(_) => unreachable!("AES-GCM refuses only plaintexts over 64 GiB"),
        };
        let mut out = Vec::with_capacity(NONCE + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of `sealed`, or `None` when it was not sealed by this key and label (or
    /// was altered).
    pub(crate) fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE + 16 {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE);
        let cipher = Aes256Gcm::new((&self.key).into());
        let payload = Payload {
            msg: body,
            aad: self.label,
        };
        cipher.decrypt(Nonce::from_slice(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_open_only_with_their_key_and_label() {
        let sealer = Sealer::new([7; 32], b"mail");
        let sealed = sealer.seal(b"code BCDF-GHJK");
        assert!(
            !sealed.windows(4).any(|w| w == b"BCDF"),
            "no plaintext at rest"
        );
        assert_eq!(sealer.open(&sealed).unwrap(), b"code BCDF-GHJK");
        assert_ne!(
            sealer.seal(b"x"),
            sealer.seal(b"x"),
            "a fresh nonce per record"
        );
        assert!(Sealer::new([8; 32], b"mail").open(&sealed).is_none());
        assert!(Sealer::new([7; 32], b"totp").open(&sealed).is_none());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(sealer.open(&bad).is_none(), "flip at {i} detected");
        }
        assert!(sealer.open(&sealed[..20]).is_none());
    }
}
