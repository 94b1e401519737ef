//! The token strategy that a validated [`Config`] names, built once at start-up.
//!
//! `HEADLESS_TOKEN_STRATEGY` picks session or JWT; for JWT the key set follows
//! `HEADLESS_JWT_ALGORITHM` (HMAC algorithms sign with `HEADLESS_JWT_PRIVATE_KEY`, or
//! `SECRET_KEY` when that is empty, as allauth does; the others with the PEM private key), the
//! `sid` cipher is keyed by `SECRET_KEY`, and [`JwtSettings`] come from the `HEADLESS_JWT_*`
//! settings. Every failure is a [`ConfigError`] naming the setting to fix.

use std::sync::Arc;

use crate::config::{Config, ConfigError, Secret};
use crate::crypto::{SidCipher, sha256};
use crate::token::{
    JwtCodec, JwtSettings, JwtTokenStrategy, KeySet, SessionTokenStrategy, StrategyKind,
    TokenStrategy,
};

/// The strategy `config` names, plus the JWT strategy itself when it is one (resource APIs
/// validate access tokens with it directly).
#[derive(Clone)]
pub struct ConfiguredStrategy {
    /// The strategy the facade uses for every request.
    pub strategy: Arc<dyn TokenStrategy>,
    /// The same object as `strategy` when `HEADLESS_TOKEN_STRATEGY` is JWT.
    pub jwt: Option<Arc<JwtTokenStrategy>>,
}

