//! Session keys: the secret behind `X-Session-Token` and the `sid` claim.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{random_string, sha256};

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Length of a session key, as Django's.
pub(crate) const SESSION_KEY_LEN: usize = 32;

/// A session key: 32 characters of `[a-z0-9]` from the OS CSPRNG, like Django's.
///
/// Never written to disk: the log names sessions by the SHA-256 of the key
/// ([`SessionKey::digest`], which the event layer wraps as a session hash). Debug output is
/// redacted and the memory is wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SessionKey(String);

impl SessionKey {
    /// A fresh random key (about 165 bits of entropy).
    pub fn generate() -> SessionKey {
        SessionKey(random_string(ALPHABET, SESSION_KEY_LEN))
    }

    /// Wraps a presented token. Any string is accepted; an unknown key simply finds no session.
    pub fn from_presented(token: &str) -> SessionKey {
        SessionKey(token.to_owned())
    }

    /// The key's text, to hand to the client that owns it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the key's text: by this the log and the indexes know the session.
    pub fn digest(&self) -> [u8; 32] {
        sha256(self.0.as_bytes())
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_look_like_django_session_keys() {
        for _ in 0..100 {
            let key = SessionKey::generate();
            assert_eq!(key.expose().len(), 32);
            assert!(
                key.expose()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            );
        }
        assert_ne!(SessionKey::generate(), SessionKey::generate());
    }

    #[test]
    fn debug_is_redacted() {
        let key = SessionKey::generate();
        assert!(!format!("{key:?}").contains(key.expose()));
    }
}
