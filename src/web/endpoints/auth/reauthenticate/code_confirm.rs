//! `POST auth/reauthenticate/code/confirm`: the reauthentication code the session asked for.

use std::sync::Arc;

use crate::event::{AuthMethod, FlowKind};
use crate::web::app::App;
use crate::web::endpoints::auth::code::{REAUTHENTICATION_CODE, check};
use crate::web::endpoints::auth::reauthenticate::record;
use crate::web::endpoints::common::{authenticated_state, require_session};
use crate::web::errors::ApiError;
use crate::web::input;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/reauthenticate/code/confirm {code}`: the right code answers 200 with the
/// authenticated state, `methods` ending in `{method: "code", ..., reauthenticated: true}`; a
/// wrong one 400 `incorrect_code` on `code`, a missing one `required`, both counting, the flow
/// gone after `ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS`. 409 without a pending code (never asked,
/// used, used up, timed out); 401 without a signed-in session (410 for a dead token); 403 when
/// `ACCOUNT_REAUTHENTICATION_METHODS` leaves out `code`. Of concurrent confirmations of one
/// code exactly one succeeds.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, user) = require_session(app, request)?;
    if !app.config.reauthentication_methods.code {
        return Err(ApiError::Forbidden);
    }
    let holder = auth.session.hash;
    // Without a pending code, 409 whatever the body holds, as allauth resumes the flow first.
    if app
        .engine
        .flow(&holder, FlowKind::ReauthenticateByCode)
        .is_none()
    {
        return Err(ApiError::Conflict);
    }
    let typed = input::typed_code(&request.body)?;
    check(
        app,
        holder,
        FlowKind::ReauthenticateByCode,
        REAUTHENTICATION_CODE,
        typed,
        app.config.login_code_max_attempts,
    )
    .await?;
    record(app, holder, AuthMethod::Code).await?;
    Ok(authenticated_state(app, &user, &auth.session))
}
