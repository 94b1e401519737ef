//! Where events live: the [`EventStore`] trait and its backends.
//!
//! Only the engine's writer thread appends. A store keeps batches as whole records (one batch,
//! one record), so a batch is on disk entirely or not at all, and hands them back in order.
//! The trait is deliberately small — append a batch with an expected last position, make it
//! durable, read from a position, keep one snapshot, drop what a snapshot covers — so that a
//! replicated log (NATS JetStream's expected-last-sequence append and ordered consumers) can
//! implement it later.

#[cfg(feature = "testing")]
mod faulty;
mod mem_store;
mod sled_store;

#[cfg(feature = "testing")]
pub use faulty::{FaultPlan, FaultyStore};
pub use mem_store::MemStore;
pub use sled_store::SledStore;

use std::path::PathBuf;
use std::str::FromStr;

use crate::event::Seq;
use crate::event::{DecodeError, EncodeError};

/// How hard [`EventStore::sync`] works before a write is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// sled `flush()` and then `fsync` of the database file: survives power loss where the
    /// disk honours cache flushes. The default.
    #[default]
    Fsync,
    /// sled `flush()` only (`sync_file_range`): survives a process crash (`kill -9`), not
    /// necessarily power loss, because the disk's write cache is not flushed.
    Flush,
    /// No flush: sled writes back on its own schedule. Acknowledged writes can be lost even
    /// on a process crash. For tests and benchmarks.
    None,
}

impl FromStr for Durability {
    type Err = String;

    /// `fsync`, `flush` or `none`, in any case, surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fsync" => Ok(Durability::Fsync),
            "flush" => Ok(Durability::Flush),
            "none" => Ok(Durability::None),
            _ => Err(format!("expected fsync, flush or none, got {s:?}")),
        }
    }
}

/// A snapshot of the folded state and the last position it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Every event up to and including this position is in `bytes`.
    pub seq: Seq,
    /// The encoded state (see `state::snapshot`).
    pub bytes: Vec<u8>,
}

