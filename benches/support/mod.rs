//! Shared by the benchmarks: a counting allocator, and runners for one thread and two.
#![allow(dead_code, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts heap allocations while switched on; install it with `#[global_allocator]`.
pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Heap allocations per call of `f`, over `n` calls (counting is off outside this function, so
/// timing never pays for it).
pub fn allocations_per_call(n: u64, mut f: impl FnMut()) -> f64 {
    f(); // warm up: lazily initialised state is not a per-call cost
    ALLOCS.store(0, Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
    for _ in 0..n {
        f();
    }
    ON.store(false, Ordering::Relaxed);
    ALLOCS.load(Ordering::Relaxed) as f64 / n as f64
}

/// Runs `iters` calls of `f` on each of two OS threads, released together, and returns the
/// wall time. Criterion divides by `iters`, so the figure is the time one thread takes per call
/// while the other runs too: with both cores busy, that is the CPU time per call.
pub fn on_two_threads<F: FnMut()>(iters: u64, make: impl Fn() -> F + Sync) -> Duration {
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (barrier, make) = (&barrier, &make);
            s.spawn(move || {
                let mut f = make();
                barrier.wait();
                for _ in 0..iters {
                    f();
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}
