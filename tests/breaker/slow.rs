//! Slow calls: the rule under explicit instants through the permit API (any driver of it gets
//! them), and through the layer under paused time with exact call instants.

use std::time::{Duration, Instant};

use steadfast::breaker::{BreakerState, CircuitBreaker, CircuitBreakerLayer, TransitionReason};
use steadfast::{BoxError, BreakerOpen, Outcome};
use tower::{Layer, Service, ServiceExt};

use super::{classify, layer_call, recorded};
use crate::support::{Resp, Scripted, Step, ms, secs};

const NS: Duration = Duration::from_nanos(1);

/// A breaker timing its calls against a 1 s threshold, tripping on the slow-call rule alone.
fn slow_breaker(rate: f64, minimum: u32) -> steadfast::breaker::CircuitBreakerBuilder {
    CircuitBreaker::builder()
        .slow_call_duration(secs(1))
        .slow_call_rate(rate)
        .minimum_calls(minimum)
        .consecutive_failures(None)
}

/// One call admitted at `start` and recorded at `end`.
fn timed(b: &CircuitBreaker, start: Instant, end: Instant, outcome: Outcome) {
    b.try_acquire(start)
        .expect("admitted")
        .record(&outcome, end);
}

#[test]
fn the_slow_call_rate_trips_the_breaker() {
    let (b, log) = recorded(slow_breaker(0.5, 4));
    let t = Instant::now();
    timed(&b, t, t + secs(2), Outcome::Success); // slow
    timed(&b, t, t + ms(10), Outcome::Success);
    timed(&b, t, t + ms(1001), Outcome::Success); // slow
    let s = b.snapshot(t + secs(2));
    assert_eq!((s.calls, s.slow_calls, s.slow_call_rate), (3, 2, None));
    timed(&b, t, t + ms(10), Outcome::Success); // 2 of 4 slow: 50 %
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        log.lock().unwrap()[0].2,
        TransitionReason::SlowCallRate,
        "successes all, but slow"
    );
}

#[test]
fn slower_than_the_threshold_means_strictly_slower() {
    let b = slow_breaker(0.5, 1).build().unwrap();
    let t = Instant::now();
    timed(&b, t, t + secs(1), Outcome::Success);
    assert_eq!(b.state(), BreakerState::Closed, "exactly 1 s is not slow");
    timed(&b, t, t + secs(1) + NS, Outcome::Success);
    assert_eq!(b.state(), BreakerState::Open, "1 s and 1 ns is");
}

#[test]
fn a_slow_failure_is_a_failure_and_slow() {
    let b = slow_breaker(1.0, 10).build().unwrap();
    let t = Instant::now();
    timed(&b, t, t + secs(5), Outcome::timeout());
    timed(&b, t, t + ms(5), Outcome::Success);
    let s = b.snapshot(t);
    assert_eq!(
        (s.calls, s.failures, s.slow_calls, s.consecutive_failures),
        (2, 1, 1, 0)
    );
}

#[test]
fn ignored_outcomes_are_never_slow() {
    let b = slow_breaker(1.0, 1).build().unwrap();
    let t = Instant::now();
    for o in [Outcome::Rejected, Outcome::throttled(None), Outcome::Local] {
        timed(&b, t, t + secs(60), o);
    }
    assert_eq!(
        (b.state(), b.snapshot(t).calls, b.snapshot(t).slow_calls),
        (BreakerState::Closed, 0, 0)
    );
}

#[test]
fn slow_call_tracking_is_off_by_default() {
    let b = CircuitBreaker::builder().minimum_calls(1).build().unwrap();
    let t = Instant::now();
    let permit = b.try_acquire(t).unwrap();
    permit.record(&Outcome::Success, t + secs(3600));
    let s = b.snapshot(t);
    assert_eq!(
        (s.state, s.calls, s.slow_calls, s.slow_call_rate),
        (BreakerState::Closed, 1, 0, None)
    );
    // No clock is read to time a call when tracking is off.
    let b = CircuitBreaker::default();
    let never = || -> Instant { panic!("read the clock") };
    b.try_acquire(never)
        .unwrap()
        .record(&Outcome::Success, never);
}

/// With tracking on, admission reads `now` once (the start), and so does recording (the end).
#[test]
fn a_timed_call_reads_now_at_each_end() {
    let b = slow_breaker(1.0, 100).build().unwrap();
    let t = Instant::now();
    let reads = std::cell::Cell::new(0);
    let at = |d: Duration| {
        let reads = &reads;
        move || {
            reads.set(reads.get() + 1);
            t + d
        }
    };
    let permit = b.try_acquire(at(Duration::ZERO)).unwrap();
    assert_eq!(reads.get(), 1);
    permit.record(&Outcome::Success, at(secs(2)));
    assert_eq!(reads.get(), 2);
    assert_eq!(b.snapshot(t).slow_calls, 1);
}

