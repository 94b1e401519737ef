//! Request bodies, parsed ("parse, don't validate") into typed values or an [`ApiError`].
//!
//! One function per body shape; the errors' wording comes from `errors`.
//!
//! Whatever arrives — invalid UTF-8, non-JSON, a JSON array, fields of the wrong type — ends as
//! an `ApiError` that `reply` turns into a 400 envelope; nothing here panics on input. A missing
//! or `null` field is `required` for that field, as Django's forms say.

use serde_json::{Map, Value};

use crate::accounts::normalize_email;
use crate::web::errors::{self, ApiError};
use crate::web::reply::FieldError;

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
    let mut problems = Vec::new();
    let email = string_field(&object, "email", &mut problems);
    let password = string_field(&object, "password", &mut problems);
    match (email, password) {
        (Some(email), Some(password)) if problems.is_empty() => Ok(Credentials { email, password }),
        _ => Err(ApiError::Validation(problems)),
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
        None | Some(Value::Null) => Err(ApiError::Validation(vec![errors::required(
            "refresh_token",
        )])),
        Some(Value::String(s)) if s.is_empty() => {
            Err(ApiError::Validation(vec![errors::required(
                "refresh_token",
            )]))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::RefreshFailed),
    }
}

/// Parses `{sessions: [id, ...]}` of `DELETE auth/sessions` into session numbers, with the
/// checks and answers of Django's `ModelMultipleChoiceField` (allauth's `SelectSessionsInput`
/// over the user's sessions, integer primary keys), in Django's order:
///
/// 1. missing, `null`, `false`, `0`, `""`, `[]` or `{}`: `required`;
/// 2. any other non-list (a JSON object counts as the list of its keys, as Python iterates a
///    dict), or a list holding a list or an object (unhashable): `invalid_list`;
/// 3. a string that Python's `int()` rejects: `invalid_pk_value`;
/// 4. a value that can never equal a session's id as Django compares them (`str(value)`
///    against `str(pk)`): `null`, booleans, fractions, negative numbers, numeric strings
///    other than the plain decimal, e.g. `"05"`: `invalid_choice`.
///
/// Plain integers and decimal strings become numbers; whether each is a live session of the
/// user (else `invalid_choice` too) is the engine's all-or-nothing check. Django reports the
/// first failure in its set's order, which is unspecified; this reports the first in input
/// order. Duplicates are allowed, as in Django (a set).
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object; [`ApiError::Validation`]
/// with one `sessions` error as above.
pub(crate) fn session_ids(body: &[u8]) -> Result<Vec<u64>, ApiError> {
    let object = object(body)?;
    let fail = |error| Err(ApiError::Validation(vec![error]));
    let items: Vec<Value> = match object.get("sessions") {
        None => return fail(errors::required("sessions")),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(map)) => map.keys().cloned().map(Value::String).collect(),
        Some(scalar) if is_falsy(scalar) => return fail(errors::required("sessions")),
        Some(_) => return fail(errors::invalid_session_list()),
    };
    if items.is_empty() {
        return fail(errors::required("sessions"));
    }
    if items.iter().any(|v| v.is_array() || v.is_object()) {
        return fail(errors::invalid_session_list());
    }
    if let Some(text) = items
        .iter()
        .filter_map(Value::as_str)
        .find(|s| !is_python_int(s))
    {
        return fail(errors::invalid_session_pk(text));
    }
    items
        .iter()
        .map(|v| session_number(v).ok_or_else(|| errors::invalid_session_choice(&python_str(v))))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::Validation(vec![e]))
}

// --- login by code and reauthentication ---

/// Parses `{email}` of `auth/code/request` into the normalized address.
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is neither empty nor a JSON object;
/// `required`/`email` when the address is missing or empty, `invalid`/`email` when it is not an address (a number, a list
/// or an object is read as its text, as Django's `EmailField` reads it, and is never one).
pub(crate) fn login_code_email(body: &[u8]) -> Result<String, ApiError> {
    let object = form_object(body)?;
    let Some(email) = form_text(object.get("email"), true) else {
        return Err(ApiError::Validation(vec![errors::required("email")]));
    };
    normalize_email(&email).map_err(|e| ApiError::Validation(vec![errors::email(&e)]))
}

