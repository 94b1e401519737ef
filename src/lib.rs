//! hallpass: an embedded, event-sourced session and token engine that speaks django-allauth's
//! headless app API.
//!
//! Every state change is an event appended to a log ([`EventStore`], sled by default) by one
//! writer thread and folded into in-memory indexes; reads never touch disk. Token strategies
//! ([`TokenStrategy`]: session tokens, or JWT access and refresh tokens) sit on the
//! [`Engine`], and with the default `server` feature the HTTP facade ([`App`], [`serve`])
//! sits on both.
//!
//! ```
//! use std::sync::Arc;
//! use hallpass::{Durability, Engine, EngineConfig, PasswordHash, RevokeReason, SystemClock};
//!
//! let dir = tempfile::tempdir()?;
//! let (engine, _) =
//!     Engine::open_dir(dir.path(), Durability::Fsync, Arc::new(SystemClock), EngineConfig::default())?;
//! let user = engine.sign_up("ann@example.com", "ann", PasswordHash::unusable())?;
//! // Durable when it returns; the key goes to the client, only its hash to disk.
//! let session = engine.create_session(user.id, Default::default(), None)?;
//! assert_eq!(engine.lookup(session.key.expose()).map(|s| s.user), Some(user.id));
//! engine.revoke(session.key.expose(), RevokeReason::Logout)?;
//! assert!(engine.lookup(session.key.expose()).is_none());
//! # Ok::<(), hallpass::Error>(())
//! ```
//!
//! # Features
//!
//! - `server` (default): the warp facade ([`App`], [`serve`], [`routes`], [`authenticated`]).
//! - `cli`: what the `hallpass` binary needs beside the library.
//! - `testing`: test rigs (`hallpass::testing`), for the crate's own tests, benchmarks and
//!   fuzz targets; not a stable API.
//!
//! `cargo build --no-default-features` builds the engine and the token strategies alone.

// Items public only through `hallpass::testing` (the log's codec, the state, the failing
// store) are unreachable and partly unused without the `testing` feature; with it, both lints
// see the whole crate, and the gate (clippy on all targets) builds with it.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub, dead_code))]

mod accounts;
mod clock;
mod config;
mod crypto;
mod engine;
mod error;
mod event;
mod hashing;
#[cfg(feature = "server")]
pub mod mail;
mod setup;
mod state;
mod store;
mod token;
#[cfg(feature = "server")]
mod web;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use accounts::{
    EmailError, MAX_EMAIL_CHARS, MAX_PASSWORD_BYTES, PasswordError, PasswordProblem, UserAttribute,
    UserAttributes, authenticate, hash_password, normalize_email, username_base, validate_password,
    verify_password,
};
pub use clock::{Clock, SystemClock, Timestamp};
pub use config::{
    Config, ConfigError, EmailBackend, EmailVerification, PreventEnumeration, RawConfig,
    ReauthenticationMethods, SETTINGS, Secret,
};
pub use crypto::{
    LinkKey, MAX_SECRET_TEXT, SecretHasher, SessionKey, SidCipher, UserCode, normalize_user_code,
};
pub use engine::{
    AddEmailOutcome, CodeCheck, Engine, EngineConfig, EngineError, MAX_SEALED_MAIL_BYTES,
    MailOutcome, Misuse, NewSession, OpenError, OpenReport, PrimaryOutcome, RemoveEmailOutcome,
    RevokeSessionsOutcome, RotateOutcome, SessionInfo, SessionMeta, Stats, Successor,
};
pub use error::Error;
pub use event::{
    AuthMethod, DecodeError, EncodeError, FlowKind, Jti, KeyPurpose, PasswordChange, PasswordHash,
    RevokeReason, SecretDigest, Seq, SessionHash, UserId,
};
pub use setup::{
    ConfiguredStrategy, PRIVATE_KEY_FILE, SECRET_KEY_FILE, build_jwt_strategy, build_strategy,
    open_engine, provision_dev_keys,
};
pub use state::{EmailAddress, Flow, Key, Mail, SnapshotError, User};
pub use store::{Durability, EventStore, MemStore, SledStore, Snapshot, SnapshotSink, StoreError};
pub use token::{
    AccessError, Algorithm, Authenticated, Claims, CustomClaims, IssueError, Issued, JwtCodec,
    JwtError, JwtSettings, JwtTokenStrategy, KeyError, KeySet, RefreshError, Refreshed,
    RequestCredentials, Resolved, SessionTokenStrategy, StrategyKind, TokenStrategy, TokenUse,
    ValidAccess, generate_private_pem, resolve,
};
#[cfg(feature = "server")]
pub use web::{
    App, Principal, ServerLimits, authenticated, recover, routes, serve, serve_metrics, serve_with,
};
