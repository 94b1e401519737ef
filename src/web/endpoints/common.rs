//! What several endpoints share: the session a request must carry, the already-signed-in
//! check, the answer that begins a session, and running blocking work off the async workers.
//!
//! Password hashing and verification and every engine write run in `spawn_blocking` (argon2
//! and fsync would otherwise stall the async workers that serve everyone else).

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

/// Runs `f` on the blocking pool (argon2, fsync-bound engine writes).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task: {e}")))
}
