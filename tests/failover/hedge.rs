//! Hedged requests: the hedge fires at exactly its delay, to the next available endpoint only,
//! for replayable requests only, within the deadline and the allowance; the first answer wins
//! and the other attempt is dropped; a call dropped mid-race leaks nothing.

use std::future::Future;

use proptest::prelude::*;
use steadfast::RetryBudget;
use steadfast::breaker::BreakerState;
use steadfast::error::DeadlineExceeded;
use steadfast::failover::{CallOptions, HEDGE_RESERVE, Hedge, ReplayMarker, Switch};

use super::support::{Scripted, Step, ms, secs};
use super::*;

fn after(d: Duration, status: u16) -> Step {
    Step::After(d, Box::new(Step::Status(status)))
}

/// Two regions, east slow by `east`, west answering after `west`; hedging after 50 ms,
/// one recover-free pass, an unlimited budget unless the test gives one.
fn pair(east: &Scripted, west: &Scripted) -> FailoverBuilder<Scripted, Classifier> {
    regions(&[("east", east), ("west", west)])
        .recover(Backoff::none())
        .budget(RetryBudget::unlimited())
        .hedge(Hedge::after(ms(50)))
}

#[tokio::test(start_paused = true)]
async fn the_hedge_fires_at_exactly_its_delay_and_the_first_answer_wins() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([after(ms(10), 201)]);
    let events = Recorder::default();
    let f = pair(&east, &west).on_event(events.clone()).build().unwrap();
    let t0 = Instant::now();
    let r = call(&f, 1).await.unwrap();
    assert_eq!((r.status, since(t0)), (201, ms(60)));
    assert_eq!(east.instants(), [ms(0)]);
    assert_eq!(west.instants(), [ms(50)]);
    assert_eq!(
        west.requests(),
        [1],
        "the hedge sends a copy of the request"
    );
    // The loser is cancelled: its response future was dropped.
    assert_eq!((east.live(), west.live()), (0, 0));
    assert_eq!(
        events.take(),
        [
            Ev::Hedge("east".into(), "west".into(), ms(50)),
            attempt("west", 1, Outcome::Success),
            Ev::Settled("west".into(), true, Some("east".into())),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_attempt_answering_first_cancels_the_hedge() {
    let east = Scripted::new([after(ms(80), 200)]);
    let west = Scripted::new([Step::Hang]);
    let events = Recorder::default();
    let f = pair(&east, &west).on_event(events.clone()).build().unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(since(t0), ms(80));
    assert_eq!((east.count(), west.instants()), (1, vec![ms(50)]));
    assert_eq!((east.live(), west.live()), (0, 0));
    assert_eq!(
        events.take(),
        [
            Ev::Hedge("east".into(), "west".into(), ms(50)),
            attempt("east", 1, Outcome::Success),
            Ev::Settled("east".into(), false, Some("west".into())),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn no_hedge_when_the_first_attempt_answers_within_the_delay() {
    let east = Scripted::new([after(ms(49), 200)]);
    let west = Scripted::new([]);
    let events = Recorder::default();
    let f = pair(&east, &west).on_event(events.clone()).build().unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(west.count(), 0);
    assert_eq!(events.take(), [attempt("east", 1, Outcome::Success)]);
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_failing_waits_for_the_hedge_rather_than_retrying() {
    let east = Scripted::new([after(ms(60), 503)]);
    let west = Scripted::new([after(ms(30), 200)]);
    let events = Recorder::default();
    let f = pair(&east, &west)
        .attempts_per_endpoint(2)
        .on_event(events.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(since(t0), ms(80));
    assert_eq!(
        (east.count(), west.count()),
        (1, 1),
        "no retry while the hedge runs"
    );
    assert_eq!(
        events.take(),
        [
            Ev::Hedge("east".into(), "west".into(), ms(50)),
            attempt("east", 1, Outcome::failed()),
            attempt("west", 2, Outcome::Success),
            Ev::Settled("west".into(), true, None),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn when_both_fail_the_walk_goes_on_from_the_hedge() {
    let east = Scripted::new([after(ms(60), 503)]);
    let west = Scripted::new([after(ms(20), 503)]);
    let south = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west), ("south", &south)])
        .recover(Backoff::none())
        .budget(RetryBudget::unlimited())
        .hedge(Hedge::after(ms(50)))
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(since(t0), ms(70));
    // West (the hedge) failed at 70 ms, east at 60 ms: south is the next of the pass, at once;
    // neither east nor west is visited again in this pass.
    assert_eq!(
        (east.instants(), west.instants(), south.instants()),
        (vec![ms(0)], vec![ms(50)], vec![ms(70)])
    );
}

#[tokio::test(start_paused = true)]
async fn the_attempt_timeout_limits_each_attempt_from_its_own_start() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([Step::Hang]);
    let f = pair(&east, &west).attempt_timeout(ms(100)).build().unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    // East is cut at 100 ms; the call waits for the hedge, cut at 150 ms.
    assert_eq!(since(t0), ms(150), "{e}");
    assert_eq!((east.count(), west.count()), (1, 1));
    assert_eq!((east.live(), west.live()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn never_past_the_deadline() {
    // A request's own deadline before the delay: no hedge.
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([]);
    let f = pair(&east, &west)
        .options(ByRequest(|_| CallOptions::new().deadline(ms(40))))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>(), "{e}");
    assert_eq!((since(t0), west.count()), (ms(40), 0));

    // A hedge sent in time is cut with the call at the deadline.
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([Step::Hang]);
    let f = pair(&east, &west).deadline(ms(70)).build().unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>(), "{e}");
    assert_eq!(since(t0), ms(70));
    assert_eq!(west.instants(), [ms(50)]);
    assert_eq!((east.live(), west.live()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn never_to_an_unavailable_endpoint() {
    let east = Scripted::new([after(ms(100), 200), after(ms(100), 200)]);
    let west = Scripted::new([]);
    let south = Scripted::new([after(ms(500), 200)]);
    let f = regions(&[("east", &east), ("west", &west), ("south", &south)])
        .recover(Backoff::none())
        .budget(RetryBudget::unlimited())
        .breakers(never_trip)
        .hedge(Hedge::after(ms(50)))
        .build()
        .unwrap();
    let handle = f.handle();
    // West's breaker is open: the hedge goes to south.
    trip(&handle, "west");
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((west.count(), south.instants()), (0, vec![ms(50)]));
    // South switched off as well: no endpoint to hedge to, no hedge.
    handle.routing().set("south", Switch::Off).unwrap();
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!((west.count(), south.count(), east.count()), (0, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_request_that_may_not_be_sent_twice_is_never_hedged() {
    // No copy at all.
    let east = Scripted::new([after(ms(100), 200)]);
    let west = Scripted::new([]);
    let f = pair(&east, &west).replay(|_: &u32| None).build().unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(west.count(), 0);

    // A copy, but the rule sends it again only when the first cannot have been applied.
    let east = Scripted::new([
        after(ms(100), 200),
        after(ms(100), 200),
        after(ms(100), 200),
    ]);
    let f = pair(&east, &west)
        .replay(OnlyIfNotApplied)
        .options(ByRequest(|r| match r {
            2 => CallOptions::new().replay(ReplayMarker::Always),
            3 => CallOptions::new().replay(ReplayMarker::Once),
            _ => CallOptions::new(),
        }))
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(west.count(), 0);
    // Marked safe to send again: hedged.
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!(west.requests(), [2]);
    // Marked to be sent once: never.
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!(west.requests(), [2]);
}

#[tokio::test(start_paused = true)]
async fn the_allowance_caps_hedges_at_the_ratio_plus_its_reserve() {
    // Every first attempt is slow: every call would hedge.
    let east = Scripted::new((0..100).map(|_| after(ms(100), 200)));
    let west = Scripted::new((0..100).map(|_| Step::Hang));
    let f = pair(&east, &west).build().unwrap();
    for i in 0..100 {
        assert_eq!(status(call(&f, i).await), 200);
    }
    // The reserve (10) and the first call's tenth: 11 calls in a row, then one in ten.
    assert_eq!(HEDGE_RESERVE, 10);
    assert_eq!(west.count(), 11 + 8);
    assert_eq!(west.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn hedges_spend_the_retry_budget() {
    let east = Scripted::new((0..5).map(|_| after(ms(100), 200)));
    let west = Scripted::new((0..5).map(|_| Step::Hang));
    // Room for two hedges at the retry cost (5), and successes deposit nothing.
    let budget = RetryBudget::builder()
        .capacity(10)
        .success_deposit(0)
        .build()
        .unwrap();
    let f = pair(&east, &west)
        .budget(budget.clone())
        .hedge(Hedge::after(ms(50)).max_ratio(1.0))
        .build()
        .unwrap();
    for i in 0..5 {
        assert_eq!(status(call(&f, i).await), 200);
    }
    assert_eq!((west.count(), budget.level()), (2, Some(0)));
}

#[tokio::test(start_paused = true)]
async fn a_percentile_delay_follows_the_recorded_latencies_with_its_floor() {
    let east = Scripted::new(
        (0..15)
            .map(|_| after(ms(40), 200))
            .chain([Step::Hang])
            .chain((0..1).map(|_| after(ms(40), 200)))
            .chain([Step::Hang]),
    );
    let west = Scripted::new([]);
    let f = pair(&east, &west)
        .hedge(Hedge::percentile(0.5).floor(ms(20)))
        .attempt_timeout(ms(1000))
        .build()
        .unwrap();
    for i in 0..15 {
        assert_eq!(status(call(&f, i).await), 200);
    }
    // 15 latencies: too few, no hedge; the hang is cut by the attempt timeout and west serves.
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 15).await), 200);
    assert_eq!(since(t0), ms(1000));
    assert_eq!(west.count(), 1);
    // The 16th latency makes the median 40 ms: the next slow call hedges at 40 ms.
    assert_eq!(status(call(&f, 16).await), 200);
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 17).await), 200);
    assert_eq!(since(t0), ms(40));
    assert_eq!(west.count(), 2);

    // The floor wins over a lower percentile.
    let east = Scripted::new((0..16).map(|_| after(ms(5), 200)).chain([Step::Hang]));
    let west = Scripted::new([]);
    let f = pair(&east, &west)
        .hedge(Hedge::percentile(0.99).floor(ms(30)))
        .build()
        .unwrap();
    for i in 0..16 {
        assert_eq!(status(call(&f, i).await), 200);
    }
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 16).await), 200);
    assert_eq!(since(t0), ms(30));
}

/// Polls `fut` for `d` (paused time), then drops it.
async fn drop_after<F: Future>(d: Duration, fut: F) {
    assert!(tokio::time::timeout(d, fut).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_mid_race_leaks_nothing() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([Step::Hang]);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = pair(&east, &west)
        .budget(budget.clone())
        .breakers(one_probe)
        .build()
        .unwrap();
    let handle = f.handle();
    // West half-open: the hedge is its one probe.
    trip(&handle, "west");
    tokio::time::sleep(secs(10)).await;
    drop_after(ms(60), call(&f, 1)).await;
    assert_eq!((east.count(), west.count()), (1, 1));
    assert_eq!((east.live(), west.live()), (0, 0), "both attempts dropped");
    assert!(admits(&handle, "west"), "the probe slot came back");
    assert_eq!(handle.breaker_state("west"), Some(BreakerState::HalfOpen));
    assert_eq!(
        failures(&handle, "east"),
        0,
        "the dropped attempt recorded nothing"
    );
    // The hedge was sent: its tokens are spent.
    assert_eq!(budget.level(), Some(95));

    // Dropped while the hedge's service is readying: its tokens come back.
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([]);
    west.set_not_ready(true);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = pair(&east, &west).budget(budget.clone()).build().unwrap();
    drop_after(ms(60), call(&f, 1)).await;
    assert_eq!((east.live(), west.count()), (0, 0));
    assert_eq!(budget.level(), Some(100));
}

#[tokio::test(start_paused = true)]
async fn a_hedge_whose_service_is_not_ready_in_time_gives_its_tokens_back() {
    let east = Scripted::new([after(ms(200), 200)]);
    let west = Scripted::new([]);
    west.set_not_ready(true);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = pair(&east, &west)
        .budget(budget.clone())
        .attempt_timeout(ms(100))
        .build()
        .unwrap();
    let t0 = Instant::now();
    // East is cut at 100 ms; the hedge, not ready by 150 ms, is not sent.
    let e = call(&f, 1).await.unwrap_err();
    assert_eq!(since(t0), ms(150), "{e}");
    assert_eq!(west.count(), 0);
    assert_eq!(budget.level(), Some(100));
}

#[test]
fn invalid_hedges_are_refused_with_their_setting() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let build = |h: Hedge| pair(&east, &west).attempt_timeout(ms(100)).hedge(h).build();
    let setting = |h| match build(h) {
        Err(steadfast::ConfigError::Invalid { setting, .. }) => setting,
        other => panic!("expected an invalid setting, got {other:?}"),
    };
    assert_eq!(setting(Hedge::after(ms(0))), "failover hedge delay");
    assert_eq!(setting(Hedge::after(ms(100))), "failover hedge delay");
    assert_eq!(setting(Hedge::percentile(0.0)), "failover hedge percentile");
    assert_eq!(
        setting(Hedge::percentile(0.9).floor(ms(200))),
        "failover hedge floor"
    );
    assert_eq!(
        setting(Hedge::after(ms(5)).max_ratio(2.0)),
        "failover hedge max_ratio"
    );
    assert!(build(Hedge::after(ms(99))).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Whatever the latencies: at most one hedge per call, hedges within the ratio's share of
    /// the calls plus the reserve, never more attempts than the walk's bound plus the hedge,
    /// and no response future left alive.
    #[test]
    fn hedges_stay_within_their_bounds(
        east_ms in proptest::collection::vec(0u64..200, 1..40),
        west_ms in proptest::collection::vec(0u64..200, 40),
        fail in proptest::collection::vec(any::<bool>(), 40),
        ratio_thousandths in 1u32..=1000,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let step = |d: u64, fail: bool| after(ms(d), if fail { 503 } else { 200 });
            let east = Scripted::new(east_ms.iter().zip(&fail).map(|(d, f)| step(*d, *f)));
            let west = Scripted::new(west_ms.iter().zip(&fail).map(|(d, f)| step(*d, !*f)));
            let events = Recorder::default();
            let ratio = f64::from(ratio_thousandths) / 1000.0;
            let f = pair(&east, &west)
                .hedge(Hedge::after(ms(50)).max_ratio(ratio))
                .on_event(events.clone())
                .build()
                .unwrap();
            let calls = east_ms.len();
            let mut hedges = 0;
            for i in 0..calls {
                let _ = call(&f, i as u32).await;
                let evs = events.take();
                let n = evs.iter().filter(|e| matches!(e, Ev::Hedge(..))).count();
                prop_assert!(n <= 1, "{evs:?}");
                let attempts = evs.iter().filter(|e| matches!(e, Ev::Attempt(..))).count();
                prop_assert!(attempts <= 2, "{evs:?}");
                hedges += n;
            }
            let cap = ratio * calls as f64 + f64::from(HEDGE_RESERVE);
            prop_assert!(hedges as f64 <= cap, "{hedges} hedges over {calls} calls at {ratio}");
            prop_assert_eq!((east.live(), west.live()), (0, 0));
            Ok(())
        })?;
    }
}
