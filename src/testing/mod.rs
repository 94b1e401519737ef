//! Test rigs, behind the `testing` feature: the fuzz entry points, the reference model, a
//! clock that moves when told, a store that fails on command, and the log's and state's
//! internals that fixture and replay tests inspect. Not part of the stable API; the tests, the
//! benchmarks and the fuzz crate enable the feature.

pub mod fuzz;
pub mod model;

pub use crate::clock::ManualClock;
pub use crate::crypto::{random_bytes, sha256};
pub use crate::event::codec::{decode_envelope, decode_record, encode_envelope, encode_record};
pub use crate::event::{Envelope, Event, FORMAT_VERSION};
pub use crate::state::{RefreshTokens, Session, State};
pub use crate::store::{FaultPlan, FaultyStore};
pub use crate::token::cache::VerifiedCache;
#[cfg(feature = "server")]
pub use crate::web::ratelimit::{Key, Limit, RateLimiter, Reservation};

/// The messages waiting in `engine`'s outbox, opened with the mailer of `secret_key`: what a
/// test server "sent", codes and links included.
#[cfg(feature = "server")]
pub fn sent_mail(engine: &crate::engine::Engine, secret_key: &str) -> Vec<crate::mail::Rendered> {
    let hasher = crate::crypto::SecretHasher::new(secret_key.as_bytes());
    let config = crate::config::Config::default();
    let templates = crate::mail::Templates::builtin(&config.site_name, &config.subject_prefix());
    let mailer = crate::mail::Mailer::new(&config, &hasher, templates);
    engine
        .outbox()
        .iter()
        .filter_map(|mail| mailer.open(&mail.sealed))
        .collect()
}
