//! Probes for a supervisor or load balancer: `GET /healthz` (the process is up and answering)
//! and `GET /readyz` (a write reaches the disk now).
//!
//! Readiness is a real write: the store writes a marker and syncs (`Engine::probe`), so a full
//! disk or sled's sticky error after an I/O failure shows, while reads alone would look
//! healthy. A stopped engine (too many failed writes in a row) is never ready; the binary exits
//! then, for its supervisor to restart it.

use std::sync::Arc;

use serde::Serialize;

use crate::web::app::App;
use crate::web::endpoints::common::blocking;
use crate::web::errors::ApiError;
use crate::web::reply::ApiReply;

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// `GET /healthz`: `200 {"status": "ok"}`.
pub(super) fn healthz() -> ApiReply {
    ApiReply::document(Status { status: "ok" })
}

/// `GET /readyz`: `200 {"status": "ready"}`, or the 503 envelope when the write failed.
pub(super) async fn readyz(app: &Arc<App>) -> Result<ApiReply, ApiError> {
    let engine = app.engine.clone();
    blocking(move || engine.probe()).await??;
    Ok(ApiReply::document(Status { status: "ready" }))
}
