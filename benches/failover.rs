//! The failover's hot path — two regions, the primary healthy — against the bare service and
//! the peers' whole stacks, in the same run: steadfast's `Failover` (owned, and leaked with
//! `into_static`; with a deadline and an attempt timeout), tower's `Timeout` alone (the price
//! of a timer), steadfast's single-endpoint stack (`Retry` over `CircuitBreaker`), and
//! tower-resilience's retry composed over its circuit breaker (0.14). Two inner services (an
//! always-ready one, and a realistic HTTP-like one), one thread and two threads, in CPU time per
//! call (robust to other processes loading the machine).
//!
//! The group `failover/active-active` measures a tier of three regions, all healthy, each
//! spread (least loaded by default, round robin), against the bare service and tower's p2c
//! `Balance` over the same three services (its load the pending requests, as steadfast's).
//!
//! `cargo bench --bench failover`
//! The `hedge` groups show what hedging costs a healthy call that needs no hedge: the same
//! failover (`into_static`, with an attempt timeout) without hedging, with a fixed-delay hedge
//! and with a percentile hedge, beside the bare service.
//!
//! `cargo bench --bench failover` (`-- hedge` for those groups alone)

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use steadfast::breaker::CircuitBreaker;
use steadfast::failover::Hedge;
use steadfast::retry::RetryPolicy;
use steadfast::{BoxError, CircuitBreakerLayer, Failover, RetryLayer};
use support::{Floor, Realistic, both_cpu as both, http_req, one_call};
use tower::{Layer, Service};
use tower_resilience_circuitbreaker as tr;

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

fn two_regions<S: Clone>(inner: S) -> Failover<S> {
    Failover::builder()
        .endpoint("us-east-2", inner.clone())
        .endpoint("us-west-1", inner)
        .build()
        .unwrap()
}

fn two_regions_with_limits<S: Clone>(inner: S) -> Failover<S> {
    Failover::builder()
        .endpoint("us-east-2", inner.clone())
        .endpoint("us-west-1", inner)
        .deadline(Duration::from_secs(5))
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
        .into_static()
}

/// Two regions with an attempt timeout, `into_static`, hedged by `hedge` if given.
fn two_regions_hedged<S: Clone>(inner: S, hedge: Option<Hedge>) -> Failover<S> {
    let b = Failover::builder()
        .endpoint("us-east-2", inner.clone())
        .endpoint("us-west-1", inner)
        .attempt_timeout(Duration::from_secs(1));
    match hedge {
        Some(hedge) => b.hedge(hedge),
        None => b,
    }
    .build()
    .unwrap()
    .into_static()
}

fn fixed_hedge() -> Option<Hedge> {
    Some(Hedge::after(Duration::from_millis(50)))
}

fn percentile_hedge() -> Option<Hedge> {
    Some(Hedge::percentile(0.95).floor(Duration::from_millis(50)))
}

/// Hedging on and off on the healthy path, beside the bare service.
fn hedging<S, R>(c: &mut Criterion, group: &str, inner: S, req: impl Fn() -> R + Sync + Copy)
where
    S: Service<R, Error = BoxError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    R: Clone + Send + 'static,
{
    let mut g = c.benchmark_group(group);
    both(&mut g, "bare service", inner.clone(), req);
    for (name, hedge) in [
        ("Failover + attempt timeout, no hedging", None),
        (
            "Failover + attempt timeout, Hedge::after(50ms)",
            fixed_hedge(),
        ),
        (
            "Failover + attempt timeout, Hedge::percentile(0.95)",
            percentile_hedge(),
        ),
    ] {
        both(&mut g, name, two_regions_hedged(inner.clone(), hedge), req);
    }
    g.finish();
}

/// steadfast's single-endpoint stack: `Retry` over `CircuitBreaker`, both `&'static`.
fn steadfast_stack<S>(
    inner: S,
) -> steadfast::Retry<
    steadfast::breaker::CircuitBreakerService<S, &'static CircuitBreaker>,
    &'static RetryPolicy,
