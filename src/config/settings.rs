//! Every setting, declared once.
//!
//! One entry of the `settings!` table per setting gives its name (allauth's or Django's, or
//! `HALLPASS_*` for ours), the [`Config`] field it fills, its default, the function that parses
//! its text, whether it is secret, and a one-line doc. Everything else is derived from the
//! table: the known names ([`SETTINGS`]), validation ([`build`]), the settings part of
//! `hallpass serve --help` ([`help`]) and the README's settings table (rendered and compared by
//! a test in `config/tests.rs`).
//!
//! A parser takes the setting's text and returns the value or what it expected (`"expected
//! …"`); [`Setting::parse`] adds the setting's name and, unless it is secret, the text that was
//! written. So no parser can echo a secret, and none sees an empty value unless the default is
//! [`Unset`]: a value that is empty or only whitespace counts as not set.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::engine::EngineConfig;
use crate::store::Durability;
use crate::token::{Algorithm, StrategyKind};

use super::secret::Secret;
use super::{
    Config, ConfigError, EmailBackend, EmailVerification, PreventEnumeration,
    ReauthenticationMethods,
};

use DefaultValue::{FromEngine, Text, Unset};

/// Declares the settings: one block per setting, `///` with its doc (one line of Markdown once
/// its comment lines are joined; shown in the README and, without backticks, in `--help`), then
/// its name and `{ field, default, parse[, secret] }`. Generates a `const` [`Setting`] per name,
/// [`DECLARED`], [`SETTINGS`] and [`build`].
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident {
            field: $field:ident,
            default: $default:expr,
            parse: $parse:expr,
            $(secret: $secret:literal,)?
        }
    )*) => {
        $(
            const $name: Setting = Setting {
                name: stringify!($name),
                default: $default,
                secret: false $(|| $secret)?,
                doc: concat!($($doc),+),
            };
        )*

        /// Every setting, in the order the docs list them.
        pub(crate) const DECLARED: &[Setting] = &[$($name),*];

        /// Every setting hallpass reads, by its allauth/Django name.
        pub const SETTINGS: &[&str] = &[$(stringify!($name)),*];

        /// Validates `values` (setting name to text as written) into a [`Config`]: each setting
        /// not in `values`, or blank there, takes its default.
        ///
        /// # Errors
        ///
        /// The first [`ConfigError`], naming its setting.
        pub(super) fn build(values: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
            Ok(Config {
                $($field: $name.parse(values, $parse)?,)*
            })
        }
    };
}

