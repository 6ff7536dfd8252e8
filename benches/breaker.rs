//! The circuit breaker against the bare service and the peers, in the same run: the closed path
//! (admission, the inner call, recording its success) and the open path (one rejected call, the
//! inner service untouched).
//!
//! Contenders: steadfast's layer holding an owned breaker and a `&'static` one, tower-resilience's
//! circuit breaker (0.14), and the peers that have no tower layer, each guarding the inner
//! service's future the way its API allows (an adapter service below does only that): recloser
//! (1.4, its future-aware `AsyncRecloser::call`), failsafe (1.3, its `futures` API, the default
//! policy and a consecutive-failures policy) and circuitbreaker-rs (0.1, whose `call` takes a
//! closure: its `async` feature is off, so the closure drives the inner future). Every breaker has
//! its default configuration, except that the open group opens them for an hour (the rejection
//! path only compares the clock with the end of the open period, whatever its length; failsafe's
//! default opens for 5 to 10 s only, which a measurement would outlive).
//!
//! Two inner services for the closed path: an always-ready one (the floor), and one whose
//! response future is pending once (a breaker that reads the clock or allocates per call cannot
//! hide it behind an always-ready future). The request is a `u64`: a breaker never clones it.
//!
//! One thread, and two threads sharing one breaker (each thread its own clone of the service).
//! tower-resilience's two-thread open row runs inside `block_on` (see `rejecting_in_runtime`).
//! Reference rows: one clock read, and steadfast's permit API without the layer.
//!
//! `cargo bench --bench breaker`

mod support;

use std::fmt;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use circuitbreaker_rs::{BreakerError, DefaultPolicy};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use failsafe::FailurePolicy;
use failsafe::backoff;
use failsafe::failure_policy::{consecutive_failures, success_rate_over_time_window};
use steadfast::breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitBreakerService};
use steadfast::{BoxError, BreakerOpen, Outcome};
use support::{Floor, YieldOnce, both, drive, on_two_threads, one_call};
use tower::{Layer, Service};
use tower_resilience_circuitbreaker as tr;

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

/// How long the open group keeps every breaker open: longer than the whole run.
const HOUR: Duration = Duration::from_secs(3600);

const BARE: &str = "bare service";
const STEADFAST_OWNED: &str = "steadfast, owned breaker";
const STEADFAST_STATIC: &str = "steadfast, &'static breaker";
const STEADFAST_FORCED: &str = "steadfast, owned breaker, forced open";
const TOWER_RESILIENCE: &str = "tower-resilience 0.14";
const RECLOSER: &str = "recloser 1.4";
const FAILSAFE_DEFAULT: &str = "failsafe 1.3, default policy";
const FAILSAFE_CONSECUTIVE: &str = "failsafe 1.3, consecutive failures";
const CIRCUITBREAKER_RS: &str = "circuitbreaker-rs 0.1";

// ---------------------------------------------------------------------------------------------
// Inner services

/// The realistic inner service: answers after one pending poll.
#[derive(Clone, Copy)]
struct Realistic;

impl Service<u64> for Realistic {
    type Response = u64;
    type Error = BoxError;
    type Future = YieldOnce<Result<u64, BoxError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, x: u64) -> Self::Future {
        YieldOnce::new(Ok(x))
    }
}

/// A dependency that is down: every call fails. Used only to trip the breakers.
#[derive(Clone, Copy)]
struct Failing;

impl Service<u64> for Failing {
    type Response = u64;
    type Error = BoxError;
    type Future = Ready<Result<u64, BoxError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: u64) -> Self::Future {
        ready(Err("connection refused".into()))
    }
}

// ---------------------------------------------------------------------------------------------
// Adapters for the peers without a tower layer: readiness is the inner service's, and the call
// is the inner future guarded by the peer (admission, the inner call, then the outcome recorded).

/// recloser's future-aware API around each call.
#[derive(Clone)]
struct WithRecloser<S> {
    breaker: recloser::AsyncRecloser,
    inner: S,
}

impl<S: Service<u64>> Service<u64> for WithRecloser<S> {
    type Response = S::Response;
    type Error = recloser::Error<S::Error>;
    type Future = recloser::RecloserFuture<S::Future, recloser::AnyError>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(recloser::Error::Inner)
    }
    fn call(&mut self, x: u64) -> Self::Future {
        self.breaker.call(self.inner.call(x))
    }
}

