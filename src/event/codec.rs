//! The versioned binary encoding of events and of log records.
//!
//! An envelope is encoded as `version: u16 LE | length: u32 LE | body`, where `body` is the
//! bincode 2 (standard config, serde) encoding of `(seq, at, event)` for that version. A log
//! record holds one batch: `crc32: u32 LE | envelope | envelope | ...`, the checksum covering
//! everything after it, so a torn or flipped record is told apart from a good one.
//!
//! The bincode config is fixed per format version and never changes for an existing version.

use crate::clock::Timestamp;
use crate::event::{Envelope, Event, FORMAT_VERSION, Seq};

/// At most this many bytes in one envelope body: decoding refuses more (which bounds what a
/// corrupt length can allocate), and encoding refuses to produce more, so nothing is ever
/// written that would not decode. Events that can grow with the state (`SessionsSeen`,
/// `RefreshTokensExpired`) are written in chunks well below it.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Why bytes did not decode into events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end before the structure does.
    #[error("truncated: need {needed} more bytes")]
    Truncated {
        /// How many more bytes the structure needed.
        needed: usize,
    },
    /// A record's checksum does not match its contents.
    #[error("checksum mismatch")]
    Checksum,
    /// The envelope names a format version this build does not know.
    #[error("unknown format version {version}")]
    UnknownVersion {
        /// The version found.
        version: u16,
    },
    /// The body is not a valid encoding for its version.
    #[error("invalid body: {reason}")]
    Invalid {
        /// What the decoder reported.
        reason: String,
    },
}

/// Why a batch could not be encoded: it would not decode again, so it is never written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An event's body is over the 1 MiB that decoding accepts.
    #[error("event at seq {seq} would be over {MAX_BODY} bytes")]
    TooLarge {
        /// The event's position.
        seq: Seq,
    },
    /// The serializer failed (a bug: plain data into memory has nothing to fail on).
    #[error("event at seq {seq} does not serialize: {reason}")]
    Serialize {
        /// The event's position.
        seq: Seq,
        /// What the serializer reported.
        reason: String,
    },
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_BODY>()
}

/// Appends the encoding of `envelope` to `out`.
///
/// Only [`FORMAT_VERSION`] is written; `envelope.version` is ignored on write.
///
/// # Errors
///
/// [`EncodeError::TooLarge`] when the body would be over what decoding accepts; `out` is then
/// left as it was.
pub fn encode_envelope(envelope: &Envelope, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let body = (envelope.seq, envelope.at, &envelope.event);
    let seq = envelope.seq;
    let encoded =
        bincode::serde::encode_to_vec(body, config()).map_err(|e| EncodeError::Serialize {
            seq,
            reason: e.to_string(),
        })?;
    // bincode's limit applies to decoding only: check the size here, so that nothing is
    // written that the decoder would refuse.
    let len = u32::try_from(encoded.len())
        .ok()
        .filter(|len| *len as usize <= MAX_BODY)
        .ok_or(EncodeError::TooLarge { seq })?;
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&encoded);
    Ok(())
}

