//! One behaviour table per knob of the breaker, under explicit instants. Each row of a table is a
//! step: at an instant, an action (a call with its outcome, a call that must be rejected with
//! a given `retry_in`, a probe held or finished, a manual transition), then the state the next
//! call would find and, where given, the snapshot's probes and rejections. Each table runs the
//! default beside the peer's mode it borrows (resilience4j, Polly, failsafe). The last test
//! drives probe renewal through the layer under paused time.

use std::time::{Duration, Instant};

use steadfast::Outcome;
use steadfast::breaker::{
    BreakerState::{self, Closed, HalfOpen, Open},
    CircuitBreaker, CircuitBreakerBuilder, HalfOpenDecision, Permit, TripCheck,
};

#[derive(Debug, Clone, Copy)]
enum Act {
    /// A call admitted at once, and its outcome: success (true) or failure (false).
    Call(bool),
    /// A call rejected, with this `retry_in`.
    Rejected(Option<Duration>),
    /// A call admitted and held in this slot.
    Hold(usize),
    /// The held call of this slot ends: success (true) or failure (false).
    Finish(usize, bool),
    /// `open(now)`.
    ManualOpen,
    /// `half_open(now)`.
    ManualHalfOpen,
    /// Nothing: only look.
    Look,
}
use Act::*;

