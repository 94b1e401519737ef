//! What can go wrong with a backend: settings that cannot work ([`BackendError`], at start-up)
//! and attempts that did not deliver ([`SendError`], per message).

use std::path::PathBuf;

/// Why [`Backend::from_config`](super::Backend::from_config) refused the settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// `DEFAULT_FROM_EMAIL` is not a mailbox.
    #[error("DEFAULT_FROM_EMAIL: {value:?} is not an address (`addr@host` or `Name <addr@host>`)")]
    From {
        /// The value as given (an address, not a secret).
        value: String,
    },
    /// The file backend's directory cannot be created.
    #[error("EMAIL_FILE_PATH: cannot create {}: {source}", path.display())]
    MailDir {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Both TLS settings are on.
    #[error(
        "EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive, so only set one of those settings \
         to true"
    )]
    TlsAndSsl,
    /// TLS towards `EMAIL_HOST` cannot be set up.
    #[error("EMAIL_HOST: TLS for {host:?} cannot be set up: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
}

/// What an attempt came to when it did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The message itself was refused for good (a 5xx reply to `MAIL`, `RCPT` or the data, an
    /// address the server cannot take): no later attempt would do better.
    Permanent(String),
    /// This message failed this time (a 4xx reply, a connection lost mid-message): try it again
    /// later.
    Transient(String),
    /// The backend cannot take any message now (the server unreachable, TLS or authentication
    /// failing, the directory unwritable): try again later, and hold the messages behind it.
    Unavailable(String),
}