/// Decodes one envelope from the front of `bytes`, returning it and the bytes it used.
///
/// # Errors
///
/// [`DecodeError`] when the bytes are short, name an unknown version or do not decode.
pub fn decode_envelope(bytes: &[u8]) -> Result<(Envelope, usize), DecodeError> {
    let header = bytes.get(..6).ok_or(DecodeError::Truncated {
        needed: 6usize.saturating_sub(bytes.len()),
    })?;
    let version = u16::from_le_bytes([header[0], header[1]]);
    let len = u32::from_le_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if len > MAX_BODY {
        return Err(DecodeError::Invalid {
            reason: format!("body of {len} bytes"),
        });
    }
    let body = bytes.get(6..6 + len).ok_or(DecodeError::Truncated {
        needed: (6 + len).saturating_sub(bytes.len()),
    })?;
    match version {
        // Formats 2 to 4 only added variants, so all decode with the same types; an envelope
        // holding a variant its format did not have was not written by us.
        1..=4 => {
            let ((seq, at, event), used): ((Seq, Timestamp, Event), usize) =
                bincode::serde::decode_from_slice(body, config()).map_err(|e| {
                    DecodeError::Invalid {
                        reason: e.to_string(),
                    }
                })?;
            if used != len {
                return Err(DecodeError::Invalid {
                    reason: format!("{} trailing bytes", len - used),
                });
            }
            // bincode's varint decoder also accepts longer-than-needed forms (a u64 marker
            // before a small value). Our encoder never writes them, so such bytes were not
            // written by us: accept only the one canonical encoding of each value.
            let canonical =
                bincode::serde::encode_to_vec((seq, at, &event), config()).map_err(|e| {
                    DecodeError::Invalid {
                        reason: e.to_string(),
                    }
                })?;
            if canonical != body {
                return Err(DecodeError::Invalid {
                    reason: "non-canonical encoding".into(),
                });
            }
            if event.since_version() > version {
                return Err(DecodeError::Invalid {
                    reason: format!(
                        "event of format {} in a format {version} envelope",
                        event.since_version()
                    ),
                });
            }
            Ok((
                Envelope {
                    version,
                    seq,
                    at,
                    event,
                },
                6 + len,
            ))
        }
        _ => Err(DecodeError::UnknownVersion { version }),
    }
}

/// Encodes a batch as one checksummed log record.
///
/// # Errors
///
/// [`EncodeError`] when an event would not decode again; nothing of the batch may be written.
pub fn encode_record(batch: &[Envelope]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(4 + batch.len() * 96);
    out.extend_from_slice(&[0; 4]);
    for envelope in batch {
        encode_envelope(envelope, &mut out)?;
    }
    let crc = crc32fast::hash(&out[4..]).to_le_bytes();
    out[..4].copy_from_slice(&crc);
    Ok(out)
}

