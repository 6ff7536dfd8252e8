//! The recover loop: passes at the schedule's exact times when every region fails, a success in
//! any pass ends the call, and no endpoint available ends it at once (or waits for the first one
//! that comes within the next recover delay and the deadline).

use steadfast::event::GiveUpReason;
use steadfast::{AllEndpointsFailed, NoEndpointAvailable, Outcome};

use super::support::{Scripted, Step, ms, secs};
use super::*;

#[tokio::test(start_paused = true)]
async fn all_failing_walks_again_at_the_recover_schedule() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 4));
    let west = Scripted::new(std::iter::repeat_n(Step::Status(503), 3));
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(east.instants(), [ms(0), ms(500), ms(1500), ms(3500)]);
    assert_eq!(west.instants(), [ms(0), ms(500), ms(1500), ms(3500)]);
    assert_eq!(since(t0), ms(3500));
}

#[tokio::test(start_paused = true)]
async fn a_success_in_a_recover_pass_ends_the_call() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 10));
    let west = Scripted::new([Step::Status(503), Step::Err("reset")]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(east.instants(), [ms(0), ms(500), ms(1500)]);
    assert_eq!(west.instants(), [ms(0), ms(500), ms(1500)]);
    assert_eq!(since(t0), ms(1500), "no sleep after the success");
}

#[tokio::test(start_paused = true)]
async fn errors_end_as_all_endpoints_failed_with_every_attempt() {
    let east = Scripted::new(std::iter::repeat_n(Step::Err("reset"), 4));
    let west = Scripted::new(std::iter::repeat_n(Step::Err("refused"), 4));
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .on_event(rec.clone())
        .build()
        .unwrap();
    let e = call(&f, 1).await.unwrap_err();
    let all = e.downcast_ref::<AllEndpointsFailed>().expect("all failed");
    assert_eq!(all.attempts.len(), 8);
    assert_eq!(all.last.to_string(), "refused");
    let source = std::error::Error::source(all).expect("the last error is the source");
    assert_eq!(source.to_string(), "refused");
    let names: Vec<_> = all.attempts.iter().map(|a| &*a.endpoint).collect();
    assert_eq!(names, ["east", "west"].repeat(4));
    let elapsed: Vec<_> = all.attempts.iter().map(|a| a.elapsed).collect();
    assert_eq!(
        elapsed,
        [0, 0, 500, 500, 1500, 1500, 3500, 3500].map(ms),
        "measured from the end of the first attempt (no deadline, no timeout)"
    );
    assert!(all.attempts.iter().all(|a| a.outcome == Outcome::failed()));
    let gave_up = rec.take().pop();
    assert_eq!(
        gave_up,
        Some(Ev::GaveUp(
            Some("west".into()),
            8,
            GiveUpReason::RetriesExhausted
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_response_last_is_returned_as_it_is() {
    let east = Scripted::new(std::iter::repeat_n(Step::Err("reset"), 4));
    let west = Scripted::new(std::iter::repeat_n(Step::Status(502), 4));
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 502);
    assert_eq!((east.count(), west.count()), (4, 4));
}

#[tokio::test(start_paused = true)]
async fn no_recover_schedule_makes_one_pass() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([Step::Status(503)]);
    let f = regions(&[("east", &east), ("west", &west)])
        .recover(Backoff::none())
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 503);
    assert_eq!((east.count(), west.count(), since(t0)), (1, 1, ms(0)));
}

#[tokio::test(start_paused = true)]
async fn a_recover_sleep_that_would_cross_the_deadline_is_not_started() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 4));
    let west = Scripted::new(std::iter::repeat_n(Step::Status(503), 4));
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .deadline(ms(1200))
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(
        status(call(&f, 1).await),
        503,
        "the last error, not DeadlineExceeded"
    );
    // 500 ms fits before the 1.2 s deadline; 500 ms + 1 s does not.
    assert_eq!(east.instants(), [ms(0), ms(500)]);
    assert_eq!(since(t0), ms(500), "returned at once, without sleeping");
    assert_eq!(
        rec.take().pop(),
        Some(Ev::GaveUp(Some("west".into()), 4, GiveUpReason::Deadline))
    );
}