/// Parses `{code}` of the code confirmations: the code as typed, `None` when it is missing or
/// empty (the caller answers `required`, which still counts as an attempt, as allauth's).
/// A number is read as its text, as Django's `CharField` reads it.
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is neither empty nor a JSON object.
pub(crate) fn typed_code(body: &[u8]) -> Result<Option<String>, ApiError> {
    let object = form_object(body)?;
    Ok(form_text(object.get("code"), true))
}

/// Parses `{password}` of `auth/reauthenticate`, as typed (not stripped, as Django's
/// `PasswordField`).
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is neither empty nor a JSON object;
/// `required`/`password` when
/// it is missing or empty.
pub(crate) fn reauthentication_password(body: &[u8]) -> Result<String, ApiError> {
    let object = form_object(body)?;
    form_text(object.get("password"), false)
        .ok_or_else(|| ApiError::Validation(vec![errors::required("password")]))
}

/// Where `auth/reauthenticate/code/request` asks a code to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodeRecipient {
    /// An e-mail address, normalized (whether it is one of the user's is the caller's check).
    Email(String),
    /// A phone number: hallpass keeps none, so it is never one of the user's.
    Phone,
}

/// Parses `{email}` or `{phone}` of `auth/reauthenticate/code/request`, in the order of
/// allauth's `RequestReauthenticationCodeInput`: an address that is not one (`invalid`/`email`)
/// first, then neither field (`required` without `param`), then both (`select_only_one`
/// without `param`).
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is neither empty nor a JSON object;
/// [`ApiError::Validation`] as above.
pub(crate) fn reauthentication_code_recipient(body: &[u8]) -> Result<CodeRecipient, ApiError> {
    let object = form_object(body)?;
    let email = form_text(object.get("email"), true)
        .map(|email| normalize_email(&email))
        .transpose()
        .map_err(|e| ApiError::Validation(vec![errors::email(&e)]))?;
    let phone = form_text(object.get("phone"), true);
    match (email, phone) {
        (None, None) => Err(ApiError::Validation(vec![errors::required_one_of()])),
        (Some(_), Some(_)) => Err(ApiError::Validation(vec![errors::select_only_one()])),
        (Some(email), None) => Ok(CodeRecipient::Email(email)),
        (None, Some(_)) => Ok(CodeRecipient::Phone),
    }
}

/// The body as allauth's `RESTView` reads it: an empty body is `{}`, anything else must be a
/// JSON object.
fn form_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    object(body)
}

/// A form field's value as Django's `CharField` reads a JSON value: `None` for what Django
/// counts as empty (missing, `null`, `""`, `[]`, `{}`, and with `strip` only whitespace), else
/// the value's text (`str()` of it in Python for a number or a boolean; a non-empty list or
/// object as its JSON text, which no code, address or password this reads can be).
fn form_text(value: Option<&Value>, strip: bool) -> Option<String> {
    let text = match value? {
        Value::Null => return None,
        Value::Array(items) if items.is_empty() => return None,
        Value::Object(members) if members.is_empty() => return None,
        Value::String(s) => s.clone(),
        other @ (Value::Bool(_) | Value::Number(_)) => python_str(other),
        other => other.to_string(),
    };
    // Python's `str.strip()`; `trim` differs only on a few control characters, which no
    // code or address holds anyway.
    let text = if strip { text.trim().to_owned() } else { text };
    (!text.is_empty()).then_some(text)
}

// --- end login by code and reauthentication ---

/// Python's truth value of a JSON scalar (`not value` in Django's `required` check).
fn is_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Whether Python's `int(text)` accepts `text` (what Django's integer primary-key lookup
/// calls): surrounding whitespace, an optional sign, decimal digits with single underscores
/// between them. Python also takes non-ASCII decimal digits; those are refused here.
fn is_python_int(text: &str) -> bool {
    let digits = text.trim();
    let digits = digits.strip_prefix(['+', '-']).unwrap_or(digits);
    !digits.is_empty()
        && digits
            .split('_')
            .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()))
}

/// The session number `value` can equal under Django's `str(value) == str(pk)`: a
/// non-negative JSON integer, or a string that is exactly its plain decimal.
fn session_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok().filter(|n| n.to_string() == *s),
        _ => None,
    }
}

