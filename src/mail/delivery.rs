//! The delivery worker: one thread that sends what the outbox holds, oldest first, off the
//! request path, and records each outcome in the log.
//!
//! It runs a pass over the outbox when [`Mailer::wake`] says something was queued and at least
//! every [`DeliveryOptions::poll`] (so messages queued before a crash or restart go out once
//! the server is back). Each waiting message is opened, composed and handed to the
//! [`Backend`]; then:
//!
//! - delivered: `mailed(Sent)`, the message leaves the outbox;
//! - refused for good (a 5xx reply to the message, a recipient that is no address, a message
//!   that does not open with this `SECRET_KEY`): `mailed(GaveUp)` at once, logged at ERROR;
//! - failed this time: `mailed(Failed)` (the count is durable) and the message waits
//!   `first_retry`, then twice as long after each further failure, at most `max_retry`; the
//!   failure that makes `HALLPASS_EMAIL_MAX_ATTEMPTS` is `mailed(GaveUp)` instead, at ERROR;
//! - the backend unavailable (no connection, TLS or AUTH failing, a directory that cannot be
//!   written): counted against the message tried, as above, and the pass stops: the messages
//!   behind it wait until that message's next attempt, so an outage costs one attempt per
//!   retry interval, not one per waiting message.
//!
//! Retry times live in memory: after a restart every waiting message is due at once, its
//! failure count carried on from the log.
//!
//! **At-least-once.** A message leaves the outbox only by an event written after the attempt:
//! a crash (or a failed write of `MailEnded`) between the server taking the message and that
//! event sends it again after the restart, with the same `Message-ID`
//! ([`message`](super::message)). A message recorded as sent is never sent again; a message
//! the server took while its `mailed(Sent)` could not be written is not resent by this process
//! (it retries the record). Exactly one worker may run per data directory.
//!
//! Logs name the message's id, kind and recipient's domain (and the file backend's path),
//! never the recipient, subject, body, code or key.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::engine::{Engine, MailOutcome};
use crate::state::Mail;

use super::Mailer;
use super::backend::{Backend, SendError};
use super::message::Outgoing;

/// How the worker paces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Failed attempts after which a message is given up (`HALLPASS_EMAIL_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// The wait after a message's first failed attempt; it doubles after each further one.
    pub first_retry: Duration,
    /// The longest wait between two attempts at a message.
    pub max_retry: Duration,
    /// The longest the worker sleeps between passes without being woken.
    pub poll: Duration,
}

/// What the worker did since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryStats {
    /// Messages delivered.
    pub sent: u64,
    /// Attempts that failed (a message may fail several times before it is sent).
    pub failed_attempts: u64,
    /// Messages given up.
    pub given_up: u64,
}

/// The running worker. Stop it with [`Delivery::stop`] (or drop it) before the engine closes.
#[derive(Debug)]
pub struct Delivery {
    mailer: Mailer,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed_attempts: AtomicU64,
    given_up: AtomicU64,
}

impl DeliveryOptions {
    /// `HALLPASS_EMAIL_MAX_ATTEMPTS` with the default pacing: retries after 1 s, 2 s, 4 s, ...
    /// up to 5 minutes; a pass at least every second.
    pub fn from_config(config: &Config) -> DeliveryOptions {
        DeliveryOptions {
            max_attempts: config.email_max_attempts,
            ..DeliveryOptions::default()
        }
    }

    /// The wait after a message's `failures`-th failed attempt.
    pub fn retry_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first_retry
            .saturating_mul(1 << doublings)
            .min(self.max_retry)
    }
}

impl Default for DeliveryOptions {
    fn default() -> DeliveryOptions {
        DeliveryOptions {
            max_attempts: 8,
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
            poll: Duration::from_secs(1),
        }
    }
}

impl Delivery {
    /// Starts the worker on its own thread (`hallpass-mail`): it sends `engine`'s outbox,
    /// opened by `mailer` (the one the endpoints seal with, whose [`Mailer::wake`] it waits
    /// on), through `backend`.
    ///
    /// # Errors
    ///
    /// The thread cannot be spawned.
    pub fn start(
        engine: Engine,
        mailer: Mailer,
        backend: Backend,
        options: DeliveryOptions,
    ) -> std::io::Result<Delivery> {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        tracing::info!(backend = %backend.describe(), max_attempts = options.max_attempts, "mail delivery started");
        let worker = Worker {
            engine,
            mailer: mailer.clone(),
            backend,
            options,
            stop: Arc::clone(&stop),
            counters: Arc::clone(&counters),
            retry_at: HashMap::new(),
            hold_until: None,
            unrecorded: BTreeSet::new(),
        };
        let thread = std::thread::Builder::new()
            .name("hallpass-mail".to_owned())
            .spawn(move || worker.run())?;
        Ok(Delivery {
            mailer,
            stop,
            counters,
            thread: Some(thread),
        })
    }

    /// What the worker did so far.
    pub fn stats(&self) -> DeliveryStats {
        DeliveryStats {
            sent: self.counters.sent.load(Ordering::Relaxed),
            failed_attempts: self.counters.failed_attempts.load(Ordering::Relaxed),
            given_up: self.counters.given_up.load(Ordering::Relaxed),
        }
    }

