//! `GET config`: what the client may offer (allauth's `ConfigurationResponse`).

use warp::http::StatusCode;

use crate::web::app::App;
use crate::web::reply::ApiReply;
use crate::web::responses::{AccountConfig, ConfigBody};

/// `GET config`.
pub(super) fn get(app: &App) -> ApiReply {
    ApiReply::data(
        StatusCode::OK,
        ConfigBody {
            account: AccountConfig {
                login_methods: &["email"],
                is_open_for_signup: app.config.signup_allowed(),
                email_verification_by_code_enabled: false,
                login_by_code_enabled: false,
                password_reset_by_code_enabled: false,
                authentication_method: "email",
            },
        },
    )
}
