//! Engine benchmarks, each measured beside a baseline in the same run:
//!
//! 1. `durable_commands`: commands/s acknowledged as durable, with 1, 4 and 16 concurrent
//!    callers, on sled with `Durability::Fsync` and `Durability::Flush`; baselines are raw sled
//!    `insert` + `flush()` and `insert` + `flush()` + `fdatasync` per insert, single thread,
//!    and the store alone (`append` + `sync` per record, no writer thread).
//! 2. `startup`: `Engine::open_dir` on a snapshot of 1,000,000 live sessions plus a few
//!    thousand log records after it, with a one-off breakdown of where the time goes.
//! 3. `lookup`: `Engine::lookup(key)` on that engine, against a plain
//!    `HashMap<[u8; 32], u64>` lookup of the key's SHA-256 (SHA-256 included), over all keys
//!    in random order and over 1,024 cache-resident keys.
//! 4. `memory`: heap bytes per live session held by `State`, counted by the global allocator;
//!    printed, not timed.
//!
//! Run with `cargo bench --bench engine` (about four minutes). The benchmark machine is small
//! and shared, so every benchmark is short (10-20 samples, seconds of measurement); read the
//! figures as noisy by several percent at best. Lines that are not criterion's own (memory,
//! batch sizes, start-up stages) go to stderr.

#![expect(
    clippy::expect_used,
    reason = "a benchmark has nothing to do but stop when its setup fails"
)]

mod data;
mod durable;
mod memory;
mod startup;

use counting_alloc::CountingAlloc;
use criterion::{Criterion, criterion_group, criterion_main};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

criterion_group! {
    name = benches;
    // Plots cost seconds per benchmark and the text report carries the figures.
    config = Criterion::default().without_plots();
    targets = memory::memory, durable::durable_commands, startup::startup, startup::lookup,
        data::remove_dataset
}
criterion_main!(benches);