/// A call its caller gave up on counts as slow if it had run longer than the threshold (neither
/// a success nor a failure: the run of failures goes on), and as nothing otherwise.
#[test]
fn an_abandoned_call_counts_as_slow_only_after_the_threshold() {
    let b = CircuitBreaker::builder()
        .slow_call_duration(secs(1))
        .minimum_calls(100)
        .build()
        .unwrap();
    let t = Instant::now();
    timed(&b, t, t, Outcome::failed());
    b.try_acquire(t).unwrap().abandon(t + ms(999));
    let s = b.snapshot(t);
    assert_eq!((s.calls, s.slow_calls), (1, 0), "abandoned early: nothing");
    b.try_acquire(t).unwrap().abandon(t + secs(2));
    let s = b.snapshot(t);
    assert_eq!(
        (s.calls, s.failures, s.slow_calls, s.consecutive_failures),
        (2, 1, 1, 1)
    );
    // Without tracking, abandoning is dropping: no clock read.
    let b = CircuitBreaker::default();
    b.try_acquire(t)
        .unwrap()
        .abandon(|| -> Instant { panic!("read the clock") });
    assert_eq!(b.snapshot(t).calls, 0);
}

fn tripped_slow(probes: u32) -> (CircuitBreaker, super::Transitions, Instant) {
    let (b, log) = recorded(
        slow_breaker(1.0, 1)
            .probes(probes)
            .required_successes(probes),
    );
    let t = Instant::now();
    timed(&b, t, t + secs(2), Outcome::Success);
    assert_eq!(b.state(), BreakerState::Open);
    (b, log, t + secs(2))
}

#[test]
fn a_slow_probe_opens_the_breaker_again() {
    let (b, log, t) = tripped_slow(2);
    let at = t + secs(30);
    let fast = b.try_acquire(at).unwrap();
    let slow = b.try_acquire(at).unwrap();
    fast.record(&Outcome::Success, at + ms(100));
    slow.record(&Outcome::Success, at + ms(1500));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        log.lock().unwrap().last().unwrap().2,
        TransitionReason::SlowProbe
    );
    // Fast probes close it.
    let at = at + ms(1500) + secs(30);
    for p in [b.try_acquire(at).unwrap(), b.try_acquire(at).unwrap()] {
        p.record(&Outcome::Success, at + ms(10));
    }
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn an_abandoned_probe_reopens_after_the_threshold_and_frees_its_slot_before() {
    let (b, log, t) = tripped_slow(1);
    let at = t + secs(30);
    b.try_acquire(at).unwrap().abandon(at + ms(500));
    assert_eq!(
        b.state(),
        BreakerState::HalfOpen,
        "early: the slot came back"
    );
    b.try_acquire(at + ms(500)).unwrap().abandon(at + secs(2));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        log.lock().unwrap().last().unwrap().2,
        TransitionReason::SlowProbe
    );
}

#[test]
fn invalid_slow_call_settings_are_typed_errors() {
    for (name, b) in [
        (
            "duration 0",
            CircuitBreaker::builder().slow_call_duration(Duration::ZERO),
        ),
        ("rate 0", CircuitBreaker::builder().slow_call_rate(0.0)),
        ("rate > 1", CircuitBreaker::builder().slow_call_rate(1.01)),
        (
            "rate NaN",
            CircuitBreaker::builder().slow_call_rate(f64::NAN),
        ),
    ] {
        let e = b.build().expect_err(name);
        assert!(
            e.to_string().starts_with("breaker slow-call"),
            "{name}: {e}"
        );
    }
    assert!(
        CircuitBreaker::builder()
            .slow_call_duration(steadfast::MAX_DURATION)
            .build()
            .is_ok()
    );
}

// ---------------------------------------------------------------- the layer, paused time

type Classifier = fn(&Result<Resp, BoxError>) -> Outcome;

fn slow_layer(breaker: &CircuitBreaker) -> CircuitBreakerLayer<CircuitBreaker, Classifier> {
    CircuitBreakerLayer::new(breaker.clone()).classifier(classify as Classifier)
}

