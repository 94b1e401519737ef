//! Settings, named as allauth's and Django's, from flags, the environment and a TOML file.
//!
//! Each setting is declared once, in `settings.rs`: its name, default, parser, secrecy and
//! doc. That table gives the known names ([`SETTINGS`]), validation, the settings part of
//! `hallpass serve --help` ([`RawConfig::settings_help`]) and the README's settings table.
//!
//! [`RawConfig`] (`raw.rs`) holds settings as written (strings keyed by their Django name);
//! layers merge with precedence flag > environment > file > default (the binary reads the TOML
//! file). [`RawConfig::validate`] turns it into a [`Config`], or a [`ConfigError`] naming the
//! offending setting; it reads no file. Secrets ([`Secret`], `secret.rs`) are never echoed in
//! errors or `Debug`.

use crate::engine::EngineConfig;
use crate::store::Durability;
use crate::token::{Algorithm, StrategyKind};

mod raw;
mod secret;
mod settings;

pub use raw::RawConfig;
pub use secret::Secret;
// The web layer's tests probe the bound.
#[cfg(test)]
pub(crate) use settings::MAX_TRUSTED_PROXY_COUNT;
pub use settings::SETTINGS;

/// A setting that could not be used.
///
/// Invariant: `setting` is one of [`SETTINGS`] (or, for an unknown key in a file, that key);
/// `reason` never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    /// The setting's name, e.g. `HEADLESS_JWT_ALGORITHM`.
    pub setting: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// An error about `setting`.
    pub fn new(setting: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            setting: setting.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Validated settings. Built only by [`RawConfig::validate`] (and `Default`, which is the
/// validation of no settings).
///
/// Each field is one setting, named in its doc; defaults and meanings are in the settings
/// table (`settings.rs`, rendered in the README and `hallpass serve --help`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// `HEADLESS_TOKEN_STRATEGY`.
    pub token_strategy: StrategyKind,
    /// `HEADLESS_JWT_ALGORITHM`.
    pub jwt_algorithm: Algorithm,
    /// `HALLPASS_JWT_REFRESH_ALGORITHM`; `None`: refresh tokens are signed like access tokens,
    /// as allauth does. An HMAC algorithm here signs refresh tokens with a key derived from
    /// `SECRET_KEY`: they are only ever verified by hallpass, and an RSA signature costs about
    /// 0.9 ms of CPU where HMAC costs 2 µs.
    pub refresh_algorithm: Option<Algorithm>,
    /// `HEADLESS_JWT_PRIVATE_KEY` as written: a PEM, a path to one, or (HMAC algorithms) the
    /// shared secret itself. A path is read when the strategy is built, not here.
    pub jwt_private_key: Option<Secret>,
    /// `HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN`, in seconds.
    pub access_ttl_secs: i64,
    /// `HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN`, in seconds.
    pub refresh_ttl_secs: i64,
    /// `HEADLESS_JWT_AUTHORIZATION_HEADER_SCHEME`: one word, e.g. `Bearer`.
    pub header_scheme: String,
    /// `HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED`.
    pub stateful_validation: bool,
    /// `HEADLESS_JWT_ROTATE_REFRESH_TOKEN`.
    pub rotate_refresh: bool,
    /// `SESSION_COOKIE_AGE`, in seconds.
    pub session_ttl_secs: i64,
    /// `HALLPASS_MAX_SESSIONS_PER_USER`: a new session beyond it ends the user's oldest; 0 is
    /// no cap.
    pub max_sessions_per_user: usize,
    /// `SECRET_KEY`; `None` until development defaults fill it in (`serve`'s first step).
    pub secret_key: Option<Secret>,
    /// `ACCOUNT_RATE_LIMITS`; `false` disables every limit.
    pub rate_limits: bool,
    /// `HALLPASS_REFRESH_REUSE_DETECTION`.
    pub reuse_detection: bool,
    /// `HALLPASS_REFRESH_GRACE_SECONDS`.
    pub refresh_grace_secs: i64,
    /// `HALLPASS_REFRESH_GRACE_REPLAYS`: how many times within the grace window a rotated-out
    /// refresh token is answered with its successor again; one more is a reuse.
    pub refresh_grace_replays: u32,
    /// `HALLPASS_MAX_CONSECUTIVE_STORE_FAILURES`: the engine stops after this many failed
    /// writes in a row (0: never).
    pub max_consecutive_store_failures: u32,
    /// `ALLAUTH_RATE_LIMIT_IPV6_PREFIX`: IPv6 clients share rate limits per network of this
    /// prefix length.
    pub rate_limit_ipv6_prefix: u8,
    /// `HALLPASS_PASSWORD_HASH_CONCURRENCY`: at most this many argon2 hashes or checks at once;
    /// `None`: the number of cores.
    pub password_hash_concurrency: Option<usize>,
    /// `HALLPASS_PASSWORD_HASH_WAIT_SECONDS`: how long a request waits for a password slot
    /// before a 503.
    pub password_hash_wait_secs: i64,
    /// `HALLPASS_HTTP_HEADER_TIMEOUT_SECONDS`.
    pub http_header_timeout_secs: i64,
    /// `HALLPASS_HTTP_BODY_TIMEOUT_SECONDS`.
    pub http_body_timeout_secs: i64,
    /// `HALLPASS_HTTP_IDLE_TIMEOUT_SECONDS`.
    pub http_idle_timeout_secs: i64,
    /// `HALLPASS_HTTP_MAX_CONNECTIONS`; `None`: derived from the open-file limit.
    pub http_max_connections: Option<usize>,
    /// `HALLPASS_METRICS_BIND`: where `/metrics` is served instead of the API's bind; `None`:
    /// on the API's bind.
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// `ACCOUNT_EMAIL_VERIFICATION`.
    pub email_verification: EmailVerification,
    /// `ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED`.
    pub email_verification_by_code: bool,
    /// `ACCOUNT_EMAIL_VERIFICATION_BY_CODE_MAX_ATTEMPTS`.
    pub email_verification_code_max_attempts: u32,
    /// `ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT`, seconds.
    pub email_verification_code_timeout_secs: i64,
    /// `ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND`, as a count.
    pub email_verification_max_resends: u32,
    /// `ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_CHANGE`, as a count.
    pub email_verification_max_changes: u32,
    /// `ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS`.
    pub email_confirmation_expire_days: i64,
    /// `ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION`.
    pub login_on_email_confirmation: bool,
    /// `ACCOUNT_MAX_EMAIL_ADDRESSES`; `None`: no limit.
    pub max_email_addresses: Option<usize>,
    /// `ACCOUNT_CHANGE_EMAIL`.
    pub change_email: bool,
    /// `ACCOUNT_UNIQUE_EMAIL` (always true: validation refuses false).
    pub unique_email: bool,
    /// `ACCOUNT_PREVENT_ENUMERATION`.
    pub prevent_enumeration: PreventEnumeration,
    /// `ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE`.
    pub logout_on_password_change: bool,
    /// `ACCOUNT_LOGIN_ON_PASSWORD_RESET`.
    pub login_on_password_reset: bool,
    /// `PASSWORD_RESET_TIMEOUT`, seconds.
    pub password_reset_timeout_secs: i64,
    /// `ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED`.
    pub password_reset_by_code: bool,
    /// `ACCOUNT_PASSWORD_RESET_BY_CODE_MAX_ATTEMPTS`.
    pub password_reset_code_max_attempts: u32,
    /// `ACCOUNT_PASSWORD_RESET_BY_CODE_TIMEOUT`, seconds.
    pub password_reset_code_timeout_secs: i64,
    /// `ACCOUNT_REAUTHENTICATION_TIMEOUT`, seconds.
    pub reauthentication_timeout_secs: i64,
    /// `ACCOUNT_LOGIN_BY_CODE_ENABLED`.
    pub login_by_code: bool,
    /// `ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS`.
    pub login_code_max_attempts: u32,
    /// `ACCOUNT_LOGIN_BY_CODE_TIMEOUT`, seconds.
    pub login_code_timeout_secs: i64,
    /// `ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND`, as a count.
    pub login_code_max_resends: u32,
    /// `ACCOUNT_LOGIN_TIMEOUT`, seconds.
    pub login_timeout_secs: i64,
    /// `ACCOUNT_SIGNUP_ENABLED`; signup is open only when this and `HALLPASS_SIGNUP_OPEN` are
    /// both true (see [`Config::signup_allowed`]).
    pub signup_enabled: bool,
    /// `HALLPASS_SITE_NAME`.
    pub site_name: String,
    /// `ACCOUNT_EMAIL_SUBJECT_PREFIX` as written; empty: `[site_name] ` (see
    /// [`Config::subject_prefix`]).
    pub email_subject_prefix: String,
    /// `HEADLESS_FRONTEND_URLS`, by allauth's URL name.
    pub frontend_urls: std::collections::BTreeMap<String, String>,
    /// `EMAIL_BACKEND`.
    pub email_backend: EmailBackend,
    /// `EMAIL_FILE_PATH`; `None`: `mail` in the data directory.
    pub email_file_path: Option<std::path::PathBuf>,
    /// `EMAIL_HOST`.
    pub email_host: String,
    /// `EMAIL_PORT`.
    pub email_port: u16,
    /// `EMAIL_HOST_USER`.
    pub email_host_user: Option<String>,
    /// `EMAIL_HOST_PASSWORD`.
    pub email_host_password: Option<Secret>,
    /// `EMAIL_USE_TLS` (STARTTLS).
    pub email_use_tls: bool,
    /// `EMAIL_USE_SSL` (implicit TLS).
    pub email_use_ssl: bool,
    /// `EMAIL_TIMEOUT`, seconds.
    pub email_timeout_secs: i64,
    /// `DEFAULT_FROM_EMAIL`.
    pub default_from_email: String,
    /// `HALLPASS_EMAIL_TEMPLATES_DIR`.
    pub email_templates_dir: Option<std::path::PathBuf>,
    /// `HALLPASS_EMAIL_MAX_ATTEMPTS`.
    pub email_max_attempts: u32,
    /// `HALLPASS_DURABILITY`.
    pub durability: Durability,
    /// `HALLPASS_SIGNUP_OPEN`.
    pub signup_open: bool,
    /// `ALLAUTH_TRUSTED_PROXY_COUNT`: how many proxies under our control append to
    /// `X-Forwarded-For`; the client is the entry that many from the right. 0 ignores the
    /// header.
    pub trusted_proxy_count: usize,
    /// `ALLAUTH_TRUSTED_CLIENT_IP_HEADER`: a header, lower-cased, that a trusted proxy sets to
    /// the client's address (e.g. `x-real-ip`); when set, `X-Forwarded-For` is ignored.
    pub trusted_client_ip_header: Option<String>,
    /// `ACCOUNT_REAUTHENTICATION_METHODS`.
    pub reauthentication_methods: ReauthenticationMethods,
    /// `ACCOUNT_REAUTHENTICATION_REQUIRED`: sensitive operations need a recent
    /// (re)authentication.
    pub reauthentication_required: bool,
}

/// `ACCOUNT_REAUTHENTICATION_METHODS`: how a signed-in session may prove its user again
/// before a sensitive operation. A method left out is not offered in the reauthentication
/// `flows` and its endpoints answer 403, as allauth's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReauthenticationMethods {
    /// `password`: `POST auth/reauthenticate`.
    pub password: bool,
    /// `code`: a code mailed to a verified address (`auth/reauthenticate/code/*`).
    pub code: bool,
}

