//! `account/…`: the signed-in user's own account.

pub(super) mod email;
// --- password change and reset ---
pub(super) mod password_change;
