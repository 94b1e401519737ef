//! `auth/…`: signing up and in, the session, and the user's list of sessions.

pub(super) mod email_verify;
pub(super) mod email_verify_resend;
pub(super) mod login;
pub(super) mod session;
pub(super) mod sessions;
pub(super) mod signup;
