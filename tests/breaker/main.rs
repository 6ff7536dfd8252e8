//! The circuit breaker: every rule of the state machine under explicit instants, the layer under
//! paused time, and a real HTTP dependency on loopback. The time window is in `time.rs`, slow
//! calls in `slow.rs`, the model-based property test and the concurrency tests in `model.rs` and
//! `concurrency.rs`.

#[path = "../support/seeds.rs"]
mod seeds;
#[path = "../support/mod.rs"]
mod support;

mod concurrency;
mod knobs;
mod model;
mod slow;
mod thresholds;
mod time;
mod window;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use steadfast::breaker::{
    BreakerState, CircuitBreaker, CircuitBreakerLayer, Permit, TransitionReason,
};
use steadfast::event::Event;
use steadfast::{BoxError, BreakerOpen, DeadlineExceeded, Outcome};
use support::{Resp, Scripted, Step, ms, secs};
use tower::{Layer, Service, ServiceExt};

type Transitions = Arc<Mutex<Vec<(BreakerState, BreakerState, TransitionReason, u64)>>>;

/// A breaker recording its transitions.
fn recorded(b: steadfast::breaker::CircuitBreakerBuilder) -> (CircuitBreaker, Transitions) {
    let log: Transitions = Arc::default();
    let sink = log.clone();
    let breaker = b
        .on_event(move |e: &Event<'_>| {
            if let Event::BreakerTransition {
                from,
                to,
                reason,
                generation,
                ..
            } = *e
            {
                sink.lock().unwrap().push((from, to, reason, generation));
            }
        })
        .build()
        .unwrap();
    (breaker, log)
}

fn call(b: &CircuitBreaker, now: Instant, outcome: Outcome) -> bool {
    match b.try_acquire(now) {
        Ok(p) => {
            p.record(&outcome, now);
            true
        }
        Err(_) => false,
    }
}

// ---------------------------------------------------------------- trip rules

#[test]
fn five_consecutive_failures_trip_by_default() {
    let (b, log) = recorded(CircuitBreaker::builder());
    let t = Instant::now();
    for _ in 0..4 {
        assert!(call(&b, t, Outcome::failed()));
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert!(call(&b, t, Outcome::timeout()));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        *log.lock().unwrap(),
        [(
            BreakerState::Closed,
            BreakerState::Open,
            TransitionReason::ConsecutiveFailures,
            1
        )]
    );
}

#[test]
fn a_success_breaks_the_run_of_failures() {
    let b = CircuitBreaker::default();
    let t = Instant::now();
    for _ in 0..4 {
        call(&b, t, Outcome::failed());
    }
    call(&b, t, Outcome::Success);
    assert_eq!(b.snapshot(t).consecutive_failures, 0);
    for _ in 0..4 {
        call(&b, t, Outcome::not_sent());
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.snapshot(t).consecutive_failures, 4);
}

#[test]
fn ignored_outcomes_count_neither_way() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(2)
        .build()
        .unwrap();
    let t = Instant::now();
    call(&b, t, Outcome::failed());
    for o in [Outcome::Rejected, Outcome::throttled(None), Outcome::Local] {
        call(&b, t, o);
    }
    let s = b.snapshot(t);
    assert_eq!((s.calls, s.failures, s.consecutive_failures), (1, 1, 1));
    call(&b, t, Outcome::failed());
    assert_eq!(
        b.state(),
        BreakerState::Open,
        "the run was not broken by ignored outcomes"
    );
}

#[test]
fn rejected_may_count_as_success() {
    let b = CircuitBreaker::builder()
        .rejected_counts_as_success(true)
        .build()
        .unwrap();
    let t = Instant::now();
    call(&b, t, Outcome::failed());
    call(&b, t, Outcome::Rejected);
    let s = b.snapshot(t);
    assert_eq!((s.calls, s.failures, s.consecutive_failures), (2, 1, 0));
}

#[test]
fn minimum_calls_reached_by_a_success_trips_the_breaker() {
    // 15 failures of 19 calls, then 1 success: 15/20 = 75 % >= 50 % -> Open.
    let (b, log) = recorded(CircuitBreaker::builder().consecutive_failures(None));
    let t = Instant::now();
    for i in 0..19 {
        call(
            &b,
            t,
            if i < 4 {
                Outcome::Success
            } else {
                Outcome::failed()
            },
        );
    }
    let s = b.snapshot(t);
    assert_eq!((s.calls, s.failures, s.failure_rate), (19, 15, None));
    assert_eq!(b.state(), BreakerState::Closed);
    call(&b, t, Outcome::Success);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(log.lock().unwrap()[0].2, TransitionReason::FailureRate);
}

