//! The hook allocates nothing per event: calls through a healthy primary (which allocate
//! nothing without a hook) allocate nothing with the metrics hook either. Allocations are
//! counted on the test's own thread only, so other tests running at once do not count.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use metrics_util::debugging::DebuggingRecorder;
use steadfast::BoxError;
use steadfast::failover::Failover;
use steadfast::integrations::metrics::MetricsEvents;
use tower::{Service, service_fn};

struct ThreadCounting;

thread_local! {
    /// `Some(n)`: counting on this thread, `n` allocations so far.
    static ALLOCATIONS: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts, in a
// const-initialised thread-local that needs no allocation and no destructor.
unsafe impl GlobalAlloc for ThreadCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get().map(|n| n + 1)));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: ThreadCounting = ThreadCounting;

/// Allocations on this thread while `f` runs.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(Some(0)));
    f();
    ALLOCATIONS.with(|n| n.replace(None)).unwrap_or(0)
}

/// Polls `fut` to completion with a no-op waker (the services here are ready at once).
fn drive<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// 1 000 calls through a healthy primary with the hook (durations on or off); returns the
/// allocations they made and the successful attempts the hook counted at east.
fn thousand_calls(durations: bool) -> (u64, Vec<metrics_util::debugging::DebugValue>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let hook = metrics::with_local_recorder(&recorder, || {
        MetricsEvents::builder("orders")
            .endpoints(["east", "west"])
            .durations(durations)
            .build()
    });
    let region = service_fn(|x: u32| async move { Ok::<_, BoxError>(x) });
    let mut failover = Failover::builder()
        .endpoint("east", region)
        .endpoint("west", region)
        .on_event(hook)
        .build()
        .unwrap()
        .into_static();
    let mut call = |x| drive(failover.call(x)).unwrap();
    call(0); // warm up
    // The counter counts.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8]))), 1);
    let made = allocations(|| (1..=1_000).for_each(|x| assert_eq!(call(x), x)));
    let attempts = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            key.key().name() == "steadfast.attempts"
                && key.key().labels().any(|l| l.value() == "east")
                && key.key().labels().any(|l| l.value() == "success")
        })
        .map(|(.., value)| value)
        .collect::<Vec<_>>();
    (made, attempts)
}

#[test]
fn calls_through_a_healthy_primary_allocate_nothing_with_the_hook() {
    let (made, attempts) = thousand_calls(false);
    assert_eq!(made, 0);
    // And the hook did record them: 1 001 successful attempts at east.
    assert_eq!(
        attempts,
        [metrics_util::debugging::DebugValue::Counter(1_001)]
    );
}

#[test]
fn with_durations_only_the_recorders_sample_storage_allocates() {
    let (made, attempts) = thousand_calls(true);
    // The hook allocates nothing; the debugging recorder keeps every histogram sample in a
    // growing list (two histograms here: attempt and call), which reallocates as it doubles.
    assert!(made < 64, "{made} allocations for 1 000 calls");
    assert_eq!(
        attempts,
        [metrics_util::debugging::DebugValue::Counter(1_001)]
    );
}
