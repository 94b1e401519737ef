//! The authentication endpoints: sign-up, login, session state, logout, refresh and the
//! session list, as django-allauth's headless app API answers them.
//!
//! Credentials come only from the `X-Session-Token` and `Authorization` headers, resolved by
//! [`resolve`] exactly as for Rust services. Password hashing and verification and every
//! engine write run in `spawn_blocking`; failures go back as [`ApiError`] for `reply` to shape.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use warp::http::{HeaderMap, StatusCode, header};

use crate::accounts::email::{normalize_email, username_base};
use crate::accounts::password::{MAX_PASSWORD_BYTES, authenticate, hash_password};
use crate::accounts::validators::{UserAttributes, validate_password};
use crate::engine::{EngineError, RevokeSessionsOutcome, SessionInfo, SessionMeta};
use crate::event::{AuthMethod, RevokeReason};
use crate::state::User;
use crate::token::strategy::{
    Authenticated, Issued, RefreshError, RequestCredentials, Resolved, resolve,
};
use crate::web::App;
use crate::web::dto;
use crate::web::handlers::Request;
use crate::web::ratelimit::Limit;
use crate::web::reply::{ApiError, ApiReply, FieldError};

/// Stands in for a credential header that is present but not visible ASCII: it can never be
/// a session key (those are `[a-z0-9]`), so such an `X-Session-Token` is a dead session, as
/// any other unknown token, rather than no token at all.
const UNREADABLE: &str = "!";

/// `POST auth/signup`.
pub(crate) async fn signup(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    if !app.config.signup_open {
        return Err(ApiError::SignupClosed);
    }
    let ip = client_ip(app, request);
    if !app.limits.hit(Limit::Signup, &ip, app.engine.now()) {
        return Err(ApiError::RateLimited);
    }
    if is_live(resolve_request(app, &request.headers)) {
        return Err(ApiError::Conflict);
    }
    let credentials = dto::credentials(&request.body)?;
    let mut errors = Vec::new();
    let email = match normalize_email(&credentials.email) {
        Ok(email) => Some(email),
        Err(e) => {
            errors.push(FieldError::field("email", e.code(), e.message()));
            None
        }
    };
    let username = email.as_deref().map(username_base);
    if credentials.password.len() > MAX_PASSWORD_BYTES {
        errors.push(FieldError::field(
            "password",
            "invalid",
            format!("Ensure this value has at most {MAX_PASSWORD_BYTES} bytes."),
        ));
    } else {
        let attributes = UserAttributes {
            username: username.as_deref(),
            email: email.as_deref(),
            ..UserAttributes::default()
        };
        for problem in validate_password(&credentials.password, &attributes) {
            errors.push(FieldError::field("password", problem.code, problem.message));
        }
    }
    let (Some(email), Some(username), true) = (email, username, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    if app.engine.user_by_email(&email).is_some() {
        return Err(email_taken());
    }
    let meta = session_meta(app, request, AuthMethod::SignUp);
    let engine = app.engine.clone();
    let strategy = Arc::clone(&app.strategy);
    let password = credentials.password;
    let (user, issued) = blocking(move || {
        let hash = hash_password(&password).map_err(|_| ApiError::Internal("password hashing"))?;
        let user = engine
            .sign_up(&email, &username, hash)
            .map_err(|e| match e {
                EngineError::EmailTaken => email_taken(),
                other => ApiError::Engine(other),
            })?;
        let issued = strategy.create_session(&engine, &user, meta)?;
        Ok::<_, ApiError>((user, issued))
    })
    .await??;
    let methods = methods(&user, &issued.session);
    Ok(authenticated(app, &user, methods, Some(&issued)))
}

/// `POST auth/login`.
pub(crate) async fn login(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let ip = client_ip(app, request);
    let now = app.engine.now();
    if !app.limits.hit(Limit::Login, &ip, now) {
        return Err(ApiError::RateLimited);
    }
    let credentials = dto::credentials(&request.body)?;
    let email = normalize_email(&credentials.email).map_err(|e| {
        ApiError::Validation(vec![FieldError::field("email", e.code(), e.message())])
    })?;
    if app.limits.exhausted(Limit::LoginFailedIp, &ip, now)
        || app.limits.exhausted(Limit::LoginFailedEmail, &email, now)
    {
        return Err(ApiError::TooManyLoginAttempts);
    }
    let engine = app.engine.clone();
    let lookup_email = email.clone();
    let password = credentials.password;
    // Unknown e-mail, no usable password and a wrong password cost the same work and get the
    // same answer, so neither timing nor body tells which accounts exist.
    let user = blocking(move || authenticate(&engine, &lookup_email, &password)).await?;
    let Some(user) = user else {
        app.limits.hit(Limit::LoginFailedIp, &ip, now);
        app.limits.hit(Limit::LoginFailedEmail, &email, now);
        return Err(ApiError::Validation(vec![FieldError::field(
            "password",
            "email_password_mismatch",
            "The email address and/or password you specified are not correct.",
        )]));
    };
    // After the password, as allauth: a wrong password is a 400 whatever the session.
    if is_live(resolve_request(app, &request.headers)) {
        return Err(ApiError::Conflict);
    }
    app.limits.clear(Limit::LoginFailedEmail, &email);
    let meta = session_meta(app, request, AuthMethod::Password);
    let engine = app.engine.clone();
    let strategy = Arc::clone(&app.strategy);
    let session_user = user.clone();
    let issued = blocking(move || strategy.create_session(&engine, &session_user, meta)).await??;
    let methods = methods(&user, &issued.session);
    Ok(authenticated(app, &user, methods, Some(&issued)))
}

/// `GET auth/session`: 200, 401 or 410. Notes the session as seen (in memory; no event).
pub(crate) fn session(app: &App, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, user) = require_session(app, &request.headers)?;
    app.engine.touch(&auth.session.hash);
    let methods = methods(&user, &auth.session);
    Ok(authenticated(app, &user, methods, None))
}

