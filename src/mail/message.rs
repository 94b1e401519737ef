//! A message as it goes out: the outbox's [`Rendered`] text made into RFC 5322 bytes, with the
//! headers Django's `EmailMessage` writes (`From`, `To`, `Subject`, `Date`, `Message-ID`,
//! `MIME-Version`, `Content-Type: text/plain; charset=utf-8`, `Content-Transfer-Encoding`).
//!
//! Every backend sends the same bytes: the file backend writes them, the console prints them,
//! SMTP sends them with the envelope. A subject outside ASCII is an RFC 2047 encoded word; the
//! body is 7bit when it is ASCII in short lines, quoted-printable otherwise (Django picks 8bit
//! there; quoted-printable needs no 8BITMIME from the relay).
//!
//! `[ours]` The same outbox entry always makes the same bytes: `Date` is when the message was
//! queued (RFC 5322's "ready to enter the mail delivery system"), not when an attempt ran, and
//! `Message-ID` is derived from the sealed entry (a hash, which shows neither the content nor
//! how many messages the deployment sent). A message sent again after a crash (delivery is
//! at-least-once) therefore carries the same `Message-ID`, which mail systems use to drop
//! duplicates.

use std::time::{Duration, SystemTime};

use lettre::address::{Address, Envelope};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use zeroize::Zeroizing;

use crate::clock::Timestamp;
use crate::crypto::sha256;
use crate::state::Mail;

use super::{Kind, Rendered};

/// Builds outgoing messages from `DEFAULT_FROM_EMAIL`.
#[derive(Clone, Debug)]
pub(crate) struct Composer {
    from: Mailbox,
}

/// One message ready for a backend.
pub(crate) struct Outgoing {
    /// The outbox entry's id.
    pub(crate) id: u64,
    /// Which message.
    pub(crate) kind: Kind,
    /// The recipient (never logged: see [`Outgoing::to_domain`]).
    pub(crate) to: String,
    /// When it was queued.
    pub(crate) queued_at: Timestamp,
    /// Sender and recipient for SMTP's `MAIL FROM` and `RCPT TO`.
    pub(crate) envelope: Envelope,
    /// The whole message, headers and body, with CRLF line ends. Holds the code or key.
    pub(crate) bytes: Zeroizing<Vec<u8>>,
}

/// Why a message cannot be composed: it is given up, since no attempt would do better.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Uncomposable {
    /// The recipient is not an address a message can go to.
    Recipient,
    /// The message cannot be built (lettre refused it).
    Message(String),
}

impl Composer {
    /// A composer sending from `default_from_email` (`addr@host` or `Name <addr@host>`).
    ///
    /// # Errors
    ///
    /// The value when it is not a mailbox.
    pub(crate) fn new(default_from_email: &str) -> Result<Composer, String> {
        let from = default_from_email
            .parse::<Mailbox>()
            .map_err(|_| default_from_email.to_owned())?;
        Ok(Composer { from })
    }

    /// Outbox entry `mail`, opened as `rendered`, as a message.
    ///
    /// # Errors
    ///
    /// [`Uncomposable`] when the recipient does not parse or the message cannot be built.
    pub(crate) fn compose(
        &self,
        mail: &Mail,
        rendered: &Rendered,
    ) -> Result<Outgoing, Uncomposable> {
        let to = rendered
            .to
            .parse::<Address>()
            .map_err(|_| Uncomposable::Recipient)?;
        let digest = sha256(&mail.sealed);
        let message_id = format!("<{}@{}>", hex(&digest[..16]), self.from.email.domain());
        let millis = u64::try_from(mail.queued_at.as_millis()).unwrap_or(0);
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(rendered.subject.clone())
            .date(SystemTime::UNIX_EPOCH + Duration::from_millis(millis))
            .message_id(Some(message_id))
            .header(lettre::message::header::MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN)
            .body(rendered.body.clone())
            .map_err(|e| Uncomposable::Message(e.to_string()))?;
        Ok(Outgoing {
            id: mail.id,
            kind: rendered.kind,
            to: rendered.to.clone(),
            queued_at: mail.queued_at,
            envelope: message.envelope().clone(),
            bytes: Zeroizing::new(message.formatted()),
        })
    }
}

impl Outgoing {
    /// The recipient's domain: what logs show of the address.
    pub(crate) fn to_domain(&self) -> &str {
        self.to.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// `text` (a server's reply, an error) with the recipient's address, and its local part,
    /// replaced by `<recipient>`: servers echo the address they refuse, and logs never hold it.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = replace_ignoring_ascii_case(text, &self.to);
        if let Some((local, _)) = self.to.rsplit_once('@')
            && !local.is_empty()
        {
            out = replace_ignoring_ascii_case(&out, local);
        }
        out
    }
}

