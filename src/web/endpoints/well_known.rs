//! `GET /.well-known/jwks.json`: the public keys access tokens verify with, for services that
//! validate them statelessly. Empty without the JWT strategy.

use serde_json::json;

use crate::web::app::App;
use crate::web::reply::ApiReply;

/// `GET /.well-known/jwks.json`.
pub(super) fn jwks(app: &App) -> ApiReply {
    ApiReply::document(match &app.jwt {
        Some(jwt) => jwt.codec().keys().jwks(),
        None => json!({ "keys": [] }),
    })
}