/// `str(value)` in Python, for error messages: `None`, `True`, `1.5`, `1e+16`.
fn python_str(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => n.as_f64().map_or_else(|| n.to_string(), python_float),
        // Integers beyond 64 bits already arrive as floats (serde_json without
        // `arbitrary_precision`), so they print as Python prints that float.
        other => other.to_string(),
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, positional for exponents from -4
/// to 15, else `d.ddde+XX`.
fn python_float(x: f64) -> String {
    let scientific = format!("{x:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return scientific;
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits = mantissa.replace('.', "");
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        let body = match usize::try_from(point) {
            Err(_) | Ok(0) => format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
            Ok(p) if p >= digits.len() => format!("{digits}{}.0", "0".repeat(p - digits.len())),
            Ok(p) => format!("{}.{}", &digits[..p], &digits[p..]),
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{sign}{mantissa}e{exponent_sign}{:02}",
            exponent.unsigned_abs()
        )
    }
}

// --- e-mail addresses and verification ---

/// The `email` of `account/email`'s bodies (`POST`, `PUT`, `DELETE`), as sent (the caller
/// normalizes it): missing, `null` or `""` is `required`; any other non-string is an invalid
/// address, as Django's form fields turn it into text that is none (`"123"`, `"['a@b.c']"`).
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object (an empty body counts as
/// `{}`, as allauth reads it); [`ApiError::Validation`] with the one `email` error.
pub(crate) fn email_address(body: &[u8]) -> Result<String, ApiError> {
    let object = object_or_empty(body)?;
    email_field(&object).map_err(|e| ApiError::Validation(vec![e]))
}

/// `PATCH account/email {email, primary}`, each field's problem kept apart so that the
/// endpoint reports them together, in field order, after its own checks of the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MarkPrimary {
    /// The address as sent, or its problem.
    pub(crate) email: Result<String, FieldError>,
    /// Whether `primary` is true as Django's `BooleanField(required=True)` reads it.
    pub(crate) primary: bool,
}

/// Parses `{email, primary}`. `primary` is Django's `BooleanField`: missing, `null`, `false`,
/// `0`, `""`, `"false"`, `"0"` (any case), `[]` and `{}` are not true (`required`); anything
/// else is (`"yes"`, `1`).
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object (empty counts as `{}`).
pub(crate) fn mark_primary(body: &[u8]) -> Result<MarkPrimary, ApiError> {
    let object = object_or_empty(body)?;
    let primary = match object.get("primary") {
        None => false,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s == "0" => false,
        Some(value) => !is_falsy(value),
    };
    Ok(MarkPrimary {
        email: email_field(&object),
        primary,
    })
}

/// The `key` of `POST auth/email/verify`, surrounding whitespace stripped (Django's
/// `CharField`); `None` when missing, `null` or blank (`required`). A non-string becomes its
/// JSON text, which is no key and no code.
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object (empty counts as `{}`).
pub(crate) fn verification_key(body: &[u8]) -> Result<Option<String>, ApiError> {
    let object = object_or_empty(body)?;
    let text = match object.get("key") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(other) => other.to_string(),
    };
    Ok((!text.is_empty()).then_some(text))
}

/// The `email` field of `object`, as [`email_address`] reads it.
fn email_field(object: &Map<String, Value>) -> Result<String, FieldError> {
    match object.get("email") {
        None | Some(Value::Null) => Err(errors::required("email")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(errors::required("email")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(errors::email(&crate::accounts::EmailError::Invalid)),
    }
}

/// As [`object`], but an empty body is `{}` (allauth's `if not request.body: data = {}`).
fn object_or_empty(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    object(body)
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
    problems: &mut Vec<FieldError>,
) -> Option<String> {
    match object.get(name) {
        None | Some(Value::Null) => {
            problems.push(errors::required(name));
            None
        }
        Some(Value::String(s)) if s.is_empty() => {
            problems.push(errors::required(name));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push(errors::invalid_value(name));
            None
        }
    }
}

// --- password change and reset ---

/// `{current_password, new_password}` of `account/password/change`, each as Django's
/// `CharField` cleans it ([`form_text`]): `None` when missing or empty. Whether a missing one
/// is an error depends on the user (`current_password` is optional without a usable password),
/// so the endpoint decides.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PasswordChangeInput {
    /// The current password; never logged.
    pub(crate) current_password: Option<String>,
    /// The new password; never logged.
    pub(crate) new_password: Option<String>,
}

impl std::fmt::Debug for PasswordChangeInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChangeInput")
            .finish_non_exhaustive()
    }
}

