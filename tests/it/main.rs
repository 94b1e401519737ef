//! Integration tests through the public API, in one binary to save link time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

mod util;
mod web_util;
// --- password change and reset ---
mod allauth_replay;

mod accounts;
mod bounds;
mod engine;
mod faults;
mod fixtures;
mod full_disk;
mod fuzz_corpus;
mod layers;
mod layout;
mod mail;
mod model;
mod recovery;
mod tokens;
mod web;
mod web_auth;
mod web_code;
mod web_email;
mod web_jwt;
mod web_login_limits;
mod web_password;
mod web_password_gate;
mod web_proxy;
mod web_refresh_race;
mod web_serve;
mod web_sessions;
mod web_timeouts;
