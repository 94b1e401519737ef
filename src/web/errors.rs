//! Every wire error the facade sends: each code and message is written here and nowhere else.
//!
//! [`ApiError`] is every way a request can fail, before it is decided what the client sees;
//! [`ApiError::reply`] is the single `match` from failure to status and body. The field-error
//! constructors below word the typed problems of the layers underneath (an e-mail address
//! refused, a password validator failed) as django-allauth does, verbatim. Storage failures
//! and bugs become 503 and their details go only to `tracing`.

use std::convert::Infallible;

use warp::http::StatusCode;
use warp::reply::Response;

use crate::accounts::{EmailError, PasswordProblem, UserAttribute};
use crate::engine::EngineError;
use crate::token::IssueError;
use crate::web::flows::{Offered, Pending};
use crate::web::password_gate::GateError;
use crate::web::reply::{ApiReply, FieldError};
use crate::web::responses::AuthState;

/// Every way a request can fail.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The body did not arrive within the body-read timeout. [ours]: allauth leaves this to
    /// the web server in front of Django.
    #[error("request body timed out")]
    RequestTimeout,
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
    /// No credentials, or a bearer token that did not verify, or an anonymous session's
    /// token: the 401 anonymous body, with that session's flows in progress.
    #[error("not authenticated")]
    NotAuthenticated {
        /// What the flows list offers.
        offered: Offered,
        /// What the session has in progress.
        pending: Pending,
    },
    /// The credentials named a session that is gone: the 410 body.
    #[error("session gone")]
    SessionGone {
        /// What the flows list offers.
        offered: Offered,
    },
    /// A sensitive operation on a session that last authenticated longer than
    /// `ACCOUNT_REAUTHENTICATION_TIMEOUT` ago: allauth's 401 with the user, their methods and
    /// the reauthentication flows (built by the endpoint, which holds the session).
    #[error("reauthentication required")]
    ReauthenticationRequired(Box<ApiReply>),
    /// Any refresh failure that is the client's (`400 {status}`).
    #[error("refresh failed")]
    RefreshFailed,
    // --- login by code and reauthentication ---
    /// The endpoint's method is not allowed by the settings (`403 {status}`): a
    /// reauthentication method left out of `ACCOUNT_REAUTHENTICATION_METHODS`.
    #[error("forbidden")]
    Forbidden,
    /// No password slot came free within `HALLPASS_PASSWORD_HASH_WAIT_SECONDS`: argon2 is
    /// saturated and the password was not checked. [ours]: allauth has no such bound.
    ///
    /// 503 with `Retry-After`, not 429: a 429 tells *this client* it sent too many requests
    /// (allauth's per-address and per-account rate limits answer 429 and 400). The gate is
    /// shared by every client, so a user who sent one login is refused because of what
    /// everyone else sent: the server is overloaded (RFC 9110 15.6.4), which is not the
    /// client's fault, and clients and proxies know to retry a 503 later. The body is the one
    /// every other 503 has.
    #[error("password checks saturated")]
    Overloaded,
    /// The engine could not store, or is closed: nothing was applied, a retry may succeed.
    #[error("storage: {0}")]
    Unavailable(EngineError),
    /// A bug or an unexpected runtime failure (engine misuse, token signing, a panicked
    /// blocking task).
    #[error("internal: {0}")]
    Internal(String),
    // --- e-mail addresses and verification ---
    /// A verification mail was asked for but not sent (`PUT account/email` inside the
    /// `confirm_email` cooldown): allauth's bare `403 {status}`.
    #[error("verification mail not sent")]
    VerificationNotSent,
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::EmailTaken => ApiError::Validation(vec![email_taken()]),
            e if e.is_storage() => ApiError::Unavailable(e),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Engine(e) => e.into(),
            IssueError::Signing(e) => ApiError::Internal(format!("token signing: {e}")),
        }
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        match e {
            GateError::Busy { .. } => ApiError::Overloaded,
            GateError::Task(e) => ApiError::Internal(format!("password task: {e}")),
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
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Validation(_) => "validation",
            ApiError::RateLimited => "rate_limited",
            ApiError::TooManyLoginAttempts => "too_many_login_attempts",
            ApiError::Conflict => "conflict",
            ApiError::SignupClosed => "signup_closed",
            ApiError::RefreshFailed => "refresh_failed",
            ApiError::Forbidden => "forbidden",
            ApiError::NotAuthenticated { .. } => "not_authenticated",
            ApiError::SessionGone { .. } => "session_gone",
            ApiError::ReauthenticationRequired(_) => "reauthentication_required",
            ApiError::Overloaded => "overloaded",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
            ApiError::VerificationNotSent => "verification_not_sent",
        }
    }

    /// What the client sees. The only mapping from failures to HTTP in the crate.
    pub(crate) fn reply(&self) -> ApiReply {
        match self {
            ApiError::NotFound => form_errors(StatusCode::NOT_FOUND, "not_found", "Not found."),
            ApiError::MethodNotAllowed => form_errors(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed.",
            ),
            ApiError::PayloadTooLarge => form_errors(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "Request body too large.",
            ),
            ApiError::InvalidBody => {
                form_errors(StatusCode::BAD_REQUEST, "invalid", "Invalid request body.")
            }
            ApiError::RequestTimeout => {
                form_errors(StatusCode::REQUEST_TIMEOUT, "timeout", "Request timeout.")
            }
            ApiError::Validation(errors) => {
                ApiReply::errors(StatusCode::BAD_REQUEST, errors.clone())
            }
            ApiError::RateLimited => ApiReply::bare(StatusCode::TOO_MANY_REQUESTS),
            ApiError::TooManyLoginAttempts => form_errors(
                StatusCode::BAD_REQUEST,
                "too_many_login_attempts",
                "Too many failed login attempts. Try again later.",
            ),
            ApiError::Conflict => ApiReply::bare(StatusCode::CONFLICT),
            ApiError::SignupClosed => {
                form_errors(StatusCode::FORBIDDEN, "signup_closed", "Sign up is closed.")
            }
            ApiError::RefreshFailed => ApiReply::bare(StatusCode::BAD_REQUEST),
            ApiError::Forbidden => ApiReply::bare(StatusCode::FORBIDDEN),
            ApiError::NotAuthenticated { offered, pending } => {
                AuthState::anonymous(*offered, *pending).reply()
            }
            ApiError::SessionGone { offered } => AuthState::gone(*offered).reply(),
            ApiError::ReauthenticationRequired(reply) => (**reply).clone(),
            // Not logged one by one: under a flood there is one per request, and the refusals
            // are counted in `hallpass_password_checks_refused_total`.
            ApiError::Overloaded => unavailable().with_retry_after(OVERLOADED_RETRY_AFTER_SECS),
            ApiError::Unavailable(e) => {
                tracing::error!(error = %e, "storage failure");
                unavailable()
            }
            ApiError::Internal(what) => {
                tracing::error!(what = %what, "internal failure");
                unavailable()
            }
            ApiError::VerificationNotSent => ApiReply::bare(StatusCode::FORBIDDEN),
        }
    }
}

