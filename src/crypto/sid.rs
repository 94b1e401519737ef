//! The `sid` claim cipher, byte-compatible with django-allauth's headless JWT strategy.
//!
//! A JWT carries the session key it belongs to in its `sid` claim, encrypted so that a leaked
//! access token does not hand out the session key itself (which is also the `X-Session-Token`).
//! The format is allauth's, byte for byte:
//!
//! ```text
//! sid = base64_standard_padded( IV || AES-256-CTR(key = SHA-256(SECRET_KEY), counter = IV, session_key) )
//! ```
//!
//! The whole 16-byte IV is the initial counter block, incremented as one big-endian 128-bit
//! integer (`ctr::Ctr128BE`), as in Python `cryptography`'s CTR mode and `openssl enc
//! -aes-256-ctr`. The IV is fresh OS randomness for every token, so two tokens of one session
//! carry different `sid`s.
//!
//! CTR mode has no integrity of its own; the JWT signature covers `sid`. [`SidCipher::decrypt`]
//! therefore only has to be total: whatever bytes come in, it answers `Some(session key)` or
//! `None`, and never panics.

use aes::cipher::{KeyIvInit, StreamCipher};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::{fill_random, sha256};

/// AES-256 in CTR mode with the whole 128-bit block as a big-endian counter (allauth's choice).
type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Length of the IV that prefixes every `sid`.
pub(crate) const SID_IV_LEN: usize = 16;

/// Longest session key [`SidCipher::decrypt`] accepts, in bytes of UTF-8.
///
/// hallpass mints 32-character keys; 64 leaves room for keys minted by other allauth setups
/// without letting a token carry an arbitrarily large lookup key.
pub(crate) const MAX_SESSION_KEY_LEN: usize = 64;

/// Longest `sid` string [`SidCipher::decrypt`] looks at; anything longer is rejected unread.
pub(crate) const MAX_SID_LEN: usize = 1024;

/// Encrypts session keys into `sid` claims and back.
///
/// Invariant: holds exactly the 32-byte AES key `SHA-256(SECRET_KEY)`; the key is wiped from
/// memory on drop and never appears in `Debug` output.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SidCipher {
    key: [u8; 32],
}

impl SidCipher {
    /// A cipher whose key is `SHA-256(secret_key)`, as allauth derives it from Django's
    /// `SECRET_KEY` (its UTF-8 bytes).
    pub fn from_secret_key(secret_key: &[u8]) -> SidCipher {
        SidCipher {
            key: sha256(secret_key),
        }
    }

    /// Encrypts `session_key` under a fresh random IV from the OS CSPRNG.
    ///
    /// The result is standard padded base64 (64 characters for a 32-character key) and differs
    /// on every call. Keys outside 1 to 64 bytes encrypt, but
    /// [`SidCipher::decrypt`] refuses them.
    pub fn encrypt(&self, session_key: &str) -> String {
        let mut iv = [0u8; SID_IV_LEN];
        fill_random(&mut iv);
        self.encrypt_with_iv(session_key, iv)
    }

    /// Encrypts `session_key` under the given IV.
    ///
    /// Deterministic; meant for test vectors. Reusing an IV under one key leaks the XOR of the
    /// plaintexts, so production code calls [`SidCipher::encrypt`].
    pub fn encrypt_with_iv(&self, session_key: &str, iv: [u8; SID_IV_LEN]) -> String {
        let mut buf = Vec::with_capacity(SID_IV_LEN + session_key.len());
        buf.extend_from_slice(&iv);
        buf.extend_from_slice(session_key.as_bytes());
        let (_, body) = buf.split_at_mut(SID_IV_LEN);
        self.apply_keystream(&iv, body);
        STANDARD.encode(&buf)
    }

    /// Decrypts a `sid` back into the session key.
    ///
    /// Returns `None` for anything that is not a `sid` this key could have produced in shape:
    /// longer than 1,024 characters, not standard padded base64, no ciphertext after the IV, a
    /// plaintext longer than 64 bytes, or not UTF-8. CTR mode cannot tell a
    /// wrong key from a right one, so a `Some` is only a candidate: the caller looks it up, and
    /// an unknown key means no session. Never panics.
    pub fn decrypt(&self, sid: &str) -> Option<String> {
        if sid.len() > MAX_SID_LEN {
            return None;
        }
        let mut data = Zeroizing::new(STANDARD.decode(sid).ok()?);
        if data.len() <= SID_IV_LEN || data.len() > SID_IV_LEN + MAX_SESSION_KEY_LEN {
            return None;
        }
        let (iv, body) = data.split_at_mut(SID_IV_LEN);
        let iv: [u8; SID_IV_LEN] = (&*iv).try_into().ok()?;
        self.apply_keystream(&iv, body);
        // `data` (now holding the plaintext) is wiped on drop; only the returned copy lives on.
        std::str::from_utf8(body).ok().map(str::to_owned)
    }

    /// XORs the AES-256-CTR keystream for `iv` into `data`.
    ///
    /// The AES key schedule is rebuilt per call: it costs tens of nanoseconds with AES-NI and
    /// keeps no expanded key (a second copy of the secret) alive between calls.
    fn apply_keystream(&self, iv: &[u8; SID_IV_LEN], data: &mut [u8]) {
        let mut cipher = Aes256Ctr::new(&self.key.into(), &(*iv).into());
        cipher.apply_keystream(data);
    }
}

