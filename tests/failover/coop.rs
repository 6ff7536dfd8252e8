//! Cooperative yielding: a walk repeating attempts that fail at once (no sleep between them)
//! yields to the runtime, so that its neighbours run and an outer timeout fires. Counts only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use steadfast::RetryBudget;

use super::support::{Resp, ms, secs};
use super::*;

/// Always ready, and answers every call 503 at once; counts the calls.
#[derive(Clone, Default)]
struct FailingAtOnce {
    calls: Arc<AtomicUsize>,
}

impl Service<u32> for FailingAtOnce {
    type Response = Resp;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Resp, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok(Resp {
            status: 503,
            retry_after: None,
        }))
    }
}

/// One endpoint repeated `attempts` times with no recover pass, an unlimited budget and its
/// breaker switched off: nothing but the attempt count ends the call.
fn repeating(
    service: &FailingAtOnce,
    attempts: u32,
    deadline: Option<Duration>,
) -> Failover<FailingAtOnce, Classifier> {
    let mut b = Failover::builder()
        .classifier(support::classify as Classifier)
        .endpoint("east", service.clone())
        .attempts_per_endpoint(attempts)
        .recover(Backoff::none())
        .budget(RetryBudget::unlimited());
    if let Some(d) = deadline {
        b = b.deadline(d);
    }
    let f = b.build().unwrap();
    f.handle().breaker("east").unwrap().disable();
    f
}

#[tokio::test(start_paused = true)]
async fn a_neighbour_task_runs_while_one_endpoint_is_repeated_at_once() {
    const ATTEMPTS: u32 = 100_000;
    let service = FailingAtOnce::default();
    let f = repeating(&service, ATTEMPTS, None);
    let walk = tokio::spawn(f.oneshot(1));
    let calls = service.calls.clone();
    // Queued after the walk on this one thread: it runs only once the walk yields.
    let neighbour = tokio::spawn(async move {
        let seen = calls.load(Ordering::Relaxed);
        walk.abort();
        (seen, walk.await)
    });
    let (seen, walk) = neighbour.await.unwrap();
    assert!(
        seen > 1 && seen < ATTEMPTS as usize,
        "the neighbour ran after {seen} of {ATTEMPTS} attempts"
    );
    assert!(
        walk.unwrap_err().is_cancelled(),
        "the walk was still running"
    );
    assert_eq!(service.calls.load(Ordering::Relaxed), seen);
}

#[tokio::test]
async fn an_outer_timeout_fires_while_one_endpoint_is_repeated_at_once() {
    // Real time: the walk's own deadline is far, so only the outer timeout can end it early.
    let service = FailingAtOnce::default();
    let f = repeating(&service, u32::MAX, Some(secs(30)));
    let outcome = tokio::time::timeout(ms(5), f.oneshot(1)).await;
    assert!(outcome.is_err(), "the outer timeout fired");
    assert!(service.calls.load(Ordering::Relaxed) < u32::MAX as usize);
}