settings! {
    /// `session` or `jwt` (allauth's class paths accepted)
    HEADLESS_TOKEN_STRATEGY {
        field: token_strategy,
        default: Text("session"),
        parse: strategy,
    }
    /// HS256/384/512, RS256/384/512, ES256, EdDSA
    HEADLESS_JWT_ALGORITHM {
        field: jwt_algorithm,
        default: Text("RS256"),
        parse: algorithm,
    }
    /// PEM text or a path to it; for HS*, the shared secret itself (empty: `SECRET_KEY`)
    HEADLESS_JWT_PRIVATE_KEY {
        field: jwt_private_key,
        default: Unset("generated for dev"),
        parse: secret,
        secret: true,
    }
    /// access-token lifetime, seconds
    HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN {
        field: access_ttl_secs,
        default: Text("300"),
        parse: |v| seconds(v, 1),
    }
    /// refresh-token lifetime, seconds
    HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN {
        field: refresh_ttl_secs,
        default: Text("86400"),
        parse: |v| seconds(v, 1),
    }
    /// `Authorization` scheme, compared case-insensitively
    HEADLESS_JWT_AUTHORIZATION_HEADER_SCHEME {
        field: header_scheme,
        default: Text("Bearer"),
        parse: header_scheme,
    }
    /// access tokens also need a live session (logout kills them at once)
    HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED {
        field: stateful_validation,
        default: Text("false"),
        parse: boolean,
    }
    /// each refresh returns a new refresh token and spends the old one
    HEADLESS_JWT_ROTATE_REFRESH_TOKEN {
        field: rotate_refresh,
        default: Text("true"),
        parse: boolean,
    }
    /// empty: refresh tokens are signed like access tokens (allauth). `HS256`/`HS384`/`HS512`:
    /// refresh tokens are signed with an HMAC key derived from `SECRET_KEY` (only hallpass verifies
    /// them; a refresh with RSA access tokens then costs one RSA signature instead of two). Refresh
    /// tokens signed before the switch keep working
    HALLPASS_JWT_REFRESH_ALGORITHM {
        field: refresh_algorithm,
        default: Unset("none"),
        parse: refresh_algorithm,
    }
    /// session lifetime, seconds (two weeks)
    SESSION_COOKIE_AGE {
        field: session_ttl_secs,
        default: FromEngine(|e| e.session_ttl_secs.to_string()),
        parse: |v| seconds(v, 1),
    }
    /// at most this many live sessions per user; a new one beyond it ends the user's oldest (`0`:
    /// no cap)
    HALLPASS_MAX_SESSIONS_PER_USER {
        field: max_sessions_per_user,
        default: FromEngine(|e| e.max_sessions_per_user.to_string()),
        parse: |v| count(v, MAX_SESSIONS_PER_USER),
    }
    /// keys the `sid` claim's encryption, and HS signing when no private key
    SECRET_KEY {
        field: secret_key,
        default: Unset("generated for dev"),
        parse: secret,
        secret: true,
    }
    /// `false` turns every rate limit off
    ACCOUNT_RATE_LIMITS {
        field: rate_limits,
        default: Text("true"),
        parse: boolean,
    }
    /// a rotated-out refresh token presented after the grace window revokes the session
    HALLPASS_REFRESH_REUSE_DETECTION {
        field: reuse_detection,
        default: FromEngine(|e| e.reuse_detection.to_string()),
        parse: boolean,
    }
    /// retries of a just-rotated token get the same successor (concurrent app requests)
    HALLPASS_REFRESH_GRACE_SECONDS {
        field: refresh_grace_secs,
        default: FromEngine(|e| (e.refresh_grace_ms / 1000).to_string()),
        parse: |v| seconds(v, 0),
    }
    /// how many times a rotated-out refresh token may be presented again within
    /// `HALLPASS_REFRESH_GRACE_SECONDS` and get the same successor (`0`: none); one more counts as
    /// reuse
    HALLPASS_REFRESH_GRACE_REPLAYS {
        field: refresh_grace_replays,
        default: FromEngine(|e| e.refresh_grace_replays.to_string()),
        parse: |v| count(v, MAX_GRACE_REPLAYS),
    }
    /// stop the engine after this many failed writes in a row; the server then exits non-zero
    /// for its supervisor to restart it (`0`: never)
    HALLPASS_MAX_CONSECUTIVE_STORE_FAILURES {
        field: max_consecutive_store_failures,
        default: FromEngine(|e| e.max_consecutive_store_failures.to_string()),
        parse: |v| count(v, MAX_STORE_FAILURES),
    }
    /// IPv6 clients are rate-limited per network of this prefix length, as allauth (`128`: per
    /// address)
    ALLAUTH_RATE_LIMIT_IPV6_PREFIX {
        field: rate_limit_ipv6_prefix,
        default: Text("64"),
        parse: |v| count(v, 128u8),
    }
    /// at most this many password hashes or checks (argon2, 19 MiB each) run at once; others
    /// wait (default: the number of cores)
    HALLPASS_PASSWORD_HASH_CONCURRENCY {
        field: password_hash_concurrency,
        default: Unset("the number of cores"),
        parse: |v| optional_count(v, 1, MAX_PASSWORD_HASH_CONCURRENCY),
    }
    /// how long a login or sign-up waits for a free password slot before it is answered 503
    /// with `Retry-After` (`0`: not at all)
    HALLPASS_PASSWORD_HASH_WAIT_SECONDS {
        field: password_hash_wait_secs,
        default: Text("5"),
        parse: |v| seconds(v, 0),
    }
    /// how long a client has to send a request's head (line and headers), seconds
    HALLPASS_HTTP_HEADER_TIMEOUT_SECONDS {
        field: http_header_timeout_secs,
        default: Text("10"),
        parse: |v| seconds(v, 1),
    }
    /// how long a client has to send a request's body, seconds; past it, a 408
    HALLPASS_HTTP_BODY_TIMEOUT_SECONDS {
        field: http_body_timeout_secs,
        default: Text("30"),
        parse: |v| seconds(v, 1),
    }
    /// how long a kept-alive connection may sit idle, seconds (above the 60 s of common proxies)
    HALLPASS_HTTP_IDLE_TIMEOUT_SECONDS {
        field: http_idle_timeout_secs,
        default: Text("75"),
        parse: |v| seconds(v, 1),
    }
    /// connections held at once; at the cap a new one closes the longest idle (default: the
    /// open-file limit less 128, from 32 to 8192)
    HALLPASS_HTTP_MAX_CONNECTIONS {
        field: http_max_connections,
        default: Unset("from the open-file limit"),
        parse: |v| optional_count(v, 1, MAX_HTTP_CONNECTIONS),
    }
    /// `HOST:PORT` to serve `GET /metrics` on instead of the API's bind (which then answers it
    /// 404)
    HALLPASS_METRICS_BIND {
        field: metrics_bind,
        default: Unset("the API's bind"),
        parse: socket_addr,
    }
    /// `none`, `optional` or `mandatory`: whether an address must be verified before login
    ACCOUNT_EMAIL_VERIFICATION {
        field: email_verification,
        default: Text("optional"),
        parse: email_verification,
    }
    /// verification by a code typed into the app instead of a link
    ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED {
        field: email_verification_by_code,
        default: Text("false"),
        parse: boolean,
    }
    /// wrong verification codes before the flow ends
    ACCOUNT_EMAIL_VERIFICATION_BY_CODE_MAX_ATTEMPTS {
        field: email_verification_code_max_attempts,
        default: Text("3"),
        parse: attempts,
    }
    /// how long a verification code works, seconds
    ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT {
        field: email_verification_code_timeout_secs,
        default: Text("900"),
        parse: |v| seconds(v, 1),
    }
    /// `true` (2), `false` (0) or how many times a verification code may be sent again
    ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND {
        field: email_verification_max_resends,
        default: Text("false"),
        parse: quota,
    }
    /// `true` (2), `false` (0) or how many times the address may be changed while verifying it
    ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_CHANGE {
        field: email_verification_max_changes,
        default: Text("false"),
        parse: quota,
    }
    /// how long a verification link works, days
    ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS {
        field: email_confirmation_expire_days,
        default: Text("3"),
        parse: |v| count(v, 3650i64),
    }
    /// verifying an address by link, in the session that signed up, logs the user in
    ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION {
        field: login_on_email_confirmation,
        default: Text("false"),
        parse: boolean,
    }
    /// at most this many addresses per user (empty: no limit)
    ACCOUNT_MAX_EMAIL_ADDRESSES {
        field: max_email_addresses,
        default: Unset("no limit"),
        parse: |v| optional_count(v, 1, 1000),
    }
    /// a user holds one address, and adding one replaces it once verified
    ACCOUNT_CHANGE_EMAIL {
        field: change_email,
        default: Text("false"),
        parse: boolean,
    }
    /// addresses are unique across users; hallpass supports only `true`
    ACCOUNT_UNIQUE_EMAIL {
        field: unique_email,
        default: Text("true"),
        parse: unique_email,
    }
    /// `true`, `false` or `strict`: whether answers hide which addresses have accounts
    ACCOUNT_PREVENT_ENUMERATION {
        field: prevent_enumeration,
        default: Text("true"),
        parse: prevent_enumeration,
    }
    /// a password change also ends the session that made it
    ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE {
        field: logout_on_password_change,
        default: Text("false"),
        parse: boolean,
    }
    /// a password reset logs the user in
    ACCOUNT_LOGIN_ON_PASSWORD_RESET {
        field: login_on_password_reset,
        default: Text("false"),
        parse: boolean,
    }
    /// how long a password reset link works, seconds (Django's `PASSWORD_RESET_TIMEOUT`)
    PASSWORD_RESET_TIMEOUT {
        field: password_reset_timeout_secs,
        default: Text("259200"),
        parse: |v| seconds(v, 1),
    }
    /// password reset by a code typed into the app instead of a link
    ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED {
        field: password_reset_by_code,
        default: Text("false"),
        parse: boolean,
    }
    /// wrong reset codes before the flow ends
    ACCOUNT_PASSWORD_RESET_BY_CODE_MAX_ATTEMPTS {
        field: password_reset_code_max_attempts,
        default: Text("3"),
        parse: attempts,
    }
    /// how long a reset code works, seconds
    ACCOUNT_PASSWORD_RESET_BY_CODE_TIMEOUT {
        field: password_reset_code_timeout_secs,
        default: Text("180"),
        parse: |v| seconds(v, 1),
    }
    /// how long after authenticating sensitive operations need no reauthentication, seconds
    ACCOUNT_REAUTHENTICATION_TIMEOUT {
        field: reauthentication_timeout_secs,
        default: Text("300"),
        parse: |v| seconds(v, 0),
    }
    /// login by a code sent by e-mail
    ACCOUNT_LOGIN_BY_CODE_ENABLED {
        field: login_by_code,
        default: Text("false"),
        parse: boolean,
    }
    /// wrong login codes before the flow ends
    ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS {
        field: login_code_max_attempts,
        default: Text("3"),
        parse: attempts,
    }
    /// how long a login code works, seconds
    ACCOUNT_LOGIN_BY_CODE_TIMEOUT {
        field: login_code_timeout_secs,
        default: Text("180"),
        parse: |v| seconds(v, 1),
    }
    /// `true` (2), `false` (0) or how many times a login code may be sent again
    ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND {
        field: login_code_max_resends,
        default: Text("false"),
        parse: quota,
    }
    /// how long a login may wait in a pending stage (verifying the address), seconds
    ACCOUNT_LOGIN_TIMEOUT {
        field: login_timeout_secs,
        default: Text("900"),
        parse: |v| seconds(v, 1),
    }
    /// allauth's name for `HALLPASS_SIGNUP_OPEN`: `false` closes signup (either one closes it)
    ACCOUNT_SIGNUP_ENABLED {
        field: signup_enabled,
        default: Text("true"),
        parse: boolean,
    }
    /// the site's name in messages (Django's `Site.name` and `Site.domain`)
    HALLPASS_SITE_NAME {
        field: site_name,
        default: Text("hallpass"),
        parse: |v| Ok(v.trim().to_owned()),
    }
    /// prefix of every subject (empty: the site's name in brackets, as allauth)
    ACCOUNT_EMAIL_SUBJECT_PREFIX {
        field: email_subject_prefix,
        default: Unset("[HALLPASS_SITE_NAME] "),
        parse: |v| Ok(v.to_owned()),
    }
    /// JSON object of allauth's frontend URLs (`account_confirm_email`,
    /// `account_reset_password_from_key`, ...) with `{key}`; links in messages use them
    HEADLESS_FRONTEND_URLS {
        field: frontend_urls,
        default: Unset("none"),
        parse: frontend_urls,
    }
    /// `file`, `smtp` or `console` (Django's class paths accepted); `file` writes each message
    /// under `EMAIL_FILE_PATH`
    EMAIL_BACKEND {
        field: email_backend,
        default: Text("file"),
        parse: email_backend,
    }
    /// where the file backend writes messages (empty: `mail` in the data directory)
    EMAIL_FILE_PATH {
        field: email_file_path,
        default: Unset("DATA_DIR/mail"),
        parse: |v| Ok((!v.trim().is_empty()).then(|| std::path::PathBuf::from(v.trim()))),
    }
    /// SMTP server
    EMAIL_HOST {
        field: email_host,
        default: Text("localhost"),
        parse: |v| Ok(v.trim().to_owned()),
    }
    /// SMTP port
    EMAIL_PORT {
        field: email_port,
        default: Text("25"),
        parse: |v| count(v, u16::MAX),
    }
    /// SMTP user name (empty: no authentication)
    EMAIL_HOST_USER {
        field: email_host_user,
        default: Unset("none"),
        parse: |v| Ok((!v.trim().is_empty()).then(|| v.trim().to_owned())),
    }
    /// SMTP password
    EMAIL_HOST_PASSWORD {
        field: email_host_password,
        default: Unset("none"),
        parse: secret,
        secret: true,
    }
    /// STARTTLS on the SMTP connection
    EMAIL_USE_TLS {
        field: email_use_tls,
        default: Text("false"),
        parse: boolean,
    }
    /// implicit TLS on the SMTP connection (port 465)
    EMAIL_USE_SSL {
        field: email_use_ssl,
        default: Text("false"),
        parse: boolean,
    }
    /// SMTP timeout, seconds
    EMAIL_TIMEOUT {
        field: email_timeout_secs,
        default: Text("30"),
        parse: |v| seconds(v, 1),
    }
    /// the `From` of every message
    DEFAULT_FROM_EMAIL {
        field: default_from_email,
        default: Text("webmaster@localhost"),
        parse: |v| Ok(v.trim().to_owned()),
    }
    /// a directory of `<kind>_subject.txt` and `<kind>_message.txt` overriding the built-in
    /// message templates
    HALLPASS_EMAIL_TEMPLATES_DIR {
        field: email_templates_dir,
        default: Unset("built-in"),
        parse: |v| Ok((!v.trim().is_empty()).then(|| std::path::PathBuf::from(v.trim()))),
    }
    /// delivery attempts of one message before it is given up (retried with backoff)
    HALLPASS_EMAIL_MAX_ATTEMPTS {
        field: email_max_attempts,
        default: Text("8"),
        parse: attempts,
    }
    /// `fsync`, `flush` or `none` (tests only)
    HALLPASS_DURABILITY {
        field: durability,
        default: Text("fsync"),
        parse: durability,
    }
    /// `false`: signup answers 403 and is not offered in `flows`
    HALLPASS_SIGNUP_OPEN {
        field: signup_open,
        default: Text("true"),
        parse: boolean,
    }
    /// proxies of yours that append to `X-Forwarded-For`; the client is the entry that many from
    /// the right (`0`: the header is ignored)
    ALLAUTH_TRUSTED_PROXY_COUNT {
        field: trusted_proxy_count,
        default: Text("0"),
        parse: |v| count(v, MAX_TRUSTED_PROXY_COUNT),
    }
    /// a header your proxy sets to the client's address (`X-Real-IP`, `CF-Connecting-IP`); wins
    /// over `X-Forwarded-For`
    ALLAUTH_TRUSTED_CLIENT_IP_HEADER {
        field: trusted_client_ip_header,
        default: Unset("none"),
        parse: client_ip_header,
    }
    /// how a session may reauthenticate: `password`, `code` (JSON list or comma-separated;
    /// allauth's `mfa` is accepted and ignored)
    ACCOUNT_REAUTHENTICATION_METHODS {
        field: reauthentication_methods,
        default: Text("password,code"),
        parse: reauthentication_methods,
    }
    /// sensitive operations (adding, removing, making primary an e-mail address) first ask the user
    /// to reauthenticate when they last did longer than `ACCOUNT_REAUTHENTICATION_TIMEOUT` ago
    ACCOUNT_REAUTHENTICATION_REQUIRED {
        field: reauthentication_required,
        default: Text("false"),
        parse: boolean,
    }
}

