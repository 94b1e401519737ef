//! The endpoints, one file per URL and one function per method, laid out as allauth's URLs:
//!
//! | route                               | file                   |
//! |-------------------------------------|------------------------|
//! | `GET config`                        | `config.rs`            |
//! | `POST auth/signup`                  | `auth/signup.rs`       |
//! | `POST auth/login`                   | `auth/login.rs`        |
//! | `GET`, `DELETE auth/session`        | `auth/session.rs`      |
//! | `GET`, `DELETE auth/sessions`       | `auth/sessions.rs`     |
//! | `POST tokens/refresh`               | `tokens/refresh.rs`    |
//! | `POST account/password/change`      | `account/password_change.rs` |
//! | `POST auth/password/request`        | `auth/password_request.rs`   |
//! | `GET`, `POST auth/password/reset`   | `auth/password_reset.rs`     |
//! | `POST auth/code/request`            | `auth/code/request.rs` |
//! | `POST auth/code/confirm`            | `auth/code/confirm.rs` |
//! | `POST auth/code/resend`             | `auth/code/resend.rs`  |
//! | `POST auth/reauthenticate`          | `auth/reauthenticate/mod.rs` |
//! | `POST auth/reauthenticate/code/request` | `auth/reauthenticate/code_request.rs` |
//! | `POST auth/reauthenticate/code/confirm` | `auth/reauthenticate/code_confirm.rs` |
//! | `POST auth/reauthenticate/code/resend`  | `auth/reauthenticate/code_resend.rs`  |
//! | `GET`, `POST`, `PUT`, `PATCH`, `DELETE account/email` | `account/email.rs` |
//! | `GET`, `POST auth/email/verify`     | `auth/email_verify.rs` |
//! | `POST auth/email/verify/resend`     | `auth/email_verify_resend.rs` |
//! | `GET /.well-known/jwks.json`        | `well_known.rs`        |
//! | `GET /metrics`                      | `metrics.rs`           |
//! | `GET /healthz`, `GET /readyz`       | `health.rs`            |
//!
//! A new endpoint adds a [`Route`] (the URL map), a file here named by its path (e.g.
//! `account/email.rs` for `account/email`), and one arm in [`dispatch`]. Helpers shared by
//! several endpoints live in `common.rs` (e-mail verification's in `verification.rs`, the
//! address list's in `addresses.rs`); wire error text only in `web/errors.rs`; response
//! bodies in `web/responses.rs`.

mod account;
mod addresses;
mod auth;
mod common;
mod config;
mod health;
mod metrics;
mod tokens;
mod verification;
mod well_known;

use std::sync::Arc;

use warp::http::Method;

use crate::web::app::App;
use crate::web::errors::ApiError;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::route::Route;

/// Runs the endpoint for `request`'s route and method (one the route allows).
pub(crate) async fn dispatch(app: &Arc<App>, request: Request) -> Result<ApiReply, ApiError> {
    let delete = request.method == Method::DELETE;
    match request.route {
        Route::Config => Ok(config::get(app)),
        Route::Signup => auth::signup::post(app, &request).await,
        Route::Login => auth::login::post(app, &request).await,
        Route::Session if delete => auth::session::delete(app, &request).await,
        Route::Session => auth::session::get(app, &request),
        Route::Sessions if delete => auth::sessions::delete(app, &request).await,
        Route::Sessions => auth::sessions::get(app, &request),
        Route::Refresh => tokens::refresh::post(app, &request).await,
        // --- login by code and reauthentication ---
        Route::LoginCodeRequest => auth::code::request::post(app, &request).await,
        Route::LoginCodeConfirm => auth::code::confirm::post(app, &request).await,
        Route::LoginCodeResend => auth::code::resend::post(app, &request).await,
        Route::Reauthenticate => auth::reauthenticate::post(app, &request).await,
        Route::ReauthenticationCodeRequest => {
            auth::reauthenticate::code_request::post(app, &request).await
        }
        Route::ReauthenticationCodeConfirm => {
            auth::reauthenticate::code_confirm::post(app, &request).await
        }
        Route::ReauthenticationCodeResend => {
            auth::reauthenticate::code_resend::post(app, &request).await
        }
        // --- e-mail addresses and verification ---
        Route::Email => account::email::handle(app, &request).await,
        Route::EmailVerify if request.method == Method::GET => {
            auth::email_verify::get(app, &request).await
        }
        Route::EmailVerify => auth::email_verify::post(app, &request).await,
        Route::EmailVerifyResend => auth::email_verify_resend::post(app, &request).await,
        Route::Jwks => Ok(well_known::jwks(app)),
        Route::Metrics => Ok(metrics::get(app)),
        Route::Healthz => Ok(health::healthz()),
        Route::Readyz => health::readyz(app).await,
        // --- password change and reset ---
        Route::PasswordChange => account::password_change::post(app, &request).await,
        Route::PasswordRequest => auth::password_request::post(app, &request).await,
        Route::PasswordReset if request.method == Method::GET => {
            auth::password_reset::get(app, &request).await
        }
        Route::PasswordReset => auth::password_reset::post(app, &request).await,
    }
}
