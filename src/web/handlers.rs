//! Request handling: read the body with a size cap, route, run the endpoint, and record one
//! log line and the metrics for every request.
//!
//! Blocking work (password hashing, engine writes that wait for fsync) runs in
//! `spawn_blocking` so the async workers stay free.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde_json::json;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use crate::web::reply::{ApiError, ApiReply, set_common_headers};
use crate::web::routes::Route;
use crate::web::{App, auth};

/// Bodies larger than this are refused with 413.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// One request as the endpoints see it.
#[derive(Debug)]
pub(crate) struct Request {
    /// The matched route.
    pub(crate) route: Route,
    /// The method (an allowed one for `route`).
    pub(crate) method: Method,
    /// The request headers.
    pub(crate) headers: HeaderMap,
    /// The client's address, if known.
    pub(crate) remote: Option<SocketAddr>,
    /// The whole body (at most [`MAX_BODY_BYTES`]).
    pub(crate) body: Bytes,
}

/// What an endpoint answers: the JSON envelope, or plain text (metrics).
#[derive(Debug)]
pub(crate) enum Answer {
    /// An envelope.
    Json(ApiReply),
    /// `text/plain` (Prometheus exposition).
    Text(String),
    /// A bare JSON document, not an envelope (the JWKS).
    Document(serde_json::Value),
}

/// Handles one request end to end; never fails, never panics on input.
pub(crate) async fn handle<S, B>(
    app: Arc<App>,
    method: Method,
    path: String,
    headers: HeaderMap,
    remote: Option<SocketAddr>,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let started = Instant::now();
    let request_id = request_id(&headers);
    let route = Route::parse(&path);
    let result = match route {
        None => Err(ApiError::NotFound),
        Some(route) if !route.allows(&method) => Err(ApiError::MethodNotAllowed),
        Some(route) => match read_body(&headers, body).await {
            Err(e) => Err(e),
            Ok(body) => {
                let request = Request {
                    route,
                    method: method.clone(),
                    headers,
                    remote,
                    body,
                };
                dispatch(&app, request).await
            }
        },
    };
    let now = app.engine.now();
    let route_name = route.map_or("unknown", Route::name);
    let mut response = match result {
        Ok(Answer::Json(reply)) => reply.into_response(now),
        Ok(Answer::Text(text)) => {
            let mut response = Response::new(text.into());
            set_common_headers(&mut response, now);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        Ok(Answer::Document(value)) => {
            let mut response = Response::new(value.to_string().into());
            set_common_headers(&mut response, now);
            response
        }
        Err(error) => {
            app.metrics.failure(error.reason());
            error.reply().into_response(now)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    app.metrics.request(route_name, status);
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = route_name,
        status,
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

async fn dispatch(app: &Arc<App>, request: Request) -> Result<Answer, ApiError> {
    let json = |r: Result<ApiReply, ApiError>| r.map(Answer::Json);
    match request.route {
        Route::Config => Ok(Answer::Json(config(app))),
        Route::Signup => json(auth::signup(app, &request).await),
        Route::Login => json(auth::login(app, &request).await),
        Route::Session if request.method == Method::DELETE => {
            json(auth::logout(app, &request).await)
        }
        Route::Session => json(auth::session(app, &request)),
        Route::Sessions if request.method == Method::DELETE => {
            json(auth::end_sessions(app, &request).await)
        }
        Route::Sessions => json(auth::list_sessions(app, &request)),
        Route::Refresh => json(auth::refresh(app, &request).await),
        Route::Jwks => Ok(Answer::Document(match &app.jwt {
            Some(jwt) => jwt.codec().keys().jwks(),
            None => json!({ "keys": [] }),
        })),
        Route::Metrics => Ok(Answer::Text(app.metrics.render(app.engine.stats()))),
    }
}

/// `GET config`.
fn config(app: &App) -> ApiReply {
    ApiReply::data(
        StatusCode::OK,
        json!({
            "account": {
                "login_methods": ["email"],
                "is_open_for_signup": app.config.signup_open,
                "email_verification_by_code_enabled": false,
                "login_by_code_enabled": false,
                "password_reset_by_code_enabled": false,
                "authentication_method": "email",
            }
        }),
        None,
    )
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] (by `Content-Length` up front,
/// and while reading for chunked bodies).
async fn read_body<S, B>(headers: &HeaderMap, body: S) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| ApiError::InvalidBody)?;
        if buf.len() + chunk.remaining() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

/// The client's `X-Request-Id` if it is short and plain, else a fresh random one.
fn request_id(headers: &HeaderMap) -> String {
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
