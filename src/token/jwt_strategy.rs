//! allauth's `JWTTokenStrategy`: JWT access tokens and rotating refresh tokens, with the
//! session key encrypted in `sid`, plus what allauth lacks (exactly one successor per refresh
//! token, reuse detection, a grace window, a verified-token cache).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::clock::Timestamp;
use crate::crypto::{SessionKey, SidCipher};
use crate::engine::{Engine, RotateOutcome, SessionMeta, Successor};
use crate::event::{Jti, SessionHash, UserId};
use crate::state::User;
use crate::token::cache::VerifiedCache;
use crate::token::jwt::{Claims, JwtCodec, JwtError, TokenUse};
use crate::token::strategy::{
    Authenticated, IssueError, Issued, RefreshError, Refreshed, Resolved, TokenStrategy,
};

/// The JWT settings, named and defaulted as allauth's `HEADLESS_JWT_*`.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    /// `HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN` (300 s).
    pub access_ttl_secs: i64,
    /// `HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN` (86,400 s).
    pub refresh_ttl_secs: i64,
    /// `HEADLESS_JWT_AUTHORIZATION_HEADER_SCHEME` ("Bearer"), compared case-insensitively.
    pub header_scheme: String,
    /// `HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED` (false): also require a live session.
    pub stateful: bool,
    /// `HEADLESS_JWT_ROTATE_REFRESH_TOKEN` (true).
    pub rotate_refresh: bool,
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            access_ttl_secs: 300,
            refresh_ttl_secs: 86_400,
            header_scheme: "Bearer".into(),
            stateful: false,
            rotate_refresh: true,
        }
    }
}

/// Why an access token was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The token failed verification.
    #[error(transparent)]
    Token(#[from] JwtError),
    /// The `sid` claim does not decrypt to a session key.
    #[error("undecodable sid")]
    BadSid,
    /// Stateful validation: the session behind the token has ended.
    #[error("session ended")]
    SessionEnded,
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidAccess {
    /// Its claims.
    pub claims: Claims,
    /// The session its `sid` names (whether or not that session is still live).
    pub session: SessionHash,
}

/// Custom access-token claims (allauth's `get_claims` override). Implemented for closures
/// `Fn(&User) -> Map<String, Value>`.
pub trait CustomClaims: Send + Sync + 'static {
    /// The extra claims for `user`'s next access token.
    fn claims(&self, user: &User) -> Map<String, Value>;
}

impl<F> CustomClaims for F
where
    F: Fn(&User) -> Map<String, Value> + Send + Sync + 'static,
{
    fn claims(&self, user: &User) -> Map<String, Value> {
        self(user)
    }
}

/// allauth's JWT strategy.
pub struct JwtTokenStrategy {
    codec: JwtCodec,
    /// Signs refresh tokens when set (`HALLPASS_JWT_REFRESH_ALGORITHM`); `codec` otherwise, as
    /// allauth does.
    refresh_codec: Option<JwtCodec>,
    sid: SidCipher,
    settings: JwtSettings,
    cache: VerifiedCache,
    /// Custom access-token claims, called with the user at each access-token mint; the
    /// reserved claims (`sub iat exp jti sid token_use`) overwrite whatever it returns.
    custom_claims: Option<Arc<dyn CustomClaims>>,
}

impl JwtTokenStrategy {
    /// A strategy signing with `codec`'s keys and encrypting `sid` with `sid`.
    pub fn new(codec: JwtCodec, sid: SidCipher, settings: JwtSettings) -> JwtTokenStrategy {
        JwtTokenStrategy {
            codec,
            refresh_codec: None,
            sid,
            settings,
            cache: VerifiedCache::new(100_000),
            custom_claims: None,
        }
    }

    /// Adds custom claims to every access token (allauth's `get_claims` override).
    pub fn with_custom_claims(mut self, hook: impl CustomClaims) -> JwtTokenStrategy {
        self.custom_claims = Some(Arc::new(hook));
        self
    }

    /// Signs refresh tokens with `codec` instead of the access-token keys.
    ///
    /// Refresh tokens are only ever verified by hallpass itself, so they need no public key: an
    /// HMAC `codec` makes a rotation cost one RSA signature instead of two. Refresh tokens
    /// signed with the access-token keys (before this was set) are still accepted; each codec
    /// pins its own algorithm and key, so neither accepts the other's tokens by mistake.
    pub fn with_refresh_codec(mut self, codec: JwtCodec) -> JwtTokenStrategy {
        self.refresh_codec = Some(codec);
        self
    }