#[test]
fn the_rate_is_evaluated_before_the_window_is_full() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(None)
        .build()
        .unwrap();
    let t = Instant::now();
    for i in 0..19 {
        call(
            &b,
            t,
            if i < 10 {
                Outcome::Success
            } else {
                Outcome::failed()
            },
        );
    }
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "19 calls: below the minimum"
    );
    call(&b, t, Outcome::failed());
    assert_eq!(b.state(), BreakerState::Open, "20 calls, 10 failures: 50 %");
}

#[test]
fn old_outcomes_leave_the_window() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(None)
        .window(10)
        .minimum_calls(10)
        .failure_rate(0.5)
        .build()
        .unwrap();
    let t = Instant::now();
    for _ in 0..4 {
        call(&b, t, Outcome::failed());
    }
    for _ in 0..100 {
        call(&b, t, Outcome::Success);
    }
    let s = b.snapshot(t);
    assert_eq!((s.calls, s.failures), (10, 0), "the four failures slid out");
    for _ in 0..4 {
        call(&b, t, Outcome::failed());
    }
    assert_eq!(b.state(), BreakerState::Closed, "4 of 10");
    call(&b, t, Outcome::failed());
    assert_eq!(b.state(), BreakerState::Open, "5 of 10");
}

// ---------------------------------------------------------------- open, half-open, close

fn tripped(b: steadfast::breaker::CircuitBreakerBuilder) -> (CircuitBreaker, Transitions, Instant) {
    let (b, log) = recorded(b.consecutive_failures(1));
    let t = Instant::now();
    call(&b, t, Outcome::failed());
    assert_eq!(b.state(), BreakerState::Open);
    (b, log, t)
}

#[test]
fn open_rejects_until_the_open_duration_has_passed() {
    let (b, _, t) = tripped(CircuitBreaker::builder());
    let r = b.try_acquire(t + secs(12)).unwrap_err();
    assert_eq!(r.retry_in, Some(secs(18)));
    let r = b
        .try_acquire(t + secs(30) - Duration::from_nanos(1))
        .unwrap_err();
    assert_eq!(r.retry_in, Some(Duration::from_nanos(1)));
    let p = b
        .try_acquire(t + secs(30))
        .expect("a probe at exactly 30 s");
    assert!(p.is_probe());
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

#[test]
fn half_open_admits_probes_at_once_and_closes_after_the_required_successes() {
    let (b, log, t) = tripped(CircuitBreaker::builder());
    let now = t + secs(30);
    let probes: Vec<_> = (0..3)
        .map(|_| b.try_acquire(now).expect("a probe"))
        .collect();
    assert_eq!(
        b.try_acquire(now).unwrap_err().retry_in,
        None,
        "a fourth is rejected: the probes decide"
    );
    let mut probes = probes.into_iter();
    probes.next().unwrap().record(&Outcome::Success, now);
    let again = b
        .try_acquire(now)
        .expect("a slot was freed by the finished probe");
    probes.next().unwrap().record(&Outcome::Success, now);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    probes.next().unwrap().record(&Outcome::Success, now);
    assert_eq!(b.state(), BreakerState::Closed);
    again.record(&Outcome::failed(), now); // from the half-open generation: stale
    assert_eq!(b.snapshot(now).failures, 0);
    let reasons: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|x| (x.1, x.2, x.3))
        .collect();
    assert_eq!(
        reasons,
        [
            (BreakerState::Open, TransitionReason::ConsecutiveFailures, 1),
            (BreakerState::HalfOpen, TransitionReason::OpenElapsed, 2),
            (BreakerState::Closed, TransitionReason::ProbesSucceeded, 3),
        ]
    );
}