/// failsafe's future-aware API around each call.
struct WithFailsafe<P, S> {
    breaker: failsafe::StateMachine<P, ()>,
    inner: S,
}

// By hand: the state machine is a shared handle, cloneable whatever its policy.
impl<P, S: Clone> Clone for WithFailsafe<P, S> {
    fn clone(&self) -> Self {
        WithFailsafe {
            breaker: self.breaker.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<P, S> Service<u64> for WithFailsafe<P, S>
where
    P: FailurePolicy + Send + Sync,
    S: Service<u64>,
{
    type Response = S::Response;
    type Error = failsafe::Error<S::Error>;
    type Future = failsafe::futures::ResponseFuture<S::Future, P, (), failsafe::Any>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
    }
    fn call(&mut self, x: u64) -> Self::Future {
        failsafe::futures::CircuitBreaker::call(&self.breaker, self.inner.call(x))
    }
}

/// circuitbreaker-rs wants an error type implementing `std::error::Error`, which `BoxError`
/// does not (it is unsized inside the box).
#[derive(Debug)]
struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("inner service failed")
    }
}

impl std::error::Error for Boom {}

type Cbrs = circuitbreaker_rs::CircuitBreaker<DefaultPolicy, Boom>;

/// circuitbreaker-rs's `call` around each call: its closure drives the inner future (its async
/// API needs the `async` feature, off here).
#[derive(Clone)]
struct WithCbrs<S> {
    breaker: Cbrs,
    inner: S,
}

impl<S: Service<u64>> Service<u64> for WithCbrs<S> {
    type Response = S::Response;
    type Error = BreakerError<Boom>;
    type Future = Ready<Result<S::Response, BreakerError<Boom>>>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|_| BreakerError::Operation(Boom))
    }
    fn call(&mut self, x: u64) -> Self::Future {
        let inner = &mut self.inner;
        ready(self.breaker.call(|| drive(inner.call(x)).map_err(|_| Boom)))
    }
}

// ---------------------------------------------------------------------------------------------
// Contenders, closed (default configuration)

fn bare<S>(inner: S) -> S {
    inner
}

fn steadfast_owned<S>(inner: S) -> CircuitBreakerService<S> {
    CircuitBreakerLayer::new(CircuitBreaker::default()).layer(inner)
}

fn steadfast_static<S>(inner: S) -> CircuitBreakerService<S, &'static CircuitBreaker> {
    let leaked: &'static CircuitBreaker = Box::leak(Box::new(CircuitBreaker::default()));
    CircuitBreakerLayer::new(leaked).layer(inner)
}

fn tower_resilience<S>(inner: S) -> tr::CircuitBreaker<S, tr::DefaultClassifier> {
    tr::CircuitBreakerLayer::builder()
        .build()
        .unwrap()
        .layer(inner)
}

fn recloser<S>(inner: S) -> WithRecloser<S> {
    WithRecloser {
        breaker: recloser::AsyncRecloser::from(recloser::Recloser::default()),
        inner,
    }
}

fn failsafe_default<S>(inner: S) -> WithFailsafe<impl FailurePolicy + Send + Sync, S> {
    WithFailsafe {
        breaker: failsafe::Config::new().build(),
        inner,
    }
}

fn failsafe_consecutive<S>(inner: S) -> WithFailsafe<impl FailurePolicy + Send + Sync, S> {
    // The values of failsafe's own `ConsecutiveFailures::default()`.
    let backoff = backoff::equal_jittered(Duration::from_secs(10), Duration::from_secs(300));
    WithFailsafe {
        breaker: failsafe::Config::new()
            .failure_policy(consecutive_failures(5, backoff))
            .build(),
        inner,
    }
}

fn circuitbreaker_rs<S>(inner: S) -> WithCbrs<S> {
    WithCbrs {
        breaker: Cbrs::builder().build(),
        inner,
    }
}

// ---------------------------------------------------------------------------------------------
// Contenders, open: tripped by failures through their own API (or forced open), then guarding
// the always-ready service, which a rejected call never reaches.

