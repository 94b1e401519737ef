//! `account/email`: the signed-in user's addresses — list (`GET`), add (`POST`), resend the
//! verification (`PUT`), make primary (`PATCH`), remove (`DELETE`) — as allauth's
//! `ManageEmailView`.
//!
//! Every method but `GET` takes a `manage_email` hit (10/min per user) first. Then the body is
//! validated, then, with `ACCOUNT_REAUTHENTICATION_REQUIRED`, adding, marking primary and
//! removing need a recent authentication (allauth's order: a bad request is a 400 even when
//! reauthentication is due). `POST`, `PATCH` and `DELETE` answer the whole new list. An address
//! of another account is never added (addresses are unique): see `endpoints/addresses.rs` for
//! what hallpass answers instead.

use std::sync::Arc;

use warp::http::{Method, StatusCode};

use crate::accounts::normalize_email;
use crate::config::PreventEnumeration;
use crate::crypto::UserCode;
use crate::engine::{AddEmailOutcome, PrimaryOutcome, RemoveEmailOutcome};
use crate::event::{AuthMethod, FlowKind};
use crate::state::User;
use crate::token::{Authenticated, Resolved};
use crate::web::app::App;
use crate::web::endpoints::addresses::{self, Listed, Origin};
use crate::web::endpoints::common::{blocking, require_recent_authentication, require_session};
use crate::web::endpoints::verification::{
    account_exists_mail, can_resend, code_digest, code_mail, code_process, may_send, resend_code,
    send_link, unmatchable,
};
use crate::web::errors::{self, ApiError};
use crate::web::flows::Offered;
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::{ApiReply, FieldError};
use crate::web::request::Request;
use crate::web::responses::EmailAddressBody;

/// Any method of `account/email`: the signed-in user, the `manage_email` limit, then the
/// method. Without a session: 401 (410 for a dead one), but `POST` is a 409 as allauth's (it
/// would change the address of a pending sign-up, which hallpass does not support: allauth's
/// `ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_CHANGE` is not implemented).
pub(crate) async fn handle(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    if request.method == Method::POST {
        match app.resolve(&request.credentials()) {
            Resolved::Dead => {
                return Err(ApiError::SessionGone {
                    offered: Offered::of(&app.config),
                });
            }
            Resolved::Anonymous | Resolved::Pending(_) => return Err(ApiError::Conflict),
            Resolved::Authenticated(_) => {}
        }
    }
    let (auth, user) = require_session(app, request)?;
    if request.method != Method::GET
        && !app
            .limits
            .hit(Limit::ManageEmail, &user.id.0.to_string(), app.engine.now())
    {
        return Err(ApiError::RateLimited);
    }
    match request.method {
        Method::POST => add(app, request, &auth, &user).await,
        Method::PUT => resend(app, request, &auth, &user).await,
        Method::PATCH => mark_primary(app, request, &auth, &user).await,
        Method::DELETE => remove(app, request, &auth, &user).await,
        _ => Ok(list(app, &auth, &user)),
    }
}

/// `200 {data: [EmailAddress, ...]}`.
fn list(app: &App, auth: &Authenticated, user: &User) -> ApiReply {
    EmailAddressBody::list(addresses::bodies(addresses::list(
        app,
        user.id,
        &auth.session.hash,
    )))
}

