//! `GET /metrics`: Prometheus text exposition of the facade's and the engine's counters.

use crate::web::app::App;
use crate::web::reply::ApiReply;

/// The exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// `GET /metrics`.
pub(super) fn get(app: &App) -> ApiReply {
    ApiReply::text(app.metrics.render(app.engine.stats()), CONTENT_TYPE)
}
