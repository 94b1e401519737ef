//! Replays exchanges recorded from django-allauth 65.22.1 (`tests/fixtures/allauth/*.json`)
//! against a test server and checks that hallpass answers the same: status, and body modulo
//! the fixtures' placeholders (`<session_token:N>`, `<user_id:N>`, `<ts>`, ...), plus the
//! mails of the kinds a test names (recipient, subject and body, the codes and keys in them
//! bound to their placeholders for later requests).
//!
//! Placeholders bind on first sight, from a response or a mail: a later `<session_token:2>` in
//! a request sends what the server answered for it, and a later one in a response must be the
//! same value; a new one must differ from every value of its kind bound before. Where hallpass
//! answers differently on purpose, a test edits the recorded response before comparing
//! ([`Replay::run_edited`]) and says why.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use serde_json::Value;

use crate::web_util::{Response, TEST_SECRET_KEY, TestServer, request};

/// The header a replay sends each exchange's `client_ip` in; the server must trust it
/// (`ALLAUTH_TRUSTED_CLIENT_IP_HEADER`).
pub(crate) const CLIENT_IP_HEADER: &str = "X-Real-IP";

/// The subject prefix of every recorded mail (allauth's site `example.com`); test servers
/// replaying mails set `HALLPASS_SITE_NAME=example.com`.
const SUBJECT_PREFIX: &str = "[example.com] ";

/// One fixture being replayed against one server.
pub(crate) struct Replay<'a> {
    server: &'a TestServer,
    name: String,
    exchanges: Vec<Value>,
    bound: HashMap<String, Value>,
    /// Subjects (without the prefix) of the mails compared; others, on either side, are left
    /// out (notifications hallpass does not send, other areas' mails).
    mail_subjects: &'static [&'static str],
    /// How many of the server's mails earlier exchanges accounted for.
    mails_seen: usize,
}

