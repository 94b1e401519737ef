//! What every snapshot version shares: the error of a snapshot that does not load, and the
//! order sessions are written in (the session table's buckets).

use crate::event::SessionHash;

/// Why a snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The snapshot names a version this build does not know.
    #[error("unknown snapshot version {version}")]
    UnknownVersion {
        /// The version found.
        version: u16,
    },
    /// The bytes do not decode.
    #[error("invalid snapshot: {reason}")]
    Invalid {
        /// What the decoder reported.
        reason: String,
    },
}

pub(super) fn invalid(reason: impl Into<String>) -> SnapshotError {
    SnapshotError::Invalid {
        reason: reason.into(),
    }
}

/// The bucket mask of a hash table sized for `n` entries (hashbrown's 7/8 load factor).
pub(super) fn bucket_mask(n: usize) -> u64 {
    (n.saturating_mul(8) / 7)
        .next_power_of_two()
        .saturating_sub(1) as u64
}

/// The bucket a session lands in, given the table's mask: the session table hashes a session
/// by its hash's first 8 bytes (see `SessionHash`'s `Hash`) and picks a bucket by the low bits,
/// so sorting by those bits turns a million random writes into a nearly sequential sweep over
/// the table (start-up is dominated by cache misses otherwise). The mask matches any
/// power-of-two table at least this large.
pub(super) fn bucket(hash: &SessionHash, mask: u64) -> u64 {
    hash.prefix() & mask
}
