//! Where messages go (`EMAIL_BACKEND`): files under `EMAIL_FILE_PATH` (the default), standard
//! error, or an SMTP server. The delivery worker (`delivery.rs`) hands each backend one
//! composed message at a time and learns what the attempt came to; backends keep no state
//! beyond an open SMTP connection, reused for the messages of one pass.

mod console;
mod errors;
mod file;
mod smtp;

use std::path::{Path, PathBuf};

use crate::config::{Config, EmailBackend};

use super::message::{Composer, Outgoing};

pub use errors::BackendError;
pub(crate) use errors::SendError;

/// The configured backend, with `DEFAULT_FROM_EMAIL`: built once at start-up, so that a setting
/// that cannot work is refused before the server serves.
pub struct Backend {
    composer: Composer,
    transport: Transport,
}

/// What a delivered message left behind.
#[derive(Debug, Default)]
pub(crate) struct Receipt {
    /// The file it was written to (file backend).
    pub(crate) file: Option<PathBuf>,
}

enum Transport {
    File(file::FileTransport),
    Console,
    Smtp(Box<smtp::SmtpTransport>),
}

impl Backend {
    /// The backend `EMAIL_BACKEND` names, sending from `DEFAULT_FROM_EMAIL`. The file backend
    /// writes under `EMAIL_FILE_PATH`, by default `mail` in `data_dir`, and creates that
    /// directory (mode 0700) now.
    ///
    /// # Errors
    ///
    /// [`BackendError`] naming the setting that cannot work.
    pub fn from_config(config: &Config, data_dir: &Path) -> Result<Backend, BackendError> {
        let composer = Composer::new(&config.default_from_email)
            .map_err(|value| BackendError::From { value })?;
        let transport = match config.email_backend {
            EmailBackend::File => {
                let dir = match &config.email_file_path {
                    Some(dir) => dir.clone(),
                    None => data_dir.join("mail"),
                };
                let file = file::FileTransport::open(&dir)
                    .map_err(|source| BackendError::MailDir { path: dir, source })?;
                Transport::File(file)
            }
            EmailBackend::Console => Transport::Console,
            EmailBackend::Smtp => Transport::Smtp(Box::new(smtp::SmtpTransport::new(config)?)),
        };
        Ok(Backend {
            composer,
            transport,
        })
    }

    /// What the backend is, for the start-up log: no credentials.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::File(file) => format!("file under {}", file.dir().display()),
            Transport::Console => "console (standard error)".to_owned(),
            Transport::Smtp(smtp) => smtp.describe(),
        }
    }

    pub(crate) fn composer(&self) -> &Composer {
        &self.composer
    }

    /// Makes one attempt at `message`.
    pub(crate) fn send(&mut self, message: &Outgoing) -> Result<Receipt, SendError> {
        match &mut self.transport {
            Transport::File(file) => file.send(message).map(|path| Receipt { file: Some(path) }),
            Transport::Console => console::send(message).map(|()| Receipt::default()),
            Transport::Smtp(smtp) => smtp.send(message).map(|()| Receipt::default()),
        }
    }

    /// Ends a pass over the outbox: closes the SMTP connection it used.
    pub(crate) fn end_pass(&mut self) {
        if let Transport::Smtp(smtp) = &mut self.transport {
            smtp.close();
        }
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("transport", &self.describe())
            .finish_non_exhaustive()
    }
}