/// The largest `ALLAUTH_TRUSTED_PROXY_COUNT` accepted; more is surely a typo.
pub(crate) const MAX_TRUSTED_PROXY_COUNT: usize = 100;

/// The largest `HALLPASS_MAX_SESSIONS_PER_USER` accepted; more is surely a typo (use `0` for
/// no cap).
const MAX_SESSIONS_PER_USER: usize = 1_000_000;

/// The largest `HALLPASS_REFRESH_GRACE_REPLAYS` accepted: a client retrying more often than
/// this within seconds is not a client.
const MAX_GRACE_REPLAYS: u32 = 10_000;

/// The largest `HALLPASS_MAX_CONSECUTIVE_STORE_FAILURES` accepted (use `0` for never).
const MAX_STORE_FAILURES: u32 = 1_000_000;

/// The largest `HALLPASS_PASSWORD_HASH_CONCURRENCY` accepted: each check holds 19 MiB.
const MAX_PASSWORD_HASH_CONCURRENCY: usize = 1024;

/// The largest `HALLPASS_HTTP_MAX_CONNECTIONS` accepted (what `ServerLimits` takes).
const MAX_HTTP_CONNECTIONS: usize = 1 << 20;

/// The longest duration a `*_SECONDS`/`*_EXPIRES_IN`/`*_AGE` setting accepts: ten years.
const MAX_SECONDS: i64 = 10 * 365 * 86_400;

