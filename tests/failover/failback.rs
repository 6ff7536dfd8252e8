//! Failback: `Immediate`, `After(hold_down)` and `Manual` at exactly the right instants, what
//! the handle reports meanwhile, a flapping primary, and failed probes.
//!
//! The primary's breaker is scripted through `.breakers(..)`: it opens on its first failure (or
//! second) for 10 s, then admits probes.

use steadfast::breaker::BreakerState;
use steadfast::failover::{Failback, Unavailable};

use super::support::{Scripted, Step, ms, secs};
use super::*;

/// An answer 100 ms late, so that calls made together overlap.
fn slow_ok() -> Step {
    Step::After(ms(100), Box::new(Step::Status(200)))
}

/// A failure 100 ms late: the trickle slot stays taken meanwhile.
fn slow_503() -> Step {
    Step::After(ms(100), Box::new(Step::Status(503)))
}

/// `failures` 503s, then slow 200s.
fn recovering(failures: usize) -> Scripted {
    Scripted::new(
        std::iter::repeat_n(Step::Status(503), failures)
            .chain(std::iter::repeat_with(slow_ok).take(1000)),
    )
}

/// Makes `n` calls at once (each spawned, so they overlap), and returns their statuses.
async fn burst(f: &impl Client, n: u32) -> Vec<u16> {
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(f.clone().oneshot(i))).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(status(t.await.unwrap()));
    }
    out
}

/// How many of a burst of 3 calls made now go to east.
async fn east_share(f: &impl Client, east: &Scripted) -> usize {
    let before = east.count();
    assert_eq!(burst(f, 3).await, [200, 200, 200]);
    east.count() - before
}

/// Checks that the hold-down ends at exactly `at`: a call made 2 ms before holds east's trickle
/// slot (east answers in 100 ms); a call 1 ms before then goes to west, and a call at `at` goes
/// to east by priority.
async fn hold_down_ends_at(f: &impl Client, east: &Scripted, at: Instant) {
    tokio::time::sleep_until(at - ms(2)).await;
    let before = east.count();
    let holder = tokio::spawn(f.clone().oneshot(0));
    tokio::time::sleep_until(at - ms(1)).await;
    assert_eq!(east.count(), before + 1, "the trickle call");
    assert_eq!(status(call(f, 1).await), 200);
    assert_eq!(east.count(), before + 1, "1 ms before the end: to west");
    tokio::time::sleep_until(at).await;
    assert_eq!(status(call(f, 2).await), 200);
    assert_eq!(east.count(), before + 2, "at the end: to east, by priority");
    assert_eq!(status(holder.await.unwrap()), 200);
}

#[tokio::test(start_paused = true)]
async fn immediate_returns_all_traffic_once_the_probes_close_the_breaker() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| one_probe(b).probes(2).required_successes(2))
        .failback(Failback::Immediate)
        .on_event(rec.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(
        &*handle.serving().endpoint,
        "east",
        "no call started elsewhere yet"
    );
    for at in [secs(1), ms(9999)] {
        tokio::time::sleep_until(t0 + at).await;
        assert_eq!(status(call(&f, 2).await), 200);
        let serving = handle.serving();
        assert_eq!(&*serving.endpoint, "west");
        let over = serving.failed_over.unwrap();
        assert_eq!(
            (&*over.from, over.reason, over.hold_down_left),
            ("east", Some(Unavailable::BreakerOpen), None)
        );
    }
    tokio::time::sleep_until(t0 + secs(10)).await;
    // Two probes close the breaker; they do not move the serving endpoint.
    for _ in 0..2 {
        assert_eq!(status(call(&f, 3).await), 200);
        assert_eq!(&*handle.serving().endpoint, "west");
    }
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Closed));
    assert_eq!(
        handle.serving().failed_over.unwrap().reason,
        None,
        "available again, no call back yet"
    );
    assert_eq!(status(call(&f, 4).await), 200);
    assert_eq!(handle.serving().failed_over, None);
    assert_eq!(&*handle.serving().endpoint, "east");
    assert_eq!(east.instants(), [ms(0), secs(10), secs(10), secs(10)]);
    assert_eq!(west.instants(), [ms(0), secs(1), ms(9999)]);
    let routing: Vec<_> = rec
        .take()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Ev::Over(..) | Ev::Back(..) | Ev::Unavailable(..) | Ev::Available(..)
            )
        })
        .collect();
    assert_eq!(
        routing,
        [
            Ev::Unavailable("east".into(), Unavailable::BreakerOpen),
            Ev::Over("east".into(), "west".into(), Some(Unavailable::BreakerOpen)),
            Ev::Available("east".into()),
            Ev::Back("west".into(), "east".into()),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn immediate_sends_only_probes_to_a_half_open_primary() {
    let east = recovering(1);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| one_probe(b).probes(2).required_successes(2))
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    tokio::time::sleep_until(t0 + secs(10)).await;
    assert_eq!(east_share(&f, &east).await, 2, "two probe slots");
    assert_eq!(west.count(), 2);
    assert_eq!(east_share(&f, &east).await, 3, "closed: all traffic back");
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_hops_on_and_the_caller_still_succeeds() {
    let east = Scripted::new([Step::Status(503), Step::Err("reset")]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(one_probe)
        .on_event(rec.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    tokio::time::sleep_until(t0 + secs(10)).await;
    rec.take();
    assert_eq!(
        status(call(&f, 2).await),
        200,
        "the caller does not see the probe"
    );
    assert_eq!(east.instants(), [ms(0), secs(10)]);
    assert_eq!(west.instants(), [ms(0), secs(10)]);
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Open));
    assert_eq!(
        handle.breaker("east").unwrap().snapshot(now()).half_open_in,
        Some(secs(10)),
        "open again for its open duration"
    );
    let events = rec.take();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Ev::Attempt(..) | Ev::Hop(..)))
            .cloned()
            .collect::<Vec<_>>(),
        [
            attempt("east", 1, Outcome::failed()),
            hop("east", "west", 2, Some(495)),
            attempt("west", 2, Outcome::Success),
        ]
    );
}

