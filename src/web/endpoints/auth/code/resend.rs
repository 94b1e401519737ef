//! `POST auth/code/resend`: a new login code for the pending login.

use std::sync::Arc;

use crate::event::FlowKind;
use crate::token::Resolved;
use crate::web::app::App;
use crate::web::endpoints::auth::code::{LOGIN_CODE, resend};
use crate::web::errors::ApiError;
use crate::web::flows::Offered;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/code/resend` (only with `ACCOUNT_LOGIN_BY_CODE_ENABLED`): 200 `{status}` and a
/// new code by mail (the old one stops working), within `ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND`
/// resends; for an address without an account 200 and nothing sent, as allauth's. 409 without
/// a pending code or once the resends are used up (always, when resending is off); 410 for a
/// dead session token. The body is not read.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    match app.resolve(&request.credentials()) {
        Resolved::Pending(holder) => resend(app, holder, FlowKind::LoginByCode, LOGIN_CODE).await,
        Resolved::Dead => Err(ApiError::SessionGone {
            offered: Offered::of(&app.config),
        }),
        Resolved::Anonymous | Resolved::Authenticated(_) => Err(ApiError::Conflict),
    }
}
