//! `GET config`: what the client may offer (allauth's `ConfigurationResponse`), exactly as the
//! settings enable it.

use warp::http::StatusCode;

use crate::web::app::App;
use crate::web::reply::ApiReply;
use crate::web::responses::{AccountConfig, ConfigBody, UserSessionsConfig};

/// `GET config`.
///
/// `usersessions.track_activity` is `true`: hallpass always moves a session's `last_seen_at`
/// when it is used (`GET auth/session`, and every request the `authenticated` filter of a Rust
/// service admits; coalesced, see `Engine::touch`), which is what allauth's
/// `USERSESSIONS_TRACK_ACTIVITY` switches on. [ours]: allauth's default is `false`, and there
/// `last_seen_at` stays the time the session began.
pub(super) fn get(app: &App) -> ApiReply {
    let config = &app.config;
    ApiReply::data(
        StatusCode::OK,
        ConfigBody {
            account: AccountConfig {
                login_methods: &["email"],
                is_open_for_signup: config.signup_allowed(),
                email_verification_by_code_enabled: config.email_verification_by_code,
                login_by_code_enabled: config.login_by_code,
                password_reset_by_code_enabled: config.password_reset_by_code,
                authentication_method: "email",
            },
            usersessions: UserSessionsConfig {
                track_activity: true,
            },
        },
    )
}