/// A durable, ordered log of batches.
///
/// Invariants every backend keeps:
/// 1. Records are keyed by the first [`Seq`] of their batch; keys strictly increase.
/// 2. [`append`](EventStore::append) writes a whole record or nothing.
/// 3. After [`sync`](EventStore::sync) returns `Ok`, every appended record survives a process
///    crash (and, with [`Durability::Fsync`], power loss where the disk allows).
/// 4. A record whose append or sync failed may or may not survive; the engine rolls it back
///    with [`discard`](EventStore::discard) and never reuses its positions.
pub trait EventStore: Send + 'static {
    /// Appends one encoded batch whose events run from `first` to `last`.
    ///
    /// `expected_last` is the last position the writer believes the log holds: a backend
    /// shared with other writers rejects the append with [`StoreError::Conflict`] when it
    /// differs (optimistic concurrency); a local backend checks it as an assertion.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on I/O failure or a conflict; the record may be partly buffered.
    fn append(
        &mut self,
        first: Seq,
        last: Seq,
        expected_last: Seq,
        record: &[u8],
    ) -> Result<(), StoreError>;

    /// Makes every appended record durable per the store's [`Durability`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when flushing or fsync failed; what was appended since the last
    /// successful sync is then in doubt.
    fn sync(&mut self) -> Result<(), StoreError>;

    /// Removes the record at `first` after a failed append or sync, so that a write the caller
    /// was told failed does not reappear after a restart. Best effort.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the removal itself failed.
    fn discard(&mut self, first: Seq) -> Result<(), StoreError>;

    /// Calls `visit` with each record whose first position is greater than `after`, in order.
    ///
    /// Stops at the first error `visit` returns.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] on read failure, or whatever `visit` returned.
    fn read_after(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Removes the record at `first` when recovery found it torn at the tail.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the removal failed.
    fn drop_torn_tail(&mut self, first: Seq) -> Result<(), StoreError> {
        self.discard(first)?;
        self.sync()
    }

    /// The highest position ever appended, including records later discarded; the writer
    /// continues after it, so positions are never reused.
    fn high_water(&self) -> Seq;

    /// Durably replaces the snapshot.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] on write failure; the previous snapshot is then still intact.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// The latest snapshot, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] on read failure, [`StoreError::Corrupt`] if it fails its checksum.
    fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError>;

    /// Drops every record whose events all lie at or before `through` (a snapshot covers them).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] on failure; the log is then merely longer than needed.
    fn compact_through(&mut self, through: Seq) -> Result<(), StoreError>;

    /// A handle that saves snapshots and compacts the log from another thread, so the writer
    /// does not wait for a snapshot's I/O; `None` (the default) when the backend cannot, and
    /// the writer then does both itself through [`save_snapshot`](EventStore::save_snapshot)
    /// and [`compact_through`](EventStore::compact_through).
    fn snapshot_sink(&self) -> Option<Box<dyn SnapshotSink>> {
        None
    }

    /// Bytes the store occupies on disk, where known.
    fn size_on_disk(&self) -> Option<u64> {
        None
    }

    /// Checks that a write reaches the disk now, without adding to the log: what a readiness
    /// probe asks. The default syncs; stores that can also write do (sled writes a marker key,
    /// so a full disk or a sticky I/O error shows).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] when the write or sync failed.
    fn probe(&mut self) -> Result<(), StoreError> {
        self.sync()
    }
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The operating system or the storage library failed.
    #[error("storage i/o failed during {op}: {source}")]
    Io {
        /// What the store was doing.
        op: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A record in the middle of the log failed its checksum or did not decode.
    #[error("corrupt log record at seq {seq}: {reason}")]
    Corrupt {
        /// The first position of the bad record.
        seq: Seq,
        /// What was wrong.
        reason: DecodeError,
    },
    /// The snapshot failed its checksum or did not decode.
    #[error("corrupt snapshot {path:?}: {reason}")]
    CorruptSnapshot {
        /// Where it is.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Another writer appended first (shared backends only).
    #[error("append conflict: expected last seq {expected}, found {found}")]
    Conflict {
        /// What the writer expected.
        expected: Seq,
        /// What the log holds.
        found: Seq,
    },
    /// A batch that would not decode again was refused before it reached the log.
    #[error("batch not written: {0}")]
    Unencodable(#[from] EncodeError),
    /// The engine's writer has stopped (closed, or it panicked).
    #[error("the engine's writer has stopped")]
    WriterGone,
}

impl StoreError {
    pub(crate) fn io(op: &'static str, source: impl Into<std::io::Error>) -> StoreError {
        StoreError::Io {
            op,
            source: source.into(),
        }
    }
}

/// The records a snapshot through `through` makes redundant, among those starting at `keys`
/// (ascending first positions, all at or before `through`), given `next` (the first position
/// of the record after the last of `keys`, if any) and the log's `high_water`.
///
/// A record's key is its first position; its last is below the next record's key, or, for the
/// last record of the log, the high water mark. A record is redundant only when every one of
/// its events lies at or before `through`, so a record that straddles the snapshot stays.
pub(crate) fn covered_records(
    keys: &[Seq],
    next: Option<Seq>,
    high_water: Seq,
    through: Seq,
) -> impl Iterator<Item = Seq> + '_ {
    let end = next.unwrap_or(high_water.next());
    keys.iter().enumerate().filter_map(move |(i, key)| {
        let next_start = keys.get(i + 1).copied().unwrap_or(end);
        (next_start <= through.next()).then_some(*key)
    })
}

/// Saves snapshots and compacts the log while the writer goes on appending (see
/// [`EventStore::snapshot_sink`]). The writer hands it one snapshot at a time.
pub trait SnapshotSink: Send + 'static {
    /// As [`EventStore::save_snapshot`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] on write failure; the previous snapshot is then still intact.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// As [`EventStore::compact_through`], with the high water mark the writer saw when it took
    /// the snapshot (records appended since all start after `through`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] on failure; the log is then merely longer than needed.
    fn compact_through(&mut self, through: Seq, high_water: Seq) -> Result<(), StoreError>;
}

impl EventStore for Box<dyn EventStore> {
    fn append(
        &mut self,
        first: Seq,
        last: Seq,
        expected_last: Seq,
        record: &[u8],
    ) -> Result<(), StoreError> {
        (**self).append(first, last, expected_last, record)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        (**self).sync()
    }

    fn discard(&mut self, first: Seq) -> Result<(), StoreError> {
        (**self).discard(first)
    }

    fn read_after(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        (**self).read_after(after, visit)
    }

    fn drop_torn_tail(&mut self, first: Seq) -> Result<(), StoreError> {
        (**self).drop_torn_tail(first)
    }

    fn high_water(&self) -> Seq {
        (**self).high_water()
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        (**self).save_snapshot(snapshot)
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        (**self).load_snapshot()
    }

    fn compact_through(&mut self, through: Seq) -> Result<(), StoreError> {
        (**self).compact_through(through)
    }

    fn snapshot_sink(&self) -> Option<Box<dyn SnapshotSink>> {
        (**self).snapshot_sink()
    }

    fn size_on_disk(&self) -> Option<u64> {
        (**self).size_on_disk()
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        (**self).probe()
    }
}