/// Parses `{current_password, new_password}`.
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object.
pub(crate) fn password_change(body: &[u8]) -> Result<PasswordChangeInput, ApiError> {
    let object = object_or_empty(body)?;
    Ok(PasswordChangeInput {
        current_password: char_field(&object, "current_password"),
        new_password: char_field(&object, "new_password"),
    })
}

/// Parses `{email}` of `auth/password/request` into the normalized address.
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object; `required`/`email` when it
/// is missing or empty, `invalid`/`email` when it is not an address (any JSON value is read as
/// Python's `str()` of it first, as Django's `EmailField` does, so `123` is `invalid`).
pub(crate) fn password_reset_request(body: &[u8]) -> Result<String, ApiError> {
    let object = object_or_empty(body)?;
    let Some(email) = char_field(&object, "email") else {
        return Err(ApiError::Validation(vec![errors::required("email")]));
    };
    crate::accounts::normalize_email(&email)
        .map_err(|e| ApiError::Validation(vec![errors::email(&e)]))
}

/// `{key, password}` of `POST auth/password/reset`, each as Django's `CharField` cleans it
/// ([`form_text`]): `None` when missing or empty.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PasswordResetInput {
    /// The link key, or the code in reset-by-code mode; never logged.
    pub(crate) key: Option<String>,
    /// The new password; never logged.
    pub(crate) password: Option<String>,
}

impl std::fmt::Debug for PasswordResetInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordResetInput").finish_non_exhaustive()
    }
}

/// Parses `{key, password}`.
///
/// # Errors
///
/// [`ApiError::InvalidBody`] for a body that is not a JSON object.
pub(crate) fn password_reset(body: &[u8]) -> Result<PasswordResetInput, ApiError> {
    let object = object_or_empty(body)?;
    Ok(PasswordResetInput {
        key: char_field(&object, "key"),
        password: char_field(&object, "password"),
    })
}

/// Field `name` as Django's `forms.CharField` cleans it (allauth's headless inputs are plain
/// `CharField`s, `strip=True`): `None`, `""`, `[]` and `{}` are empty; anything else becomes
/// Python's `str()` of it (`12345678` is `"12345678"`, `true` is `"True"`, `["x"]` is
/// `"['x']"`), stripped of surrounding whitespace; empty after that is `None` too.
fn char_field(object: &Map<String, Value>, name: &str) -> Option<String> {
    let text = match object.get(name)? {
        Value::Null => return None,
        Value::String(s) => crate::accounts::pychar::strip(s).to_owned(),
        Value::Array(a) if a.is_empty() => return None,
        Value::Object(o) if o.is_empty() => return None,
        other => crate::accounts::pychar::strip(&python_text(other)).to_owned(),
    };
    (!text.is_empty()).then_some(text)
}

/// Python's `str()` of a JSON value: strings as they are, containers as their `repr`.
fn python_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