/// allauth's `methods` of a session: how the user authenticated when it began. A sign-up lists
/// none; a password login lists `{method, at, email}`, `at` in float epoch seconds.
fn methods(user: &User, session: &SessionInfo) -> Value {
    match session.method {
        AuthMethod::Password => json!([{
            "method": "password",
            "at": session.created_at.as_secs_f64(),
            "email": user.email,
        }]),
        AuthMethod::SignUp | AuthMethod::Unknown => json!([]),
    }
}

/// `DELETE auth/session`: revokes the session and answers the 401 anonymous body.
pub(crate) async fn logout(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, _) = require_session(app, &request.headers)?;
    let engine = app.engine.clone();
    let hash = auth.session.hash;
    blocking(move || engine.revoke_hash(&hash, RevokeReason::Logout)).await??;
    Ok(ApiReply::anonymous(app.config.signup_open))
}

/// `POST tokens/refresh`: `{access_token, refresh_token?}`, or a bare 400 for any bad token.
pub(crate) async fn refresh(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let ip = client_ip(app, request);
    if !app.limits.hit(Limit::Refresh, &ip, app.engine.now()) {
        return Err(ApiError::RateLimited);
    }
    let token = dto::refresh_token(&request.body)?;
    let engine = app.engine.clone();
    let strategy = Arc::clone(&app.strategy);
    let refreshed = blocking(move || strategy.refresh_token(&engine, &token))
        .await?
        .map_err(|e| match e {
            RefreshError::Engine(e) => ApiError::Engine(e),
            _ => ApiError::RefreshFailed,
        })?;
    let mut data = Map::new();
    data.insert("access_token".into(), Value::String(refreshed.access_token));
    if let Some(refresh_token) = refreshed.refresh_token {
        data.insert("refresh_token".into(), Value::String(refresh_token));
    }
    Ok(ApiReply::data(StatusCode::OK, Value::Object(data), None))
}

/// `GET auth/sessions`: the user's live sessions, as allauth's `usersessions` lists them.
pub(crate) fn list_sessions(app: &App, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, _) = require_session(app, &request.headers)?;
    Ok(session_list(app, &auth.session))
}

/// `DELETE auth/sessions {sessions: [id, ...]}`: ends those of the user's sessions and answers
/// the remaining list, or the 401 anonymous body when the current session was among them.
///
/// All or nothing, as allauth's form validation before any session ends: an id that is not one
/// of the user's live sessions is a 400 `invalid_choice` and nothing ends (the engine checks
/// and revokes in one command, so a concurrent logout cannot half-apply the request).
pub(crate) async fn end_sessions(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, _) = require_session(app, &request.headers)?;
    let ids = dto::session_ids(&request.body)?;
    let engine = app.engine.clone();
    let user = auth.session.user;
    let outcome =
        blocking(move || engine.revoke_user_sessions(user, &ids, RevokeReason::UserRequest))
            .await??;
    if let RevokeSessionsOutcome::NotUserSession { no } = outcome {
        return Err(ApiError::Validation(vec![dto::invalid_session_choice(
            &no.to_string(),
        )]));
    }
    if !app.engine.is_live(&auth.session.hash) {
        return Ok(ApiReply::anonymous(app.config.signup_open));
    }
    Ok(session_list(app, &auth.session))
}

