//! Request bodies, parsed ("parse, don't validate") into typed values or an [`ApiError`].
//!
//! Whatever arrives — invalid UTF-8, non-JSON, a JSON array, fields of the wrong type — ends as
//! an `ApiError` that `reply` turns into a 400 envelope; nothing here panics on input. A missing
//! or `null` field is `required` for that field, as Django's forms say.

use serde_json::{Map, Value};

use crate::web::reply::{ApiError, FieldError};

/// `{email, password}` of `auth/signup` and `auth/login`, as sent (the e-mail not yet
/// normalized).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    /// The e-mail address as sent.
    pub(crate) email: String,
    /// The password; never logged.
    pub(crate) password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Parses `{email, password}`. Both missing: one `required` error per field.
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object; [`ApiError::Validation`]
/// for missing, empty or non-string fields.
pub(crate) fn credentials(body: &[u8]) -> Result<Credentials, ApiError> {
    let object = object(body)?;
    let mut errors = Vec::new();
    let email = string_field(&object, "email", &mut errors);
    let password = string_field(&object, "password", &mut errors);
    match (email, password) {
        (Some(email), Some(password)) if errors.is_empty() => Ok(Credentials { email, password }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Parses `{refresh_token}` of `tokens/refresh`.
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object; `required`/`refresh_token`
/// when the field is missing or empty; [`ApiError::RefreshFailed`] for a non-string value (it
/// can never be a valid token).
pub(crate) fn refresh_token(body: &[u8]) -> Result<String, ApiError> {
    let object = object(body)?;
    match object.get("refresh_token") {
        None | Some(Value::Null) => Err(ApiError::Validation(vec![FieldError::required(
            "refresh_token",
        )])),
        Some(Value::String(s)) if s.is_empty() => {
            Err(ApiError::Validation(vec![FieldError::required(
                "refresh_token",
            )]))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::RefreshFailed),
    }
}

/// Parses `{sessions: [id, ...]}` of `DELETE auth/sessions`.
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object; [`ApiError::Validation`]
/// when `sessions` is missing or not a list of non-negative integers.
pub(crate) fn session_ids(body: &[u8]) -> Result<Vec<u64>, ApiError> {
    let object = object(body)?;
    let invalid = || {
        ApiError::Validation(vec![FieldError::field(
            "sessions",
            "invalid",
            "Enter a list of session ids.",
        )])
    };
    match object.get("sessions") {
        None | Some(Value::Null) => {
            Err(ApiError::Validation(vec![FieldError::required("sessions")]))
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_u64().ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// Django's `invalid_choice` of `ModelMultipleChoiceField` for `sessions`: `value` (as Python
/// prints it) is not one of the user's live sessions.
pub(crate) fn invalid_session_choice(value: &str) -> FieldError {
    FieldError::field(
        "sessions",
        "invalid_choice",
        format!("Select a valid choice. {value} is not one of the available choices."),
    )
}

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    // serde_json rejects invalid UTF-8 inside strings, so no separate check is needed.
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ApiError::InvalidBody),
    }
}

fn string_field(
    object: &Map<String, Value>,
    name: &'static str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match object.get(name) {
        None | Some(Value::Null) => {
            errors.push(FieldError::required(name));
            None
        }
        Some(Value::String(s)) if s.is_empty() => {
            errors.push(FieldError::required(name));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::field(name, "invalid", "Enter a valid value."));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(e: ApiError) -> Vec<(&'static str, Option<&'static str>)> {
        match e {
            ApiError::Validation(errors) => errors.iter().map(|e| (e.code, e.param)).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn credentials_parse_and_debug_hides_the_password() {
        let c = credentials(br#"{"email":"a@b.c","password":"pw","extra":1}"#).unwrap();
        assert_eq!(c.email, "a@b.c");
        assert!(!format!("{c:?}").contains("pw"));
    }

    #[test]
    fn missing_and_mistyped_fields_name_the_field() {
        assert_eq!(
            codes(credentials(b"{}").unwrap_err()),
            [("required", Some("email")), ("required", Some("password"))]
        );
        assert_eq!(
            codes(credentials(br#"{"email":5,"password":null}"#).unwrap_err()),
            [("invalid", Some("email")), ("required", Some("password"))]
        );
    }

    #[test]
    fn non_objects_and_garbage_are_invalid_bodies() {
        for body in [
            &b""[..],
            b"[]",
            b"\"x\"",
            b"{",
            b"\xff\xfe",
            b"{\"email\":\"\xff\"}",
        ] {
            assert!(
                matches!(credentials(body), Err(ApiError::InvalidBody)),
                "{body:?}"
            );
        }
    }

    #[test]
    fn refresh_token_rules() {
        assert_eq!(refresh_token(br#"{"refresh_token":"t"}"#).unwrap(), "t");
        assert_eq!(
            codes(refresh_token(b"{}").unwrap_err()),
            [("required", Some("refresh_token"))]
        );
        assert!(matches!(
            refresh_token(br#"{"refresh_token":7}"#),
            Err(ApiError::RefreshFailed)
        ));
    }

    #[test]
    fn session_ids_are_non_negative_integers() {
        assert_eq!(session_ids(br#"{"sessions":[1,2]}"#).unwrap(), [1, 2]);
        assert!(session_ids(br#"{"sessions":[-1]}"#).is_err());
        assert!(session_ids(br#"{"sessions":"1"}"#).is_err());
    }
}
