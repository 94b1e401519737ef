//! What several endpoints share: the session a request must carry, the already-signed-in
//! check, the answer that begins a session, and running blocking work off the async workers.
//!
//! Password hashing and verification and every engine write run in `spawn_blocking` (argon2
//! and fsync would otherwise stall the async workers that serve everyone else). Password work
//! goes through [`password_work`], which takes a slot of the app's `PasswordGate` first; engine
//! writes go through [`blocking`] and never wait for a slot, so a login flood cannot hold
//! up a logout. No caller holds a slot while it waits for the engine.

use crate::engine::SessionInfo;
use crate::event::SessionHash;
use crate::state::User;
use crate::token::{Authenticated, Issued, Resolved};
use crate::web::app::App;
use crate::web::errors::ApiError;
use crate::web::flows::{self, Offered, Pending};
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses;

/// The live session of `request` and its user, or the 401/410 the request deserves (a 401
/// listing the flows an anonymous session has in progress).
pub(crate) fn require_session(
    app: &App,
    request: &Request,
) -> Result<(Authenticated, User), ApiError> {
    let offered = Offered::of(&app.config);
    match app.resolve(&request.credentials()) {
        Resolved::Anonymous => Err(ApiError::NotAuthenticated {
            offered,
            pending: Pending::NONE,
        }),
        Resolved::Pending(hash) => Err(ApiError::NotAuthenticated {
            offered,
            pending: Pending::of(&app.engine.flows(&hash)),
        }),
        Resolved::Dead => Err(ApiError::SessionGone { offered }),
        Resolved::Authenticated(auth) => match app.engine.user(auth.session.user) {
            Some(user) => Ok((*auth, user)),
            None => Err(ApiError::SessionGone { offered }),
        },
    }
}

/// The anonymous session `request` carries, if its token names one with flows in progress.
pub(crate) fn pending_session(app: &App, request: &Request) -> Option<SessionHash> {
    match app.resolve(&request.credentials()) {
        Resolved::Pending(hash) => Some(hash),
        _ => None,
    }
}

/// A 409 when `request` carries a live session: signing up or in again is refused, as
/// allauth refuses it.
pub(crate) fn refuse_if_signed_in(app: &App, request: &Request) -> Result<(), ApiError> {
    match app.resolve(&request.credentials()) {
        Resolved::Authenticated(_) => Err(ApiError::Conflict),
        Resolved::Anonymous | Resolved::Dead | Resolved::Pending(_) => Ok(()),
    }
}

/// The authenticated state of `user` in `session`, with its reauthentications.
pub(crate) fn authenticated_state(app: &App, user: &User, session: &SessionInfo) -> ApiReply {
    let reauths = app.engine.reauthentications(&session.hash);
    responses::Authenticated::reply(user, session, &reauths, None)
}

/// Nothing when `session` authenticated (began, or reauthenticated) within
/// `ACCOUNT_REAUTHENTICATION_TIMEOUT`; else allauth's 401 asking for reauthentication, with
/// the flows `user` can reauthenticate by.
#[expect(
    dead_code,
    reason = "the account endpoints use it; remove this when they land"
)]
pub(crate) fn require_recent_authentication(
    app: &App,
    user: &User,
    session: &SessionInfo,
) -> Result<(), ApiError> {
    let timeout_ms = app
        .config
        .reauthentication_timeout_secs
        .saturating_mul(1000);
    let last = app
        .engine
        .last_authenticated(&session.hash)
        .unwrap_or(session.created_at);
    if last.plus_millis(timeout_ms) >= app.engine.now() {
        return Ok(());
    }
    let reauths = app.engine.reauthentications(&session.hash);
    let addresses = app.engine.email_addresses(user.id);
    let pending = Pending::of(&app.engine.flows(&session.hash));
    let flows = flows::reauthentication(&app.config, user.has_usable_password, &addresses, pending);
    let reply = responses::Authenticated::reauthentication_required(user, session, &reauths, flows);
    Err(ApiError::ReauthenticationRequired(Box::new(reply)))
}

/// The answer that began a session: the authenticated state with the session token and the
/// strategy's token payload.
pub(crate) fn signed_in(app: &App, user: &User, issued: &Issued) -> ApiReply {
    let tokens = app.strategy.access_token_payload(issued);
    responses::Authenticated::reply(
        user,
        &issued.session,
        &[],
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