#[test]
fn the_first_failed_probe_reopens() {
    let (b, _, t) = tripped(CircuitBreaker::builder());
    let now = t + secs(30);
    let ok = b.try_acquire(now).unwrap();
    let bad = b.try_acquire(now).unwrap();
    bad.record(&Outcome::failed(), now);
    assert_eq!(b.state(), BreakerState::Open);
    ok.record(&Outcome::Success, now); // its generation is gone
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.try_acquire(now).unwrap_err().retry_in, Some(secs(30)));
}

#[test]
fn an_ignored_probe_outcome_frees_its_slot() {
    let (b, _, t) = tripped(CircuitBreaker::builder().probes(1).required_successes(1));
    let now = t + secs(30);
    b.try_acquire(now)
        .unwrap()
        .record(&Outcome::throttled(None), now);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.try_acquire(now)
        .expect("the slot is free again")
        .record(&Outcome::Success, now);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn a_dropped_probe_gives_its_slot_back() {
    let (b, _, t) = tripped(CircuitBreaker::builder().probes(1).required_successes(1));
    let now = t + secs(30);
    drop(b.try_acquire(now).unwrap());
    let p = b.try_acquire(now).expect("the slot came back");
    p.record(&Outcome::Success, now);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn half_open_cannot_stay_stuck() {
    let (b, log, t) = tripped(
        CircuitBreaker::builder()
            .half_open_max_wait(secs(10))
            .probes(1)
            .required_successes(1),
    );
    let held = b.try_acquire(t + secs(30)).unwrap(); // a probe that never finishes
    let full = b.try_acquire(t + secs(40)).unwrap_err();
    assert_eq!(
        full.retry_in, None,
        "at exactly the maximum wait, still half-open"
    );
    let r = b.try_acquire(t + secs(40) + ms(1)).unwrap_err();
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(r.retry_in, Some(secs(30)));
    assert_eq!(
        log.lock().unwrap().last().unwrap().2,
        TransitionReason::ProbeTimeout
    );
    held.record(&Outcome::Success, t + secs(41));
    assert_eq!(b.state(), BreakerState::Open, "the late probe is stale");
}

#[test]
fn half_open_max_wait_defaults_to_the_open_duration() {
    let (b, _, t) = tripped(
        CircuitBreaker::builder()
            .open_duration(secs(5))
            .probes(1)
            .required_successes(1),
    );
    let _held = b.try_acquire(t + secs(5)).unwrap();
    assert!(b.try_acquire(t + secs(10)).is_err());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(b.try_acquire(t + secs(10) + ms(1)).is_err());
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn the_open_duration_grows_per_consecutive_trip_and_resets_on_close() {
    let (b, _, t) = tripped(CircuitBreaker::builder().open_growth(2.0, secs(300)));
    let mut now = t;
    let mut waits = Vec::new();
    for _ in 0..6 {
        let wait = b.try_acquire(now).unwrap_err().retry_in.unwrap();
        waits.push(wait.as_secs());
        now += wait;
        b.try_acquire(now).unwrap().record(&Outcome::failed(), now); // failed probe
    }
    assert_eq!(waits, [30, 60, 120, 240, 300, 300]);
    now += secs(300);
    for _ in 0..3 {
        b.try_acquire(now).unwrap().record(&Outcome::Success, now);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    call(&b, now, Outcome::failed());
    assert_eq!(
        b.try_acquire(now).unwrap_err().retry_in,
        Some(secs(30)),
        "back to the base"
    );
}

#[test]
fn a_success_from_before_the_outage_never_closes_a_half_open_breaker() {
    let (b, _, t) = tripped(CircuitBreaker::builder().probes(1).required_successes(1));
    b.reset();
    let old = b.try_acquire(t).unwrap(); // admitted while closed
    call(&b, t, Outcome::failed()); // trips again
    let now = t + secs(30);
    let probe = b.try_acquire(now).unwrap();
    old.record(&Outcome::Success, now);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    probe.record(&Outcome::Success, now);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn a_failure_from_before_a_reset_does_not_count_in_the_new_window() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(2)
        .build()
        .unwrap();
    let t = Instant::now();
    let old = b.try_acquire(t).unwrap();
    let older = b.try_acquire(t).unwrap();
    b.reset();
    old.record(&Outcome::failed(), t);
    older.record(&Outcome::failed(), t);
    let s = b.snapshot(t);
    assert_eq!(
        (s.state, s.calls, s.failures, s.consecutive_failures),
        (BreakerState::Closed, 0, 0, 0)
    );
}

#[test]
fn a_health_signal_half_opens_early_but_never_a_forced_open_breaker() {
    let (b, log, t) = tripped(CircuitBreaker::builder());
    b.signal_healthy(t + secs(1));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(
        log.lock().unwrap().last().unwrap().2,
        TransitionReason::HealthSignal
    );
    assert!(b.try_acquire(t + secs(1)).unwrap().is_probe());
    b.force_open();
    b.signal_healthy(t + secs(2));
    assert_eq!(b.state(), BreakerState::ForcedOpen);
    assert_eq!(b.try_acquire(t + secs(999)).unwrap_err().retry_in, None);
    let closed = CircuitBreaker::default();
    closed.signal_healthy(t);
    assert_eq!(
        (closed.state(), closed.generation()),
        (BreakerState::Closed, 0)
    );
}

// ---------------------------------------------------------------- manual control

#[test]
fn manual_operations() {
    let (b, log) = recorded(CircuitBreaker::builder());
    let t = Instant::now();
    call(&b, t, Outcome::failed());
    b.force_open();
    assert_eq!(b.state(), BreakerState::ForcedOpen);
    assert!(b.try_acquire(t).is_err());
    b.disable();
    assert_eq!(b.state(), BreakerState::Disabled);
    for _ in 0..50 {
        assert!(call(&b, t, Outcome::failed()), "disabled admits all");
    }
    assert_eq!(b.snapshot(t).calls, 0, "and records nothing");
    b.reset();
    let s = b.snapshot(t);
    assert_eq!(
        (s.state, s.calls, s.consecutive_failures, s.generation),
        (BreakerState::Closed, 0, 0, 3)
    );
    let reasons: Vec<_> = log.lock().unwrap().iter().map(|x| x.2).collect();
    assert_eq!(
        reasons,
        [
            TransitionReason::ForcedOpen,
            TransitionReason::Disabled,
            TransitionReason::Reset
        ]
    );
}

#[test]
fn snapshot_reports_the_timer_and_the_rate() {
    let (b, _, t) = tripped(CircuitBreaker::builder());
    let s = b.snapshot(t + secs(10));
    assert_eq!(
        (s.state, s.half_open_in, s.generation),
        (BreakerState::Open, Some(secs(20)), 1)
    );
    let c = CircuitBreaker::builder().minimum_calls(4).build().unwrap();
    for o in [
        Outcome::Success,
        Outcome::failed(),
        Outcome::Success,
        Outcome::Success,
    ] {
        call(&c, t, o);
    }
    assert_eq!(c.snapshot(t).failure_rate, Some(0.25));
}

#[test]
fn invalid_configurations_are_typed_errors() {
    use steadfast::breaker::CircuitBreakerBuilder as B;
    let cases: Vec<(&str, B)> = vec![
        ("rate 0", CircuitBreaker::builder().failure_rate(0.0)),
        ("rate > 1", CircuitBreaker::builder().failure_rate(1.5)),
        ("rate NaN", CircuitBreaker::builder().failure_rate(f64::NAN)),
        (
            "window 0",
            CircuitBreaker::builder().window(0).minimum_calls(0),
        ),
        (
            "min > window",
            CircuitBreaker::builder().window(10).minimum_calls(11),
        ),
        ("min 0", CircuitBreaker::builder().minimum_calls(0)),
        (
            "consecutive 0",
            CircuitBreaker::builder().consecutive_failures(0),
        ),
        (
            "probe failures 0",
            CircuitBreaker::builder().probe_failures(0),
        ),
        (
            "after the maximum wait: half-open",
            CircuitBreaker::builder().after_half_open_max_wait(BreakerState::HalfOpen),
        ),
        (
            "probe renewal 0",
            CircuitBreaker::builder().probe_renewal(Duration::ZERO),
        ),
        (
            "failure rate under a basis point",
            CircuitBreaker::builder().failure_rate(0.00004),
        ),
        (
            "growth NaN",
            CircuitBreaker::builder().open_growth(f64::NAN, secs(60)),
        ),
        (
            "growth < 1",
            CircuitBreaker::builder().open_growth(0.5, secs(60)),
        ),
        (
            "max < open",
            CircuitBreaker::builder().open_growth(2.0, secs(1)),
        ),
        (
            "required 0",
            CircuitBreaker::builder().required_successes(0),
        ),
        (
            "required > probes",
            CircuitBreaker::builder().probes(2).required_successes(3),
        ),
        (
            "max wait 0",
            CircuitBreaker::builder().half_open_max_wait(Duration::ZERO),
        ),
    ];
    for (name, b) in cases {
        let e = b.build().expect_err(name);
        assert!(!e.to_string().is_empty(), "{name}");
    }
    let e = CircuitBreaker::builder()
        .failure_rate(2.0)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "breaker failure rate is 2.0, expected a share in (0, 1] of at least one basis point (0.0001)"
    );
    assert!(
        CircuitBreaker::builder()
            .open_duration(steadfast::MAX_DURATION)
            .build()
            .is_ok()
    );
}

#[test]
fn durations_beyond_365_days_are_refused_whatever_the_setting() {
    let too_long = steadfast::MAX_DURATION + Duration::from_nanos(1);
    for (setting, b) in [
        (
            "breaker open duration",
            CircuitBreaker::builder().open_duration(too_long),
        ),
        (
            "breaker maximum open duration",
            CircuitBreaker::builder().open_growth(2.0, too_long),
        ),
        (
            "breaker half-open maximum wait",
            CircuitBreaker::builder().half_open_max_wait(too_long),
        ),
        (
            "breaker slow-call duration",
            CircuitBreaker::builder().slow_call_duration(too_long),
        ),
        (
            "breaker time window",
            CircuitBreaker::builder().time_window(too_long),
        ),
    ] {
        let e = b.build().expect_err(setting);
        assert_eq!(
            e.to_string(),
            format!("{setting} is {too_long:?}, expected at most 365 days")
        );
    }
}

#[test]
fn empty_and_padded_names_are_refused() {
    for name in ["", " payments", "payments\t"] {
        assert_eq!(
            CircuitBreaker::builder()
                .name(name)
                .build()
                .unwrap_err()
                .to_string(),
            format!(
                "breaker name is {name:?}, expected a non-empty name without leading or \
                 trailing whitespace"
            )
        );
    }
    assert!(CircuitBreaker::builder().name("pay ments").build().is_ok());
}

#[test]
fn growth_is_kept_whichever_of_its_setters_comes_first() {
    let min = |m: u64| Duration::from_secs(60 * m);
    let growth_first = CircuitBreaker::builder()
        .open_growth(2.0, min(5))
        .open_duration(min(10));
    let duration_first = CircuitBreaker::builder()
        .open_duration(min(10))
        .open_growth(2.0, min(5));
    for b in [growth_first, duration_first] {
        assert_eq!(
            b.build().unwrap_err().to_string(),
            "breaker maximum open duration is 300s, expected at least the open duration"
        );
    }
    // Valid in either order: the growth applies.
    for grows in [
        CircuitBreaker::builder()
            .open_growth(2.0, min(40))
            .open_duration(min(10)),
        CircuitBreaker::builder()
            .open_duration(min(10))
            .open_growth(2.0, min(40)),
    ] {
        let (b, _, t) = tripped(grows.consecutive_failures(1));
        assert_eq!(b.snapshot(t).half_open_in, Some(min(10)));
        // Probe fails: open again, twice as long.
        let probe = b.try_acquire(t + min(10)).unwrap();
        probe.record(&Outcome::failed(), t + min(10));
        assert_eq!(b.snapshot(t + min(10)).half_open_in, Some(min(20)));
    }
}

#[test]
fn absurd_durations_never_panic() {
    let max = steadfast::MAX_DURATION;
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_duration(max)
        .open_growth(1e300, max)
        .build()
        .unwrap();
    let t = Instant::now();
    call(&b, t, Outcome::failed());
    assert!(b.try_acquire(t + max - Duration::from_nanos(1)).is_err());
    let _ = b.snapshot(t);
}

// ---------------------------------------------------------------- the layer, paused time

/// A call holds its own reference on the breaker: with the service, the layer and every handle
/// dropped, it still records its outcome when it finishes, on another thread; then the breaker
/// (and its hook) is freed.
#[test]
fn a_call_outliving_every_handle_records_its_outcome_then_frees_the_breaker() {
    let (breaker, log) = recorded(CircuitBreaker::builder().consecutive_failures(1));
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Mutex::new(Some(released));
    let svc = tower::service_fn(move |_: u32| {
        let released = released.lock().unwrap().take().expect("one call");
        async move {
            released.await.unwrap();
            Err::<u32, BoxError>("down".into())
        }
    });
    let mut svc = CircuitBreakerLayer::new(breaker).layer(svc);
    let waker = std::task::Waker::noop();
    let ready = svc.poll_ready(&mut std::task::Context::from_waker(waker));
    assert!(matches!(ready, std::task::Poll::Ready(Ok(()))));
    let fut = svc.call(1);
    drop(svc); // the service, its layer's breaker: the only handle
    assert!(log.lock().unwrap().is_empty());
    let result = std::thread::spawn(move || {
        release.send(()).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(fut)
    })
    .join()
    .unwrap();
    assert!(result.is_err());
    assert_eq!(
        *log.lock().unwrap(),
        [(
            BreakerState::Closed,
            BreakerState::Open,
            TransitionReason::ConsecutiveFailures,
            1
        )]
    );
    assert_eq!(
        Arc::strong_count(&log),
        1,
        "the breaker and its hook are freed"
    );
}

async fn layer_call(
    svc: &mut impl Service<u32, Response = Resp, Error = BoxError>,
) -> Result<Resp, BoxError> {
    svc.ready().await?.call(1).await
}

fn classify(r: &Result<Resp, BoxError>) -> Outcome {
    support::classify(r)
}

#[tokio::test(start_paused = true)]
async fn the_layer_trips_rejects_without_the_inner_service_and_recovers() {
    let (breaker, log) = recorded(CircuitBreaker::builder().consecutive_failures(3));
    let inner = Scripted::failing(3);
    let mut svc = CircuitBreakerLayer::new(breaker.clone())
        .classifier(classify as fn(&Result<Resp, BoxError>) -> Outcome)
        .layer(inner.clone());
    let start = tokio::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(layer_call(&mut svc).await.unwrap().status, 500);
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    // Rejected at once, the inner service untouched.
    tokio::time::sleep(secs(10)).await;
    for _ in 0..5 {
        let err = layer_call(&mut svc).await.unwrap_err();
        let open = err.downcast_ref::<BreakerOpen>().expect("BreakerOpen");
        assert_eq!(open.retry_in, Some(secs(20)));
    }
    assert_eq!(inner.count(), 3);
    // Half-open after exactly the open duration: three probes close it.
    tokio::time::sleep_until(start + secs(30) - ms(1)).await;
    assert!(layer_call(&mut svc).await.is_err());
    tokio::time::sleep(ms(1)).await;
    for _ in 0..3 {
        assert_eq!(layer_call(&mut svc).await.unwrap().status, 200);
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(inner.count(), 6);
    assert_eq!(inner.instants()[3..], [secs(30), secs(30), secs(30)]);
    let reasons: Vec<_> = log.lock().unwrap().iter().map(|x| x.2).collect();
    assert_eq!(
        reasons,
        [
            TransitionReason::ConsecutiveFailures,
            TransitionReason::OpenElapsed,
            TransitionReason::ProbesSucceeded
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_probe_admitted_in_poll_ready_is_returned_when_the_service_is_dropped() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .probes(1)
        .required_successes(1)
        .build()
        .unwrap();
    let inner = Scripted::failing(1);
    let layer = CircuitBreakerLayer::new(breaker.clone());
    let mut svc = layer.layer(inner.clone());
    layer_call(&mut svc).await.unwrap(); // 500: DefaultClassifier sees Ok, so fail it by hand
    // The layer reads tokio's (paused) clock: the test must use the same one.
    let t = tokio::time::Instant::now().into_std();
    Permit::acquire(&breaker, t)
        .unwrap()
        .record(&Outcome::failed(), t);
    assert_eq!(breaker.state(), BreakerState::Open);
    tokio::time::sleep(secs(30)).await;
    let mut a = layer.layer(inner.clone());
    a.ready().await.unwrap(); // takes the only probe slot
    let mut b = layer.layer(inner.clone());
    assert!(
        layer_call(&mut b).await.unwrap_err().is::<BreakerOpen>(),
        "slot taken"
    );
    drop(a); // its call never came
    assert_eq!(layer_call(&mut b).await.unwrap().status, 200);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_records_nothing_and_returns_its_probe() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .probes(1)
        .required_successes(1)
        .build()
        .unwrap();
    let t = tokio::time::Instant::now().into_std();
    breaker
        .try_acquire(t)
        .unwrap()
        .record(&Outcome::failed(), t);
    tokio::time::sleep(secs(30)).await;
    let inner = Scripted::new([Step::Hang]);
    let mut svc = CircuitBreakerLayer::new(breaker.clone()).layer(inner.clone());
    let fut = svc.ready().await.unwrap().call(1);
    assert!(tokio::time::timeout(secs(1), fut).await.is_err());
    assert_eq!(inner.live(), 0);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(
        layer_call(&mut svc).await.unwrap().status,
        200,
        "the slot came back"
    );
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_librarys_own_errors_never_count_against_the_breaker() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    let mut svc =
        CircuitBreakerLayer::new(breaker.clone()).layer(tower::service_fn(|_: u32| async {
            Err::<Resp, BoxError>(DeadlineExceeded::new().into())
        }));
    for _ in 0..10 {
        assert!(
            layer_call(&mut svc)
                .await
                .unwrap_err()
                .is::<DeadlineExceeded>()
        );
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn one_breaker_guards_many_services() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(2)
        .build()
        .unwrap();
    let layer = CircuitBreakerLayer::new(breaker.clone())
        .classifier(classify as fn(&Result<Resp, BoxError>) -> Outcome);
    let (x, y) = (Scripted::failing(1), Scripted::failing(1));
    layer_call(&mut layer.layer(x.clone())).await.unwrap();
    layer_call(&mut layer.layer(y.clone())).await.unwrap();
    assert_eq!(breaker.state(), BreakerState::Open);
    assert!(
        layer_call(&mut layer.layer(Scripted::failing(0)))
            .await
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn a_static_breaker_works_like_an_owned_one() {
    let breaker: &'static CircuitBreaker = Box::leak(Box::new(
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .build()
            .unwrap(),
    ));
    let mut svc = CircuitBreakerLayer::new(breaker)
        .classifier(classify as fn(&Result<Resp, BoxError>) -> Outcome)
        .layer(Scripted::failing(1));
    layer_call(&mut svc).await.unwrap();
    assert!(layer_call(&mut svc).await.unwrap_err().is::<BreakerOpen>());
}

#[test]
fn auto_traits_are_preserved() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<CircuitBreaker>();
    send_sync::<CircuitBreakerLayer>();
    send_sync::<steadfast::breaker::CircuitBreakerService<Scripted>>();
    send::<<steadfast::breaker::CircuitBreakerService<Scripted> as Service<u32>>::Future>();
    send::<Permit<CircuitBreaker>>();
}

// ---------------------------------------------------------------- a real dependency on loopback

/// A dependency that fails, then recovers: the breaker trips, spares it, and closes again once
/// it has recovered (real time, counts only: the open duration is far longer than the test, and
/// a health signal ends it, so that no count depends on the machine's speed).
#[tokio::test]
async fn http_dependency_fails_and_recovers() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::builder().start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;

    let breaker = CircuitBreaker::builder()
        .consecutive_failures(3)
        .open_duration(secs(3600))
        .probes(1)
        .required_successes(1)
        .build()
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = server.uri();
    let inner = tower::service_fn(move |_: u32| {
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(url).send().await.map_err(BoxError::from) }
    });
    let classify = |r: &Result<reqwest::Response, BoxError>| match r {
        Ok(resp) if resp.status().is_server_error() => Outcome::failed(),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::not_sent(),
    };
    let mut svc = CircuitBreakerLayer::new(breaker.clone())
        .classifier(classify)
        .layer(inner);
    for _ in 0..3 {
        assert_eq!(
            svc.ready().await.unwrap().call(0).await.unwrap().status(),
            503
        );
    }
    for _ in 0..20 {
        assert!(
            svc.ready()
                .await
                .unwrap()
                .call(0)
                .await
                .unwrap_err()
                .is::<BreakerOpen>()
        );
    }
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "spared while open"
    );
    // The dependency passes a health check: the breaker admits a probe, which closes it.
    breaker.signal_healthy(std::time::Instant::now());
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(
        svc.ready().await.unwrap().call(0).await.unwrap().status(),
        200
    );
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}
