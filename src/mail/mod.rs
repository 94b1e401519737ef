//! Messages the account flows send: what each says, sealed for the outbox.
//!
//! An endpoint that must send mail (a verification code, a reset link) renders the message
//! here and hands the sealed bytes to the engine command that makes the message necessary, so
//! the message is durable in the same write (the outbox is in the log). The delivery worker
//! (`delivery.rs`) opens and sends what the outbox holds, off the request path, composing each
//! message (`message.rs`) and handing it to the configured backend (`backend/`: files, the
//! console, SMTP).
//!
//! Sealing: the recipient, subject and body are encrypted with AES-256-GCM under a key derived
//! from `SECRET_KEY` (`crypto::Sealer`): the log holds no code, key or address of a
//! message in the clear.

mod backend;
mod delivery;
mod message;
mod templates;

use std::sync::{Arc, Condvar, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::crypto::{Sealer, SecretHasher};

pub use backend::{Backend, BackendError};
pub use delivery::{Delivery, DeliveryOptions, DeliveryStats};
pub use templates::Templates;

/// The associated data every sealed message is bound to.
const SEAL_LABEL: &[u8] = b"hallpass outbox v1";

/// Which message, named as allauth's templates (`account/email/<name>_subject.txt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Kind {
    /// `email_confirmation`: verify an added address (link or code).
    EmailConfirmation,
    /// `email_confirmation_signup`: verify the address just signed up with.
    EmailConfirmationSignup,
    /// `password_reset_key`: a link to set a new password.
    PasswordResetKey,
    /// `password_reset_code`: a code to set a new password.
    PasswordResetCode,
    /// `login_code`: a code to log in (or reauthenticate).
    LoginCode,
    /// `unknown_account`: someone asked for a reset or code for an address with no account.
    UnknownAccount,
    /// `account_already_exists`: someone signed up with an address that has an account.
    AccountAlreadyExists,
}

impl Kind {
    /// allauth's template name.
    pub fn template(self) -> &'static str {
        match self {
            Kind::EmailConfirmation => "email_confirmation",
            Kind::EmailConfirmationSignup => "email_confirmation_signup",
            Kind::PasswordResetKey => "password_reset_key",
            Kind::PasswordResetCode => "password_reset_code",
            Kind::LoginCode => "login_code",
            Kind::UnknownAccount => "unknown_account",
            Kind::AccountAlreadyExists => "account_already_exists",
        }
    }
}

/// What a message needs filled in; the template decides what it shows.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The code to type (`{{ code }}`).
    pub code: Option<String>,
    /// The link to follow (`{{ activate_url }}`, `{{ password_reset_url }}`, `{{ signup_url }}`).
    pub link: Option<String>,
    /// The recipient's address (`{{ email }}`).
    pub email: String,
    /// The account's username, where there is one (`{{ username }}`, `{{ user_display }}`).
    pub username: Option<String>,
}

/// A message as it will be sent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// Which message.
    pub kind: Kind,
    /// The recipient.
    pub to: String,
    /// The subject line, prefix included.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

impl std::fmt::Debug for Rendered {
    /// The body may hold a code or a key: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("kind", &self.kind)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Renders and seals messages, and opens them again for delivery.
#[derive(Debug, Clone)]
pub struct Mailer {
    sealer: Sealer,
    templates: Templates,
    frontend_urls: std::collections::BTreeMap<String, String>,
    wake: Arc<Wake>,
}

/// How an endpoint that queued a message wakes the delivery worker.
#[derive(Debug, Default)]
struct Wake {
    queued: Mutex<bool>,
    ready: Condvar,
}

impl Mailer {
    /// The mailer of `config`, sealing under a key derived from `SECRET_KEY` through `hasher`.
    pub fn new(config: &Config, hasher: &SecretHasher, templates: Templates) -> Mailer {
        Mailer {
            sealer: Sealer::new(hasher.derive("outbox"), SEAL_LABEL),
            templates,
            frontend_urls: config.frontend_urls.clone(),
            wake: Arc::default(),
        }
    }

    /// Tells the delivery worker that the outbox has something new (call after the engine
    /// command that queued a message returned). Cheap, never blocks.
    pub fn wake(&self) {
        let mut queued = self.wake.queued.lock().unwrap_or_else(|e| e.into_inner());
        *queued = true;
        self.wake.ready.notify_all();
    }

    /// Waits until [`Mailer::wake`] was called since the last return, or `timeout` passed;
    /// answers whether it was woken. For the delivery worker.
    pub fn wait_for_mail(&self, timeout: std::time::Duration) -> bool {
        let queued = self.wake.queued.lock().unwrap_or_else(|e| e.into_inner());
        let (mut queued, _) = self
            .wake
            .ready
            .wait_timeout_while(queued, timeout, |q| !*q)
            .unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *queued, false)
    }

    /// The frontend URL `name` (allauth's `HEADLESS_FRONTEND_URLS`) with `{key}` filled in, if
    /// configured.
    pub fn link(&self, name: &str, key: Option<&str>) -> Option<String> {
        let url = self.frontend_urls.get(name)?;
        Some(match key {
            Some(key) => url.replace("{key}", key),
            None => url.clone(),
        })
    }

    /// Message `kind` to `to`, rendered and sealed for the outbox.
    pub fn seal(&self, kind: Kind, to: &str, context: &Context) -> Vec<u8> {
        let (subject, body) = self.templates.render(kind, context);
        let rendered = Rendered {
            kind,
            to: to.to_owned(),
            subject,
            body,
        };
        // why: serializing plain strings into a Vec cannot fail.
        let plain = serde_json::to_vec(&rendered).unwrap_or_default();
        self.sealer.seal(&plain)
    }

    /// The message `sealed` holds, or `None` when it was not sealed by this deployment's key.
    pub fn open(&self, sealed: &[u8]) -> Option<Rendered> {
        let plain = zeroize::Zeroizing::new(self.sealer.open(sealed)?);
        serde_json::from_slice(&plain).ok()
    }
}
