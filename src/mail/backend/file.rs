//! The file backend, the embedded default: each message one RFC 5322 file,
//! `<queued, UTC, YYYYMMDD-HHMMSS>-<outbox id>.eml`, in a directory of mode 0700, each file mode
//! 0600 (messages hold codes and links).
//!
//! Django's filebased backend appends every message of a connection to one
//! `<timestamp>-<id(self)>.log`; one file per message, named by its outbox entry, lets a mail
//! client open each and makes a repeated attempt rewrite the same file instead of adding a
//! copy. A file is written under a temporary name, fsynced, renamed into place and the
//! directory fsynced: once the outbox records the message sent, its file survives a crash,
//! and no reader ever sees half a message.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::errors::SendError;
use crate::mail::message::Outgoing;

/// Writes messages under one directory.
#[derive(Debug)]
pub(crate) struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// The backend writing under `dir`, created (mode 0700) with its parents when missing.
    pub(crate) fn open(dir: &Path) -> std::io::Result<FileTransport> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        Ok(FileTransport {
            dir: dir.to_owned(),
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `message`; answers its path. Any failure is the directory's, not the message's:
    /// [`SendError::Unavailable`].
    pub(crate) fn send(&self, message: &Outgoing) -> Result<PathBuf, SendError> {
        let name = format!(
            "{}-{}.eml",
            compact_utc(message.queued_at.as_secs()),
            message.id
        );
        let path = self.dir.join(&name);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        self.write(&temporary, &path, &message.bytes)
            .map_err(|e| SendError::Unavailable(format!("writing {}: {e}", path.display())))?;
        Ok(path)
    }

    fn write(&self, temporary: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut options = fs::OpenOptions::new();
        // A temporary file left by a crash is overwritten.
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(temporary, path)?;
        fs::File::open(&self.dir)?.sync_all()
    }
}

/// Unix seconds `secs` as `YYYYMMDD-HHMMSS` in UTC.
fn compact_utc(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_utc_timestamps() {
        assert_eq!(compact_utc(0), "19700101-000000");
        assert_eq!(compact_utc(1_700_000_000), "20231114-221320");
        assert_eq!(compact_utc(951_782_400), "20000229-000000");
        // 2100 is no leap year.
        assert_eq!(compact_utc(4_107_542_399), "21000228-235959");
        assert_eq!(compact_utc(4_107_542_400), "21000301-000000");
    }
}
