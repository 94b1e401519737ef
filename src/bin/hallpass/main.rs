//! The `hallpass` command: serve the allauth headless app API, and manage sessions offline.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 invalid settings or arguments.
#![expect(clippy::print_stdout, reason = "a CLI prints its results")]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use hallpass::{
    Algorithm, App, Clock, Config, ConfigError, Engine, RawConfig, RevokeReason,
    RevokeSessionsOutcome, SystemClock, TokenUse, UserId, build_jwt_strategy, build_strategy,
    generate_private_pem,
};

mod settings_file;

/// An embedded session and token engine speaking django-allauth's headless app API.
#[derive(Parser, Debug)]
#[command(name = "hallpass", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API at /_allauth/app/v1.
    #[command(
        after_help = "Settings: see `hallpass serve --help`.",
        after_long_help = RawConfig::settings_help()
    )]
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8000")]
        bind: String,
        #[command(flatten)]
        common: Common,
    },
    /// Inspect or end sessions (stop the server first: the data directory is locked).
    Sessions {
        #[command(subcommand)]
        action: SessionsAction,
        #[command(flatten)]
        common: Common,
    },
    /// Print a new PEM private key for HEADLESS_JWT_PRIVATE_KEY.
    Keygen {
        /// The algorithm the key is for: RS256, ES256 or EdDSA (RS384/RS512 take an RSA key).
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
    /// Work with JWTs using the configured keys.
    Token {
        #[command(subcommand)]
        action: TokenAction,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
enum TokenAction {
    /// Verify a token's signature, expiry and claims; print its payload or why it fails.
    /// Checks only what the token itself proves: not whether its session is still live.
    Verify {
        /// The access or refresh token.
        token: String,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// The data directory (event log, snapshots, generated development keys).
    #[arg(long, default_value = "./hallpass-data", global = true)]
    data_dir: PathBuf,
    /// A TOML settings file with allauth/Django names as keys.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A setting, `NAME=VALUE`; wins over the environment and the file. Repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE", global = true)]
    set: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum SessionsAction {
    /// List a user's live sessions.
    List {
        /// The user's id.
        #[arg(long)]
        user: u64,
    },
    /// End one session of a user, or all of them.
    Revoke {
        /// The user whose session `--session` ends.
        #[arg(long, requires = "session", conflicts_with = "all_for_user")]
        user: Option<u64>,
        /// The session's public id (as listed).
        #[arg(long)]
        session: Option<u64>,
        /// End every session of this user.
        #[arg(long, required_unless_present = "user")]
        all_for_user: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let common = match &cli.command {
        Command::Keygen { alg } => return keygen(alg),
        Command::Serve { common, .. }
        | Command::Sessions { common, .. }
        | Command::Token { common, .. } => common,
    };
    let config = match load_config(common) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("hallpass: invalid setting {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve { bind, common } => {
            // Before the engine opens: a key that does not load is a setting to fix (exit 2).
            let strategy = match build_strategy(&config) {
                Ok(strategy) => strategy,
                Err(e) => {
                    eprintln!("hallpass: invalid setting {e}");
                    return ExitCode::from(2);
                }
            };
            // So is a mail backend that cannot work (DEFAULT_FROM_EMAIL, EMAIL_FILE_PATH, TLS).
            let backend = match hallpass::mail::Backend::from_config(&config, &common.data_dir) {
                Ok(backend) => backend,
                Err(e) => {
                    eprintln!("hallpass: invalid setting {e}");
                    return ExitCode::from(2);
                }
            };
            serve(&bind, &common.data_dir, config, strategy, backend)
        }
        Command::Sessions { action, common } => sessions(action, &common.data_dir, config),
        Command::Token {
            action: TokenAction::Verify { token },
            ..
        } => return verify_token(&token, &config),
        Command::Keygen { .. } => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hallpass: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_config(common: &Common) -> Result<Config, ConfigError> {
    let mut flags = RawConfig::new();
    for assignment in &common.set {
        flags.set_assignment(assignment)?;
    }
    let file = match &common.config {
        Some(path) => settings_file::from_file(path)?,
        None => RawConfig::new(),
    };
    let config = RawConfig::layered(flags, RawConfig::from_env(), file).validate()?;
    let (config, _generated) = hallpass::provision_dev_keys(config, &common.data_dir)?;
    Ok(config)
}

fn open_engine(data_dir: &Path, config: &Config) -> anyhow::Result<Engine> {
    let (engine, report) = hallpass::open_engine(data_dir, config)
        .with_context(|| format!("opening the event log in {}", data_dir.display()))?;
    tracing::info!(
        replayed = report.replayed_events,
        snapshot = ?report.snapshot_seq,
        "engine open"
    );
    Ok(engine)
}

fn serve(
    bind: &str,
    data_dir: &Path,
    config: Config,
    strategy: hallpass::ConfiguredStrategy,
    mail: hallpass::mail::Backend,
) -> anyhow::Result<()> {
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let engine = open_engine(data_dir, &config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let app = Arc::new(App::with_strategy(engine, config, strategy));
    // Sends the outbox (mail queued before a restart too) on its own thread.
    let delivery = hallpass::mail::Delivery::start(
        app.engine().clone(),
        app.mailer().clone(),
        mail,
        hallpass::mail::DeliveryOptions::from_config(app.config()),
    )
    .context("starting the mail delivery thread")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let limits = hallpass::ServerLimits::from_config(app.config());
        tracing::info!(
            %addr,
            header_timeout_s = limits.header_read_timeout().as_secs(),
            body_timeout_s = limits.body_read_timeout().as_secs(),
            idle_timeout_s = limits.idle_timeout().as_secs(),
            max_connections = limits.max_connections(),
            "listening"
        );
        // One shutdown for both listeners: a signal, or the engine stopping.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let engine = app.engine().clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown_signal() => {}
                () = engine_stopped(engine) => {}
            }
            let _ = stop.send(true);
        });
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|&stop| stop).await;
            }
        };
        let metrics = match app.config().metrics_bind {
            Some(bind) => {
                let listener = tokio::net::TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("binding HALLPASS_METRICS_BIND {bind}"))?;
                let addr = listener
                    .local_addr()
                    .context("reading the metrics address")?;
                tracing::info!(%addr, "serving /metrics");
                Some(tokio::spawn(hallpass::serve_metrics(
                    listener,
                    Arc::clone(&app),
                    until_stopped(),
                )))
            }
            None => None,
        };
        hallpass::serve_with(listener, Arc::clone(&app), limits, until_stopped()).await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        tracing::info!("stopped accepting; in-flight requests finished");
        anyhow::Ok(())
    })?;
    // Before the engine closes: the worker holds a handle and may be recording an outcome.
    delivery.stop();
    if app.engine().failed() {
        // HALLPASS_MAX_CONSECUTIVE_STORE_FAILURES: only reopening the store recovers.
        drop(app);
        drop(runtime);
        anyhow::bail!(
            "the store failed too many writes in a row; exiting so a supervisor restarts \
             hallpass (the data directory reopens with every acknowledged write)"
        );
    }
    // Dropping the last engine handle flushes the log and writes a snapshot.
    drop(app);
    drop(runtime);
    tracing::info!("engine closed");
    Ok(())
}

