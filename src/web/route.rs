//! The URL map: which paths exist, which methods they take, and their metric names.
//!
//! Routing is done by hand over the full path rather than by composing warp filters, so that
//! an unknown path is a 404 envelope and a known path with the wrong method a 405 envelope,
//! decided in one place, with no warp rejection text reaching a client.

use warp::http::Method;

/// The API root, as allauth's for `HEADLESS_CLIENTS = ("app",)`.
pub(crate) const API_ROOT: &str = "/_allauth/app/v1";

/// Every endpoint the facade serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET {API_ROOT}/config`.
    Config,
    /// `POST {API_ROOT}/auth/signup`.
    Signup,
    /// `POST {API_ROOT}/auth/login`.
    Login,
    /// `GET` (state) and `DELETE` (logout) `{API_ROOT}/auth/session`.
    Session,
    /// `GET` (list) and `DELETE` (end some) `{API_ROOT}/auth/sessions`.
    Sessions,
    /// `POST {API_ROOT}/tokens/refresh`.
    Refresh,
    // --- password change and reset ---
    /// `POST {API_ROOT}/account/password/change`.
    PasswordChange,
    /// `POST {API_ROOT}/auth/password/request`.
    PasswordRequest,
    /// `GET` (check the key or code) and `POST` (set the password)
    /// `{API_ROOT}/auth/password/reset`.
    PasswordReset,
    // --- login by code and reauthentication ---
    /// `POST {API_ROOT}/auth/code/request` (only with `ACCOUNT_LOGIN_BY_CODE_ENABLED`).
    LoginCodeRequest,
    /// `POST {API_ROOT}/auth/code/confirm`.
    LoginCodeConfirm,
    /// `POST {API_ROOT}/auth/code/resend` (only with `ACCOUNT_LOGIN_BY_CODE_ENABLED`).
    LoginCodeResend,
    /// `POST {API_ROOT}/auth/reauthenticate`.
    Reauthenticate,
    /// `POST {API_ROOT}/auth/reauthenticate/code/request`.
    ReauthenticationCodeRequest,
    /// `POST {API_ROOT}/auth/reauthenticate/code/confirm`.
    ReauthenticationCodeConfirm,
    /// `POST {API_ROOT}/auth/reauthenticate/code/resend`.
    ReauthenticationCodeResend,
    // --- end login by code and reauthentication ---
    /// `GET /.well-known/jwks.json`.
    Jwks,
    // --- e-mail addresses and verification ---
    /// `GET` (list), `POST` (add), `PUT` (resend), `PATCH` (make primary), `DELETE` (remove)
    /// `{API_ROOT}/account/email`.
    Email,
    /// `GET` (inspect) and `POST` (verify) `{API_ROOT}/auth/email/verify`.
    EmailVerify,
    /// `POST {API_ROOT}/auth/email/verify/resend` (verification by code).
    EmailVerifyResend,
    /// `GET /metrics`.
    Metrics,
    /// `GET /healthz`: the process is up and answering.
    Healthz,
    /// `GET /readyz`: writes reach the disk.
    Readyz,
}

impl Route {
    /// The route for `path`, if any. Query strings are not part of `path`.
    pub(crate) fn parse(path: &str) -> Option<Route> {
        if let Some(rest) = path.strip_prefix(API_ROOT) {
            return match rest {
                "/config" => Some(Route::Config),
                "/auth/signup" => Some(Route::Signup),
                "/auth/login" => Some(Route::Login),
                "/auth/session" => Some(Route::Session),
                "/auth/sessions" => Some(Route::Sessions),
                "/tokens/refresh" => Some(Route::Refresh),
                // --- password change and reset ---
                "/account/password/change" => Some(Route::PasswordChange),
                "/auth/password/request" => Some(Route::PasswordRequest),
                "/auth/password/reset" => Some(Route::PasswordReset),
                // --- login by code and reauthentication ---
                "/auth/code/request" => Some(Route::LoginCodeRequest),
                "/auth/code/confirm" => Some(Route::LoginCodeConfirm),
                "/auth/code/resend" => Some(Route::LoginCodeResend),
                "/auth/reauthenticate" => Some(Route::Reauthenticate),
                "/auth/reauthenticate/code/request" => Some(Route::ReauthenticationCodeRequest),
                "/auth/reauthenticate/code/confirm" => Some(Route::ReauthenticationCodeConfirm),
                "/auth/reauthenticate/code/resend" => Some(Route::ReauthenticationCodeResend),
                "/account/email" => Some(Route::Email),
                "/auth/email/verify" => Some(Route::EmailVerify),
                "/auth/email/verify/resend" => Some(Route::EmailVerifyResend),
                _ => None,
            };
        }
        match path {
            "/.well-known/jwks.json" => Some(Route::Jwks),
            "/metrics" => Some(Route::Metrics),
            "/healthz" => Some(Route::Healthz),
            "/readyz" => Some(Route::Readyz),
            _ => None,
        }
    }

