//! The chaos layer against the bare service and tower-resilience's chaos layer (0.14), in the
//! same run.
//!
//! - **Disabled**, the state a production stack keeps it in: the target is under 2 ns added per
//!   call, and no allocation.
//! - **Enabled, nothing firing**: a script with no fault (the call numbered and decided), and a
//!   script whose only window has not begun (the same, plus one clock read).
//! - **Enabled, every call failed**: with a failing response made by a closure, and with the
//!   default `InjectedFault` error boxed into the service's `BoxError`.
//!
//! tower-resilience has no off switch: its rows are configured so that nothing fires (error and
//! latency rates 0) or so that every call fails (error rate 1), which is as close as it gets.
//!
//! Three inner services: always ready (the floor), one whose response future is pending once,
//! and an opaque one (its `poll_ready` and `call` are not inlined), which the compiler cannot
//! fold away: with the first two, the bare call compiles to almost nothing, so any layer whose
//! future is an enum is charged for the moves and drop glue that folding no longer removes; the
//! opaque rows show what the layer adds to a call that really happens. One thread, and two
//! threads sharing one handle (each thread its own clone of the service).
//!
//! `cargo bench --bench chaos`

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, measurement::WallTime};
use steadfast::BoxError;
use steadfast::chaos::{ChaosHandle, ChaosLayer, Script};
use support::{Floor, Realistic, both, one_call};
use tower::{Layer, Service};
use tower_resilience_chaos as tr;

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

const BARE: &str = "bare service";
const DISABLED: &str = "steadfast, disabled";
const NOTHING: &str = "steadfast, enabled, no fault in the script";
const WINDOW: &str = "steadfast, enabled, window not begun";
const TR_NOTHING: &str = "tower-resilience 0.14, rates 0";
const FAIL_RESPONSE: &str = "steadfast, every call fails (a response)";
const FAIL_BOXED: &str = "steadfast, every call fails (InjectedFault, boxed)";
const TR_FAIL: &str = "tower-resilience 0.14, every call fails";

/// The inner service the compiler cannot see through: its result is really moved.
#[derive(Clone, Copy)]
struct Opaque;

impl Service<u64> for Opaque {
    type Response = u64;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u64, BoxError>>;
    #[inline(never)]
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        black_box(std::task::Poll::Ready(Ok(())))
    }
    #[inline(never)]
    fn call(&mut self, x: u64) -> Self::Future {
        std::future::ready(Ok(black_box(x)))
    }
}

/// A unit error, so that boxing it allocates nothing: tower-resilience's injected error.
#[derive(Debug)]
struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unavailable")
    }
}

impl std::error::Error for Unavailable {}

fn seeded() -> steadfast::chaos::ScriptBuilder {
    Script::builder().seed(1)
}

fn disabled<S>(inner: S) -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send,
{
    ChaosLayer::new(ChaosHandle::disabled()).layer(inner)
}

fn nothing<S>(inner: S) -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send,
{
    ChaosLayer::new(ChaosHandle::new(seeded().build().unwrap())).layer(inner)
}

fn window<S>(inner: S) -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send,
{
    let hour = Duration::from_secs(3600);
    let script = seeded().outage(hour..hour * 2).build().unwrap();
    ChaosLayer::new(ChaosHandle::new(script)).layer(inner)
}

fn tr_nothing<S>(inner: S) -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    tr::ChaosLayer::builder()
        .error_rate(0.0)
        .error_fn(|_: &u64| -> BoxError { Box::new(Unavailable) })
        .latency_rate(0.0)
        .seed(1)
        .build()
        .layer(inner)
}

fn fail_response() -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send {
    ChaosLayer::new(ChaosHandle::new(seeded().error_rate(1.0).build().unwrap()))
        .fault(|_| Ok(503))
        .layer(Floor)
}

fn fail_boxed() -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send {
    ChaosLayer::new(ChaosHandle::new(seeded().error_rate(1.0).build().unwrap())).layer(Floor)
}

fn tr_fail() -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send {
    tr::ChaosLayer::builder()
        .error_rate(1.0)
        .error_fn(|_: &u64| -> BoxError { Box::new(Unavailable) })
        .seed(1)
        .build()
        .layer(Floor)
}

fn group<S>(g: &mut BenchmarkGroup<'_, WallTime>, inner: S)
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    both(g, BARE, inner.clone(), || 7);
    both(g, DISABLED, disabled(inner.clone()), || 7);
    both(g, NOTHING, nothing(inner.clone()), || 7);
    both(g, WINDOW, window(inner.clone()), || 7);
    both(g, TR_NOTHING, tr_nothing(inner), || 7);
}

/// One failing call per iteration (the error, if any, dropped).
fn failing<S: Service<u64>>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, mut svc: S) {
    g.bench_function(name, |b| {
        b.iter(|| {
            let _ = black_box(one_call(&mut svc, 7));
        })
    });
}

fn report_allocations() {
    fn per_call<S: Service<u64>>(mut svc: S) -> f64 {
        support::allocations_per_call(10_000, || {
            let _ = black_box(one_call(&mut svc, 7));
        })
    }
    fn bare<S>(s: S) -> S {
        s
    }
    println!("allocations per call (always-ready / realistic / opaque):");
    macro_rules! row {
        ($name:expr, $wrap:ident) => {
            println!(
                "  {:<52} {:>5} / {:>5} / {:>5}",
                $name,
                per_call($wrap(Floor)),
                per_call($wrap(Realistic)),
                per_call($wrap(Opaque))
            )
        };
    }
    row!(BARE, bare);
    row!(DISABLED, disabled);
    row!(NOTHING, nothing);
    row!(WINDOW, window);
    row!(TR_NOTHING, tr_nothing);
    for (name, n) in [
        (FAIL_RESPONSE, per_call(fail_response())),
        (FAIL_BOXED, per_call(fail_boxed())),
        (TR_FAIL, per_call(tr_fail())),
    ] {
        println!("  {name:<52} {n:>5}");
    }
}

fn main() {
    let rt = support::timer_runtime();
    let _guard = rt.enter();
    report_allocations();
    let mut c = support::criterion();
    c.bench_function("reference/tokio Instant::now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    let mut g = c.benchmark_group("chaos always-ready");
    group(&mut g, Floor);
    g.finish();
    let mut g = c.benchmark_group("chaos realistic");
    group(&mut g, Realistic);
    g.finish();
    let mut g = c.benchmark_group("chaos opaque");
    group(&mut g, Opaque);
    g.finish();
    let mut g = c.benchmark_group("chaos failing");
    failing(&mut g, BARE, Floor);
    failing(&mut g, FAIL_RESPONSE, fail_response());
    failing(&mut g, FAIL_BOXED, fail_boxed());
    failing(&mut g, TR_FAIL, tr_fail());
    g.finish();
    c.final_summary();
}
