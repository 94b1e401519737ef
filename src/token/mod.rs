//! Token strategies: opaque session tokens and JWT access/refresh tokens.
//!
//! JWT pieces: [`keys`] pins the algorithm and holds the signing and verification keys,
//! [`jwt`] signs and verifies allauth-compatible tokens with them, and [`cache`] remembers
//! verified access tokens so repeat presentations skip the signature check.

pub(crate) mod cache;
pub(crate) mod jwt;
pub(crate) mod jwt_strategy;
pub(crate) mod keys;
pub(crate) mod strategy;

pub use jwt::{Claims, JwtCodec, JwtError, TokenUse};
pub use jwt_strategy::{AccessError, CustomClaims, JwtSettings, JwtTokenStrategy, ValidAccess};
pub use keys::{Algorithm, KeyError, KeySet, generate_private_pem};
pub use strategy::{
    Authenticated, IssueError, Issued, RefreshError, Refreshed, RequestCredentials, Resolved,
    SessionTokenStrategy, StrategyKind, TokenStrategy, resolve,
};
