//! hallpass: an embedded, event-sourced session and token engine that speaks django-allauth's
//! headless app API.
//!
//! Every state change is an [`event::Event`] appended to a log ([`store::EventStore`], sled by
//! default) by one writer thread and folded into in-memory indexes ([`state::State`]); reads
//! never touch disk. Token strategies ([`token`]) and the HTTP facade ([`web`]) sit on top of the
//! [`Engine`].

pub mod accounts;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod engine;
pub mod event;
pub mod state;
pub mod store;
pub mod token;
pub mod web;

pub use engine::{Engine, EngineConfig, EngineError};
