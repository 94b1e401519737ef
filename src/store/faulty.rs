//! A store wrapper that fails on command, for fault-injection tests.
//!
//! Modelled on redb's countdown backend: a [`FaultPlan`] shared with the test says which
//! operation fails next (the Nth append, sync or snapshot from now), or fails everything
//! until cleared (a full disk). Failures are `ENOSPC`-flavoured [`StoreError::Io`]s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use crate::event::Seq;
use crate::store::{EventStore, Snapshot, StoreError};

/// Which operations fail; shared between a test and its [`FaultyStore`].
#[derive(Clone, Debug)]
pub struct FaultPlan {
    appends_until_fault: Arc<AtomicI64>,
    syncs_until_fault: Arc<AtomicI64>,
    disk_full: Arc<AtomicBool>,
    panic_on_append: Arc<AtomicBool>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            appends_until_fault: Arc::new(AtomicI64::new(-1)),
            syncs_until_fault: Arc::new(AtomicI64::new(-1)),
            disk_full: Arc::new(AtomicBool::new(false)),
            panic_on_append: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl FaultPlan {
    /// A plan that fails nothing.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// The `n`th append from now (1 = the next) fails, once.
    pub fn fail_append(&self, n: i64) {
        self.appends_until_fault.store(n, Ordering::SeqCst);
    }

    /// The `n`th sync from now (1 = the next) fails, once.
    pub fn fail_sync(&self, n: i64) {
        self.syncs_until_fault.store(n, Ordering::SeqCst);
    }

    /// Every write fails (as on a full disk) until [`FaultPlan::clear`].
    pub fn set_disk_full(&self, full: bool) {
        self.disk_full.store(full, Ordering::SeqCst);
    }

    /// The next append panics (a bug in a store, on the writer thread).
    pub fn panic_on_append(&self) {
        self.panic_on_append.store(true, Ordering::SeqCst);
    }

    /// Stops all injected failures.
    pub fn clear(&self) {
        self.appends_until_fault.store(-1, Ordering::SeqCst);
        self.syncs_until_fault.store(-1, Ordering::SeqCst);
        self.disk_full.store(false, Ordering::SeqCst);
    }

    fn trip(counter: &AtomicI64) -> bool {
        // -1 = disarmed; otherwise count down and fire at 1.
        let prev = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            if n > 0 { Some(n - 1) } else { None }
        });
        matches!(prev, Ok(1))
    }

    fn check(&self, counter: &AtomicI64, op: &'static str) -> Result<(), StoreError> {
        if self.disk_full.load(Ordering::SeqCst) || Self::trip(counter) {
            return Err(StoreError::io(op, std::io::Error::from_raw_os_error(28)));
        }
        Ok(())
    }
}

/// Wraps a store and fails operations as its [`FaultPlan`] says.
pub struct FaultyStore<S> {
    inner: S,
    plan: FaultPlan,
}

impl<S: EventStore> FaultyStore<S> {
    /// Wraps `inner`, failing as `plan` says.
    pub fn new(inner: S, plan: FaultPlan) -> FaultyStore<S> {
        FaultyStore { inner, plan }
    }
}

impl<S: EventStore> EventStore for FaultyStore<S> {
    fn append(
        &mut self,
        first: Seq,
        last: Seq,
        expected_last: Seq,
        record: &[u8],
    ) -> Result<(), StoreError> {
        #[expect(clippy::panic, reason = "an injected bug, for the writer-panic test")]
        if self.plan.panic_on_append.swap(false, Ordering::SeqCst) {
            panic!("injected panic in append");
        }
        self.plan.check(&self.plan.appends_until_fault, "append")?;
        self.inner.append(first, last, expected_last, record)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.plan.check(&self.plan.syncs_until_fault, "fsync")?;
        self.inner.sync()
    }

    fn discard(&mut self, first: Seq) -> Result<(), StoreError> {
        self.inner.discard(first)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        self.plan.check(&self.plan.appends_until_fault, "probe")?;
        self.inner.probe()
    }

    fn read_after(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.inner.read_after(after, visit)
    }

    fn high_water(&self) -> Seq {
        self.inner.high_water()
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        if self.plan.disk_full.load(Ordering::SeqCst) {
            return Err(StoreError::io(
                "write snapshot",
                std::io::Error::from_raw_os_error(28),
            ));
        }
        self.inner.save_snapshot(snapshot)
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot()
    }

    fn compact_through(&mut self, through: Seq) -> Result<(), StoreError> {
        self.inner.compact_through(through)
    }
}
