//! `POST auth/login`: e-mail and password, with failed-login limits per address and per
//! e-mail, reserved before the password is checked so that concurrent guesses cannot outrun
//! them.

use std::sync::Arc;

use crate::accounts::{authenticate, normalize_email};
use crate::config::EmailVerification;
use crate::event::AuthMethod;
use crate::web::app::App;
use crate::web::endpoints::common::{blocking, password_work, refuse_if_signed_in, signed_in};
use crate::web::endpoints::verification::{begin_pending_login, cooling_down};
use crate::web::errors::{self, ApiError};
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/login {email, password}`: 200 with a new session, 400 for a mismatch (whichever
/// of the two is wrong) or too many failures, 409 when already signed in, 503 when no password
/// slot came free in time. Under mandatory verification, an unverified address answers 401
/// with the `verify_email` flow pending (and sends a new verification), as allauth.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let ip = request.client;
    let now = app.engine.now();
    if !app.limits.hit(Limit::Login, ip, now) {
        return Err(ApiError::RateLimited);
    }
    let credentials = input::credentials(&request.body)?;
    let email = normalize_email(&credentials.email)
        .map_err(|e| ApiError::Validation(vec![errors::email(&e)]))?;
    // A failure is reserved under both limits before the password is checked, as allauth's
    // `pre_authenticate` consumes `login_failed`: checked first and recorded after, every
    // guess in flight at once would pass the check. A right password gives both back.
    let Some(ip_slot) = app.limits.reserve(Limit::LoginFailedIp, ip, now) else {
        return Err(ApiError::TooManyLoginAttempts);
    };
    let Some(email_slot) = app
        .limits
        .reserve(Limit::LoginFailedEmail, email.as_str(), now)
    else {
        // Refused attempts are not failures: the address keeps its slot.
        app.limits.release(ip_slot);
        return Err(ApiError::TooManyLoginAttempts);
    };
    let engine = app.engine.clone();
    let lookup_email = email.clone();
    let password = credentials.password;
    // Unknown e-mail, no usable password and a wrong password cost the same work and get the
    // same answer, so neither timing nor body tells which accounts exist. The slot of the
    // password gate is held for argon2 alone: it is free again before the session is written.
    let checked = password_work(app, move || authenticate(&engine, &lookup_email, &password));
    let user = match checked.await {
        Ok(user) => user,
        Err(e) => {
            // No answer about the password (the gate was full, or argon2 panicked), so no
            // failure either: a login refused with 503 leaves both limits as they were.
            app.limits.release(ip_slot);
            app.limits.release(email_slot);
            return Err(e);
        }
    };
    // A wrong password keeps both reservations: they are its failures (as does a request
    // dropped while its password is checked).
    let Some(user) = user else {
        return Err(ApiError::Validation(
            vec![errors::email_password_mismatch()],
        ));
    };
    app.limits.release(ip_slot);
    app.limits.release(email_slot);
    // Mandatory verification of the address logged in with: allauth's `verify_email` stage.
    let unverified = app.config.email_verification == EmailVerification::Mandatory
        && !app
            .engine
            .email_addresses(user.id)
            .iter()
            .any(|a| a.email == email && a.verified);
    // allauth's `is_verification_rate_limited`, part of validating the login: by code, a new
    // code could not be sent now, so the login is refused rather than left waiting for one.
    if unverified && app.config.email_verification_by_code && cooling_down(app, &email) {
        return Err(ApiError::TooManyLoginAttempts);
    }
    // After the password, as allauth: a wrong password is a 400 whatever the session.
    refuse_if_signed_in(app, request)?;
    app.limits.clear(Limit::LoginFailedEmail, email.as_str());
    if unverified {
        return begin_pending_login(app, request, Some(&user), &email, AuthMethod::Password).await;
    }
    let meta = request.session_meta(AuthMethod::Password);
    let engine = app.engine.clone();
    let strategy = Arc::clone(&app.strategy);
    let session_user = user.clone();
    let issued = blocking(move || strategy.create_session(&engine, &session_user, meta)).await??;
    Ok(signed_in(app, &user, &issued))
}