/// One setting's declaration, as validation and the docs see it.
///
/// Invariant: `name` is unique among [`DECLARED`]; `doc` is one line of Markdown without `|`
/// (it is a README table cell); `default` parses (the tests check all three).
#[derive(Clone, Copy)]
pub(crate) struct Setting {
    /// Its name, e.g. `HEADLESS_JWT_ALGORITHM`.
    pub(crate) name: &'static str,
    /// What it is when not set.
    pub(crate) default: DefaultValue,
    /// Whether its value must never be shown (errors, `Debug`, warnings).
    pub(crate) secret: bool,
    /// What it does, one line (as written after `///`: trim it).
    pub(crate) doc: &'static str,
}

/// What a setting is when it is not set, or set to blank text.
#[derive(Clone, Copy)]
pub(crate) enum DefaultValue {
    /// This text, parsed as if it had been written.
    Text(&'static str),
    /// The text of a value of [`EngineConfig::default`], so that the engine's default and the
    /// setting's are one.
    FromEngine(fn(&EngineConfig) -> String),
    /// No value (the parser sees empty text); the note says what that means, for the docs
    /// (e.g. `none`).
    Unset(&'static str),
}

impl Setting {
    /// The setting's declaration, if `name` is one.
    pub(crate) fn find(name: &str) -> Option<&'static Setting> {
        DECLARED.iter().find(|s| s.name == name)
    }

    /// Whether `name` is a secret setting, whose value is never shown.
    pub(crate) fn is_secret(name: &str) -> bool {
        Setting::find(name).is_some_and(|s| s.secret)
    }

    /// The one-line doc.
    pub(crate) fn doc(&self) -> &'static str {
        self.doc.trim()
    }