/// Under `After`, a primary whose breaker is open is not serving: the handle says so, with why,
/// as under `Immediate`.
#[tokio::test(start_paused = true)]
async fn after_reports_the_secondary_serving_while_the_primary_is_open() {
    let east = recovering(1);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1).open_duration(secs(10)))
        .failback(Failback::After(secs(60)))
        .on_event(rec.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    tokio::time::sleep_until(t0 + secs(1)).await;
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!((east.count(), west.count()), (1, 2));
    let serving = handle.serving();
    assert_eq!(&*serving.endpoint, "west", "every call starts at west");
    let over = serving.failed_over.expect("failed over");
    assert_eq!(over.reason, Some(Unavailable::BreakerOpen));
    assert!(rec.take().contains(&Ev::Over(
        "east".into(),
        "west".into(),
        Some(Unavailable::BreakerOpen)
    )));
}

#[tokio::test(start_paused = true)]
async fn after_hold_down_gives_a_trickle_then_all_traffic_at_exactly_the_hold_down() {
    let east = recovering(1);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(one_probe)
        .failback(Failback::After(secs(60)))
        .on_event(rec.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    tokio::time::sleep_until(t0 + secs(10)).await;
    // One probe at a time while half-open; it closes the breaker.
    assert_eq!(east_share(&f, &east).await, 1);
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Closed));
    // Closed: a trickle of one call at a time.
    assert_eq!(east_share(&f, &east).await, 1);
    let serving = handle.serving();
    assert_eq!(&*serving.endpoint, "west");
    let over = serving.failed_over.unwrap();
    assert_eq!(over.reason, Some(Unavailable::FailbackPending));
    assert_eq!(over.hold_down_left, Some(ms(59_900)));
    tokio::time::sleep_until(t0 + secs(30)).await;
    assert_eq!(east_share(&f, &east).await, 1);
    // The hold-down started when the probe closed the breaker, at 10.1 s: it ends at 70.1 s.
    assert_eq!(
        handle.serving().failed_over.unwrap().hold_down_left,
        Some(secs(40))
    );
    hold_down_ends_at(&f, &east, t0 + ms(70_100)).await;
    assert_eq!(
        east_share(&f, &east).await,
        3,
        "the hold-down is over: all traffic"
    );
    assert_eq!(&*handle.serving().endpoint, "east");
    assert_eq!(handle.serving().failed_over, None);
    assert!(rec.take().contains(&Ev::Back("west".into(), "east".into())));
}

#[tokio::test(start_paused = true)]
async fn after_hold_down_restarts_on_a_failure() {
    // east: trips at 0, probe at 10 s, trickle ok, one failure at 40 s (not enough to trip the
    // breaker again: two in a row are needed), then ok.
    let east = Scripted::new(
        [Step::Status(503), Step::Status(503)]
            .into_iter()
            .chain(std::iter::repeat_with(slow_ok).take(3))
            .chain([slow_503()])
            .chain(std::iter::repeat_with(slow_ok).take(100)),
    );
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| one_probe(b).consecutive_failures(2))
        .failback(Failback::After(secs(60)))
        .build()
        .unwrap();
    let handle = f.handle();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Open));
    tokio::time::sleep_until(t0 + secs(10)).await;
    assert_eq!(east_share(&f, &east).await, 1, "the probe");
    assert_eq!(
        east_share(&f, &east).await,
        1,
        "the trickle; hold-down from 10.1 s"
    );
    tokio::time::sleep_until(t0 + secs(20)).await;
    assert_eq!(east_share(&f, &east).await, 1);
    tokio::time::sleep_until(t0 + secs(40)).await;
    // The trickle call fails at 40.1 s (and hops to west): the hold-down starts again with
    // the next trickle call.
    assert_eq!(east_share(&f, &east).await, 1);
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Closed));
    tokio::time::sleep_until(t0 + secs(41)).await;
    assert_eq!(
        east_share(&f, &east).await,
        1,
        "trickle again; hold-down from 41 s"
    );
    tokio::time::sleep_until(t0 + ms(70_100)).await;
    assert_eq!(
        east_share(&f, &east).await,
        1,
        "the first hold-down no longer counts"
    );
    hold_down_ends_at(&f, &east, t0 + secs(101)).await;
    assert_eq!(east_share(&f, &east).await, 3);
}

