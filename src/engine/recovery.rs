//! Recovery: load the latest snapshot, replay the log after it, drop a torn tail.

use tracing::warn;

use crate::engine::{OpenError, OpenReport};
use crate::event::Seq;
use crate::event::codec::{DecodeError, decode_record};
use crate::state::State;
use crate::store::{EventStore, StoreError};

/// Loads the snapshot and replays the log after it.
pub(super) fn recover(
    store: &mut impl EventStore,
    grace_ms: i64,
) -> Result<(State, OpenReport), OpenError> {
    let mut report = OpenReport::default();
    let mut state = match store.load_snapshot()? {
        Some(snapshot) => {
            report.snapshot_seq = Some(snapshot.seq);
            State::from_snapshot(&snapshot.bytes, grace_ms)?
        }
        None => State::new(grace_ms),
    };
    let after = state.last_seq();
    let mut torn: Option<(Seq, DecodeError)> = None;
    let mut replayed = 0u64;
    store.read_after(after, &mut |first, bytes| {
        if let Some((seq, reason)) = torn.take() {
            // A bad record with good ones after it is not a torn tail: refuse.
            return Err(StoreError::Corrupt { seq, reason });
        }
        match decode_record(bytes) {
            Ok(batch) => {
                for envelope in &batch {
                    if envelope.seq > state.last_seq() {
                        state.apply(envelope);
                        replayed += 1;
                    }
                }
                Ok(())
            }
            Err(reason @ (DecodeError::Checksum | DecodeError::Truncated { .. })) => {
                torn = Some((first, reason));
                Ok(())
            }
            Err(reason) => Err(StoreError::Corrupt { seq: first, reason }),
        }
    })?;
    if let Some((seq, reason)) = torn {
        warn!(seq = seq.0, %reason, "dropping torn record at the tail of the log");
        store.drop_torn_tail(seq)?;
        report.dropped_torn_tail = Some(seq);
    }
    report.replayed_events = replayed;
    Ok((state, report))
}
