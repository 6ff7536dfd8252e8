//! Regressions from the review of the failover: each test failed before its fix.

use std::future::Future;
use std::task::Poll;

use steadfast::DeadlineExceeded;
use steadfast::failover::{CallOptions, Failback, Switch};

use super::support::{Scripted, Step, ms, secs};
use super::*;

fn zero_deadline(_: u32) -> CallOptions<'static> {
    CallOptions::new().deadline(Duration::ZERO)
}

/// Polls a fresh call once and tells whether it is still on the direct path (no walk
/// allocated).
async fn stays_direct<S>(f: &S) -> bool
where
    S: Service<u32> + Clone,
    S::Future: std::fmt::Debug,
{
    let mut svc = f.clone();
    let mut fut = Box::pin(svc.call(9));
    std::future::poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
    format!("{fut:?}").contains("direct")
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_own_deadline_has_passed_is_not_sent() {
    let (east, west) = (Scripted::new([]), Scripted::new([]));
    let f = regions(&[("east", &east), ("west", &west)])
        .options(ByRequest(zero_deadline))
        .build()
        .unwrap();
    let e = call(&f, 1).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>(), "{e}");
    assert_eq!((east.count(), west.count()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn no_hop_is_sent_once_the_deadline_has_passed() {
    let east = Scripted::new([Step::After(secs(1), Box::new(Step::Status(503)))]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .deadline(secs(1))
        .build()
        .unwrap();
    assert_eq!(
        status(call(&f, 1).await),
        503,
        "east's answer, at the deadline"
    );
    assert_eq!(west.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn health_fails_open_over_the_endpoints_that_are_switched_on() {
    let (east, west) = (Scripted::new([]), Scripted::new([]));
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let h = f.handle();
    h.set_health("east", false).unwrap();
    h.routing().set("west", Switch::Off).unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_single_attempt_walk_gives_up_with_no_retries_left() {
    let east = Scripted::failing(5);
    let rec = Recorder::default();
    let f = Failover::builder()
        .classifier(support::classify as Classifier)
        .recover(Backoff::none())
        .endpoint("east", east.clone())
        .on_event(rec.clone())
        .build()
        .unwrap();
    let _ = call(&f, 1).await;
    assert!(rec.take().contains(&Ev::GaveUp(
        Some("east".into()),
        1,
        GiveUpReason::RetriesExhausted
    )));
}

#[tokio::test(start_paused = true)]
async fn another_endpoints_switch_keeps_the_primary_on_the_direct_path() {
    let (east, west, north) = (
        Scripted::new([Step::Hang]),
        Scripted::new([]),
        Scripted::new([]),
    );
    let f = regions(&[("east", &east), ("west", &west), ("north", &north)])
        .build()
        .unwrap();
    f.handle().routing().set("north", Switch::Off).unwrap();
    f.handle().set_health("west", false).unwrap();
    assert!(stays_direct(&f).await);
    f.handle().routing().set("east", Switch::Off).unwrap();
    assert!(
        !stays_direct(&f).await,
        "a switched-off primary takes the walk"
    );
}

#[tokio::test(start_paused = true)]
async fn a_trickle_call_keeps_one_call_in_flight_across_its_recover_pass() {
    let east = Scripted::new([
        Step::Status(503),
        Step::After(secs(2), Box::new(Step::Status(200))),
        Step::After(secs(2), Box::new(Step::Status(200))),
    ]);
    let west = Scripted::new([Step::Status(200), Step::Status(503)]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .failback(Failback::After(secs(60)))
        .build()
        .unwrap();
    let h = f.handle();
    h.breaker("east").unwrap().force_open();
    let _ = call(&f, 0).await; // east demoted
    h.breaker("east").unwrap().reset();
    let t0 = Instant::now();
    let a = tokio::spawn(f.clone().oneshot(1)); // trickle: east 503, west 503, sleeps 500 ms
    tokio::time::sleep_until(t0 + ms(100)).await;
    let b = tokio::spawn(f.clone().oneshot(2)); // the trickle slot is free again: east, 2 s
    tokio::time::sleep_until(t0 + ms(600)).await;
    assert!(east.live() <= 1, "{} calls in flight at east", east.live());
    let _ = (a.await, b.await);
}

#[tokio::test(start_paused = true)]
async fn a_demotion_behind_the_serving_endpoint_ends() {
    let (east, west, north) = (Scripted::new([]), Scripted::new([]), Scripted::new([]));
    let f = regions(&[("east", &east), ("west", &west), ("north", &north)])
        .failback(Failback::After(secs(1)))
        .build()
        .unwrap();
    let h = f.handle();
    h.routing().set("east", Switch::Off).unwrap();
    h.breaker("west").unwrap().force_open();
    let _ = call(&f, 0).await; // west demoted; north serves
    h.breaker("west").unwrap().reset();
    h.routing().set("east", Switch::On).unwrap();
    for i in 1..5 {
        status(call(&f, i).await);
    }
    assert!(
        stays_direct(&f).await,
        "the primary serves: west's demotion ended"
    );
    assert_eq!(h.endpoint_status()[1].unavailable, None);
    // And a later failover of the primary goes to west, the next in line.
    h.routing().set("east", Switch::Off).unwrap();
    let (w0, n0) = (west.count(), north.count());
    status(call(&f, 7).await);
    assert_eq!((west.count() - w0, north.count() - n0), (1, 0));
}