impl<'a> Replay<'a> {
    /// The exchanges of `tests/fixtures/allauth/{fixture}.json`, against `server`, comparing
    /// the mails with these subjects.
    pub(crate) fn new(
        server: &'a TestServer,
        fixture: &str,
        mail_subjects: &'static [&'static str],
    ) -> Replay<'a> {
        let path = format!(
            "{}/tests/fixtures/allauth/{fixture}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let json: Value = serde_json::from_str(&text).unwrap();
        Replay {
            server,
            name: fixture.to_owned(),
            exchanges: json["exchanges"].as_array().unwrap().clone(),
            bound: HashMap::new(),
            mail_subjects,
            mails_seen: sent(server).len(),
        }
    }

    /// Binds `placeholder` (e.g. `<session_token:8>`) to `value`, for exchanges the test made
    /// another way (a login by code, a fixture tool).
    pub(crate) fn bind(&mut self, placeholder: &str, value: Value) {
        self.bound.insert(placeholder.to_owned(), value);
    }

    /// What `placeholder` is bound to.
    pub(crate) fn bound(&self, placeholder: &str) -> &Value {
        self.bound
            .get(placeholder)
            .unwrap_or_else(|| panic!("{placeholder} is not bound"))
    }

    /// Replays exchanges `range` as recorded.
    pub(crate) fn run_range(&mut self, range: RangeInclusive<usize>) {
        for i in range {
            self.run(i);
        }
    }

    /// Replays exchange `i` and checks the answer is the recorded one.
    pub(crate) fn run(&mut self, i: usize) -> Response {
        self.run_edited(i, |_| {})
    }

    /// Replays exchange `i` and checks the answer is the recorded one as `edit` changes it
    /// (`{status, body, emails}`): a deliberate difference.
    pub(crate) fn run_edited(&mut self, i: usize, edit: impl FnOnce(&mut Value)) -> Response {
        let exchange = self.exchanges[i].clone();
        let context = format!(
            "{} #{i} ({})",
            self.name,
            exchange["comment"].as_str().unwrap_or_default()
        );
        let response = self.send(&exchange["request"], exchange.get("client_ip"));
        let mut expected = serde_json::json!({
            "status": exchange["response"]["status"],
            "body": exchange["response"]["body"],
            "emails": exchange["emails"],
        });
        edit(&mut expected);
        assert_eq!(
            u64::from(response.status),
            expected["status"].as_u64().unwrap(),
            "{context}: status; body {}",
            String::from_utf8_lossy(&response.body)
        );
        let actual: Value = serde_json::from_slice(&response.body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&response.body).into_owned())
        });
        if let Err(e) = self.match_value(&expected["body"], &actual, "body") {
            panic!(
                "{context}: {e}\n expected {}\n actual   {actual}",
                expected["body"]
            );
        }
        self.check_mails(&expected["emails"], &context);
        response
    }

    fn send(&self, recorded: &Value, client_ip: Option<&Value>) -> Response {
        let method = recorded["method"].as_str().unwrap();
        let path = recorded["path"].as_str().unwrap();
        let mut headers: Vec<(String, String)> = recorded["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), self.substitute_text(v.as_str().unwrap())))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(ip) = client_ip.and_then(Value::as_str) {
            headers.push((CLIENT_IP_HEADER.to_owned(), ip.to_owned()));
        }
        let body: Option<Vec<u8>> = if let Some(raw) = recorded.get("raw_body") {
            // The recorder sent invalid UTF-8 as the byte 0xFF and wrote it as U+FFFD.
            let raw = raw.as_str().unwrap().replace('\u{fffd}', "\u{0}");
            Some(raw.bytes().map(|b| if b == 0 { 0xff } else { b }).collect())
        } else {
            match recorded.get("body") {
                None | Some(Value::Null) => None,
                Some(body) => Some(self.substitute(body).to_string().into_bytes()),
            }
        };
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        request(self.server.addr, method, path, &headers, body.as_deref())
    }

    /// `value` with every placeholder string replaced by what it is bound to.
    fn substitute(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => match placeholder(s) {
                Some((base, modifier)) => match self.bound.get(&base) {
                    Some(Value::String(bound)) => Value::String(modified(bound, modifier)),
                    Some(other) => other.clone(),
                    None => panic!("{}: {s} sent before it was bound", self.name),
                },
                None => value.clone(),
            },
            Value::Array(items) => Value::Array(items.iter().map(|v| self.substitute(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.substitute(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn substitute_text(&self, text: &str) -> String {
        match self.substitute(&Value::String(text.to_owned())) {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }

    /// Whether `actual` is `expected` modulo placeholders, binding new ones.
    fn match_value(&mut self, expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
        match (expected, actual) {
            (Value::String(e), _) if e == "<ts>" => actual
                .is_number()
                .then_some(())
                .ok_or_else(|| format!("{at}: {actual} is not a timestamp")),
            (Value::String(e), _) if placeholder(e).is_some() => {
                self.bind_or_compare(e, actual, at)
            }
            (Value::Object(e), Value::Object(a)) => {
                let mut ek: Vec<&String> = e.keys().collect();
                let mut ak: Vec<&String> = a.keys().collect();
                ek.sort();
                ak.sort();
                if ek != ak {
                    return Err(format!("{at}: keys {ak:?}, expected {ek:?}"));
                }
                for (k, v) in e {
                    self.match_value(v, &a[k], &format!("{at}.{k}"))?;
                }
                Ok(())
            }
            (Value::Array(e), Value::Array(a)) => {
                if e.len() != a.len() {
                    return Err(format!("{at}: {} items, expected {}", a.len(), e.len()));
                }
                for (n, (ev, av)) in e.iter().zip(a).enumerate() {
                    self.match_value(ev, av, &format!("{at}[{n}]"))?;
                }
                Ok(())
            }
            _ if expected == actual => Ok(()),
            _ => Err(format!("{at}: {actual}, expected {expected}")),
        }
    }

    fn bind_or_compare(&mut self, name: &str, actual: &Value, at: &str) -> Result<(), String> {
        if let Some(bound) = self.bound.get(name) {
            return (bound == actual)
                .then_some(())
                .ok_or_else(|| format!("{at}: {actual}, expected {name} = {bound}"));
        }
        let kind = name.split(':').next().unwrap_or_default();
        let want_integer = kind == "<user_id";
        if want_integer != actual.is_u64() || (!want_integer && !actual.is_string()) {
            return Err(format!("{at}: {actual} cannot stand for {name}"));
        }
        if let Some((other, _)) = self
            .bound
            .iter()
            .find(|(k, v)| k.starts_with(kind) && *v == actual)
        {
            return Err(format!("{at}: {name} is new but equals {other}"));
        }
        self.bound.insert(name.to_owned(), actual.clone());
        Ok(())
    }

    /// The mails `recorded` against those the server queued meanwhile, both limited to the
    /// compared subjects.
    fn check_mails(&mut self, recorded: &Value, context: &str) {
        let sent = sent(self.server);
        let ours: Vec<_> = sent[self.mails_seen..]
            .iter()
            .filter(|m| self.compared(&m.subject))
            .cloned()
            .collect();
        self.mails_seen = sent.len();
        let recorded: Vec<&Value> = recorded
            .as_array()
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        let recorded: Vec<&Value> = recorded
            .into_iter()
            .filter(|m| self.compared(m["subject"].as_str().unwrap()))
            .collect();
        assert_eq!(
            ours.len(),
            recorded.len(),
            "{context}: mails {:?}, recorded {:?}",
            ours.iter().map(|m| &m.subject).collect::<Vec<_>>(),
            recorded.iter().map(|m| &m["subject"]).collect::<Vec<_>>()
        );
        for (mail, expected) in ours.iter().zip(recorded) {
            assert_eq!(
                Value::String(mail.to.clone()),
                expected["to"][0],
                "{context}"
            );
            assert_eq!(
                mail.subject,
                expected["subject"].as_str().unwrap(),
                "{context}"
            );
            let pattern = expected["body"].as_str().unwrap();
            // The recorder keeps the body without its final newline.
            if let Err(e) = self.match_text(pattern.trim_end(), mail.body.trim_end()) {
                panic!(
                    "{context}: mail body: {e}\n expected {pattern:?}\n actual   {:?}",
                    mail.body
                );
            }
        }
    }

    fn compared(&self, subject: &str) -> bool {
        subject
            .strip_prefix(SUBJECT_PREFIX)
            .is_some_and(|s| self.mail_subjects.contains(&s))
    }

    /// Whether `actual` is the text `pattern` with its placeholders filled in, binding them.
    fn match_text(&mut self, pattern: &str, actual: &str) -> Result<(), String> {
        let mut rest = actual;
        let mut pieces = text_pieces(pattern).into_iter().peekable();
        while let Some(piece) = pieces.next() {
            match piece {
                Piece::Literal(text) => {
                    rest = rest
                        .strip_prefix(text)
                        .ok_or_else(|| format!("expected {text:?} at {rest:?}"))?;
                }
                Piece::Placeholder(name) => {
                    let end = match pieces.peek() {
                        Some(Piece::Literal(next)) => rest
                            .find(next)
                            .ok_or_else(|| format!("expected {next:?} after {name}"))?,
                        _ => rest.len(),
                    };
                    let (value, tail) = rest.split_at(end);
                    let (base, _) = placeholder(name).unwrap_or((name.to_owned(), None));
                    self.bind_or_compare(&base, &Value::String(value.to_owned()), "mail")?;
                    rest = tail;
                }
            }
        }
        rest.is_empty()
            .then_some(())
            .ok_or_else(|| format!("unexpected tail {rest:?}"))
    }
}

/// `Some((base, modifier))` when `text` is a whole placeholder: `<code:5:lowercase-undashed>`
/// is `("<code:5>", Some("lowercase-undashed"))`.
fn placeholder(text: &str) -> Option<(String, Option<&str>)> {
    let inner = text.strip_prefix('<')?.strip_suffix('>')?;
    let mut parts = inner.splitn(3, ':');
    let kind = parts.next()?;
    let number = parts.next()?;
    if !KINDS.contains(&kind) || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((format!("<{kind}:{number}>"), parts.next()))
}

/// The placeholder kinds of the fixtures (`<ts>` and `<datetime>` aside).
const KINDS: &[&str] = &[
    "session_token",
    "access_token",
    "refresh_token",
    "code",
    "email_key",
    "reset_key",
    "expired_email_key",
    "expired_reset_key",
    "user_id",
];

/// A bound value as a request sends it with `modifier`.
fn modified(value: &str, modifier: Option<&str>) -> String {
    match modifier {
        Some("lowercase-undashed") => value.to_lowercase().replace('-', ""),
        Some(other) => panic!("unknown placeholder modifier {other}"),
        None => value.to_owned(),
    }
}

enum Piece<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

/// `pattern` cut into literal text and placeholders (`<datetime>` counts as one).
fn text_pieces(pattern: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let candidate = &rest[start..=start + len];
        if placeholder(candidate).is_some() || candidate == "<datetime>" {
            if start > 0 {
                pieces.push(Piece::Literal(&rest[..start]));
            }
            pieces.push(Piece::Placeholder(candidate));
            rest = &rest[start + len + 1..];
        } else {
            pieces.push(Piece::Literal(&rest[..=start]));
            rest = &rest[start + 1..];
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest));
    }
    // Merge adjacent literals so that a placeholder's end is found by the whole next text.
    let mut merged: Vec<Piece<'_>> = Vec::new();
    for piece in pieces {
        if let (Some(Piece::Literal(last)), Piece::Literal(text)) = (merged.last_mut(), &piece) {
            let start = last.as_ptr() as usize - pattern.as_ptr() as usize;
            let end = text.as_ptr() as usize - pattern.as_ptr() as usize + text.len();
            *last = &pattern[start..end];
            continue;
        }
        merged.push(piece);
    }
    merged
}

/// A message the server queued.
#[derive(Clone, Debug)]
pub(crate) struct SentMail {
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) body: String,
}

/// The server's outbox, opened, oldest first.
pub(crate) fn sent(server: &TestServer) -> Vec<SentMail> {
    hallpass::testing::sent_mail(&server.engine, TEST_SECRET_KEY)
        .into_iter()
        .map(|m| SentMail {
            to: m.to,
            subject: m.subject,
            body: m.body,
        })
        .collect()
}