/// `Retry-After` of [`ApiError::Overloaded`]. A slot frees every few tens of milliseconds per
/// core, so a second lets the queue move; longer would turn a short burst into a long wait for
/// a client that honours it.
const OVERLOADED_RETRY_AFTER_SECS: u32 = 1;

/// The 503 a client gets for anything that is not its fault: the same body for storage and
/// for bugs, so a failure's cause never shows on the wire.
fn unavailable() -> ApiReply {
    form_errors(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Service temporarily unavailable. Try again later.",
    )
}

/// `{status, errors: [{code, message}]}`: one error about the request as a whole.
fn form_errors(status: StatusCode, code: &'static str, message: &str) -> ApiReply {
    ApiReply::errors(
        status,
        vec![FieldError {
            message: message.to_owned(),
            code,
            param: None,
        }],
    )
}

fn field(param: &'static str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        message: message.into(),
        code,
        param: Some(param),
    }
}

/// Django's `required` for field `param`.
pub(crate) fn required(param: &'static str) -> FieldError {
    field(param, "required", "This field is required.")
}

/// A field of the wrong JSON type.
pub(crate) fn invalid_value(param: &'static str) -> FieldError {
    field(param, "invalid", "Enter a valid value.")
}

/// An e-mail address `normalize_email` refused, as Django's `EmailField` words it.
pub(crate) fn email(problem: &EmailError) -> FieldError {
    match problem {
        EmailError::Empty => required("email"),
        EmailError::TooLong { .. } | EmailError::Invalid => {
            field("email", "invalid", "Enter a valid email address.")
        }
    }
}