    /// The settings.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// The signing and verification keys (for the JWKS document).
    pub fn codec(&self) -> &JwtCodec {
        &self.codec
    }

    /// Validates an access token the way a resource API does: signature, algorithm, `kid`,
    /// `exp`, `iat`, `token_use`, claim types — and, when stateful, a live session. A repeat of
    /// a token already verified costs a hash lookup, never skipping the expiry or session check.
    ///
    /// # Errors
    ///
    /// [`AccessError`] naming the failed check (for logs and metrics, not for clients).
    pub fn validate_access_token(
        &self,
        engine: &Engine,
        token: &str,
    ) -> Result<ValidAccess, AccessError> {
        let now = engine.now().as_secs();
        let (claims, session) = match self.cache.get(token, now) {
            Some(hit) => hit,
            None => {
                let claims = self.codec.verify(token, TokenUse::Access, now)?;
                let key = self.sid.decrypt(&claims.sid).ok_or(AccessError::BadSid)?;
                let session = SessionHash::of_presented(&key);
                self.cache.insert(token, claims.clone(), session);
                (claims, session)
            }
        };
        if self.settings.stateful && !engine.is_live(&session) {
            return Err(AccessError::SessionEnded);
        }
        Ok(ValidAccess { claims, session })
    }

    /// The token inside an `Authorization` header with the configured scheme.
    pub fn bearer<'a>(&self, authorization: &'a str) -> Option<&'a str> {
        let (scheme, token) = authorization.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case(&self.settings.header_scheme)
            .then_some(token)
    }

    fn mint_access(&self, user: &User, key: &str, now: Timestamp) -> Result<String, JwtError> {
        let iat = now.as_secs();
        let claims = Claims {
            sub: user.id.to_string(),
            iat,
            exp: iat.saturating_add(self.settings.access_ttl_secs),
            jti: Jti::random().to_string(),
            sid: self.sid.encrypt(key),
            token_use: TokenUse::Access,
        };
        let custom = self.custom_claims.as_ref().map(|hook| hook.claims(user));
        self.codec.sign(&claims, custom.as_ref())
    }

    fn mint_refresh(
        &self,
        user: UserId,
        key: &str,
        jti: Jti,
        iat: i64,
        exp: i64,
    ) -> Result<String, JwtError> {
        let claims = Claims {
            sub: user.to_string(),
            iat,
            exp,
            jti: jti.to_string(),
            sid: self.sid.encrypt(key),
            token_use: TokenUse::Refresh,
        };
        self.refresh_codec
            .as_ref()
            .unwrap_or(&self.codec)
            .sign(&claims, None)
    }

    /// Verifies a refresh token with the refresh codec, or the access-token keys.
    ///
    /// A token the refresh codec refuses is tried with the access-token keys, which signed every
    /// refresh token issued before the refresh codec was set: the refusal is a wrong algorithm
    /// when the two differ, but a bad signature when both are HMAC. The refresh codec's answer
    /// is the one reported when neither accepts.
    ///
    /// # Errors
    ///
    /// [`JwtError`] naming why the token is not a valid refresh token.
    pub fn verify_refresh_token(&self, token: &str, now: i64) -> Result<Claims, JwtError> {
        self.with_refresh_codecs(|codec| codec.verify(token, TokenUse::Refresh, now))
    }

    /// [`verify_refresh_token`](Self::verify_refresh_token), also returning the whole payload
    /// (for tools that show it, as `hallpass token verify`).
    ///
    /// # Errors
    ///
    /// As [`verify_refresh_token`](Self::verify_refresh_token).
    pub fn verify_refresh_token_with_payload(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(Claims, Map<String, Value>), JwtError> {
        self.with_refresh_codecs(|codec| codec.verify_with_payload(token, TokenUse::Refresh, now))
    }

    /// `verify` with the refresh codec, falling back to the access-token codec; the first
    /// refusal is the one reported.
    fn with_refresh_codecs<T>(
        &self,
        verify: impl Fn(&JwtCodec) -> Result<T, JwtError>,
    ) -> Result<T, JwtError> {
        match &self.refresh_codec {
            Some(refresh) => {
                verify(refresh).or_else(|first| verify(&self.codec).map_err(|_| first))
            }
            None => verify(&self.codec),
        }
    }
}

