//! A `#[global_allocator]` wrapper around [`System`] that counts live heap bytes and
//! allocations, but only between [`start`] and [`stop`].
//!
//! Counting is switched off by default so that the other benchmarks in the same binary pay one
//! relaxed load per allocation, not a contended atomic add. While counting is on, a free of a
//! block allocated before [`start`] is subtracted too, so measure regions that only grow what
//! they build (for example folding events into a fresh state).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_ALLOCS: AtomicIsize = AtomicIsize::new(0);

/// The allocator; install with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAlloc;

/// What was allocated and not freed while counting was on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requested bytes (the allocator's own per-block overhead is not included).
    pub bytes: isize,
    /// Number of blocks.
    pub allocs: isize,
}

/// Resets the counters to zero and starts counting (on every thread).
pub fn start() {
    LIVE_BYTES.store(0, Ordering::SeqCst);
    LIVE_ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
}

/// Stops counting and returns what is live since [`start`].
pub fn stop() -> Counts {
    COUNTING.store(false, Ordering::SeqCst);
    Counts {
        bytes: LIVE_BYTES.load(Ordering::SeqCst),
        allocs: LIVE_ALLOCS.load(Ordering::SeqCst),
    }
}

fn note(bytes: isize, allocs: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
        LIVE_ALLOCS.fetch_add(allocs, Ordering::Relaxed);
    }
}

fn signed(size: usize) -> isize {
    // Allocation sizes never exceed isize::MAX (a `Layout` invariant).
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; counting only reads sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size).
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note(signed(layout.size()), 1);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note(signed(layout.size()), 1);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        note(-signed(layout.size()), -1);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds the rest.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note(signed(new_size) - signed(layout.size()), 0);
        }
        new
    }
}
