//! `auth/sessions`: the user's live sessions, as allauth's `usersessions` lists and ends them.

use std::sync::Arc;

use warp::http::StatusCode;

use crate::engine::{RevokeSessionsOutcome, SessionInfo};
use crate::event::RevokeReason;
use crate::web::app::App;
use crate::web::endpoints::common::{blocking, require_session};
use crate::web::errors::{self, ApiError};
use crate::web::flows::{Offered, Pending};
use crate::web::input;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses::{AuthState, SessionBody};

/// `GET auth/sessions`: the user's live sessions.
pub(crate) fn get(app: &App, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, _) = require_session(app, request)?;
    Ok(list(app, &auth.session))
}

/// `DELETE auth/sessions {sessions: [id, ...]}`: ends those of the user's sessions and answers
/// the remaining list, or the 401 anonymous body when the current session was among them.
///
/// All or nothing, as allauth's form validation before any session ends: an id that is not one
/// of the user's live sessions is a 400 `invalid_choice` and nothing ends (the engine checks
/// and revokes in one command, so a concurrent logout cannot half-apply the request).
pub(crate) async fn delete(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, _) = require_session(app, request)?;
    let ids = input::session_ids(&request.body)?;
    let engine = app.engine.clone();
    let user = auth.session.user;
    let outcome =
        blocking(move || engine.revoke_user_sessions(user, &ids, RevokeReason::UserRequest))
            .await??;
    if let RevokeSessionsOutcome::NotUserSession { no } = outcome {
        return Err(ApiError::Validation(vec![errors::invalid_session_choice(
            &no.to_string(),
        )]));
    }
    if !app.engine.is_live(&auth.session.hash) {
        return Ok(AuthState::anonymous(Offered::of(&app.config), Pending::NONE).reply());
    }
    Ok(list(app, &auth.session))
}

/// `200 {data: [Session, ...]}` for the user of `current`.
fn list(app: &App, current: &SessionInfo) -> ApiReply {
    let sessions: Vec<SessionBody> = app
        .engine
        .user_sessions(current.user)
        .into_iter()
        .map(|s| SessionBody::new(s, current))
        .collect();
    ApiReply::data(StatusCode::OK, sessions)
}
