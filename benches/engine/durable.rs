//! Durable command throughput: commands acknowledged only once on disk, from 1, 4 and 16
//! concurrent callers, beside raw sled and the store alone doing one record per sync.

use std::fs::File;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use tempfile::TempDir;

use hallpass::testing::{Event, State, encode_record};
use hallpass::{
    AuthMethod, Clock, Durability, Engine, EngineConfig, EventStore, Jti, PasswordHash,
    RotateOutcome, SessionHash, SessionMeta, SledStore, Snapshot, Successor, SystemClock,
    Timestamp, UserId,
};

use crate::data::{
    DATASET_USERS, GRACE_MS, REFRESH_TTL_SECS, THROUGHPUT_USERS, session_created, user_signed_up,
};

/// The durable-throughput group: raw sled and store baselines, then the engine.
pub(crate) fn durable_commands(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_commands");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));

    let record_len = typical_record_len();
    for fsync in [false, true] {
        let name = if fsync {
            "baseline_sled_insert_flush_fdatasync"
        } else {
            "baseline_sled_insert_flush"
        };
        let dir = TempDir::new().expect("temp dir");
        let db = sled::Config::new()
            .path(dir.path().join("log"))
            .open()
            .expect("open sled");
        // sled 0.34 keeps its log and pages in `<path>/db` (`Config::db_path`).
        let file = File::open(dir.path().join("log").join("db")).expect("open sled db file");
        let value = vec![0x5a_u8; record_len];
        let mut key = 0_u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    key += 1;
                    db.insert(key.to_be_bytes(), value.as_slice())
                        .expect("insert");
                    db.flush().expect("flush");
                    if fsync {
                        file.sync_data().expect("fdatasync");
                    }
                }
                start.elapsed()
            });
        });
    }

    // The store alone, one record per sync, no writer thread: what the engine pays per batch.
    for (label, durability) in [("fsync", Durability::Fsync), ("flush", Durability::Flush)] {
        let dir = TempDir::new().expect("temp dir");
        let mut store = SledStore::open(dir.path(), durability).expect("open store");
        let record = vec![0x5a_u8; record_len];
        group.bench_function(format!("store_append_sync_{label}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let seq = store.high_water().next();
                    store
                        .append(seq, seq, store.high_water(), &record)
                        .expect("append");
                    store.sync().expect("sync");
                }
                start.elapsed()
            });
        });
    }

    for (label, durability) in [("fsync", Durability::Fsync), ("flush", Durability::Flush)] {
        for callers in [1_u64, 4, 16] {
            let dir = TempDir::new().expect("temp dir");
            let engine = durable_engine(dir.path(), durability);
            let users = sign_up_users(&engine, THROUGHPUT_USERS);
            let name = format!("create_session_{label}");
            bench_create_session(&mut group, &name, &engine, &users, callers);
        }
    }

    // The same on an engine that already holds 100,000 users (loaded from a snapshot), as a
    // deployment would: a batch's planning starts with `State::max_user_id`, a pass over all
    // users, so this shows what that pass costs the writer.
    for (label, durability) in [("fsync", Durability::Fsync), ("flush", Durability::Flush)] {
        let dir = TempDir::new().expect("temp dir");
        save_users_snapshot(dir.path(), DATASET_USERS);
        let engine = durable_engine(dir.path(), durability);
        let users: Vec<UserId> = (1..=THROUGHPUT_USERS).map(UserId).collect();
        let name = format!("create_session_{label}_100k_users");
        bench_create_session(&mut group, &name, &engine, &users, 16);
    }

    let dir = TempDir::new().expect("temp dir");
    let engine = durable_engine(dir.path(), Durability::Fsync);
    let users = sign_up_users(&engine, 16);
    let tokens: Vec<Mutex<(SessionHash, Jti)>> = users
        .iter()
        .map(|user| {
            let jti = Jti::random();
            let session = engine
                .create_session(*user, SessionMeta::default(), Some((jti, refresh_expiry())))
                .expect("create session");
            Mutex::new((session.info.hash, jti))
        })
        .collect();
    let (engine, tokens) = (&engine, &tokens);
    group.bench_with_input(
        BenchmarkId::new("rotate_refresh_fsync", 16),
        &16_u64,
        |b, &callers| {
            b.iter_custom(|iters| {
                run_callers(callers, iters, move |caller| {
                    let mut token = tokens[caller].lock().expect("token slot");
                    move || {
                        let (hash, old) = *token;
                        let new = Jti::random();
                        let successor = Successor {
                            access_token: String::new(),
                            refresh_token: String::new(),
                        };
                        let outcome = engine
                            .rotate_refresh(
                                hash,
                                (old, refresh_expiry()),
                                new,
                                refresh_expiry(),
                                successor,
                            )
                            .expect("rotate");
                        assert!(matches!(outcome, RotateOutcome::Rotated(_)));
                        *token = (hash, new);
                    }
                })
            });
        },
    );
    report_batches(engine, "rotate_refresh_fsync/16");
    group.finish();
}

