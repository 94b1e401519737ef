//! The console backend: each message written whole to standard error, followed by a line of 79
//! dashes, as Django's console backend writes them (to standard output there; hallpass keeps
//! standard output for commands' results). For development: the codes and links are on the
//! terminal, as they are meant to be.

use std::io::Write;

use super::errors::SendError;
use crate::mail::message::Outgoing;

/// Writes `message` to standard error in one locked write.
pub(crate) fn send(message: &Outgoing) -> Result<(), SendError> {
    let text = String::from_utf8_lossy(&message.bytes).replace("\r\n", "\n");
    let text = zeroize::Zeroizing::new(format!("{text}\n{}\n", "-".repeat(79)));
    let mut stderr = std::io::stderr().lock();
    stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.flush())
        .map_err(|e| SendError::Unavailable(format!("writing to standard error: {e}")))
}