    /// The text validation parses when the setting is not set.
    pub(crate) fn default_text(&self) -> Cow<'static, str> {
        match self.default {
            Text(text) => Cow::Borrowed(text),
            FromEngine(of) => Cow::Owned(of(&EngineConfig::default())),
            Unset(_) => Cow::Borrowed(""),
        }
    }

    /// This setting's value in `values`, or its default, parsed by `parse`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the setting, with what `parse` expected and, unless the
    /// setting is secret, the text written.
    pub(crate) fn parse<T>(
        &self,
        values: &BTreeMap<String, String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let text = match values.get(self.name) {
            Some(text) if !text.trim().is_empty() => Cow::Borrowed(text.as_str()),
            _ => self.default_text(),
        };
        parse(&text).map_err(|expected| {
            let reason = if self.secret {
                format!("{expected} (the value is secret and not shown)")
            } else {
                format!("{expected}, got {text:?}")
            };
            ConfigError::new(self.name, reason)
        })
    }
}

/// The settings part of `hallpass serve --help`: each setting's name, default and doc, as
/// plain text wrapped at 80 columns.
pub(crate) fn help() -> String {
    let mut out = String::new();
    wrap(
        "Settings (allauth's and Django's names): a --set NAME=VALUE flag beats the \
         environment, which beats the --config file, which beats the default. An empty value \
         means the default.",
        "",
        80,
        &mut out,
    );
    for s in DECLARED {
        let default = match s.default {
            Unset(note) => Cow::Borrowed(note),
            Text(_) | FromEngine(_) => s.default_text(),
        };
        let secret = if s.secret { "secret; " } else { "" };
        out.push_str(&format!("\n  {} ({secret}default: {default})\n", s.name));
        wrap(&s.doc().replace('`', ""), "      ", 80, &mut out);
    }
    out
}