/// (milliseconds after the start, the action, the state the next call would find, the
/// snapshot's probes (admitted, in flight, succeeded, failed) if given).
type Step = (u64, Act, BreakerState, Option<(u32, u32, u32, u32)>);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A half-open maximum wait is over one nanosecond after it has passed (it is exceeded
/// strictly), so a rejection while every probe slot is taken, with a wait that closes the
/// breaker, says so.
const NS: Duration = Duration::from_nanos(1);

fn outcome(success: bool) -> Outcome {
    if success {
        Outcome::Success
    } else {
        Outcome::failed()
    }
}

fn run(name: &str, builder: CircuitBreakerBuilder, steps: &[Step]) -> CircuitBreaker {
    let b = builder.build().unwrap();
    let t0 = Instant::now();
    let mut held: Vec<Option<Permit<CircuitBreaker>>> = (0..8).map(|_| None).collect();
    for (i, &(at, act, state, probes)) in steps.iter().enumerate() {
        let now = t0 + Duration::from_millis(at);
        let row = format!("{name}, step {i} at {at} ms: {act:?}");
        match act {
            Call(success) => Permit::acquire(b.clone(), now)
                .unwrap_or_else(|r| panic!("{row}: rejected {r:?}"))
                .record(&outcome(success), now),
            Rejected(retry_in) => {
                let r = Permit::acquire(b.clone(), now).expect_err(&row);
                assert_eq!(r.retry_in, retry_in, "{row}");
            }
            Hold(slot) => {
                let p = Permit::acquire(b.clone(), now)
                    .unwrap_or_else(|r| panic!("{row}: rejected {r:?}"));
                held[slot] = Some(p);
            }
            Finish(slot, success) => held[slot]
                .take()
                .expect("a held call")
                .record(&outcome(success), now),
            ManualOpen => b.open(now),
            ManualHalfOpen => b.half_open(now),
            Look => {}
        }
        assert_eq!(
            b.state_at(now),
            state,
            "{row}: the state the next call would find"
        );
        let snap = b.snapshot(now);
        assert_eq!(snap.state, state, "{row}: the snapshot's state");
        if let Some(p) = probes {
            let got = (
                snap.probes_admitted,
                snap.probes_in_flight,
                snap.probes_succeeded,
                snap.probes_failed,
            );
            assert_eq!(
                got, p,
                "{row}: probes (admitted, in flight, succeeded, failed)"
            );
        }
    }
    b
}

/// A window of 4 calls evaluated from the 4th, tripping at 50 %, no consecutive rule, open 1 s.
fn small() -> CircuitBreakerBuilder {
    CircuitBreaker::builder()
        .window(4)
        .minimum_calls(4)
        .consecutive_failures(None)
        .open_duration(Duration::from_secs(1))
}

#[test]
fn trip_check_every_outcome_or_on_failure_only() {
    let prefix: [Step; 3] = [
        (0, Call(false), Closed, None),
        (0, Call(false), Closed, None),
        (0, Call(true), Closed, None),
    ];
    // resilience4j and failsafe (the default): the success that fills the window trips it.
    let every = [prefix.as_slice(), &[(0, Call(true), Open, None)]].concat();
    run("every outcome", small(), &every);
    // Polly: a success never trips; the next failure evaluates the window (2 of the last 4).
    let on_failure = [
        prefix.as_slice(),
        &[(0, Call(true), Closed, None), (0, Call(false), Open, None)],
    ]
    .concat();
    run(
        "on failure",
        small().trip_check(TripCheck::OnFailure),
        &on_failure,
    );
}

#[test]
fn half_open_by_counts_with_several_failures_failsafe() {
    let tripped: [Step; 1] = [(0, ManualOpen, Open, None)];
    // Default: the first failed probe reopens.
    let first = [
        tripped.as_slice(),
        &[
            (1_000, Hold(0), HalfOpen, Some((1, 1, 0, 0))),
            (1_000, Finish(0, false), Open, None),
        ],
    ]
    .concat();
    run("first failure reopens", small(), &first);
    // failsafe: close after 2 successes, reopen after 2 failed probes, 3 at once.
    let knob = || small().probes(3).required_successes(2).probe_failures(2);
    let reopen = [
        tripped.as_slice(),
        &[
            (1_000, Hold(0), HalfOpen, Some((1, 1, 0, 0))),
            (1_000, Hold(1), HalfOpen, Some((2, 2, 0, 0))),
            (1_000, Hold(2), HalfOpen, Some((3, 3, 0, 0))),
            (1_000, Rejected(None), HalfOpen, Some((3, 3, 0, 0))),
            (1_100, Finish(0, false), HalfOpen, Some((3, 2, 0, 1))),
            (1_100, Finish(1, true), HalfOpen, Some((3, 1, 1, 1))),
            (1_200, Finish(2, false), Open, Some((0, 0, 0, 0))),
        ],
    ]
    .concat();
    run("two failed probes reopen", knob(), &reopen);
    let close = [
        tripped.as_slice(),
        &[
            (1_000, Hold(0), HalfOpen, None),
            (1_000, Call(false), HalfOpen, Some((2, 1, 0, 1))),
            (1_000, Call(true), HalfOpen, Some((3, 1, 1, 1))),
            (1_000, Finish(0, true), Closed, Some((0, 0, 0, 0))),
        ],
    ]
    .concat();
    run("two successes close", knob(), &close);
}

#[test]
fn half_open_by_rates_resilience4j() {
    // 4 probes in all, decided by the failure rate (50 %) once all 4 are in.
    let knob = || {
        small()
            .probes(4)
            .half_open_decision(HalfOpenDecision::Rates)
    };
    let start: [Step; 5] = [
        (0, ManualHalfOpen, HalfOpen, Some((0, 0, 0, 0))),
        (0, Call(false), HalfOpen, Some((1, 0, 0, 1))),
        (0, Call(true), HalfOpen, Some((2, 0, 1, 1))),
        (0, Call(true), HalfOpen, Some((3, 0, 2, 1))),
        (0, Hold(0), HalfOpen, Some((4, 1, 2, 1))),
    ];
    let full: [Step; 1] = [(10, Rejected(None), HalfOpen, Some((4, 1, 2, 1)))];
    let reopen = [
        start.as_slice(),
        &full,
        &[(20, Finish(0, false), Open, None)],
    ]
    .concat();
    run("2 of 4 failed: open", knob(), &reopen);
    let close = [
        start.as_slice(),
        &full,
        &[(20, Finish(0, true), Closed, None)],
    ]
    .concat();
    run("1 of 4 failed: closed", knob(), &close);
}

#[test]
fn half_open_maximum_wait_off_or_leading_to_closed() {
    let hold: [Step; 2] = [
        (0, ManualOpen, Open, None),
        (1_000, Hold(0), HalfOpen, Some((1, 1, 0, 0))),
    ];
    // Default: the open duration (1 s), then Open again.
    let default = [
        hold.as_slice(),
        &[
            (2_000, Look, HalfOpen, Some((1, 1, 0, 0))),
            (2_001, Look, Open, Some((0, 0, 0, 0))),
            (2_001, Rejected(Some(ms(1_000))), Open, None),
        ],
    ]
    .concat();
    run(
        "default maximum wait",
        small().probes(1).required_successes(1),
        &default,
    );
    // resilience4j's default and Polly: no limit; the probe alone decides.
    let off = [
        hold.as_slice(),
        &[
            (3_600_000, Rejected(None), HalfOpen, Some((1, 1, 0, 0))),
            (3_600_000, Finish(0, true), Closed, None),
        ],
    ]
    .concat();
    run(
        "no maximum wait",
        small()
            .probes(1)
            .required_successes(1)
            .half_open_max_wait(None),
        &off,
    );
    // resilience4j's transitionToStateAfterWaitDuration = CLOSED.
    let closes = [
        hold.as_slice(),
        &[
            (1_500, Rejected(Some(ms(1_000) + NS)), HalfOpen, None),
            (2_501, Look, Closed, None),
            (2_501, Call(true), Closed, None),
        ],
    ]
    .concat();
    run(
        "maximum wait closes",
        small()
            .probes(1)
            .required_successes(1)
            .half_open_max_wait(Duration::from_millis(1_500))
            .after_half_open_max_wait(Closed),
        &closes,
    );
}

#[test]
fn open_duration_zero_or_computed_polly() {
    // Zero: the next call after a trip is a probe.
    let zero = [
        (0, ManualOpen, HalfOpen, None),
        (0, Hold(0), HalfOpen, Some((1, 1, 0, 0))),
        (0, Finish(0, false), HalfOpen, Some((0, 0, 0, 0))),
        (5, Call(true), HalfOpen, Some((1, 0, 1, 0))),
    ];
    let b = run(
        "zero open duration",
        small().open_duration(Duration::ZERO),
        &zero,
    );
    assert_eq!(b.generation(), 4, "Open, HalfOpen, Open, HalfOpen");
    // Polly's BreakDurationGenerator: 1 s, 2 s, 3 s for consecutive trips.
    let computed = [
        (0, ManualOpen, Open, None),
        (999, Rejected(Some(ms(1))), Open, None),
        (1_000, Call(false), Open, None),
        (1_000, Rejected(Some(ms(2_000))), Open, None),
        (3_000, Call(false), Open, None),
        (3_000, Rejected(Some(ms(3_000))), Open, None),
    ];
    run(
        "computed open duration",
        small().open_duration_with(|b| Duration::from_secs(u64::from(b.trips))),
        &computed,
    );
}

#[test]
fn probe_renewal_polly() {
    // One probe; another is granted when it has been in flight for 5 s.
    let knob = || {
        small()
            .probes(1)
            .required_successes(1)
            .half_open_max_wait(None)
            .probe_renewal(Duration::from_secs(5))
    };
    let steps = [
        (0, ManualHalfOpen, HalfOpen, None),
        (0, Hold(0), HalfOpen, Some((1, 1, 0, 0))),
        (4_000, Rejected(Some(ms(1_000))), HalfOpen, None),
        (5_000, Hold(1), HalfOpen, Some((2, 2, 0, 0))),
        (5_000, Rejected(Some(ms(5_000))), HalfOpen, None),
        (5_100, Finish(1, true), Closed, None),
    ];
    run("probe renewal", knob(), &steps);
    // Without it, the hung probe holds the slot.
    let off = [
        (0, ManualHalfOpen, HalfOpen, None),
        (0, Hold(0), HalfOpen, None),
        (60_000, Rejected(None), HalfOpen, Some((1, 1, 0, 0))),
    ];
    run(
        "no probe renewal",
        small()
            .probes(1)
            .required_successes(1)
            .half_open_max_wait(None),
        &off,
    );
}

#[test]
fn manual_open_keeps_the_window_and_half_open_admits_probes() {
    let steps = [
        (0, Call(false), Closed, None),
        (0, Call(true), Closed, None),
        (0, ManualOpen, Open, None),
        (500, Rejected(Some(ms(500))), Open, None),
        (500, ManualHalfOpen, HalfOpen, Some((0, 0, 0, 0))),
        (500, Call(true), HalfOpen, Some((1, 0, 1, 0))),
    ];
    let b = run("manual", small(), &steps);
    let snap = b.snapshot(Instant::now());
    assert_eq!((snap.calls, snap.failures), (2, 1), "the window is kept");
    assert_eq!(snap.rejected_calls, 1);
}

#[test]
fn either_rule_switched_off() {
    let failures: Vec<Step> = (0..50).map(|_| (0, Call(false), Closed, None)).collect();
    run(
        "both rules off",
        small().failure_rate(None).consecutive_failures(None),
        &failures,
    );
    let mut consecutive_only = failures.clone();
    consecutive_only.truncate(3);
    consecutive_only[2].2 = Open;
    run(
        "rate rule off",
        small().failure_rate(None).consecutive_failures(3),
        &consecutive_only,
    );
}

/// Through the layer, under paused time: a probe that hangs holds the only slot until the
/// renewal (Polly's), the rejection meanwhile says when, and the renewed probe closes the
/// breaker. The readiness view turns half-open when the open period ends, before any call.
#[tokio::test(start_paused = true)]
async fn through_the_layer_a_hung_probe_is_renewed() {
    use steadfast::breaker::CircuitBreakerLayer;
    use steadfast::{BoxError, BreakerOpen};
    use tower::{Layer, ServiceExt, service_fn};

    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .probes(1)
        .required_successes(1)
        .open_duration(Duration::from_secs(30))
        .half_open_max_wait(None)
        .probe_renewal(Duration::from_secs(5))
        .build()
        .unwrap();
    let svc =
        CircuitBreakerLayer::new(breaker.clone()).layer(service_fn(|hang: bool| async move {
            if hang {
                tokio::time::sleep(Duration::from_secs(3_600)).await;
            }
            Ok::<_, BoxError>(())
        }));
    // The layer reads tokio's (paused) clock: so does the test.
    let now = || tokio::time::Instant::now().into_std();
    let t = now();
    Permit::acquire(&breaker, t)
        .unwrap()
        .record(&Outcome::failed(), t);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!((breaker.state(), breaker.state_at(now())), (Open, HalfOpen));
    let hung = tokio::spawn(svc.clone().oneshot(true));
    tokio::task::yield_now().await;
    assert_eq!(
        breaker.snapshot(now()).probes_in_flight,
        1,
        "the hung probe"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let err = svc.clone().oneshot(false).await.unwrap_err();
    let open = err.downcast_ref::<BreakerOpen>().expect("BreakerOpen");
    assert_eq!(open.retry_in, Some(Duration::from_secs(1)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    svc.clone().oneshot(false).await.expect("the renewed probe");
    assert_eq!(breaker.state(), Closed);
    assert_eq!(breaker.snapshot(now()).rejected_calls, 1);
    hung.abort();
}
