//! The circuit breaker against the bare service and the peers, in the same run, one group per
//! path:
//!
//! - `breaker/closed-count/*`: closed, the default count window (admission, the inner call,
//!   recording its success);
//! - `breaker/closed-time/*`: closed, a time window of 60 s in 10 buckets (steadfast and
//!   tower-resilience, configured so; failsafe's default policy is its own 30 s time window; the
//!   others have no time window and run their default, for reference);
//! - `breaker/open/rejecting`: one rejected call, the inner service untouched;
//! - `breaker/contention/*`: the same paths in CPU time per call (`CLOCK_THREAD_CPUTIME_ID`,
//!   which other processes competing for the cores cannot inflate), on one thread and on two
//!   threads each calling its own clone of one shared service at the same time (the mean of
//!   both). CPU time does not count a thread parked on a lock: a peer that parks under
//!   contention (failsafe's mutex) loses throughput that its CPU figure does not show.
//!
//! Contenders: steadfast's layer holding an owned breaker and a `&'static` one, tower-resilience's
//! circuit breaker (0.14), and the peers that have no tower layer, each guarding the inner
//! service's future the way its API allows (an adapter service below does only that): recloser
//! (1.4, its future-aware `AsyncRecloser::call`), failsafe (1.3, its `futures` API, the default
//! policy and a consecutive-failures policy) and circuitbreaker-rs (0.1, whose `call` takes a
//! closure: its `async` feature is off, so the closure drives the inner future). Every breaker has
//! its default configuration, except the time windows above and the open group, which opens them
//! for an hour (the rejection path only compares the clock with the end of the open period,
//! whatever its length; failsafe's default opens for 5 to 10 s only, which a measurement would
//! outlive). steadfast rejects with its default error type, `BoxError` (one allocation: the boxed
//! `BreakerOpen`), and with an error type of the caller's (`CallError` below), as the peers do.
//!
//! Two inner services for the closed paths: an always-ready one (the floor), and one whose
//! response future is pending once (a breaker that reads the clock or allocates per call cannot
//! hide it behind an always-ready future). The request is a `u64`: a breaker never clones it.
//!
//! tower-resilience's two-thread open row runs inside `block_on` (see `rejecting_in_runtime`).
//! Reference rows: one clock read (exact and coarse), and steadfast's permit API without the
//! layer.
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
use steadfast::{BoxError, BreakerOpen, DefaultClassifier, Outcome};
use support::{
    Floor, Realistic, drive, on_one_thread_cpu, on_two_threads_cpu, one_call, one_thread,
    one_thread_cpu, two_threads_cpu,
};
use tower::{Layer, Service};
use tower_resilience_circuitbreaker as tr;

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

/// How long the open group keeps every breaker open: longer than the whole run.
const HOUR: Duration = Duration::from_secs(3600);
/// The time windows of the closed-time group.
const MINUTE: Duration = Duration::from_secs(60);

const BARE: &str = "bare service";
const STEADFAST_OWNED: &str = "steadfast, owned breaker";
const STEADFAST_STATIC: &str = "steadfast, &'static breaker";
const STEADFAST_TYPED: &str = "steadfast, &'static breaker, CallError";
const STEADFAST_FORCED: &str = "steadfast, owned breaker, forced open";
const TOWER_RESILIENCE: &str = "tower-resilience 0.14";
const RECLOSER: &str = "recloser 1.4";
const FAILSAFE_DEFAULT: &str = "failsafe 1.3, default policy";
const FAILSAFE_CONSECUTIVE: &str = "failsafe 1.3, consecutive failures";
const CIRCUITBREAKER_RS: &str = "circuitbreaker-rs 0.1";

// ---------------------------------------------------------------------------------------------
// Inner services

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

/// The inner services of the closed groups.
trait Inner:
    Service<u64, Response = u64, Error = BoxError, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl Inner for Floor {}
impl Inner for Realistic {}

/// A caller's own error type: what the peers return too (an enum, no allocation).
#[derive(Debug)]
enum CallError {
    Open(BreakerOpen),
    Inner(BoxError),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Open(e) => e.fmt(f),
            CallError::Inner(e) => e.fmt(f),
        }
    }
}

impl From<BreakerOpen> for CallError {
    fn from(e: BreakerOpen) -> Self {
        CallError::Open(e)
    }
}

