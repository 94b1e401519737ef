//! Response bodies, typed: what each endpoint answers, as allauth's OpenAPI schemas name it.
//!
//! Each struct serializes to exactly the JSON allauth sends; an endpoint builds one and hands
//! it to [`ApiReply`]. Keys go out in sorted order (the envelope is a `serde_json` map).

use serde::Serialize;
use serde_json::{Map, Value};
use warp::http::StatusCode;

use crate::clock::Timestamp;
use crate::engine::SessionInfo;
use crate::event::AuthMethod;
use crate::state::User;
use crate::web::flows::{self, FlowBody, Offered, Pending};
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

/// One entry of allauth's `methods`: how the user authenticated when the session began, and
/// each reauthentication since (`reauthenticated: true`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MethodBody<'a> {
    /// `password` or `code`.
    method: &'static str,
    /// When, in float epoch seconds.
    at: f64,
    /// The address logged in with, or the code was sent to (not for a password
    /// reauthentication, as allauth).
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reauthenticated: Option<bool>,
}

impl<'a> MethodBody<'a> {
    /// The `methods` of `session` with its `reauthentications` (oldest first): a sign-up lists
    /// none, a password or code login one entry, then one per reauthentication.
    pub(crate) fn of(
        user: &'a User,
        session: &SessionInfo,
        reauthentications: &[(AuthMethod, Timestamp)],
    ) -> Vec<MethodBody<'a>> {
        let mut out = Vec::with_capacity(1 + reauthentications.len());
        let at = session.created_at.as_secs_f64();
        match session.method {
            AuthMethod::Password => out.push(MethodBody {
                method: "password",
                at,
                email: Some(&user.email),
                reauthenticated: None,
            }),
            AuthMethod::Code => out.push(MethodBody {
                method: "code",
                at,
                email: Some(&user.email),
                reauthenticated: None,
            }),
            _ => {}
        }
        for (method, at) in reauthentications {
            let (method, email) = match method {
                AuthMethod::Code => ("code", Some(user.email.as_str())),
                _ => ("password", None),
            };
            out.push(MethodBody {
                method,
                at: at.as_secs_f64(),
                email,
                reauthenticated: Some(true),
            });
        }
        out
    }
}

/// `200 {data: {user, methods}, meta: {is_authenticated: true, session_token?, ...}}`; or the
/// 401 that asks for reauthentication, which adds `flows`.
#[derive(Debug, Serialize)]
pub(crate) struct Authenticated<'a> {
    user: UserBody<'a>,
    methods: Vec<MethodBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flows: Option<Vec<FlowBody>>,
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
    /// The authenticated state of `user` in `session` (with its `reauthentications`); `minted`
    /// carries the session token and the strategy's token payload when this response began
    /// the session.
    pub(crate) fn reply(
        user: &'a User,
        session: &SessionInfo,
        reauthentications: &[(AuthMethod, Timestamp)],
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
                methods: MethodBody::of(user, session, reauthentications),
                flows: None,
            },
            AuthenticatedMeta {
                is_authenticated: true,
                session_token,
                tokens,
            },
        )
    }

    /// allauth's 401 in front of a sensitive operation: the authenticated state with the
    /// reauthentication `flows`.
    pub(crate) fn reauthentication_required(
        user: &'a User,
        session: &SessionInfo,
        reauthentications: &[(AuthMethod, Timestamp)],
        flows: Vec<FlowBody>,
    ) -> ApiReply {
        ApiReply::data_meta(
            StatusCode::UNAUTHORIZED,
            Authenticated {
                user: UserBody::new(user),
                methods: MethodBody::of(user, session, reauthentications),
                flows: Some(flows),
            },
            AuthenticatedMeta {
                is_authenticated: true,
                session_token: None,
                tokens: Map::new(),
            },
        )
    }
}

/// allauth's unauthenticated states: `401 {data: {flows}, meta: {is_authenticated: false}}`,
/// or for a dead session `410` with `is_authenticated: null`; the flows as
/// [`flows::anonymous`] lists them. A response that began an anonymous session (a pending flow)
/// carries its token in `meta.session_token`.
#[derive(Debug, Clone)]
pub(crate) struct AuthState {
    status: StatusCode,
    is_authenticated: Option<bool>,
    offered: Offered,
    pending: Pending,
    session_token: Option<String>,
}

#[derive(Serialize)]
struct Flows {
    flows: Vec<FlowBody>,
}

#[derive(Serialize)]
struct StateMeta<'a> {
    is_authenticated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<&'a str>,
}

impl AuthState {
    /// Not authenticated: 401, with `pending` flows in progress.
    pub(crate) fn anonymous(offered: Offered, pending: Pending) -> AuthState {
        AuthState {
            status: StatusCode::UNAUTHORIZED,
            is_authenticated: Some(false),
            offered,
            pending,
            session_token: None,
        }
    }

    /// The session is gone: 410.
    pub(crate) fn gone(offered: Offered) -> AuthState {
        AuthState {
            status: StatusCode::GONE,
            is_authenticated: None,
            offered,
            pending: Pending::NONE,
            session_token: None,
        }
    }

    /// With the token of the anonymous session this response began.
    #[expect(
        dead_code,
        reason = "the account endpoints use it; remove this when they land"
    )]
    pub(crate) fn with_session_token(self, token: &str) -> AuthState {
        AuthState {
            session_token: Some(token.to_owned()),
            ..self
        }
    }

    /// The reply.
    pub(crate) fn reply(self) -> ApiReply {
        ApiReply::data_meta(
            self.status,
            Flows {
                flows: flows::anonymous(self.offered, self.pending),
            },
            StateMeta {
                is_authenticated: self.is_authenticated,
                session_token: self.session_token.as_deref(),
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
        let offered = Offered::of(&crate::config::Config::default());
        let r = AuthState::anonymous(offered, Pending::NONE).reply();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            members(&r),
            json!({"data": {"flows": [{"id": "login"}, {"id": "signup"}]}, "meta": {"is_authenticated": false}})
        );
        let r = AuthState::gone(offered).reply();
        assert_eq!(r.status, StatusCode::GONE);
        assert_eq!(
            members(&r),
            json!({"data": {"flows": [{"id": "login"}, {"id": "signup"}]}, "meta": {"is_authenticated": null}})
        );
    }

    #[test]
    fn methods_list_the_login_then_each_reauthentication() {
        let user = User {
            id: crate::event::UserId(1),
            email: "a@b.c".into(),
            username: "a".into(),
            has_usable_password: true,
        };
        let session = SessionInfo {
            hash: crate::event::SessionHash([1; 32]),
            no: 1,
            user: user.id,
            created_at: Timestamp::from_millis(1_500),
            expires_at: Timestamp::from_millis(9_000_000),
            last_seen: Timestamp::from_millis(1_500),
            user_agent: None,
            ip: None,
            method: AuthMethod::Password,
        };
        let reauths = [
            (AuthMethod::Password, Timestamp::from_millis(2_000)),
            (AuthMethod::Code, Timestamp::from_millis(3_000)),
        ];
        assert_eq!(
            serde_json::to_value(MethodBody::of(&user, &session, &reauths)).ok(),
            Some(json!([
                {"method": "password", "at": 1.5, "email": "a@b.c"},
                {"method": "password", "at": 2.0, "reauthenticated": true},
                {"method": "code", "at": 3.0, "email": "a@b.c", "reauthenticated": true},
            ]))
        );
    }
}
