//! Over the library's own layers, each verdict reaches the fallback at its exact instant
//! (paused time): the retry layer's deadline and attempt timeout, an open circuit breaker, a
//! failover whose endpoints all failed or are all unavailable.

use steadfast::backoff::Backoff;
use steadfast::breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::failover::Failover;
use steadfast::fallback::{FallbackLayer, Trigger, Verdict};
use steadfast::{BoxError, Outcome, RetryLayer, RetryPolicy};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

use super::support::{self, Resp, Scripted, Step, ms, secs};
use super::{Answered, DEFAULT, Seen};

type Classifier = fn(&Result<Resp, BoxError>) -> Outcome;

#[tokio::test(start_paused = true)]
async fn over_retry_the_deadline_is_answered_when_it_expires() {
    let inner = Scripted::new([Step::Status(503), Step::Hang]);
    let policy = RetryPolicy::builder()
        .backoff(support::exact(Backoff::constant(ms(100), 3)))
        .deadline(secs(1))
        .classifier(support::classify as Classifier)
        .build()
        .unwrap();
    let answered = Answered::default();
    let seen = Seen::default();
    let svc = ServiceBuilder::new()
        .layer(
            FallbackLayer::new(answered.fallback())
                .classifier(support::classify as Classifier)
                .on_event(seen.hook()),
        )
        .layer(RetryLayer::new(policy))
        .service(inner.clone());
    let start = Instant::now();
    assert_eq!(svc.oneshot(9).await.unwrap(), DEFAULT);
    assert_eq!(
        start.elapsed(),
        secs(1),
        "answered when the deadline cut the hung retry"
    );
    assert_eq!(inner.instants(), [ms(0), ms(100)]);
    let trigger = Trigger::Verdict(Verdict::DeadlineExceeded);
    assert_eq!(answered.calls(), [(9, trigger)]);
    assert_eq!(seen.events(), [(trigger, true, None)]);
}

#[tokio::test(start_paused = true)]
async fn over_retry_a_timed_out_last_attempt_and_exhausted_retries_are_answered() {
    let inner = Scripted::new([Step::Hang, Step::Hang, Step::Status(500), Step::Status(500)]);
    let policy = RetryPolicy::builder()
        .backoff(support::exact(Backoff::constant(ms(100), 1)))
        .attempt_timeout(ms(250))
        .classifier(support::classify as Classifier)
        .build()
        .unwrap();
    let answered = Answered::default();
    let mut svc = ServiceBuilder::new()
        .layer(FallbackLayer::new(answered.fallback()).classifier(support::classify as Classifier))
        .layer(RetryLayer::new(policy))
        .service(inner.clone());
    let start = Instant::now();
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), DEFAULT);
    assert_eq!(start.elapsed(), ms(600), "250 + 100 + 250");
    // Retries spent on 500s: the retry layer returns the last 500, a classified failure.
    assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), DEFAULT);
    assert_eq!(inner.count(), 4);
    assert_eq!(
        answered.calls(),
        [
            (1, Trigger::Verdict(Verdict::AttemptTimedOut)),
            (2, Trigger::Failed(Outcome::failed())),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn over_a_breaker_failures_then_rejections_are_answered() {
    let inner = Scripted::failing(2);
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(2)
        .open_duration(secs(30))
        .build()
        .unwrap();
    let answered = Answered::default();
    let mut svc = FallbackLayer::new(answered.fallback())
        .classifier(support::classify as Classifier)
        .layer(
            CircuitBreakerLayer::new(breaker)
                .classifier(support::classify as Classifier)
                .layer(inner.clone()),
        );
    for req in 0..5 {
        assert_eq!(svc.ready().await.unwrap().call(req).await.unwrap(), DEFAULT);
    }
    assert_eq!(
        inner.count(),
        2,
        "the open breaker kept the dependency alone"
    );
    let failed = Trigger::Failed(Outcome::failed());
    let open = Trigger::Verdict(Verdict::BreakerOpen);
    assert_eq!(
        answered.calls(),
        [(0, failed), (1, failed), (2, open), (3, open), (4, open)]
    );
    // Once it probes and closes, calls are the dependency's again.
    tokio::time::advance(secs(30)).await;
    assert_eq!(
        svc.ready().await.unwrap().call(5).await.unwrap().status,
        200
    );
    assert_eq!(answered.calls().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn over_a_failover_every_endpoint_failed_then_none_available() {
    let east = Scripted::new([Step::Err("reset")]);
    let west = Scripted::new([Step::Err("refused")]);
    let failover = Failover::builder()
        .endpoint("east", east.clone())
        .endpoint("west", west.clone())
        .classifier(support::classify as Classifier)
        .recover(Backoff::none())
        .breakers(|b| b.consecutive_failures(1).open_duration(secs(10)))
        .build()
        .unwrap();
    let answered = Answered::default();
    let mut svc = FallbackLayer::new(answered.fallback())
        .classifier(support::classify as Classifier)
        .layer(failover);
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), DEFAULT);
    assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), DEFAULT);
    assert_eq!((east.count(), west.count()), (1, 1));
    assert_eq!(
        answered.calls(),
        [
            (1, Trigger::Verdict(Verdict::AllEndpointsFailed)),
            (2, Trigger::Verdict(Verdict::NoEndpointAvailable)),
        ]
    );
}
