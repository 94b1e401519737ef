//! Settings, named as allauth's and Django's, from flags, the environment and a TOML file.
//!
//! [`RawConfig`] holds settings as written (strings keyed by their Django name); layers merge
//! with precedence flag > environment > file > default. [`RawConfig::validate`] turns it into a
//! [`Config`], or a [`ConfigError`] naming the offending setting. Secrets are never echoed in
//! errors or `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::engine::EngineConfig;
use crate::store::Durability;
use crate::token::keys::Algorithm;

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
pub const MAX_TRUSTED_PROXY_COUNT: usize = 100;

/// File name of the generated development `SECRET_KEY` in the data directory.
pub const SECRET_KEY_FILE: &str = "secret_key";
/// File name of the generated development JWT private key in the data directory.
pub const PRIVATE_KEY_FILE: &str = "jwt_private_key.pem";

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
    fn new(setting: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            setting: setting.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A secret string (signing key, `SECRET_KEY`): redacted `Debug`, wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Which built-in token strategy `HEADLESS_TOKEN_STRATEGY` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStrategyName {
    /// Session tokens only (allauth's default).
    Session,
    /// JWT access and refresh tokens.
    Jwt,
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

    /// Parses a TOML settings file whose keys are the setting names. Strings, integers and
    /// booleans are accepted as values.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a syntax error (setting `--config`), an unknown key or a value of
    /// another type.
    pub fn from_toml(text: &str) -> Result<RawConfig, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("--config", e.message().to_owned()))?;
        let mut raw = RawConfig::new();
        for (name, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(ConfigError::new(
                        &name,
                        "expected a string, an integer or a boolean",
                    ));
                }
            };
            raw.set(&name, text)?;
        }
        Ok(raw)
    }

    /// Reads and parses a TOML settings file.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `--config` if the file cannot be read, else as [`Self::from_toml`].
    pub fn from_file(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
        })?;
        RawConfig::from_toml(&text)
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
            None | Some("") => TokenStrategyName::Session,
            Some(
                "session"
                | "allauth.headless.tokens.strategies.sessions.SessionTokenStrategy"
                | "allauth.headless.tokens.sessions.SessionTokenStrategy",
            ) => TokenStrategyName::Session,
            Some(
                "jwt"
                | "allauth.headless.tokens.strategies.jwt.strategy.JWTTokenStrategy"
                | "allauth.headless.tokens.strategies.jwt.JWTTokenStrategy",
            ) => TokenStrategyName::Jwt,
            Some(other) => {
                return Err(ConfigError::new(
                    "HEADLESS_TOKEN_STRATEGY",
                    format!(
                        "unknown token strategy {other:?}: expected session, jwt, or allauth's class path"
                    ),
                ));
            }
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
            Some(v) if v.trim_start().starts_with("-----BEGIN") => Some(Secret::new(v.to_owned())),
            // allauth signs HMAC tokens with the setting's text itself, not a file's.
            Some(v) if jwt_algorithm.is_symmetric() => Some(Secret::new(v.to_owned())),
            Some(path) => {
                let pem = std::fs::read_to_string(path.trim()).map_err(|e| {
                    ConfigError::new(
                        "HEADLESS_JWT_PRIVATE_KEY",
                        format!("neither a PEM nor a readable file ({path}): {e}"),
                    )
                })?;
                Some(Secret::new(pem))
            }
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
            Some(v) if v.eq_ignore_ascii_case("fsync") => Durability::Fsync,
            Some(v) if v.eq_ignore_ascii_case("flush") => Durability::Flush,
            Some(v) if v.eq_ignore_ascii_case("none") => Durability::None,
            Some(other) => {
                return Err(ConfigError::new(
                    "HALLPASS_DURABILITY",
                    format!("expected fsync, flush or none, got {other:?}"),
                ));
            }
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
    pub token_strategy: TokenStrategyName,
    /// `HEADLESS_JWT_ALGORITHM` (RS256).
    pub jwt_algorithm: Algorithm,
    /// `HALLPASS_JWT_REFRESH_ALGORITHM` (none: refresh tokens are signed like access tokens,
    /// as allauth does). An HMAC algorithm here signs refresh tokens with a key derived from
    /// `SECRET_KEY`: they are only ever verified by hallpass, and an RSA signature costs about
    /// 0.9 ms of CPU where HMAC costs 2 µs.
    pub refresh_algorithm: Option<Algorithm>,
    /// `HEADLESS_JWT_PRIVATE_KEY`, as PEM text (read from the file if a path was given).
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
    /// `SECRET_KEY`; `None` until [`Config::with_dev_defaults`] fills it in.
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

    /// Fills in a missing `SECRET_KEY` from `data_dir/secret_key`, and with the JWT strategy and
    /// an asymmetric algorithm a missing private key from `data_dir/jwt_private_key.pem`,
    /// generating and storing them (mode 0600) on first start, and warns that they are
    /// development defaults. Returns the files that were generated.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `SECRET_KEY` if the file cannot be read or written.
    pub fn with_dev_defaults(
        mut self,
        data_dir: &Path,
    ) -> Result<(Config, Vec<PathBuf>), ConfigError> {
        let mut generated = Vec::new();
        if self.secret_key.is_none() {
            let path = data_dir.join(SECRET_KEY_FILE);
            let (value, fresh) = read_or_create(&path, || Ok(generate_secret_key()))
                .map_err(|e| ConfigError::new("SECRET_KEY", format!("{}: {e}", path.display())))?;
            let value = value.trim().to_owned();
            if value.is_empty() {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    format!("{} is empty", path.display()),
                ));
            }
            tracing::warn!(
                file = %path.display(),
                "SECRET_KEY not set: using a generated development default; set it in production"
            );
            if fresh {
                generated.push(path);
            }
            self.secret_key = Some(Secret::new(value));
        }
        let needs_key_pair = self.token_strategy == TokenStrategyName::Jwt
            && !matches!(
                self.jwt_algorithm,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            );
        if needs_key_pair && self.jwt_private_key.is_none() {
            let path = data_dir.join(PRIVATE_KEY_FILE);
            let algorithm = self.jwt_algorithm;
            let (pem, fresh) = read_or_create(&path, || {
                crate::token::keys::generate_private_pem(algorithm)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })
            .map_err(|e| {
                ConfigError::new(
                    "HEADLESS_JWT_PRIVATE_KEY",
                    format!("{}: {e}", path.display()),
                )
            })?;
            tracing::warn!(
                file = %path.display(),
                "HEADLESS_JWT_PRIVATE_KEY not set: using a generated development key; set it in production"
            );
            if fresh {
                generated.push(path);
            }
            self.jwt_private_key = Some(Secret::new(pem));
        }
        Ok((self, generated))
    }
}

/// Django's `get_random_secret_key`: 50 characters from its alphabet, from the OS CSPRNG.
pub fn generate_secret_key() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)";
    let mut out = String::with_capacity(50);
    while out.len() < 50 {
        for byte in crate::crypto::random_bytes::<64>() {
            // Rejection sampling keeps the distribution uniform: 250 = 5 * 50.
            if byte < 250 && out.len() < 50 {
                out.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
            }
        }
    }
    out
}

/// Reads `path`, or writes `make()` to it with mode 0600 first (the dev `SECRET_KEY` and JWT
/// private key). Returns the contents and
/// whether the file was created now.
///
/// # Errors
///
/// I/O errors.
pub fn read_or_create(
    path: &Path,
    make: impl FnOnce() -> std::io::Result<String>,
) -> std::io::Result<(String, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok((text, false)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let value = make()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    std::io::Write::write_all(&mut file, value.as_bytes())?;
    file.sync_all()?;
    Ok((value, true))
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
