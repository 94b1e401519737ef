//! Settings, named as allauth's and Django's, from flags, the environment and a TOML file.
//!
//! [`RawConfig`] holds settings as written (strings keyed by their Django name); layers merge
//! with precedence flag > environment > file > default (the binary reads the TOML file). [`RawConfig::validate`] turns it into a
//! [`Config`], or a [`ConfigError`] naming the offending setting. Secrets are never echoed in
//! errors or `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use crate::engine::EngineConfig;
use crate::store::Durability;
use crate::token::{Algorithm, StrategyKind};

mod secret;

pub use secret::Secret;

/// Every setting hallpass reads, by its allauth/Django name.
pub const SETTINGS: &[&str] = &[
    "HEADLESS_TOKEN_STRATEGY",
    "HEADLESS_JWT_ALGORITHM",
    "HEADLESS_JWT_PRIVATE_KEY",
    "HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN",
    "HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN",
    "HEADLESS_JWT_AUTHORIZATION_HEADER_SCHEME",
    "HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED",
    "HEADLESS_JWT_ROTATE_REFRESH_TOKEN",
    "SESSION_COOKIE_AGE",
    "SECRET_KEY",
    "ACCOUNT_RATE_LIMITS",
    "HALLPASS_REFRESH_REUSE_DETECTION",
    "HALLPASS_REFRESH_GRACE_SECONDS",
    "HALLPASS_DURABILITY",
    "HALLPASS_SIGNUP_OPEN",
    "HALLPASS_JWT_REFRESH_ALGORITHM",
    "ALLAUTH_TRUSTED_PROXY_COUNT",
    "ALLAUTH_TRUSTED_CLIENT_IP_HEADER",
];

/// The largest `ALLAUTH_TRUSTED_PROXY_COUNT` accepted; more is surely a typo.
pub(crate) const MAX_TRUSTED_PROXY_COUNT: usize = 100;

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

/// Settings as written: strings keyed by setting name, before validation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    values: BTreeMap<String, String>,
}

impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.values {
            if is_secret(k) {
                map.entry(k, &"<redacted>");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

impl RawConfig {
    /// An empty layer.
    pub fn new() -> RawConfig {
        RawConfig::default()
    }

    /// Sets `name` to `value`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `name` is not one of [`SETTINGS`].
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<(), ConfigError> {
        if !SETTINGS.contains(&name) {
            return Err(ConfigError::new(name, "unknown setting"));
        }
        self.values.insert(name.to_owned(), value.into());
        Ok(())
    }

    /// The value of `name` as written, if set.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Parses `NAME=VALUE` (a `--set` flag).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a missing `=` or an unknown name.
    pub fn set_assignment(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let Some((name, value)) = assignment.split_once('=') else {
            return Err(ConfigError::new(assignment, "expected NAME=VALUE"));
        };
        self.set(name.trim(), value)
    }

    /// The known settings among `vars` (environment variables); others are ignored.
    pub fn from_env_vars(vars: impl IntoIterator<Item = (String, String)>) -> RawConfig {
        let mut raw = RawConfig::new();
        for (name, value) in vars {
            if SETTINGS.contains(&name.as_str()) {
                raw.values.insert(name, value);
            }
        }
        raw
    }

    /// The known settings in the process environment.
    pub fn from_env() -> RawConfig {
        RawConfig::from_env_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// `self` over `lower`: values set in `self` win.
    pub fn over(mut self, lower: RawConfig) -> RawConfig {
        for (k, v) in lower.values {
            self.values.entry(k).or_insert(v);
        }
        self
    }

    /// Layers flags over environment over file.
    pub fn layered(flags: RawConfig, env: RawConfig, file: RawConfig) -> RawConfig {
        flags.over(env).over(file)
    }

    /// Validates every setting, filling in defaults.
    ///
    /// `HEADLESS_JWT_PRIVATE_KEY` may be a PEM (starts with `-----BEGIN`) or a path to one; with
    /// an HMAC algorithm any other text is the shared secret itself.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`], naming its setting.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let token_strategy = match self.value("HEADLESS_TOKEN_STRATEGY").map(str::trim) {
            None | Some("") => StrategyKind::Session,
            Some(name) => name
                .parse()
                .map_err(|e| ConfigError::new("HEADLESS_TOKEN_STRATEGY", e))?,
        };
        let jwt_algorithm = match self.value("HEADLESS_JWT_ALGORITHM").map(str::trim) {
            None | Some("") => Algorithm::RS256,
            Some(name) => name.parse().map_err(|_| {
                ConfigError::new(
                    "HEADLESS_JWT_ALGORITHM",
                    format!("unknown algorithm {name:?}: expected HS256/384/512, RS256/384/512, ES256 or EdDSA"),
                )
            })?,
        };
        let refresh_algorithm = match self.value("HALLPASS_JWT_REFRESH_ALGORITHM").map(str::trim) {
            None | Some("") => None,
            Some(name) => match name.parse::<Algorithm>() {
                Ok(algorithm) if algorithm.is_symmetric() => Some(algorithm),
                _ => {
                    return Err(ConfigError::new(
                        "HALLPASS_JWT_REFRESH_ALGORITHM",
                        format!(
                            "expected HS256, HS384 or HS512 (or empty: sign refresh tokens like access tokens), got {name:?}"
                        ),
                    ));
                }
            },
        };
        let jwt_private_key = match self.value("HEADLESS_JWT_PRIVATE_KEY") {
            None => None,
            Some(v) if v.trim().is_empty() => None,
            Some(v) => Some(Secret::new(v.to_owned())),
        };
        let secret_key = self
            .value("SECRET_KEY")
            .filter(|v| !v.is_empty())
            .map(|v| Secret::new(v.to_owned()));
        let header_scheme = match self.value("HEADLESS_JWT_AUTHORIZATION_HEADER_SCHEME") {
            None => "Bearer".to_owned(),
            Some(s) if s.trim().is_empty() || s.trim().contains(char::is_whitespace) => {
                return Err(ConfigError::new(
                    "HEADLESS_JWT_AUTHORIZATION_HEADER_SCHEME",
                    "expected one word, e.g. Bearer",
                ));
            }
            Some(s) => s.trim().to_owned(),
        };
        let durability = match self.value("HALLPASS_DURABILITY").map(str::trim) {
            None | Some("") => Durability::Fsync,
            Some(v) => v
                .parse()
                .map_err(|e| ConfigError::new("HALLPASS_DURABILITY", e))?,
        };
        let trusted_proxy_count = match self.value("ALLAUTH_TRUSTED_PROXY_COUNT").map(str::trim) {
            None | Some("") => 0,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_TRUSTED_PROXY_COUNT)
                .ok_or_else(|| {
                    ConfigError::new(
                        "ALLAUTH_TRUSTED_PROXY_COUNT",
                        format!(
                            "expected a whole number of proxies from 0 to {MAX_TRUSTED_PROXY_COUNT}, got {v:?}"
                        ),
                    )
                })?,
        };
        let trusted_client_ip_header = match self
            .value("ALLAUTH_TRUSTED_CLIENT_IP_HEADER")
            .map(str::trim)
        {
            None | Some("") => None,
            Some(name) if is_header_name(name) => Some(name.to_ascii_lowercase()),
            Some(other) => {
                return Err(ConfigError::new(
                    "ALLAUTH_TRUSTED_CLIENT_IP_HEADER",
                    format!("expected an HTTP header name such as X-Real-IP, got {other:?}"),
                ));
            }
        };
        Ok(Config {
            token_strategy,
            jwt_algorithm,
            refresh_algorithm,
            jwt_private_key,
            access_ttl_secs: self.seconds("HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN", 300, 1)?,
            refresh_ttl_secs: self.seconds("HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN", 86_400, 1)?,
            header_scheme,
            stateful_validation: self.boolean("HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED", false)?,
            rotate_refresh: self.boolean("HEADLESS_JWT_ROTATE_REFRESH_TOKEN", true)?,
            session_ttl_secs: self.seconds("SESSION_COOKIE_AGE", 1_209_600, 1)?,
            secret_key,
            rate_limits: self.boolean("ACCOUNT_RATE_LIMITS", true)?,
            reuse_detection: self.boolean("HALLPASS_REFRESH_REUSE_DETECTION", true)?,
            refresh_grace_secs: self.seconds("HALLPASS_REFRESH_GRACE_SECONDS", 10, 0)?,
            durability,
            signup_open: self.boolean("HALLPASS_SIGNUP_OPEN", true)?,
            trusted_proxy_count,
            trusted_client_ip_header,
        })
    }

    fn boolean(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.value(name) {
            None => Ok(default),
            Some(v) => parse_bool(v).ok_or_else(|| {
                ConfigError::new(name, format!("expected true/false/1/0, got {v:?}"))
            }),
        }
    }

    fn seconds(&self, name: &str, default: i64, min: i64) -> Result<i64, ConfigError> {
        const MAX: i64 = 10 * 365 * 86_400;
        match self.value(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (min..=MAX).contains(&n) => Ok(n),
                _ => Err(ConfigError::new(
                    name,
                    format!("expected whole seconds between {min} and {MAX}, got {v:?}"),
                )),
            },
        }
    }
}