/// Calls the failing service until the breaker rejects a call.
fn trip<S: Service<u64>>(failing: &mut S, rejected: fn(&S::Error) -> bool) {
    for _ in 0..10_000 {
        if let Err(e) = one_call(failing, 7) {
            if rejected(&e) {
                return;
            }
        }
    }
    panic!("the breaker never opened");
}

fn steadfast_rejected(e: &BoxError) -> bool {
    e.is::<BreakerOpen>()
}

fn tower_resilience_rejected(e: &tr::CircuitBreakerError<BoxError>) -> bool {
    e.is_circuit_open()
}

fn recloser_rejected<E>(e: &recloser::Error<E>) -> bool {
    matches!(e, recloser::Error::Rejected)
}

fn failsafe_rejected<E>(e: &failsafe::Error<E>) -> bool {
    matches!(e, failsafe::Error::Rejected)
}

fn circuitbreaker_rs_rejected(e: &BreakerError<Boom>) -> bool {
    matches!(e, BreakerError::Open)
}

fn steadfast_tripped() -> CircuitBreaker {
    let breaker = CircuitBreaker::builder()
        .open_duration(HOUR)
        .build()
        .unwrap();
    trip(
        &mut CircuitBreakerLayer::new(breaker.clone()).layer(Failing),
        steadfast_rejected,
    );
    breaker
}

fn steadfast_owned_open() -> CircuitBreakerService<Floor> {
    CircuitBreakerLayer::new(steadfast_tripped()).layer(Floor)
}

fn steadfast_static_open() -> CircuitBreakerService<Floor, &'static CircuitBreaker> {
    let leaked: &'static CircuitBreaker = Box::leak(Box::new(steadfast_tripped()));
    CircuitBreakerLayer::new(leaked).layer(Floor)
}

fn steadfast_forced_open() -> CircuitBreakerService<Floor> {
    let breaker = CircuitBreaker::default();
    breaker.force_open();
    CircuitBreakerLayer::new(breaker).layer(Floor)
}

fn tower_resilience_open() -> tr::CircuitBreaker<Floor, tr::DefaultClassifier> {
    // With a handle, every service the layer builds shares one circuit.
    let (layer, _handle) = tr::CircuitBreakerLayer::builder()
        .wait_duration_in_open(HOUR)
        .build_with_handle()
        .unwrap();
    trip(&mut layer.layer(Failing), tower_resilience_rejected);
    layer.layer(Floor)
}

fn recloser_open() -> WithRecloser<Floor> {
    let breaker =
        recloser::AsyncRecloser::from(recloser::Recloser::custom().open_wait(HOUR).build());
    trip(
        &mut WithRecloser {
            breaker: breaker.clone(),
            inner: Failing,
        },
        recloser_rejected,
    );
    WithRecloser {
        breaker,
        inner: Floor,
    }
}

fn failsafe_open<P>(breaker: failsafe::StateMachine<P, ()>) -> WithFailsafe<P, Floor>
where
    P: FailurePolicy + Send + Sync,
{
    trip(
        &mut WithFailsafe {
            breaker: breaker.clone(),
            inner: Failing,
        },
        failsafe_rejected,
    );
    WithFailsafe {
        breaker,
        inner: Floor,
    }
}

fn failsafe_default_open() -> WithFailsafe<impl FailurePolicy + Send + Sync, Floor> {
    // failsafe's default policy (`Config::new()`), with a constant hour as its backoff.
    let policy =
        success_rate_over_time_window(0.8, 5, Duration::from_secs(30), backoff::constant(HOUR))
            .or_else(consecutive_failures(5, backoff::constant(HOUR)));
    failsafe_open(failsafe::Config::new().failure_policy(policy).build())
}

fn failsafe_consecutive_open() -> WithFailsafe<impl FailurePolicy + Send + Sync, Floor> {
    failsafe_open(
        failsafe::Config::new()
            .failure_policy(consecutive_failures(5, backoff::constant(HOUR)))
            .build(),
    )
}

fn circuitbreaker_rs_open() -> WithCbrs<Floor> {
    let breaker = Cbrs::builder().cooldown(HOUR).build();
    trip(
        &mut WithCbrs {
            breaker: breaker.clone(),
            inner: Failing,
        },
        circuitbreaker_rs_rejected,
    );
    WithCbrs {
        breaker,
        inner: Floor,
    }
}