/// `POST {email}`: adds an address, unverified, and sends its verification (a link; by code,
/// a code, and the address stays in the session until the code is entered). With
/// `ACCOUNT_CHANGE_EMAIL` the new address replaces the pending one, and replaces the primary
/// once verified.
///
/// Errors: `duplicate_email` (already the user's, any case), `email_taken` (another account's,
/// only with `ACCOUNT_PREVENT_ENUMERATION=false`), `max_email_addresses`.
async fn add(
    app: &Arc<App>,
    request: &Request,
    auth: &Authenticated,
    user: &User,
) -> Result<ApiReply, ApiError> {
    let email = normalized(input::email_address(&request.body)?)?;
    let listed = addresses::list(app, user.id, &auth.session.hash);
    if listed
        .iter()
        .any(|l| l.address.email == email && l.origin != Origin::Session)
    {
        return Err(invalid(errors::duplicate_email()));
    }
    let taken = app
        .engine
        .email_owner(&email)
        .is_some_and(|owner| owner != user.id);
    if taken && app.config.prevent_enumeration == PreventEnumeration::Off {
        return Err(invalid(errors::email_taken()));
    }
    let limit = match app.config.max_email_addresses {
        Some(max) if !app.config.change_email => Some(max),
        _ => None,
    };
    let counted = addresses::counted(&listed);
    if let Some(max) = limit
        && counted >= max
    {
        return Err(invalid(errors::max_email_addresses(max)));
    }
    reauthenticate_if_required(app, user, auth)?;
    if app.config.email_verification_by_code {
        verify_by_code(app, auth, user, &email, taken).await?;
        return Ok(list(app, auth, user));
    }
    if app.config.change_email {
        addresses::drop_pending_change(app, user.id).await?;
    }
    if taken {
        addresses::claim(app, user.id, &email).await?;
        return Ok(list(app, auth, user));
    }
    // The engine checks the limit again in the same write, so concurrent adds cannot pass it;
    // claims are not the engine's, so they come off its share (which stays above the stored
    // count, since `counted < max`; 0 is no limit).
    let claims = listed
        .iter()
        .filter(|l| matches!(l.origin, Origin::Claim(_)))
        .count();
    let engine_max = limit.map_or(0, |max| max.saturating_sub(claims));
    let (engine, user_id, added) = (app.engine.clone(), user.id, email.clone());
    let outcome = blocking(move || engine.add_email(user_id, &added, engine_max)).await??;
    match outcome {
        AddEmailOutcome::Added => {
            if may_send(app, &email) {
                send_link(app, user, &email, false).await?;
            }
        }
        AddEmailOutcome::AlreadyYours => return Err(invalid(errors::duplicate_email())),
        AddEmailOutcome::Taken if app.config.prevent_enumeration != PreventEnumeration::Off => {
            addresses::claim(app, user.id, &email).await?;
        }
        AddEmailOutcome::Taken => return Err(invalid(errors::email_taken())),
        AddEmailOutcome::TooMany => {
            return Err(invalid(errors::max_email_addresses(limit.unwrap_or(0))));
        }
    }
    Ok(list(app, auth, user))
}

