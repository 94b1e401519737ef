//! The rate limiter's cost per hit with 1k and with 200k live keys, against a bare
//! `parking_lot::Mutex<HashMap<u64, u64>>` increment in the same run (so the figure is a
//! ratio), and against the limiter hallpass had before (one global mutex over
//! `HashMap<(Limit, String), VecDeque<Timestamp>>`, rescanned on every hit above 10,000 keys),
//! kept here as `old`.
//!
//! `cargo bench --bench ratelimit -- --warm-up-time 1 --measurement-time 3`. Before criterion
//! runs, the heap bytes per tracked key (200k keys, one hit each) of both limiters, and of the
//! new one filled to its default cap, are printed to stderr.
//!
//! Every key gets one hit before measuring and the clock stands still, so the keys stay live;
//! a key hit past its limit takes the refused path, which costs the same lookup.

#![expect(
    clippy::expect_used,
    reason = "a bench on fixed inputs aborts on any failure"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use counting_alloc::CountingAlloc;
use criterion::{BenchmarkId, Criterion, criterion_group};
use parking_lot::Mutex;

use hallpass::Timestamp;
use hallpass::testing::{Limit, RateLimiter};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const T: Timestamp = Timestamp::from_secs(1_700_000_000);

/// The live-key counts measured.
const SIZES: [usize; 2] = [1_000, 200_000];

/// The `i`th distinct client address.
fn address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        u32::try_from(i).expect("fewer than 2^32 keys"),
    ))
}

/// A limiter with `n` live keys (addresses `0..n`, one `login` hit each).
fn limiter(n: usize) -> RateLimiter {
    let limiter = RateLimiter::new(true);
    for i in 0..n {
        assert!(limiter.hit(Limit::Login, address(i), T));
    }
    assert_eq!(limiter.tracked_keys(), n);
    limiter
}

fn hit_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit_hit");
    for n in SIZES {
        let now = T.plus_secs(1);
        let addresses: Vec<IpAddr> = (0..n).map(address).collect();
        let texts: Vec<String> = addresses.iter().map(ToString::to_string).collect();

        let baseline: Mutex<HashMap<u64, u64>> =
            Mutex::new((0..n as u64).map(|k| (k, 1)).collect());
        group.bench_with_input(
            BenchmarkId::new("baseline_mutex_hashmap", n),
            &n,
            |b, &n| {
                let mut i = 0u64;
                b.iter(|| {
                    i = (i + 1) % n as u64;
                    *baseline.lock().entry(black_box(i)).or_insert(0) += 1;
                })
            },
        );

        let new = limiter(n);
        group.bench_with_input(BenchmarkId::new("new_address", n), &addresses, |b, keys| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % keys.len();
                new.hit(Limit::Login, black_box(keys[i]), now)
            })
        });
        group.bench_with_input(BenchmarkId::new("new_text", n), &texts, |b, keys| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % keys.len();
                new.hit(Limit::Login, black_box(keys[i].as_str()), now)
            })
        });
        drop(new);

        let old = old::RateLimiter::prefilled(&texts, T);
        group.bench_with_input(BenchmarkId::new("old_text", n), &texts, |b, keys| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % keys.len();
                old.hit(old::Limit::Login, black_box(keys[i].as_str()), now)
            })
        });
    }
    group.finish();
}

/// Prints the heap bytes per key of both limiters at 200k keys, and of the new one full at
/// its default cap.
fn memory_summary() {
    let report = |name: &str, n: usize, counts: counting_alloc::Counts| {
        eprintln!(
            "ratelimit memory, {name} with {n} keys of one hit each: {} bytes/key, {:.2} \
             blocks/key, {:.1} MB in all",
            counts.bytes / n as isize,
            counts.allocs as f64 / n as f64,
            counts.bytes as f64 / 1e6,
        );
    };
    let n = 200_000;
    let texts: Vec<String> = (0..n).map(|i| address(i).to_string()).collect();
    counting_alloc::start();
    let new = limiter(n);
    report("new", n, counting_alloc::stop());
    drop(new);
    counting_alloc::start();
    let old = old::RateLimiter::prefilled(&texts, T);
    report("old", n, counting_alloc::stop());
    drop(old);
    // A million fresh keys over 32 shards of 31,250: the fuller shards evict past the cap.
    counting_alloc::start();
    let full = RateLimiter::new(true);
    for i in 0..1_000_000 {
        assert!(full.hit(Limit::Login, address(i), T));
    }
    let counts = counting_alloc::stop();
    report("new (default cap)", full.tracked_keys(), counts);
    drop(full);
}

/// The limiter as it was before sharding, verbatim but for `prefilled` (which builds its map
/// directly: inserting 200k keys through `hit` rescans the map on each of them).
mod old {
    use std::collections::{HashMap, VecDeque};

    use parking_lot::Mutex;

    use hallpass::Timestamp;

    /// The old limits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub(crate) enum Limit {
        Login,
    }

    impl Limit {
        fn rate(self) -> (usize, i64) {
            match self {
                Limit::Login => (30, 60),
            }
        }
    }

    const PRUNE_ABOVE: usize = 10_000;

    /// The old limiter: one mutex, a `String` key per call, a full prune above 10,000 keys.
    pub(crate) struct RateLimiter {
        hits: Mutex<HashMap<(Limit, String), VecDeque<Timestamp>>>,
    }

    impl RateLimiter {
        /// A limiter holding one `login` hit at `at` for each of `keys`.
        pub(crate) fn prefilled(keys: &[String], at: Timestamp) -> RateLimiter {
            let hits = keys
                .iter()
                .map(|key| ((Limit::Login, key.clone()), VecDeque::from([at])))
                .collect();
            RateLimiter {
                hits: Mutex::new(hits),
            }
        }

        pub(crate) fn hit(&self, limit: Limit, key: &str, now: Timestamp) -> bool {
            let (max, window) = limit.rate();
            let mut hits = self.hits.lock();
            if hits.len() > PRUNE_ABOVE {
                prune(&mut hits, now);
            }
            let entry = hits.entry((limit, key.to_owned())).or_default();
            expire(entry, now, window);
            if entry.len() >= max {
                return false;
            }
            entry.push_back(now);
            true
        }
    }

    fn expire(entry: &mut VecDeque<Timestamp>, now: Timestamp, window_secs: i64) {
        let cutoff = now.plus_secs(-window_secs);
        while entry.front().is_some_and(|t| *t <= cutoff) {
            entry.pop_front();
        }
    }

    fn prune(hits: &mut HashMap<(Limit, String), VecDeque<Timestamp>>, now: Timestamp) {
        hits.retain(|(limit, _), entry| {
            expire(entry, now, limit.rate().1);
            !entry.is_empty()
        });
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = hit_cost
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not and only smoke-tests.
    if std::env::args().any(|arg| arg == "--bench") {
        memory_summary();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
