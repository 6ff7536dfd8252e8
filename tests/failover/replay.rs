//! Replay: which requests may hop after which outcomes. A request that may not be replayed
//! still skips unavailable endpoints (it goes once, to the first available one); until it has
//! been sent it may go anywhere; `NotSent` lets any request hop; a marker overrides the hook.

use steadfast::event::GiveUpReason;
use steadfast::failover::{CallOptions, ReplayMarker};
use steadfast::{AllEndpointsFailed, AttemptTimedOut};

use super::support::{Scripted, Step, ms, secs};
use super::*;

/// Requests from 100 on get no copy: they are sent once.
fn copy_below_100(r: &u32) -> Option<u32> {
    (*r < 100).then_some(*r)
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_copy_goes_once_to_the_first_available_endpoint() {
    let east = Scripted::new([]);
    let west = Scripted::new([Step::Status(503)]);
    let north = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west), ("north", &north)])
        .replay(copy_below_100 as fn(&u32) -> Option<u32>)
        .on_event(rec.clone())
        .build()
        .unwrap();
    trip(&f.handle(), "east");
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 100).await), 503, "west's answer, as it is");
    assert_eq!(since(t0), ms(0), "no recover pass either");
    assert_eq!((east.count(), west.count(), north.count()), (0, 1, 0));
    assert_eq!(west.requests(), [100]);
    assert_eq!(
        rec.take().pop(),
        Some(Ev::GaveUp(
            Some("west".into()),
            1,
            GiveUpReason::NotReplayable
        ))
    );
    // A request with a copy hops on as usual.
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((west.count(), north.count()), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_copy_is_not_retried_in_place_either() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .attempts_per_endpoint(3)
        .replay(copy_below_100 as fn(&u32) -> Option<u32>)
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 100).await), 503);
    assert_eq!((east.count(), west.count()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_once_marker_goes_once_to_the_first_available_endpoint() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([Step::Status(503)]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1))
        .options(ByRequest(|r| match r {
            7 => CallOptions::new().replay(ReplayMarker::Once),
            _ => CallOptions::new(),
        }))
        .build()
        .unwrap();
    // East is healthy: the marked request goes there, fails, and does not hop.
    assert_eq!(status(call(&f, 7).await), 503);
    assert_eq!((east.count(), west.count()), (1, 0));
    assert_eq!(f.handle().breaker_state("east"), Some(BreakerState::Open));
    // East is open now: the marked request goes to west, once.
    assert_eq!(status(call(&f, 7).await), 503);
    assert_eq!((east.count(), west.count()), (1, 1));
    assert_eq!(west.requests(), [7]);
}

#[tokio::test(start_paused = true)]
async fn a_request_not_yet_sent_may_go_anywhere() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    east.set_not_ready(true);
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .replay(copy_below_100 as fn(&u32) -> Option<u32>)
        .options(ByRequest(|r| match r {
            7 => CallOptions::new().replay(ReplayMarker::Once),
            _ => CallOptions::new(),
        }))
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 100).await), 200, "no copy, but never sent");
    assert_eq!(
        status(call(&f, 7).await),
        200,
        "marked once, but never sent"
    );
    assert_eq!(west.instants(), [secs(1), secs(2)]);
    assert_eq!(west.requests(), [100, 7]);
    assert_eq!(east.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn after_not_sent_any_request_may_hop() {
    let east = Scripted::new([Step::Err("refused")]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .classifier(classify_more as Classifier)
        .replay(OnlyIfNotApplied)
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn after_push_back_any_request_may_hop() {
    let east = Scripted::new([Step::Hint(429, secs(1))]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .replay(OnlyIfNotApplied)
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn after_a_server_failure_a_request_that_may_have_been_applied_does_not_hop() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .replay(OnlyIfNotApplied)
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 503);
    assert_eq!((east.count(), west.count()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn after_a_timeout_a_request_that_may_have_been_applied_does_not_hop() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .replay(OnlyIfNotApplied)
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert_eq!(since(t0), secs(1));
    let all = e.downcast_ref::<AllEndpointsFailed>().unwrap();
    assert!(all.last.is::<AttemptTimedOut>());
    assert_eq!(all.attempts.len(), 1);
    assert_eq!((east.count(), west.count()), (1, 0));
    assert_eq!(
        rec.take(),
        [
            attempt("east", 1, Outcome::timeout()),
            Ev::GaveUp(Some("east".into()), 1, GiveUpReason::NotReplayable),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_always_marker_overrides_the_hook() {
    let east = Scripted::new([Step::Hang, Step::Status(503)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .replay(OnlyIfNotApplied)
        .options(ByRequest(|r| match r {
            7 => CallOptions::new().replay(ReplayMarker::Always),
            _ => CallOptions::new(),
        }))
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 7).await), 200, "hops after a timeout");
    assert_eq!(status(call(&f, 7).await), 200, "hops after a 503");
    assert_eq!(west.requests(), [7, 7]);
    assert_eq!(west.instants(), [secs(1), secs(1)]);
}

#[tokio::test(start_paused = true)]
async fn an_always_marker_still_needs_a_copy() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .replay(copy_below_100 as fn(&u32) -> Option<u32>)
        .options(ByRequest(|_| {
            CallOptions::new().replay(ReplayMarker::Always)
        }))
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 100).await), 503);
    assert_eq!((east.count(), west.count()), (1, 0));
}
