//! `POST auth/password/request`: ask for a password reset, by a link key or, with
//! `ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED`, by a code typed into the session that asked.
//!
//! An address without an account gets allauth's "Unknown Account" message (with the sign-up
//! link) instead, and the client the same answer as for an account, from the same amount of
//! work: one engine write either way. [ours]: allauth answers `unknown_email` instead when
//! `ACCOUNT_PREVENT_ENUMERATION` is off; hallpass never tells which addresses have accounts.

use std::sync::Arc;

use warp::http::StatusCode;

use crate::crypto::{LinkKey, SessionKey, UserCode, random_bytes};
use crate::event::{AuthMethod, FlowKind, KeyPurpose, SecretDigest, SessionHash};
use crate::mail::{Context, Kind};
use crate::token::Resolved;
use crate::web::app::App;
use crate::web::endpoints::auth::password_reset::{CODE_PURPOSE, KEY_PURPOSE};
use crate::web::endpoints::common::{authenticated_state, blocking};
use crate::web::errors::ApiError;
use crate::web::flows::{Offered, Pending};
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses::AuthState;

/// `POST auth/password/request {email}`: by link, a bare 200 and a mail with the key; by code,
/// the 401 with `password_reset_by_code` pending (and, for a new session, its token) and a
/// mail with the code, or the 200 authenticated state when a signed-in session asked. 400 for
/// a missing or invalid address; 429 past `reset_password` (20/min per client address, 5/min
/// per e-mail).
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let email = input::password_reset_request(&request.body)?;
    let now = app.engine.now();
    // allauth's order: the address limit first; an e-mail refused after it still cost the
    // address a hit.
    if !app.limits.hit(Limit::ResetPasswordIp, request.client, now)
        || !app
            .limits
            .hit(Limit::ResetPasswordEmail, email.as_str(), now)
    {
        return Err(ApiError::RateLimited);
    }
    if app.config.password_reset_by_code {
        by_code(app, request, email).await
    } else {
        by_link(app, email).await?;
        Ok(ApiReply::bare(StatusCode::OK))
    }
}

/// Issues a reset key for the account with `email` and queues its link, or queues the
/// "Unknown Account" message.
async fn by_link(app: &App, email: String) -> Result<(), ApiError> {
    let engine = app.engine.clone();
    match app.engine.user_by_email(&email) {
        Some(user) => {
            let key = LinkKey::generate();
            let digest = app
                .secrets
                .key(KEY_PURPOSE, key.expose())
                .ok_or_else(|| ApiError::Internal("a fresh link key has no digest".into()))?;
            // Without HEADLESS_FRONTEND_URLS the message shows the key itself.
            let link = app
                .mailer
                .link("account_reset_password_from_key", Some(key.expose()))
                .unwrap_or_else(|| key.expose().to_owned());
            let mail = seal(app, Kind::PasswordResetKey, &email, None, Some(link));
            let ttl_ms = app.config.password_reset_timeout_secs.saturating_mul(1000);
            blocking(move || {
                engine.issue_key(
                    SecretDigest(digest),
                    KeyPurpose::ResetPassword,
                    user.id,
                    &email,
                    ttl_ms,
                    Some(mail),
                )
            })
            .await??;
        }
        None => {
            let mail = unknown_account(app, &email);
            blocking(move || engine.queue_mail(mail)).await??;
        }
    }
    app.mailer.wake();
    Ok(())
}

/// Begins (or restarts) the reset-by-code flow in the request's session, or in a new anonymous
/// one, and queues the code or the "Unknown Account" message.
async fn by_code(app: &App, request: &Request, email: String) -> Result<ApiReply, ApiError> {
    let (holder, new_key, signed_in) = match app.resolve(&request.credentials()) {
        Resolved::Pending(hash) => (hash, None, None),
        Resolved::Authenticated(auth) => (auth.session.hash, None, Some(auth.session)),
        _ => {
            let key = SessionKey::generate();
            (SessionHash::of(&key), Some(key), None)
        }
    };
    let user = app.engine.user_by_email(&email);
    let (digest, mail) = match &user {
        Some(_) => {
            let code = UserCode::generate();
            let digest = app
                .secrets
                .code(CODE_PURPOSE, code.expose())
                .ok_or_else(|| ApiError::Internal("a fresh code has no digest".into()))?;
            let mail = seal(
                app,
                Kind::PasswordResetCode,
                &email,
                Some(code.expose()),
                None,
            );
            (digest, mail)
        }
        // A flow all the same, with a digest no code has: every code is wrong, attempts count
        // and run out exactly as for an account.
        None => (random_bytes::<32>(), unknown_account(app, &email)),
    };
    let engine = app.engine.clone();
    let anonymous_ttl_ms = app.config.login_timeout_secs.saturating_mul(1000);
    let ttl_ms = app
        .config
        .password_reset_code_timeout_secs
        .saturating_mul(1000);
    let begins_session = new_key.is_some();
    let user_id = user.map(|u| u.id);
    blocking(move || {
        if begins_session {
            engine.start_flow(
                holder,
                FlowKind::AnonymousSession,
                None,
                None,
                None,
                AuthMethod::Unknown,
                anonymous_ttl_ms,
                None,
            )?;
        }
        engine.start_flow(
            holder,
            FlowKind::PasswordResetByCode,
            user_id,
            Some(&email),
            Some(SecretDigest(digest)),
            AuthMethod::Unknown,
            ttl_ms,
            Some(mail),
        )
    })
    .await??;
    app.mailer.wake();
    if let Some(session) = signed_in {
        // allauth's authentication response for a signed-in user: 200, no flows.
        let user = app
            .engine
            .user(session.user)
            .ok_or_else(|| ApiError::SessionGone {
                offered: Offered::of(&app.config),
            })?;
        return Ok(authenticated_state(app, &user, &session));
    }
    let state = AuthState::anonymous(
        Offered::of(&app.config),
        Pending::of(&app.engine.flows(&holder)),
    );
    Ok(match &new_key {
        Some(key) => state.with_session_token(key.expose()),
        None => state,
    }
    .reply())
}

/// allauth's "Unknown Account" message to `email`, with the sign-up link (empty without
/// `HEADLESS_FRONTEND_URLS`).
fn unknown_account(app: &App, email: &str) -> Vec<u8> {
    let link = app.mailer.link("account_signup", None);
    seal(app, Kind::UnknownAccount, email, None, link)
}

fn seal(app: &App, kind: Kind, email: &str, code: Option<&str>, link: Option<String>) -> Vec<u8> {
    let context = Context {
        code: code.map(str::to_owned),
        link,
        email: email.to_owned(),
        username: None,
    };
    app.mailer.seal(kind, email, &context)
}
