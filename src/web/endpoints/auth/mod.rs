//! `auth/…`: signing up and in, the session, and the user's list of sessions.

pub(super) mod login;
pub(super) mod session;
pub(super) mod sessions;
pub(super) mod signup;
// --- password change and reset ---
pub(super) mod password_request;
pub(super) mod password_reset;
