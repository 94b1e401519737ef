//! `auth/email/verify`: `GET` shows what a key (header `X-Email-Verification-Key`) would
//! verify, `POST {key}` verifies it; and, in a session whose login waits for that address
//! (allauth's `verify_email` stage), completes the login.
//!
//! By link, a key works from any device until it is used or expires; a used key, an expired
//! one, or one whose address is verified or gone, is `invalid_or_expired_key`. The pending
//! login completes only with `ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION` and for the key's own user;
//! otherwise verifying ends it (the user logs in again, as allauth).
//!
//! By code, the code belongs to the session that asked for it: without such a session the
//! answer is 409. Every wrong or missing code counts as an attempt (a `GET` too), the
//! `ACCOUNT_EMAIL_VERIFICATION_BY_CODE_MAX_ATTEMPTS`th ends the flow, after which the right
//! code is 409. A right code always completes a pending login.

use std::sync::Arc;

use crate::engine::{AddEmailOutcome, CodeCheck};
use crate::event::{FlowKind, KeyPurpose, SessionHash};
use crate::state::{Flow, User};
use crate::token::{Authenticated, Resolved};
use crate::web::app::App;
use crate::web::endpoints::addresses::settle_verified;
use crate::web::endpoints::common::{authenticated_state, blocking};
use crate::web::endpoints::verification::{
    code_digest, code_process, complete_login, key_digest, unmatchable,
};
use crate::web::errors::{self, ApiError};
use crate::web::flows::{Offered, Pending};
use crate::web::input;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses::{AuthState, VerifyEmailBody};

/// `GET auth/email/verify`: `200 {data: {email, user}, meta: {is_authenticating}}` for a key
/// (or code) that verifies; it is not used up.
pub(crate) async fn get(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let key = request
        .headers
        .get("x-email-verification-key")
        .map(|v| v.to_str().map(str::trim).unwrap_or("\u{0}").to_owned())
        .filter(|k| !k.is_empty());
    verify(app, request, key, false).await
}

/// `POST auth/email/verify {key}`: verifies; answers the authentication state (200 signed in,
/// 401 not), a new session when it completes a pending login.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let key = input::verification_key(&request.body)?;
    verify(app, request, key, true).await
}

/// Who is asking: a signed-in session, or an anonymous one, maybe with a pending login.
struct Asker {
    signed_in: Option<(Authenticated, User)>,
    /// The anonymous session, and its login waiting for verification if any.
    pending: Option<(SessionHash, Option<Flow>)>,
}

async fn verify(
    app: &Arc<App>,
    request: &Request,
    key: Option<String>,
    commit: bool,
) -> Result<ApiReply, ApiError> {
    let offered = Offered::of(&app.config);
    let asker = match app.resolve(&request.credentials()) {
        Resolved::Dead => return Err(ApiError::SessionGone { offered }),
        Resolved::Anonymous => Asker {
            signed_in: None,
            pending: None,
        },
        Resolved::Pending(holder) => Asker {
            signed_in: None,
            pending: Some((holder, app.engine.flow(&holder, FlowKind::LoginVerifyEmail))),
        },
        Resolved::Authenticated(auth) => match app.engine.user(auth.session.user) {
            Some(user) => Asker {
                signed_in: Some((*auth, user)),
                pending: None,
            },
            None => return Err(ApiError::SessionGone { offered }),
        },
    };
    if app.config.email_verification_by_code {
        by_code(app, request, &asker, key, commit).await
    } else {
        by_key(app, request, &asker, key, commit).await
    }
}

