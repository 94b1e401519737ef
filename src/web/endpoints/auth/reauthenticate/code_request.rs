//! `POST auth/reauthenticate/code/request`: a reauthentication code mailed to one of the
//! signed-in user's verified addresses.

use std::sync::Arc;

use warp::http::StatusCode;

use crate::event::{AuthMethod, FlowKind};
use crate::web::app::App;
use crate::web::endpoints::auth::code::{REAUTHENTICATION_CODE, code_mail};
use crate::web::endpoints::auth::reauthenticate::hit_reauthenticate_limit;
use crate::web::endpoints::common::{blocking, require_session};
use crate::web::errors::{self, ApiError};
use crate::web::input::{self, CodeRecipient};
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/reauthenticate/code/request {email}`: 200 `{status}` and a "Sign-In Code" mail
/// (the login-code text, as allauth's) to that address; a second request replaces the code.
/// The code works for `ACCOUNT_LOGIN_BY_CODE_TIMEOUT` and `ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS`
/// tries, as allauth's.
///
/// 400: `invalid` on `email`; `required` without `param` for `{}`; `select_only_one` for an
/// address and a phone; `unknown_email` on `email` ("The email address is not assigned to any
/// user account.") unless the address (any case) is one of the user's verified ones;
/// `unknown_phone` for a phone (hallpass keeps none); `too_many_login_attempts` on `email` past
/// `request_login_code` for that address or client. 401 without a signed-in session (410 for
/// a dead token); 403 when `ACCOUNT_REAUTHENTICATION_METHODS` leaves out `code`; 429 past
/// `reauthenticate` (10/min per user).
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, user) = require_session(app, request)?;
    if !app.config.reauthentication_methods.code {
        return Err(ApiError::Forbidden);
    }
    hit_reauthenticate_limit(app, &user)?;
    let email = match input::reauthentication_code_recipient(&request.body)? {
        CodeRecipient::Email(email) => email,
        CodeRecipient::Phone => {
            return Err(ApiError::Validation(vec![errors::phone_not_assigned()]));
        }
    };
    // The address as the account holds it (allauth sends to the stored spelling).
    let Some(address) = app
        .engine
        .email_addresses(user.id)
        .into_iter()
        .find(|a| a.verified && a.email.to_lowercase() == email.to_lowercase())
        .map(|a| a.email)
    else {
        return Err(ApiError::Validation(vec![errors::email_not_assigned()]));
    };
    let now = app.engine.now();
    let key = address.to_lowercase();
    if !(app
        .limits
        .hit(Limit::RequestLoginCodeIp, request.client, now)
        && app
            .limits
            .hit(Limit::RequestLoginCodeEmail, key.as_str(), now))
    {
        return Err(ApiError::Validation(vec![
            errors::too_many_login_attempts_on("email"),
        ]));
    }
    let (digest, mail) = code_mail(
        app,
        REAUTHENTICATION_CODE,
        &address,
        Some(user.username.clone()),
    );
    let engine = app.engine.clone();
    let holder = auth.session.hash;
    let ttl_ms = app.config.login_code_timeout_secs.saturating_mul(1000);
    blocking(move || {
        engine.start_flow(
            holder,
            FlowKind::ReauthenticateByCode,
            Some(user.id),
            Some(&address),
            Some(digest),
            AuthMethod::Code,
            ttl_ms,
            Some(mail),
        )
    })
    .await??;
    app.mailer.wake();
    Ok(ApiReply::bare(StatusCode::OK))
}
