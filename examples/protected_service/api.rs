//! The example's resource API, on its own so the integration tests serve this very filter.

use std::sync::Arc;

use warp::Filter;

use hallpass::{App, Principal, authenticated, recover};

/// `GET /api/me` behind [`authenticated`]: the caller's user id, session number (`null` for a
/// stateless access token whose session has ended) and whether a bearer token was used. Every
/// rejection becomes an envelope (401 for missing or bad credentials).
pub(crate) fn resource_api(
    app: Arc<App>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    warp::path!("api" / "me")
        .and(warp::get())
        .and(authenticated(app))
        .map(|principal: Principal| {
            warp::reply::json(&serde_json::json!({
                "user": principal.user.0,
                "session": principal.session.map(|s| s.no),
                "via_token": principal.claims.is_some(),
            }))
        })
        .recover(recover)
}
