//! Assembly: the steps that turn validated settings into running parts.
//!
//! This layer sits above both parts it joins ([`Config`](crate::config::Config) and the
//! engine and token strategies), so neither has to know the other. Each step is one named
//! function, called by `hallpass serve` in this order:
//!
//! 1. [`provision_dev_keys`]: fill a missing `SECRET_KEY` (and, for JWT with a key pair, a
//!    missing private key) from files in the data directory, creating them on first start;
//! 2. [`open_engine`]: open the engine on the data directory's store;
//! 3. [`build_strategy`]: the token strategy `HEADLESS_TOKEN_STRATEGY` names, with its keys.
//!
//! Validation itself ([`RawConfig::validate`](crate::config::RawConfig::validate)) does no file
//! I/O; every file these steps read or write is named in their docs.

mod dev_keys;
mod strategy;

pub use dev_keys::{PRIVATE_KEY_FILE, SECRET_KEY_FILE, provision_dev_keys};
pub use strategy::{ConfiguredStrategy, build_jwt_strategy, build_strategy};

use std::path::Path;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::engine::{Engine, OpenError, OpenReport};

/// Opens the engine on the store in `data_dir` (created if missing) with `config`'s
/// durability and engine settings and the system clock.
///
/// The data directory holds the store directly (`data_dir/log/` for sled,
/// `data_dir/snapshot.bin`); a directory in the earlier layout (`data_dir/log/log/`) opens
/// where it is.
///
/// # Errors
///
/// [`OpenError`] when the store cannot be opened (another process holds it, I/O failure) or
/// its contents are corrupt.
pub fn open_engine(data_dir: &Path, config: &Config) -> Result<(Engine, OpenReport), OpenError> {
    Engine::open_dir(
        data_dir,
        config.durability,
        Arc::new(SystemClock),
        config.engine_config(),
    )
}
