//! Session keys: the secret behind `X-Session-Token` and the `sid` claim.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{fill_random, sha256};
use crate::event::SessionHash;

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Length of a session key, as Django's.
pub const SESSION_KEY_LEN: usize = 32;

/// A session key: 32 characters of `[a-z0-9]` from the OS CSPRNG, like Django's.
///
/// Never written to disk: the log names sessions by [`SessionKey::hash`]. Debug output is
/// redacted and the memory is wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SessionKey(String);

impl SessionKey {
    /// A fresh random key (about 165 bits of entropy).
    pub fn generate() -> SessionKey {
        let mut out = String::with_capacity(SESSION_KEY_LEN);
        let mut buf = [0u8; 64];
        while out.len() < SESSION_KEY_LEN {
            fill_random(&mut buf);
            for b in buf.iter().copied() {
                // why: rejection sampling keeps the 36 symbols uniform (252 = 7 * 36).
                if b < 252 && out.len() < SESSION_KEY_LEN {
                    out.push(char::from(ALPHABET[usize::from(b % 36)]));
                }
            }
        }
        buf.zeroize();
        SessionKey(out)
    }

    /// Wraps a presented token. Any string is accepted; an unknown key simply finds no session.
    pub fn from_presented(token: &str) -> SessionKey {
        SessionKey(token.to_owned())
    }

    /// The key's text, to hand to the client that owns it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 by which the log and the indexes know this session.
    pub fn hash(&self) -> SessionHash {
        SessionHash(sha256(self.0.as_bytes()))
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
