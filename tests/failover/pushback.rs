//! Push-back: an endpoint that answered with `Retry-After` is skipped by every call until its
//! hint expires (capped), the call hops on at once, and push-back is no breaker failure.

use steadfast::NoEndpointAvailable;
use steadfast::failover::Unavailable;

use super::support::{Scripted, Step, ms, secs};
use super::*;

#[tokio::test(start_paused = true)]
async fn a_throttled_endpoint_is_skipped_until_its_hint_expires() {
    let east = Scripted::new([Step::Hint(429, secs(3))]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .attempts_per_endpoint(2)
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(since(t0), ms(0), "hops at once, not after the hint");
    for at in [secs(1), ms(2999)] {
        tokio::time::sleep_until(t0 + at).await;
        assert_eq!(status(call(&f, 2).await), 200);
    }
    assert_eq!(east.instants(), [ms(0)], "skipped while pushed back");
    assert_eq!(
        f.handle().serving().failed_over.unwrap().reason,
        Some(Unavailable::PushedBack)
    );
    tokio::time::sleep_until(t0 + secs(3)).await;
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!(
        east.instants(),
        [ms(0), secs(3)],
        "used again exactly when the hint expires"
    );
    assert_eq!(west.instants(), [ms(0), secs(1), ms(2999)]);
    assert_eq!(
        failures(&f.handle(), "east"),
        0,
        "push-back is not a failure"
    );
    let events = rec.take();
    assert_eq!(
        events[..3],
        [
            attempt("east", 1, Outcome::throttled(Some(secs(3)))),
            hop("east", "west", 2, Some(495)),
            attempt("west", 2, Outcome::Success),
        ],
        "no second attempt in place after push-back"
    );
    assert!(events.contains(&Ev::Unavailable("east".into(), Unavailable::PushedBack)));
    assert!(events.contains(&Ev::Available("east".into())));
}

#[tokio::test(start_paused = true)]
async fn a_503_with_retry_after_pushes_back_and_counts_as_a_failure() {
    let east = Scripted::new([Step::Hint(503, secs(2))]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(
        failures(&f.handle(), "east"),
        1,
        "a 503 is a failure, hint or not"
    );
    tokio::time::sleep_until(t0 + ms(1999)).await;
    assert_eq!(status(call(&f, 2).await), 200);
    tokio::time::sleep_until(t0 + secs(2)).await;
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!(east.instants(), [ms(0), secs(2)]);
    assert_eq!(west.count(), 2);
}

/// When east, told to back off for 10 minutes at 0, is called again.
async fn east_back_after_a_long_hint(cap: Option<Duration>) -> Vec<Duration> {
    let east = Scripted::new([Step::Hint(429, secs(600))]);
    let west = Scripted::new([]);
    let mut b = regions(&[("east", &east), ("west", &west)]);
    if let Some(cap) = cap {
        b = b.retry_after_cap(cap);
    }
    let f = b.build().unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    let cap = cap.unwrap_or(secs(20));
    for at in [cap - ms(1), cap] {
        tokio::time::sleep_until(t0 + at).await;
        assert_eq!(status(call(&f, 2).await), 200);
    }
    east.instants()
}

#[tokio::test(start_paused = true)]
async fn a_hint_is_capped_by_retry_after_cap() {
    assert_eq!(
        east_back_after_a_long_hint(Some(secs(5))).await,
        [ms(0), secs(5)]
    );
    assert_eq!(
        east_back_after_a_long_hint(Some(secs(60))).await,
        [ms(0), secs(60)]
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_cap_is_twenty_seconds() {
    assert_eq!(east_back_after_a_long_hint(None).await, [ms(0), secs(20)]);
}

#[tokio::test(start_paused = true)]
async fn a_shorter_hint_never_shortens_a_longer_push_back() {
    // Two calls in flight at east: the slow one will be told 1 s, the quick one 5 s.
    let east = Scripted::new([
        Step::After(ms(10), Box::new(Step::Hint(429, secs(1)))),
        Step::Hint(429, secs(5)),
    ]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let t0 = Instant::now();
    let slow = tokio::spawn(f.clone().oneshot(1));
    tokio::task::yield_now().await;
    assert_eq!(east.count(), 1, "the slow call is in flight at east");
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!(status(slow.await.unwrap()), 200);
    assert_eq!(since(t0), ms(10));
    tokio::time::sleep_until(t0 + ms(4999)).await;
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!(east.count(), 2, "still pushed back by the 5 s hint");
    tokio::time::sleep_until(t0 + secs(5)).await;
    assert_eq!(status(call(&f, 4).await), 200);
    assert_eq!(east.instants(), [ms(0), ms(0), secs(5)]);
}

#[tokio::test(start_paused = true)]
async fn every_endpoint_pushed_back_within_the_next_recover_delay_is_waited_for() {
    let east = Scripted::new([Step::Hint(429, ms(300))]);
    let west = Scripted::new([Step::Hint(429, ms(200))]);
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let t0 = Instant::now();
    // Pass 1 at 0: both push back; pass 2 at 500 ms, both hints have expired.
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(since(t0), ms(500));
    assert_eq!(east.instants(), [ms(0), ms(500)]);
    assert_eq!(west.instants(), [ms(0)]);
}

#[tokio::test(start_paused = true)]
async fn a_call_finding_every_endpoint_pushed_back_waits_for_the_first_to_expire() {
    let east = Scripted::new([Step::Hint(429, ms(300))]);
    let west = Scripted::new([Step::Hint(429, ms(200))]);
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let t0 = Instant::now();
    let first = tokio::spawn(f.clone().oneshot(1));
    tokio::time::sleep_until(t0 + ms(100)).await;
    assert_eq!((east.count(), west.count()), (1, 1));
    // Both pushed back: west comes back first, 100 ms from now, within the next recover delay.
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!(since(t0), ms(200));
    assert_eq!(west.instants(), [ms(0), ms(200)]);
    assert_eq!(east.count(), 1, "east is pushed back until 300 ms");
    assert_eq!(status(first.await.unwrap()), 200);
    assert_eq!(
        east.instants(),
        [ms(0), ms(500)],
        "the first call's recover pass"
    );
}

#[tokio::test(start_paused = true)]
async fn every_endpoint_pushed_back_and_no_pass_to_wait_in_fails_at_once() {
    let east = Scripted::new([Step::Hint(429, ms(300))]);
    let west = Scripted::new([Step::Hint(429, ms(200))]);
    let f = regions(&[("east", &east), ("west", &west)])
        .recover(Backoff::none())
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(
        status(call(&f, 1).await),
        429,
        "one pass: the last push-back"
    );
    tokio::time::sleep_until(t0 + ms(100)).await;
    let e = call(&f, 2).await.unwrap_err();
    assert_eq!(since(t0), ms(100));
    assert_eq!(
        e.downcast_ref::<NoEndpointAvailable>().unwrap().retry_in,
        Some(ms(100))
    );
    assert_eq!((east.count(), west.count()), (1, 1));
}

/// Push-back ends when its hint expires or when an operator clears it; the other operator
/// actions (failback, a breaker reset, reporting health, switching on) leave it alone.
#[tokio::test(start_paused = true)]
async fn only_clear_push_back_ends_a_push_back_early() {
    let east = Scripted::new([Step::Hint(429, secs(60))]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .retry_after_cap(secs(60))
        .build()
        .unwrap();
    let handle = f.handle();
    assert_eq!(status(call(&f, 1).await), 200);
    handle.fail_back();
    handle.breaker("east").unwrap().reset();
    assert_eq!(handle.set_health("east", true), Ok(false));
    handle
        .routing()
        .set("east", steadfast::failover::Switch::On)
        .unwrap();
    tokio::time::sleep(secs(30)).await;
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!((east.count(), west.count()), (1, 2), "still pushed back");
    assert_eq!(
        handle.endpoint_status()[0].unavailable,
        Some(Unavailable::PushedBack)
    );
    assert_eq!(handle.clear_push_back("east"), Ok(true));
    assert_eq!(handle.clear_push_back("east"), Ok(false), "nothing left");
    assert_eq!(handle.endpoint_status()[0].unavailable, None);
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!((east.count(), west.count()), (2, 2), "east serves again");
    assert!(handle.clear_push_back("north").is_err());
}