impl std::fmt::Debug for SidCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SidCipher")
            .field("key", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sid/vectors.txt"
    ));

    struct Vector {
        secret: Vec<u8>,
        iv: [u8; 16],
        session_key: String,
        sid: String,
    }

    fn hex(s: &str) -> Vec<u8> {
        assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Lines are `secret_hex iv_hex session_key_hex sid`; `#` starts a comment line. An empty
    /// secret or session key is written as `-`.
    fn vectors() -> Vec<Vector> {
        let out: Vec<Vector> = VECTORS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(f.len(), 4, "bad vector line: {line}");
                let field = |s: &str| if s == "-" { Vec::new() } else { hex(s) };
                Vector {
                    secret: field(f[0]),
                    iv: hex(f[1]).try_into().unwrap(),
                    session_key: String::from_utf8(field(f[2])).unwrap(),
                    sid: f[3].to_owned(),
                }
            })
            .collect();
        assert!(out.len() >= 8, "too few vectors: {}", out.len());
        out
    }

    #[test]
    fn openssl_vectors_both_ways() {
        for v in vectors() {
            let cipher = SidCipher::from_secret_key(&v.secret);
            assert_eq!(
                cipher.encrypt_with_iv(&v.session_key, v.iv),
                v.sid,
                "{}",
                v.session_key
            );
            assert_eq!(
                cipher.decrypt(&v.sid).as_deref(),
                Some(v.session_key.as_str())
            );
        }
    }

    #[test]
    fn encrypt_uses_a_fresh_iv_and_round_trips() {
        let cipher = SidCipher::from_secret_key(b"django-insecure-test-secret");
        let key = "abcdefghijklmnopqrstuvwxyz012345";
        let a = cipher.encrypt(key);
        let b = cipher.encrypt(key);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64, "32-byte key gives 64 base64 characters");
        assert_eq!(
            STANDARD.decode(&a).unwrap().len(),
            48,
            "IV + 32 bytes, standard base64"
        );
        assert_eq!(cipher.decrypt(&a).as_deref(), Some(key));
        assert_eq!(cipher.decrypt(&b).as_deref(), Some(key));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let cipher = SidCipher::from_secret_key(b"secret");
        let iv_only = STANDARD.encode([7u8; 16]);
        let too_long_plain = cipher.encrypt_with_iv(&"a".repeat(65), [1u8; 16]);
        let max_plain = cipher.encrypt_with_iv(&"a".repeat(64), [1u8; 16]);
        let url_safe = cipher.encrypt_with_iv("abc", [0xfb; 16]).replace('+', "-");
        let unpadded = cipher
            .encrypt_with_iv("abc", [0u8; 16])
            .trim_end_matches('=')
            .to_owned();
        for bad in [
            "",
            "=",
            "not base64!",
            &iv_only,
            &too_long_plain,
            &url_safe,
            &unpadded,
            &"A".repeat(MAX_SID_LEN + 4),
        ] {
            assert_eq!(cipher.decrypt(bad), None, "accepted {bad:?}");
        }
        assert_eq!(
            cipher.decrypt(&max_plain).as_deref(),
            Some("a".repeat(64).as_str())
        );
    }

    #[test]
    fn rejects_non_utf8_plaintext() {
        let cipher = SidCipher::from_secret_key(b"secret");
        // Flip a ciphertext bit so that the plaintext byte becomes 0xff, which is never UTF-8.
        let sid = cipher.encrypt_with_iv("a", [3u8; 16]);
        let mut raw = STANDARD.decode(&sid).unwrap();
        raw[16] ^= b'a' ^ 0xff;
        assert_eq!(cipher.decrypt(&STANDARD.encode(&raw)), None);
    }

    #[test]
    fn a_different_secret_does_not_decrypt_to_the_key() {
        let sid = SidCipher::from_secret_key(b"one").encrypt("abcdefghijklmnopqrstuvwxyz012345");
        let other = SidCipher::from_secret_key(b"two").decrypt(&sid);
        assert_ne!(other.as_deref(), Some("abcdefghijklmnopqrstuvwxyz012345"));
    }

    proptest::proptest! {
        /// Whatever comes in, decrypt answers without panicking, and only with short UTF-8.
        #[test]
        fn decrypt_is_total(sid in "[A-Za-z0-9+/=]{0,200}|.{0,64}") {
            let cipher = SidCipher::from_secret_key(b"secret");
            if let Some(key) = cipher.decrypt(&sid) {
                proptest::prop_assert!(!key.is_empty() && key.len() <= MAX_SESSION_KEY_LEN);
            }
        }

        /// Any non-empty key of at most 64 bytes survives the round trip.
        #[test]
        fn round_trips(key in ".{1,16}", iv in proptest::array::uniform16(0u8..)) {
            let cipher = SidCipher::from_secret_key(b"secret");
            let sid = cipher.encrypt_with_iv(&key, iv);
            proptest::prop_assert_eq!(cipher.decrypt(&sid), Some(key));
        }
    }

    #[test]
    fn debug_is_redacted() {
        let cipher = SidCipher::from_secret_key(b"secret");
        assert_eq!(format!("{cipher:?}"), r#"SidCipher { key: "[redacted]" }"#);
    }
}
