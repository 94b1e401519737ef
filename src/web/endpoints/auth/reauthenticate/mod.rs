//! `auth/reauthenticate…`: a signed-in session proves its user again, by password or by a
//! code mailed to a verified address, so that the sensitive operations behind
//! `common::require_recent_authentication` go through for `ACCOUNT_REAUTHENTICATION_TIMEOUT`.
//!
//! Each success is recorded on the session (`Engine::reauthenticate`) and shows in `methods`
//! as `{method, at, reauthenticated: true}`.

pub(crate) mod code_confirm;
pub(crate) mod code_request;
pub(crate) mod code_resend;

use std::sync::Arc;

use crate::accounts::authenticate;
use crate::event::{AuthMethod, SessionHash};
use crate::state::User;
use crate::web::app::App;
use crate::web::endpoints::common::{
    authenticated_state, blocking, password_work, require_session,
};
use crate::web::errors::{self, ApiError};
use crate::web::flows::Offered;
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/reauthenticate {password}`: 200 with the authenticated state (the new entry in
/// `methods`); 400 `incorrect_password` on `password` for a wrong one (also for a user without
/// a usable password), `required` without one; 401 without a signed-in session (410 for a
/// dead token); 403 when `ACCOUNT_REAUTHENTICATION_METHODS` leaves out `password`; 429 past
/// `reauthenticate` (10/min per user, every request counted).
///
/// A wrong password is a failed login, as allauth's `reauthenticate` authenticates through the
/// login path: it counts against `login_failed` for the client and for the user's address, and
/// past either limit the answer is 400 `too_many_login_attempts` on `password` (the right
/// password too), which blocks the user's logins as well. The failure is reserved before the
/// password is checked, as login's, so concurrent guesses cannot outrun the limit; a right
/// password gives it back.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, user) = require_session(app, request)?;
    if !app.config.reauthentication_methods.password {
        return Err(ApiError::Forbidden);
    }
    hit_reauthenticate_limit(app, &user)?;
    let password = input::reauthentication_password(&request.body)?;
    let now = app.engine.now();
    let login_key = login_failed_key(&user).to_owned();
    let Some(ip_slot) = app
        .limits
        .reserve(Limit::LoginFailedIp, request.client, now)
    else {
        return Err(too_many_attempts());
    };
    let Some(email_slot) = app
        .limits
        .reserve(Limit::LoginFailedEmail, login_key.as_str(), now)
    else {
        app.limits.release(ip_slot);
        return Err(too_many_attempts());
    };
    // allauth's `reauthenticate`: the user's primary address and this password must log in,
    // as this user. An account without a usable password fails after the same work.
    let engine = app.engine.clone();
    let email = user.email.clone();
    let id = user.id;
    let checked = password_work(app, move || {
        authenticate(&engine, &email, &password).is_some_and(|found| found.id == id)
    })
    .await;
    let right = match checked {
        Ok(right) => right,
        Err(e) => {
            app.limits.release(ip_slot);
            app.limits.release(email_slot);
            return Err(e);
        }
    };
    if !right {
        return Err(ApiError::Validation(vec![errors::incorrect_password()]));
    }
    app.limits.release(ip_slot);
    app.limits.release(email_slot);
    record(app, auth.session.hash, AuthMethod::Password).await?;
    Ok(authenticated_state(app, &user, &auth.session))
}

/// Counts a request against `reauthenticate` (10/min per user).
///
/// # Errors
///
/// 429 past the limit.
pub(crate) fn hit_reauthenticate_limit(app: &App, user: &User) -> Result<(), ApiError> {
    let key = user.id.0.to_string();
    if app
        .limits
        .hit(Limit::Reauthenticate, key.as_str(), app.engine.now())
    {
        Ok(())
    } else {
        Err(ApiError::RateLimited)
    }
}

/// Records that `session` reauthenticated now by `method`.
///
/// # Errors
///
/// 410 when the session ended meanwhile; storage errors.
pub(crate) async fn record(
    app: &Arc<App>,
    session: SessionHash,
    method: AuthMethod,
) -> Result<(), ApiError> {
    let engine = app.engine.clone();
    if blocking(move || engine.reauthenticate(session, method)).await?? {
        Ok(())
    } else {
        Err(ApiError::SessionGone {
            offered: Offered::of(&app.config),
        })
    }
}

/// What allauth's `login_failed` counts a user's failures under: their (primary) address, or
/// their username when they have none (`_get_login_attempts_cache_key`).
fn login_failed_key(user: &User) -> &str {
    if user.email.is_empty() {
        &user.username
    } else {
        &user.email
    }
}

fn too_many_attempts() -> ApiError {
    ApiError::Validation(vec![errors::too_many_login_attempts_on("password")])
}
