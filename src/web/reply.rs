//! The wire envelope, and the one place that decides what a failure looks like over HTTP.
//!
//! Every response, success or failure, passes through [`ApiReply::into_response`], which sets
//! the status, a body whose `status` equals it, and the cache headers allauth sends
//! (`Content-Type`, `Cache-Control`, `Expires`). [`ApiError::reply`] is the single `match` from
//! failure to status and error code; storage failures become 503 and their details go only to
//! `tracing`.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::clock::Timestamp;
use crate::engine::EngineError;
use crate::token::IssueError;

/// `Cache-Control` on every response, as allauth's `never_cache`.
const CACHE_CONTROL: &str = "max-age=0, no-cache, no-store, must-revalidate, private";

/// One response, before it is put on the wire: a status and a JSON body carrying it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiReply {
    /// The HTTP status; also the body's `status` member.
    pub(crate) status: StatusCode,
    /// The body without `status` (that is added on the way out).
    pub(crate) body: Map<String, Value>,
}

impl ApiReply {
    /// `{status, data, meta?}`.
    pub(crate) fn data(status: StatusCode, data: Value, meta: Option<Value>) -> ApiReply {
        let mut body = Map::new();
        body.insert("data".into(), data);
        if let Some(meta) = meta {
            body.insert("meta".into(), meta);
        }
        ApiReply { status, body }
    }

    /// `{status, errors: [...]}`.
    pub(crate) fn errors(status: StatusCode, errors: Vec<FieldError>) -> ApiReply {
        let errors = errors.into_iter().map(FieldError::into_json).collect();
        let mut body = Map::new();
        body.insert("errors".into(), Value::Array(errors));
        ApiReply { status, body }
    }

    /// The bare `{status}`.
    pub(crate) fn bare(status: StatusCode) -> ApiReply {
        ApiReply {
            status,
            body: Map::new(),
        }
    }

    /// allauth's anonymous authentication state: `401 {data: {flows}, meta:
    /// {is_authenticated: false}}`, with the `signup` flow only while sign-up is open.
    pub(crate) fn anonymous(signup_open: bool) -> ApiReply {
        ApiReply::data(
            StatusCode::UNAUTHORIZED,
            json!({ "flows": flows(signup_open) }),
            Some(json!({ "is_authenticated": false })),
        )
    }

    /// The dead-session state: `410`, the anonymous body with `is_authenticated: null`.
    pub(crate) fn gone(signup_open: bool) -> ApiReply {
        ApiReply::data(
            StatusCode::GONE,
            json!({ "flows": flows(signup_open) }),
            Some(json!({ "is_authenticated": null })),
        )
    }

    /// The wire response, with the envelope's `status` and the headers every response carries.
    /// `now` (the engine's clock) is the `Expires` date.
    pub(crate) fn into_response(self, now: Timestamp) -> Response {
        let mut body = Map::new();
        body.insert("status".into(), json!(self.status.as_u16()));
        body.extend(self.body);
        let bytes = Value::Object(body).to_string();
        let mut response = Response::new(bytes.into());
        *response.status_mut() = self.status;
        set_common_headers(&mut response, now);
        response
    }
}

/// Sets `Content-Type`, `Cache-Control` and `Expires` on `response`.
pub(crate) fn set_common_headers(response: &mut Response, now: Timestamp) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    let millis = u64::try_from(now.as_millis()).unwrap_or(0);
    let date = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_millis(millis));
    if let Ok(value) = HeaderValue::from_str(&date) {
        headers.insert(header::EXPIRES, value);
    }
}

/// One entry of an `errors` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// Stable machine-readable code, e.g. `required`.
    pub(crate) code: &'static str,
    /// English message, as allauth's.
    pub(crate) message: String,
    /// The input field, if the error is about one.
    pub(crate) param: Option<&'static str>,
}

impl FieldError {
    /// An error about field `param`.
    pub(crate) fn field(
        param: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            code,
            message: message.into(),
            param: Some(param),
        }
    }

    /// `required` for field `param`.
    pub(crate) fn required(param: &'static str) -> Self {
        FieldError::field(param, "required", "This field is required.")
    }

    fn into_json(self) -> Value {
        let mut entry = Map::new();
        entry.insert("message".into(), Value::String(self.message));
        entry.insert("code".into(), Value::String(self.code.into()));
        if let Some(param) = self.param {
            entry.insert("param".into(), Value::String(param.into()));
        }
        Value::Object(entry)
    }
}

/// Every way a request can fail, before it is decided what the client sees.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ApiError {
    /// No such endpoint.
    #[error("not found")]
    NotFound,
    /// The endpoint exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is over the size limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body is not a JSON object of the expected shape.
    #[error("invalid request body")]
    InvalidBody,
    /// Field-level validation failures.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Rate limited (`429 {status}`).
    #[error("rate limited")]
    RateLimited,
    /// Too many failed logins for this e-mail or address.
    #[error("too many failed login attempts")]
    TooManyLoginAttempts,
    /// Already authenticated (`409 {status}`).
    #[error("already authenticated")]
    Conflict,
    /// Sign-up is closed.
    #[error("sign-up is closed")]
    SignupClosed,
    /// No credentials, or a bearer token that did not verify: the 401 anonymous body.
    #[error("not authenticated")]
    NotAuthenticated {
        /// Whether the `signup` flow is listed.
        signup_open: bool,
    },
    /// The credentials named a session that is gone: the 410 body.
    #[error("session gone")]
    SessionGone {
        /// Whether the `signup` flow is listed.
        signup_open: bool,
    },
    /// Any refresh failure that is the client's (`400 {status}`).
    #[error("refresh failed")]
    RefreshFailed,
    /// The engine could not store or is closed.
    #[error("engine: {0}")]
    Engine(EngineError),
    /// A bug or an unexpected runtime failure (a panicked blocking task).
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError::Engine(e)
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Engine(e) => ApiError::Engine(e),
            IssueError::Signing(_) => ApiError::Internal("token signing"),
        }
    }
}