/// Appends `text` to `out` in lines of at most `width` columns (a longer word gets a line of
/// its own), each starting with `indent`.
fn wrap(text: &str, indent: &str, width: usize, out: &mut String) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            out.push_str(&format!("{indent}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{indent}{line}\n"));
    }
}

fn strategy(v: &str) -> Result<StrategyKind, String> {
    v.parse()
        .map_err(|_| "expected session, jwt, or one of allauth's class paths".to_owned())
}

fn algorithm(v: &str) -> Result<Algorithm, String> {
    v.trim().parse().map_err(|_| {
        "expected HS256/384/512, RS256/384/512, ES256 or EdDSA (case-sensitive)".to_owned()
    })
}

/// An HMAC algorithm, or none (empty).
fn refresh_algorithm(v: &str) -> Result<Option<Algorithm>, String> {
    match v.trim() {
        "" => Ok(None),
        name => match name.parse::<Algorithm>() {
            Ok(algorithm) if algorithm.is_symmetric() => Ok(Some(algorithm)),
            _ => Err(
                "expected HS256, HS384 or HS512 (or empty: sign refresh tokens like \
                      access tokens)"
                    .to_owned(),
            ),
        },
    }
}

/// The text as written (not trimmed: it is a key), or none (empty).
fn secret(v: &str) -> Result<Option<Secret>, String> {
    Ok((!v.trim().is_empty()).then(|| Secret::new(v.to_owned())))
}