/// The credential headers of `headers`, resolved by the app's strategy.
pub(crate) fn resolve_request(app: &App, headers: &HeaderMap) -> Resolved {
    resolve(app.strategy.as_ref(), &app.engine, &credentials(headers))
}

/// The credential headers as [`resolve`] takes them. Empty headers count as absent.
pub(crate) fn credentials(headers: &HeaderMap) -> RequestCredentials<'_> {
    let text = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or(UNREADABLE))
            .filter(|v| !v.is_empty())
    };
    RequestCredentials {
        session_token: text("x-session-token"),
        authorization: text(header::AUTHORIZATION.as_str()),
    }
}

/// The live session and its user, or the 401/410 the request deserves.
fn require_session(app: &App, headers: &HeaderMap) -> Result<(Authenticated, User), ApiError> {
    let signup_open = app.config.signup_open;
    match resolve_request(app, headers) {
        Resolved::Anonymous => Err(ApiError::NotAuthenticated { signup_open }),
        Resolved::Dead => Err(ApiError::SessionGone { signup_open }),
        Resolved::Authenticated(auth) => match app.engine.user(auth.session.user) {
            Some(user) => Ok((*auth, user)),
            None => Err(ApiError::SessionGone { signup_open }),
        },
    }
}

fn is_live(resolved: Resolved) -> bool {
    matches!(resolved, Resolved::Authenticated(_))
}

/// `200 {data: {user, methods}, meta: {is_authenticated: true, session_token?, ...}}`; the
/// tokens only on the response that minted them.
fn authenticated(app: &App, user: &User, methods: Value, issued: Option<&Issued>) -> ApiReply {
    let mut meta = Map::new();
    meta.insert("is_authenticated".into(), Value::Bool(true));
    if let Some(issued) = issued {
        meta.insert(
            "session_token".into(),
            Value::String(issued.session_token.expose().to_owned()),
        );
        meta.extend(app.strategy.access_token_payload(issued));
    }
    ApiReply::data(
        StatusCode::OK,
        json!({ "user": user_json(user), "methods": methods }),
        Some(Value::Object(meta)),
    )
}

/// allauth's user payload; `display` is the username, as allauth's default `user_display`.
fn user_json(user: &User) -> Value {
    json!({
        "id": user.id.0,
        "display": user.username,
        "email": user.email,
        "has_usable_password": user.has_usable_password,
        "username": user.username,
    })
}

/// `200 {data: [Session, ...]}` for the user of `current`.
fn session_list(app: &App, current: &SessionInfo) -> ApiReply {
    let sessions: Vec<Value> = app
        .engine
        .user_sessions(current.user)
        .into_iter()
        .map(|s| {
            json!({
                "id": s.no,
                "created_at": s.created_at.as_secs_f64(),
                "last_seen_at": s.last_seen.as_secs_f64(),
                "is_current": s.hash == current.hash,
                "user_agent": s.user_agent.unwrap_or_default(),
                "ip": s.ip.unwrap_or_default(),
            })
        })
        .collect();
    ApiReply::data(StatusCode::OK, Value::Array(sessions), None)
}

fn email_taken() -> ApiError {
    ApiError::Validation(vec![FieldError::field(
        "email",
        "email_taken",
        "A user is already registered with this email address.",
    )])
}

/// The client's address: the peer's, or behind trusted proxies the one they report (see
/// `client_ip`).
fn client_address(app: &App, request: &Request) -> Option<IpAddr> {
    app.client_ip
        .client_ip(&request.headers, request.remote.map(|addr| addr.ip()))
}

/// The per-address rate-limit key.
fn client_ip(app: &App, request: &Request) -> String {
    client_address(app, request).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

fn session_meta(app: &App, request: &Request, method: AuthMethod) -> SessionMeta {
    SessionMeta {
        method,
        user_agent: request
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ip: client_address(app, request).map(|ip| ip.to_string()),
    }
}

/// Runs `f` on the blocking pool (argon2, fsync-bound engine writes).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::Internal("blocking task failed"))
}
