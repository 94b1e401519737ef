//! Periodic snapshots written beside the writer.
//!
//! The writer encodes the state (it must: only it knows a point where the state and the log
//! agree, and encoding takes the read lock that readers share). Writing a snapshot of a million
//! sessions (about 110 MB, then `fsync`) and compacting the log it covers take far longer than
//! encoding, so they run on this thread while the writer goes on committing batches. One
//! snapshot is in flight at a time; explicit snapshots and the one on close wait for it.

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use tracing::{info, warn};

use crate::event::Seq;
use crate::store::{Snapshot, SnapshotSink};

/// A snapshot to save, then the log to compact through its position.
struct Job {
    snapshot: Snapshot,
    /// The store's high water mark when the snapshot was encoded.
    high_water: Seq,
}

/// The snapshot thread and the writer's view of it.
pub(super) struct SnapshotWorker {
    jobs: Option<Sender<Job>>,
    done: Receiver<()>,
    in_flight: bool,
    thread: Option<JoinHandle<()>>,
}

impl SnapshotWorker {
    /// Starts the thread around `sink`; `None` if the thread cannot be started (the writer then
    /// saves inline, as for stores without a sink).
    pub(super) fn start(mut sink: Box<dyn SnapshotSink>) -> Option<SnapshotWorker> {
        let (jobs, rx) = crossbeam_channel::bounded::<Job>(1);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("hallpass-snapshot".into())
            .spawn(move || {
                for job in rx {
                    let seq = job.snapshot.seq;
                    let result = sink
                        .save_snapshot(&job.snapshot)
                        .and_then(|()| sink.compact_through(seq, job.high_water));
                    drop(job);
                    match result {
                        Ok(()) => info!(seq = seq.0, "snapshot written, log compacted"),
                        // The next snapshot covers this one; the log still has everything.
                        Err(e) => warn!(error = %e, seq = seq.0, "background snapshot failed"),
                    }
                    if done_tx.send(()).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(SnapshotWorker {
            jobs: Some(jobs),
            done,
            in_flight: false,
            thread: Some(thread),
        })
    }

    /// Whether a snapshot is being written now.
    pub(super) fn busy(&mut self) -> bool {
        if self.in_flight && self.done.try_recv().is_ok() {
            self.in_flight = false;
        }
        self.in_flight
    }

    /// Hands `snapshot` to the thread. Call only when not [`busy`](Self::busy).
    pub(super) fn submit(&mut self, snapshot: Snapshot, high_water: Seq) {
        let Some(jobs) = &self.jobs else { return };
        if jobs
            .send(Job {
                snapshot,
                high_water,
            })
            .is_ok()
        {
            self.in_flight = true;
        }
    }

    /// Waits until the snapshot in flight, if any, is written.
    pub(super) fn wait(&mut self) {
        if self.in_flight {
            // An error means the thread is gone, which also ends the wait.
            let _ = self.done.recv();
            self.in_flight = false;
        }
    }
}

impl Drop for SnapshotWorker {
    fn drop(&mut self) {
        self.wait();
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
