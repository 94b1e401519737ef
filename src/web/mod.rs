//! The HTTP facade: django-allauth's headless app API (`/_allauth/app/v1`) over warp.
//!
//! Data flows one way. `listener` accepts connections, holds at most the cap `limits` sets and
//! cuts off clients slow to send a request head or idle too long. `server` reads each request
//! (body capped and timed, client address found) into a `request::Request`, `route` names its
//! endpoint, and `endpoints` runs it: parse the body (`input`), ask the engine and the token
//! strategy, and build a typed body (`responses`). Every answer, success or failure, JSON envelope, JWKS document or metrics text, is a
//! `reply::ApiReply`; every failure is an `errors::ApiError`, the one place that words wire
//! errors. Every response carries allauth's cache headers, including 404, 405, 413 and
//! malformed input.
//!
//! ```text
//! listener ──▶ server ──▶ endpoints/… ──▶ input, responses, errors ──▶ reply
//!              │            │
//!              └──▶ route   └──▶ common ──▶ app (engine, strategy, limits, password gate, metrics)
//! ```

mod app;
mod client_ip;
mod endpoints;
mod errors;
mod flows;
pub(crate) mod input;
mod limits;
mod listener;
mod metrics;
mod password_gate;
mod principal;
pub(crate) mod ratelimit;
pub(crate) mod reply;
mod request;
mod responses;
mod route;
mod server;

pub use app::App;
pub use limits::ServerLimits;
pub use principal::{Principal, authenticated, recover};
pub use server::{routes, serve, serve_metrics, serve_with};
