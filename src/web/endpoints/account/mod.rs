//! `account/…`: the signed-in user's own account.

pub(super) mod email;
