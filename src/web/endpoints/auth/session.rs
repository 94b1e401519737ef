//! `auth/session`: the authentication state, and logout.

use std::sync::Arc;

use crate::event::RevokeReason;
use crate::web::app::App;
use crate::web::endpoints::common::{
    authenticated_state, blocking, pending_session, require_session,
};
use crate::web::errors::ApiError;
use crate::web::flows::{Offered, Pending};
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses::AuthState;

/// `GET auth/session`: 200, 401 or 410. Notes the session as seen (in memory; no event).
pub(crate) fn get(app: &App, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, user) = require_session(app, request)?;
    app.engine.touch(&auth.session.hash);
    Ok(authenticated_state(app, &user, &auth.session))
}

/// `DELETE auth/session`: revokes the session and answers the 401 anonymous body. An
/// anonymous session's flows end with it: its token is then gone (410), as allauth's.
pub(crate) async fn delete(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    if let Some(holder) = pending_session(app, request) {
        let engine = app.engine.clone();
        blocking(move || {
            for flow in engine.flows(&holder) {
                engine.end_flow(holder, flow.kind)?;
            }
            Ok::<(), crate::engine::EngineError>(())
        })
        .await??;
        return Ok(AuthState::anonymous(Offered::of(&app.config), Pending::NONE).reply());
    }
    let (auth, _) = require_session(app, request)?;
    let engine = app.engine.clone();
    let hash = auth.session.hash;
    blocking(move || engine.revoke_hash(&hash, RevokeReason::Logout)).await??;
    Ok(AuthState::anonymous(Offered::of(&app.config), Pending::NONE).reply())
}
