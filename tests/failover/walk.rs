//! The walk of one pass: a transient failure hops at once, an open breaker is skipped, a
//! rejection or a local fault is returned as it is.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use steadfast::failover::{Failover, Unavailable};
use steadfast::{BoxError, NoEndpointAvailable, Outcome};
use tower::{Service, ServiceExt, service_fn};

use super::support::{Resp, Scripted, Step, ms};
use super::*;

#[tokio::test(start_paused = true)]
async fn a_failing_primary_is_served_by_the_secondary_in_the_same_call() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (1, 1));
    assert_eq!(east.instants(), [ms(0)]);
    assert_eq!(west.instants(), [ms(0)], "the hop does not sleep");
    assert_eq!(west.requests(), [1], "the same request, replayed");
}

#[tokio::test(start_paused = true)]
async fn each_failing_region_costs_one_attempt_and_no_time() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([Step::Err("reset")]);
    let north = Scripted::new([]);
    let south = Scripted::new([]);
    let f = regions(&[
        ("east", &east),
        ("west", &west),
        ("north", &north),
        ("south", &south),
    ])
    .build()
    .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(
        [east.count(), west.count(), north.count(), south.count()],
        [1, 1, 1, 0]
    );
    assert_eq!(north.instants(), [ms(0)]);
}

#[tokio::test(start_paused = true)]
async fn a_healthy_primary_takes_every_call() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    for i in 0..10 {
        assert_eq!(status(call(&f, i).await), 200);
    }
    assert_eq!((east.count(), west.count()), (10, 0));
    let serving = f.handle().serving();
    assert_eq!((&*serving.endpoint, serving.priority), ("east", 0));
    assert_eq!(serving.failed_over, None);
}

#[tokio::test(start_paused = true)]
async fn an_open_primary_is_not_called() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 2));
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(2))
        .on_event(rec.clone())
        .build()
        .unwrap();
    for i in 0..5 {
        assert_eq!(status(call(&f, i).await), 200);
    }
    assert_eq!((east.count(), west.count()), (2, 5));
    assert_eq!(east.requests(), [0, 1]);
    assert_eq!(west.requests(), [0, 1, 2, 3, 4]);
    let handle = f.handle();
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Open));
    let serving = handle.serving();
    assert_eq!((&*serving.endpoint, serving.priority), ("west", 1));
    let over = serving.failed_over.expect("failed over");
    assert_eq!(&*over.from, "east");
    assert_eq!(over.reason, Some(Unavailable::BreakerOpen));
    let events = rec.take();
    let over: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Ev::Over(..) | Ev::Unavailable(..)))
        .collect();
    assert_eq!(
        over,
        [
            &Ev::Unavailable("east".into(), Unavailable::BreakerOpen),
            &Ev::Over("east".into(), "west".into(), Some(Unavailable::BreakerOpen)),
        ],
        "reported once, by the first call that skipped the primary"
    );
}

#[tokio::test(start_paused = true)]
async fn a_primary_forced_open_by_an_operator_is_skipped() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let handle = f.handle();
    handle.breaker("east").unwrap().force_open();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (0, 1));
    handle.breaker("east").unwrap().reset();
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!((east.count(), west.count()), (1, 1), "back once reset");
}

#[tokio::test(start_paused = true)]
async fn a_404_is_returned_at_once_and_not_failed_over() {
    let east = Scripted::new([Step::Status(404)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 404);
    assert_eq!((east.count(), west.count()), (1, 0));
    let snapshot = f.handle().breaker("east").unwrap().snapshot(now());
    assert_eq!(
        (snapshot.calls, snapshot.failures),
        (0, 0),
        "a rejection counts neither way"
    );
}

#[tokio::test(start_paused = true)]
async fn a_local_fault_is_returned_at_once_and_not_failed_over() {
    let east = Scripted::new([Step::Err("bad credentials")]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .classifier(classify_more as Classifier)
        .build()
        .unwrap();
    let err = call(&f, 1).await.unwrap_err();
    assert_eq!(err.to_string(), "bad credentials", "the error as it is");
    assert_eq!((east.count(), west.count()), (1, 0));
    assert_eq!(failures(&f.handle(), "east"), 0, "not held against east");
}

/// A region whose client is itself a failover (or any layer of this crate) answers with this
/// library's own error: `Local`, even under a classifier that calls every error a failure.
#[tokio::test(start_paused = true)]
async fn the_librarys_own_errors_are_never_failed_over() {
    let calls = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let region = |i: usize| {
        let calls = calls.clone();
        service_fn(move |_: u32| {
            calls[i].fetch_add(1, Ordering::Relaxed);
            async { Err::<Resp, BoxError>(NoEndpointAvailable::new(None).into()) }
        })
    };
    let f = Failover::builder()
        .endpoint("east", region(0))
        .endpoint("west", region(1))
        .build()
        .unwrap();
    let err = f.oneshot(1).await.unwrap_err();
    assert!(err.is::<NoEndpointAvailable>());
    let counts = [0, 1].map(|i| calls[i].load(Ordering::Relaxed));
    assert_eq!(counts, [1, 0]);
}

#[tokio::test(start_paused = true)]
async fn attempts_per_endpoint_retry_in_place_before_hopping() {
    let east = Scripted::new([Step::Status(503), Step::Err("reset")]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .attempts_per_endpoint(2)
        .on_event(rec.clone())
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(east.instants(), [ms(0), ms(0)], "no sleep in place either");
    assert_eq!(west.instants(), [ms(0)]);
    assert_eq!(
        rec.take(),
        [
            attempt("east", 1, Outcome::failed()),
            Ev::Retry("east".into(), 2, Some(495)),
            attempt("east", 2, Outcome::failed()),
            hop("east", "west", 3, Some(490)),
            attempt("west", 3, Outcome::Success),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_per_endpoint_succeeding_in_place_do_not_hop() {
    let east = Scripted::new([Step::Status(503), Step::Status(503)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .attempts_per_endpoint(3)
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn the_failover_is_always_ready() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    east.set_not_ready(true);
    west.set_not_ready(true);
    let mut f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(matches!(
        Service::<u32>::poll_ready(&mut f, &mut cx),
        Poll::Ready(Ok(()))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_static_failover_routes_exactly_like_an_owned_one() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 2));
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(2))
        .build()
        .unwrap()
        .into_static();
    for i in 0..5 {
        assert_eq!(status(call(&f, i).await), 200);
    }
    assert_eq!((east.count(), west.count()), (2, 5));
    assert_eq!(f.handle().breaker_state("east"), Some(BreakerState::Open));
}

#[test]
fn the_failover_and_its_calls_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Failover<Scripted, Classifier>>();
    send::<<Failover<Scripted, Classifier> as Service<u32>>::Future>();
    send_sync::<steadfast::failover::FailoverHandle>();
}
