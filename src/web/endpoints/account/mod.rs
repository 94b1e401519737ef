//! `account/…`: what a signed-in user changes about their account.

// --- password change and reset ---
pub(super) mod password_change;
