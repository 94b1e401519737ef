//! Response bodies, typed: what each endpoint answers, as allauth's OpenAPI schemas name it.
//!
//! Each struct serializes to exactly the JSON allauth sends; an endpoint builds one and hands
//! it to [`ApiReply`]. Keys go out in sorted order (the envelope is a `serde_json` map).

use serde::Serialize;
use serde_json::{Map, Value};
use warp::http::StatusCode;

use crate::engine::SessionInfo;
use crate::event::AuthMethod;
use crate::state::User;
use crate::web::reply::ApiReply;

/// allauth's `User`; `display` is the username, as allauth's default `user_display`.
#[derive(Debug, Serialize)]
pub(crate) struct UserBody<'a> {
    id: u64,
    display: &'a str,
    email: &'a str,
    has_usable_password: bool,
    username: &'a str,
}

impl<'a> UserBody<'a> {
    /// The payload of `user`.
    pub(crate) fn new(user: &'a User) -> UserBody<'a> {
        UserBody {
            id: user.id.0,
            display: &user.username,
            email: &user.email,
            has_usable_password: user.has_usable_password,
            username: &user.username,
        }
    }
}

/// One entry of allauth's `methods`: how the user authenticated when the session began.
#[derive(Debug, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub(crate) enum MethodBody<'a> {
    /// `{method: "password", at, email}`, `at` in float epoch seconds.
    Password {
        /// When.
        at: f64,
        /// The address logged in with.
        email: &'a str,
    },
    /// `{method: "code", at, email}`: logged in with a code sent by e-mail.
    Code {
        /// When.
        at: f64,
        /// The address the code was sent to.
        email: &'a str,
    },
}

impl<'a> MethodBody<'a> {
    /// The `methods` of `session`: a sign-up lists none, a password login one entry.
    pub(crate) fn of(user: &'a User, session: &SessionInfo) -> Vec<MethodBody<'a>> {
        match session.method {
            AuthMethod::Password => vec![MethodBody::Password {
                at: session.created_at.as_secs_f64(),
                email: &user.email,
            }],
            AuthMethod::Code => vec![MethodBody::Code {
                at: session.created_at.as_secs_f64(),
                email: &user.email,
            }],
            AuthMethod::SignUp | AuthMethod::Unknown => Vec::new(),
        }
    }
}

/// `200 {data: {user, methods}, meta: {is_authenticated: true, session_token?, ...}}`.
#[derive(Debug, Serialize)]
pub(crate) struct Authenticated<'a> {
    user: UserBody<'a>,
    methods: Vec<MethodBody<'a>>,
}

/// The `meta` of [`Authenticated`]: the tokens only on the response that minted them.
#[derive(Debug, Serialize)]
pub(crate) struct AuthenticatedMeta<'a> {
    is_authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<&'a str>,
    /// The strategy's `create_access_token_payload` (`access_token`, `refresh_token`).
    #[serde(flatten)]
    tokens: Map<String, Value>,
}

impl<'a> Authenticated<'a> {
    /// The authenticated state of `user` in `session`; `minted` carries the session token and
    /// the strategy's token payload when this response began the session.
    pub(crate) fn reply(
        user: &'a User,
        session: &SessionInfo,
        minted: Option<(&'a str, Map<String, Value>)>,
    ) -> ApiReply {
        let (session_token, tokens) = match minted {
            Some((token, tokens)) => (Some(token), tokens),
            None => (None, Map::new()),
        };
        ApiReply::data_meta(
            StatusCode::OK,
            Authenticated {
                user: UserBody::new(user),
                methods: MethodBody::of(user, session),
            },
            AuthenticatedMeta {
                is_authenticated: true,
                session_token,
                tokens,
            },
        )
    }
}

/// allauth's unauthenticated states: `401 {data: {flows}, meta: {is_authenticated: false}}`,
/// or for a dead session `410` with `is_authenticated: null`. The `signup` flow is listed only
/// while sign-up is open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthState {
    status: StatusCode,
    is_authenticated: Option<bool>,
    signup_open: bool,
}

