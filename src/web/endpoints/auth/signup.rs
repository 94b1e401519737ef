//! `POST auth/signup`: a new account with e-mail and password, and its first session.

use std::sync::Arc;

use crate::accounts::{
    MAX_PASSWORD_BYTES, UserAttributes, hash_password, normalize_email, username_base,
    validate_password,
};
use crate::event::AuthMethod;
use crate::web::app::App;
use crate::web::endpoints::common::{blocking, password_work, refuse_if_signed_in, signed_in};
use crate::web::errors::{self, ApiError};
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/signup {email, password}`: 200 with the new session, 400 with every field's
/// problems at once, 403 while sign-up is closed, 409 when already signed in, 503 when no
/// password slot came free in time.
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
    if app.engine.user_by_email(&email).is_some() {
        return Err(ApiError::Validation(vec![errors::email_taken()]));
    }
    let meta = request.session_meta(AuthMethod::SignUp);
    let engine = app.engine.clone();
    let strategy = Arc::clone(&app.strategy);
    let password = credentials.password;
    // Hashed in a slot of the password gate, written outside it: the account's events wait
    // for the writer, not for other people's passwords, and hold no slot meanwhile.
    let hash = password_work(app, move || hash_password(&password))
        .await?
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))?;
    let (user, issued) = blocking(move || {
        let user = engine.sign_up(&email, &username, hash)?;
        let issued = strategy.create_session(&engine, &user, meta)?;
        Ok::<_, ApiError>((user, issued))
    })
    .await??;
    Ok(signed_in(app, &user, &issued))
}