/// A call of exactly the threshold (1 s) and three of 2 s (paused time: exactly) trip a breaker
/// at 75 % slow calls from 4 calls; the next call is rejected without reaching the service.
#[tokio::test(start_paused = true)]
async fn slow_calls_through_the_layer_trip_it() {
    let (breaker, log) = recorded(slow_breaker(0.75, 4));
    let slow = || Step::After(secs(2), Box::new(Step::Status(200)));
    let inner = Scripted::new([
        Step::After(secs(1), Box::new(Step::Status(200))),
        slow(),
        slow(),
        slow(),
        slow(),
    ]);
    let mut svc = slow_layer(&breaker).layer(inner.clone());
    let start = tokio::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(layer_call(&mut svc).await.unwrap().status, 200);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
    assert_eq!(layer_call(&mut svc).await.unwrap().status, 200);
    assert_eq!(breaker.state(), BreakerState::Open, "3 of 4 slow");
    assert_eq!(inner.instants(), [secs(0), secs(1), secs(3), secs(5)]);
    assert_eq!(start.elapsed(), secs(7));
    let s = breaker.snapshot(tokio::time::Instant::now().into_std());
    assert_eq!((s.calls, s.slow_calls), (4, 3));
    let e = layer_call(&mut svc).await.unwrap_err();
    assert!(e.is::<BreakerOpen>());
    assert_eq!(inner.count(), 4);
    assert_eq!(log.lock().unwrap()[0].2, TransitionReason::SlowCallRate);
}

/// A call is timed from `call`, not from admission in `poll_ready`: a service that takes 5 s to
/// become ready, then answers at once, is not slow.
#[tokio::test(start_paused = true)]
async fn waiting_for_readiness_is_not_the_call_being_slow() {
    let breaker = slow_breaker(1.0, 1).build().unwrap();
    let inner = Scripted::new([Step::Status(200)]);
    inner.not_ready_for(secs(5));
    let mut svc = slow_layer(&breaker).layer(inner.clone());
    assert_eq!(layer_call(&mut svc).await.unwrap().status, 200);
    assert_eq!(inner.instants(), [secs(5)]);
    let s = breaker.snapshot(tokio::time::Instant::now().into_std());
    assert_eq!(
        (s.state, s.calls, s.slow_calls),
        (BreakerState::Closed, 1, 0)
    );
}

/// A response future dropped by its caller after 2 s (the caller's own timeout) counts as a slow
/// call; one dropped after 0.5 s counts as nothing.
#[tokio::test(start_paused = true)]
async fn a_call_dropped_after_the_threshold_counts_as_slow() {
    let (breaker, log) = recorded(slow_breaker(1.0, 1));
    let inner = Scripted::new([Step::Hang, Step::Hang]);
    let mut svc = slow_layer(&breaker).layer(inner.clone());
    let fut = svc.ready().await.unwrap().call(1);
    assert!(tokio::time::timeout(ms(500), fut).await.is_err());
    let now = || tokio::time::Instant::now().into_std();
    assert_eq!(breaker.snapshot(now()).calls, 0, "dropped early: nothing");
    assert_eq!(inner.live(), 0);
    let fut = svc.ready().await.unwrap().call(2);
    assert!(tokio::time::timeout(secs(2), fut).await.is_err());
    let s = breaker.snapshot(now());
    assert_eq!((s.calls, s.failures, s.slow_calls), (1, 0, 1));
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(log.lock().unwrap()[0].2, TransitionReason::SlowCallRate);
}

/// Half-open, a slow probe through the layer opens the breaker again, and the caller still gets
/// its (slow) answer.
#[tokio::test(start_paused = true)]
async fn a_slow_probe_through_the_layer_reopens() {
    let (breaker, log) = recorded(
        slow_breaker(1.0, 1)
            .probes(1)
            .required_successes(1)
            .open_duration(secs(10)),
    );
    let slow = || Step::After(secs(3), Box::new(Step::Status(200)));
    let inner = Scripted::new([slow(), slow(), Step::Status(200)]);
    let mut svc = slow_layer(&breaker).layer(inner.clone());
    layer_call(&mut svc).await.unwrap();
    assert_eq!(breaker.state(), BreakerState::Open);
    tokio::time::sleep(secs(10)).await;
    assert_eq!(layer_call(&mut svc).await.unwrap().status, 200);
    assert_eq!(breaker.state(), BreakerState::Open);
    tokio::time::sleep(secs(10)).await;
    assert_eq!(layer_call(&mut svc).await.unwrap().status, 200);
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(inner.instants(), [secs(0), secs(13), secs(26)]);
    let reasons: Vec<_> = log.lock().unwrap().iter().map(|x| x.2).collect();
    assert_eq!(
        reasons,
        [
            TransitionReason::SlowCallRate,
            TransitionReason::OpenElapsed,
            TransitionReason::SlowProbe,
            TransitionReason::OpenElapsed,
            TransitionReason::ProbesSucceeded,
        ]
    );
}