// ---------------------------------------------------------------------------------------------
// Runners

/// One call that the open breaker must reject; the error is dropped, as a caller would.
#[inline]
fn reject_once<S: Service<u64>>(svc: &mut S, rejected: fn(&S::Error) -> bool) {
    match one_call(svc, black_box(7)) {
        Err(e) if rejected(&e) => drop(black_box(e)),
        _ => panic!("the open breaker admitted a call"),
    }
}

/// Benchmarks one rejected call through `svc`, on one thread and on two.
fn rejecting<S>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    svc: S,
    rejected: fn(&S::Error) -> bool,
) where
    S: Service<u64> + Clone + Send,
{
    let mut one = svc.clone();
    g.bench_function(format!("1 thread/{name}"), |b| {
        b.iter(|| reject_once(&mut one, rejected))
    });
    let proto = Mutex::new(svc);
    g.bench_function(format!("2 threads/{name}"), |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, || {
                let mut mine = proto.lock().unwrap().clone();
                move || reject_once(&mut mine, rejected)
            })
        })
    });
}

/// Like `support::on_two_threads`, but each thread makes its calls inside its runtime's
/// `block_on`, awaiting readiness and the response. For tower-resilience while open: when its
/// circuit's lock is taken (by the other thread), its `poll_ready` returns `Pending` on a 1 ms
/// tokio sleep, which only a driven runtime ever fires (the no-op waker of `one_call` would
/// spin forever).
fn rejecting_in_runtime<S>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    svc: S,
    rejected: fn(&S::Error) -> bool,
) where
    S: Service<u64> + Clone + Send,
{
    let proto = Mutex::new(svc);
    g.bench_function(format!("2 threads/{name} (in block_on)"), |b| {
        b.iter_custom(|iters| {
            let barrier = Barrier::new(3);
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let (barrier, proto) = (&barrier, &proto);
                    s.spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_time()
                            .build()
                            .unwrap();
                        let mut mine = proto.lock().unwrap().clone();
                        barrier.wait();
                        rt.block_on(async {
                            for _ in 0..iters {
                                let called = async {
                                    std::future::poll_fn(|cx| mine.poll_ready(cx)).await?;
                                    mine.call(black_box(7)).await
                                };
                                match called.await {
                                    Err(e) if rejected(&e) => drop(black_box(e)),
                                    _ => panic!("the open breaker admitted a call"),
                                }
                            }
                        });
                        barrier.wait();
                    });
                }
                barrier.wait();
                let start = Instant::now();
                barrier.wait();
                start.elapsed()
            })
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Groups

/// Every contender, closed, around `inner`.
fn closed<S>(c: &mut Criterion, group: &str, inner: S)
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let mut g = c.benchmark_group(group);
    both(&mut g, BARE, bare(inner.clone()), || black_box(7u64));
    both(
        &mut g,
        STEADFAST_OWNED,
        steadfast_owned(inner.clone()),
        || black_box(7u64),
    );
    both(
        &mut g,
        STEADFAST_STATIC,
        steadfast_static(inner.clone()),
        || black_box(7u64),
    );
    both(
        &mut g,
        TOWER_RESILIENCE,
        tower_resilience(inner.clone()),
        || black_box(7u64),
    );
    both(&mut g, RECLOSER, recloser(inner.clone()), || {
        black_box(7u64)
    });
    both(
        &mut g,
        FAILSAFE_DEFAULT,
        failsafe_default(inner.clone()),
        || black_box(7u64),
    );
    both(
        &mut g,
        FAILSAFE_CONSECUTIVE,
        failsafe_consecutive(inner.clone()),
        || black_box(7u64),
    );
    both(&mut g, CIRCUITBREAKER_RS, circuitbreaker_rs(inner), || {
        black_box(7u64)
    });
    g.finish();
}