impl From<BoxError> for CallError {
    fn from(e: BoxError) -> Self {
        CallError::Inner(e)
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
// Contenders, closed (default configuration, or a 60 s time window where the group says so)

fn leak(breaker: CircuitBreaker) -> &'static CircuitBreaker {
    Box::leak(Box::new(breaker))
}

fn time_window() -> CircuitBreaker {
    CircuitBreaker::builder()
        .time_window(MINUTE)
        .build()
        .unwrap()
}

fn tower_resilience<S>(inner: S) -> tr::CircuitBreaker<S, tr::DefaultClassifier> {
    tr::CircuitBreakerLayer::builder()
        .build()
        .unwrap()
        .layer(inner)
}

fn tower_resilience_time<S>(inner: S) -> tr::CircuitBreaker<S, tr::DefaultClassifier> {
    tr::CircuitBreakerLayer::builder()
        .sliding_window_type(tr::SlidingWindowType::TimeBased)
        .sliding_window_duration(MINUTE)
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

/// What is done with every contender of a path: measured on one thread, on two, or counted.
trait Visit {
    fn served<S>(&mut self, name: &str, svc: S)
    where
        S: Service<u64> + Clone + Send,
        S::Error: fmt::Debug;

    /// `in_runtime`: the contender needs a driven runtime on two threads (see
    /// `rejecting_in_runtime`).
    fn rejecting<S>(
        &mut self,
        name: &str,
        svc: S,
        rejected: fn(&S::Error) -> bool,
        in_runtime: bool,
    ) where
        S: Service<u64> + Clone + Send;
}

/// Every contender, closed, with its default count window, around `inner`.
fn closed_count<S: Inner>(v: &mut impl Visit, inner: S) {
    v.served(BARE, inner.clone());
    v.served(
        STEADFAST_OWNED,
        CircuitBreakerLayer::new(CircuitBreaker::default()).layer(inner.clone()),
    );
    v.served(
        STEADFAST_STATIC,
        CircuitBreakerLayer::new(leak(CircuitBreaker::default())).layer(inner.clone()),
    );
    v.served(TOWER_RESILIENCE, tower_resilience(inner.clone()));
    v.served(RECLOSER, recloser(inner.clone()));
    v.served(FAILSAFE_DEFAULT, failsafe_default(inner.clone()));
    v.served(FAILSAFE_CONSECUTIVE, failsafe_consecutive(inner.clone()));
    v.served(CIRCUITBREAKER_RS, circuitbreaker_rs(inner));
}

/// Every contender, closed, with a time window where it has one, around `inner`.
fn closed_time<S: Inner>(v: &mut impl Visit, inner: S) {
    v.served(BARE, inner.clone());
    v.served(
        STEADFAST_OWNED,
        CircuitBreakerLayer::new(time_window()).layer(inner.clone()),
    );
    v.served(
        STEADFAST_STATIC,
        CircuitBreakerLayer::new(leak(time_window())).layer(inner.clone()),
    );
    v.served(TOWER_RESILIENCE, tower_resilience_time(inner.clone()));
    v.served(
        &format!("{RECLOSER} (count window: it has no time window)"),
        recloser(inner.clone()),
    );
    v.served(
        &format!("{FAILSAFE_DEFAULT} (its 30 s time window)"),
        failsafe_default(inner.clone()),
    );
    v.served(
        &format!("{FAILSAFE_CONSECUTIVE} (no window)"),
        failsafe_consecutive(inner.clone()),
    );
    v.served(
        &format!("{CIRCUITBREAKER_RS} (counts: it has no time window)"),
        circuitbreaker_rs(inner),
    );
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
    CircuitBreakerLayer::new(leak(steadfast_tripped())).layer(Floor)
}

fn steadfast_typed_open()
-> CircuitBreakerService<Floor, &'static CircuitBreaker, DefaultClassifier, CallError> {
    CircuitBreakerLayer::new(leak(steadfast_tripped()))
        .error::<CallError>()
        .layer(Floor)
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

/// Every contender, open, rejecting (and, for reference, a served call of the bare service).
fn open(v: &mut impl Visit) {
    v.served(&format!("{BARE} (served)"), Floor);
    v.rejecting(
        STEADFAST_OWNED,
        steadfast_owned_open(),
        steadfast_rejected,
        false,
    );
    v.rejecting(
        STEADFAST_STATIC,
        steadfast_static_open(),
        steadfast_rejected,
        false,
    );
    v.rejecting(
        STEADFAST_TYPED,
        steadfast_typed_open(),
        |e: &CallError| matches!(e, CallError::Open(open) if open.retry_in.is_some()),
        false,
    );
    v.rejecting(
        STEADFAST_FORCED,
        steadfast_forced_open(),
        steadfast_rejected,
        false,
    );
    v.rejecting(
        TOWER_RESILIENCE,
        tower_resilience_open(),
        tower_resilience_rejected,
        true,
    );
    v.rejecting(RECLOSER, recloser_open(), recloser_rejected, false);
    v.rejecting(
        FAILSAFE_DEFAULT,
        failsafe_default_open(),
        failsafe_rejected,
        false,
    );
    v.rejecting(
        FAILSAFE_CONSECUTIVE,
        failsafe_consecutive_open(),
        failsafe_rejected,
        false,
    );
    v.rejecting(
        CIRCUITBREAKER_RS,
        circuitbreaker_rs_open(),
        circuitbreaker_rs_rejected,
        false,
    );
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

/// Measures every contender on one thread.
struct OneThread<'a, 'b> {
    g: &'a mut BenchmarkGroup<'b, WallTime>,
}

impl Visit for OneThread<'_, '_> {
    fn served<S>(&mut self, name: &str, svc: S)
    where
        S: Service<u64> + Clone + Send,
        S::Error: fmt::Debug,
    {
        one_thread(self.g, name, svc, || black_box(7u64));
    }

    fn rejecting<S>(&mut self, name: &str, mut svc: S, rejected: fn(&S::Error) -> bool, _: bool)
    where
        S: Service<u64> + Clone + Send,
    {
        // One thread: nothing contends, so `one_call` serves every contender.
        self.g
            .bench_function(name, |b| b.iter(|| reject_once(&mut svc, rejected)));
    }
}

/// Measures the CPU time per call of every contender on one thread, then on two threads each
/// calling its own clone; rows named `{path}/1 thread/{contender}` and `{path}/2 threads/...`.
struct Contention<'a, 'b> {
    g: &'a mut BenchmarkGroup<'b, WallTime>,
    path: &'static str,
}

impl Visit for Contention<'_, '_> {
    fn served<S>(&mut self, name: &str, svc: S)
    where
        S: Service<u64> + Clone + Send,
        S::Error: fmt::Debug,
    {
        let path = self.path;
        one_thread_cpu(
            self.g,
            &format!("{path}/1 thread/{name}"),
            svc.clone(),
            || black_box(7u64),
        );
        two_threads_cpu(self.g, &format!("{path}/2 threads/{name}"), svc, || {
            black_box(7u64)
        });
    }

    fn rejecting<S>(
        &mut self,
        name: &str,
        svc: S,
        rejected: fn(&S::Error) -> bool,
        in_runtime: bool,
    ) where
        S: Service<u64> + Clone + Send,
    {
        let path = self.path;
        let mut one = svc.clone();
        self.g
            .bench_function(format!("{path}/1 thread/{name}"), |b| {
                b.iter_custom(|iters| on_one_thread_cpu(iters, || reject_once(&mut one, rejected)))
            });
        let name = format!("{path}/2 threads/{name}");
        if in_runtime {
            rejecting_in_runtime(self.g, &name, svc, rejected);
            return;
        }
        let proto = Mutex::new(svc);
        self.g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                on_two_threads_cpu(iters, || {
                    let mut mine = proto.lock().unwrap().clone();
                    move || reject_once(&mut mine, rejected)
                })
            })
        });
    }
}

