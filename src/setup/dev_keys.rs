//! Development defaults: a generated `SECRET_KEY` and JWT private key, kept in the data
//! directory so that restarts keep sessions and tokens valid.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError, Secret};
use crate::crypto::random_string;
use crate::token::{StrategyKind, generate_private_pem};

/// File name of the generated development `SECRET_KEY` in the data directory.
pub const SECRET_KEY_FILE: &str = "secret_key";
/// File name of the generated development JWT private key in the data directory.
pub const PRIVATE_KEY_FILE: &str = "jwt_private_key.pem";

/// Fills in a missing `SECRET_KEY` from `data_dir/secret_key`, and with the JWT strategy and
/// an asymmetric algorithm a missing private key from `data_dir/jwt_private_key.pem`,
/// generating and storing them (mode 0600) on first start, and warns that they are
/// development defaults. Returns the files that were generated.
///
/// # Errors
///
/// A [`ConfigError`] for `SECRET_KEY` if the file cannot be read or written.
pub fn provision_dev_keys(
    mut config: Config,
    data_dir: &Path,
) -> Result<(Config, Vec<PathBuf>), ConfigError> {
    let mut generated = Vec::new();
    if config.secret_key.is_none() {
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
        config.secret_key = Some(Secret::new(value));
    }
    let needs_key_pair =
        config.token_strategy == StrategyKind::Jwt && !config.jwt_algorithm.is_symmetric();
    if needs_key_pair && config.jwt_private_key.is_none() {
        let path = data_dir.join(PRIVATE_KEY_FILE);
        let algorithm = config.jwt_algorithm;
        let (pem, fresh) = read_or_create(&path, || {
            generate_private_pem(algorithm).map_err(|e| std::io::Error::other(e.to_string()))
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
        config.jwt_private_key = Some(Secret::new(pem));
    }
    Ok((config, generated))
}

/// Django's `get_random_secret_key`: 50 characters from its alphabet, from the OS CSPRNG.
fn generate_secret_key() -> String {
    random_string(b"abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)", 50)
}

/// Reads `path`, or writes `make()` to it with mode 0600 first (the dev `SECRET_KEY` and JWT
/// private key). Returns the contents and
/// whether the file was created now.
///
/// # Errors
///
/// I/O errors.
fn read_or_create(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    fn raw(pairs: &[(&str, &str)]) -> RawConfig {
        let mut raw = RawConfig::new();
        for (k, v) in pairs {
            raw.set(k, *v).unwrap();
        }
        raw
    }

    #[test]
    fn dev_private_key_is_generated_for_jwt_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let jwt = || {
            raw(&[
                ("HEADLESS_TOKEN_STRATEGY", "jwt"),
                ("HEADLESS_JWT_ALGORITHM", "ES256"),
            ])
            .validate()
            .unwrap()
        };
        let (c1, generated) = provision_dev_keys(jwt(), dir.path()).unwrap();
        assert_eq!(generated.len(), 2);
        let (c2, generated) = provision_dev_keys(jwt(), dir.path()).unwrap();
        assert!(generated.is_empty());
        let pem = c1.jwt_private_key.unwrap();
        assert!(pem.expose().starts_with("-----BEGIN"));
        assert_eq!(Some(pem), c2.jwt_private_key);
    }

    #[test]
    fn dev_secret_key_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (c1, generated) = provision_dev_keys(Config::default(), dir.path()).unwrap();
        assert_eq!(generated.len(), 1);
        let (c2, generated) = provision_dev_keys(Config::default(), dir.path()).unwrap();
        assert!(generated.is_empty());
        let k1 = c1.secret_key.unwrap();
        assert_eq!(k1.expose().len(), 50);
        assert_eq!(Some(k1), c2.secret_key);
        assert!(
            c2.jwt_private_key.is_none(),
            "session strategy needs no key pair"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
