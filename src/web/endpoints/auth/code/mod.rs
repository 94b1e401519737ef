//! `auth/code/…`: login by a code sent by e-mail, and what reauthentication by code shares
//! with it (the same mail, attempts and resends; allauth's `BaseConfirmAuthenticationCode
//! Process`).
//!
//! A code flow lives in the engine as a flow held by a session: an anonymous one for login
//! (its token is the `session_token` the request answered), the signed-in one for
//! reauthentication. Codes are never stored: the flow holds the code's keyed digest, and
//! checking is the engine's single-writer `check_code`, so of concurrent confirmations of one
//! code exactly one succeeds, and each wrong one counts once.

pub(crate) mod confirm;
pub(crate) mod request;
pub(crate) mod resend;

use std::sync::Arc;

use warp::http::StatusCode;

use crate::crypto::{UserCode, random_bytes};
use crate::engine::CodeCheck;
use crate::event::{FlowKind, SecretDigest, SessionHash};
use crate::mail::{Context, Kind};
use crate::state::Flow;
use crate::web::app::App;
use crate::web::endpoints::common::blocking;
use crate::web::errors::{self, ApiError};
use crate::web::reply::ApiReply;

/// The digest purpose of login codes.
pub(crate) const LOGIN_CODE: &str = "login_by_code";

/// The digest purpose of reauthentication codes: a login code never reauthenticates, nor the
/// other way round.
pub(crate) const REAUTHENTICATION_CODE: &str = "reauthenticate";

/// A digest that no typed code has (256 random bits, not the digest of any text).
///
/// A flow for an address without an account holds one: allauth sends no code then, so every
/// code is wrong, and the flow still counts attempts and dies as a real one does. A check for a
/// missing code, or for text that cannot be a code, uses one too, so that it counts as a wrong
/// attempt (allauth's `record_invalid_attempt` on any invalid input).
pub(crate) fn unmatchable() -> SecretDigest {
    SecretDigest(random_bytes::<32>())
}

/// The digest of `typed` for `purpose`; [`unmatchable`] when nothing was typed or it cannot
/// be a code (empty once normalized, or overlong).
pub(crate) fn typed_digest(app: &App, purpose: &str, typed: Option<&str>) -> SecretDigest {
    typed
        .and_then(|typed| app.secrets.code(purpose, typed))
        .map_or_else(unmatchable, SecretDigest)
}

/// A fresh code's digest for `purpose`, and the "Sign-In Code" message carrying the code to
/// `email`, sealed for the outbox (the same text for login and reauthentication, as allauth's
/// `login_code` template). The code itself leaves this function only inside the sealed mail.
pub(crate) fn code_mail(
    app: &App,
    purpose: &str,
    email: &str,
    username: Option<String>,
) -> (SecretDigest, Vec<u8>) {
    let code = UserCode::generate();
    let digest = app
        .secrets
        .code(purpose, code.expose())
        .map_or_else(unmatchable, SecretDigest);
    let context = Context {
        code: Some(code.expose().to_owned()),
        link: None,
        email: email.to_owned(),
        username,
    };
    (digest, app.mailer.seal(Kind::LoginCode, email, &context))
}

/// Checks `typed` (`None`: no code was sent) against `holder`'s flow `kind` and, when right,
/// ends the flow and answers it. Every wrong or missing code is an attempt; the one that uses
/// up `max_attempts` ends the flow, and is answered as the others (the next request finds no
/// flow), as allauth's.
///
/// # Errors
///
/// 409 when `holder` has no such flow (never begun, ended, timed out); 400 `incorrect_code`
/// on `code`, or `required` on `code` when none was sent.
pub(crate) async fn check(
    app: &Arc<App>,
    holder: SessionHash,
    kind: FlowKind,
    purpose: &str,
    typed: Option<String>,
    max_attempts: u32,
) -> Result<Flow, ApiError> {
    let digest = typed_digest(app, purpose, typed.as_deref());
    let engine = app.engine.clone();
    let checked =
        blocking(move || engine.check_code(holder, kind, digest, max_attempts, true)).await??;
    let wrong = || match typed {
        None => ApiError::Validation(vec![errors::required("code")]),
        Some(_) => ApiError::Validation(vec![errors::incorrect_code("code")]),
    };
    match checked {
        CodeCheck::Accepted(flow) => Ok(flow),
        CodeCheck::Wrong { .. } | CodeCheck::Exhausted => Err(wrong()),
        CodeCheck::NoFlow => Err(ApiError::Conflict),
    }
}

/// Sends `holder`'s flow `kind` a new code, within `ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND`
/// resends: the old code stops working. A flow for an address without an account gets a new
/// [`unmatchable`] digest and no mail (allauth sends nothing then), and the answer is the same.
///
/// # Errors
///
/// 409 without such a flow, or when its resends are used up (or resending is off).
pub(crate) async fn resend(
    app: &Arc<App>,
    holder: SessionHash,
    kind: FlowKind,
    purpose: &str,
) -> Result<ApiReply, ApiError> {
    let Some(flow) = app.engine.flow(&holder, kind) else {
        return Err(ApiError::Conflict);
    };
    // Checked here, not by the writer: two resends racing may both pass, which costs one
    // message more than the quota, never a code that works longer.
    if flow.resends >= app.config.login_code_max_resends {
        return Err(ApiError::Conflict);
    }
    let (digest, mail) = match (flow.user, flow.email.as_deref()) {
        (Some(user), Some(email)) => {
            let username = app.engine.user(user).map(|u| u.username);
            let (digest, mail) = code_mail(app, purpose, email, username);
            (digest, Some(mail))
        }
        _ => (unmatchable(), None),
    };
    let queued = mail.is_some();
    let engine = app.engine.clone();
    let resent = blocking(move || engine.resend_code(holder, kind, digest, mail)).await??;
    if resent.is_none() {
        return Err(ApiError::Conflict);
    }
    if queued {
        app.mailer.wake();
    }
    Ok(ApiReply::bare(StatusCode::OK))
}
