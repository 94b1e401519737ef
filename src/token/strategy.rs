//! The token-strategy interface, after allauth's `AbstractTokenStrategy`, and how a request's
//! credentials are resolved to a session.
//!
//! A strategy turns a logged-in user into tokens and tokens back into a session. hallpass ships
//! two — [`SessionTokenStrategy`] and
//! [`JwtTokenStrategy`](crate::token::JwtTokenStrategy) — and library users can plug their own.
//! [`resolve`] implements the wire contract's credential rules once, for the HTTP facade and for
//! Rust services protecting their own routes alike.

use std::str::FromStr;

use serde_json::{Map, Value};

use crate::crypto::SessionKey;
use crate::engine::{Engine, EngineError, SessionInfo, SessionMeta};
use crate::event::SessionHash;
use crate::state::User;
use crate::token::jwt::{Claims, JwtError};

/// The credential headers of one request. Tokens are never read from query strings.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestCredentials<'a> {
    /// The `X-Session-Token` header, if present.
    pub session_token: Option<&'a str>,
    /// The `Authorization` header, if present.
    pub authorization: Option<&'a str>,
}

/// What a request's credentials amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolved {
    /// No credentials, or a bearer token that did not verify (401 with flows).
    Anonymous,
    /// Credentials that named a session that is gone (410, `is_authenticated: null`).
    Dead,
    /// An `X-Session-Token` of an anonymous session holding flows in progress (a login waiting
    /// for its address to be verified, a login by code): 401 with those flows pending.
    Pending(SessionHash),
    /// A live session.
    Authenticated(Box<Authenticated>),
}

/// A request authenticated to a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The session.
    pub session: SessionInfo,
    /// The access token's claims when a bearer token authenticated the request.
    pub claims: Option<Claims>,
}

/// The tokens minted when a user authenticates (sign-up or login). `Debug` shows which tokens
/// there are, never the tokens.
pub struct Issued {
    /// The new session.
    pub session: SessionInfo,
    /// The session token (`meta.session_token`).
    pub session_token: SessionKey,
    /// An access token, for strategies that issue them (`meta.access_token`).
    pub access_token: Option<String>,
    /// A refresh token, for strategies that issue them (`meta.refresh_token`).
    pub refresh_token: Option<String>,
}

/// The result of a successful refresh. `Debug` shows which tokens there are, never the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The new access token.
    pub access_token: String,
    /// The new refresh token, when rotation is on.
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("session", &self.session)
            .field("session_token", &self.session_token)
            .field("access_token", &redacted(&self.access_token))
            .field("refresh_token", &redacted(&self.refresh_token))
            .finish()
    }
}

impl std::fmt::Debug for Refreshed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshed")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &redacted(&self.refresh_token))
            .finish()
    }
}

/// `Some("<redacted>")` for a token that is there.
fn redacted(token: &Option<String>) -> Option<&'static str> {
    token.as_ref().map(|_| "<redacted>")
}

/// Why a session's tokens could not be issued.
///
/// Storage failure and a token that cannot be signed are different faults: the first is
/// transient and nothing was written, the second a key or configuration problem (the session
/// was created; its tokens were not handed out).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The engine refused or could not store the session.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A token could not be signed.
    #[error("token signing failed: {0}")]
    Signing(JwtError),
}

/// Why a refresh failed. The wire answer is `400 {"status": 400}` for the client's faults
/// ([`Invalid`](RefreshError::Invalid), [`ReuseDetected`](RefreshError::ReuseDetected),
/// [`Unsupported`](RefreshError::Unsupported)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// The strategy has no refresh tokens.
    #[error("refresh is not supported by this token strategy")]
    Unsupported,
    /// The token is not refreshable (garbled, expired, rotated out, session gone, ...).
    #[error("invalid refresh token")]
    Invalid,
    /// A rotated-out token was presented after the grace window; the session was revoked.
    #[error("refresh token reuse detected; session revoked")]
    ReuseDetected,
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The successor tokens could not be signed; nothing changed.
    #[error("token signing failed: {0}")]
    Signing(JwtError),
}