/// Python's `repr()` of a JSON value as `json.loads` gives it.
fn python_repr(value: &Value) -> String {
    match value {
        Value::String(s) => python_repr_str(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_repr_str(k), python_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        scalar => python_str(scalar),
    }
}

/// Python's `repr()` of a string: single quotes unless it holds `'` and no `"`, backslash
/// escapes for the quote, backslash and control characters.
fn python_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let n = u32::from(c);
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n < 0x1_0000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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

    fn session_error(body: &str) -> (&'static str, String) {
        match session_ids(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors.len(), 1, "{body}");
                assert_eq!(errors[0].param, Some("sessions"), "{body}");
                (errors[0].code, errors[0].message.clone())
            }
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn session_ids_accept_integers_and_their_plain_decimal_strings() {
        assert_eq!(session_ids(br#"{"sessions":[1,2]}"#).unwrap(), [1, 2]);
        assert_eq!(session_ids(br#"{"sessions":["7",7]}"#).unwrap(), [7, 7]);
        // Python iterates a dict's keys: Django takes them as the list.
        assert_eq!(session_ids(br#"{"sessions":{"3":true}}"#).unwrap(), [3]);
    }

    #[test]
    fn session_ids_required_for_missing_null_and_falsy_values() {
        for body in [
            r#"{}"#,
            r#"{"sessions":null}"#,
            r#"{"sessions":[]}"#,
            r#"{"sessions":{}}"#,
            r#"{"sessions":""}"#,
            r#"{"sessions":0}"#,
            r#"{"sessions":false}"#,
        ] {
            assert_eq!(
                session_error(body),
                ("required", "This field is required.".to_owned()),
                "{body}"
            );
        }
    }

    #[test]
    fn session_ids_not_a_list_is_invalid_list() {
        for body in [
            r#"{"sessions":"all"}"#,
            r#"{"sessions":"5"}"#,
            r#"{"sessions":5}"#,
            r#"{"sessions":true}"#,
            r#"{"sessions":[[1]]}"#,
            r#"{"sessions":[1,{"id":2}]}"#,
            r#"{"sessions":["x",[1]]}"#,
        ] {
            assert_eq!(
                session_error(body),
                ("invalid_list", "Enter a list of values.".to_owned()),
                "{body}"
            );
        }
    }

    #[test]
    fn session_ids_non_integer_strings_are_invalid_pk_values() {
        assert_eq!(
            session_error(r#"{"sessions":[1,"x"]}"#),
            (
                "invalid_pk_value",
                "\u{201c}x\u{201d} is not a valid value.".to_owned()
            )
        );
        for text in ["", " ", "1.5", "0x10", "1__0", "_1", "1_", "+", "٣"] {
            let body = json!({ "sessions": [text] }).to_string();
            assert_eq!(session_error(&body).0, "invalid_pk_value", "{text:?}");
        }
        // Before any invalid_choice, as Django checks every value's type first.
        assert_eq!(
            session_error(r#"{"sessions":[null,"x"]}"#).0,
            "invalid_pk_value"
        );
    }

    #[test]
    fn session_ids_that_can_never_match_are_invalid_choices() {
        for (value, shown) in [
            (json!(null), "None"),
            (json!(true), "True"),
            (json!(-1), "-1"),
            (json!(1.5), "1.5"),
            (json!(5.0), "5.0"),
            (json!(1e16), "1e+16"),
            (json!(1.5e-7), "1.5e-07"),
            (json!(0.0001), "0.0001"),
            (json!(-0.0), "-0.0"),
            (json!("05"), "05"),
            (json!("+5"), "+5"),
            (json!(" 5"), " 5"),
            (json!("1_0"), "1_0"),
            (json!("-3"), "-3"),
        ] {
            let body = json!({ "sessions": [1, value] }).to_string();
            assert_eq!(
                session_error(&body),
                (
                    "invalid_choice",
                    format!("Select a valid choice. {shown} is not one of the available choices.")
                ),
                "{body}"
            );
        }
    }

    // --- login by code and reauthentication ---

    #[test]
    fn form_fields_read_json_as_django_forms_do() {
        assert_eq!(
            login_code_email(br#"{"email":" Nina@Example.com "}"#).unwrap(),
            "nina@example.com"
        );
        for body in [
            &b""[..],
            b"{}",
            br#"{"email":null}"#,
            br#"{"email":[]}"#,
            br#"{"email":"  "}"#,
        ] {
            assert_eq!(
                codes(login_code_email(body).unwrap_err()),
                [("required", Some("email"))],
                "{body:?}"
            );
        }
        for body in [
            &br#"{"email":123}"#[..],
            br#"{"email":["a@b.co"]}"#,
            br#"{"email":true}"#,
        ] {
            assert_eq!(
                codes(login_code_email(body).unwrap_err()),
                [("invalid", Some("email"))],
                "{body:?}"
            );
        }
        assert!(matches!(
            login_code_email(b"[]"),
            Err(ApiError::InvalidBody)
        ));
        assert_eq!(
            typed_code(br#"{"code":12345678}"#).unwrap().as_deref(),
            Some("12345678")
        );
        assert_eq!(
            typed_code(br#"{"code":" x "}"#).unwrap().as_deref(),
            Some("x")
        );
        assert_eq!(typed_code(br#"{"code":{}}"#).unwrap(), None);
        assert_eq!(typed_code(b"").unwrap(), None);
        // Passwords are not stripped; `True` as Python prints it.
        assert_eq!(
            reauthentication_password(br#"{"password":" p "}"#).unwrap(),
            " p "
        );
        assert_eq!(
            reauthentication_password(br#"{"password":true}"#).unwrap(),
            "True"
        );
        assert_eq!(
            codes(reauthentication_password(br#"{"password":""}"#).unwrap_err()),
            [("required", Some("password"))]
        );
    }

    #[test]
    fn reauthentication_recipients_in_allauths_order() {
        assert_eq!(
            reauthentication_code_recipient(br#"{"email":"A@b.co"}"#).unwrap(),
            CodeRecipient::Email("a@b.co".to_owned())
        );
        assert_eq!(
            reauthentication_code_recipient(br#"{"phone":"+15555550123"}"#).unwrap(),
            CodeRecipient::Phone
        );
        let cases: [(&[u8], (&str, Option<&str>)); 4] = [
            (b"{}", ("required", None)),
            (
                br#"{"email":"a@b.co","phone":"+1"}"#,
                ("select_only_one", None),
            ),
            (br#"{"email":1,"phone":"+1"}"#, ("invalid", Some("email"))),
            (br#"{"email":"","phone":null}"#, ("required", None)),
        ];
        for (body, want) in cases {
            assert_eq!(
                codes(reauthentication_code_recipient(body).unwrap_err()),
                [want],
                "{body:?}"
            );
        }
    }

    #[test]
    fn python_float_repr() {
        for (x, want) in [
            (1.0, "1.0"),
            (123.456, "123.456"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.25e100, "1.25e+100"),
            (1e-5, "1e-05"),
            (-2.5e-4, "-0.00025"),
            (0.1, "0.1"),
        ] {
            assert_eq!(python_float(x), want, "{x}");
        }
    }

    // --- password change and reset ---

    #[test]
    fn form_text_reads_values_as_django_char_fields() {
        let body = br#"{"a": "  pw  ", "b": 12345678, "c": ["x"], "d": true, "e": [], "f": {},
            "g": null, "h": "   ", "i": {"k": [1, "it's", null]}, "j": 1.5}"#;
        let object = object(body).unwrap();
        let read = |name| char_field(&object, name);
        assert_eq!(read("a").as_deref(), Some("pw"));
        assert_eq!(read("b").as_deref(), Some("12345678"));
        assert_eq!(read("c").as_deref(), Some("['x']"));
        assert_eq!(read("d").as_deref(), Some("True"));
        assert_eq!(read("i").as_deref(), Some(r#"{'k': [1, "it's", None]}"#));
        assert_eq!(read("j").as_deref(), Some("1.5"));
        for empty in ["e", "f", "g", "h", "missing"] {
            assert_eq!(read(empty), None, "{empty}");
        }
    }

    #[test]
    fn password_bodies_parse_and_hide_their_secrets() {
        let change = password_change(br#"{"current_password": "old", "new_password": 7}"#).unwrap();
        assert_eq!(change.current_password.as_deref(), Some("old"));
        assert_eq!(change.new_password.as_deref(), Some("7"));
        assert!(!format!("{change:?}").contains("old"));
        let reset = password_reset(b"").unwrap();
        assert_eq!((reset.key, reset.password), (None, None));
        let reset = password_reset(br#"{"key": "k3y", "password": "s3cret"}"#).unwrap();
        assert!(!format!("{reset:?}").contains("k3y"));
        assert!(!format!("{reset:?}").contains("s3cret"));
        for body in [&b"[]"[..], b"null", b"\"x\"", b"{", b"email=a"] {
            assert!(matches!(password_change(body), Err(ApiError::InvalidBody)));
            assert!(matches!(password_reset(body), Err(ApiError::InvalidBody)));
            assert!(matches!(
                password_reset_request(body),
                Err(ApiError::InvalidBody)
            ));
        }
    }

    #[test]
    fn reset_request_email_rules() {
        assert_eq!(
            password_reset_request(br#"{"email": "  Ann@Example.COM "}"#).unwrap(),
            "ann@example.com"
        );
        for (body, code) in [
            (&br#"{}"#[..], "required"),
            (b"", "required"),
            (br#"{"email": null}"#, "required"),
            (br#"{"email": ""}"#, "required"),
            (br#"{"email": 123}"#, "invalid"),
            (br#"{"email": true}"#, "invalid"),
            (br#"{"email": ["a@b.co"]}"#, "invalid"),
            (br#"{"email": {"a": 1}}"#, "invalid"),
            (br#"{"email": "not-an-email"}"#, "invalid"),
        ] {
            assert_eq!(
                codes(password_reset_request(body).unwrap_err()),
                [(code, Some("email"))],
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
