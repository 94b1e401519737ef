//! `auth/…`: signing up and in (by password or by a mailed code), the session, the user's list
//! of sessions, and reauthentication.

pub(super) mod code;
pub(super) mod email_verify;
pub(super) mod email_verify_resend;
pub(super) mod login;
pub(super) mod reauthenticate;
pub(super) mod session;
pub(super) mod sessions;
pub(super) mod signup;
// --- password change and reset ---
pub(super) mod password_request;
pub(super) mod password_reset;
