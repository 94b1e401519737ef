//! Codes and link keys sent by e-mail, and the keyed digests the log stores instead of them.
//!
//! A code is what allauth's `generate_user_code` makes by default: 8 characters from RFC
//! 8628's unambiguous alphabet `BCDFGHJKLMNPQRSTVWXZ`, shown as `XXXX-XXXX`; what a user types
//! is compared after allauth's `normalize_user_code` (punctuation and whitespace dropped,
//! lower-cased). A link key is 32 random bytes, base64url: unguessable, so only its single use
//! and expiry matter.
//!
//! Neither is stored. The log holds `HMAC-SHA-256(K, purpose | 0x00 | text)`, `K` derived from
//! `SECRET_KEY`: a copy of the data directory alone does not let anyone test guesses of a
//! 35-bit code offline, and a digest for one purpose never matches for another.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{random_bytes, random_string};

/// RFC 8628 section 6.1's alphabet, allauth's `_ALPHA_ALLOWED_CHARS`.
const CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// allauth's default code length.
const CODE_LEN: usize = 8;

/// A code to send: `XXXX-XXXX`. Wiped on drop; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct UserCode(String);

impl UserCode {
    /// A fresh code from the OS CSPRNG.
    pub fn generate() -> UserCode {
        let raw = random_string(CODE_ALPHABET, CODE_LEN);
        UserCode(format!("{}-{}", &raw[..CODE_LEN / 2], &raw[CODE_LEN / 2..]))
    }

    /// The code as shown to the user.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCode(<redacted>)")
    }
}

/// A link key to send. Wiped on drop; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct LinkKey(String);

impl LinkKey {
    /// A fresh key: 32 bytes from the OS CSPRNG, base64url without padding (43 characters).
    pub fn generate() -> LinkKey {
        let mut bytes = random_bytes::<32>();
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        bytes.zeroize();
        LinkKey(key)
    }

    /// The key as put in a link.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(<redacted>)")
    }
}

/// allauth's `normalize_user_code`: ASCII punctuation and whitespace dropped, lower-cased.
pub fn normalize_user_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_ascii_punctuation() && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The longest code or key text digested; anything longer matches nothing and is not hashed.
pub const MAX_SECRET_TEXT: usize = 256;

/// Keyed digests of codes and keys, under a key derived from `SECRET_KEY`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretHasher {
    key: [u8; 32],
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(<redacted>)")
    }
}

impl SecretHasher {
    /// The hasher of a deployment: its key is `HMAC-SHA-256(SECRET_KEY, "hallpass secret
    /// digests v1")`, so it changes with `SECRET_KEY` and is used for nothing else.
    pub fn new(secret_key: &[u8]) -> SecretHasher {
        let mut key = [0u8; 32];
        key.copy_from_slice(&hmac(secret_key, &[b"hallpass secret digests v1"]));
        SecretHasher { key }
    }

    /// The digest of a code for `purpose`, as typed: normalized first, so `bcdf-ghjk`,
    /// `BCDFGHJK` and `BCDF GHJK` are one code. `None` for an empty or overlong input (matches
    /// nothing).
    pub fn code(&self, purpose: &str, typed: &str) -> Option<[u8; 32]> {
        if typed.len() > MAX_SECRET_TEXT {
            return None;
        }
        let normalized = normalize_user_code(typed);
        (!normalized.is_empty()).then(|| self.digest(purpose, &normalized))
    }

    /// The digest of a link key for `purpose`, exactly as given. `None` for an empty or
    /// overlong input.
    pub fn key(&self, purpose: &str, key: &str) -> Option<[u8; 32]> {
        (!key.is_empty() && key.len() <= MAX_SECRET_TEXT).then(|| self.digest(purpose, key))
    }

    fn digest(&self, purpose: &str, text: &str) -> [u8; 32] {
        hmac(&self.key, &[purpose.as_bytes(), &[0], text.as_bytes()])
    }

    /// A 32-byte subkey for another use of `SECRET_KEY` (sealing the outbox), named by
    /// `label`.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        hmac(&self.key, &[b"derive\0", label.as_bytes()])
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // why: HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_look_like_allauths() {
        for _ in 0..200 {
            let code = UserCode::generate();
            let text = code.expose();
            assert_eq!(text.len(), 9);
            assert_eq!(&text[4..5], "-");
            assert!(
                text.bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| CODE_ALPHABET.contains(&b))
            );
        }
        assert_ne!(UserCode::generate(), UserCode::generate());
        assert_eq!(
            format!("{:?}", UserCode::generate()),
            "UserCode(<redacted>)"
        );
    }

    #[test]
    fn typed_codes_normalize_as_allauth() {
        let hasher = SecretHasher::new(b"k");
        let canonical = hasher.code("login", "BCDF-GHJK");
        for typed in ["bcdfghjk", " BCDF GHJK ", "bcdf-ghjk", "B.C.D.F-GHJK"] {
            assert_eq!(hasher.code("login", typed), canonical, "{typed:?}");
        }
        assert_ne!(hasher.code("login", "BCDF-GHJL"), canonical);
        assert_ne!(
            hasher.code("reset", "BCDF-GHJK"),
            canonical,
            "digests are per purpose"
        );
        assert_eq!(hasher.code("login", "---"), None);
        assert_eq!(hasher.code("login", &"a".repeat(MAX_SECRET_TEXT + 1)), None);
        assert_ne!(
            SecretHasher::new(b"other").code("login", "BCDF-GHJK"),
            canonical,
            "digests change with SECRET_KEY"
        );
    }

    #[test]
    fn link_keys_are_long_and_exact() {
        let key = LinkKey::generate();
        assert_eq!(key.expose().len(), 43);
        let hasher = SecretHasher::new(b"k");
        let d = hasher.key("verify", key.expose());
        assert!(d.is_some());
        assert_ne!(hasher.key("verify", &key.expose().to_lowercase()), d);
        assert_eq!(hasher.key("verify", ""), None);
    }

    /// RFC 4231 test case 2, so that `hmac` is HMAC-SHA-256.
    #[test]
    fn hmac_is_rfc_4231() {
        let mac = hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
