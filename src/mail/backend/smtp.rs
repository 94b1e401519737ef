//! The SMTP backend, as Django's: `EMAIL_HOST`:`EMAIL_PORT`, STARTTLS with `EMAIL_USE_TLS` or
//! implicit TLS with `EMAIL_USE_SSL` (never both), `AUTH` when `EMAIL_HOST_USER` and
//! `EMAIL_HOST_PASSWORD` are both set, every read and write bounded by `EMAIL_TIMEOUT`. TLS is
//! rustls trusting the system's certificate store; with TLS asked for, a server that does not
//! offer it is an error, never a fallback to plain text.
//!
//! One connection serves the messages of one pass over the outbox (as Django's
//! `send_messages`) and is closed at its end. What a failure means is decided by where it
//! happened: before `MAIL FROM` (connect, TLS, `EHLO`, `AUTH`) the server is
//! [`Unavailable`](SendError::Unavailable), whatever the reply code, since a wrong password or
//! a refused connection says nothing about the message; after it, a 5xx reply is the message's
//! [`Permanent`](SendError::Permanent) refusal (as is an address or message the server lacks
//! the extension for) and anything else [`Transient`](SendError::Transient). A failed message drops the connection (its
//! transaction state is unknown); the next message opens a new one.

use std::time::Duration;

use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use super::errors::{BackendError, SendError};
use crate::config::Config;
use crate::mail::message::Outgoing;

/// Sends to one SMTP server.
pub(crate) struct SmtpTransport {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    timeout: Duration,
    hello: ClientId,
    connection: Option<SmtpConnection>,
}

enum Security {
    /// No TLS (Django's default).
    Plain,
    /// `EMAIL_USE_TLS`: STARTTLS after the greeting, required.
    StartTls(TlsParameters),
    /// `EMAIL_USE_SSL`: TLS from the first byte (SMTPS, port 465).
    Implicit(TlsParameters),
}

impl SmtpTransport {
    /// The transport `config`'s `EMAIL_*` settings describe. Connects to nothing yet.
    pub(crate) fn new(config: &Config) -> Result<SmtpTransport, BackendError> {
        let host = config.email_host.clone();
        let tls = || {
            TlsParameters::new(host.clone()).map_err(|e| BackendError::Tls {
                host: host.clone(),
                reason: e.to_string(),
            })
        };
        let security = match (config.email_use_tls, config.email_use_ssl) {
            (true, true) => return Err(BackendError::TlsAndSsl),
            (true, false) => Security::StartTls(tls()?),
            (false, true) => Security::Implicit(tls()?),
            (false, false) => Security::Plain,
        };
        // Django logs in only when both are set.
        let credentials = match (&config.email_host_user, &config.email_host_password) {
            (Some(user), Some(password)) if !password.expose().is_empty() => {
                Some(Credentials::new(user.clone(), password.expose().to_owned()))
            }
            _ => None,
        };
        Ok(SmtpTransport {
            host,
            port: config.email_port,
            security,
            credentials,
            timeout: Duration::from_secs(u64::try_from(config.email_timeout_secs).unwrap_or(30)),
            hello: ClientId::default(),
            connection: None,
        })
    }

    pub(crate) fn describe(&self) -> String {
        let security = match self.security {
            Security::Plain => "plain",
            Security::StartTls(_) => "STARTTLS",
            Security::Implicit(_) => "TLS",
        };
        let auth = match self.credentials {
            Some(_) => ", with AUTH",
            None => "",
        };
        format!("smtp to {}:{} ({security}{auth})", self.host, self.port)
    }

    /// One attempt at `message`, on this pass's connection (opened if needed).
    pub(crate) fn send(&mut self, message: &Outgoing) -> Result<(), SendError> {
        let mut connection = match self.connection.take() {
            Some(connection) if !connection.has_broken() => connection,
            _ => self
                .connect()
                .map_err(|e| SendError::Unavailable(describe(&e)))?,
        };
        match transaction(&mut connection, message) {
            Ok(()) => {
                self.connection = Some(connection);
                Ok(())
            }
            Err(e) => {
                connection.abort();
                Err(e)
            }
        }
    }

    /// Ends the session politely, if one is open.
    pub(crate) fn close(&mut self) {
        if let Some(mut connection) = self.connection.take()
            && connection.quit().is_err()
        {
            connection.abort();
        }
    }