> {
    let policy: &'static RetryPolicy = Box::leak(Box::new(RetryPolicy::default()));
    let breaker: &'static CircuitBreaker = Box::leak(Box::new(CircuitBreaker::default()));
    RetryLayer::new(policy).layer(CircuitBreakerLayer::new(breaker).layer(inner))
}

/// tower-resilience's retry layer over its circuit breaker, with every default.
type TrRetry<R, S> = tower_resilience_retry::RetryLayer<
    R,
    <S as Service<R>>::Response,
    tr::CircuitBreakerError<BoxError>,
>;
type TrStack<R, S> =
    <TrRetry<R, S> as Layer<tr::CircuitBreaker<S, tr::DefaultClassifier>>>::Service;

fn tower_resilience_stack<S, R>(inner: S) -> TrStack<R, S>
where
    S: Service<R, Error = BoxError>,
{
    let breaker = tr::CircuitBreakerLayer::builder()
        .build()
        .unwrap()
        .layer(inner);
    TrRetry::<R, S>::builder().build().layer(breaker)
}

/// Every contender around `inner`, in one group.
fn contenders<S, R>(c: &mut Criterion, group: &str, inner: S, req: impl Fn() -> R + Sync + Copy)
where
    S: Service<R, Error = BoxError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    R: Clone + Send + 'static,
{
    let mut g = c.benchmark_group(group);
    both(&mut g, "bare service", inner.clone(), req);
    both(
        &mut g,
        "steadfast Failover, 2 regions",
        two_regions(inner.clone()),
        req,
    );
    both(
        &mut g,
        "steadfast Failover, 2 regions, into_static",
        two_regions(inner.clone()).into_static(),
        req,
    );
    both(
        &mut g,
        "steadfast Failover + deadline + attempt timeout, into_static",
        two_regions_with_limits(inner.clone()),
        req,
    );
    both(
        &mut g,
        "tower Timeout alone",
        tower::timeout::Timeout::new(inner.clone(), Duration::from_secs(1)),
        req,
    );
    both(
        &mut g,
        "steadfast Retry → CircuitBreaker, &'static",
        steadfast_stack(inner.clone()),
        req,
    );
    both(
        &mut g,
        "tower-resilience retry → circuit breaker 0.14",
        tower_resilience_stack(inner),
        req,
    );
    g.finish();
}

/// A tier of three regions, spread as `spread`.
fn three_active<S: Clone>(inner: S, spread: steadfast::failover::Spread) -> Failover<S> {
    Failover::builder()
        .tier(|t| {
            t.endpoint("us-east-1", inner.clone())
                .endpoint("us-west-2", inner.clone())
                .endpoint("eu-west-1", inner)
        })
        .spread(spread)
        .build()
        .unwrap()
}

type Pending<S> = tower::load::PendingRequests<S, tower::load::CompleteOnResponse>;

/// tower's p2c `Balance` over three services, each counting its pending requests. Neither a
/// `Balance` nor its `PendingRequests` is `Clone`: a clone is a balancer of its own over clones
/// of the inner services (its own counts), as a balancer built per connection would be.
struct TowerP2c<S, R> {
    inner: S,
    balance: tower::balance::p2c::Balance<tower::discover::ServiceList<Vec<Pending<S>>>, R>,
}

impl<S: Service<R> + Clone, R> TowerP2c<S, R>
where
    S::Error: Into<BoxError>,
{
    fn new(inner: S) -> Self {
        let services: Vec<Pending<S>> = (0..3)
            .map(|_| Pending::new(inner.clone(), tower::load::CompleteOnResponse::default()))
            .collect();
        TowerP2c {
            balance: tower::balance::p2c::Balance::new(tower::discover::ServiceList::new(services)),
            inner,
        }
    }
}

impl<S: Service<R> + Clone, R> Clone for TowerP2c<S, R>
where
    S::Error: Into<BoxError>,
{
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl<S, R> Service<R> for TowerP2c<S, R>
where
    S: Service<R> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = <tower::balance::p2c::Balance<
        tower::discover::ServiceList<Vec<Pending<S>>>,
        R,
    > as Service<R>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.balance.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.balance.call(req)
    }
}

