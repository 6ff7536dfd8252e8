//! A loop of calls for `valgrind --tool=callgrind`, which counts instructions: the noise-free
//! measure of a hot path on a shared machine. No criterion: `cargo bench --bench instructions
//! --no-run` builds it, and each run makes `CALLS` calls (`poll_ready`, `call`, the response
//! future polled to completion with a no-op waker) of one path through one contender over an
//! always-ready service:
//!
//! ```sh
//! bin=$(ls -t target/release/deps/instructions-* | grep -v '\.d$' | head -1)
//! for n in 1000 11000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n $bin breaker-closed owned $n
//! done
//! ```
//!
//! Instructions per call are the difference of the two totals (`callgrind_annotate` prints
//! them as `PROGRAM TOTALS`) divided by 10 000: setting up and tearing down cancel out.
//!
//! Paths: `breaker-closed` (the default count window), `breaker-open` (rejecting, the default
//! `BoxError`), `retry` (the happy path, default budget), `failover` (two regions, the primary
//! healthy), `failover-tap` (the same, carrying an idle drill tap's hook), `failover-hook` and
//! `failover-tap-hook` (a hook that reads every event, alone and wrapped in an idle tap's).
//! Forms: `owned` (a handle, as the README's code holds it) or `static` (a
//! `&'static` breaker or policy, `Failover::into_static`).

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use steadfast::breaker::CircuitBreaker;
use steadfast::drill::Tap;
use steadfast::event::Event;
use steadfast::replay::CloneReplay;
use steadfast::retry::RetryPolicy;
use steadfast::{CircuitBreakerLayer, DefaultClassifier, Failover, RetryLayer};
use support::{Floor, one_call};
use tower::{Layer, Service};

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

/// Makes `calls` calls of `svc`; `ok` says whether a call is expected to succeed.
fn run<S>(mut svc: S, calls: u64, ok: bool)
where
    S: Service<u64>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..calls {
        let result = one_call(&mut svc, black_box(7));
        assert_eq!(result.is_ok(), ok, "{:?}", result.as_ref().err());
        black_box(result.ok());
    }
}

fn open_breaker() -> CircuitBreaker {
    let breaker = CircuitBreaker::builder()
        .open_duration(Duration::from_secs(3600))
        .build()
        .unwrap();
    breaker.open(Instant::now());
    breaker
}

fn two_regions() -> Failover<Floor> {
    Failover::builder()
        .endpoint("us-east-2", Floor)
        .endpoint("us-west-1", Floor)
        .build()
        .unwrap()
}

/// Two regions whose failover carries `hook`.
fn two_regions_with<H>(hook: H) -> Failover<Floor, DefaultClassifier, CloneReplay, H> {
    Failover::builder()
        .endpoint("us-east-2", Floor)
        .endpoint("us-west-1", Floor)
        .on_event(hook)
        .build()
        .unwrap()
}

/// A hook that reads every event, as a metrics hook does.
fn read(event: &Event<'_>) {
    black_box(event);
}

/// Which hook a failover carries.
type Read = fn(&Event<'_>);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: instructions breaker-closed|breaker-open|retry|failover|failover-tap owned|static CALLS";
    let [path, form, calls] = &args[..] else {
        panic!("{usage}")
    };
    let calls: u64 = calls.parse().expect(usage);
    let owned = match form.as_str() {
        "owned" => true,
        "static" => false,
        _ => panic!("{usage}"),
    };
    match (path.as_str(), owned) {
        ("breaker-closed", true) => run(
            CircuitBreakerLayer::new(CircuitBreaker::default()).layer(Floor),
            calls,
            true,
        ),
        ("breaker-closed", false) => {
            let breaker: &'static CircuitBreaker = Box::leak(Box::default());
            run(CircuitBreakerLayer::new(breaker).layer(Floor), calls, true)
        }
        ("breaker-open", true) => run(
            CircuitBreakerLayer::new(open_breaker()).layer(Floor),
            calls,
            false,
        ),
        ("breaker-open", false) => {
            let breaker: &'static CircuitBreaker = Box::leak(Box::new(open_breaker()));
            run(CircuitBreakerLayer::new(breaker).layer(Floor), calls, false)
        }
        ("retry", true) => run(
            RetryLayer::new(RetryPolicy::default()).layer(Floor),
            calls,
            true,
        ),
        ("retry", false) => {
            let policy: &'static RetryPolicy = Box::leak(Box::default());
            run(RetryLayer::new(policy).layer(Floor), calls, true)
        }
        ("failover", true) => run(two_regions(), calls, true),
        ("failover", false) => run(two_regions().into_static(), calls, true),
        ("failover-tap", true) => run(two_regions_with(Tap::new().hook(())), calls, true),
        ("failover-tap", false) => run(
            two_regions_with(Tap::new().hook(())).into_static(),
            calls,
            true,
        ),
        ("failover-hook", true) => run(two_regions_with(read as Read), calls, true),
        ("failover-hook", false) => run(two_regions_with(read as Read).into_static(), calls, true),
        ("failover-tap-hook", true) => {
            run(two_regions_with(Tap::new().hook(read as Read)), calls, true)
        }
        ("failover-tap-hook", false) => run(
            two_regions_with(Tap::new().hook(read as Read)).into_static(),
            calls,
            true,
        ),
        _ => panic!("{usage}"),
    }
}