    fn connect(&self) -> Result<SmtpConnection, SmtpError> {
        let implicit = match &self.security {
            Security::Implicit(tls) => Some(tls),
            _ => None,
        };
        let mut connection = SmtpConnection::connect(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            implicit,
            None,
        )?;
        if let Security::StartTls(tls) = &self.security
            && let Err(e) = connection.starttls(tls, &self.hello)
        {
            connection.abort();
            return Err(e);
        }
        if let Some(credentials) = &self.credentials
            && let Err(e) = connection.auth(DEFAULT_MECHANISMS, credentials)
        {
            connection.abort();
            return Err(e);
        }
        Ok(connection)
    }
}

/// One mail transaction (`MAIL FROM`, `RCPT TO`, `DATA`, the message) on `connection`.
///
/// lettre's `SmtpConnection::send` does the same, but writes the message and its terminating
/// dot in two writes; Nagle's algorithm then holds the dot back until the server's delayed ACK
/// (40 ms on Linux), which capped delivery at 20 messages a second to a local relay. Here the
/// dot-stuffed message and its terminator go out in one write.
fn transaction(connection: &mut SmtpConnection, message: &Outgoing) -> Result<(), SendError> {
    let refused = |e: &SmtpError| {
        let reason = message.scrub(&describe(e));
        match e.is_permanent() {
            true => SendError::Permanent(reason),
            false => SendError::Transient(reason),
        }
    };
    let envelope = &message.envelope;
    let mut parameters = Vec::new();
    let ascii = |address: &lettre::Address| AsRef::<str>::as_ref(address).is_ascii();
    if !envelope.from().is_none_or(ascii) || !envelope.to().iter().all(ascii) {
        if !connection
            .server_info()
            .supports_feature(Extension::SmtpUtfEight)
        {
            return Err(SendError::Permanent(
                "the address is not ASCII and the server does not offer SMTPUTF8".to_owned(),
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !message.bytes.is_ascii() {
        if !connection
            .server_info()
            .supports_feature(Extension::EightBitMime)
        {
            return Err(SendError::Permanent(
                "the message is not ASCII and the server does not offer 8BITMIME".to_owned(),
            ));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let data = dot_stuffed(&message.bytes)
        .ok_or_else(|| SendError::Permanent("the message is not UTF-8".to_owned()))?;
    connection
        .command(Mail::new(envelope.from().cloned(), parameters))
        .map_err(|e| refused(&e))?;
    for recipient in envelope.to() {
        connection
            .command(Rcpt::new(recipient.clone(), Vec::new()))
            .map_err(|e| refused(&e))?;
    }
    connection.command(Data).map_err(|e| refused(&e))?;
    connection
        .command(Payload(&data))
        .map_err(|e| refused(&e))?;
    Ok(())
}

/// `bytes` as SMTP's `DATA` sends them (RFC 5321 section 4.5.2): a dot doubled at the start of
/// a line, then the line holding only a dot.
fn dot_stuffed(bytes: &[u8]) -> Option<zeroize::Zeroizing<String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut out = zeroize::Zeroizing::new(String::with_capacity(text.len() + 16));
    if text.starts_with('.') {
        out.push('.');
    }
    let mut lines = text.split("\r\n.").peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        if lines.peek().is_some() {
            out.push_str("\r\n..");
        }
    }
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    Some(out)
}

/// Bytes written as they are: lettre's `command` writes a `Display` in one write and reads the
/// reply.
struct Payload<'a>(&'a str);

impl std::fmt::Display for Payload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// An SMTP error with its causes: lettre's `Display` stops at the kind and first source.
fn describe(error: &SmtpError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error).and_then(std::error::Error::source);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_at_line_starts_are_doubled_and_the_dot_line_ends_the_data() {
        let stuffed = |s: &str| dot_stuffed(s.as_bytes()).unwrap().to_string();
        assert_eq!(stuffed("a\r\n.b\r\n"), "a\r\n..b\r\n.\r\n");
        assert_eq!(stuffed(".x\r\n.\r\n..y"), "..x\r\n..\r\n...y\r\n.\r\n");
        assert_eq!(stuffed("no dot"), "no dot\r\n.\r\n");
        assert!(dot_stuffed(&[0xff]).is_none());
    }
}
