//! `POST auth/code/confirm`: the login code of the anonymous session's pending login; the
//! right one signs the user in.

use std::sync::Arc;

use crate::event::{AuthMethod, FlowKind};
use crate::token::Resolved;
use crate::web::app::App;
use crate::web::endpoints::auth::code::{LOGIN_CODE, check};
use crate::web::endpoints::common::{blocking, signed_in};
use crate::web::errors::{self, ApiError};
use crate::web::flows::Offered;
use crate::web::input;
use crate::web::reply::ApiReply;
use crate::web::request::Request;

/// `POST auth/code/confirm {code}` (served whether or not login by code is enabled, as
/// allauth's: without a pending code it is a 409).
///
/// The right code (compared as allauth compares them: case, dashes and spaces aside) answers
/// 200 with a new session (a new `session_token`; with JWT, the access and refresh tokens),
/// `methods: [{method: "code", ...}]`, marks the address verified (the code proved it), and
/// ends the anonymous session: its token is then 410. A wrong code is 400 `incorrect_code` on
/// `code`, a missing one `required`; both count, and after `ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS`
/// the flow is gone (then 409). 409 also without a pending code (signed in, no token, the code
/// timed out after `ACCOUNT_LOGIN_BY_CODE_TIMEOUT`); 410 for a dead session token.
///
/// Of concurrent confirmations of one code exactly one signs in: the engine's writer decides.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let holder = match app.resolve(&request.credentials()) {
        Resolved::Pending(holder) => holder,
        Resolved::Dead => {
            return Err(ApiError::SessionGone {
                offered: Offered::of(&app.config),
            });
        }
        Resolved::Anonymous | Resolved::Authenticated(_) => return Err(ApiError::Conflict),
    };
    // allauth finds the pending login before it reads the body: without one, 409 whatever
    // was sent. (The flow may still end before the check; that answers 409 too.)
    if app.engine.flow(&holder, FlowKind::LoginByCode).is_none() {
        return Err(ApiError::Conflict);
    }
    let typed = input::typed_code(&request.body)?;
    let flow = check(
        app,
        holder,
        FlowKind::LoginByCode,
        LOGIN_CODE,
        typed,
        app.config.login_code_max_attempts,
    )
    .await?;
    // An address without an account holds a digest no code has: never accepted. Were it
    // accepted anyway, there is nobody to sign in.
    let Some(user) = flow.user.and_then(|id| app.engine.user(id)) else {
        return Err(ApiError::Validation(vec![errors::incorrect_code("code")]));
    };
    let meta = request.session_meta(AuthMethod::Code);
    let engine = app.engine.clone();
    let strategy = Arc::clone(&app.strategy);
    let session_user = user.clone();
    let email = flow.email;
    let issued = blocking(move || {
        if let Some(email) = &email {
            engine.verify_email(session_user.id, email)?;
        }
        let issued = strategy.create_session(&engine, &session_user, meta)?;
        // allauth rotates the session key on login: the anonymous session's token is dead
        // from now on (410), whatever else it held.
        for flow in engine.flows(&holder) {
            engine.end_flow(holder, flow.kind)?;
        }
        Ok::<_, ApiError>(issued)
    })
    .await??;
    // The user as signed in, the address verified.
    let user = app.engine.user(user.id).unwrap_or(user);
    Ok(signed_in(app, &user, &issued))
}