fn header_scheme(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() || v.contains(char::is_whitespace) {
        return Err("expected one word, e.g. Bearer".to_owned());
    }
    Ok(v.to_owned())
}

fn boolean(v: &str) -> Result<bool, String> {
    let v = v.trim();
    if v == "1" || v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v == "0" || v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected true/false/1/0".to_owned())
    }
}

/// Whole seconds from `min` to [`MAX_SECONDS`].
fn seconds(v: &str, min: i64) -> Result<i64, String> {
    v.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (min..=MAX_SECONDS).contains(n))
        .ok_or_else(|| format!("expected whole seconds between {min} and {MAX_SECONDS}"))
}

/// A whole number from 0 to `max`.
fn count<T>(v: &str, max: T) -> Result<T, String>
where
    T: FromStr + PartialOrd + fmt::Display,
{
    v.trim()
        .parse::<T>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("expected a whole number from 0 to {max}"))
}

/// A whole number from `min` to `max`, or none (empty).
fn optional_count(v: &str, min: usize, max: usize) -> Result<Option<usize>, String> {
    match v.trim() {
        "" => Ok(None),
        v => v
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| format!("expected a whole number from {min} to {max}")),
    }
}

/// A socket address (`127.0.0.1:9100`, `[::1]:9100`), or none (empty).
fn socket_addr(v: &str) -> Result<Option<std::net::SocketAddr>, String> {
    match v.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| "expected HOST:PORT with an IP address, e.g. 127.0.0.1:9100".to_owned()),
    }
}

/// An attempt count from 1 to 1,000.
fn attempts(v: &str) -> Result<u32, String> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| "expected a whole number from 1 to 1000".to_owned())
}

/// allauth's `bool | int` quotas: `true` is 2, `false` 0, else the number.
fn quota(v: &str) -> Result<u32, String> {
    match boolean(v) {
        Ok(true) => Ok(2),
        Ok(false) => Ok(0),
        Err(_) => count(v, 1000u32)
            .map_err(|_| "expected true, false or a whole number from 0 to 1000".to_owned()),
    }
}

fn email_verification(v: &str) -> Result<EmailVerification, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(EmailVerification::None),
        "optional" => Ok(EmailVerification::Optional),
        "mandatory" => Ok(EmailVerification::Mandatory),
        _ => Err("expected none, optional or mandatory".to_owned()),
    }
}

