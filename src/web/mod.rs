//! The HTTP facade: django-allauth's headless app API (`/_allauth/app/v1`) over warp.
//!
//! Data flows one way: [`routes`] hands every request to `handlers`, which parses it
//! (`dto`), asks the [`Engine`] and the token strategy, and answers through `reply`, the one
//! place that maps failures to HTTP. Every response is a JSON envelope with allauth's cache
//! headers, including 404, 405, 413 and malformed input.

mod auth;
mod client_ip;
pub(crate) mod dto;
mod handlers;
mod metrics;
mod principal;
mod ratelimit;
pub(crate) mod reply;
mod routes;

pub use principal::{Principal, authenticated, recover};

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use warp::Filter;

use crate::Engine;
use crate::config::{Config, ConfigError};
use crate::setup::{self, ConfiguredStrategy};
use crate::token::{JwtTokenStrategy, TokenStrategy};

/// Everything a request handler needs: the engine, the settings, the token strategy, rate
/// limits and metrics.
pub struct App {
    engine: Engine,
    config: Config,
    /// The strategy every request's credentials are resolved with.
    strategy: Arc<dyn TokenStrategy>,
    /// The same strategy when it is allauth's JWT one: the protected-route filter validates
    /// access tokens statelessly with it, and `/.well-known/jwks.json` publishes its keys.
    jwt: Option<Arc<JwtTokenStrategy>>,
    limits: ratelimit::RateLimiter,
    /// How the client's address is found (`ALLAUTH_TRUSTED_PROXY_COUNT`,
    /// `ALLAUTH_TRUSTED_CLIENT_IP_HEADER`): the key of per-address rate limits and the IP a new
    /// session records.
    client_ip: client_ip::ClientIpPolicy,
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
    /// The facade over `engine` with `config`: the token strategy `HEADLESS_TOKEN_STRATEGY`
    /// names, rate limits per `ACCOUNT_RATE_LIMITS`, client addresses per
    /// `ALLAUTH_TRUSTED_PROXY_COUNT` and `ALLAUTH_TRUSTED_CLIENT_IP_HEADER`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the strategy cannot be built (see
    /// [`build_strategy`](crate::build_strategy)): e.g. JWT without `SECRET_KEY`, or a key that does not fit
    /// `HEADLESS_JWT_ALGORITHM`.
    pub fn new(engine: Engine, config: Config) -> Result<App, ConfigError> {
        let strategy = setup::build_strategy(&config)?;
        Ok(App::with_strategy(engine, config, strategy))
    }

    /// The facade with a strategy built elsewhere (a custom [`TokenStrategy`], or a JWT
    /// strategy with custom claims). `config`'s token settings are then not consulted.
    pub fn with_strategy(engine: Engine, config: Config, strategy: ConfiguredStrategy) -> App {
        App {
            limits: ratelimit::RateLimiter::new(config.rate_limits),
            client_ip: client_ip::ClientIpPolicy::new(&config),
            engine,
            config,
            strategy: strategy.strategy,
            jwt: strategy.jwt,
            metrics: metrics::Metrics::default(),
        }
    }

    /// The token strategy.
    pub fn strategy(&self) -> &dyn TokenStrategy {
        self.strategy.as_ref()
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
