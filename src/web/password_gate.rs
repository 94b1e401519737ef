//! [`PasswordGate`]: at most a few argon2 hashes or checks at once, on tokio's blocking pool.
//!
//! argon2id with our parameters takes 19 MiB and one core for tens of milliseconds. Run
//! unbounded in `spawn_blocking`, a login flood fills the pool's 512 threads (about 9.7 GiB)
//! and every engine write, which runs on the same pool, queues behind them. The gate holds a
//! fixed number of slots (`HALLPASS_PASSWORD_HASH_CONCURRENCY`, the core count by default):
//! a request waits for one at most `HALLPASS_PASSWORD_HASH_WAIT_SECONDS`, then is refused.
//! Engine writes do not pass the gate, so at most that many blocking threads are ever busy
//! with argon2 and a write always finds a thread of its own.
//!
//! Invariant: at most `capacity` closures given to [`PasswordGate::run`] are running or queued
//! on the blocking pool at any time, counting those whose caller has stopped waiting: the slot
//! travels into the closure and is freed when the closure returns, not when the request does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;

/// The slots when the core count cannot be read: a small machine's count, so that memory
/// stays bounded (4 × 19 MiB) without serializing every login on a larger one.
const FALLBACK_CAPACITY: usize = 4;

/// The gate in front of argon2. Held by [`App`](crate::web::app::App), one per server.
#[derive(Debug)]
pub(crate) struct PasswordGate {
    /// One permit per slot; FIFO, so waiters are served in arrival order.
    permits: Arc<Semaphore>,
    /// The number of slots (`permits` when none is taken), at least 1.
    capacity: usize,
    /// How long [`PasswordGate::run`] waits for a slot; zero: not at all.
    wait: Duration,
    /// Callers waiting for a slot right now.
    waiting: AtomicU64,
    /// Callers refused since start: no slot within `wait`.
    refused: AtomicU64,
}

/// Why [`PasswordGate::run`] did not return the closure's value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GateError {
    /// No slot came free within the gate's wait; the closure did not run.
    #[error("no password slot free within {wait:?}")]
    Busy {
        /// The wait that ran out.
        wait: Duration,
    },
    /// The closure panicked (or the runtime shut down before it ran).
    #[error("password task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The gate's numbers at one moment, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GateLoad {
    /// The number of slots.
    pub(crate) capacity: u64,
    /// Slots taken: argon2 running, or about to on the blocking pool.
    pub(crate) in_progress: u64,
    /// Callers waiting for a slot.
    pub(crate) waiting: u64,
    /// Callers refused since start.
    pub(crate) refused: u64,
}

impl PasswordGate {
    /// A gate of `capacity` slots (at least 1) that waits up to `wait` for one.
    pub(crate) fn new(capacity: usize, wait: Duration) -> PasswordGate {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        PasswordGate {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            wait,
            waiting: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The gate `config` describes: `HALLPASS_PASSWORD_HASH_CONCURRENCY` slots (unset: the
    /// cores this process may use) and `HALLPASS_PASSWORD_HASH_WAIT_SECONDS` of wait.
    pub(crate) fn from_config(config: &Config) -> PasswordGate {
        let capacity = config.password_hash_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(FALLBACK_CAPACITY, |n| n.get())
        });
        let wait = Duration::from_secs(u64::try_from(config.password_hash_wait_secs).unwrap_or(0));
        PasswordGate::new(capacity, wait)
    }

    /// Runs `f` (argon2 work) on the blocking pool once a slot is free, holding the slot until
    /// `f` returns, even if the caller stops waiting for the result.
    ///
    /// # Errors
    ///
    /// [`GateError::Busy`] when no slot came free within the wait (`f` never runs);
    /// [`GateError::Task`] when `f` panicked.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, GateError> {
        let permit = self.acquire().await?;
        let result = tokio::task::spawn_blocking(move || {
            let _slot = permit;
            f()
        })
        .await?;
        Ok(result)
    }