#[tokio::test(start_paused = true)]
async fn all_breakers_open_beyond_the_next_recover_delay_fail_at_once() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1).open_duration(secs(30)))
        .on_event(rec.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    trip(&handle, "east");
    tokio::time::sleep(secs(10)).await;
    trip(&handle, "west");
    tokio::time::sleep(secs(1)).await;
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert_eq!(since(t0), ms(0), "no sleep");
    let none = e
        .downcast_ref::<NoEndpointAvailable>()
        .expect("no endpoint");
    assert_eq!(
        none.retry_in,
        Some(secs(19)),
        "the earliest endpoint: east, 30 s after it opened"
    );
    assert_eq!((east.count(), west.count()), (0, 0));
    assert_eq!(
        rec.take(),
        [
            Ev::Unavailable("east".into(), Unavailable::BreakerOpen),
            Ev::Unavailable("west".into(), Unavailable::BreakerOpen),
            Ev::GaveUp(None, 0, GiveUpReason::NoEndpointAvailable),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn all_breakers_open_with_retry_in_beyond_the_deadline_fail_at_once() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1).open_duration(ms(400)))
        .deadline(ms(300))
        .build()
        .unwrap();
    let handle = f.handle();
    trip(&handle, "east");
    trip(&handle, "west");
    tokio::time::sleep(ms(100)).await;
    // east and west admit probes in 300 ms, within the next recover delay (500 ms), but not
    // within the 300 ms deadline (an attempt needs room after the wait).
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert_eq!(since(t0), ms(0), "no sleep");
    let none = e.downcast_ref::<NoEndpointAvailable>().unwrap();
    assert_eq!(none.retry_in, Some(ms(300)));
    assert_eq!((east.count(), west.count()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn the_earliest_endpoint_within_the_next_recover_delay_is_waited_for() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1).open_duration(ms(400)))
        .deadline(secs(2))
        .on_event(rec.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    trip(&handle, "east");
    tokio::time::sleep(ms(100)).await;
    trip(&handle, "west");
    tokio::time::sleep(ms(50)).await;
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(since(t0), ms(250), "exactly until east admits a probe");
    assert_eq!(east.instants(), [ms(400)]);
    assert_eq!(west.count(), 0);
    let events = rec.take();
    assert_eq!(
        events[..3],
        [
            Ev::Unavailable("east".into(), Unavailable::BreakerOpen),
            Ev::Unavailable("west".into(), Unavailable::BreakerOpen),
            Ev::Pass(2, ms(250)),
        ]
    );
    assert_eq!(
        handle.breaker_state("east"),
        Some(BreakerState::HalfOpen),
        "the call was one of its probes"
    );
}

#[tokio::test(start_paused = true)]
async fn no_endpoint_and_no_recover_pass_left_fail_at_once() {
    let east = Scripted::new([]);
    let f = regions(&[("east", &east)])
        .breakers(|b| b.consecutive_failures(1).open_duration(ms(100)))
        .recover(Backoff::none())
        .build()
        .unwrap();
    trip(&f.handle(), "east");
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert_eq!(since(t0), ms(0));
    assert_eq!(
        e.downcast_ref::<NoEndpointAvailable>().unwrap().retry_in,
        Some(ms(100))
    );
}

/// A pass that finds every breaker open after failures returns the last failure (which says
/// more than "no endpoint"), without sleeping further.
#[tokio::test(start_paused = true)]
async fn breakers_opened_by_the_call_end_it_with_its_last_failure() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([Step::Err("reset")]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1).open_duration(secs(30)))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    let all = e.downcast_ref::<AllEndpointsFailed>().unwrap();
    assert_eq!(all.attempts.len(), 2);
    assert_eq!(all.last.to_string(), "reset");
    assert_eq!(
        since(t0),
        ms(500),
        "one recover pass found both open, 29.5 s away"
    );
    assert_eq!((east.count(), west.count()), (1, 1));
}
