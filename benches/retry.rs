//! The retry layer's happy path (the first attempt succeeds) against the bare service and the
//! peers, in the same run: tower `Retry` with a never-retrying policy, tower `Retry` with a
//! `TpsBudget`, and tower-resilience's retry (0.14). Two inner services: an always-ready
//! `service_fn` (the floor), and a realistic one (an HTTP-like request whose headers are cloned
//! for replay, and a response future that is pending once). One thread, and two threads sharing
//! one layer (each thread its own clone).
//!
//! `cargo bench --bench retry`

mod support;

use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use steadfast::BoxError;
use steadfast::retry::{RetryLayer, RetryPolicy};
use support::{Floor, HttpReq, Realistic, both, http_req, one_call};
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::{Layer, Service};

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

/// tower's retry policy that never retries: the cost of the layer alone.
#[derive(Clone)]
struct Never;

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Never {
    type Future = Ready<()>;
    fn retry(&mut self, _: &mut Req, _: &mut Result<Res, E>) -> Option<Self::Future> {
        None
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// tower's retry policy with a `TpsBudget`: deposits on success, withdraws to retry.
#[derive(Clone)]
struct Budgeted(Arc<TpsBudget>);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Budgeted {
    type Future = Ready<()>;
    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                self.0.deposit();
                None
            }
            Err(_) => self.0.withdraw().then(|| ready(())),
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

fn steadfast_default() -> RetryPolicy {
    RetryPolicy::builder().build().unwrap()
}

fn steadfast_deadline() -> RetryPolicy {
    RetryPolicy::builder()
        .deadline(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn steadfast_deadline_and_timeout() -> RetryPolicy {
    RetryPolicy::builder()
        .deadline(Duration::from_secs(5))
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
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
        "steadfast Retry (default budget)",
        RetryLayer::new(steadfast_default()).layer(inner.clone()),
        req,
    );
    let leaked: &'static RetryPolicy = Box::leak(Box::new(steadfast_default()));
    both(
        &mut g,
        "steadfast Retry, &'static policy",
        RetryLayer::new(leaked).layer(inner.clone()),
        req,
    );
    both(
        &mut g,
        "steadfast Retry + deadline",
        RetryLayer::new(steadfast_deadline()).layer(inner.clone()),
        req,
    );
    both(
        &mut g,
        "steadfast Retry + deadline + attempt timeout",
        RetryLayer::new(steadfast_deadline_and_timeout()).layer(inner.clone()),
        req,
    );
    both(
        &mut g,
        "tower Retry (never retries)",
        tower::retry::Retry::new(Never, inner.clone()),
        req,
    );
    both(
        &mut g,
        "tower Retry + TpsBudget",
        tower::retry::Retry::new(Budgeted(Arc::new(TpsBudget::default())), inner.clone()),
        req,
    );
    both(
        &mut g,
        "tower-resilience retry 0.14",
        tower_resilience_retry::RetryLayer::<R, S::Response, BoxError>::builder()
            .build()
            .layer(inner),
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
    println!(
        "allocations per call (always-ready / realistic; the realistic request's headers are cloned for replay by every retry layer):"
    );
    macro_rules! row {
        ($name:expr, $make:expr) => {
            println!(
                "  {:<48} {:>5} / {:>5}",
                $name,
                per_call(&$make(Floor), || 7u64),
                per_call(&$make(Realistic), http_req) - per_call(&Realistic, http_req)
            );
        };
    }
    row!("bare service", |s| s);
    row!("steadfast Retry (default budget)", |s| RetryLayer::new(
        steadfast_default()
    )
    .layer(s));
    let leaked: &'static RetryPolicy = Box::leak(Box::new(steadfast_default()));
    row!("steadfast Retry, &'static policy", |s| RetryLayer::new(
        leaked
    )
    .layer(s));
    row!("steadfast Retry + deadline", |s| RetryLayer::new(
        steadfast_deadline()
    )
    .layer(s));
    row!("steadfast Retry + deadline + attempt timeout", |s| {
        RetryLayer::new(steadfast_deadline_and_timeout()).layer(s)
    });
    row!("tower Retry (never retries)", |s| tower::retry::Retry::new(
        Never, s
    ));
    row!("tower Retry + TpsBudget", |s| tower::retry::Retry::new(
        Budgeted(Arc::new(TpsBudget::default())),
        s
    ));
    println!(
        "  {:<48} {:>5} / {:>5}",
        "tower-resilience retry 0.14",
        per_call(
            &tower_resilience_retry::RetryLayer::<u64, u64, BoxError>::builder()
                .build()
                .layer(Floor),
            || 7u64
        ),
        per_call(
            &tower_resilience_retry::RetryLayer::<HttpReq, u16, BoxError>::builder()
                .build()
                .layer(Realistic),
            http_req
        ) - per_call(&Realistic, http_req)
    );
}

fn main() {
    let rt = support::timer_runtime();
    let _guard = rt.enter();
    report_allocations();
    let mut c = support::criterion();
    // The price of one clock read in this build (tokio's, as the layer reads it), for the
    // "one clock read plus ..." comparison of the deadline rows.
    c.bench_function("reference/tokio Instant::now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    contenders(&mut c, "retry/always-ready", Floor, || 7u64);
    // Built once; each call clones it, as a caller holding a request template would.
    let template = http_req();
    contenders(&mut c, "retry/realistic", Realistic, || template.clone());
    c.final_summary();
}
