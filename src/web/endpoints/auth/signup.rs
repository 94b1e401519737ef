//! `POST auth/signup`: a new account with e-mail and password, and its first session; with
//! `ACCOUNT_EMAIL_VERIFICATION` `optional` the address is sent its verification, with
//! `mandatory` there is no session yet but a login waiting for the address to be verified
//! (401 with the `verify_email` flow pending), as allauth.

use std::sync::Arc;

use crate::accounts::{
    MAX_PASSWORD_BYTES, UserAttributes, hash_password, normalize_email, username_base,
    validate_password,
};
use crate::config::{EmailVerification, PreventEnumeration};
use crate::crypto::UserCode;
use crate::event::{AuthMethod, FlowKind, SessionHash};
use crate::state::User;
use crate::web::app::App;
use crate::web::endpoints::common::{blocking, password_work, refuse_if_signed_in, signed_in};
use crate::web::endpoints::verification::{
    begin_pending_login, code_digest, code_mail, may_send, send_link,
};
use crate::web::errors::{self, ApiError};
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/signup {email, password}`: 200 with the new session (401 with the pending
/// `verify_email` flow under mandatory verification), 400 with every field's problems at once,
/// 403 while sign-up is closed, 409 when already signed in, 503 when no password slot came
/// free in time.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    if !app.config.signup_allowed() {
        return Err(ApiError::SignupClosed);
    }
    if !app
        .limits
        .hit(Limit::Signup, request.client, app.engine.now())
    {
        return Err(ApiError::RateLimited);
    }
    refuse_if_signed_in(app, request)?;
    let credentials = input::credentials(&request.body)?;
    let mut problems = Vec::new();
    let email = match normalize_email(&credentials.email) {
        Ok(email) => Some(email),
        Err(e) => {
            problems.push(errors::email(&e));
            None
        }
    };
    let username = email.as_deref().map(username_base);
    if credentials.password.len() > MAX_PASSWORD_BYTES {
        problems.push(errors::password_too_long(MAX_PASSWORD_BYTES));
    } else {
        let attributes = UserAttributes {
            username: username.as_deref(),
            email: email.as_deref(),
            ..UserAttributes::default()
        };
        for problem in validate_password(&credentials.password, &attributes) {
            problems.push(errors::password(&problem));
        }
    }
    let (Some(email), Some(username), true) = (email, username, problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    let mandatory = app.config.email_verification == EmailVerification::Mandatory;
    let password = credentials.password;
    if app.engine.user_by_email(&email).is_some() {
        // allauth with mandatory verification and enumeration prevention: the same pending
        // flow as a real sign-up, and "Account Already Exists" to the address. [ours]: the
        // password is hashed all the same, so the answer takes as long as a real sign-up's.
        if mandatory && app.config.prevent_enumeration != PreventEnumeration::Off {
            let _ = password_work(app, move || hash_password(&password)).await?;
            return begin_pending_login(app, request, None, &email, AuthMethod::SignUp).await;
        }
        return Err(ApiError::Validation(vec![errors::email_taken()]));
    }
    // Hashed in a slot of the password gate, written outside it: the account's events wait
    // for the writer, not for other people's passwords, and hold no slot meanwhile.
    let hash = password_work(app, move || hash_password(&password))
        .await?
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))?;
    let (engine, signup_email) = (app.engine.clone(), email.clone());
    let user = blocking(move || engine.sign_up(&signup_email, &username, hash)).await??;
    if mandatory {
        return begin_pending_login(app, request, Some(&user), &email, AuthMethod::SignUp).await;
    }
    let meta = request.session_meta(AuthMethod::SignUp);
    let (engine, strategy, session_user) =
        (app.engine.clone(), Arc::clone(&app.strategy), user.clone());
    let issued = blocking(move || strategy.create_session(&engine, &session_user, meta)).await??;
    if app.config.email_verification == EmailVerification::Optional {
        send_signup_verification(app, &user, &issued.session.hash).await?;
    }
    Ok(signed_in(app, &user, &issued))
}

/// Optional verification: the address just signed up with is sent its verification, under
/// the `confirm_email` limit. By code, the new session holds the code (allauth's process in
/// the Django session), and a refusal sends nothing, as the session is already signed in.
async fn send_signup_verification(
    app: &Arc<App>,
    user: &User,
    session: &SessionHash,
) -> Result<(), ApiError> {
    if !may_send(app, &user.email) {
        return Ok(());
    }
    if !app.config.email_verification_by_code {
        return send_link(app, user, &user.email, true).await;
    }
    let code = UserCode::generate();
    let digest = code_digest(app, code.expose())
        .ok_or_else(|| ApiError::Internal("a code has no digest".to_owned()))?;
    let mail = code_mail(app, user, &user.email, &code, true);
    let ttl_ms = app
        .config
        .email_verification_code_timeout_secs
        .saturating_mul(1000);
    let (engine, holder, user_id, email) =
        (app.engine.clone(), *session, user.id, user.email.clone());
    blocking(move || {
        engine.start_flow(
            holder,
            FlowKind::VerifyEmail,
            Some(user_id),
            Some(&email),
            Some(digest),
            AuthMethod::Unknown,
            ttl_ms,
            Some(mail),
        )
    })
    .await??;
    app.mailer.wake();
    Ok(())
}
