//! Start-up with a million live sessions, and session lookups on the engine that holds them.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};

use hallpass::testing::{ManualClock, State, decode_record, sha256};
use hallpass::{Durability, Engine, EngineConfig, EventStore, SledStore};

use crate::data::{
    AccessOrder, DATASET_LOG_RECORDS, DATASET_SESSIONS, Dataset, GRACE_MS, HOT_KEYS, T0, dataset,
    dataset_built,
};

/// Times `Engine::open_dir` on the million-session data set; the drop is timed apart.
pub(crate) fn startup(c: &mut Criterion) {
    let mut group = c.benchmark_group("startup");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        // One open per sample: an open takes seconds, so criterion will say that 10 samples
        // do not fit in this target time; a larger one would only make it open twice a sample.
        .measurement_time(Duration::from_secs(5));
    let mut drops = Vec::new();
    group.bench_function("open_dir_1m_sessions", |b| {
        let data = dataset();
        b.iter_custom(|iters| {
            let mut opening = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let (engine, report) = Engine::open_dir(
                    data.dir.path(),
                    Durability::Fsync,
                    Arc::new(ManualClock::new(T0)),
                    read_only_config(),
                )
                .expect("open engine");
                opening += start.elapsed();
                assert_eq!(report.replayed_events, DATASET_LOG_RECORDS);
                let start = Instant::now();
                drop(black_box(engine));
                drops.push(start.elapsed());
            }
            opening
        });
    });
    group.finish();
    if dataset_built() {
        startup_stages(dataset());
    }
    if !drops.is_empty() {
        let total: Duration = drops.iter().sum();
        eprintln!(
            "startup: dropping the 1M-session engine took {:.0} ms on average ({} drops)",
            total.as_secs_f64() * 1000.0 / drops.len() as f64,
            drops.len()
        );
    }
}

/// Session lookups on the million-session engine beside plain `HashMap` lookups.
pub(crate) fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_millis(1500))
        .throughput(Throughput::Elements(1));
    let engine_cell: OnceLock<Engine> = OnceLock::new();
    let engine = || {
        engine_cell.get_or_init(|| {
            let (engine, _) = Engine::open_dir(
                dataset().dir.path(),
                Durability::Fsync,
                Arc::new(ManualClock::new(T0)),
                read_only_config(),
            )
            .expect("open engine");
            let held = engine.with_state(State::session_count) as u64;
            assert_eq!(held, DATASET_SESSIONS);
            writer_scans(&engine);
            engine
        })
    };
    let baseline_cell: OnceLock<HashMap<[u8; 32], u64>> = OnceLock::new();
    let baseline = || {
        baseline_cell.get_or_init(|| {
            let hashes = &dataset().hashes;
            (0_u64..).zip(hashes).map(|(no, h)| (h.0, no)).collect()
        })
    };

    group.bench_function("engine_lookup_key_1m", |b| {
        let (engine, keys) = (engine(), &dataset().keys);
        let mut order = AccessOrder::new(keys.len());
        b.iter(|| black_box(engine.lookup(black_box(&keys[order.advance()]))));
    });
    group.bench_function("engine_lookup_hash_1m", |b| {
        let (engine, hashes) = (engine(), &dataset().hashes);
        let mut order = AccessOrder::new(hashes.len());
        b.iter(|| black_box(engine.lookup_hash(black_box(&hashes[order.advance()]))));
    });
    group.bench_function("baseline_sha256_hashmap_1m", |b| {
        let (map, keys) = (baseline(), &dataset().keys);
        let mut order = AccessOrder::new(keys.len());
        b.iter(|| {
            let key = black_box(&keys[order.advance()]);
            black_box(map.get(&sha256(key.as_bytes())))
        });
    });
    group.bench_function("baseline_hashmap_only_1m", |b| {
        let (map, hashes) = (baseline(), &dataset().hashes);
        let mut order = AccessOrder::new(hashes.len());
        b.iter(|| black_box(map.get(&black_box(&hashes[order.advance()]).0)));
    });
    // The same over 1,024 keys whose entries stay in cache: the CPU cost without the memory
    // latency of a random walk over a million entries.
    group.bench_function("engine_lookup_key_hot1k", |b| {
        let (engine, keys) = (engine(), &dataset().keys);
        let mut order = AccessOrder::new(HOT_KEYS);
        b.iter(|| black_box(engine.lookup(black_box(&keys[order.advance()]))));
    });
    group.bench_function("baseline_sha256_hashmap_hot1k", |b| {
        let (map, keys) = (baseline(), &dataset().keys);
        let mut order = AccessOrder::new(HOT_KEYS);
        b.iter(|| {
            let key = black_box(&keys[order.advance()]);
            black_box(map.get(&sha256(key.as_bytes())))
        });
    });
    group.finish();
}

/// Times the stages of one open by hand, through the public store and state API, to show
/// where start-up time goes.
fn startup_stages(data: &Dataset) {
    let ms = |since: Instant| since.elapsed().as_secs_f64() * 1000.0;
    let start = Instant::now();
    let store = SledStore::open(data.dir.path(), Durability::Fsync).expect("open store");
    let open_store = ms(start);
    let start = Instant::now();
    let snapshot = store
        .load_snapshot()
        .expect("load snapshot")
        .expect("a snapshot");
    let read = ms(start);
    let start = Instant::now();
    let mut state = State::from_snapshot(&snapshot.bytes, GRACE_MS).expect("decode snapshot");
    let decode = ms(start);
    let start = Instant::now();
    store
        .read_after(state.last_seq(), &mut |_, bytes| {
            for envelope in decode_record(bytes).expect("decode record") {
                state.apply(&envelope);
            }
            Ok(())
        })
        .expect("replay");
    let replay = ms(start);
    let start = Instant::now();
    drop(snapshot);
    drop(state);
    let drop_state = ms(start);
    let start = Instant::now();
    drop(store);
    let drop_store = ms(start);
    eprintln!(
        "startup stages: sled open {open_store:.0} ms, snapshot read+crc {read:.0} ms, \
         State::from_snapshot {decode:.0} ms, replay {DATASET_LOG_RECORDS} records \
         {replay:.0} ms; drop state {drop_state:.0} ms, drop store {drop_store:.0} ms"
    );
}

/// Times, once each, the whole-state passes the writer thread makes while every command
/// waits: `max_user_id` (each batch), `expired` (each sweep tick, under the read lock: readers
/// go on) and `to_snapshot` (every `snapshot_every` events, read lock; writing it is done
/// beside the writer).
fn writer_scans(engine: &Engine) {
    let us = |since: Instant| since.elapsed().as_secs_f64() * 1e6;
    engine.with_state(|state| {
        let start = Instant::now();
        black_box(state.max_user_id());
        let max_user = us(start);
        let start = Instant::now();
        black_box(state.expired(T0));
        let expired = us(start);
        let start = Instant::now();
        let bytes = black_box(state.to_snapshot());
        let snapshot = us(start);
        eprintln!(
            "writer scans on {} users / {} sessions: max_user_id {:.0} us (every batch), \
             expired {:.0} ms (every sweep tick), to_snapshot {:.0} ms for {} MB \
             (every snapshot)",
            state.user_count(),
            state.session_count(),
            max_user,
            expired / 1000.0,
            snapshot / 1000.0,
            bytes.len() / 1_000_000
        );
    });
}

/// Opening for reads only: no snapshot on close, so every open sees the same snapshot + log.
fn read_only_config() -> EngineConfig {
    EngineConfig {
        snapshot_on_close: false,
        snapshot_every: u64::MAX,
        ..EngineConfig::default()
    }
}
