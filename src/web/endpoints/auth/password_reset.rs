//! `auth/password/reset`: check a reset key or code (`GET`, `X-Password-Reset-Key`), and set
//! the new password with it (`POST {key, password}`).
//!
//! By link (the default) the key is a link key from the mail, used once; by code
//! (`ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED`) the "key" is the code mailed to the session
//! holding the `password_reset_by_code` flow, with `ACCOUNT_PASSWORD_RESET_BY_CODE_MAX_ATTEMPTS`
//! tries. Either way a reset ends every session of the user in the same write as the new
//! password (their refresh tokens and stateful access tokens die with them) and voids every
//! other reset key; then the answer is 401, or with `ACCOUNT_LOGIN_ON_PASSWORD_RESET` a new
//! session.

use std::sync::Arc;

use warp::http::StatusCode;

use crate::accounts::{
    MAX_PASSWORD_BYTES, UserAttributes, hash_password, username_base, validate_password,
};
use crate::crypto::random_bytes;
use crate::engine::{CodeCheck, EngineError};
use crate::event::{AuthMethod, FlowKind, KeyPurpose, PasswordChange, SecretDigest, SessionHash};
use crate::state::User;
use crate::token::Resolved;
use crate::web::app::App;
use crate::web::endpoints::common::{authenticated_state, blocking, password_work, signed_in};
use crate::web::errors::{self, ApiError};
use crate::web::flows::{Offered, Pending};
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::{ApiReply, FieldError};
use crate::web::request::Request;
use crate::web::responses::{AuthState, PasswordResetKeyBody};

/// The digest purpose of reset link keys.
pub(crate) const KEY_PURPOSE: &str = "password_reset_key";

/// The digest purpose of reset codes.
pub(crate) const CODE_PURPOSE: &str = "password_reset";

/// How a session begun by `ACCOUNT_LOGIN_ON_PASSWORD_RESET` records its authentication:
/// allauth lists it as `{"method": "password_reset", "at"}`.
const RESET_LOGIN_METHOD: AuthMethod = AuthMethod::PasswordReset;

/// `GET auth/password/reset` with `X-Password-Reset-Key`: 200 `{user}` for a working key (or
/// the right code: it stays usable, and the address it was sent to counts as verified, as
/// allauth's `confirm_code`), 400 otherwise (`required`, `invalid_password_reset`,
/// `incorrect_code`); by code, 409 without a flow in progress. Never rate limited, as allauth.
pub(crate) async fn get(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let typed = header_key(request);
    if app.config.password_reset_by_code {
        return get_by_code(app, request, typed).await;
    }
    let Some(typed) = typed else {
        return Err(ApiError::Validation(vec![errors::required("key")]));
    };
    match key_user(app, &typed) {
        Some((_, user)) => Ok(user_reply(&user)),
        None => Err(ApiError::Validation(vec![errors::invalid_password_reset()])),
    }
}

/// `POST auth/password/reset {key, password}`: the 401 anonymous body (or 200 with a new
/// session under `ACCOUNT_LOGIN_ON_PASSWORD_RESET`); 400 with the key's and the password's
/// problems (a bad link key is reported alone: the password is only validated for a known
/// user, as allauth); by code, 409 without a flow in progress; 429 past
/// `reset_password_from_key` (20/min per client address).
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    if !app.limits.hit(
        Limit::ResetPasswordFromKey,
        request.client,
        app.engine.now(),
    ) {
        return Err(ApiError::RateLimited);
    }
    if app.config.password_reset_by_code {
        return post_by_code(app, request).await;
    }
    let input = input::password_reset(&request.body)?;
    let mut problems = Vec::new();
    let target = match &input.key {
        None => {
            problems.push(errors::required("key"));
            None
        }
        Some(typed) => {
            let found = key_user(app, typed);
            if found.is_none() {
                problems.push(errors::invalid_password_reset());
            }
            found
        }
    };
    let whose = target
        .as_ref()
        .map(|(_, user)| (user.username.clone(), user.email.clone()));
    check_password(input.password.as_deref(), whose.as_ref(), &mut problems);
    let (Some((digest, _)), Some(password), true) = (target, input.password, problems.is_empty())
    else {
        return Err(ApiError::Validation(problems));
    };
    let hash = new_hash(app, password).await?;
    let engine = app.engine.clone();
    let reset = blocking(move || {
        // Spent in the writer: of concurrent resets with one key, one gets it.
        let Some(key) = engine.spend_key(digest, KeyPurpose::ResetPassword)? else {
            return Ok(None);
        };
        engine.change_password(key.user, hash, PasswordChange::Reset, None)?;
        Ok::<_, EngineError>(Some(key.user))
    })
    .await??;
    let Some(user) = reset else {
        return Err(ApiError::Validation(vec![errors::invalid_password_reset()]));
    };
    finish(app, request, user, None).await
}

