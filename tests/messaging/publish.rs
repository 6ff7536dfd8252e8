//! Publishing across regions: a hop at once when the primary fails, the breaker keeping calls
//! away from it, failback, and the duplicate rule for a publish that timed out.

use steadfast::CallError;
use steadfast::breaker::BreakerState;
use steadfast::messaging::{Outgoing, Publisher, RegionalPublisher};
use tokio::time::{Instant, sleep};

use crate::fake::{Answer, FakePublisher};
use crate::{at, secs};

fn regions(a: &FakePublisher, b: &FakePublisher) -> RegionalPublisher<FakePublisher> {
    RegionalPublisher::build([("a", a.clone()), ("b", b.clone())], |f| {
        f.attempt_timeout(secs(1)).breakers(|b| {
            b.consecutive_failures(2)
                .open_duration(secs(30))
                .required_successes(1)
        })
    })
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_publish_hops_to_the_other_region_and_fails_back_when_the_primary_recovers() {
    let (a, b) = (FakePublisher::default(), FakePublisher::default());
    let publisher = regions(&a, &b);
    a.answer(Answer::Fail);
    for n in 0..4 {
        publisher
            .publish(&Outgoing::new(format!("m{n}")))
            .await
            .unwrap();
    }
    // Two failures open a's breaker: the next two go straight to b.
    assert_eq!((a.calls(), b.published().len()), (2, 4));
    let handle = publisher.handle();
    assert_eq!(handle.breaker_state("a"), Some(BreakerState::Open));
    assert_eq!(&*handle.serving().endpoint, "b");

    a.answer(Answer::Accept);
    sleep(secs(31)).await;
    publisher.publish(&Outgoing::new("back")).await.unwrap();
    assert_eq!(a.published().len(), 1, "the half-open probe succeeded");
    publisher.publish(&Outgoing::new("again")).await.unwrap();
    assert_eq!((a.published().len(), b.published().len()), (2, 4));
    assert_eq!(&*handle.serving().endpoint, "a");
}

#[tokio::test(start_paused = true)]
async fn a_publish_that_timed_out_is_sent_again_only_with_a_deduplication_id() {
    let start = Instant::now();
    let (a, b) = (FakePublisher::default(), FakePublisher::default());
    let publisher = regions(&a, &b);
    a.answer(Answer::Hang);

    let err = publisher.publish(&Outgoing::new("once")).await.unwrap_err();
    let CallError::AllEndpointsFailed { attempts, last } = err else {
        panic!("{err:?}");
    };
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(matches!(*last, CallError::AttemptTimedOut(_)), "{last:?}");
    assert_eq!(at(start, Instant::now()), secs(1));
    assert_eq!(b.calls(), 0, "it may have been applied in a: not sent to b");

    publisher
        .publish(&Outgoing::new("deduplicated").with_deduplication_id("order-42"))
        .await
        .unwrap();
    assert_eq!(at(start, Instant::now()), secs(2));
    let published = b.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].deduplication_id.as_deref(), Some("order-42"));
}
