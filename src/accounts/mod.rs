//! Built-in accounts: password hashing and verification, Django's password validators, e-mail
//! normalization. Problems come back typed; the facade decides their wire text.

pub(crate) mod email;
pub(crate) mod password;
pub(crate) mod pychar;
pub(crate) mod validators;

pub use email::{EmailError, MAX_EMAIL_CHARS, normalize_email, username_base};
pub use password::{
    MAX_PASSWORD_BYTES, PasswordError, authenticate, hash_password, verify_password,
};
pub use validators::{PasswordProblem, UserAttribute, UserAttributes, validate_password};