/// allauth's `AbstractTokenStrategy`, in Rust.
pub trait TokenStrategy: Send + Sync + 'static {
    /// The session token a request carries (allauth `get_session_token`): `X-Session-Token`.
    fn session_token<'a>(&self, credentials: &RequestCredentials<'a>) -> Option<&'a str> {
        credentials.session_token
    }

    /// Creates a session for `user` and mints its tokens (allauth `create_session_token`
    /// together with `create_access_token_payload`).
    ///
    /// # Errors
    ///
    /// [`IssueError`]: the engine's, or a token that could not be signed.
    fn create_session(
        &self,
        engine: &Engine,
        user: &User,
        meta: SessionMeta,
    ) -> Result<Issued, IssueError>;

    /// The live session behind a session token (allauth `lookup_session`).
    fn lookup_session(&self, engine: &Engine, session_token: &str) -> Option<SessionInfo> {
        engine.lookup(session_token)
    }

    /// An access token for `user`'s session `key` (allauth `create_access_token`); `None` for
    /// strategies without access tokens.
    fn create_access_token(
        &self,
        engine: &Engine,
        user: &User,
        key: &SessionKey,
    ) -> Option<String> {
        let _ = (engine, user, key);
        None
    }

    /// What goes into the authenticating response's `meta` besides `session_token`
    /// (allauth `create_access_token_payload`).
    fn access_token_payload(&self, issued: &Issued) -> Map<String, Value> {
        let mut meta = Map::new();
        if let Some(access) = &issued.access_token {
            meta.insert("access_token".into(), Value::String(access.clone()));
        }
        if let Some(refresh) = &issued.refresh_token {
            meta.insert("refresh_token".into(), Value::String(refresh.clone()));
        }
        meta
    }

    /// Exchanges a refresh token for a new access token (and, with rotation, a new refresh
    /// token) (allauth `refresh_token`).
    ///
    /// # Errors
    ///
    /// [`RefreshError`]; [`RefreshError::Unsupported`] by default.
    fn refresh_token(
        &self,
        engine: &Engine,
        refresh_token: &str,
    ) -> Result<Refreshed, RefreshError> {
        let _ = (engine, refresh_token);
        Err(RefreshError::Unsupported)
    }

    /// Authenticates an `Authorization` header value. The default knows no access tokens.
    fn authenticate_authorization(&self, engine: &Engine, authorization: &str) -> Resolved {
        let _ = (engine, authorization);
        Resolved::Anonymous
    }
}

/// Resolves a request's credentials exactly as allauth does:
/// 1. `X-Session-Token` present: it wins; unknown or deleted is [`Resolved::Dead`], even beside
///    a valid bearer token.
/// 2. Else `Authorization` is handed to the strategy.
/// 3. Else [`Resolved::Anonymous`].
pub fn resolve(
    strategy: &dyn TokenStrategy,
    engine: &Engine,
    credentials: &RequestCredentials<'_>,
) -> Resolved {
    if let Some(token) = strategy.session_token(credentials) {
        return match strategy.lookup_session(engine, token) {
            Some(session) => Resolved::Authenticated(Box::new(Authenticated {
                session,
                claims: None,
            })),
            None => match pending_holder(engine, token) {
                Some(hash) => Resolved::Pending(hash),
                None => Resolved::Dead,
            },
        };
    }
    match credentials.authorization {
        Some(authorization) => strategy.authenticate_authorization(engine, authorization),
        None => Resolved::Anonymous,
    }
}

/// The hash of `token` when it names an anonymous session with flows in progress. A token
/// longer than any session key is not hashed.
fn pending_holder(engine: &Engine, token: &str) -> Option<SessionHash> {
    if token.len() > crate::engine::MAX_PRESENTED_KEY_BYTES {
        return None;
    }
    let hash = SessionHash::of_presented(token);
    engine.holds_flow(&hash).then_some(hash)
}

/// Which built-in strategy `HEADLESS_TOKEN_STRATEGY` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StrategyKind {
    /// Session tokens only.
    Session,
    /// JWT access and refresh tokens.
    Jwt,
}

impl FromStr for StrategyKind {
    type Err = String;

    /// Accepts `session`, `jwt`, and allauth's dotted class paths.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "session"
            | "allauth.headless.tokens.strategies.sessions.SessionTokenStrategy"
            | "allauth.headless.tokens.sessions.SessionTokenStrategy" => Ok(StrategyKind::Session),
            "jwt"
            | "allauth.headless.tokens.strategies.jwt.strategy.JWTTokenStrategy"
            | "allauth.headless.tokens.strategies.jwt.JWTTokenStrategy" => Ok(StrategyKind::Jwt),
            other => Err(format!(
                "unknown token strategy {other:?}: expected session, jwt, or allauth's class path"
            )),
        }
    }
}

/// allauth's default strategy: the session token is the session key; no access tokens, and
/// refresh is unsupported.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionTokenStrategy;

impl TokenStrategy for SessionTokenStrategy {
    fn create_session(
        &self,
        engine: &Engine,
        user: &User,
        meta: SessionMeta,
    ) -> Result<Issued, IssueError> {
        let created = engine.create_session(user.id, meta, None)?;
        Ok(Issued {
            session: created.info,
            session_token: created.key,
            access_token: None,
            refresh_token: None,
        })
    }
}