/// A password validator's failure, as Django's validators word it.
pub(crate) fn password(problem: &PasswordProblem) -> FieldError {
    match problem {
        PasswordProblem::TooSimilar(attribute) => field(
            "password",
            "password_too_similar",
            format!(
                "The password is too similar to the {}.",
                verbose_name(*attribute)
            ),
        ),
        PasswordProblem::TooShort { min_length } => {
            let noun = if *min_length == 1 {
                "character"
            } else {
                "characters"
            };
            field(
                "password",
                "password_too_short",
                format!(
                    "This password is too short. It must contain at least {min_length} {noun}."
                ),
            )
        }
        PasswordProblem::TooCommon => field(
            "password",
            "password_too_common",
            "This password is too common.",
        ),
        PasswordProblem::EntirelyNumeric => field(
            "password",
            "password_entirely_numeric",
            "This password is entirely numeric.",
        ),
    }
}

/// The Django `User` model's verbose name of an attribute, as its messages name it.
fn verbose_name(attribute: UserAttribute) -> &'static str {
    match attribute {
        UserAttribute::Username => "username",
        UserAttribute::FirstName => "first name",
        UserAttribute::LastName => "last name",
        UserAttribute::Email => "email address",
    }
}

/// A password over the byte limit hashing takes. [ours]: allauth has no such limit.
pub(crate) fn password_too_long(max_bytes: usize) -> FieldError {
    field(
        "password",
        "invalid",
        format!("Ensure this value has at most {max_bytes} bytes."),
    )
}

/// Sign-up with an address a user already has.
pub(crate) fn email_taken() -> FieldError {
    field(
        "email",
        "email_taken",
        "A user is already registered with this email address.",
    )
}

/// A login whose e-mail and password do not match an account (whichever is wrong).
pub(crate) fn email_password_mismatch() -> FieldError {
    field(
        "password",
        "email_password_mismatch",
        "The email address and/or password you specified are not correct.",
    )
}

/// Django's `invalid_choice` of `ModelMultipleChoiceField` for `sessions`: `value` (as Python
/// prints it) is not one of the user's live sessions.
pub(crate) fn invalid_session_choice(value: &str) -> FieldError {
    field(
        "sessions",
        "invalid_choice",
        format!("Select a valid choice. {value} is not one of the available choices."),
    )
}

/// Django's `invalid_list` of `ModelMultipleChoiceField` for `sessions`.
pub(crate) fn invalid_session_list() -> FieldError {
    field("sessions", "invalid_list", "Enter a list of values.")
}

/// Django's `invalid_pk_value` for `sessions`: `text` is not an integer.
pub(crate) fn invalid_session_pk(text: &str) -> FieldError {
    field(
        "sessions",
        "invalid_pk_value",
        format!("\u{201c}{text}\u{201d} is not a valid value."),
    )
}

// --- password change and reset ---

/// `account/password/change` with a `current_password` that is not the user's (or any, for a
/// user without a usable password).
pub(crate) fn enter_current_password() -> FieldError {
    field(
        "current_password",
        "enter_current_password",
        "Please type your current password.",
    )
}

/// A password validator's failure on `new_password` (`account/password/change`).
pub(crate) fn new_password(problem: &PasswordProblem) -> FieldError {
    FieldError {
        param: Some("new_password"),
        ..password(problem)
    }
}