impl std::fmt::Debug for ConfiguredStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfiguredStrategy")
            .field("jwt", &self.jwt.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds the strategy `config` names.
///
/// # Errors
///
/// A [`ConfigError`] for `SECRET_KEY` when it is missing (JWT only: it keys `sid`; call
/// [`provision_dev_keys`](super::provision_dev_keys) or set it), or for `HEADLESS_JWT_PRIVATE_KEY` /
/// `HEADLESS_JWT_ALGORITHM` when the key does not fit the algorithm.
pub fn build_strategy(config: &Config) -> Result<ConfiguredStrategy, ConfigError> {
    match config.token_strategy {
        StrategyKind::Session => Ok(ConfiguredStrategy {
            strategy: Arc::new(SessionTokenStrategy),
            jwt: None,
        }),
        StrategyKind::Jwt => {
            let jwt = Arc::new(build_jwt_strategy(config)?);
            Ok(ConfiguredStrategy {
                strategy: Arc::clone(&jwt) as Arc<dyn TokenStrategy>,
                jwt: Some(jwt),
            })
        }
    }
}

/// The JWT strategy with `config`'s keys and settings, whatever `HEADLESS_TOKEN_STRATEGY` says
/// (the CLI's `token verify` uses it).
///
/// # Errors
///
/// As [`build_strategy`].
pub fn build_jwt_strategy(config: &Config) -> Result<JwtTokenStrategy, ConfigError> {
    let secret_key = config
        .secret_key
        .as_ref()
        .filter(|s| !s.expose().is_empty())
        .ok_or_else(|| ConfigError {
            setting: "SECRET_KEY".into(),
            reason: "not set (required to encrypt the sid claim)".into(),
        })?;
    let algorithm = config.jwt_algorithm;
    let keys = if algorithm.is_symmetric() {
        let secret = match &config.jwt_private_key {
            Some(key) if !key.expose().is_empty() => key.expose(),
            _ => secret_key.expose(),
        };
        KeySet::from_secret(algorithm, secret.as_bytes())
    } else {
        let key = config.jwt_private_key.as_ref().ok_or_else(|| ConfigError {
            setting: "HEADLESS_JWT_PRIVATE_KEY".into(),
            reason: format!("{algorithm} needs a PEM private key"),
        })?;
        let pem = private_key_pem(key)?;
        KeySet::from_private_pem(algorithm, pem.expose().as_bytes())
    }
    .map_err(|e| ConfigError {
        setting: "HEADLESS_JWT_PRIVATE_KEY".into(),
        reason: e.to_string(),
    })?;
    let settings = JwtSettings {
        access_ttl_secs: config.access_ttl_secs,
        refresh_ttl_secs: config.refresh_ttl_secs,
        header_scheme: config.header_scheme.clone(),
        stateful: config.stateful_validation,
        rotate_refresh: config.rotate_refresh,
    };
    let strategy = JwtTokenStrategy::new(
        JwtCodec::new(keys),
        SidCipher::from_secret_key(secret_key.expose().as_bytes()),
        settings,
    );
    Ok(match config.refresh_algorithm {
        None => strategy,
        Some(algorithm) => {
            let key = refresh_key(secret_key.expose().as_bytes());
            let keys = KeySet::from_secret(algorithm, &key[..]).map_err(|e| ConfigError {
                setting: "HALLPASS_JWT_REFRESH_ALGORITHM".into(),
                reason: e.to_string(),
            })?;
            strategy.with_refresh_codec(JwtCodec::new(keys))
        }
    })
}

/// `HEADLESS_JWT_PRIVATE_KEY` as PEM text: the setting itself when it is one, else the file it
/// names (read here, when the strategy is built, not when the settings are validated).
fn private_key_pem(setting: &Secret) -> Result<Secret, ConfigError> {
    let text = setting.expose();
    if text.trim_start().starts_with("-----BEGIN") {
        return Ok(setting.clone());
    }
    // The text is not echoed: it may be no path but a key pasted without its BEGIN line.
    std::fs::read_to_string(text.trim())
        .map(Secret::new)
        .map_err(|e| ConfigError {
            setting: "HEADLESS_JWT_PRIVATE_KEY".into(),
            reason: format!("neither a PEM (-----BEGIN ...) nor a readable file: {e}"),
        })
}

/// The refresh-token HMAC key: SHA-256 of a label and `SECRET_KEY`, so it is independent of
/// the `sid` key (SHA-256 of `SECRET_KEY` alone) and of an HS access-token key.
fn refresh_key(secret_key: &[u8]) -> zeroize::Zeroizing<[u8; 32]> {
    let mut input = zeroize::Zeroizing::new(b"hallpass refresh-token key v1\0".to_vec());
    input.extend_from_slice(secret_key);
    zeroize::Zeroizing::new(sha256(&input))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;
    use crate::token::{Algorithm, Claims, TokenUse};

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut raw = RawConfig::new();
        for (k, v) in pairs {
            raw.set(k, *v).unwrap();
        }
        raw.validate().unwrap()
    }

    fn claims() -> Claims {
        Claims {
            sub: "1".into(),
            iat: 0,
            exp: 100,
            jti: "j".into(),
            sid: "s".into(),
            token_use: TokenUse::Access,
        }
    }

    #[test]
    fn hs_signs_with_the_private_key_text_or_else_secret_key() {
        let jwt = [
            ("HEADLESS_TOKEN_STRATEGY", "jwt"),
            ("HEADLESS_JWT_ALGORITHM", "HS256"),
        ];
        let with_secret =
            build_jwt_strategy(&config(&[jwt[0], jwt[1], ("SECRET_KEY", "s3")])).unwrap();
        let by_secret = KeySet::from_secret(Algorithm::HS256, b"s3").unwrap();
        let token = with_secret.codec().sign(&claims(), None).unwrap();
        assert!(
            JwtCodec::new(by_secret)
                .verify(&token, TokenUse::Access, 1)
                .is_ok()
        );

        let keyed = config(&[
            jwt[0],
            jwt[1],
            ("SECRET_KEY", "s3"),
            ("HEADLESS_JWT_PRIVATE_KEY", "not a path, a shared secret"),
        ]);
        let keyed = build_jwt_strategy(&keyed).unwrap();
        let token = keyed.codec().sign(&claims(), None).unwrap();
        assert!(
            with_secret
                .codec()
                .verify(&token, TokenUse::Access, 1)
                .is_err()
        );
        assert!(keyed.codec().verify(&token, TokenUse::Access, 1).is_ok());
    }

    #[test]
    fn errors_name_the_setting() {
        let jwt = ("HEADLESS_TOKEN_STRATEGY", "jwt");
        let e = build_strategy(&config(&[jwt, ("HEADLESS_JWT_ALGORITHM", "HS256")])).unwrap_err();
        assert_eq!(e.setting, "SECRET_KEY");
        let e = build_strategy(&config(&[jwt, ("SECRET_KEY", "s")])).unwrap_err();
        assert_eq!(e.setting, "HEADLESS_JWT_PRIVATE_KEY");
        // A path that does not exist is found when the strategy is built, not at validation.
        let missing = config(&[
            jwt,
            ("SECRET_KEY", "s"),
            ("HEADLESS_JWT_PRIVATE_KEY", "/nonexistent/key.pem"),
        ]);
        let e = build_strategy(&missing).unwrap_err();
        assert_eq!(e.setting, "HEADLESS_JWT_PRIVATE_KEY");
        let session = build_strategy(&config(&[])).unwrap();
        assert!(session.jwt.is_none());
    }

    /// Regression: a private key pasted without its `-----BEGIN` line was taken for a path,
    /// and the error quoted it ("neither a PEM nor a readable file (MIGHAgEAMBMG...)").
    #[test]
    fn a_key_that_is_no_pem_nor_file_is_not_quoted() {
        let body = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg";
        let mangled = config(&[
            ("HEADLESS_TOKEN_STRATEGY", "jwt"),
            ("SECRET_KEY", "s"),
            ("HEADLESS_JWT_PRIVATE_KEY", body),
        ]);
        let e = build_strategy(&mangled).unwrap_err();
        assert_eq!(e.setting, "HEADLESS_JWT_PRIVATE_KEY");
        assert!(!e.to_string().contains(body), "{e}");
    }
}
