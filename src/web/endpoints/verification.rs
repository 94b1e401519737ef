//! E-mail verification as sign-up, login, `account/email` and `auth/email/verify` share it:
//! the messages (a link key, or a code a flow holds), allauth's `confirm_email` limit on them,
//! the login that waits for its address to be verified (allauth's `verify_email` stage), and
//! how that login completes.
//!
//! By link, a key is recorded with the engine (`KeyPurpose::VerifyEmail`, working for
//! `ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS`) and works from any device. By code, the code
//! belongs to the session that asked for it, as allauth keeps it in the Django session: the
//! pending login's flow (`FlowKind::LoginVerifyEmail`) or, signed in, the flow of the address
//! being added (`FlowKind::VerifyEmail`). Only digests reach the engine.

use std::sync::Arc;

use crate::crypto::{LinkKey, SessionKey, UserCode, random_bytes};
use crate::event::{AuthMethod, FlowKind, KeyPurpose, SecretDigest, SessionHash};
use crate::mail::{Context, Kind};
use crate::state::{Flow, User};
use crate::web::app::App;
use crate::web::endpoints::common::{blocking, pending_session, signed_in};
use crate::web::errors::ApiError;
use crate::web::flows::{Offered, Pending};
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses::AuthState;

/// The digest purpose of verification codes.
const CODE_PURPOSE: &str = "verify_email";

/// The digest purpose of verification link keys.
const KEY_PURPOSE: &str = "verify_email_key";

/// The digest of a link key as presented; `None` for an empty or overlong one (no key).
pub(crate) fn key_digest(app: &App, key: &str) -> Option<SecretDigest> {
    app.secrets.key(KEY_PURPOSE, key).map(SecretDigest)
}

/// The digest of a code as typed (normalized as allauth compares codes); `None` for one that
/// is empty or overlong (no code).
pub(crate) fn code_digest(app: &App, typed: &str) -> Option<SecretDigest> {
    app.secrets.code(CODE_PURPOSE, typed).map(SecretDigest)
}

/// A digest no code matches: what a fake flow holds (its code was never sent to anyone), and
/// what a missing or unreadable code is checked as, so that it counts as a wrong attempt.
pub(crate) fn unmatchable() -> SecretDigest {
    SecretDigest(random_bytes::<32>())
}

/// Takes one of allauth's `confirm_email` hits for `email`: whether a verification mail (or
/// the "Account Already Exists" mail that stands in for one) may go out now. By link one per
/// address per 3 minutes, a refusal silently sends nothing (the links already sent still
/// work); by code one per 10 s, and the caller answers a refusal 429.
pub(crate) fn may_send(app: &App, email: &str) -> bool {
    app.limits
        .hit(confirm_email_limit(app), email, app.engine.now())
}

/// Whether [`may_send`] would refuse `email` now, without taking a hit.
pub(crate) fn cooling_down(app: &App, email: &str) -> bool {
    app.limits
        .exhausted(confirm_email_limit(app), email, app.engine.now())
}

fn confirm_email_limit(app: &App) -> Limit {
    if app.config.email_verification_by_code {
        Limit::ConfirmEmailByCode
    } else {
        Limit::ConfirmEmailByKey
    }
}

/// The template of a verification message: allauth's `email_confirmation_signup` for the
/// address just signed up with, `email_confirmation` otherwise.
fn confirmation(signup: bool) -> Kind {
    match signup {
        true => Kind::EmailConfirmationSignup,
        false => Kind::EmailConfirmation,
    }
}

/// The verification message carrying `code` for `user`'s address `email`, sealed.
pub(crate) fn code_mail(
    app: &App,
    user: &User,
    email: &str,
    code: &UserCode,
    signup: bool,
) -> Vec<u8> {
    let context = Context {
        code: Some(code.expose().to_owned()),
        link: None,
        email: email.to_owned(),
        username: Some(user.username.clone()),
    };
    app.mailer.seal(confirmation(signup), email, &context)
}