/// A `new_password` over the byte limit hashing takes. [ours]: allauth has no such limit.
pub(crate) fn new_password_too_long(max_bytes: usize) -> FieldError {
    FieldError {
        param: Some("new_password"),
        ..password_too_long(max_bytes)
    }
}

/// A password reset link key that is unknown, used, expired or voided by a password change.
pub(crate) fn invalid_password_reset() -> FieldError {
    field(
        "key",
        "invalid_password_reset",
        "The password reset token was invalid.",
    )
}

// --- login by code and reauthentication ---

/// A code that is not the one sent (or no code is pending for a known user), on `param`.
pub(crate) fn incorrect_code(param: &'static str) -> FieldError {
    field(param, "incorrect_code", "Incorrect code.")
}

/// `auth/reauthenticate` with a password that is not the user's.
pub(crate) fn incorrect_password() -> FieldError {
    field("password", "incorrect_password", "Incorrect password.")
}

/// allauth's account adapter's `unknown_email` (reauthentication by code to an address that
/// is not one of the user's verified ones; login by code to an unknown address without
/// enumeration prevention). Not the headless adapter's "Unknown email address." of
/// `account/email`.
pub(crate) fn email_not_assigned() -> FieldError {
    field(
        "email",
        "unknown_email",
        "The email address is not assigned to any user account.",
    )
}

/// `unknown_phone`: hallpass keeps no phone numbers, so none is ever assigned.
pub(crate) fn phone_not_assigned() -> FieldError {
    field(
        "phone",
        "unknown_phone",
        "The phone number is not assigned to any user account.",
    )
}

/// `too_many_login_attempts` on a field: the `request_login_code` limit (on `email`), the
/// failed-login limit met by a reauthentication password (on `password`).
pub(crate) fn too_many_login_attempts_on(param: &'static str) -> FieldError {
    field(
        param,
        "too_many_login_attempts",
        "Too many failed login attempts. Try again later.",
    )
}

/// Django's `required` about the form as a whole (no `param`): neither of two optional fields
/// was given.
pub(crate) fn required_one_of() -> FieldError {
    FieldError {
        message: "This field is required.".to_owned(),
        code: "required",
        param: None,
    }
}

/// allauth's `select_only_one` (no `param`): both of two exclusive fields were given.
pub(crate) fn select_only_one() -> FieldError {
    FieldError {
        message: "Please select only one.".to_owned(),
        code: "select_only_one",
        param: None,
    }
}

// --- e-mail addresses and verification ---

/// `POST account/email` with an address the user already has (any case).
pub(crate) fn duplicate_email() -> FieldError {
    field(
        "email",
        "duplicate_email",
        "This email address is already associated with this account.",
    )
}

/// `POST account/email` beyond `ACCOUNT_MAX_EMAIL_ADDRESSES`.
pub(crate) fn max_email_addresses(max: usize) -> FieldError {
    field(
        "email",
        "max_email_addresses",
        format!("You cannot add more than {max} email addresses."),
    )
}

/// `PUT`, `PATCH` or `DELETE account/email` with an address the user does not have.
pub(crate) fn unknown_email() -> FieldError {
    field("email", "unknown_email", "Unknown email address.")
}

/// `PATCH account/email`: an unverified address while the user has a verified one.
pub(crate) fn unverified_primary_email() -> FieldError {
    field(
        "email",
        "unverified_primary_email",
        "Your primary email address must be verified.",
    )
}

/// `DELETE account/email` of the primary address.
pub(crate) fn cannot_remove_primary_email() -> FieldError {
    field(
        "email",
        "cannot_remove_primary_email",
        "You cannot remove your primary email address.",
    )
}

/// `auth/email/verify` with a link key that is unknown, expired, used, or whose address is
/// verified or gone.
pub(crate) fn invalid_or_expired_key() -> FieldError {
    field("key", "invalid_or_expired_key", "Invalid or expired key.")
}