    /// Stops the worker and waits for it: it finishes the attempt in flight (bounded by
    /// `EMAIL_TIMEOUT`), records its outcome and sends nothing more. What is still waiting
    /// stays in the outbox for the next start.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.mailer.wake();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the mail delivery thread panicked");
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The worker thread's state.
struct Worker {
    engine: Engine,
    mailer: Mailer,
    backend: Backend,
    options: DeliveryOptions,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    /// When each message that failed may be tried again.
    retry_at: HashMap<u64, Instant>,
    /// No message is tried before this: the backend was unavailable.
    hold_until: Option<Instant>,
    /// Messages the backend took whose `mailed(Sent)` could not be written yet.
    unrecorded: BTreeSet<u64>,
}

/// Whether a pass goes on to the next message.
enum Next {
    Continue,
    StopPass,
}

impl Worker {
    fn run(mut self) {
        while !self.stopping() {
            self.pass();
            if self.stopping() {
                break;
            }
            let wait = self.next_wait();
            self.mailer.wait_for_mail(wait);
        }
        self.backend.end_pass();
        tracing::info!("mail delivery stopped");
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// One pass over the outbox, oldest first.
    fn pass(&mut self) {
        let now = Instant::now();
        if self.hold_until.is_some_and(|until| until > now) {
            return;
        }
        self.hold_until = None;
        let outbox = self.engine.outbox();
        let waiting: BTreeSet<u64> = outbox.iter().map(|mail| mail.id).collect();
        self.retry_at.retain(|id, _| waiting.contains(id));
        self.unrecorded.retain(|id| waiting.contains(id));
        for mail in &outbox {
            if self.stopping() {
                break;
            }
            let next = if self.unrecorded.contains(&mail.id) {
                self.record(mail.id, MailOutcome::Sent)
            } else if self.retry_at.get(&mail.id).is_some_and(|at| *at > now) {
                Next::Continue
            } else {
                self.attempt(mail)
            };
            if let Next::StopPass = next {
                break;
            }
        }
        self.backend.end_pass();
    }

    /// How long to sleep: until the next retry or the end of a hold, at most `poll`.
    fn next_wait(&self) -> Duration {
        let now = Instant::now();
        let earliest = self.retry_at.values().chain(&self.hold_until).min();
        let until = earliest.map_or(self.options.poll, |at| at.saturating_duration_since(now));
        until.clamp(Duration::from_millis(5), self.options.poll)
    }

    /// One attempt at `mail`.
    fn attempt(&mut self, mail: &Mail) -> Next {
        let Some(rendered) = self.mailer.open(&mail.sealed) else {
            tracing::error!(
                id = mail.id,
                "mail given up: it does not open with this SECRET_KEY (queued under another \
                 key); it cannot be sent"
            );
            return self.give_up(mail.id);
        };
        let message = match self.backend.composer().compose(mail, &rendered) {
            Ok(message) => message,
            Err(reason) => {
                tracing::error!(
                    id = mail.id,
                    kind = rendered.kind.template(),
                    %reason,
                    "mail given up"
                );
                return self.give_up(mail.id);
            }
        };
        drop(rendered);
        match self.backend.send(&message) {
            Ok(receipt) => {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
                // Recorded first: "mail sent" in the log means it left the outbox for good.
                let next = self.record(message.id, MailOutcome::Sent);
                let recorded = matches!(next, Next::Continue);
                let (id, kind, to_domain) =
                    (message.id, message.kind.template(), message.to_domain());
                match &receipt.file {
                    Some(file) => {
                        let file = file.display();
                        tracing::info!(id, kind, to_domain, %file, recorded, "mail sent");
                    }
                    None => tracing::info!(id, kind, to_domain, recorded, "mail sent"),
                }
                next
            }
            Err(SendError::Permanent(reason)) => {
                tracing::error!(
                    id = message.id,
                    kind = message.kind.template(),
                    to_domain = message.to_domain(),
                    %reason,
                    "mail given up: refused for good"
                );
                self.give_up(message.id)
            }
            Err(SendError::Transient(reason)) => self.failed(mail, &message, &reason),
            Err(SendError::Unavailable(reason)) => {
                // The next message would fail the same way: hold them all, even when this one
                // was just given up.
                let failures = mail.failed_attempts.saturating_add(1);
                self.hold_until = Some(Instant::now() + self.options.retry_after(failures));
                self.failed(mail, &message, &reason);
                Next::StopPass
            }
        }
    }

    /// Counts a failed attempt at `mail`: retried later, or given up after the last one.
    fn failed(&mut self, mail: &Mail, message: &Outgoing, reason: &str) -> Next {
        self.counters
            .failed_attempts
            .fetch_add(1, Ordering::Relaxed);
        let failures = mail.failed_attempts.saturating_add(1);
        if failures >= self.options.max_attempts {
            tracing::error!(
                id = message.id,
                kind = message.kind.template(),
                to_domain = message.to_domain(),
                attempts = failures,
                reason,
                "mail given up after its last attempt (HALLPASS_EMAIL_MAX_ATTEMPTS)"
            );
            return self.give_up(message.id);
        }
        let wait = self.options.retry_after(failures);
        tracing::warn!(
            id = message.id,
            kind = message.kind.template(),
            to_domain = message.to_domain(),
            attempt = failures,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            reason,
            "mail attempt failed"
        );
        self.retry_at.insert(message.id, Instant::now() + wait);
        self.record(message.id, MailOutcome::Failed)
    }

    fn give_up(&mut self, id: u64) -> Next {
        self.counters.given_up.fetch_add(1, Ordering::Relaxed);
        self.retry_at.remove(&id);
        self.record(id, MailOutcome::GaveUp)
    }

    /// Writes what the attempt at message `id` came to. A write that fails stops the pass: the
    /// log is in trouble, and a sent message must not be sent again before it is recorded.
    fn record(&mut self, id: u64, outcome: MailOutcome) -> Next {
        match self.engine.mailed(id, outcome) {
            Ok(()) => {
                self.unrecorded.remove(&id);
                Next::Continue
            }
            Err(error) => {
                if outcome == MailOutcome::Sent {
                    self.unrecorded.insert(id);
                }
                tracing::warn!(id, ?outcome, %error, "recording a mail outcome failed; retrying");
                Next::StopPass
            }
        }
    }
}
