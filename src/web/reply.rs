//! The reply type: every response the facade sends, success or failure, envelope or not, is an
//! [`ApiReply`] put on the wire by [`ApiReply::into_response`].
//!
//! That one function sets the status, a body whose `status` equals it (for envelopes), the
//! headers allauth sends on every response (`Content-Type`, `Cache-Control`, `Expires`) and a
//! `Retry-After` where the reply asks for one. What the codes and messages of failures say
//! lives beside this file, in `errors`.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::clock::Timestamp;

/// `Cache-Control` on every response, as allauth's `never_cache`.
const CACHE_CONTROL: &str = "max-age=0, no-cache, no-store, must-revalidate, private";

/// One response, before it is put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiReply {
    /// The HTTP status; also an envelope's `status` member.
    pub(crate) status: StatusCode,
    /// What the body holds.
    pub(crate) body: Body,
    /// `Retry-After` in seconds, for a refusal that a later retry may get past.
    pub(crate) retry_after_secs: Option<u32>,
}

/// The body of an [`ApiReply`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// allauth's envelope without `status` (added on the way out): `data`, `meta`, `errors`.
    Envelope(Map<String, Value>),
    /// A JSON document that is not an envelope (the JWKS).
    Document(Value),
    /// Plain text of a content type (the Prometheus exposition).
    Text {
        /// The text.
        text: String,
        /// Its `Content-Type`.
        content_type: &'static str,
    },
}

/// One entry of an envelope's `errors` list. Built only by the constructors in `errors`, where
/// every code and message is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FieldError {
    /// English message, as allauth's.
    pub(crate) message: String,
    /// Stable machine-readable code, e.g. `required`.
    pub(crate) code: &'static str,
    /// The input field, if the error is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) param: Option<&'static str>,
}

/// The envelope's members, typed; `status` is added by [`ApiReply::into_response`].
#[derive(Serialize)]
struct Envelope<D, M> {
    data: D,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<M>,
}

impl ApiReply {
    /// `{status, data}`.
    pub(crate) fn data(status: StatusCode, data: impl Serialize) -> ApiReply {
        ApiReply::envelope(status, Envelope::<_, ()> { data, meta: None })
    }

    /// `{status, data, meta}`.
    pub(crate) fn data_meta(
        status: StatusCode,
        data: impl Serialize,
        meta: impl Serialize,
    ) -> ApiReply {
        ApiReply::envelope(
            status,
            Envelope {
                data,
                meta: Some(meta),
            },
        )
    }

    /// `{status, errors: [...]}`.
    pub(crate) fn errors(status: StatusCode, errors: Vec<FieldError>) -> ApiReply {
        #[derive(Serialize)]
        struct Errors {
            errors: Vec<FieldError>,
        }
        ApiReply::envelope(status, Errors { errors })
    }

    /// The bare `{status}`.
    pub(crate) fn bare(status: StatusCode) -> ApiReply {
        ApiReply {
            status,
            body: Body::Envelope(Map::new()),
            retry_after_secs: None,
        }
    }

    /// `200` with a JSON document that is not an envelope.
    pub(crate) fn document(document: impl Serialize) -> ApiReply {
        ApiReply {
            status: StatusCode::OK,
            body: Body::Document(to_value(document)),
            retry_after_secs: None,
        }
    }

    /// `200` with plain text of `content_type`.
    pub(crate) fn text(text: String, content_type: &'static str) -> ApiReply {
        ApiReply {
            status: StatusCode::OK,
            body: Body::Text { text, content_type },
            retry_after_secs: None,
        }
    }

    /// This reply with `Retry-After: secs`.
    pub(crate) fn with_retry_after(self, secs: u32) -> ApiReply {
        ApiReply {
            retry_after_secs: Some(secs),
            ..self
        }
    }

    /// The envelope's members without `status`, if this is an envelope.
    pub(crate) fn envelope_members(&self) -> Option<&Map<String, Value>> {
        match &self.body {
            Body::Envelope(members) => Some(members),
            Body::Document(_) | Body::Text { .. } => None,
        }
    }

    fn envelope(status: StatusCode, members: impl Serialize) -> ApiReply {
        let members = match to_value(members) {
            Value::Object(members) => members,
            _ => Map::new(),
        };
        ApiReply {
            status,
            body: Body::Envelope(members),
            retry_after_secs: None,
        }
    }

    /// The wire response, with the envelope's `status` and the headers every response carries.
    /// `now` (the engine's clock) is the `Expires` date.
    pub(crate) fn into_response(self, now: Timestamp) -> Response {
        let (bytes, content_type) = match self.body {
            Body::Envelope(members) => {
                let mut body = Map::new();
                body.insert("status".into(), Value::from(self.status.as_u16()));
                body.extend(members);
                (Value::Object(body).to_string(), "application/json")
            }
            Body::Document(document) => (document.to_string(), "application/json"),
            Body::Text { text, content_type } => (text, content_type),
        };
        let mut response = Response::new(bytes.into());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        );
        let millis = u64::try_from(now.as_millis()).unwrap_or(0);
        let date = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_millis(millis));
        if let Ok(value) = HeaderValue::from_str(&date) {
            headers.insert(header::EXPIRES, value);
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// `value` as JSON. The facade's bodies are plain structs of strings, numbers and maps with
/// string keys, for which serialization cannot fail; `null` stands in if it ever did.
fn to_value(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn envelope_status_equals_http_status_and_headers_are_set() {
        let response =
            ApiReply::bare(StatusCode::TOO_MANY_REQUESTS).into_response(Timestamp::from_secs(0));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        assert_eq!(h[header::CACHE_CONTROL], CACHE_CONTROL);
        assert_eq!(h[header::EXPIRES], "Thu, 01 Jan 1970 00:00:00 GMT");
        assert!(h.get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn retry_after_is_sent_when_asked_for() {
        let response = ApiReply::bare(StatusCode::SERVICE_UNAVAILABLE)
            .with_retry_after(1)
            .into_response(Timestamp::from_secs(0));
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn meta_is_left_out_when_absent() {
        let reply = ApiReply::data(StatusCode::OK, json!([]));
        assert_eq!(
            reply.envelope_members().map(|m| Value::Object(m.clone())),
            Some(json!({"data": []}))
        );
    }

    #[test]
    fn text_keeps_its_content_type() {
        let response = ApiReply::text("x 1\n".into(), "text/plain; version=0.0.4")
            .into_response(Timestamp::from_secs(0));
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4"
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], CACHE_CONTROL);
    }
}