fn unique_email(v: &str) -> Result<bool, String> {
    match boolean(v) {
        Ok(true) => Ok(true),
        Ok(false) => Err(
            "hallpass keeps addresses unique across users (login is by address); only true \
             is supported"
                .to_owned(),
        ),
        Err(e) => Err(e),
    }
}

fn prevent_enumeration(v: &str) -> Result<PreventEnumeration, String> {
    if v.trim().eq_ignore_ascii_case("strict") {
        return Ok(PreventEnumeration::Strict);
    }
    match boolean(v) {
        Ok(true) => Ok(PreventEnumeration::On),
        Ok(false) => Ok(PreventEnumeration::Off),
        Err(_) => Err("expected true, false or strict".to_owned()),
    }
}

fn email_backend(v: &str) -> Result<EmailBackend, String> {
    let v = v.trim();
    let name = v
        .strip_prefix("django.core.mail.backends.")
        .and_then(|rest| rest.strip_suffix(".EmailBackend"))
        .unwrap_or(v);
    match name.to_ascii_lowercase().as_str() {
        "file" | "filebased" => Ok(EmailBackend::File),
        "smtp" => Ok(EmailBackend::Smtp),
        "console" => Ok(EmailBackend::Console),
        _ => Err(
            "expected file, smtp or console (or django.core.mail.backends.<name>.EmailBackend)"
                .to_owned(),
        ),
    }
}

/// The frontend URL names allauth knows (`HEADLESS_FRONTEND_URLS`).
const FRONTEND_URL_NAMES: &[&str] = &[
    "account_confirm_email",
    "account_reset_password",
    "account_reset_password_from_key",
    "account_signup",
    "socialaccount_login_error",
];

/// A JSON object of frontend URL names to URLs, or none (empty).
fn frontend_urls(v: &str) -> Result<BTreeMap<String, String>, String> {
    if v.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let expected = || {
        format!(
            "expected a JSON object of URLs by name ({})",
            FRONTEND_URL_NAMES.join(", ")
        )
    };
    let map: BTreeMap<String, String> = serde_json::from_str(v).map_err(|_| expected())?;
    if map
        .keys()
        .any(|k| !FRONTEND_URL_NAMES.contains(&k.as_str()))
    {
        return Err(expected());
    }
    Ok(map)
}

fn durability(v: &str) -> Result<Durability, String> {
    v.parse()
        .map_err(|_| "expected fsync, flush or none".to_owned())
}

/// An HTTP header name, lower-cased, or none (empty).
fn client_ip_header(v: &str) -> Result<Option<String>, String> {
    match v.trim() {
        "" => Ok(None),
        name if is_header_name(name) => Ok(Some(name.to_ascii_lowercase())),
        _ => Err("expected an HTTP header name such as X-Real-IP".to_owned()),
    }
}

/// Whether `name` is an HTTP field name (RFC 9110 `token`).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// allauth's `ACCOUNT_REAUTHENTICATION_METHODS`: a JSON list (`["password"]`) or the names
/// separated by commas; `mfa` is one of allauth's and means nothing here (no MFA).
fn reauthentication_methods(v: &str) -> Result<ReauthenticationMethods, String> {
    let expected = || "expected a list of password, code (and mfa, ignored)".to_owned();
    let names: Vec<String> = match v.trim() {
        list if list.starts_with('[') => serde_json::from_str(list).map_err(|_| expected())?,
        list => list
            .split(',')
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect(),
    };
    let mut methods = ReauthenticationMethods {
        password: false,
        code: false,
    };
    for name in &names {
        match name.trim() {
            "password" => methods.password = true,
            "code" => methods.code = true,
            "mfa" => {}
            _ => return Err(expected()),
        }
    }
    Ok(methods)
}

impl Default for Config {
    fn default() -> Self {
        // why: with no values every setting takes its default, and every default parses (the
        // `every_default_validates` test).
        #[expect(clippy::expect_used, reason = "defaults are valid, see why-comment")]
        build(&BTreeMap::new()).expect("defaults validate")
    }
}