/// `auth/email/verify`: the address became another user's before it was verified.
pub(crate) fn verify_email_taken() -> FieldError {
    field(
        "key",
        "email_taken",
        "A user is already registered with this email address.",
    )
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
    use serde_json::{Value, json};

    use super::*;

    fn members(reply: &ApiReply) -> Value {
        Value::Object(reply.envelope_members().cloned().unwrap_or_default())
    }

    #[test]
    fn errors_carry_param_only_when_about_a_field() {
        let reply = ApiError::Validation(vec![required("email")]).reply();
        assert_eq!(
            members(&reply),
            json!({"errors": [{"message": "This field is required.", "code": "required", "param": "email"}]})
        );
        let reply = ApiError::TooManyLoginAttempts.reply();
        assert!(members(&reply)["errors"][0].get("param").is_none());
    }

    #[test]
    fn a_body_too_slow_is_a_408_envelope() {
        let reply = ApiError::RequestTimeout.reply();
        assert_eq!(reply.status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            members(&reply),
            json!({"errors": [{"message": "Request timeout.", "code": "timeout"}]})
        );
        assert_eq!(ApiError::RequestTimeout.reason(), "request_timeout");
    }

    #[test]
    fn storage_failure_and_bugs_are_503_never_500() {
        let storage = ApiError::from(EngineError::Closed);
        assert_eq!(storage.reason(), "unavailable");
        let bug = ApiError::from(EngineError::UnknownUser {
            user: crate::event::UserId(7),
        });
        assert_eq!(bug.reason(), "internal");
        assert_eq!(storage.reply(), bug.reply(), "the cause never shows");
        assert_eq!(bug.reply().status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn saturated_password_checks_are_the_503_envelope_with_retry_after() {
        let overloaded = ApiError::from(GateError::Busy {
            wait: std::time::Duration::from_secs(5),
        });
        assert_eq!(overloaded.reason(), "overloaded");
        let reply = overloaded.reply();
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            members(&reply),
            json!({"errors": [{
                "message": "Service temporarily unavailable. Try again later.",
                "code": "unavailable",
            }]})
        );
        assert_eq!(reply.retry_after_secs, Some(1));
        assert_eq!(
            ApiError::from(EngineError::Closed).reply().retry_after_secs,
            None
        );
    }

    #[test]
    fn email_problems_are_worded_as_django() {
        let e = email(&EmailError::Invalid);
        assert_eq!(
            (e.code, e.message.as_str()),
            ("invalid", "Enter a valid email address.")
        );
        let e = email(&EmailError::TooLong { len: 300 });
        assert_eq!(
            (e.code, e.message.as_str()),
            ("invalid", "Enter a valid email address.")
        );
        let e = email(&EmailError::Empty);
        assert_eq!(
            (e.code, e.message.as_str()),
            ("required", "This field is required.")
        );
    }

    #[test]
    fn password_problems_are_worded_as_django() {
        let cases = [
            (
                PasswordProblem::TooShort { min_length: 8 },
                "password_too_short",
                "This password is too short. It must contain at least 8 characters.",
            ),
            (
                PasswordProblem::TooShort { min_length: 1 },
                "password_too_short",
                "This password is too short. It must contain at least 1 character.",
            ),
            (
                PasswordProblem::TooCommon,
                "password_too_common",
                "This password is too common.",
            ),
            (
                PasswordProblem::EntirelyNumeric,
                "password_entirely_numeric",
                "This password is entirely numeric.",
            ),
            (
                PasswordProblem::TooSimilar(UserAttribute::Email),
                "password_too_similar",
                "The password is too similar to the email address.",
            ),
            (
                PasswordProblem::TooSimilar(UserAttribute::Username),
                "password_too_similar",
                "The password is too similar to the username.",
            ),
            (
                PasswordProblem::TooSimilar(UserAttribute::FirstName),
                "password_too_similar",
                "The password is too similar to the first name.",
            ),
            (
                PasswordProblem::TooSimilar(UserAttribute::LastName),
                "password_too_similar",
                "The password is too similar to the last name.",
            ),
        ];
        for (problem, code, message) in cases {
            let e = password(&problem);
            assert_eq!(
                (e.code, e.message.as_str(), e.param),
                (code, message, Some("password"))
            );
        }
    }
}