/// Validated settings. Built only by [`RawConfig::validate`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// `HEADLESS_TOKEN_STRATEGY` (session).
    pub token_strategy: StrategyKind,
    /// `HEADLESS_JWT_ALGORITHM` (RS256).
    pub jwt_algorithm: Algorithm,
    /// `HALLPASS_JWT_REFRESH_ALGORITHM` (none: refresh tokens are signed like access tokens,
    /// as allauth does). An HMAC algorithm here signs refresh tokens with a key derived from
    /// `SECRET_KEY`: they are only ever verified by hallpass, and an RSA signature costs about
    /// 0.9 ms of CPU where HMAC costs 2 µs.
    pub refresh_algorithm: Option<Algorithm>,
    /// `HEADLESS_JWT_PRIVATE_KEY` as written: a PEM, a path to one, or (HMAC algorithms) the
    /// shared secret itself. A path is read when the strategy is built, not here.
    pub jwt_private_key: Option<Secret>,
    /// `HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN` (300 s).
    pub access_ttl_secs: i64,
    /// `HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN` (86,400 s).
    pub refresh_ttl_secs: i64,
    /// `HEADLESS_JWT_AUTHORIZATION_HEADER_SCHEME` (Bearer).
    pub header_scheme: String,
    /// `HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED` (false).
    pub stateful_validation: bool,
    /// `HEADLESS_JWT_ROTATE_REFRESH_TOKEN` (true).
    pub rotate_refresh: bool,
    /// `SESSION_COOKIE_AGE` (1,209,600 s).
    pub session_ttl_secs: i64,
    /// `SECRET_KEY`; `None` until development defaults fill it in (`serve`'s first step).
    pub secret_key: Option<Secret>,
    /// `ACCOUNT_RATE_LIMITS` (true; `false` disables every limit).
    pub rate_limits: bool,
    /// `HALLPASS_REFRESH_REUSE_DETECTION` (true).
    pub reuse_detection: bool,
    /// `HALLPASS_REFRESH_GRACE_SECONDS` (10).
    pub refresh_grace_secs: i64,
    /// `HALLPASS_DURABILITY` (fsync).
    pub durability: Durability,
    /// `HALLPASS_SIGNUP_OPEN` (true).
    pub signup_open: bool,
    /// `ALLAUTH_TRUSTED_PROXY_COUNT` (0): how many proxies under our control append to
    /// `X-Forwarded-For`; the client is the entry that many from the right. 0 ignores the
    /// header.
    pub trusted_proxy_count: usize,
    /// `ALLAUTH_TRUSTED_CLIENT_IP_HEADER` (none): a header, lower-cased, that a trusted proxy
    /// sets to the client's address (e.g. `x-real-ip`); when set, `X-Forwarded-For` is ignored.
    pub trusted_client_ip_header: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        // why: the empty layer has no values, so every setting takes its (valid) default.
        #[expect(clippy::expect_used, reason = "defaults are valid, see why-comment")]
        RawConfig::new().validate().expect("defaults validate")
    }
}

impl Config {
    /// The engine settings these map to.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            session_ttl_secs: self.session_ttl_secs,
            refresh_grace_ms: self.refresh_grace_secs * 1000,
            reuse_detection: self.reuse_detection,
            ..EngineConfig::default()
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim();
    if v == "1" || v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v == "0" || v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Whether `name` is an HTTP field name (RFC 9110 `token`).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_secret(name: &str) -> bool {
    name == "SECRET_KEY" || name == "HEADLESS_JWT_PRIVATE_KEY"
}

#[cfg(test)]
mod tests;