    /// The gate's numbers now.
    pub(crate) fn load(&self) -> GateLoad {
        let free = self.permits.available_permits();
        GateLoad {
            capacity: self.capacity as u64,
            in_progress: self.capacity.saturating_sub(free) as u64,
            waiting: self.waiting.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// A slot, waiting up to `self.wait` for one.
    async fn acquire(&self) -> Result<OwnedSemaphorePermit, GateError> {
        let permits = Arc::clone(&self.permits);
        if let Ok(permit) = permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let acquired = if self.wait.is_zero() {
            None
        } else {
            let _waiting = Waiting::enter(&self.waiting);
            // The semaphore is never closed, so `acquire_owned` cannot fail; a failure would
            // be treated as no slot.
            tokio::time::timeout(self.wait, permits.acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
        };
        acquired.ok_or_else(|| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            GateError::Busy { wait: self.wait }
        })
    }
}

/// One caller counted in [`PasswordGate::waiting`] for as long as this lives, including when
/// its request is dropped mid-wait.
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn enter(waiting: &'a AtomicU64) -> Waiting<'a> {
        waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Condvar, Mutex};

    use super::*;
    use crate::config::RawConfig;

    /// A door closures wait at until the test opens it.
    #[derive(Default)]
    struct Door {
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl Door {
        fn wait(&self) {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }

        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    /// Yields until `done` holds (the blocking pool and the runtime's workers make progress
    /// meanwhile).
    async fn until(done: impl Fn() -> bool) {
        while !done() {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_runs_more_than_capacity_at_once() {
        let gate = Arc::new(PasswordGate::new(2, Duration::from_secs(600)));
        let door = Arc::new(Door::default());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (gate, door) = (Arc::clone(&gate), Arc::clone(&door));
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                tokio::spawn(async move {
                    gate.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        door.wait();
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        until(|| gate.load().waiting == 6 && running.load(Ordering::SeqCst) == 2).await;
        assert_eq!(
            gate.load(),
            GateLoad {
                capacity: 2,
                in_progress: 2,
                waiting: 6,
                refused: 0
            }
        );
        door.open();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(gate.load().in_progress, 0);
        assert_eq!(gate.load().waiting, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_waits_then_is_refused() {
        let gate = PasswordGate::new(1, Duration::from_secs(5));
        let held = gate.acquire().await.unwrap();
        let started = tokio::time::Instant::now();
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&ran);
        let refused = gate
            .run(move || counted.fetch_add(1, Ordering::SeqCst))
            .await;
        assert!(matches!(refused, Err(GateError::Busy { wait }) if wait.as_secs() == 5));
        assert!(started.elapsed() >= Duration::from_secs(5));
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "a refused closure never runs"
        );
        assert_eq!(gate.load().refused, 1);
        assert_eq!(gate.load().waiting, 0);
        drop(held);
        assert_eq!(gate.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_freed_within_the_wait_is_taken() {
        let gate = Arc::new(PasswordGate::new(1, Duration::from_secs(5)));
        let held = gate.acquire().await.unwrap();
        let waiter = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.run(|| 1).await }
        });
        until(|| gate.load().waiting == 1).await;
        tokio::time::advance(Duration::from_secs(4)).await;
        drop(held);
        assert_eq!(waiter.await.unwrap().unwrap(), 1);
        assert_eq!(gate.load().refused, 0);
    }

    #[tokio::test]
    async fn zero_wait_refuses_at_once_when_full() {
        let gate = PasswordGate::new(1, Duration::ZERO);
        assert_eq!(gate.run(|| 1).await.unwrap(), 1, "a free slot is taken");
        let _held = gate.acquire().await.unwrap();
        assert!(matches!(gate.run(|| 2).await, Err(GateError::Busy { .. })));
        assert_eq!(gate.load().refused, 1);
    }

    /// A request dropped while argon2 runs (its client went away) must not free the slot:
    /// the thread and its 19 MiB are still busy, and a flood of abandoned requests would
    /// otherwise be as unbounded as no gate at all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_caller_keeps_its_slot_until_the_work_ends() {
        let gate = Arc::new(PasswordGate::new(1, Duration::ZERO));
        let door = Arc::new(Door::default());
        let started = Arc::new(AtomicUsize::new(0));
        let caller = tokio::spawn({
            let (gate, door, started) =
                (Arc::clone(&gate), Arc::clone(&door), Arc::clone(&started));
            async move {
                gate.run(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    door.wait();
                })
                .await
            }
        });
        until(|| started.load(Ordering::SeqCst) == 1).await;
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(gate.load().in_progress, 1);
        assert!(matches!(gate.run(|| ()).await, Err(GateError::Busy { .. })));
        door.open();
        until(|| gate.load().in_progress == 0).await;
        assert!(gate.run(|| ()).await.is_ok());
    }

    #[tokio::test]
    async fn a_panic_is_a_task_error_and_frees_the_slot() {
        let gate = PasswordGate::new(1, Duration::ZERO);
        let result = gate.run(|| panic!("argon2 bug")).await;
        assert!(matches!(result, Err(GateError::Task(_))));
        assert_eq!(gate.load().in_progress, 0);
    }

    #[test]
    fn settings_give_capacity_and_wait() {
        let config = RawConfig::new().validate().unwrap();
        let gate = PasswordGate::from_config(&config);
        let cores = std::thread::available_parallelism().map_or(FALLBACK_CAPACITY, |n| n.get());
        assert_eq!(gate.load().capacity, cores as u64);
        assert_eq!(gate.wait, Duration::from_secs(5));
        let mut raw = RawConfig::new();
        raw.set("HALLPASS_PASSWORD_HASH_CONCURRENCY", "3").unwrap();
        raw.set("HALLPASS_PASSWORD_HASH_WAIT_SECONDS", "0").unwrap();
        let gate = PasswordGate::from_config(&raw.validate().unwrap());
        assert_eq!(gate.load().capacity, 3);
        assert_eq!(gate.wait, Duration::ZERO);
    }
}
