//! [`Secret`]: a setting's value that must not be seen (`SECRET_KEY`, a signing key).

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret string (signing key, `SECRET_KEY`): redacted `Debug`, wiped on drop.
///
/// Invariant: the value leaves only through [`Secret::expose`]; no `Display`, and `Debug`
/// prints `Secret(<redacted>)`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