/// `create_session` from `callers` threads, cycling through `users`.
fn bench_create_session(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    engine: &Engine,
    users: &[UserId],
    callers: u64,
) {
    let next = AtomicU64::new(0);
    let next = &next;
    group.bench_with_input(BenchmarkId::new(name, callers), &callers, |b, &callers| {
        b.iter_custom(|iters| {
            run_callers(callers, iters, move |_| {
                move || {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let user = users[i as usize % users.len()];
                    let session = engine
                        .create_session(user, SessionMeta::default(), None)
                        .expect("create session");
                    black_box(session);
                }
            })
        });
    });
    report_batches(engine, &format!("{name}/{callers}"));
}

/// Writes a snapshot holding `users` signed-up users (ids `1..=users`) and nothing else.
fn save_users_snapshot(dir: &Path, users: u64) {
    let mut state = State::new(GRACE_MS);
    for user in 1..=users {
        state.apply(&user_signed_up(user, user));
    }
    let mut store = SledStore::open(dir, Durability::Fsync).expect("open store");
    store
        .save_snapshot(&Snapshot {
            seq: state.last_seq(),
            bytes: state.to_snapshot(),
        })
        .expect("save snapshot");
}

/// Runs `iters` commands split over `callers` threads; each thread builds its command with
/// `make(caller)` before the clock starts. Returns the wall time from release to last return.
pub(crate) fn run_callers<M, F>(callers: u64, iters: u64, make: M) -> Duration
where
    M: Fn(usize) -> F + Sync,
    F: FnMut(),
{
    let barrier = Barrier::new(callers as usize + 1);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..callers)
            .map(|caller| {
                let count = iters / callers + u64::from(caller < iters % callers);
                let (barrier, make) = (&barrier, &make);
                scope.spawn(move || {
                    let mut command = make(caller as usize);
                    barrier.wait();
                    for _ in 0..count {
                        command();
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for thread in threads {
            thread.join().expect("caller thread panicked");
        }
        start.elapsed()
    })
}

/// An engine on sled in `dir` with the real clock and default settings.
fn durable_engine(dir: &Path, durability: Durability) -> Engine {
    let (engine, _) = Engine::open_dir(
        dir,
        durability,
        Arc::new(SystemClock),
        EngineConfig::default(),
    )
    .expect("open engine");
    engine
}

/// Signs up `n` users from 16 threads, so that setup costs a few group commits, not `n`
/// fsyncs.
fn sign_up_users(engine: &Engine, n: u64) -> Vec<UserId> {
    let users = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicU64::new(0);
    let (users_ref, next) = (&users, &next);
    run_callers(16, n, move |_| {
        move || {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let user = engine
                .sign_up(
                    &format!("bench{i}@example.com"),
                    "bench",
                    PasswordHash::unusable(),
                )
                .expect("sign up");
            users_ref.lock().expect("user list").push(user.id);
        }
    });
    users.into_inner().expect("user list")
}

/// Prints how well group commit batched the commands an engine has answered so far.
fn report_batches(engine: &Engine, name: &str) {
    let stats = engine.stats();
    let batches = stats.batches.load(Ordering::Relaxed).max(1);
    let commands = stats.commands.load(Ordering::Relaxed);
    let sync = stats.sync_micros.load(Ordering::Relaxed);
    eprintln!(
        "{name}: {commands} commands in {batches} batches ({:.1} per batch), \
         append+sync {:.0} us per batch",
        commands as f64 / batches as f64,
        sync as f64 / batches as f64
    );
}

/// A refresh token expiry a day from now by the wall clock (the engines here use it).
fn refresh_expiry() -> Timestamp {
    SystemClock.now().plus_secs(REFRESH_TTL_SECS)
}

/// The size of the record the engine writes for one `create_session` without a refresh token,
/// so the raw baselines write values of the same size.
fn typical_record_len() -> usize {
    let mut envelope = session_created(1, 0, 1);
    if let Event::SessionCreated {
        refresh,
        user_agent,
        ip,
        method,
        ..
    } = &mut envelope.event
    {
        *refresh = None;
        *user_agent = None;
        *ip = None;
        *method = AuthMethod::Unknown;
    }
    encode_record(&[envelope]).expect("encode").len()
}
