//! `POST auth/code/request`: a login code mailed to an address, in an anonymous session that
//! waits for it.

use std::sync::Arc;

use crate::config::PreventEnumeration;
use crate::crypto::SessionKey;
use crate::event::{AuthMethod, FlowKind, SessionHash};
use crate::mail::{Context, Kind};
use crate::token::Resolved;
use crate::web::app::App;
use crate::web::endpoints::auth::code::{LOGIN_CODE, code_mail, unmatchable};
use crate::web::endpoints::common::{authenticated_state, blocking};
use crate::web::errors::{self, ApiError};
use crate::web::flows::{Offered, Pending};
use crate::web::input;
use crate::web::ratelimit::Limit;
use crate::web::reply::ApiReply;
use crate::web::request::Request;
use crate::web::responses::AuthState;

/// `POST auth/code/request {email}` (only with `ACCOUNT_LOGIN_BY_CODE_ENABLED`).
///
/// Answers, as allauth's:
/// - anonymous: 401 with `login_by_code` pending and, for a new anonymous session, its
///   `meta.session_token`; a request carrying a pending session's token replaces that
///   session's code and repeats no token. The same for an address with an account ("Sign-In
///   Code" with the code) and one without ("Unknown Account" with the sign-up link; no code
///   will ever be right), so the answer tells nobody which addresses have accounts;
/// - signed in: 200 with the current session, and the code is still mailed, as allauth does
///   (hallpass keeps no use for it: a signed-in session has no login to finish, and
///   `auth/code/confirm` answers it 409);
/// - 400 `required`/`invalid` on `email`; `unknown_email` for an address without an account
///   when `ACCOUNT_PREVENT_ENUMERATION` is off; `too_many_login_attempts` on `email` past
///   `request_login_code` (3/min per address asked for, 20/min per client), 400 and not 429
///   as allauth's form error; 410 for a dead session token.
pub(crate) async fn post(app: &Arc<App>, request: &Request) -> Result<ApiReply, ApiError> {
    let resolved = app.resolve(&request.credentials());
    if matches!(resolved, Resolved::Dead) {
        return Err(ApiError::SessionGone {
            offered: Offered::of(&app.config),
        });
    }
    let email = input::login_code_email(&request.body)?;
    let user = app.engine.user_by_email(&email);
    if user.is_none() && app.config.prevent_enumeration == PreventEnumeration::Off {
        return Err(ApiError::Validation(vec![errors::email_not_assigned()]));
    }
    // allauth's `consume(request_login_code)`: per client first, then per address; an address
    // refused keeps the client's hit.
    let now = app.engine.now();
    if !(app
        .limits
        .hit(Limit::RequestLoginCodeIp, request.client, now)
        && app
            .limits
            .hit(Limit::RequestLoginCodeEmail, email.as_str(), now))
    {
        return Err(ApiError::Validation(vec![
            errors::too_many_login_attempts_on("email"),
        ]));
    }
    // Who holds the flow: a new anonymous session, the pending one the request carries, or,
    // for a signed-in request, a holder nobody has the token of (the flow only carries the
    // mail; it times out unused).
    let (holder, new_key, signed_in) = match resolved {
        Resolved::Authenticated(auth) => (
            SessionHash::of(&SessionKey::generate()),
            None,
            Some(auth.session),
        ),
        Resolved::Pending(hash) => (hash, None, None),
        Resolved::Anonymous | Resolved::Dead => {
            let key = SessionKey::generate();
            (SessionHash::of(&key), Some(key), None)
        }
    };
    let (digest, mail) = match &user {
        Some(user) => code_mail(app, LOGIN_CODE, &email, Some(user.username.clone())),
        None => {
            let context = Context {
                code: None,
                link: app.mailer.link("account_signup", None),
                email: email.clone(),
                username: None,
            };
            let mail = app.mailer.seal(Kind::UnknownAccount, &email, &context);
            (unmatchable(), mail)
        }
    };
    let engine = app.engine.clone();
    let user_id = user.as_ref().map(|u| u.id);
    let code_ttl_ms = app.config.login_code_timeout_secs.saturating_mul(1000);
    let session_ttl_ms = app.config.login_timeout_secs.saturating_mul(1000);
    let anonymous = signed_in.is_none();
    blocking(move || {
        // The anonymous session itself keeps the token answering 401 once the code flow ends,
        // until `ACCOUNT_LOGIN_TIMEOUT` or logout.
        if anonymous && engine.flow(&holder, FlowKind::AnonymousSession).is_none() {
            engine.start_flow(
                holder,
                FlowKind::AnonymousSession,
                None,
                None,
                None,
                AuthMethod::Unknown,
                session_ttl_ms,
                None,
            )?;
        }
        engine.start_flow(
            holder,
            FlowKind::LoginByCode,
            user_id,
            Some(&email),
            Some(digest),
            AuthMethod::Code,
            code_ttl_ms,
            Some(mail),
        )
    })
    .await??;
    app.mailer.wake();
    if let Some(session) = signed_in {
        let Some(user) = app.engine.user(session.user) else {
            return Err(ApiError::SessionGone {
                offered: Offered::of(&app.config),
            });
        };
        return Ok(authenticated_state(app, &user, &session));
    }
    let state = AuthState::anonymous(
        Offered::of(&app.config),
        Pending::of(&app.engine.flows(&holder)),
    );
    Ok(match new_key {
        Some(key) => state.with_session_token(key.expose()).reply(),
        None => state.reply(),
    })
}
