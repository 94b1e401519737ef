//! [`App`]: what every request handler shares — the engine, the settings, the token strategy,
//! rate limits, the client-address policy, the gate in front of argon2 and the metrics.

use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::crypto::SecretHasher;
use crate::engine::Engine;
use crate::mail::{Mailer, Templates};
use crate::setup::{self, ConfiguredStrategy};
use crate::token::{JwtTokenStrategy, RequestCredentials, Resolved, TokenStrategy, resolve};
use crate::web::client_ip::ClientIpPolicy;
use crate::web::metrics::Metrics;
use crate::web::password_gate::PasswordGate;
use crate::web::ratelimit::RateLimiter;

/// Everything a request handler needs: the engine, the settings, the token strategy, rate
/// limits and metrics.
pub struct App {
    pub(crate) engine: Engine,
    pub(crate) config: Config,
    /// The strategy every request's credentials are resolved with.
    pub(crate) strategy: Arc<dyn TokenStrategy>,
    /// The same strategy when it is allauth's JWT one: the protected-route filter validates
    /// access tokens statelessly with it, and `/.well-known/jwks.json` publishes its keys.
    pub(crate) jwt: Option<Arc<JwtTokenStrategy>>,
    pub(crate) limits: RateLimiter,
    /// How the client's address is found (`ALLAUTH_TRUSTED_PROXY_COUNT`,
    /// `ALLAUTH_TRUSTED_CLIENT_IP_HEADER`): the key of per-address rate limits and the IP a new
    /// session records.
    pub(crate) client_ip: ClientIpPolicy,
    /// At most `HALLPASS_PASSWORD_HASH_CONCURRENCY` argon2 hashes or checks at once; engine
    /// writes never pass it.
    pub(crate) password_gate: PasswordGate,
    /// Digests of codes and link keys, under a key derived from `SECRET_KEY`.
    pub(crate) secrets: SecretHasher,
    /// Renders and seals the messages the account flows send.
    pub(crate) mailer: Mailer,
    pub(crate) metrics: Metrics,
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
    /// [`build_strategy`](crate::build_strategy)): e.g. JWT without `SECRET_KEY`, or a key that
    /// does not fit `HEADLESS_JWT_ALGORITHM`.
    pub fn new(engine: Engine, config: Config) -> Result<App, ConfigError> {
        let strategy = setup::build_strategy(&config)?;
        Ok(App::with_strategy(engine, config, strategy))
    }

    /// The facade with a strategy built elsewhere (a custom [`TokenStrategy`], or a JWT
    /// strategy with custom claims). `config`'s token settings are then not consulted.
    ///
    /// Without `SECRET_KEY` (the session strategy through the library; `serve` always has one)
    /// codes and keys are digested under a key drawn for this process: those issued before a
    /// restart then stop working. Templates that cannot be read from
    /// `HALLPASS_EMAIL_TEMPLATES_DIR` are logged and the built-in ones used; `serve` checks the
    /// directory before it starts.
    pub fn with_strategy(engine: Engine, config: Config, strategy: ConfiguredStrategy) -> App {
        let secrets = match &config.secret_key {
            Some(key) => SecretHasher::new(key.expose().as_bytes()),
            None => SecretHasher::new(&crate::crypto::random_bytes::<32>()),
        };
        let templates = match &config.email_templates_dir {
            Some(dir) => Templates::with_overrides(&config.site_name, &config.subject_prefix(), dir)
                .unwrap_or_else(|e| {
                    tracing::error!(dir = %dir.display(), error = %e, "HALLPASS_EMAIL_TEMPLATES_DIR unreadable; using the built-in templates");
                    Templates::builtin(&config.site_name, &config.subject_prefix())
                }),
            None => Templates::builtin(&config.site_name, &config.subject_prefix()),
        };
        let mailer = Mailer::new(&config, &secrets, templates);
        App {
            secrets,
            mailer,
            limits: RateLimiter::with_limits(
                config.rate_limits,
                config.rate_limit_ipv6_prefix,
                crate::web::ratelimit::DEFAULT_MAX_KEYS,
            ),
            client_ip: ClientIpPolicy::new(&config),
            password_gate: PasswordGate::from_config(&config),
            engine,
            config,
            strategy: strategy.strategy,
            jwt: strategy.jwt,
            metrics: Metrics::default(),
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

    /// The mailer the endpoints seal messages with: the delivery worker opens them with it
    /// and waits on its [`Mailer::wake`].
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// `credentials` resolved by the app's strategy.
    pub(crate) fn resolve(&self, credentials: &RequestCredentials<'_>) -> Resolved {
        resolve(self.strategy.as_ref(), &self.engine, credentials)
    }
}