/// allauth's "Account Already Exists" message to `email`, sealed: what the owner of an
/// address gets when someone else tries to claim it while enumeration is prevented.
pub(crate) fn account_exists_mail(app: &App, email: &str) -> Vec<u8> {
    let context = Context {
        code: None,
        link: app.mailer.link("account_reset_password", None),
        email: email.to_owned(),
        username: None,
    };
    app.mailer.seal(Kind::AccountAlreadyExists, email, &context)
}

/// Records a fresh link key for `user`'s address `email` and queues the message carrying it,
/// in one write. The caller took the `confirm_email` hit ([`may_send`]).
///
/// The link is `HEADLESS_FRONTEND_URLS`' `account_confirm_email` with the key in it; without
/// that URL the message shows the bare key. A key is base64url, so it needs no escaping.
pub(crate) async fn send_link(
    app: &Arc<App>,
    user: &User,
    email: &str,
    signup: bool,
) -> Result<(), ApiError> {
    let key = LinkKey::generate();
    let digest = key_digest(app, key.expose())
        .ok_or_else(|| ApiError::Internal("a link key has no digest".to_owned()))?;
    let link = app
        .mailer
        .link("account_confirm_email", Some(key.expose()))
        .unwrap_or_else(|| key.expose().to_owned());
    let context = Context {
        code: None,
        link: Some(link),
        email: email.to_owned(),
        username: Some(user.username.clone()),
    };
    let mail = app.mailer.seal(confirmation(signup), email, &context);
    let ttl_ms = app
        .config
        .email_confirmation_expire_days
        .saturating_mul(86_400_000);
    let (engine, user_id, email) = (app.engine.clone(), user.id, email.to_owned());
    blocking(move || {
        engine.issue_key(
            digest,
            KeyPurpose::VerifyEmail,
            user_id,
            &email,
            ttl_ms,
            Some(mail),
        )
    })
    .await??;
    app.mailer.wake();
    Ok(())
}

/// Begins the login that waits for `email` to be verified (mandatory verification), for
/// `user`, and answers allauth's 401 with the `verify_email` flow pending: in the anonymous
/// session the request carries, or in a new one whose token the answer carries
/// (`meta.session_token`). `method` is how the user authenticated (`SignUp` lists no method
/// once the login completes, `Password` lists it).
///
/// Without `user` it is allauth's fake flow for a sign-up with an address that has an account:
/// the same answer, and the address's owner is sent "Account Already Exists"; no key or code
/// of it works.
///
/// The message is sent under the `confirm_email` limit: by link a refusal sends nothing, by
/// code too (the client can ask again with `auth/email/verify/resend`).
pub(crate) async fn begin_pending_login(
    app: &Arc<App>,
    request: &Request,
    user: Option<&User>,
    email: &str,
    method: AuthMethod,
) -> Result<ApiReply, ApiError> {
    let (key, holder) = match pending_session(app, request) {
        Some(holder) => (None, holder),
        None => {
            let key = SessionKey::generate();
            let holder = SessionHash::of(&key);
            (Some(key), holder)
        }
    };
    let by_code = app.config.email_verification_by_code;
    let send = may_send(app, email);
    let signup = method == AuthMethod::SignUp;
    let (code, mail) = match user {
        Some(user) if by_code => {
            let code = UserCode::generate();
            let digest = code_digest(app, code.expose())
                .ok_or_else(|| ApiError::Internal("a code has no digest".to_owned()))?;
            let mail = send.then(|| code_mail(app, user, email, &code, signup));
            (Some(digest), mail)
        }
        Some(_) => (None, None),
        None => (
            by_code.then(unmatchable),
            send.then(|| account_exists_mail(app, email)),
        ),
    };
    let ttl_ms = app.config.login_timeout_secs.saturating_mul(1000);
    let (engine, fresh, user_id, flow_email) = (
        app.engine.clone(),
        key.is_some(),
        user.map(|u| u.id),
        email.to_owned(),
    );
    blocking(move || {
        if fresh {
            engine.start_flow(
                holder,
                FlowKind::AnonymousSession,
                None,
                None,
                None,
                AuthMethod::Unknown,
                ttl_ms,
                None,
            )?;
        }
        engine.start_flow(
            holder,
            FlowKind::LoginVerifyEmail,
            user_id,
            Some(&flow_email),
            code,
            method,
            ttl_ms,
            mail,
        )
    })
    .await??;
    match user {
        Some(user) if !by_code && send => send_link(app, user, email, signup).await?,
        _ => app.mailer.wake(),
    }
    let state = AuthState::anonymous(
        Offered::of(&app.config),
        Pending::of(&app.engine.flows(&holder)),
    );
    Ok(match key {
        Some(key) => state.with_session_token(key.expose()),
        None => state,
    }
    .reply())
}