#[tokio::test(start_paused = true)]
async fn a_flapping_primary_never_gets_full_traffic_back_under_after() {
    // After its first outage east fails one call in ten, forever: never 60 s without a failure.
    let east = Scripted::new(
        [Step::Status(503), Step::Status(503)]
            .into_iter()
            .chain((0..400).map(|i| if i % 10 == 9 { slow_503() } else { slow_ok() })),
    );
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| one_probe(b).consecutive_failures(2))
        .failback(Failback::After(secs(60)))
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(status(call(&f, 2).await), 200);
    let mut shares = Vec::new();
    for round in 1..=300u64 {
        tokio::time::sleep_until(t0 + secs(round)).await;
        shares.push(east_share(&f, &east).await);
    }
    assert!(shares.iter().all(|&s| s <= 1), "{shares:?}");
    assert!(
        shares.iter().filter(|&&s| s == 1).count() > 250,
        "the trickle keeps going: {shares:?}"
    );
    assert_eq!(&*f.handle().serving().endpoint, "west");
}

#[tokio::test(start_paused = true)]
async fn manual_stays_on_the_secondary_until_fail_back() {
    let east = recovering(1);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(one_probe)
        .failback(Failback::Manual)
        .on_event(rec.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    tokio::time::sleep_until(t0 + secs(10)).await;
    assert_eq!(east_share(&f, &east).await, 1, "a probe");
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Closed));
    for at in [60, 600, 3600] {
        tokio::time::sleep_until(t0 + secs(at)).await;
        assert_eq!(east_share(&f, &east).await, 1, "only the trickle at {at} s");
        let serving = handle.serving();
        assert_eq!(&*serving.endpoint, "west");
        let over = serving.failed_over.unwrap();
        assert_eq!(
            (over.reason, over.hold_down_left),
            (Some(Unavailable::FailbackPending), None)
        );
    }
    rec.take();
    handle.fail_back();
    assert_eq!(east_share(&f, &east).await, 3, "all traffic back");
    assert_eq!(&*handle.serving().endpoint, "east");
    assert_eq!(handle.serving().failed_over, None);
    assert!(rec.take().contains(&Ev::Back("west".into(), "east".into())));
}

#[tokio::test(start_paused = true)]
async fn fail_back_ends_a_hold_down_early() {
    let east = recovering(1);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(one_probe)
        .failback(Failback::After(secs(600)))
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    tokio::time::sleep_until(t0 + secs(10)).await;
    assert_eq!(east_share(&f, &east).await, 1);
    assert_eq!(east_share(&f, &east).await, 1);
    f.handle().fail_back();
    assert_eq!(east_share(&f, &east).await, 3);
}

#[tokio::test(start_paused = true)]
async fn fail_back_does_not_override_an_open_breaker() {
    let east = recovering(1);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1).open_duration(secs(10)))
        .failback(Failback::Manual)
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    f.handle().fail_back();
    assert_eq!(east_share(&f, &east).await, 0, "the breaker still rules");
}

#[tokio::test(start_paused = true)]
async fn a_single_endpoint_under_after_is_never_starved_by_its_trickle() {
    let east = recovering(1);
    let f = regions(&[("east", &east)])
        .breakers(one_probe)
        .failback(Failback::After(secs(60)))
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 503, "nowhere to hop");
    tokio::time::sleep_until(t0 + secs(10)).await;
    // Half-open: one probe; the others find no endpoint (no slot, no time to wait for).
    let tasks: Vec<_> = (0..3).map(|i| tokio::spawn(f.clone().oneshot(i))).collect();
    let mut none = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => assert_eq!(r.status, 200),
            Err(e) => {
                assert!(e.is::<steadfast::NoEndpointAvailable>(), "{e}");
                none += 1;
            }
        }
    }
    assert_eq!((east.count(), none), (2, 2));
    assert_eq!(
        east_share(&f, &east).await,
        3,
        "closed: every call, trickle or not"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rejected_probe_is_returned_and_frees_its_slot() {
    let east = Scripted::new([Step::Status(503), Step::Status(404)]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(one_probe)
        .build()
        .unwrap();
    let handle = f.handle();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    tokio::time::sleep_until(t0 + secs(10)).await;
    assert_eq!(status(call(&f, 2).await), 404, "a rejection is an answer");
    assert_eq!((east.count(), west.count()), (2, 1));
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::HalfOpen));
    assert!(admits(&handle, "east"), "the probe slot is free again");
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Closed));
}
