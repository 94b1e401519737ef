//! `POST auth/reauthenticate/code/resend`: a new reauthentication code.

use std::sync::Arc;

use crate::event::FlowKind;
use crate::web::app::App;
use crate::web::endpoints::auth::code::{REAUTHENTICATION_CODE, resend};
use crate::web::endpoints::common::require_session;
use crate::web::errors::ApiError;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/reauthenticate/code/resend`: 200 `{status}` and a new code to the same address
/// (the old one stops working), within `ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND` resends, as
/// allauth's; 409 without a pending code or once they are used up (always, when resending is
/// off); 401 without a signed-in session (410 for a dead token); 403 when
/// `ACCOUNT_REAUTHENTICATION_METHODS` leaves out `code`. The body is not read.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let (auth, _) = require_session(app, request)?;
    if !app.config.reauthentication_methods.code {
        return Err(ApiError::Forbidden);
    }
    resend(
        app,
        auth.session.hash,
        FlowKind::ReauthenticateByCode,
        REAUTHENTICATION_CODE,
    )
    .await
}