impl ApiError {
    /// The metric label for this failure.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::InvalidBody => "invalid_body",
            ApiError::Validation(_) => "validation",
            ApiError::RateLimited => "rate_limited",
            ApiError::TooManyLoginAttempts => "too_many_login_attempts",
            ApiError::Conflict => "conflict",
            ApiError::SignupClosed => "signup_closed",
            ApiError::RefreshFailed => "refresh_failed",
            ApiError::NotAuthenticated { .. } => "not_authenticated",
            ApiError::SessionGone { .. } => "session_gone",
            ApiError::Engine(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// What the client sees. The only mapping from failures to HTTP in the crate.
    pub(crate) fn reply(&self) -> ApiReply {
        match self {
            ApiError::NotFound => ApiReply::errors(
                StatusCode::NOT_FOUND,
                vec![form_error("not_found", "Not found.")],
            ),
            ApiError::MethodNotAllowed => ApiReply::errors(
                StatusCode::METHOD_NOT_ALLOWED,
                vec![form_error("method_not_allowed", "Method not allowed.")],
            ),
            ApiError::PayloadTooLarge => ApiReply::errors(
                StatusCode::PAYLOAD_TOO_LARGE,
                vec![form_error("too_large", "Request body too large.")],
            ),
            ApiError::InvalidBody => ApiReply::errors(
                StatusCode::BAD_REQUEST,
                vec![form_error("invalid", "Invalid request body.")],
            ),
            ApiError::Validation(errors) => {
                ApiReply::errors(StatusCode::BAD_REQUEST, errors.clone())
            }
            ApiError::RateLimited => ApiReply::bare(StatusCode::TOO_MANY_REQUESTS),
            ApiError::TooManyLoginAttempts => ApiReply::errors(
                StatusCode::BAD_REQUEST,
                vec![form_error(
                    "too_many_login_attempts",
                    "Too many failed login attempts. Try again later.",
                )],
            ),
            ApiError::Conflict => ApiReply::bare(StatusCode::CONFLICT),
            ApiError::SignupClosed => ApiReply::errors(
                StatusCode::FORBIDDEN,
                vec![form_error("signup_closed", "Sign up is closed.")],
            ),
            ApiError::RefreshFailed => ApiReply::bare(StatusCode::BAD_REQUEST),
            ApiError::NotAuthenticated { signup_open } => ApiReply::anonymous(*signup_open),
            ApiError::SessionGone { signup_open } => ApiReply::gone(*signup_open),
            ApiError::Engine(e) => {
                tracing::error!(error = %e, "engine failure");
                ApiReply::errors(
                    StatusCode::SERVICE_UNAVAILABLE,
                    vec![form_error(
                        "unavailable",
                        "Service temporarily unavailable. Try again later.",
                    )],
                )
            }
            ApiError::Internal(what) => {
                tracing::error!(what, "internal failure");
                ApiReply::errors(
                    StatusCode::SERVICE_UNAVAILABLE,
                    vec![form_error(
                        "unavailable",
                        "Service temporarily unavailable. Try again later.",
                    )],
                )
            }
        }
    }
}

fn flows(signup_open: bool) -> Value {
    if signup_open {
        json!([{"id": "login"}, {"id": "signup"}])
    } else {
        json!([{"id": "login"}])
    }
}

fn form_error(code: &'static str, message: &str) -> FieldError {
    FieldError {
        code,
        message: message.into(),
        param: None,
    }
}

/// Turns any warp rejection that escaped the facade into an envelope, never warp's text.
///
/// The facade's own filter does not reject, so this is a safety net; it uses the system clock
/// for `Expires` only because a rejection carries no engine.
pub(crate) async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    let error = if rejection.is_not_found() {
        ApiError::NotFound
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::PayloadTooLarge
    } else {
        ApiError::InvalidBody
    };
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    Ok(error.reply().into_response(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_status_equals_http_status_and_headers_are_set() {
        let response = ApiError::RateLimited
            .reply()
            .into_response(Timestamp::from_secs(0));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        assert_eq!(h[header::CACHE_CONTROL], CACHE_CONTROL);
        assert_eq!(h[header::EXPIRES], "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn errors_carry_param_only_when_about_a_field() {
        let reply = ApiError::Validation(vec![FieldError::required("email")]).reply();
        assert_eq!(
            Value::Object(reply.body),
            json!({"errors": [{"message": "This field is required.", "code": "required", "param": "email"}]})
        );
        let reply = ApiError::TooManyLoginAttempts.reply();
        assert!(reply.body["errors"][0].get("param").is_none());
    }

    #[test]
    fn storage_failure_is_503_never_500() {
        let reply = ApiError::Engine(EngineError::Closed).reply();
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
