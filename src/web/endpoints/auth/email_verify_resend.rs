//! `POST auth/email/verify/resend`: a new verification code for the session's flow (the
//! pending login's, or the address being added), with `ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND`.

use std::sync::Arc;

use warp::http::StatusCode;

use crate::event::FlowKind;
use crate::token::Resolved;
use crate::web::app::App;
use crate::web::endpoints::verification::{can_resend, code_process, resend_code};
use crate::web::errors::ApiError;
use crate::web::flows::Offered;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/email/verify/resend` (no body): bare 200 and a new code mailed (the old one stops
/// working); 409 by link, without a code flow, or past the resend quota; 429 inside the
/// `confirm_email` window (10 s per address).
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let holder = match app.resolve(&request.credentials()) {
        Resolved::Dead => {
            return Err(ApiError::SessionGone {
                offered: Offered::of(&app.config),
            });
        }
        _ if !app.config.email_verification_by_code => return Err(ApiError::Conflict),
        Resolved::Anonymous => return Err(ApiError::Conflict),
        Resolved::Pending(holder) => (holder, FlowKind::LoginVerifyEmail),
        Resolved::Authenticated(auth) => (auth.session.hash, FlowKind::VerifyEmail),
    };
    let (holder, kind) = holder;
    let flow = code_process(app, holder, kind)
        .await?
        .filter(|f| can_resend(app, f))
        .ok_or(ApiError::Conflict)?;
    resend_code(app, holder, kind, &flow).await?;
    Ok(ApiReply::bare(StatusCode::OK))
}