impl std::fmt::Debug for Outgoing {
    /// The recipient and the bytes hold personal data and secrets: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for Uncomposable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Uncomposable::Recipient => f.write_str("the recipient is not a valid address"),
            Uncomposable::Message(e) => write!(f, "the message cannot be built: {e}"),
        }
    }
}

/// Lower-case hexadecimal of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text` with every ASCII-case-insensitive occurrence of `needle` replaced by `<recipient>`.
fn replace_ignoring_ascii_case(text: &str, needle: &str) -> String {
    if needle.is_empty() {
        return text.to_owned();
    }
    // why: ASCII lower-casing keeps every byte offset, so offsets found in `lower` index `text`
    // at the same char boundaries (a match starts and ends where `needle`'s chars do).
    let lower = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower.match_indices(&needle) {
        if at < rest {
            continue;
        }
        out.push_str(text.get(rest..at).unwrap_or_default());
        out.push_str("<recipient>");
        rest = at + needle.len();
    }
    out.push_str(text.get(rest..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(sealed: &[u8]) -> Mail {
        Mail {
            id: 7,
            sealed: sealed.to_vec(),
            queued_at: Timestamp::from_secs(1_700_000_000),
            failed_attempts: 0,
        }
    }

    fn rendered(to: &str, subject: &str, body: &str) -> Rendered {
        Rendered {
            kind: Kind::LoginCode,
            to: to.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
        }
    }

    fn text(out: &Outgoing) -> String {
        String::from_utf8(out.bytes.to_vec()).unwrap()
    }

    #[test]
    fn headers_are_djangos_and_the_bytes_repeat_for_one_entry() {
        let composer = Composer::new("Hallpass <noreply@example.org>").unwrap();
        let rendered = rendered(
            "alice@example.com",
            "[hallpass] Sign-In Code",
            "Code: ABCD-1234\n",
        );
        let out = composer.compose(&mail(b"sealed"), &rendered).unwrap();
        let text = text(&out);
        for header in [
            "From: Hallpass <noreply@example.org>\r\n",
            "To: alice@example.com\r\n",
            "Subject: [hallpass] Sign-In Code\r\n",
            "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "Content-Transfer-Encoding: 7bit\r\n",
        ] {
            assert!(text.contains(header), "{header:?} missing in {text}");
        }
        assert!(text.ends_with("\r\n\r\nCode: ABCD-1234\r\n"), "{text}");
        let id = text
            .lines()
            .find(|l| l.starts_with("Message-ID: <"))
            .unwrap();
        assert!(id.ends_with("@example.org>"), "{id}");
        let again = composer.compose(&mail(b"sealed"), &rendered).unwrap();
        assert_eq!(text, self::text(&again));
        let other = composer.compose(&mail(b"other"), &rendered).unwrap();
        assert_ne!(text, self::text(&other));
        assert_eq!(out.envelope.to().len(), 1);
        assert_eq!(out.to_domain(), "example.com");
    }

    #[test]
    fn utf8_subject_and_body_stay_ascii_on_the_wire() {
        let composer = Composer::new("noreply@example.org").unwrap();
        let rendered = rendered("bob@example.com", "[Café] Réinitialiser", "Bonjour Zoë,\n");
        let out = composer.compose(&mail(b"x"), &rendered).unwrap();
        let text = text(&out);
        assert!(text.is_ascii(), "{text}");
        assert!(text.contains("Subject: =?utf-8?"), "{text}");
        assert!(
            text.contains("Content-Transfer-Encoding: quoted-printable"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_recipient_or_sender_is_refused() {
        assert!(Composer::new("not an address").is_err());
        let composer = Composer::new("noreply@example.org").unwrap();
        let out = composer.compose(&mail(b"x"), &rendered("nobody", "s", "b"));
        assert_eq!(out.err(), Some(Uncomposable::Recipient));
    }

    #[test]
    fn scrub_hides_the_recipient_in_any_case() {
        let composer = Composer::new("noreply@example.org").unwrap();
        let out = composer
            .compose(&mail(b"x"), &rendered("Alice.B@Example.com", "s", "b"))
            .unwrap();
        assert_eq!(
            out.scrub("550 5.1.1 <alice.b@example.COM>: unknown user alice.b"),
            "550 5.1.1 <<recipient>>: unknown user <recipient>"
        );
        assert_eq!(out.scrub("451 try later"), "451 try later");
    }
}