/// Completes `holder`'s pending login of `user`, who authenticated by `method`: a real
/// session through the token strategy (a new session token, and with JWT the access and
/// refresh tokens), and every flow of the anonymous session ended, so that its token is gone
/// (410) from then on, as allauth rotates the session key.
pub(crate) async fn complete_login(
    app: &Arc<App>,
    request: &Request,
    holder: SessionHash,
    user: User,
    method: AuthMethod,
) -> Result<ApiReply, ApiError> {
    let meta = request.session_meta(method);
    let (engine, strategy, session_user) =
        (app.engine.clone(), Arc::clone(&app.strategy), user.clone());
    let issued = blocking(move || {
        let issued = strategy.create_session(&engine, &session_user, meta)?;
        for flow in engine.flows(&holder) {
            engine.end_flow(holder, flow.kind)?;
        }
        Ok::<_, ApiError>(issued)
    })
    .await??;
    Ok(signed_in(app, &user, &issued))
}

/// allauth's `EmailVerificationProcess.resume`: `holder`'s flow `kind` when it waits on a
/// verification code that has not timed out. A code past
/// `ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT` (counted from the flow's start, resends do not
/// extend it) ends the flow, as allauth finds out lazily: the pending login shows until then.
pub(crate) async fn code_process(
    app: &Arc<App>,
    holder: SessionHash,
    kind: FlowKind,
) -> Result<Option<Flow>, ApiError> {
    let Some(flow) = app.engine.flow(&holder, kind) else {
        return Ok(None);
    };
    if flow.code.is_none() {
        return Ok(None);
    }
    let timeout_ms = app
        .config
        .email_verification_code_timeout_secs
        .saturating_mul(1000);
    if flow.started_at.plus_millis(timeout_ms) > app.engine.now() {
        return Ok(Some(flow));
    }
    let engine = app.engine.clone();
    blocking(move || engine.end_flow(holder, kind)).await??;
    Ok(None)
}

/// Whether a new code may be sent for `flow` (`ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND`).
pub(crate) fn can_resend(app: &App, flow: &Flow) -> bool {
    flow.resends < app.config.email_verification_max_resends
}

/// Gives `holder`'s code flow `kind` (`flow`) a new code and mails it; the old code stops
/// working. Nothing is mailed for a flow whose address is not its user's to verify (the fake
/// flow, or an address another account has): allauth's `skip_enumeration_mails`.
///
/// # Errors
///
/// [`ApiError::RateLimited`] inside the `confirm_email` window (nothing changes then);
/// [`ApiError::Conflict`] when the flow ended meanwhile.
pub(crate) async fn resend_code(
    app: &Arc<App>,
    holder: SessionHash,
    kind: FlowKind,
    flow: &Flow,
) -> Result<(), ApiError> {
    let email = flow.email.clone().unwrap_or_default();
    if !may_send(app, &email) {
        return Err(ApiError::RateLimited);
    }
    let owner = app.engine.email_owner(&email);
    let user = flow
        .user
        .filter(|u| owner.is_none_or(|o| o == *u))
        .and_then(|u| app.engine.user(u));
    let code = UserCode::generate();
    let (digest, mail) = match user {
        Some(user) => {
            let digest = code_digest(app, code.expose())
                .ok_or_else(|| ApiError::Internal("a code has no digest".to_owned()))?;
            let signup = flow.method == AuthMethod::SignUp;
            (digest, Some(code_mail(app, &user, &email, &code, signup)))
        }
        None => (unmatchable(), None),
    };
    let engine = app.engine.clone();
    let resent = blocking(move || engine.resend_code(holder, kind, digest, mail)).await??;
    if resent.is_none() {
        return Err(ApiError::Conflict);
    }
    app.mailer.wake();
    Ok(())
}
