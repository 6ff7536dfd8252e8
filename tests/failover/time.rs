//! Deadlines and attempt timeouts: the walk stops at exactly the deadline, a hung region is cut
//! at the attempt timeout and the call hops, readiness is part of the hop's time, and a
//! `poll_ready` error counts as the endpoint failing.

use steadfast::{AllEndpointsFailed, AttemptTimedOut, DeadlineExceeded, Outcome, RetryBudget};

use super::support::{Scripted, Step, ms, secs};
use super::*;

#[tokio::test(start_paused = true)]
async fn the_walk_stops_at_exactly_the_deadline() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .deadline(secs(2))
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>(), "{e}");
    assert_eq!(since(t0), secs(2));
    assert_eq!((east.count(), west.count()), (1, 0));
    assert_eq!(east.live(), 0, "the attempt in flight was dropped");
    assert_eq!(
        failures(&f.handle(), "east"),
        1,
        "the cut attempt is a timeout for east"
    );
    assert_eq!(
        rec.take(),
        [
            attempt("east", 1, Outcome::timeout()),
            Ev::Deadline("east".into(), 1),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_region_is_cut_at_the_attempt_timeout_and_the_call_hops() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(since(t0), secs(1));
    assert_eq!(east.instants(), [ms(0)]);
    assert_eq!(west.instants(), [secs(1)]);
    assert_eq!(east.live(), 0);
    let handle = f.handle();
    assert_eq!(failures(&handle, "east"), 1, "recorded as a failure");
    assert_eq!(
        rec.take(),
        [
            attempt("east", 1, Outcome::timeout()),
            hop("east", "west", 2, Some(490)),
            attempt("west", 2, Outcome::Success),
        ],
        "a hop after a timeout costs the timeout cost"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_answer_within_the_attempt_timeout_is_not_cut() {
    let east = Scripted::new([Step::After(ms(999), Box::new(Step::Status(200)))]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count(), since(t0)), (1, 0, ms(999)));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_hop_before_its_attempt_timeout() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([Step::Hang]);
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .deadline(ms(1500))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>(), "{e}");
    assert_eq!(since(t0), ms(1500), "west got min(1 s, 500 ms left)");
    assert_eq!(west.instants(), [secs(1)]);
    let handle = f.handle();
    assert_eq!(
        (failures(&handle, "east"), failures(&handle, "west")),
        (1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_shorter_than_the_attempt_timeout_wins() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(5))
        .deadline(ms(700))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>());
    assert_eq!((since(t0), west.count()), (ms(700), 0));
}

#[tokio::test(start_paused = true)]
async fn every_region_timing_out_ends_with_attempt_timed_out() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([Step::Hang]);
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .recover(Backoff::none())
        .build()
        .unwrap();
    let e = call(&f, 1).await.unwrap_err();
    let all = e.downcast_ref::<AllEndpointsFailed>().expect("all failed");
    let timed_out = all
        .last
        .downcast_ref::<AttemptTimedOut>()
        .expect("the last attempt was cut");
    assert_eq!(timed_out.timeout, secs(1));
    let got: Vec<_> = all
        .attempts
        .iter()
        .map(|a| (&*a.endpoint, a.outcome, a.elapsed))
        .collect();
    assert_eq!(
        got,
        [
            ("east", Outcome::timeout(), secs(1)),
            ("west", Outcome::timeout(), secs(2))
        ]
    );
    assert_eq!((east.live(), west.live()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_region_never_ready_is_skipped_after_the_attempt_timeout() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    east.set_not_ready(true);
    let budget = RetryBudget::builder().capacity(20).build().unwrap();
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .budget(budget.clone())
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(since(t0), secs(1));
    assert_eq!((east.count(), west.instants()), (0, vec![secs(1)]));
    assert_eq!(
        failures(&f.handle(), "east"),
        1,
        "not ready counts as east failing"
    );
    assert_eq!(
        rec.take(),
        [
            attempt("east", 1, Outcome::not_sent()),
            hop("east", "west", 2, Some(20)),
            attempt("west", 2, Outcome::Success),
        ],
        "nothing was sent to east: the request's first send is still free"
    );
    assert_eq!(budget.level(), Some(20));
}

/// `ready_from` is pending without a wake-up of its own: the readiness is polled again only
/// when the hop's timer fires, and by then the hop's time is up, so the attempt is not sent.
#[tokio::test(start_paused = true)]
async fn a_region_ready_only_once_its_time_is_up_is_not_sent_to() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    east.ready_from(Instant::now() + ms(400));
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(east.count(), 0);
    assert_eq!(west.instants(), [secs(1)]);
    assert_eq!(failures(&f.handle(), "east"), 1);
}

#[tokio::test(start_paused = true)]
async fn readiness_and_the_attempt_share_the_hop_time() {
    let east = Scripted::new([Step::After(ms(600), Box::new(Step::Status(200)))]);
    let west = Scripted::new([]);
    east.not_ready_for(ms(500));
    let f = regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    // east became ready at 500 ms; its answer would come at 1.1 s, past the hop's 1 s.
    assert_eq!(east.instants(), [ms(500)]);
    assert_eq!(west.instants(), [secs(1)]);
    assert_eq!(since(t0), secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_poll_ready_error_counts_as_the_endpoint_failing() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    east.fail_ready("no route to host");
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .on_event(rec.clone())
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.instants()), (0, vec![ms(0)]));
    assert_eq!(failures(&f.handle(), "east"), 1);
    assert_eq!(
        rec.take(),
        [
            attempt("east", 1, Outcome::not_sent()),
            hop("east", "west", 2, Some(500)),
            attempt("west", 2, Outcome::Success),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn poll_ready_errors_everywhere_end_with_the_last_one_and_cost_nothing() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    east.fail_ready("no route to host");
    west.fail_ready("dns failure");
    let budget = RetryBudget::builder().capacity(20).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .budget(budget.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    let all = e.downcast_ref::<AllEndpointsFailed>().unwrap();
    assert_eq!(all.last.to_string(), "dns failure");
    assert_eq!(all.attempts.len(), 8, "4 passes over 2 regions");
    assert!(
        all.attempts
            .iter()
            .all(|a| a.outcome == Outcome::not_sent())
    );
    assert_eq!(since(t0), ms(3500));
    assert_eq!(budget.level(), Some(20), "nothing was ever sent");
    assert_eq!((east.count(), west.count()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_region_that_never_gets_ready() {
    let east = Scripted::new([]);
    east.set_not_ready(true);
    let rec = Recorder::default();
    let f = regions(&[("east", &east)])
        .deadline(ms(800))
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>());
    assert_eq!(since(t0), ms(800));
    assert_eq!(east.count(), 0);
    assert_eq!(
        rec.take(),
        [
            attempt("east", 1, Outcome::not_sent()),
            Ev::Deadline("east".into(), 1),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn absurd_deadline_and_attempt_timeout_never_panic() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .deadline(steadfast::MAX_DURATION)
        .attempt_timeout(steadfast::MAX_DURATION)
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count(), since(t0)), (1, 1, ms(0)));
}

#[tokio::test(start_paused = true)]
async fn an_absurd_recover_delay_never_panics() {
    let east = Scripted::new([Step::Status(503)]);
    let f = regions(&[("east", &east)])
        .recover(Backoff::constant(steadfast::MAX_DURATION, 3))
        .build()
        .unwrap();
    let pending = tokio::time::timeout(secs(3600), call(&f, 1)).await;
    assert!(pending.is_err(), "still sleeping: the schedule says so");
    assert_eq!(east.count(), 1);
}

/// A hint of `Duration::MAX` under the largest cap pushes the endpoint back for the cap (an
/// hour), not for good.
#[tokio::test(start_paused = true)]
async fn an_absurd_retry_after_pushes_back_for_the_largest_cap_only() {
    let east = Scripted::new([Step::Hint(429, Duration::MAX)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .retry_after_cap(steadfast::MAX_RETRY_AFTER_CAP)
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    tokio::time::sleep_until(t0 + secs(3600) - ms(1)).await;
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!((east.count(), west.count()), (1, 2), "pushed back");
    tokio::time::sleep_until(t0 + secs(3600)).await;
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!((east.count(), west.count()), (2, 2), "back after the cap");
}

#[test]
fn absurd_durations_are_refused_by_name() {
    let east = Scripted::new([]);
    let err = |b: FailoverBuilder<Scripted, Classifier>| b.build().err().unwrap().to_string();
    assert_eq!(
        err(regions(&[("east", &east)]).deadline(Duration::MAX)),
        format!(
            "failover deadline is {:?}, expected at most 365 days",
            Duration::MAX
        )
    );
    assert!(
        err(regions(&[("east", &east)]).attempt_timeout(steadfast::MAX_DURATION + ms(1)))
            .starts_with("failover attempt timeout is")
    );
    assert!(
        err(regions(&[("east", &east)]).recover(Backoff::constant(Duration::MAX, 1)))
            .starts_with("failover recover delay is")
    );
    assert_eq!(
        err(regions(&[("east", &east)]).retry_after_cap(secs(3601))),
        "failover retry_after_cap is 3601s, expected at most 1 hour"
    );
}

#[tokio::test(start_paused = true)]
async fn attempt_timeouts_and_recover_sleeps_share_the_timer_exactly() {
    let east = Scripted::new([Step::Hang, Step::Hang]);
    let west = Scripted::new([Step::Hang, Step::Hang]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .attempt_timeout(secs(1))
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    // Pass 1: 0–1 s, 1–2 s; sleep 500 ms; pass 2: 2.5–3.5 s, 3.5–4.5 s; sleep 1 s; pass 3.
    assert_eq!(east.instants(), [ms(0), ms(2500), ms(5500)]);
    assert_eq!(west.instants(), [secs(1), ms(3500)]);
    assert_eq!(since(t0), ms(5500));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_an_attempt_of_a_recover_pass() {
    let east = Scripted::new([Step::Hang, Step::Hang]);
    let west = Scripted::new([Step::Hang]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .attempt_timeout(secs(1))
        .deadline(secs(3))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>(), "{e}");
    assert_eq!(
        since(t0),
        secs(3),
        "pass 2 started at 2.5 s with 500 ms left"
    );
    assert_eq!(east.instants(), [ms(0), ms(2500)]);
    assert_eq!(west.instants(), [secs(1)]);
}

/// A call of a future first polled 1 s after it was made, with a 2 s request deadline: when it
/// ends with `DeadlineExceeded`, counted from the call.
async fn request_deadline_of_a_late_poll(configured: Option<Duration>) -> Duration {
    let east = Scripted::new([Step::Hang]);
    let mut b = regions(&[("east", &east)]).options(ByRequest(|_| {
        steadfast::failover::CallOptions::new().deadline(secs(2))
    }));
    if let Some(d) = configured {
        b = b.deadline(d);
    }
    let mut f = b.build().unwrap();
    let t0 = Instant::now();
    let fut = f.call(1);
    tokio::time::sleep(secs(1)).await;
    let e = fut.await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>());
    since(t0)
}

/// `CallOptions::deadline` is "measured from the call": a future polled late still ends at the
/// call's deadline.
#[tokio::test(start_paused = true)]
async fn a_request_deadline_counts_from_the_call_with_a_configured_deadline() {
    assert_eq!(
        request_deadline_of_a_late_poll(Some(secs(10))).await,
        secs(2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_deadline_counts_from_the_call_without_a_configured_deadline() {
    assert_eq!(request_deadline_of_a_late_poll(None).await, secs(2));
}
