//! What several endpoints share: the session a request must carry, the already-signed-in
//! check, the answer that begins a session, and running blocking work off the async workers.
//!
//! Password hashing and verification and every engine write run in `spawn_blocking` (argon2
//! and fsync would otherwise stall the async workers that serve everyone else). Password work
//! goes through [`password_work`], which takes a slot of the app's `PasswordGate` first; engine
//! writes go through [`blocking`] and never wait for a slot, so a login flood cannot hold
//! up a logout. No caller holds a slot while it waits for the engine.

use crate::state::User;
use crate::token::{Authenticated, Issued, Resolved};
use crate::web::app::App;
use crate::web::errors::ApiError;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses;

/// The live session of `request` and its user, or the 401/410 the request deserves.
pub(crate) fn require_session(
    app: &App,
    request: &Request,
) -> Result<(Authenticated, User), ApiError> {
    let signup_open = app.config.signup_allowed();
    match app.resolve(&request.credentials()) {
        Resolved::Anonymous => Err(ApiError::NotAuthenticated { signup_open }),
        Resolved::Dead => Err(ApiError::SessionGone { signup_open }),
        Resolved::Authenticated(auth) => match app.engine.user(auth.session.user) {
            Some(user) => Ok((*auth, user)),
            None => Err(ApiError::SessionGone { signup_open }),
        },
    }
}

/// A 409 when `request` carries a live session: signing up or in again is refused, as
/// allauth refuses it.
pub(crate) fn refuse_if_signed_in(app: &App, request: &Request) -> Result<(), ApiError> {
    match app.resolve(&request.credentials()) {
        Resolved::Authenticated(_) => Err(ApiError::Conflict),
        Resolved::Anonymous | Resolved::Dead => Ok(()),
    }
}

/// The answer that began a session: the authenticated state with the session token and the
/// strategy's token payload.
pub(crate) fn signed_in(app: &App, user: &User, issued: &Issued) -> ApiReply {
    let tokens = app.strategy.access_token_payload(issued);
    responses::Authenticated::reply(
        user,
        &issued.session,
        Some((issued.session_token.expose(), tokens)),
    )
}

/// Runs `f`, argon2 work (hashing or checking one password), on the blocking pool in a slot
/// of the app's password gate, waiting for one at most `HALLPASS_PASSWORD_HASH_WAIT_SECONDS`.
/// `f` should do nothing else: the slot is held until it returns.
///
/// # Errors
///
/// [`ApiError::Overloaded`] (503, `Retry-After`) when no slot came free in time: `f` did not
/// run. [`ApiError::Internal`] when `f` panicked.
pub(crate) async fn password_work<T: Send + 'static>(
    app: &App,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    Ok(app.password_gate.run(f).await?)
}

/// Runs `f` on the blocking pool (fsync-bound engine writes), never waiting for a password
/// slot. Password work uses [`password_work`] instead.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task: {e}")))
}