async fn by_code(
    app: &Arc<App>,
    request: &Request,
    asker: &Asker,
    key: Option<String>,
    commit: bool,
) -> Result<ApiReply, ApiError> {
    let stage = asker
        .pending
        .as_ref()
        .and_then(|(holder, stage)| stage.as_ref().map(|_| *holder));
    let (holder, kind) = match (stage, &asker.signed_in) {
        (Some(holder), _) => (holder, FlowKind::LoginVerifyEmail),
        (None, Some((auth, _))) => (auth.session.hash, FlowKind::VerifyEmail),
        (None, None) => return Err(ApiError::Conflict),
    };
    if code_process(app, holder, kind).await?.is_none() {
        return Err(ApiError::Conflict);
    }
    let missing = key.is_none();
    let digest = key
        .as_deref()
        .and_then(|k| code_digest(app, k))
        .unwrap_or_else(unmatchable);
    let max = app.config.email_verification_code_max_attempts;
    let engine = app.engine.clone();
    let checked = blocking(move || engine.check_code(holder, kind, digest, max, commit)).await??;
    let flow = match checked {
        CodeCheck::Accepted(flow) => flow,
        CodeCheck::NoFlow => return Err(ApiError::Conflict),
        _ if missing => return Err(ApiError::Validation(vec![errors::required("key")])),
        _ => return Err(ApiError::Validation(vec![errors::incorrect_code("key")])),
    };
    let (Some(user), Some(email)) = (
        flow.user.and_then(|u| app.engine.user(u)),
        flow.email.clone(),
    ) else {
        // A fake flow's code matches nothing; a user gone meanwhile cannot verify.
        return Err(ApiError::Conflict);
    };
    if !commit {
        return Ok(VerifyEmailBody::reply(&email, &user, stage.is_some()));
    }
    let (engine, user_id, address) = (app.engine.clone(), user.id, email.clone());
    let verified = blocking(move || {
        if kind == FlowKind::VerifyEmail {
            // The address joins the account only now (allauth keeps it in the session until
            // then); another account may have taken it meanwhile.
            match engine.add_email(user_id, &address, 0)? {
                AddEmailOutcome::Added | AddEmailOutcome::AlreadyYours => {}
                _ => return Ok(None),
            }
        }
        engine.verify_email(user_id, &address).map(Some)
    })
    .await??;
    match verified {
        Some(true) => {}
        Some(false) => return Err(ApiError::Conflict),
        None => return Err(ApiError::Validation(vec![errors::verify_email_taken()])),
    }
    settle_verified(app, user.id, &email).await?;
    let user = app.engine.user(user.id).unwrap_or(user);
    match (kind, &asker.signed_in) {
        (FlowKind::LoginVerifyEmail, _) => {
            complete_login(app, request, holder, user, flow.method).await
        }
        (_, Some((auth, _))) => Ok(authenticated_state(app, &user, &auth.session)),
        (_, None) => Err(ApiError::Conflict),
    }
}

async fn by_key(
    app: &Arc<App>,
    request: &Request,
    asker: &Asker,
    key: Option<String>,
    commit: bool,
) -> Result<ApiReply, ApiError> {
    let Some(key) = key else {
        return Err(ApiError::Validation(vec![errors::required("key")]));
    };
    let invalid = || ApiError::Validation(vec![errors::invalid_or_expired_key()]);
    let digest = key_digest(app, &key).ok_or_else(invalid)?;
    let found = app
        .engine
        .key(&digest, KeyPurpose::VerifyEmail)
        .ok_or_else(invalid)?;
    // allauth's keys stop working once their address is verified (or gone).
    let unverified = app
        .engine
        .email_addresses(found.user)
        .iter()
        .any(|a| a.email == found.email && !a.verified);
    let user = app
        .engine
        .user(found.user)
        .filter(|_| unverified)
        .ok_or_else(invalid)?;
    let stage = asker
        .pending
        .as_ref()
        .and_then(|(holder, stage)| stage.clone().map(|flow| (*holder, flow)));
    if !commit {
        return Ok(VerifyEmailBody::reply(&found.email, &user, stage.is_some()));
    }
    let (engine, email) = (app.engine.clone(), found.email.clone());
    let verified = blocking(move || {
        Ok::<_, crate::engine::EngineError>(
            engine.spend_key(digest, KeyPurpose::VerifyEmail)?.is_some()
                && engine.verify_email(found.user, &email)?,
        )
    })
    .await??;
    if !verified {
        return Err(invalid());
    }
    settle_verified(app, user.id, &found.email).await?;
    let user = app.engine.user(user.id).unwrap_or(user);
    if let Some((holder, flow)) = stage {
        if app.config.login_on_email_confirmation && flow.user == Some(user.id) {
            return complete_login(app, request, holder, user, flow.method).await;
        }
        // allauth's `stage.abort()`: the login is over; the anonymous session stays.
        let engine = app.engine.clone();
        blocking(move || engine.end_flow(holder, FlowKind::LoginVerifyEmail)).await??;
    }
    Ok(match (&asker.signed_in, &asker.pending) {
        (Some((auth, _)), _) => {
            let current = app.engine.user(auth.session.user).unwrap_or(user);
            authenticated_state(app, &current, &auth.session)
        }
        (None, Some((holder, _))) => AuthState::anonymous(
            Offered::of(&app.config),
            Pending::of(&app.engine.flows(holder)),
        )
        .reply(),
        (None, None) => AuthState::anonymous(Offered::of(&app.config), Pending::NONE).reply(),
    })
}
