//! `auth/session`: the authentication state, and logout.

use std::sync::Arc;

use crate::event::RevokeReason;
use crate::web::app::App;
use crate::web::endpoints::common::{blocking, require_session};
use crate::web::errors::ApiError;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses::{AuthState, Authenticated};

/// `GET auth/session`: 200, 401 or 410. Notes the session as seen (in memory; no event).
pub(crate) fn get(app: &App, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, user) = require_session(app, request)?;
    app.engine.touch(&auth.session.hash);
    Ok(Authenticated::reply(&user, &auth.session, None))
}

/// `DELETE auth/session`: revokes the session and answers the 401 anonymous body.
pub(crate) async fn delete(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, _) = require_session(app, request)?;
    let engine = app.engine.clone();
    let hash = auth.session.hash;
    blocking(move || engine.revoke_hash(&hash, RevokeReason::Logout)).await??;
    Ok(AuthState::anonymous(app.config.signup_allowed()).reply())
}
