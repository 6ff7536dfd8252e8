//! The fallback layer's success path against the bare service, in the same run: the layer with
//! a default answer (the request's part a `u64` copied from it), and the layer over a stale
//! cache, which stores every good response (a clone, a clock read and a lock on each success).
//! One failing group: every call answered by the fallback. tower-resilience's fallback layer is
//! not among the dev-dependencies, so it has no row.
//!
//! CPU time per call, on one thread and on two threads each holding a clone (the stale cache's
//! lock is then shared). Allocations per call are printed first.
//!
//! `cargo bench --bench fallback`
//!
//! Instructions per call (`valgrind --tool=callgrind`): with `STEADFAST_CALLGRIND=ROW:CALLS`
//! set, the binary makes `CALLS` calls of one row (`bare`, `default`, `stale`) and exits; the
//! difference of an 11 000-call and a 1 000-call run, over 10 000, is the figure:
//!
//! ```sh
//! cargo bench --bench fallback --no-run
//! bin=$(ls -t target/release/deps/fallback-* | grep -v '\.d$' | head -1)
//! for n in 1000 11000; do
//!   STEADFAST_CALLGRIND=default:$n valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n $bin
//! done
//! ```

mod support;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, measurement::WallTime};
use steadfast::fallback::{Failure, FallbackLayer, StaleCache, from_fn};
use steadfast::{BoxError, Outcome};
use support::{Floor, Realistic, both_cpu, one_call};
use tower::{Layer, Service};

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

const BARE: &str = "bare service";
const DEFAULT: &str = "steadfast Fallback, a default";
const STALE: &str = "steadfast Fallback, stale cache (u64 key and response)";

/// The layer with a default answer: the request's part is the request itself (a `u64`).
fn with_default<S>(
    inner: S,
) -> impl Service<u64, Response = u64, Error: std::fmt::Debug> + Clone + Send
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send,
    S::Future: Send,
{
    FallbackLayer::new(from_fn(
        |req: &u64| *req,
        |req: u64, _: Failure<u64, BoxError>| async move { Ok::<_, Infallible>(req) },
    ))
    .layer(inner)
}

/// The layer over a stale cache of 1 024 entries (every call stores under the same key).
fn with_stale<S>(
    inner: S,
) -> impl Service<u64, Response = u64, Error: std::fmt::Debug> + Clone + Send
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send,
    S::Future: Send,
{
    let cache = StaleCache::new(1024, Duration::from_secs(60)).unwrap();
    FallbackLayer::new(cache.fallback(|req: &u64| *req)).layer(inner)
}

/// Every call failing: the inner service answers `0`, which the classifier calls a failure,
/// and the default answers it.
fn failing() -> impl Service<u64, Response = u64, Error: std::fmt::Debug> + Clone + Send {
    FallbackLayer::new(from_fn(
        |req: &u64| *req,
        |req: u64, _: Failure<u64, BoxError>| async move { Ok::<_, Infallible>(req) },
    ))
    .classifier(|r: &Result<u64, BoxError>| match r {
        Ok(0) => Outcome::failed(),
        _ => Outcome::Success,
    })
    .layer(tower::service_fn(|_: u64| async { Ok::<u64, BoxError>(0) }))
}

fn group<S>(g: &mut BenchmarkGroup<'_, WallTime>, inner: S)
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    both_cpu(g, BARE, inner.clone(), || 7);
    both_cpu(g, DEFAULT, with_default(inner.clone()), || 7);
    both_cpu(g, STALE, with_stale(inner), || 7);
}

fn per_call<S: Service<u64>>(mut svc: S) -> f64 {
    support::allocations_per_call(10_000, || {
        let _ = black_box(one_call(&mut svc, 7));
    })
}

fn report_allocations() {
    println!("allocations per call (always-ready / realistic):");
    println!(
        "  {BARE:<56} {:>5} / {:>5}",
        per_call(Floor),
        per_call(Realistic)
    );
    println!(
        "  {DEFAULT:<56} {:>5} / {:>5}",
        per_call(with_default(Floor)),
        per_call(with_default(Realistic))
    );
    println!(
        "  {STALE:<56} {:>5} / {:>5}",
        per_call(with_stale(Floor)),
        per_call(with_stale(Realistic))
    );
    println!(
        "  {:<56} {:>5}",
        "every call answered by the default",
        per_call(failing())
    );
}

/// `STEADFAST_CALLGRIND=ROW:CALLS`: `CALLS` calls of one row, for callgrind.
fn callgrind(spec: &str) {
    let (row, calls) = spec.split_once(':').expect("ROW:CALLS");
    let calls: u64 = calls.parse().expect("CALLS");
    fn run<S: Service<u64>>(mut svc: S, calls: u64) {
        for _ in 0..calls {
            black_box(one_call(&mut svc, black_box(7)).is_ok());
        }
    }
    match row {
        "bare" => run(Floor, calls),
        "default" => run(with_default(Floor), calls),
        "stale" => run(with_stale(Floor), calls),
        "failing" => run(failing(), calls),
        _ => panic!("ROW is bare, default, stale or failing"),
    }
}

fn main() {
    let rt = support::timer_runtime();
    let _guard = rt.enter();
    if let Ok(spec) = std::env::var("STEADFAST_CALLGRIND") {
        return callgrind(&spec);
    }
    report_allocations();
    let mut c = support::criterion();
    let mut g = c.benchmark_group("fallback always-ready");
    group(&mut g, Floor);
    g.finish();
    let mut g = c.benchmark_group("fallback realistic");
    group(&mut g, Realistic);
    g.finish();
    let mut g = c.benchmark_group("fallback failing");
    support::one_thread_cpu(&mut g, "1 thread/bare service", Floor, || 7);
    support::one_thread_cpu(
        &mut g,
        "1 thread/every call answered by the default",
        failing(),
        || 7,
    );
    g.finish();
    c.final_summary();
}
