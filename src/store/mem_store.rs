//! An in-memory [`EventStore`] for tests, fuzzing and benchmarks.
//!
//! Clones share the same log, so a test can drop an engine and open another on the "same
//! disk". `sync` is a no-op: everything appended counts as durable.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::event::Seq;
use crate::store::{EventStore, Snapshot, StoreError, covered_records};

/// A log held in memory; clones share it.
#[derive(Clone, Default)]
pub struct MemStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    records: BTreeMap<Seq, Vec<u8>>,
    snapshot: Option<Snapshot>,
    high_water: Seq,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// How many records the log holds.
    pub fn record_count(&self) -> usize {
        self.inner.lock().records.len()
    }

    /// Overwrites the record at `first` with `bytes` (for corruption tests).
    #[cfg(feature = "testing")]
    pub fn overwrite_record(&self, first: Seq, bytes: Vec<u8>) {
        self.inner.lock().records.insert(first, bytes);
    }

    /// The first positions of all records, in order.
    #[cfg(feature = "testing")]
    pub fn record_keys(&self) -> Vec<Seq> {
        self.inner.lock().records.keys().copied().collect()
    }
}

impl EventStore for MemStore {
    fn append(
        &mut self,
        first: Seq,
        last: Seq,
        expected_last: Seq,
        record: &[u8],
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        if expected_last < inner.high_water || first <= inner.high_water {
            return Err(StoreError::Conflict {
                expected: expected_last,
                found: inner.high_water,
            });
        }
        inner.records.insert(first, record.to_vec());
        inner.high_water = last;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn discard(&mut self, first: Seq) -> Result<(), StoreError> {
        self.inner.lock().records.remove(&first);
        Ok(())
    }

    fn read_after(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Copy out so `visit` may call back into the store without deadlocking.
        let records: Vec<(Seq, Vec<u8>)> = self
            .inner
            .lock()
            .records
            .range(after.next()..)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (seq, bytes) in records {
            visit(seq, &bytes)?;
        }
        Ok(())
    }

    fn high_water(&self) -> Seq {
        self.inner.lock().high_water
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.lock().snapshot = Some(snapshot.clone());
        Ok(())
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.inner.lock().snapshot.clone())
    }

    fn compact_through(&mut self, through: Seq) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        let keys: Vec<Seq> = inner.records.range(..=through).map(|(k, _)| *k).collect();
        let next = inner
            .records
            .range(through.next()..)
            .next()
            .map(|(k, _)| *k);
        let covered: Vec<Seq> = covered_records(&keys, next, inner.high_water, through).collect();
        for key in covered {
            inner.records.remove(&key);
        }
        Ok(())
    }
}