/// `ACCOUNT_EMAIL_VERIFICATION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailVerification {
    /// No verification mail at sign-up.
    None,
    /// A verification mail at sign-up; login does not wait for it.
    Optional,
    /// Login waits until the address is verified (allauth's `verify_email` flow).
    Mandatory,
}

/// `ACCOUNT_PREVENT_ENUMERATION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreventEnumeration {
    /// Answers say whether an address has an account.
    Off,
    /// Answers about addresses are the same whether they have an account or not.
    On,
    /// As `On`, and signup with a taken address answers as a new one would.
    Strict,
}

/// `EMAIL_BACKEND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailBackend {
    /// Each message a file under `EMAIL_FILE_PATH`.
    File,
    /// Each message sent to `EMAIL_HOST`.
    Smtp,
    /// Each message written to standard error.
    Console,
}

impl Config {
    /// Whether signup is open: `HALLPASS_SIGNUP_OPEN` and allauth's `ACCOUNT_SIGNUP_ENABLED`
    /// both allow it.
    pub fn signup_allowed(&self) -> bool {
        self.signup_open && self.signup_enabled
    }

    /// The prefix of every subject: `ACCOUNT_EMAIL_SUBJECT_PREFIX`, or allauth's default, the
    /// site's name in brackets and a space.
    pub fn subject_prefix(&self) -> String {
        match self.email_subject_prefix.is_empty() {
            true => format!("[{}] ", self.site_name),
            false => self.email_subject_prefix.clone(),
        }
    }