/// Counts the heap allocations per call of every contender, and prints them.
struct Allocations {
    path: &'static str,
    /// Subtracted from every row: the bare service's own.
    baseline: f64,
}

fn per_call<S: Service<u64>>(mut svc: S) -> f64 {
    support::allocations_per_call(10_000, || {
        let _ = one_call(&mut svc, 7);
    })
}

impl Visit for Allocations {
    fn served<S>(&mut self, name: &str, svc: S)
    where
        S: Service<u64> + Clone + Send,
        S::Error: fmt::Debug,
    {
        println!(
            "  {:<24} {:<68} {:>5}",
            self.path,
            name,
            per_call(svc) - self.baseline
        );
    }

    fn rejecting<S>(&mut self, name: &str, svc: S, _: fn(&S::Error) -> bool, _: bool)
    where
        S: Service<u64> + Clone + Send,
    {
        println!("  {:<24} {:<68} {:>5}", self.path, name, per_call(svc));
    }
}

fn report_allocations() {
    println!("allocations per call (the inner service's own subtracted):");
    let realistic = per_call(Realistic);
    closed_count(&mut allocations("closed-count/always-ready", 0.0), Floor);
    closed_count(
        &mut allocations("closed-count/realistic", realistic),
        Realistic,
    );
    closed_time(&mut allocations("closed-time/always-ready", 0.0), Floor);
    closed_time(
        &mut allocations("closed-time/realistic", realistic),
        Realistic,
    );
    open(&mut allocations("open", 0.0));
}

