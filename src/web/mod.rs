//! The HTTP facade: django-allauth's headless app API (`/_allauth/app/v1`) over warp.
//!
//! Data flows one way: [`routes`] hands every request to `handlers`, which parses it
//! (`dto`), asks the [`Engine`] and the token strategy, and answers through `reply`, the one
//! place that maps failures to HTTP. Every response is a JSON envelope with allauth's cache
//! headers, including 404, 405, 413 and malformed input.

#[cfg_attr(
    not(test),
    expect(dead_code, reason = "the auth endpoints parse their bodies here")
)]
mod dto;
mod handlers;
mod metrics;
#[expect(dead_code, reason = "the login, signup and refresh endpoints use it")]
mod ratelimit;
mod reply;
mod routes;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use warp::Filter;

use crate::Engine;
use crate::config::Config;

/// Everything a request handler needs: the engine, the settings, rate limits and metrics.
pub struct App {
    engine: Engine,
    config: Config,
    #[expect(dead_code, reason = "the login, signup and refresh endpoints use it")]
    limits: ratelimit::RateLimiter,
    metrics: metrics::Metrics,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl App {
    /// The facade over `engine` with `config` (rate limits per `ACCOUNT_RATE_LIMITS`).
    pub fn new(engine: Engine, config: Config) -> App {
        App {
            limits: ratelimit::RateLimiter::new(config.rate_limits),
            engine,
            config,
            metrics: metrics::Metrics::default(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

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
                async move { handlers::handle(app, method, path, headers, remote, body).await }
            },
        )
        .recover(reply::recover)
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