impl TokenStrategy for JwtTokenStrategy {
    fn create_session(
        &self,
        engine: &Engine,
        user: &User,
        meta: SessionMeta,
    ) -> Result<Issued, IssueError> {
        let now = engine.now();
        let jti = Jti::random();
        let refresh_exp = now.as_secs().saturating_add(self.settings.refresh_ttl_secs);
        let created = engine.create_session(
            user.id,
            meta,
            Some((jti, Timestamp::from_secs(refresh_exp))),
        )?;
        let key = created.key.expose();
        let signing = |r: Result<String, JwtError>| r.map_err(IssueError::Signing);
        let access = signing(self.mint_access(user, key, now))?;
        let refresh = signing(self.mint_refresh(user.id, key, jti, now.as_secs(), refresh_exp))?;
        Ok(Issued {
            session: created.info,
            session_token: created.key,
            access_token: Some(access),
            refresh_token: Some(refresh),
        })
    }

    fn create_access_token(
        &self,
        engine: &Engine,
        user: &User,
        key: &SessionKey,
    ) -> Option<String> {
        self.mint_access(user, key.expose(), engine.now()).ok()
    }

    fn refresh_token(
        &self,
        engine: &Engine,
        refresh_token: &str,
    ) -> Result<Refreshed, RefreshError> {
        let now = engine.now();
        let claims = self
            .verify_refresh_token(refresh_token, now.as_secs())
            .map_err(|_| RefreshError::Invalid)?;
        let key = self.sid.decrypt(&claims.sid).ok_or(RefreshError::Invalid)?;
        let hash = SessionHash::of_presented(&key);
        let jti = Jti::parse(&claims.jti).ok_or(RefreshError::Invalid)?;
        let session = engine.lookup_hash(&hash).ok_or(RefreshError::Invalid)?;
        // A session whose user is gone, or a token naming another user: 400, never a 500.
        let user = engine.user(session.user).ok_or(RefreshError::Invalid)?;
        if claims.sub != user.id.to_string() {
            return Err(RefreshError::Invalid);
        }
        let signing = |r: Result<String, JwtError>| r.map_err(RefreshError::Signing);
        if !self.settings.rotate_refresh {
            if !engine.refresh_is_live(&hash, &jti) {
                return Err(RefreshError::Invalid);
            }
            let access = signing(self.mint_access(&user, &key, now))?;
            return Ok(Refreshed {
                access_token: access,
                refresh_token: None,
            });
        }
        let new = Jti::random();
        let exp = now.as_secs().saturating_add(self.settings.refresh_ttl_secs);
        let successor = Successor {
            access_token: signing(self.mint_access(&user, &key, now))?,
            refresh_token: signing(self.mint_refresh(user.id, &key, new, now.as_secs(), exp))?,
        };
        match engine.rotate_refresh(
            hash,
            (jti, Timestamp::from_secs(claims.exp)),
            new,
            Timestamp::from_secs(exp),
            successor,
        )? {
            RotateOutcome::Rotated(s) | RotateOutcome::Retried(s) => Ok(Refreshed {
                access_token: s.access_token.clone(),
                refresh_token: Some(s.refresh_token.clone()),
            }),
            RotateOutcome::Rejected => Err(RefreshError::Invalid),
            RotateOutcome::ReuseDetected => Err(RefreshError::ReuseDetected),
        }
    }

    fn authenticate_authorization(&self, engine: &Engine, authorization: &str) -> Resolved {
        let Some(token) = self.bearer(authorization) else {
            return Resolved::Anonymous;
        };
        let Ok(valid) = self.validate_access_token(engine, token) else {
            return Resolved::Anonymous;
        };
        match engine.lookup_hash(&valid.session) {
            Some(session) => Resolved::Authenticated(Box::new(Authenticated {
                session,
                claims: Some(valid.claims),
            })),
            // Stateless: a verified token whose session is gone is a dead session (410).
            None => Resolved::Dead,
        }
    }
}
