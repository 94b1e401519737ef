//! Built-in accounts: password hashing, Django's password validators, e-mail normalization.

pub mod email;
pub mod password;
mod pychar;
pub mod validators;
