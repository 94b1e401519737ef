//! `POST account/password/change`: change the password, giving the current one, or set a first
//! one for a user without a usable password.
//!
//! allauth 65.19+ ends the user's other sessions and rotates the key of the current one (a
//! new `meta.session_token`; the old token is then 410). Here every session of the user ends
//! in the same durable write as the change (`Engine::change_password` with no session kept),
//! and the client gets a fresh session in the same request, with the authentication method of
//! the one it had. With `ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE` the answer is the 401 anonymous
//! body and no session is made.

use std::sync::Arc;

use crate::accounts::password::verify_user_password;
use crate::accounts::{MAX_PASSWORD_BYTES, UserAttributes, hash_password, validate_password};
use crate::engine::EngineError;
use crate::event::PasswordChange;
use crate::web::app::App;
use crate::web::endpoints::common::{
    blocking, password_work, require_recent_authentication, require_session, signed_in,
};
use crate::web::errors::{self, ApiError};
use crate::web::flows::{Offered, Pending};
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses::AuthState;

/// `POST account/password/change {current_password, new_password}`: 200 with a new session
/// (its token and, with JWT, access and refresh tokens), or 401 under
/// `ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE`; 400 with every field's problems at once (a wrong
/// current password and a weak new one are both reported, as allauth); 401 when not signed in,
/// or, for a user setting a first password, when the session did not authenticate within
/// `ACCOUNT_REAUTHENTICATION_TIMEOUT`; 429 from the sixth attempt in a minute on, the right
/// password included.
///
/// With JWT the answer carries new access and refresh tokens. [ours]: allauth's JWT strategy
/// mints tokens only when the request's user changed, so after its key rotation the client
/// holds a refresh token of a session that no longer exists and cannot refresh.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, user) = require_session(app, request)?;
    let user_key = user.id.to_string();
    if !app
        .limits
        .hit(Limit::ChangePassword, user_key.as_str(), app.engine.now())
    {
        return Err(ApiError::RateLimited);
    }
    // As allauth's view: only setting a first password asks for a recent authentication, and
    // it asks before the body is read.
    if !user.has_usable_password {
        require_recent_authentication(app, &user, &auth.session)?;
    }
    let input = input::password_change(&request.body)?;
    let mut problems = Vec::new();
    match (&input.current_password, user.has_usable_password) {
        (None, true) => problems.push(errors::required("current_password")),
        (None, false) => {}
        // Nothing matches a password the user does not have (Django's `check_password` of an
        // unusable one), so giving one is the same error as giving a wrong one.
        (Some(_), false) => problems.push(errors::enter_current_password()),
        (Some(current), true) => {
            let engine = app.engine.clone();
            let (id, current) = (user.id, current.clone());
            let right = password_work(app, move || verify_user_password(&engine, id, &current));
            if !right.await? {
                problems.push(errors::enter_current_password());
            }
        }
    }
    match &input.new_password {
        None => problems.push(errors::required("new_password")),
        Some(new) if new.len() > MAX_PASSWORD_BYTES => {
            problems.push(errors::new_password_too_long(MAX_PASSWORD_BYTES));
        }
        Some(new) => {
            let attributes = UserAttributes {
                username: Some(&user.username),
                email: Some(&user.email),
                ..UserAttributes::default()
            };
            for problem in validate_password(new, &attributes) {
                problems.push(errors::new_password(&problem));
            }
        }
    }
    let (Some(new_password), true) = (input.new_password, problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    // allauth's `is_set`: a change without a current password sets one.
    let change = match input.current_password {
        Some(_) => PasswordChange::Changed,
        None => PasswordChange::Set,
    };
    let hash = password_work(app, move || hash_password(&new_password))
        .await?
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))?;
    let logout = app.config.logout_on_password_change;
    let meta = request.session_meta(auth.session.method);
    let engine = app.engine.clone();
    let strategy = Arc::clone(&app.strategy);
    let id = user.id;
    // One write ends every session of the user, this one included; the fresh session is the
    // next write. A failure between the two leaves the client signed out, never signed in
    // with a session the change should have ended.
    let signed = blocking(move || {
        engine.change_password(id, hash, change, None)?;
        if logout {
            return Ok(None);
        }
        let user = engine
            .user(id)
            .ok_or(EngineError::UnknownUser { user: id })?;
        let issued = strategy.create_session(&engine, &user, meta)?;
        Ok::<_, ApiError>(Some((user, issued)))
    })
    .await??;
    match signed {
        Some((user, issued)) => Ok(signed_in(app, &user, &issued)),
        None => Ok(AuthState::anonymous(Offered::of(&app.config), Pending::NONE).reply()),
    }
}
