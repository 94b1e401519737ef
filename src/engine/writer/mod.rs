//! The single writer: plan a batch against the state, append it, sync once, apply, answer.
//!
//! Only this thread appends to the store and takes the state's write lock. Planning reads the
//! state under the read lock plus an [`Overlay`] of what earlier commands in the same batch
//! will do, so commands in one batch see each other in arrival order exactly as if they had
//! run one by one, while the batch costs one sync.

mod plan;
mod snapshots;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::RwLock;
use tracing::{error, info, warn};

use crate::clock::{Clock, Timestamp};
use crate::engine::protocol::{Call, Command, Control, Message, Reply, Sweep};
use crate::engine::types::{EngineConfig, EngineError, Stats};
use crate::event::codec::encode_record;
use crate::event::{
    Envelope, Event, FORMAT_VERSION, Jti, MAX_SESSIONS_PER_EVENT, RevokeReason, Seq, SessionHash,
};
use crate::state::State;
use crate::store::{EventStore, Snapshot, StoreError};

use plan::{Context, Deliver, Grace, Overlay};

pub(super) struct Writer {
    store: Box<dyn EventStore>,
    state: Arc<RwLock<State>>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    stats: Arc<Stats>,
    /// Successors of recent rotations, so a retry within the grace window gets the same pair.
    /// In memory only: after a restart a retry gets a plain rejection, never a revocation.
    grace: HashMap<Jti, Grace>,
    next_seq: Seq,
    last_snapshot: Seq,
    next_sweep: Timestamp,
    /// Latest use of each session noted since the last `SessionsSeen` event. Flushed as one
    /// event every `seen_coalesce_ms`, on a sweep and on shutdown: reads append nothing.
    pending_seen: HashMap<SessionHash, Timestamp>,
    next_seen_flush: Timestamp,
    /// Writes periodic snapshots beside this thread, for stores that allow it.
    snapshots: Option<snapshots::SnapshotWorker>,
}

impl Writer {
    pub(super) fn new(
        store: Box<dyn EventStore>,
        state: Arc<RwLock<State>>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
        stats: Arc<Stats>,
        last_snapshot: Seq,
    ) -> Writer {
        let next_seq = store.high_water().max(state.read().last_seq()).next();
        let next_sweep = clock.now().plus_millis(config.sweep_interval_ms);
        let snapshots = store
            .snapshot_sink()
            .and_then(snapshots::SnapshotWorker::start);
        Writer {
            store,
            state,
            clock,
            config,
            stats,
            grace: HashMap::new(),
            next_seq,
            last_snapshot,
            next_sweep,
            pending_seen: HashMap::new(),
            next_seen_flush: next_sweep,
            snapshots,
        }
    }

    pub(super) fn run(mut self, rx: &Receiver<Message>) {
        let tick = Duration::from_millis(self.config.sweep_interval_ms.clamp(10, 60_000) as u64);
        // Sizes of the last few batches: how many callers are currently active.
        let mut recent_batches = [1usize; 8];
        let mut batch_index = 0usize;
        loop {
            let first = match rx.recv_timeout(tick) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    self.housekeeping();
                    if self.gave_up() {
                        break;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(self.config.max_batch.saturating_sub(1)));
            let target = recent_batches.iter().copied().max().unwrap_or(1);
            self.gather(rx, &mut batch, target);
            recent_batches[batch_index % recent_batches.len()] = batch.len();
            batch_index += 1;
            if !self.process(batch) {
                break;
            }
            self.housekeeping();
            if self.gave_up() {
                break;
            }
        }
        // Persist what the last minutes of reads noted, then leave a snapshot so the next open
        // replays little (after the background one in flight, if any, is written).
        self.snapshots = None;
        if self.config.snapshot_on_close
            && !self.gave_up()
            && self.state.read().last_seq() > self.last_snapshot
            && let Err(e) = self.take_snapshot()
        {
            warn!(error = %e, "snapshot on close failed; the log still has everything");
        }
    }

