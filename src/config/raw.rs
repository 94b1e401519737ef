//! [`RawConfig`]: settings as written, and how layers of them merge.

use std::collections::BTreeMap;
use std::fmt;

use super::settings::{self, Setting};
use super::{Config, ConfigError};

/// Settings as written: strings keyed by setting name, before validation.
///
/// Invariant: every key is a declared setting (one of [`SETTINGS`](super::SETTINGS)).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    values: BTreeMap<String, String>,
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
    /// A [`ConfigError`] if `name` is not one of [`SETTINGS`](super::SETTINGS).
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<(), ConfigError> {
        if Setting::find(name).is_none() {
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
    /// A [`ConfigError`] for a missing `=` (naming `--set`: the text is not echoed, as it may
    /// hold a secret) or an unknown name.
    pub fn set_assignment(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let Some((name, value)) = assignment.split_once('=') else {
            return Err(ConfigError::new("--set", "expected NAME=VALUE"));
        };
        self.set(name.trim(), value)
    }

    /// The known settings among `vars` (environment variables); others are ignored.
    pub fn from_env_vars(vars: impl IntoIterator<Item = (String, String)>) -> RawConfig {
        let mut raw = RawConfig::new();
        for (name, value) in vars {
            if Setting::find(&name).is_some() {
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

    /// Validates every setting, filling in defaults: a setting not set, or set to blank text,
    /// takes its default.
    ///
    /// `HEADLESS_JWT_PRIVATE_KEY` may be a PEM (starts with `-----BEGIN`) or a path to one; with
    /// an HMAC algorithm any other text is the shared secret itself. Nothing is read here: a
    /// path is read when the strategy is built.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`], naming its setting.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        settings::build(&self.values)
    }

    /// The settings part of `hallpass serve --help`: every setting's name, default and doc,
    /// as plain text.
    pub fn settings_help() -> String {
        settings::help()
    }
}

impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.values {
            if Setting::is_secret(k) {
                map.entry(k, &"<redacted>");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}
