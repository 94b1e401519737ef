//! One request as the endpoints see it, and the headers they read: the credential headers,
//! `User-Agent`, `X-Request-Id`, and the client's address as the proxy settings find it.
//!
//! Credentials come only from `X-Session-Token` and `Authorization`, never the query string or
//! a cookie; the facade and the protected-route filter read them through [`credentials`].

use std::net::IpAddr;

use bytes::Bytes;
use warp::http::{HeaderMap, Method, header};

use crate::engine::SessionMeta;
use crate::event::AuthMethod;
use crate::token::RequestCredentials;
use crate::web::route::Route;

/// Stands in for a credential header that is present but not visible ASCII: it can never be
/// a session key (those are `[a-z0-9]`), so such an `X-Session-Token` is a dead session, as
/// any other unknown token, rather than no token at all.
const UNREADABLE: &str = "!";

/// One request, its body read whole.
#[derive(Debug)]
pub(crate) struct Request {
    /// The matched route.
    pub(crate) route: Route,
    /// The method (an allowed one for `route`).
    pub(crate) method: Method,
    /// The request headers.
    pub(crate) headers: HeaderMap,
    /// The client's address: the peer's, or behind trusted proxies the one they report (see
    /// `client_ip`); `None` when unknown. Per-address rate limits take it as it is (the limiter
    /// counts IPv6 clients by network).
    pub(crate) client: Option<IpAddr>,
    /// The whole body (at most the server's body limit).
    pub(crate) body: Bytes,
}

impl Request {
    /// The credential headers.
    pub(crate) fn credentials(&self) -> RequestCredentials<'_> {
        credentials(&self.headers)
    }

    /// What a session begun by this request records about it.
    pub(crate) fn session_meta(&self, method: AuthMethod) -> SessionMeta {
        SessionMeta {
            method,
            user_agent: self
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ip: self.client.map(|ip| ip.to_string()),
        }
    }
}

/// The credential headers of `headers`. Empty headers count as absent.
pub(crate) fn credentials(headers: &HeaderMap) -> RequestCredentials<'_> {
    let text = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or(UNREADABLE))
            .filter(|v| !v.is_empty())
    };
    RequestCredentials {
        session_token: text("x-session-token"),
        authorization: text(header::AUTHORIZATION.as_str()),
    }
}

/// The client's `X-Request-Id` if it is short and plain, else a fresh random one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    let given = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    match given {
        Some(id) => id.to_owned(),
        None => crate::crypto::random_bytes::<8>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use warp::http::HeaderValue;

    use super::*;

    #[test]
    fn empty_headers_are_absent_and_unreadable_ones_dead() {
        let mut headers = HeaderMap::new();
        headers.insert("x-session-token", HeaderValue::from_static(""));
        assert_eq!(credentials(&headers).session_token, None);
        headers.insert(
            "x-session-token",
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is a valid header value"),
        );
        assert_eq!(credentials(&headers).session_token, Some(UNREADABLE));
    }

    #[test]
    fn request_ids_are_kept_only_when_plain() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("abc-123_X"));
        assert_eq!(request_id(&headers), "abc-123_X");
        headers.insert("x-request-id", HeaderValue::from_static("a b"));
        assert_eq!(request_id(&headers).len(), 16);
    }
}