fn allocations(path: &'static str, baseline: f64) -> Allocations {
    Allocations { path, baseline }
}

// ---------------------------------------------------------------------------------------------
// Groups

/// The reference rows: clock reads, and steadfast's permit API without the layer.
fn reference(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker/reference");
    g.bench_function("std Instant::now", |b| b.iter(|| black_box(Instant::now())));
    g.bench_function("tokio Instant::now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    g.bench_function("coarsetime now (CLOCK_MONOTONIC_COARSE)", |b| {
        b.iter(|| black_box(coarsetime::Instant::now_without_cache_update()))
    });
    // The breakers warmed up first, as the groups' breakers are by their warm-up.
    for (name, breaker) in [
        ("permit API, count window", CircuitBreaker::default()),
        ("permit API, time window, `Instant` given", time_window()),
    ] {
        let t = Instant::now();
        for _ in 0..100 {
            breaker.try_acquire(t).unwrap().record(&Outcome::Success, t);
        }
        g.bench_function(format!("steadfast {name}"), |b| {
            b.iter(|| {
                black_box(&breaker)
                    .try_acquire(t)
                    .unwrap()
                    .record(black_box(&Outcome::Success), t)
            })
        });
    }
    let open = steadfast_tripped();
    let t = Instant::now();
    g.bench_function(
        "steadfast permit API, open, rejecting, `Instant` given",
        |b| b.iter(|| black_box(&open).try_acquire(black_box(t)).unwrap_err()),
    );
    g.finish();
}

/// The group `breaker/{name}`.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    c.benchmark_group(format!("breaker/{name}"))
}

fn main() {
    let rt = support::timer_runtime();
    let _guard = rt.enter();
    report_allocations();
    let mut c = support::criterion();
    reference(&mut c);
    // A group is finished when it is dropped, at the end of each statement.
    closed_count(
        &mut OneThread {
            g: &mut group(&mut c, "closed-count/always-ready"),
        },
        Floor,
    );
    closed_count(
        &mut OneThread {
            g: &mut group(&mut c, "closed-count/realistic"),
        },
        Realistic,
    );
    closed_time(
        &mut OneThread {
            g: &mut group(&mut c, "closed-time/always-ready"),
        },
        Floor,
    );
    closed_time(
        &mut OneThread {
            g: &mut group(&mut c, "closed-time/realistic"),
        },
        Realistic,
    );
    open(&mut OneThread {
        g: &mut group(&mut c, "open/rejecting"),
    });
    let mut g = group(&mut c, "contention/always-ready");
    closed_count(
        &mut Contention {
            g: &mut g,
            path: "closed-count",
        },
        Floor,
    );
    closed_time(
        &mut Contention {
            g: &mut g,
            path: "closed-time",
        },
        Floor,
    );
    open(&mut Contention {
        g: &mut g,
        path: "open",
    });
    drop(g);
    let mut g = group(&mut c, "contention/realistic");
    closed_count(
        &mut Contention {
            g: &mut g,
            path: "closed-count",
        },
        Realistic,
    );
    closed_time(
        &mut Contention {
            g: &mut g,
            path: "closed-time",
        },
        Realistic,
    );
    drop(g);
    c.final_summary();
}