/// `hallpass keygen --alg ALG`: the PEM on stdout; exit 2 for an algorithm without key pairs.
fn keygen(alg: &str) -> ExitCode {
    let algorithm = match alg.parse::<Algorithm>() {
        Ok(a) if !a.is_symmetric() => a,
        _ => {
            eprintln!("hallpass: --alg {alg:?}: expected RS256, RS384, RS512, ES256 or EdDSA");
            return ExitCode::from(2);
        }
    };
    match generate_private_pem(algorithm) {
        Ok(pem) => {
            print!("{pem}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hallpass: generating a {algorithm} key: {e}");
            ExitCode::from(1)
        }
    }
}

/// `hallpass token verify TOKEN`: the payload as JSON and exit 0, or the reason and exit 1.
fn verify_token(token: &str, config: &Config) -> ExitCode {
    let strategy = match build_jwt_strategy(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hallpass: invalid setting {e}");
            return ExitCode::from(2);
        }
    };
    let now = SystemClock.now().as_secs();
    // An access token, else a refresh token by the refresh codec (HALLPASS_JWT_REFRESH_ALGORITHM)
    // with its fallback, exactly as the server verifies each.
    let verified = strategy
        .codec()
        .verify_with_payload(token, TokenUse::Access, now)
        .or_else(|access_error| {
            strategy
                .verify_refresh_token_with_payload(token, now)
                .map_err(|_| access_error)
        });
    match verified {
        Ok((claims, payload)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::Value::Object(payload))
                    .unwrap_or_default()
            );
            eprintln!(
                "valid {} token for user {}, expires at {} (in {} s)",
                claims.token_use.as_str(),
                claims.sub,
                claims.exp,
                claims.exp - now
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("invalid: {e}");
            ExitCode::from(1)
        }
    }
}

/// Resolves once the engine stopped after too many failed writes in a row.
async fn engine_stopped(engine: hallpass::Engine) {
    while !engine.failed() {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    tracing::error!("the engine stopped after repeated store failures; shutting down");
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}

fn sessions(action: SessionsAction, data_dir: &Path, config: Config) -> anyhow::Result<()> {
    let engine = open_engine(data_dir, &config)?;
    match action {
        SessionsAction::List { user } => {
            for s in engine.user_sessions(UserId(user)) {
                println!(
                    "{}\tcreated_at={}\tlast_seen_at={}\texpires_at={}\tip={}\tuser_agent={}",
                    s.no,
                    s.created_at.as_secs(),
                    s.last_seen.as_secs(),
                    s.expires_at.as_secs(),
                    s.ip.as_deref().unwrap_or("-"),
                    s.user_agent.as_deref().unwrap_or("-"),
                );
            }
        }
        SessionsAction::Revoke {
            user,
            session,
            all_for_user,
        } => {
            let ended = match (user, session, all_for_user) {
                (_, _, Some(user)) => engine
                    .revoke_user(UserId(user), None, RevokeReason::Admin)
                    .context("revoking sessions")?,
                (Some(user), Some(no), None) => match engine
                    .revoke_user_sessions(UserId(user), &[no], RevokeReason::Admin)
                    .context("revoking the session")?
                {
                    RevokeSessionsOutcome::Revoked(n) => n,
                    RevokeSessionsOutcome::NotUserSession { no } => {
                        anyhow::bail!("session {no} is not a live session of user {user}")
                    }
                    other => anyhow::bail!("unexpected answer: {other:?}"),
                },
                _ => anyhow::bail!("give --user ID --session NO, or --all-for-user ID"),
            };
            println!("{ended} session(s) ended");
        }
    }
    Ok(())
}
