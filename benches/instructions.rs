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
//! Built as above, one program holds every case, split into 16 codegen units, and how the
//! compiler inlines the library's code into one case depends on the others and on that split
//! (adding a case moved another by 12 %). For counts to compare across builds, build one
//! program per case, with the cfg `instructions_case` set to `PATH/FORM` (the other cases are
//! then left out), and one codegen unit; `scripts/perf-tables.sh` does:
//!
//! ```sh
//! cargo rustc --profile bench --bench instructions -- \
//!   -C codegen-units=1 --cfg 'instructions_case="failover/owned"'
//! ```
//!
//! Paths: `breaker-closed` (the default count window), `breaker-open` (rejecting, the default
//! `BoxError`), `retry` (the happy path, default budget), `failover` (two regions, the primary
//! healthy), `failover-hop` (two regions, the primary failing every call behind a breaker that
//! never trips, so that every call fails once, hops and is answered by the secondary),
//! `failover-aa` (a tier of three healthy regions, spread by least load), `failover-tap` (two
//! healthy regions carrying an idle drill tap's hook), `failover-hook` and `failover-tap-hook`
//! (a hook that reads every event, alone and wrapped in an idle tap's). Forms: `owned` (a
//! handle, as the README's code holds it) or `static` (a `&'static` breaker or policy,
//! `Failover::into_static`).

#![cfg_attr(instructions_case, allow(dead_code, unused_imports))]

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

/// An always-ready region that answers every call at once, or fails every call at once.
#[derive(Clone, Copy)]
struct Region {
    failing: bool,
}

impl Service<u64> for Region {
    type Response = u64;
    type Error = steadfast::BoxError;
    type Future = std::future::Ready<Result<u64, steadfast::BoxError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), steadfast::BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, x: u64) -> Self::Future {
        std::future::ready(if black_box(self.failing) {
            Err("connection reset".into())
        } else {
            Ok(x)
        })
    }
}

/// Two regions, the primary failing every call; the breakers never trip.
fn failing_primary() -> Failover<Region> {
    Failover::builder()
        .endpoint("us-east-2", Region { failing: true })
        .endpoint("us-west-1", Region { failing: false })
        .breakers(|b| {
            b.consecutive_failures(None)
                .window(100_000)
                .minimum_calls(100_000)
        })
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

/// A tier of three always-ready regions, spread by least load.
fn three_active() -> Failover<Floor> {
    Failover::builder()
        .tier(|t| {
            t.endpoint("us-east-1", Floor)
                .endpoint("us-west-2", Floor)
                .endpoint("eu-west-1", Floor)
        })
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
    let usage = "usage: instructions \
                 breaker-closed|breaker-open|retry|failover|failover-hop|failover-aa|\
                 failover-tap|failover-hook|failover-tap-hook owned|static CALLS";
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
        #[cfg(any(not(instructions_case), instructions_case = "breaker-closed/owned"))]
        ("breaker-closed", true) => run(
            CircuitBreakerLayer::new(CircuitBreaker::default()).layer(Floor),
            calls,
            true,
        ),
        #[cfg(any(not(instructions_case), instructions_case = "breaker-closed/static"))]
        ("breaker-closed", false) => {
            let breaker: &'static CircuitBreaker = Box::leak(Box::default());
            run(CircuitBreakerLayer::new(breaker).layer(Floor), calls, true)
        }
        #[cfg(any(not(instructions_case), instructions_case = "breaker-open/owned"))]
        ("breaker-open", true) => run(
            CircuitBreakerLayer::new(open_breaker()).layer(Floor),
            calls,
            false,
        ),
        #[cfg(any(not(instructions_case), instructions_case = "breaker-open/static"))]
        ("breaker-open", false) => {
            let breaker: &'static CircuitBreaker = Box::leak(Box::new(open_breaker()));
            run(CircuitBreakerLayer::new(breaker).layer(Floor), calls, false)
        }
        #[cfg(any(not(instructions_case), instructions_case = "retry/owned"))]
        ("retry", true) => run(
            RetryLayer::new(RetryPolicy::default()).layer(Floor),
            calls,
            true,
        ),
        #[cfg(any(not(instructions_case), instructions_case = "retry/static"))]
        ("retry", false) => {
            let policy: &'static RetryPolicy = Box::leak(Box::default());
            run(RetryLayer::new(policy).layer(Floor), calls, true)
        }
        #[cfg(any(not(instructions_case), instructions_case = "failover/owned"))]
        ("failover", true) => run(two_regions(), calls, true),
        #[cfg(any(not(instructions_case), instructions_case = "failover/static"))]
        ("failover", false) => run(two_regions().into_static(), calls, true),
        #[cfg(any(not(instructions_case), instructions_case = "failover-hop/owned"))]
        ("failover-hop", true) => run(failing_primary(), calls, true),
        #[cfg(any(not(instructions_case), instructions_case = "failover-hop/static"))]
        ("failover-hop", false) => run(failing_primary().into_static(), calls, true),
        #[cfg(any(not(instructions_case), instructions_case = "failover-aa/owned"))]
        ("failover-aa", true) => run(three_active(), calls, true),
        #[cfg(any(not(instructions_case), instructions_case = "failover-aa/static"))]
        ("failover-aa", false) => run(three_active().into_static(), calls, true),
        #[cfg(any(not(instructions_case), instructions_case = "failover-tap/owned"))]
        ("failover-tap", true) => run(two_regions_with(Tap::new().hook(())), calls, true),
        #[cfg(any(not(instructions_case), instructions_case = "failover-tap/static"))]
        ("failover-tap", false) => run(
            two_regions_with(Tap::new().hook(())).into_static(),
            calls,
            true,
        ),
        #[cfg(any(not(instructions_case), instructions_case = "failover-hook/owned"))]
        ("failover-hook", true) => run(two_regions_with(read as Read), calls, true),
        #[cfg(any(not(instructions_case), instructions_case = "failover-hook/static"))]
        ("failover-hook", false) => run(two_regions_with(read as Read).into_static(), calls, true),
        #[cfg(any(not(instructions_case), instructions_case = "failover-tap-hook/owned"))]
        ("failover-tap-hook", true) => {
            run(two_regions_with(Tap::new().hook(read as Read)), calls, true)
        }
        #[cfg(any(not(instructions_case), instructions_case = "failover-tap-hook/static"))]
        ("failover-tap-hook", false) => run(
            two_regions_with(Tap::new().hook(read as Read)).into_static(),
            calls,
            true,
        ),
        _ => panic!("{usage}"),
    }
}