/// Active-active: three healthy regions of one tier, against the bare service and tower's p2c.
fn active_active<S, R>(c: &mut Criterion, group: &str, inner: S, req: impl Fn() -> R + Sync + Copy)
where
    S: Service<R, Error = BoxError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    R: Clone + Send + 'static,
{
    use steadfast::failover::Spread;
    let mut g = c.benchmark_group(group);
    both(&mut g, "bare service", inner.clone(), req);
    both(
        &mut g,
        "steadfast Failover, 2 regions (active-passive)",
        two_regions(inner.clone()),
        req,
    );
    both(
        &mut g,
        "steadfast Failover, tier of 3, least loaded (p2c)",
        three_active(inner.clone(), Spread::LeastLoaded),
        req,
    );
    both(
        &mut g,
        "steadfast Failover, tier of 3, least loaded (p2c), into_static",
        three_active(inner.clone(), Spread::LeastLoaded).into_static(),
        req,
    );
    both(
        &mut g,
        "steadfast Failover, tier of 3, round robin",
        three_active(inner.clone(), Spread::RoundRobin),
        req,
    );
    both(
        &mut g,
        "tower p2c Balance, 3 services",
        TowerP2c::new(inner),
        req,
    );
    g.finish();
}

fn report_allocations() {
    fn per_call<S: Service<R> + Clone, R>(svc: &S, req: impl Fn() -> R) -> f64 {
        let mut s = svc.clone();
        support::allocations_per_call(10_000, || {
            let _ = one_call(&mut s, req());
        })
    }
    println!("allocations per call, added to the bare service (always-ready / realistic):");
    macro_rules! row {
        ($name:expr, $make:expr) => {
            println!(
                "  {:<62} {:>5} / {:>5}",
                $name,
                per_call(&$make(Floor), || 7u64) - per_call(&Floor, || 7u64),
                per_call(&$make(Realistic), http_req) - per_call(&Realistic, http_req)
            );
        };
    }
    row!("steadfast Failover, 2 regions", two_regions);
    row!("steadfast Failover, 2 regions, into_static", |s| {
        two_regions(s).into_static()
    });
    row!(
        "steadfast Failover + deadline + attempt timeout, into_static",
        two_regions_with_limits
    );
    row!("steadfast Failover + attempt timeout, hedging off", |s| {
        two_regions_hedged(s, None)
    });
    row!(
        "steadfast Failover + attempt timeout, Hedge::after(50ms)",
        |s| { two_regions_hedged(s, fixed_hedge()) }
    );
    row!(
        "steadfast Failover + attempt timeout, Hedge::percentile(0.95)",
        |s| two_regions_hedged(s, percentile_hedge())
    );
    row!("tower Timeout alone", |s| tower::timeout::Timeout::new(
        s,
        Duration::from_secs(1)
    ));
    row!(
        "steadfast Retry → CircuitBreaker, &'static",
        steadfast_stack
    );
    row!("steadfast Failover, tier of 3, least loaded (p2c)", |s| {
        three_active(s, steadfast::failover::Spread::LeastLoaded)
    });
    row!("steadfast Failover, tier of 3, round robin", |s| {
        three_active(s, steadfast::failover::Spread::RoundRobin)
    });
    row!("tower p2c Balance, 3 services", TowerP2c::new);
    println!(
        "  {:<62} {:>5} / {:>5}",
        "tower-resilience retry → circuit breaker 0.14",
        per_call(&tower_resilience_stack(Floor), || 7u64) - per_call(&Floor, || 7u64),
        per_call(&tower_resilience_stack(Realistic), http_req) - per_call(&Realistic, http_req)
    );
}

fn main() {
    let rt = support::timer_runtime();
    let _guard = rt.enter();
    report_allocations();
    let mut c = support::criterion();
    c.bench_function("reference/tokio Instant::now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    contenders(&mut c, "failover/always-ready", Floor, || 7u64);
    let template = http_req();
    contenders(&mut c, "failover/realistic", Realistic, || template.clone());
    active_active(&mut c, "failover/active-active", Floor, || 7u64);
    hedging(&mut c, "hedge/always-ready", Floor, || 7u64);
    hedging(&mut c, "hedge/realistic", Realistic, || template.clone());
    c.final_summary();
}