    /// The engine settings these map to.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            session_ttl_secs: self.session_ttl_secs,
            refresh_grace_ms: self.refresh_grace_secs * 1000,
            refresh_grace_replays: self.refresh_grace_replays,
            reuse_detection: self.reuse_detection,
            max_sessions_per_user: self.max_sessions_per_user,
            max_consecutive_store_failures: self.max_consecutive_store_failures,
            ..EngineConfig::default()
        }
    }

    /// Settings that are valid but weak, one message each (`SETTING: why`), for the binary to
    /// log at startup; empty when there are none. Validation does not refuse them: a
    /// development setup may use a short key on purpose.
    ///
    /// - `SECRET_KEY` with fewer than 50 characters, fewer than 5 distinct ones, or Django's
    ///   `django-insecure-` prefix (Django's `security.W009`).
    /// - `HEADLESS_JWT_PRIVATE_KEY` with an HS256/HS384/HS512 algorithm and fewer bytes than
    ///   the hash's output (32, 48, 64), which RFC 7518 section 3.2 requires of an HMAC key.
    ///
    /// Invariant: a message names the setting and the rule, never the value (nor which part
    /// of the rule it breaks, which would narrow the value down).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.secret_key.as_ref().is_some_and(is_weak_secret_key) {
            warnings.push(format!(
                "SECRET_KEY: weak by Django's security.W009 (fewer than {MIN_SECRET_KEY_CHARS} \
                 characters, fewer than {MIN_SECRET_KEY_UNIQUE} distinct ones, or the \
                 {INSECURE_PREFIX:?} prefix); set {MIN_SECRET_KEY_CHARS} or more random \
                 characters"
            ));
        }
        if let (Some(min), Some(key)) = (
            hmac_key_min_bytes(self.jwt_algorithm),
            &self.jwt_private_key,
        ) && key.expose().len() < min
        {
            warnings.push(format!(
                "HEADLESS_JWT_PRIVATE_KEY: shorter than {min} bytes, too short for {} (RFC 7518 \
                 section 3.2 requires an HMAC key at least as long as the hash); set {min} or \
                 more random bytes",
                self.jwt_algorithm
            ));
        }
        warnings
    }
}

/// Django's `security.W009`: a `SECRET_KEY` needs this many characters...
const MIN_SECRET_KEY_CHARS: usize = 50;
/// ...this many distinct ones...
const MIN_SECRET_KEY_UNIQUE: usize = 5;
/// ...and not the prefix of the placeholder `django-admin startproject` writes.
const INSECURE_PREFIX: &str = "django-insecure-";

/// Whether `key` breaks Django's `security.W009` rule.
fn is_weak_secret_key(key: &Secret) -> bool {
    let key = key.expose();
    let distinct: std::collections::BTreeSet<char> = key.chars().collect();
    key.chars().count() < MIN_SECRET_KEY_CHARS
        || distinct.len() < MIN_SECRET_KEY_UNIQUE
        || key.starts_with(INSECURE_PREFIX)
}

/// The shortest key RFC 7518 section 3.2 allows for an HMAC algorithm (its hash's output);
/// `None` for the others.
fn hmac_key_min_bytes(algorithm: Algorithm) -> Option<usize> {
    match algorithm {
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 => Some(64),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