/// `GET` by code: counts a wrong (or missing) code as an attempt, as allauth.
async fn get_by_code(
    app: &App,
    request: &Request,
    typed: Option<String>,
) -> Result<ApiReply, ApiError> {
    let holder = flow_holder(app, request)?;
    let check = check_code(app, holder, typed.as_deref(), false).await?;
    match check {
        CodeCheck::Accepted(flow) => {
            let user = flow.user.and_then(|id| app.engine.user(id));
            let (Some(user), Some(email)) = (user, flow.email) else {
                return Err(ApiError::Conflict);
            };
            // allauth's `confirm_code`: the code proves the address.
            let engine = app.engine.clone();
            let id = user.id;
            blocking(move || engine.verify_email(id, &email)).await??;
            Ok(user_reply(&user))
        }
        CodeCheck::NoFlow => Err(ApiError::Conflict),
        _ => Err(ApiError::Validation(vec![code_problem(typed.as_deref())])),
    }
}

/// `POST` by code. As allauth's form: the password is validated whatever the code (a right
/// code with a weak password is not used up), and a wrong or missing code counts as an
/// attempt.
///
/// The password of a flow for an address without an account is validated too, as if an
/// account had that address (its username as sign-up would derive it). [ours]: allauth
/// validates only for an account, so a weak password beside a wrong code tells the two apart.
async fn post_by_code(app: &App, request: &Request) -> Result<ApiReply, ApiError> {
    let holder = flow_holder(app, request)?;
    let input = input::password_reset(&request.body)?;
    let whose = app
        .engine
        .flow(&holder, FlowKind::PasswordResetByCode)
        .and_then(|flow| match flow.user.and_then(|id| app.engine.user(id)) {
            Some(user) => Some((user.username, user.email)),
            None => flow.email.map(|email| (username_base(&email), email)),
        });
    let mut password_problems = Vec::new();
    check_password(
        input.password.as_deref(),
        whose.as_ref(),
        &mut password_problems,
    );
    let mut problems = Vec::new();
    // A right code is not consumed here: the password may still be refused.
    match check_code(app, holder, input.key.as_deref(), false).await? {
        CodeCheck::Accepted(_) => {}
        CodeCheck::NoFlow => return Err(ApiError::Conflict),
        _ => problems.push(code_problem(input.key.as_deref())),
    }
    problems.extend(password_problems);
    let (Some(password), true) = (input.password, problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    let hash = new_hash(app, password).await?;
    let digest = code_digest(app, input.key.as_deref());
    let engine = app.engine.clone();
    let max_attempts = app.config.password_reset_code_max_attempts;
    let reset = blocking(move || {
        let check = engine.check_code(
            holder,
            FlowKind::PasswordResetByCode,
            digest,
            max_attempts,
            true,
        )?;
        let CodeCheck::Accepted(flow) = check else {
            // Another request used the code meanwhile.
            return Ok(None);
        };
        let (Some(user), Some(email)) = (flow.user, flow.email) else {
            return Ok(None);
        };
        engine.change_password(user, hash, PasswordChange::Reset, None)?;
        // The code proves the address, as allauth's `confirm_code`.
        engine.verify_email(user, &email)?;
        Ok::<_, EngineError>(Some(user))
    })
    .await??;
    let Some(user) = reset else {
        return Err(ApiError::Conflict);
    };
    finish(app, request, user, Some(holder)).await
}

/// After a reset of `user`'s password: forgets the failed logins of their addresses (allauth's
/// `finalize_password_reset`), then answers the request's state, or logs the user in with
/// `ACCOUNT_LOGIN_ON_PASSWORD_RESET`. A login ends the flows of `holder` (the anonymous
/// session that reset by code), so its token is gone afterwards: the session rotates.
async fn finish(
    app: &App,
    request: &Request,
    user: crate::event::UserId,
    holder: Option<SessionHash>,
) -> Result<ApiReply, ApiError> {
    for address in app.engine.email_addresses(user) {
        app.limits
            .clear(Limit::LoginFailedEmail, address.email.as_str());
    }
    if !app.config.login_on_password_reset {
        return Ok(current_state(app, request));
    }
    let engine = app.engine.clone();
    let strategy = Arc::clone(&app.strategy);
    let meta = request.session_meta(RESET_LOGIN_METHOD);
    let (user, issued) = blocking(move || {
        let user = engine.user(user).ok_or(EngineError::UnknownUser { user })?;
        let issued = strategy.create_session(&engine, &user, meta)?;
        if let Some(holder) = holder {
            for flow in engine.flows(&holder) {
                engine.end_flow(holder, flow.kind)?;
            }
        }
        Ok::<_, ApiError>((user, issued))
    })
    .await??;
    Ok(signed_in(app, &user, &issued))
}

/// allauth's authentication response for the request as it stands after the reset: the
/// signed-in state of a session that survived it (another user's), else 401 with what an
/// anonymous session still has in progress.
fn current_state(app: &App, request: &Request) -> ApiReply {
    let offered = Offered::of(&app.config);
    match app.resolve(&request.credentials()) {
        Resolved::Authenticated(auth) => match app.engine.user(auth.session.user) {
            Some(user) => authenticated_state(app, &user, &auth.session),
            None => AuthState::anonymous(offered, Pending::NONE).reply(),
        },
        Resolved::Pending(hash) => {
            AuthState::anonymous(offered, Pending::of(&app.engine.flows(&hash))).reply()
        }
        _ => AuthState::anonymous(offered, Pending::NONE).reply(),
    }
}

/// The session holding the request's reset-by-code flow (anonymous or signed in), or the 409
/// allauth answers when there is none.
fn flow_holder(app: &App, request: &Request) -> Result<SessionHash, ApiError> {
    let holder = match app.resolve(&request.credentials()) {
        Resolved::Pending(hash) => hash,
        Resolved::Authenticated(auth) => auth.session.hash,
        _ => return Err(ApiError::Conflict),
    };
    match app.engine.flow(&holder, FlowKind::PasswordResetByCode) {
        Some(_) => Ok(holder),
        None => Err(ApiError::Conflict),
    }
}

/// Checks `typed` against `holder`'s reset code; a missing code is checked as a wrong one, so
/// that it counts as an attempt.
async fn check_code(
    app: &App,
    holder: SessionHash,
    typed: Option<&str>,
    consume: bool,
) -> Result<CodeCheck, ApiError> {
    let digest = code_digest(app, typed);
    let engine = app.engine.clone();
    let max_attempts = app.config.password_reset_code_max_attempts;
    let check = blocking(move || {
        engine.check_code(
            holder,
            FlowKind::PasswordResetByCode,
            digest,
            max_attempts,
            consume,
        )
    })
    .await??;
    Ok(check)
}

/// The digest of a typed code; for no code (or one that normalizes to nothing) a random one,
/// which no flow's code has.
fn code_digest(app: &App, typed: Option<&str>) -> SecretDigest {
    let digest = typed.and_then(|typed| app.secrets.code(CODE_PURPOSE, typed));
    SecretDigest(digest.unwrap_or_else(random_bytes::<32>))
}

/// The error for a refused code: `required` when none was given, else `incorrect_code`.
fn code_problem(typed: Option<&str>) -> FieldError {
    match typed {
        None => errors::required("key"),
        Some(_) => errors::incorrect_code("key"),
    }
}

/// The working link key `typed` names (its digest) and its user.
fn key_user(app: &App, typed: &str) -> Option<(SecretDigest, User)> {
    let digest = SecretDigest(app.secrets.key(KEY_PURPOSE, typed)?);
    let key = app.engine.key(&digest, KeyPurpose::ResetPassword)?;
    Some((digest, app.engine.user(key.user)?))
}

/// `password`'s problems: `required` when missing; the validators' (and the byte limit)
/// only when `whose` password it is (username, e-mail) is known, as allauth's form validates.
fn check_password(
    password: Option<&str>,
    whose: Option<&(String, String)>,
    problems: &mut Vec<FieldError>,
) {
    let Some(password) = password else {
        problems.push(errors::required("password"));
        return;
    };
    let Some((username, email)) = whose else {
        return;
    };
    if password.len() > MAX_PASSWORD_BYTES {
        problems.push(errors::password_too_long(MAX_PASSWORD_BYTES));
        return;
    }
    let attributes = UserAttributes {
        username: Some(username),
        email: Some(email),
        ..UserAttributes::default()
    };
    for problem in validate_password(password, &attributes) {
        problems.push(errors::password(&problem));
    }
}

/// `password` hashed in a slot of the password gate.
async fn new_hash(app: &App, password: String) -> Result<crate::event::PasswordHash, ApiError> {
    password_work(app, move || hash_password(&password))
        .await?
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))
}

/// `X-Password-Reset-Key` as Django's `CharField` cleans it: stripped, `None` when missing or
/// empty. A value that is not visible ASCII is read lossily: it can match no key or code.
fn header_key(request: &Request) -> Option<String> {
    let value = request.headers.get("x-password-reset-key")?;
    let text = String::from_utf8_lossy(value.as_bytes());
    let text = crate::accounts::pychar::strip(&text);
    (!text.is_empty()).then(|| text.to_owned())
}

/// `200 {data: {user}}`.
fn user_reply(user: &User) -> ApiReply {
    ApiReply::data(StatusCode::OK, PasswordResetKeyBody::new(user))
}
