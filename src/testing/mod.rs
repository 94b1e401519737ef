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
