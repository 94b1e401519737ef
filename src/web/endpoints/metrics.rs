//! `GET /metrics`: Prometheus text exposition of the facade's, the password gate's and the
//! engine's numbers.

use crate::web::app::App;
use crate::web::reply::ApiReply;

/// The exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// `GET /metrics`.
pub(super) fn get(app: &App) -> ApiReply {
    let text = app
        .metrics
        .render(app.engine.stats(), app.password_gate.load());
    ApiReply::text(text, CONTENT_TYPE)
}
