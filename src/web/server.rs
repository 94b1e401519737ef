//! The request pipeline: accept, read the body with a size cap, route, run the endpoint, and
//! record one log line and the metrics for every request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, header};
use warp::reply::Response;

use crate::web::app::App;
use crate::web::endpoints;
use crate::web::errors::{self, ApiError};
use crate::web::request::{Request, request_id};
use crate::web::route::Route;

/// Bodies larger than this are refused with 413.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// A body not whole this long after the endpoint starts reading it is answered 408.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole facade as one warp filter. It never rejects: every request gets an envelope.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone + Send + Sync + 'static
{
    warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::body::stream())
        .then(
            move |method, path: warp::path::FullPath, headers, remote, body| {
                let app = Arc::clone(&app);
                let path = path.as_str().to_owned();
                async move { handle(app, method, path, headers, remote, body).await }
            },
        )
        .recover(errors::recover)
}

/// Serves the facade on `listener` until `shutdown` resolves, then stops accepting and waits
/// for requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(routes(app))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}

/// Handles one request end to end; never fails, never panics on input.
async fn handle<S, B>(
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
        Some(route) => match read_body(&headers, body, BODY_READ_TIMEOUT).await {
            Err(e) => Err(e),
            Ok(body) => {
                let client = app
                    .client_ip
                    .client_ip(&headers, remote.map(|addr| addr.ip()));
                let request = Request {
                    route,
                    method: method.clone(),
                    headers,
                    client,
                    body,
                };
                endpoints::dispatch(&app, request).await
            }
        },
    };
    // A client too slow to send its body gets no second chance on this connection: what it
    // sends later would be read as the next request.
    let close = matches!(result, Err(ApiError::RequestTimeout));
    let reply = result.unwrap_or_else(|error| {
        app.metrics.failure(error.reason());
        error.reply()
    });
    let mut response = reply.into_response(app.engine.now());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    if close {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let status = response.status().as_u16();
    let route_name = route.map_or("unknown", Route::name);
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

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] (by `Content-Length` up front,
/// and while reading for chunked bodies) and a body not whole within `timeout` of the start.
async fn read_body<S, B>(headers: &HeaderMap, body: S, timeout: Duration) -> Result<Bytes, ApiError>
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
    tokio::time::timeout(timeout, read_capped(body))
        .await
        .unwrap_or(Err(ApiError::RequestTimeout))
}

/// Reads `body` to its end, refusing more than [`MAX_BODY_BYTES`].
async fn read_capped<S, B>(body: S) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
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
