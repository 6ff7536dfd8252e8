//! The failover: the walk across regions, the recover loop, failback, deadlines, replay, the
//! budget and cancellation, under paused time with scripted regions; loopback HTTP tests (real
//! time, counts only) are in `http.rs`.

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use steadfast::backoff::Backoff;
use steadfast::failover::{Failover, FailoverBuilder};
use steadfast::{AllEndpointsFailed, BoxError, Outcome};
use support::{Resp, Scripted, Step, ms, secs};
use tower::ServiceExt;

type Classifier = fn(&Result<Resp, BoxError>) -> Outcome;

/// Two or more scripted regions, jitter off, the HTTP-like classifier.
fn regions(regions: &[(&str, &Scripted)]) -> FailoverBuilder<Scripted, Classifier> {
    let mut b = Failover::builder()
        .classifier(support::classify as Classifier)
        .recover(Backoff::standard().with_jitter(steadfast::Jitter::None));
    for (name, s) in regions {
        b = b.endpoint(*name, (*s).clone());
    }
    b
}

#[tokio::test(start_paused = true)]
async fn a_failing_primary_is_served_by_the_secondary_in_the_same_call() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let r = f.clone().oneshot(1).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!((east.count(), west.count()), (1, 1));
    assert_eq!(east.instants(), vec![Duration::ZERO]);
    assert_eq!(
        west.instants(),
        vec![Duration::ZERO],
        "the hop does not sleep"
    );
}

#[tokio::test(start_paused = true)]
async fn all_failing_walks_again_at_the_recover_schedule() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 4));
    let west = Scripted::new([Step::Status(503), Step::Status(503), Step::Status(503)]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(None))
        .build()
        .unwrap();
    let r = f.oneshot(1).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(east.instants(), vec![ms(0), ms(500), ms(1500), ms(3500)]);
    assert_eq!(west.instants(), vec![ms(0), ms(500), ms(1500), ms(3500)]);
}

#[tokio::test(start_paused = true)]
async fn errors_end_as_all_endpoints_failed() {
    let east = Scripted::new(std::iter::repeat_n(Step::Err("reset"), 4));
    let west = Scripted::new(std::iter::repeat_n(Step::Err("refused"), 4));
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(None))
        .build()
        .unwrap();
    let e = f.oneshot(1).await.unwrap_err();
    let all = e.downcast_ref::<AllEndpointsFailed>().expect("all failed");
    assert_eq!(all.attempts.len(), 8);
    assert_eq!(all.last.to_string(), "refused");
    let names: Vec<_> = all.attempts.iter().map(|a| &*a.endpoint).collect();
    assert_eq!(names, ["east", "west"].repeat(4));
    assert_eq!(all.attempts[7].elapsed, secs(3) + ms(500));
}

#[tokio::test(start_paused = true)]
async fn an_open_primary_is_not_called() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 2));
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(2))
        .build()
        .unwrap();
    for _ in 0..5 {
        assert_eq!(f.clone().oneshot(1).await.unwrap().status, 200);
    }
    assert_eq!((east.count(), west.count()), (2, 5));
    let serving = f.handle().serving();
    assert_eq!(&*serving.endpoint, "west");
}