/// Every contender, open, rejecting.
fn open(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker/open/rejecting");
    // For reference: a served call of the bare service.
    both(&mut g, BARE, Floor, || black_box(7u64));
    rejecting(
        &mut g,
        STEADFAST_OWNED,
        steadfast_owned_open(),
        steadfast_rejected,
    );
    rejecting(
        &mut g,
        STEADFAST_STATIC,
        steadfast_static_open(),
        steadfast_rejected,
    );
    rejecting(
        &mut g,
        STEADFAST_FORCED,
        steadfast_forced_open(),
        steadfast_rejected,
    );
    // One thread: its lock is never contended, so `one_call` serves, as for the others.
    let tower_resilience = tower_resilience_open();
    let mut one = tower_resilience.clone();
    g.bench_function(format!("1 thread/{TOWER_RESILIENCE}"), |b| {
        b.iter(|| reject_once(&mut one, tower_resilience_rejected))
    });
    rejecting_in_runtime(
        &mut g,
        TOWER_RESILIENCE,
        tower_resilience,
        tower_resilience_rejected,
    );
    rejecting(&mut g, RECLOSER, recloser_open(), recloser_rejected);
    rejecting(
        &mut g,
        FAILSAFE_DEFAULT,
        failsafe_default_open(),
        failsafe_rejected,
    );
    rejecting(
        &mut g,
        FAILSAFE_CONSECUTIVE,
        failsafe_consecutive_open(),
        failsafe_rejected,
    );
    rejecting(
        &mut g,
        CIRCUITBREAKER_RS,
        circuitbreaker_rs_open(),
        circuitbreaker_rs_rejected,
    );
    g.finish();
}

fn report_allocations() {
    fn per_call<S: Service<u64> + Clone>(svc: &S) -> f64 {
        let mut s = svc.clone();
        support::allocations_per_call(10_000, || {
            let _ = one_call(&mut s, 7);
        })
    }
    let bare_realistic = per_call(&Realistic);
    println!(
        "allocations per call (closed, always-ready / closed, realistic, less the bare service's / open, one rejected call):"
    );
    macro_rules! row {
        ($name:expr, $closed:ident, $open:expr) => {
            println!(
                "  {:<40} {:>5} / {:>5} / {:>5}",
                $name,
                per_call(&$closed(Floor)),
                per_call(&$closed(Realistic)) - bare_realistic,
                per_call(&$open),
            );
        };
    }
    row!(BARE, bare, Floor);
    row!(STEADFAST_OWNED, steadfast_owned, steadfast_owned_open());
    row!(STEADFAST_STATIC, steadfast_static, steadfast_static_open());
    println!(
        "  {:<40} {:>5} / {:>5} / {:>5}",
        STEADFAST_FORCED,
        "",
        "",
        per_call(&steadfast_forced_open())
    );
    row!(TOWER_RESILIENCE, tower_resilience, tower_resilience_open());
    row!(RECLOSER, recloser, recloser_open());
    row!(FAILSAFE_DEFAULT, failsafe_default, failsafe_default_open());
    row!(
        FAILSAFE_CONSECUTIVE,
        failsafe_consecutive,
        failsafe_consecutive_open()
    );
    row!(
        CIRCUITBREAKER_RS,
        circuitbreaker_rs,
        circuitbreaker_rs_open()
    );
}

fn main() {
    let rt = support::timer_runtime();
    let _guard = rt.enter();
    report_allocations();
    let mut c = support::criterion();
    // The price of one clock read: the open paths read it (steadfast through tokio's).
    c.bench_function("reference/std Instant::now", |b| {
        b.iter(|| black_box(Instant::now()))
    });
    c.bench_function("reference/tokio Instant::now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    // steadfast's core without the layer: what the closed path costs before any service
    // plumbing (the breaker warmed up first, as the groups' breakers are by their warm-up).
    let core = CircuitBreaker::default();
    for _ in 0..100 {
        core.try_acquire(Instant::now)
            .unwrap()
            .record(&Outcome::Success, Instant::now);
    }
    c.bench_function("reference/steadfast try_acquire + record (no layer)", |b| {
        b.iter(|| {
            black_box(&core)
                .try_acquire(Instant::now)
                .unwrap()
                .record(black_box(&Outcome::Success), Instant::now)
        })
    });
    closed(&mut c, "breaker/closed/always-ready", Floor);
    closed(&mut c, "breaker/closed/realistic", Realistic);
    open(&mut c);
    c.final_summary();
}
