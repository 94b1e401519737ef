//! A Rust service protecting its own routes with hallpass credentials, beside the allauth
//! facade, in one process.
//!
//! ```sh
//! cargo run --example protected_service -- 127.0.0.1:8000 127.0.0.1:8001
//! ```
//!
//! The facade (`/_allauth/app/v1/...`) listens on the first address and the resource API
//! (`GET /api/me`) on the second. Settings come from the environment, as for `hallpass serve`
//! (e.g. `HEADLESS_TOKEN_STRATEGY=jwt`); data and development keys go to
//! `./hallpass-example-data`. A request to `/api/me` with `X-Session-Token` or
//! `Authorization: Bearer <access token>` answers the caller; anything else gets allauth's 401
//! envelope.
#![expect(clippy::print_stdout, reason = "an example prints where it listens")]

use std::path::Path;
use std::sync::Arc;

use hallpass::Engine;
use hallpass::clock::SystemClock;
use hallpass::config::RawConfig;
use hallpass::web::App;

mod api;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let facade_addr = args.next().unwrap_or_else(|| "127.0.0.1:8000".into());
    let api_addr = args.next().unwrap_or_else(|| "127.0.0.1:8001".into());
    let data_dir = Path::new("./hallpass-example-data");
    let (config, _) = RawConfig::from_env()
        .validate()?
        .with_dev_defaults(data_dir)?;
    let (engine, _) = Engine::open_dir(
        &data_dir.join("log"),
        config.durability,
        Arc::new(SystemClock),
        config.engine_config(),
    )?;
    let app = Arc::new(App::new(engine, config)?);

    let facade = tokio::net::TcpListener::bind(&facade_addr).await?;
    let api = tokio::net::TcpListener::bind(&api_addr).await?;
    println!(
        "facade on http://{}, resource API on http://{}/api/me",
        facade.local_addr()?,
        api.local_addr()?
    );
    let shutdown = || async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let facade = hallpass::web::serve(facade, Arc::clone(&app), shutdown());
    let api = warp::serve(api::resource_api(app))
        .incoming(api)
        .graceful(shutdown())
        .run();
    tokio::join!(facade, api);
    Ok(())
}