    /// Group commit's gathering step. Callers answered by the last batch come back one by one
    /// as their threads wake; taking only those already queued would split them over two
    /// batches (two syncs). So when recent batches were larger than what is queued now, wait
    /// up to `GATHER` for the rest. A lone caller (recent batches of one) never waits.
    fn gather(&self, rx: &Receiver<Message>, batch: &mut Vec<Message>, target: usize) {
        const GATHER: Duration = Duration::from_micros(600);
        let target = target.min(self.config.max_batch);
        if batch.len() >= target {
            return;
        }
        let deadline = std::time::Instant::now() + GATHER;
        while batch.len() < target {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
    }

    /// Plans, commits and answers one batch. Returns false when asked to shut down.
    fn process(&mut self, batch: Vec<Message>) -> bool {
        let now = self.clock.now();
        let mut overlay = Overlay::default();
        let mut answers: Vec<Box<dyn Deliver>> = Vec::with_capacity(batch.len());
        let mut envelopes: Vec<Envelope> = Vec::new();
        let mut shutdown = false;
        let mut snapshot_requested = Vec::new();
        let mut probes = Vec::new();
        let mut flushed_seen = false;
        {
            let lock = Arc::clone(&self.state);
            let state = lock.read();
            overlay.next_user = state.max_user_id() + 1;
            for message in batch {
                let command = match message {
                    Message::Command(command) => command,
                    Message::Control(Control::Touch { hash, at }) => {
                        let latest = self.pending_seen.entry(hash).or_insert(at);
                        *latest = (*latest).max(at);
                        continue;
                    }
                    Message::Control(Control::Snapshot(reply)) => {
                        snapshot_requested.push(reply);
                        continue;
                    }
                    Message::Control(Control::Probe(reply)) => {
                        probes.push(reply);
                        continue;
                    }
                    Message::Control(Control::Shutdown) => {
                        shutdown = true;
                        overlay.flush_seen = true;
                        continue;
                    }
                };
                let mut cx = Context {
                    state: &state,
                    overlay: &mut overlay,
                    now,
                    config: &self.config,
                    grace: &self.grace,
                };
                let (events, answer) = plan::plan(command, &mut cx);
                for event in events {
                    envelopes.push(Envelope {
                        version: FORMAT_VERSION,
                        seq: self.next_seq,
                        at: now,
                        event,
                    });
                    self.next_seq = self.next_seq.next();
                }
                answers.push(answer);
            }
            if (overlay.flush_seen || now >= self.next_seen_flush) && !self.pending_seen.is_empty()
            {
                let mut seen: Vec<_> = self
                    .pending_seen
                    .iter()
                    .filter(|(h, _)| {
                        !overlay.revoked.contains(*h) && state.session(h, now).is_some()
                    })
                    .map(|(h, at)| (*h, *at))
                    .collect();
                seen.sort();
                flushed_seen = true;
                // In chunks: a busy minute touches more sessions than one event may hold.
                for chunk in seen.chunks(MAX_SESSIONS_PER_EVENT) {
                    envelopes.push(Envelope {
                        version: FORMAT_VERSION,
                        seq: self.next_seq,
                        at: now,
                        event: Event::SessionsSeen {
                            seen: chunk.to_vec(),
                        },
                    });
                    self.next_seq = self.next_seq.next();
                }
            }
        }

        let committed = if envelopes.is_empty() {
            Ok(())
        } else {
            self.commit(&envelopes)
        };
        match committed {
            Ok(()) => {
                if !envelopes.is_empty() {
                    let mut state = self.state.write();
                    for envelope in &envelopes {
                        state.apply(envelope);
                    }
                }
                self.committed(&envelopes);
                if flushed_seen {
                    self.pending_seen.clear();
                    self.next_seen_flush = now.plus_millis(self.config.seen_coalesce_ms);
                }
                for (old, successor) in overlay.rotated {
                    let entry = Grace {
                        at: now,
                        successor,
                        replays: 0,
                    };
                    self.grace.insert(old, entry);
                }
                for (old, replays) in overlay.replays {
                    if let Some(entry) = self.grace.get_mut(&old) {
                        entry.replays = entry.replays.saturating_add(replays);
                    }
                }
                self.stats
                    .commands
                    .fetch_add(answers.len() as u64, Ordering::Relaxed);
                for answer in answers {
                    answer.deliver(None);
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                error!(error = %e, events = envelopes.len(), "batch failed; nothing applied");
                for answer in answers {
                    answer.deliver(Some(&e));
                }
            }
        }
        for reply in snapshot_requested {
            let answer = self.take_snapshot();
            reply.send(answer.map_err(|e| EngineError::Storage(Arc::new(e))));
        }
        for reply in probes {
            let answer = self.store.probe();
            self.count_write(answer.is_ok());
            reply.send(answer.map_err(|e| EngineError::Storage(Arc::new(e))));
        }
        !shutdown && !self.gave_up()
    }

    /// Counts one write (a batch or a probe) toward the consecutive-failure limit.
    fn count_write(&self, ok: bool) {
        let consecutive = &self.stats.consecutive_store_failures;
        if ok {
            consecutive.store(0, Ordering::Relaxed);
            return;
        }
        let failures = consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        let limit = u64::from(self.config.max_consecutive_store_failures);
        if limit > 0 && failures >= limit && !self.gave_up() {
            error!(
                failures,
                "the store failed this many writes in a row; stopping the engine (reopen the \
                 store, i.e. restart, to recover)"
            );
            self.stats.store_gave_up.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the writer stopped for good after too many failed writes.
    fn gave_up(&self) -> bool {
        self.stats.store_gave_up.load(Ordering::Relaxed)
    }

    /// Counts and logs what a committed batch did: after the commit, so a batch that failed
    /// counts nothing.
    fn committed(&self, envelopes: &[Envelope]) {
        for envelope in envelopes {
            match &envelope.event {
                Event::RefreshRotated { .. } => {
                    self.stats.rotations.fetch_add(1, Ordering::Relaxed);
                }
                Event::SessionRevoked {
                    session,
                    reason: RevokeReason::ReuseDetected,
                } => {
                    self.stats.reuse_detections.fetch_add(1, Ordering::Relaxed);
                    warn!(session = ?session, "refresh token reuse detected; session revoked");
                }
                _ => {}
            }
        }
    }

    /// Appends and syncs one batch; on failure rolls the record back and keeps its positions
    /// used.
    fn commit(&mut self, envelopes: &[Envelope]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (envelopes.first(), envelopes.last()) else {
            return Ok(());
        };
        let (first, last) = (first.seq, last.seq);
        let record = match encode_record(envelopes) {
            Ok(record) => record,
            Err(e) => {
                // A bug (an event over the size limit), not the disk: not counted toward
                // stopping the engine.
                self.stats.store_failures.fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
        };
        let started = std::time::Instant::now();
        let expected_last = self.store.high_water();
        let result = self
            .store
            .append(first, last, expected_last, &record)
            .and_then(|()| self.store.sync());
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.sync_micros.fetch_add(micros, Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.count_write(true);
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .events
                    .fetch_add(envelopes.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.store_failures.fetch_add(1, Ordering::Relaxed);
                self.count_write(false);
                if let Err(undo) = self.store.discard(first) {
                    warn!(error = %undo, seq = first.0, "could not roll back a failed record");
                }
                Err(e)
            }
        }
    }

    /// Periodic work between batches: prune expired state, forget old grace entries, and take
    /// a snapshot when the log has grown enough.
    fn housekeeping(&mut self) {
        let now = self.clock.now();
        let grace = self.config.refresh_grace_ms;
        self.grace.retain(|_, g| g.at.plus_millis(grace) >= now);
        if now >= self.next_seen_flush && !self.pending_seen.is_empty() {
            self.process(vec![]);
        }
        if now >= self.next_sweep {
            self.next_sweep = now.plus_millis(self.config.sweep_interval_ms);
            // Planning finds the expired sessions (a scan under the read lock); none, no event.
            self.process(vec![Message::Command(Command::Sweep(Call {
                command: Sweep,
                reply: Reply::none(),
            }))]);
        }
        let last = self.state.read().last_seq();
        if last.0.saturating_sub(self.last_snapshot.0) < self.config.snapshot_every {
            return;
        }
        match &mut self.snapshots {
            // Encode here, where the state matches the log; write and compact beside us.
            Some(worker) => {
                if !worker.busy() {
                    let (seq, bytes) = {
                        let state = self.state.read();
                        (state.last_seq(), state.to_snapshot())
                    };
                    worker.submit(Snapshot { seq, bytes }, self.store.high_water());
                    self.last_snapshot = seq;
                }
            }
            None => {
                if let Err(e) = self.take_snapshot() {
                    warn!(error = %e, "periodic snapshot failed; will retry");
                }
            }
        }
    }

    /// Encodes, saves and compacts on this thread (explicit snapshots, the one on close, and
    /// stores without a snapshot sink), after any background snapshot in flight.
    fn take_snapshot(&mut self) -> Result<(), StoreError> {
        if let Some(worker) = &mut self.snapshots {
            worker.wait();
        }
        let (seq, bytes) = {
            let state = self.state.read();
            (state.last_seq(), state.to_snapshot())
        };
        self.store.save_snapshot(&Snapshot { seq, bytes })?;
        self.last_snapshot = seq;
        self.store.compact_through(seq)?;
        info!(seq = seq.0, "snapshot written, log compacted");
        Ok(())
    }
}
