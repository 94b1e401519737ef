//! Token strategies: opaque session tokens and JWT access/refresh tokens.
//!
//! JWT pieces: [`keys`] pins the algorithm and holds the signing and verification keys,
//! [`jwt`] signs and verifies allauth-compatible tokens with them, and [`cache`] remembers
//! verified access tokens so repeat presentations skip the signature check.

pub mod cache;
pub mod configured;
pub mod jwt;
pub mod jwt_strategy;
pub mod keys;
pub mod strategy;

pub use jwt_strategy::{JwtSettings, JwtTokenStrategy};
pub use strategy::{SessionTokenStrategy, TokenStrategy};