/// Verification by code of `email` for the signed-in session: its `VerifyEmail` flow (one per
/// session, replacing any before) holds the code, for `ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT`.
/// For an address another account has (`taken`) the flow holds a code nobody is sent, and the
/// owner gets "Account Already Exists".
async fn verify_by_code(
    app: &Arc<App>,
    auth: &Authenticated,
    user: &User,
    email: &str,
    taken: bool,
) -> Result<(), ApiError> {
    if !may_send(app, email) {
        return Err(ApiError::RateLimited);
    }
    let (digest, mail) = if taken {
        (unmatchable(), account_exists_mail(app, email))
    } else {
        let code = UserCode::generate();
        let digest = code_digest(app, code.expose())
            .ok_or_else(|| ApiError::Internal("a code has no digest".to_owned()))?;
        (digest, code_mail(app, user, email, &code, false))
    };
    let ttl_ms = app
        .config
        .email_verification_code_timeout_secs
        .saturating_mul(1000);
    let (engine, holder, user_id, email) = (
        app.engine.clone(),
        auth.session.hash,
        user.id,
        email.to_owned(),
    );
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

/// `PUT {email}`: sends the address's verification again, also for a verified one (allauth
/// does): bare 200, or a bare 403 when nothing was sent (inside the `confirm_email` cooldown,
/// or by code past the resend quota). By code, a 429 inside the 10 s window.
async fn resend(
    app: &Arc<App>,
    request: &Request,
    auth: &Authenticated,
    user: &User,
) -> Result<ApiReply, ApiError> {
    let email = normalized(input::email_address(&request.body)?)?;
    let listed = addresses::list(app, user.id, &auth.session.hash);
    let Some(entry) = listed.iter().find(|l| l.address.email == email) else {
        return Err(invalid(errors::unknown_email()));
    };
    let holder = auth.session.hash;
    match entry.origin {
        Origin::Session => {
            let flow = code_process(app, holder, FlowKind::VerifyEmail)
                .await?
                .filter(|f| can_resend(app, f))
                .ok_or(ApiError::VerificationNotSent)?;
            resend_code(app, holder, FlowKind::VerifyEmail, &flow).await?;
        }
        Origin::Book if app.config.email_verification_by_code => {
            // allauth starts a verification of this address in the session, in place of any.
            verify_by_code(app, auth, user, &email, false).await?;
        }
        Origin::Book => {
            if !may_send(app, &email) {
                return Err(ApiError::VerificationNotSent);
            }
            send_link(app, user, &email, false).await?;
        }
        // A claim sends nothing, but keeps the cooldown as a real address would.
        Origin::Claim(_) => {
            if !may_send(app, &email) {
                return Err(ApiError::VerificationNotSent);
            }
        }
    }
    Ok(ApiReply::bare(StatusCode::OK))
}

/// `PATCH {email, primary: true}`: makes a verified address primary (an unverified one only
/// while the user has no verified address, as allauth), and the account's e-mail with it.
async fn mark_primary(
    app: &Arc<App>,
    request: &Request,
    auth: &Authenticated,
    user: &User,
) -> Result<ApiReply, ApiError> {
    let body = input::mark_primary(&request.body)?;
    let listed = addresses::list(app, user.id, &auth.session.hash);
    let mut problems = Vec::new();
    let target = match body
        .email
        .and_then(|raw| normalize_email(&raw).map_err(|e| errors::email(&e)))
    {
        Err(problem) => {
            problems.push(problem);
            None
        }
        Ok(email) => match listed.iter().find(|l| l.address.email == email) {
            None => {
                problems.push(errors::unknown_email());
                None
            }
            Some(entry) if !can_be_primary(entry, &listed) => {
                problems.push(errors::unverified_primary_email());
                None
            }
            Some(entry) => Some(entry.address.email.clone()),
        },
    };
    if !body.primary {
        problems.push(errors::required("primary"));
    }
    let (Some(email), true) = (target, problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    reauthenticate_if_required(app, user, auth)?;
    let (engine, user_id) = (app.engine.clone(), user.id);
    let outcome = blocking(move || engine.set_primary_email(user_id, &email, true)).await??;
    match outcome {
        PrimaryOutcome::Set => Ok(list(app, auth, user)),
        PrimaryOutcome::NotYours => Err(invalid(errors::unknown_email())),
        _ => Err(invalid(errors::unverified_primary_email())),
    }
}

/// allauth's `can_mark_as_primary`: a stored address that is verified, or any stored one while
/// none is. The session's address being verified by code is not stored; a claim never can be.
fn can_be_primary(entry: &Listed, listed: &[Listed]) -> bool {
    entry.origin == Origin::Book
        && (entry.address.verified
            || !listed
                .iter()
                .any(|l| l.origin == Origin::Book && l.address.verified))
}

/// `DELETE {email}`: removes an address other than the primary (allauth keeps the last one
/// too, since login is by e-mail). Removing the address the session is verifying by code
/// cancels that verification, without reauthentication (it was never stored).
async fn remove(
    app: &Arc<App>,
    request: &Request,
    auth: &Authenticated,
    user: &User,
) -> Result<ApiReply, ApiError> {
    let email = normalized(input::email_address(&request.body)?)?;
    let listed = addresses::list(app, user.id, &auth.session.hash);
    let Some(entry) = listed.iter().find(|l| l.address.email == email) else {
        return Err(invalid(errors::unknown_email()));
    };
    if entry.address.primary {
        return Err(invalid(errors::cannot_remove_primary_email()));
    }
    let (engine, user_id) = (app.engine.clone(), user.id);
    match entry.origin {
        Origin::Session => {
            let holder = auth.session.hash;
            blocking(move || engine.end_flow(holder, FlowKind::VerifyEmail)).await??;
        }
        Origin::Claim(slot) => {
            reauthenticate_if_required(app, user, auth)?;
            addresses::drop_claim(app, user.id, slot).await?;
        }
        Origin::Book => {
            reauthenticate_if_required(app, user, auth)?;
            let outcome = blocking(move || engine.remove_email(user_id, &email)).await??;
            match outcome {
                RemoveEmailOutcome::Removed => {}
                RemoveEmailOutcome::Primary => {
                    return Err(invalid(errors::cannot_remove_primary_email()));
                }
                _ => return Err(invalid(errors::unknown_email())),
            }
        }
    }
    Ok(list(app, auth, user))
}

/// allauth's `raise_if_reauthentication_required` for e-mail management: only with
/// `ACCOUNT_REAUTHENTICATION_REQUIRED`.
fn reauthenticate_if_required(
    app: &App,
    user: &User,
    auth: &Authenticated,
) -> Result<(), ApiError> {
    if !app.config.reauthentication_required {
        return Ok(());
    }
    require_recent_authentication(app, user, &auth.session)
}

/// `raw` normalized, or its `email` error.
fn normalized(raw: String) -> Result<String, ApiError> {
    normalize_email(&raw).map_err(|e| invalid(errors::email(&e)))
}

fn invalid(error: FieldError) -> ApiError {
    ApiError::Validation(vec![error])
}
