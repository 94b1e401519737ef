//! The crate-wide error: every module's error, wrapped, for callers that want one type.
//!
//! Each operation still returns its own error ([`EngineError`], [`OpenError`],
//! [`ConfigError`], ...), which says exactly what can go wrong there; [`Error`] is for code
//! that calls several of them and propagates with `?`, as redb's umbrella error does.

use crate::accounts::PasswordError;
use crate::config::ConfigError;
use crate::engine::{EngineError, OpenError};
use crate::store::StoreError;
use crate::token::{IssueError, JwtError, KeyError, RefreshError};

/// Any hallpass error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting could not be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The engine could not open its data.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// An engine command failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Tokens could not be issued.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// A refresh failed.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    /// A token did not verify or could not be signed.
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// A key could not be loaded or generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A password could not be hashed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// I/O outside the store: a data directory, a key file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
