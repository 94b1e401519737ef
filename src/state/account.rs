//! A user account as the state holds it, and the narrow view readers get.

use serde::{Deserialize, Serialize};

use crate::event::{PasswordHash, UserId};

/// A user account as folded from the log. Field order and types are frozen: snapshots encode
/// accounts with bincode as they are here.
///
/// The password hash stays inside: readers get a [`User`] ([`Account::view`]), and only the
/// password-verification path reads [`Account::password_hash`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Account {
    /// The user's id.
    pub(crate) id: UserId,
    /// Normalized (lower-case) e-mail address; unique.
    pub(crate) email: String,
    /// Unique username derived from the e-mail's local part.
    pub(crate) username: String,
    /// The password hash; unusable when the user has no password.
    pub(crate) password_hash: PasswordHash,
}

impl Account {
    /// What readers see of the account: everything but the password hash.
    pub(crate) fn view(&self) -> User {
        User {
            id: self.id,
            email: self.email.clone(),
            username: self.username.clone(),
            has_usable_password: self.password_hash.is_usable(),
        }
    }

    /// The password hash, for the password-verification path.
    pub(crate) fn password_hash(&self) -> &PasswordHash {
        &self.password_hash
    }
}

/// A user account as readers see it: no secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Normalized (lower-case) e-mail address; unique.
    pub email: String,
    /// Unique username derived from the e-mail's local part.
    pub username: String,
    /// Whether the user can log in with a password (Django's `has_usable_password`).
    pub has_usable_password: bool,
}