/// Decodes a log record into its batch, checking the checksum first.
///
/// # Errors
///
/// [`DecodeError::Checksum`] when the record was torn or altered; other variants when a
/// checksummed record still does not decode (written by a newer or broken build).
pub fn decode_record(record: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    let crc = record.get(..4).ok_or(DecodeError::Truncated {
        needed: 4usize.saturating_sub(record.len()),
    })?;
    let mut rest = &record[4..];
    if crc32fast::hash(rest).to_le_bytes() != crc {
        return Err(DecodeError::Checksum);
    }
    let mut batch = Vec::new();
    while !rest.is_empty() {
        let (envelope, used) = decode_envelope(rest)?;
        batch.push(envelope);
        rest = &rest[used..];
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{RevokeReason, SessionHash};

    fn sample() -> Vec<Envelope> {
        vec![
            Envelope {
                version: FORMAT_VERSION,
                seq: Seq(7),
                at: Timestamp::from_millis(1_700_000_000_123),
                event: Event::SessionRevoked {
                    session: SessionHash([9; 32]),
                    reason: RevokeReason::Logout,
                },
            },
            Envelope {
                version: FORMAT_VERSION,
                seq: Seq(8),
                at: Timestamp::from_millis(1_700_000_000_124),
                event: Event::ExpiredSwept {
                    now: Timestamp::from_millis(5),
                },
            },
        ]
    }

    #[test]
    fn record_round_trip() {
        let batch = sample();
        let record = encode_record(&batch).unwrap();
        assert_eq!(decode_record(&record).unwrap(), batch);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let record = encode_record(&sample()).unwrap();
        for i in 0..record.len() * 8 {
            let mut bad = record.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(decode_record(&bad).is_err(), "bit {i} flip went unnoticed");
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let record = encode_record(&sample()).unwrap();
        for len in 0..record.len() {
            assert!(decode_record(&record[..len]).is_err());
        }
    }

    /// Regression (fuzz `event_decode`, ASan campaign): a varint written in a longer form than
    /// needed (`253` + eight zero bytes for 0) decoded, so decoding was not injective and the
    /// bytes did not re-encode to themselves.
    #[test]
    fn non_canonical_varints_are_rejected() {
        let mut bytes = Vec::new();
        encode_envelope(&sample()[1], &mut bytes).unwrap();
        // The body starts with the seq varint (8, one byte); widen it to the u64 form.
        let mut widened = bytes[..6].to_vec();
        widened.push(253);
        widened.extend_from_slice(&8u64.to_le_bytes());
        widened.extend_from_slice(&bytes[7..]);
        let len = (widened.len() - 6) as u32;
        widened[2..6].copy_from_slice(&len.to_le_bytes());
        assert!(matches!(
            decode_envelope(&widened),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(decode_envelope(&bytes).is_ok());
    }

    /// Format 2 had no `Evicted` reason: such an envelope was not written by us.
    #[test]
    fn a_format_2_envelope_cannot_hold_an_eviction() {
        let envelope = Envelope {
            version: FORMAT_VERSION,
            seq: Seq(4),
            at: Timestamp::from_millis(1_700_000_000_000),
            event: Event::SessionRevoked {
                session: SessionHash([1; 32]),
                reason: RevokeReason::Evicted,
            },
        };
        let mut bytes = Vec::new();
        encode_envelope(&envelope, &mut bytes).unwrap();
        assert_eq!(decode_envelope(&bytes).unwrap().0, envelope);
        bytes[..2].copy_from_slice(&2u16.to_le_bytes());
        assert!(matches!(
            decode_envelope(&bytes),
            Err(DecodeError::Invalid { .. })
        ));
    }

    /// Format 1 had no `SessionCreated` with a method: such an envelope was not written by us.
    #[test]
    fn a_format_1_envelope_cannot_hold_a_format_2_event() {
        let envelope = Envelope {
            version: FORMAT_VERSION,
            seq: Seq(3),
            at: Timestamp::from_millis(1_700_000_000_000),
            event: Event::SessionCreated {
                session: SessionHash([1; 32]),
                user: crate::event::UserId(1),
                expires_at: Timestamp::from_millis(1_700_000_060_000),
                user_agent: None,
                ip: None,
                refresh: None,
                method: crate::event::AuthMethod::Password,
            },
        };
        let mut bytes = Vec::new();
        encode_envelope(&envelope, &mut bytes).unwrap();
        assert_eq!(decode_envelope(&bytes).unwrap().0, envelope);
        bytes[..2].copy_from_slice(&1u16.to_le_bytes());
        assert!(matches!(
            decode_envelope(&bytes),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn unknown_version_is_named() {
        let mut bytes = Vec::new();
        encode_envelope(&sample()[0], &mut bytes).unwrap();
        bytes[0] = 99;
        assert_eq!(
            decode_envelope(&bytes),
            Err(DecodeError::UnknownVersion { version: 99 })
        );
    }

    #[test]
    fn an_event_over_the_decode_limit_is_refused_not_written() {
        let seen = (0..40_000u32)
            .map(|i| {
                let mut hash = [0u8; 32];
                hash[..4].copy_from_slice(&i.to_le_bytes());
                (SessionHash(hash), Timestamp::from_secs(1_700_000_000))
            })
            .collect();
        let big = Envelope {
            version: FORMAT_VERSION,
            seq: Seq(9),
            at: Timestamp::from_secs(1),
            event: Event::SessionsSeen { seen },
        };
        let mut out = b"kept".to_vec();
        assert_eq!(
            encode_envelope(&big, &mut out),
            Err(EncodeError::TooLarge { seq: Seq(9) })
        );
        assert_eq!(out, b"kept", "nothing appended");
        assert!(encode_record(&[sample()[0].clone(), big]).is_err());
    }
}