    /// Whether the route exists only with `ACCOUNT_LOGIN_BY_CODE_ENABLED`: allauth mounts
    /// `auth/code/request` and `auth/code/resend` only then (404 otherwise), but
    /// `auth/code/confirm` always (409 without a pending code).
    pub(crate) fn needs_login_by_code(self) -> bool {
        matches!(self, Route::LoginCodeRequest | Route::LoginCodeResend)
    }

    /// Whether the route answers `method`.
    pub(crate) fn allows(self, method: &Method) -> bool {
        match self {
            Route::Config | Route::Jwks | Route::Metrics | Route::Healthz | Route::Readyz => {
                method == Method::GET
            }
            Route::Signup | Route::Login | Route::Refresh => method == Method::POST,
            // --- login by code and reauthentication ---
            Route::LoginCodeRequest
            | Route::LoginCodeConfirm
            | Route::LoginCodeResend
            | Route::Reauthenticate
            | Route::ReauthenticationCodeRequest
            | Route::ReauthenticationCodeConfirm
            | Route::ReauthenticationCodeResend => method == Method::POST,
            // --- e-mail addresses and verification ---
            Route::EmailVerifyResend => method == Method::POST,
            Route::Email => [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ]
            .contains(method),
            Route::EmailVerify => method == Method::GET || method == Method::POST,
            Route::Session | Route::Sessions => method == Method::GET || method == Method::DELETE,
            // --- password change and reset ---
            Route::PasswordChange | Route::PasswordRequest => method == Method::POST,
            Route::PasswordReset => method == Method::GET || method == Method::POST,
        }
    }

    /// The metric and log label.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Route::Config => "config",
            Route::Signup => "auth/signup",
            Route::Login => "auth/login",
            Route::Session => "auth/session",
            Route::Sessions => "auth/sessions",
            Route::Refresh => "tokens/refresh",
            // --- login by code and reauthentication ---
            Route::LoginCodeRequest => "auth/code/request",
            Route::LoginCodeConfirm => "auth/code/confirm",
            Route::LoginCodeResend => "auth/code/resend",
            Route::Reauthenticate => "auth/reauthenticate",
            Route::ReauthenticationCodeRequest => "auth/reauthenticate/code/request",
            Route::ReauthenticationCodeConfirm => "auth/reauthenticate/code/confirm",
            Route::ReauthenticationCodeResend => "auth/reauthenticate/code/resend",
            Route::Email => "account/email",
            Route::EmailVerify => "auth/email/verify",
            Route::EmailVerifyResend => "auth/email/verify/resend",
            Route::Jwks => "jwks",
            Route::Metrics => "metrics",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            // --- password change and reset ---
            Route::PasswordChange => "account/password/change",
            Route::PasswordRequest => "auth/password/request",
            Route::PasswordReset => "auth/password/reset",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_paths_only() {
        assert_eq!(Route::parse("/_allauth/app/v1/config"), Some(Route::Config));
        assert_eq!(Route::parse("/_allauth/app/v1/config/"), None);
        assert_eq!(Route::parse("/_allauth/browser/v1/config"), None);
        assert_eq!(Route::parse("/metrics"), Some(Route::Metrics));
        assert_eq!(
            Route::parse("/_allauth/app/v1/tokens/refresh"),
            Some(Route::Refresh)
        );
        assert_eq!(Route::parse("/.well-known/jwks.json"), Some(Route::Jwks));
    }

    #[test]
    fn code_and_reauthentication_routes() {
        for (path, route) in [
            ("/auth/code/request", Route::LoginCodeRequest),
            ("/auth/code/confirm", Route::LoginCodeConfirm),
            ("/auth/code/resend", Route::LoginCodeResend),
            ("/auth/reauthenticate", Route::Reauthenticate),
            (
                "/auth/reauthenticate/code/request",
                Route::ReauthenticationCodeRequest,
            ),
            (
                "/auth/reauthenticate/code/confirm",
                Route::ReauthenticationCodeConfirm,
            ),
            (
                "/auth/reauthenticate/code/resend",
                Route::ReauthenticationCodeResend,
            ),
        ] {
            assert_eq!(Route::parse(&format!("{API_ROOT}{path}")), Some(route));
            assert_eq!(format!("/{}", route.name()), path);
            assert!(route.allows(&Method::POST) && !route.allows(&Method::GET));
        }
        assert!(Route::LoginCodeRequest.needs_login_by_code());
        assert!(!Route::LoginCodeConfirm.needs_login_by_code());
    }

    #[test]
    fn session_takes_get_and_delete_only() {
        assert!(Route::Session.allows(&Method::DELETE));
        assert!(!Route::Session.allows(&Method::POST));
        assert!(!Route::Login.allows(&Method::GET));
    }
}
