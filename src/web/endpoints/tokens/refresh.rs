//! `POST tokens/refresh`: a refresh token for a new access token (and, with rotation, a new
//! refresh token).

use std::sync::Arc;

use warp::http::StatusCode;

use crate::token::RefreshError;
use crate::web::app::App;
use crate::web::endpoints::common::blocking;
use crate::web::errors::ApiError;
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses::Refreshed;

/// `POST tokens/refresh {refresh_token}`: `{access_token, refresh_token?}`, or a bare 400 for
/// any token that does not refresh (expired, revoked, reused, forged: the client cannot tell).
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    if !app
        .limits
        .hit(Limit::Refresh, request.client, app.engine.now())
    {
        return Err(ApiError::RateLimited);
    }
    let token = input::refresh_token(&request.body)?;
    let engine = app.engine.clone();
    let strategy = Arc::clone(&app.strategy);
    let refreshed = blocking(move || strategy.refresh_token(&engine, &token))
        .await?
        .map_err(|e| match e {
            RefreshError::Engine(e) => e.into(),
            RefreshError::Signing(e) => ApiError::Internal(format!("token signing: {e}")),
            RefreshError::Unsupported | RefreshError::Invalid | RefreshError::ReuseDetected => {
                ApiError::RefreshFailed
            }
        })?;
    Ok(ApiReply::data(
        StatusCode::OK,
        Refreshed {
            access_token: refreshed.access_token,
            refresh_token: refreshed.refresh_token,
        },
    ))
}
