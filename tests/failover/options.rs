//! Per-request options through a `RequestOptions` hook: a deadline (the earlier one wins) and a
//! pinned endpoint (no hop; its breaker, push-back and the recover passes still apply).

use steadfast::failover::CallOptions;
use steadfast::{DeadlineExceeded, NoEndpointAvailable};

use super::support::{Scripted, Step, ms, secs};
use super::*;

/// Request 1 asks for a 2 s deadline, request 2 for 10 s, request 3 is pinned to east, 4 to
/// west, 5 to an endpoint that does not exist; the rest ask for nothing.
fn options(r: u32) -> CallOptions<'static> {
    match r {
        1 => CallOptions::new().deadline(secs(2)),
        2 => CallOptions::new().deadline(secs(10)),
        3 => CallOptions::new().endpoint("east"),
        4 => CallOptions::new().endpoint("west"),
        5 => CallOptions::new().endpoint("mars"),
        _ => CallOptions::new(),
    }
}

/// How long a call of `req` to a hanging east takes to end with `DeadlineExceeded`.
async fn deadline_of(configured: Option<Duration>, req: u32) -> Duration {
    let east = Scripted::new([Step::Hang]);
    let mut b = regions(&[("east", &east)]).options(ByRequest(options));
    if let Some(d) = configured {
        b = b.deadline(d);
    }
    let f = b.build().unwrap();
    let t0 = Instant::now();
    let e = call(&f, req).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>(), "{e}");
    since(t0)
}

#[tokio::test(start_paused = true)]
async fn the_earlier_deadline_wins() {
    assert_eq!(
        deadline_of(Some(secs(10)), 1).await,
        secs(2),
        "the request's"
    );
    assert_eq!(
        deadline_of(Some(secs(3)), 2).await,
        secs(3),
        "the configured one"
    );
    assert_eq!(deadline_of(None, 1).await, secs(2), "the request's alone");
    assert_eq!(
        deadline_of(Some(secs(3)), 9).await,
        secs(3),
        "no request deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_pinned_request_does_not_hop_but_makes_its_recover_passes() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 4));
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .options(ByRequest(options))
        .on_event(rec.clone())
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 3).await), 503);
    assert_eq!(east.instants(), [ms(0), ms(500), ms(1500), ms(3500)]);
    assert_eq!(west.count(), 0);
    assert!(!rec.take().iter().any(|e| matches!(e, Ev::Hop(..))));
}

#[tokio::test(start_paused = true)]
async fn a_request_pinned_to_the_secondary_goes_there_and_moves_nothing() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .options(ByRequest(options))
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 4).await), 200);
    assert_eq!((east.count(), west.count()), (0, 1));
    assert_eq!(&*f.handle().serving().endpoint, "east");
}

#[tokio::test(start_paused = true)]
async fn a_pinned_endpoint_whose_breaker_is_open_is_not_available() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1).open_duration(secs(30)))
        .options(ByRequest(options))
        .build()
        .unwrap();
    trip(&f.handle(), "east");
    let t0 = Instant::now();
    let e = call(&f, 3).await.unwrap_err();
    assert_eq!(since(t0), ms(0));
    assert_eq!(
        e.downcast_ref::<NoEndpointAvailable>().unwrap().retry_in,
        Some(secs(30))
    );
    assert_eq!(
        (east.count(), west.count()),
        (0, 0),
        "west is not an option"
    );
    assert_eq!(status(call(&f, 9).await), 200, "an unpinned call is served");
    assert_eq!(west.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_pinned_endpoint_probing_soon_is_waited_for() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1).open_duration(ms(300)))
        .options(ByRequest(options))
        .build()
        .unwrap();
    trip(&f.handle(), "east");
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!(since(t0), ms(300));
    assert_eq!((east.instants(), west.count()), (vec![ms(300)], 0));
}

#[tokio::test(start_paused = true)]
async fn an_unknown_pinned_endpoint_is_no_endpoint_available() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .options(ByRequest(options))
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 5).await.unwrap_err();
    assert_eq!(since(t0), ms(0));
    assert_eq!(
        e.downcast_ref::<NoEndpointAvailable>().unwrap().retry_in,
        None
    );
    assert_eq!((east.count(), west.count()), (0, 0));
    assert_eq!(
        rec.take(),
        [Ev::GaveUp(
            None,
            0,
            steadfast::event::GiveUpReason::NoEndpointAvailable
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn a_pinned_endpoint_pushed_back_is_not_available() {
    let east = Scripted::new([Step::Hint(429, secs(5))]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .options(ByRequest(options))
        .build()
        .unwrap();
    assert_eq!(
        status(call(&f, 9).await),
        200,
        "east pushes back, west serves"
    );
    let t0 = Instant::now();
    let e = call(&f, 3).await.unwrap_err();
    assert_eq!(since(t0), ms(0));
    assert_eq!(
        e.downcast_ref::<NoEndpointAvailable>().unwrap().retry_in,
        Some(secs(5))
    );
    assert_eq!((east.count(), west.count()), (1, 1));
}
