//! Token strategies: opaque session tokens and JWT access/refresh tokens.

pub mod jwt;
pub mod keys;
