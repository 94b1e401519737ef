//! The request pipeline: read the body with a size cap and a deadline, route, run the
//! endpoint, and record one log line and the metrics for every request. Connections are
//! accepted, capped and timed out in `listener`.

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
use crate::web::limits::ServerLimits;
use crate::web::listener;
use crate::web::request::{Request, request_id};
use crate::web::route::Route;

/// Bodies larger than this are refused with 413.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole facade as one warp filter. It never rejects: every request gets an envelope.
///
/// For embedding in a warp server of your own: the client's address is warp's remote address,
/// and a body must arrive within the app's `HALLPASS_HTTP_BODY_TIMEOUT_SECONDS` (30 s unless
/// set). Header and idle timeouts and the connection cap are [`serve_with`]'s; warp's own
/// server has none.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone + Send + Sync + 'static
{
    let body_timeout = ServerLimits::from_config(&app.config).body_read_timeout();
    facade(app, Surface::Api, warp::addr::remote(), body_timeout)
}

/// Which listener a request came in on: what it may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    /// The API's bind: every route, but `/metrics` only while `HALLPASS_METRICS_BIND` is unset.
    Api,
    /// `HALLPASS_METRICS_BIND`: `/metrics`, `/healthz` and `/readyz` only.
    Metrics,
}

impl Surface {
    /// Whether `route` is served on this surface under `app`'s settings; otherwise 404.
    fn serves(self, route: Route, app: &App) -> bool {
        match self {
            Surface::Api => {
                (route != Route::Metrics || app.config.metrics_bind.is_none())
                    && (app.config.login_by_code || !route.needs_login_by_code())
            }
            Surface::Metrics => {
                matches!(route, Route::Metrics | Route::Healthz | Route::Readyz)
            }
        }
    }
}

/// [`routes`] with the client's address from `remote` and bodies read within `body_timeout`.
fn facade<R>(
    app: Arc<App>,
    surface: Surface,
    remote: R,
    body_timeout: Duration,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone + Send + Sync + 'static
where
    R: Filter<Extract = (Option<SocketAddr>,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(remote)
        .and(warp::body::stream())
        .then(
            move |method, path: warp::path::FullPath, headers, remote, body| {
                let app = Arc::clone(&app);
                let path = path.as_str().to_owned();
                async move {
                    let request = Incoming {
                        surface,
                        method,
                        path,
                        headers,
                        remote,
                        body_timeout,
                    };
                    handle(app, request, body).await
                }
            },
        )
        .recover(errors::recover)
}

/// Serves the facade on `listener` with the [`ServerLimits`] of the app's settings
/// ([`ServerLimits::from_config`]) until `shutdown` resolves, then stops accepting and waits
/// for requests in flight. See [`serve_with`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = ServerLimits::from_config(&app.config);
    serve_with(listener, app, limits, shutdown).await;
}

/// Serves the facade on `listener` under `limits` until `shutdown` resolves, then stops
/// accepting, closes connections with no request in progress and waits for the others to
/// finish theirs.
///
/// HTTP/1.1 only (as a reverse proxy speaks to its upstream): a client slow to send its head
/// or body, or a kept-alive connection left idle, is cut off by `limits`' timeouts, and at most
/// `limits.max_connections()` connections are held (see [`ServerLimits`]).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let filter = facade(
        app,
        Surface::Api,
        listener::peer_addr(),
        limits.body_read_timeout(),
    )
    .map(warp::Reply::into_response);
    listener::run(listener, filter, limits, shutdown).await;
}

/// Serves `GET /metrics` (and `/healthz`, `/readyz`, for the same scraper) on `listener`, the
/// bind `HALLPASS_METRICS_BIND` names, with the app's [`ServerLimits`], until `shutdown`
/// resolves. Every other path is 404 here; while `HALLPASS_METRICS_BIND` is set, the API's bind
/// answers `/metrics` with 404.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = ServerLimits::from_config(&app.config);
    let filter = facade(
        app,
        Surface::Metrics,
        listener::peer_addr(),
        limits.body_read_timeout(),
    )
    .map(warp::Reply::into_response);
    listener::run(listener, filter, limits, shutdown).await;
}

/// A request as it arrives, before its body is read.
struct Incoming {
    surface: Surface,
    method: Method,
    path: String,
    headers: HeaderMap,
    remote: Option<SocketAddr>,
    body_timeout: Duration,
}

/// Handles one request end to end; never fails, never panics on input.
async fn handle<S, B>(app: Arc<App>, incoming: Incoming, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let Incoming {
        surface,
        method,
        path,
        headers,
        remote,
        body_timeout,
    } = incoming;
    let started = Instant::now();
    let request_id = request_id(&headers);
    let route = Route::parse(&path).filter(|&route| surface.serves(route, &app));
    let result = match route {
        None => Err(ApiError::NotFound),
        Some(route) if !route.allows(&method) => Err(ApiError::MethodNotAllowed),
        Some(route) => match read_body(&headers, body, body_timeout).await {
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
