//! Protecting a Rust service's own routes with hallpass credentials: the [`authenticated`]
//! warp filter and its [`recover`] companion.
//!
//! Credentials are read exactly as the facade reads them (`X-Session-Token` first, then
//! `Authorization`; never the query string). With the JWT strategy a bearer access token is
//! validated as a resource API validates it: stateless mode accepts a verified token until its
//! `exp` even after logout (allauth's documented trade-off), stateful mode also requires the
//! session to be live. Every refusal is a 401 anonymous envelope, never warp's text.

use std::convert::Infallible;
use std::sync::Arc;

use warp::http::HeaderMap;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::clock::Timestamp;
use crate::engine::SessionInfo;
use crate::event::UserId;
use crate::token::{Claims, Resolved};
use crate::web::app::App;
use crate::web::errors::{self, ApiError};
use crate::web::flows::{Offered, Pending};
use crate::web::request::credentials;

/// Who is calling a protected route.
///
/// Invariant: `user` is the session's user when `session` is known, else the verified access
/// token's `sub`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The authenticated user.
    pub user: UserId,
    /// The live session, when there is one. `None` for a stateless access token whose session
    /// has ended (it stays valid until `exp`).
    pub session: Option<SessionInfo>,
    /// The access token's claims, when a bearer token authenticated the request.
    pub claims: Option<Claims>,
}

/// The rejection [`authenticated`] raises; [`recover`] turns it into the 401 envelope.
#[derive(Debug)]
struct Unauthorized {
    offered: Offered,
    now: Timestamp,
}

impl warp::reject::Reject for Unauthorized {}

/// A filter yielding the request's [`Principal`], or rejecting it; pair the route with
/// `.recover(hallpass::web::recover)` so the rejection becomes a 401 envelope.
pub fn authenticated(
    app: Arc<App>,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone + Send + Sync + 'static {
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let app = Arc::clone(&app);
        async move {
            principal(&app, &headers).ok_or_else(|| {
                warp::reject::custom(Unauthorized {
                    offered: Offered::of(&app.config),
                    now: app.engine.now(),
                })
            })
        }
    })
}

/// Turns a rejection by [`authenticated`] into the 401 anonymous envelope, and any other
/// rejection into the facade's envelope for it (404, 405, 413, 400).
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    match rejection.find::<Unauthorized>() {
        Some(u) => Ok(ApiError::NotAuthenticated {
            offered: u.offered,
            pending: Pending::NONE,
        }
        .reply()
        .into_response(u.now)),
        None => errors::recover(rejection).await,
    }
}

/// The principal behind `headers`, if any.
fn principal(app: &App, headers: &HeaderMap) -> Option<Principal> {
    let presented = credentials(headers);
    if let (None, Some(jwt), Some(authorization)) =
        (presented.session_token, &app.jwt, presented.authorization)
    {
        let token = jwt.bearer(authorization)?;
        let valid = jwt.validate_access_token(&app.engine, token).ok()?;
        let user = UserId(valid.claims.sub.parse().ok()?);
        let session = app.engine.lookup_hash(&valid.session);
        if let Some(session) = &session {
            app.engine.touch(&session.hash);
        }
        return Some(Principal {
            user,
            session,
            claims: Some(valid.claims),
        });
    }
    match app.resolve(&presented) {
        Resolved::Authenticated(auth) => {
            app.engine.touch(&auth.session.hash);
            Some(Principal {
                user: auth.session.user,
                session: Some(auth.session),
                claims: auth.claims,
            })
        }
        Resolved::Anonymous | Resolved::Dead | Resolved::Pending(_) => None,
    }
}
