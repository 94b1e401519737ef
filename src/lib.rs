//! hallpass: an embedded, event-sourced session and token engine that speaks django-allauth's
//! headless app API.
//!
//! Every state change is an [`event::Event`] appended to a log ([`store::EventStore`], sled by
//! default) by one writer thread and folded into in-memory indexes ([`state::State`]); reads
//! never touch disk. Token strategies ([`token`]) and the HTTP facade ([`web`]) sit on top of the
//! [`Engine`].
//!
//! ```
//! use std::sync::Arc;
//! use hallpass::clock::SystemClock;
//! use hallpass::engine::{Engine, EngineConfig, SessionMeta};
//! use hallpass::event::RevokeReason;
//! use hallpass::store::Durability;
//!
//! let dir = tempfile::tempdir()?;
//! let (engine, _) =
//!     Engine::open_dir(dir.path(), Durability::Fsync, Arc::new(SystemClock), EngineConfig::default())?;
//! let user = engine.sign_up("ann@example.com", "ann", String::new())?;
//! // Durable when it returns; the key goes to the client, only its hash to disk.
//! let session = engine.create_session(user.id, SessionMeta::default(), None)?;
//! assert_eq!(engine.lookup(session.key.expose()).map(|s| s.user), Some(user.id));
//! engine.revoke(session.key.expose(), RevokeReason::Logout)?;
//! assert!(engine.lookup(session.key.expose()).is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod accounts;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod engine;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod state;
pub mod store;
pub mod token;
pub mod web;

pub use engine::{Engine, EngineConfig, EngineError};
