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

use hallpass::{App, RawConfig};

mod api;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let facade_addr = args.next().unwrap_or_else(|| "127.0.0.1:8000".into());
    let api_addr = args.next().unwrap_or_else(|| "127.0.0.1:8001".into());
    let data_dir = Path::new("./hallpass-example-data");
    let (config, _) = hallpass::provision_dev_keys(RawConfig::from_env().validate()?, data_dir)?;
    let strategy = hallpass::build_strategy(&config)?;
    let (engine, _) = hallpass::open_engine(data_dir, &config)?;
    let app = Arc::new(App::with_strategy(engine, config, strategy));

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
    let facade = hallpass::serve(facade, Arc::clone(&app), shutdown());
    let api = warp::serve(api::resource_api(app))
        .incoming(api)
        .graceful(shutdown())
        .run();
    tokio::join!(facade, api);
    Ok(())
}
