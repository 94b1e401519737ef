//! `--config FILE`: a TOML settings file whose keys are the setting names.

use std::path::Path;

use hallpass::{ConfigError, RawConfig};

/// Parses a TOML settings file whose keys are the setting names. Strings, integers and booleans
/// are accepted as values.
///
/// # Errors
///
/// A [`ConfigError`] for a syntax error (setting `--config`), an unknown key or a value of
/// another type.
pub(crate) fn from_toml(text: &str) -> Result<RawConfig, ConfigError> {
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
/// A [`ConfigError`] for `--config` if the file cannot be read, else as [`from_toml`].
pub(crate) fn from_file(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
    })?;
    from_toml(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_integers_and_booleans() {
        let raw =
            from_toml("SESSION_COOKIE_AGE = 5\nACCOUNT_RATE_LIMITS = false\nSECRET_KEY = \"s\"\n")
                .unwrap();
        assert_eq!(raw.value("SESSION_COOKIE_AGE"), Some("5"));
        assert_eq!(raw.value("ACCOUNT_RATE_LIMITS"), Some("false"));
        assert_eq!(raw.value("SECRET_KEY"), Some("s"));
    }

    #[test]
    fn errors_name_the_key_or_the_flag() {
        assert_eq!(from_toml("NOPE = 1").unwrap_err().setting, "NOPE");
        assert_eq!(
            from_toml("SESSION_COOKIE_AGE = [1]").unwrap_err().setting,
            "SESSION_COOKIE_AGE"
        );
        assert_eq!(from_toml("= =").unwrap_err().setting, "--config");
        assert_eq!(
            from_file(Path::new("/nonexistent/hallpass.toml"))
                .unwrap_err()
                .setting,
            "--config"
        );
    }
}