#[derive(Serialize)]
struct Flows {
    flows: Vec<Flow>,
}

#[derive(Serialize)]
struct Flow {
    id: &'static str,
}

#[derive(Serialize)]
struct StateMeta {
    is_authenticated: Option<bool>,
}

impl AuthState {
    /// Not authenticated: 401.
    pub(crate) fn anonymous(signup_open: bool) -> AuthState {
        AuthState {
            status: StatusCode::UNAUTHORIZED,
            is_authenticated: Some(false),
            signup_open,
        }
    }

    /// The session is gone: 410.
    pub(crate) fn gone(signup_open: bool) -> AuthState {
        AuthState {
            status: StatusCode::GONE,
            is_authenticated: None,
            signup_open,
        }
    }

    /// The reply.
    pub(crate) fn reply(self) -> ApiReply {
        let mut flows = vec![Flow { id: "login" }];
        if self.signup_open {
            flows.push(Flow { id: "signup" });
        }
        ApiReply::data_meta(
            self.status,
            Flows { flows },
            StateMeta {
                is_authenticated: self.is_authenticated,
            },
        )
    }
}

/// allauth's `usersessions` `Session`.
#[derive(Debug, Serialize)]
pub(crate) struct SessionBody {
    id: u64,
    created_at: f64,
    last_seen_at: f64,
    is_current: bool,
    user_agent: String,
    ip: String,
}

impl SessionBody {
    /// `session` as listed to the user of `current`.
    pub(crate) fn new(session: SessionInfo, current: &SessionInfo) -> SessionBody {
        SessionBody {
            id: session.no,
            created_at: session.created_at.as_secs_f64(),
            last_seen_at: session.last_seen.as_secs_f64(),
            is_current: session.hash == current.hash,
            user_agent: session.user_agent.unwrap_or_default(),
            ip: session.ip.unwrap_or_default(),
        }
    }
}

/// `tokens/refresh`'s `data`.
#[derive(Debug, Serialize)]
pub(crate) struct Refreshed {
    /// The new access token.
    pub(crate) access_token: String,
    /// The new refresh token, with rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
}

/// `GET config`'s `data`.
#[derive(Debug, Serialize)]
pub(crate) struct ConfigBody {
    /// The `account` section.
    pub(crate) account: AccountConfig,
}

/// `GET config`'s `data.account`.
#[derive(Debug, Serialize)]
pub(crate) struct AccountConfig {
    /// Always `["email"]`.
    pub(crate) login_methods: &'static [&'static str],
    /// `HALLPASS_SIGNUP_OPEN`.
    pub(crate) is_open_for_signup: bool,
    /// No e-mail verification by code yet.
    pub(crate) email_verification_by_code_enabled: bool,
    /// No login by code yet.
    pub(crate) login_by_code_enabled: bool,
    /// No password reset by code yet.
    pub(crate) password_reset_by_code_enabled: bool,
    /// Always `email`.
    pub(crate) authentication_method: &'static str,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn members(reply: &ApiReply) -> Value {
        Value::Object(reply.envelope_members().cloned().unwrap_or_default())
    }

    #[test]
    fn anonymous_and_gone_bodies() {
        let r = AuthState::anonymous(true).reply();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            members(&r),
            json!({"data": {"flows": [{"id": "login"}, {"id": "signup"}]}, "meta": {"is_authenticated": false}})
        );
        let r = AuthState::gone(false).reply();
        assert_eq!(r.status, StatusCode::GONE);
        assert_eq!(
            members(&r),
            json!({"data": {"flows": [{"id": "login"}]}, "meta": {"is_authenticated": null}})
        );
    }

    #[test]
    fn a_password_method_is_tagged() {
        let m = MethodBody::Password {
            at: 1.5,
            email: "a@b.c",
        };
        assert_eq!(
            serde_json::to_value(m).ok(),
            Some(json!({"method": "password", "at": 1.5, "email": "a@b.c"}))
        );
    }
}
