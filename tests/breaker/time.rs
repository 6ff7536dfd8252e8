//! The time window under explicit instants: bucket boundaries to the nanosecond, expiry after an
//! idle period, the minimum number of calls across buckets, jumps of many windows, and the
//! lock-free success path keeping its successes in the right bucket. One layer test under paused
//! time checks that the layer's cheap clock follows tokio's paused clock.

use std::time::{Duration, Instant};

use steadfast::Outcome;
use steadfast::breaker::{
    BreakerState, CircuitBreaker, CircuitBreakerLayer, SlidingWindow, TransitionReason,
};
use steadfast::event::Event;
use tower::Layer;

use super::{call, layer_call, recorded};
use crate::support::{Resp, Scripted, Step, secs};

const NS: Duration = Duration::from_nanos(1);

/// A breaker over the last `window` in `buckets` buckets that never trips by itself (a minimum
/// of calls it never reaches), so that the window can be watched.
fn watched(window: Duration, buckets: u32) -> CircuitBreaker {
    CircuitBreaker::builder()
        .sliding_window(SlidingWindow::Time {
            length: window,
            buckets,
        })
        .consecutive_failures(None)
        .minimum_calls(1_000_000)
        .build()
        .unwrap()
}

fn counts(b: &CircuitBreaker, at: Instant) -> (u32, u32) {
    let s = b.snapshot(at);
    (s.calls, s.failures)
}

/// 60 s in 10 buckets of 6 s, aligned to the breaker's first instant: a failure at the last
/// nanosecond of bucket 0 leaves the window exactly when bucket 10 begins, one at the first
/// nanosecond of bucket 1 stays until bucket 11.
#[test]
fn bucket_boundaries_to_the_nanosecond() {
    let b = watched(secs(60), 10);
    let t0 = Instant::now();
    assert!(call(&b, t0, Outcome::Success)); // the breaker's first instant: bucket 0 begins
    assert!(call(&b, t0 + secs(6) - NS, Outcome::failed())); // the last instant of bucket 0
    assert!(call(&b, t0 + secs(6), Outcome::failed())); // the first instant of bucket 1
    assert_eq!(counts(&b, t0 + secs(60) - NS), (3, 2), "bucket 9: all in");
    assert_eq!(
        counts(&b, t0 + secs(60)),
        (1, 1),
        "bucket 10: bucket 0 (the success and the first failure) left"
    );
    assert_eq!(counts(&b, t0 + secs(66) - NS), (1, 1));
    assert_eq!(
        counts(&b, t0 + secs(66)),
        (0, 0),
        "bucket 11: bucket 1 left"
    );
}

/// The window covers the current bucket and the nine before it: between 54 and 60 s.
#[test]
fn the_window_spans_between_nine_and_ten_buckets() {
    let b = watched(secs(60), 10);
    let t0 = Instant::now();
    call(&b, t0, Outcome::Success);
    call(&b, t0 + secs(5), Outcome::failed()); // bucket 0, late in it
    assert_eq!(
        counts(&b, t0 + secs(59)).1,
        1,
        "54 s after the failure: still in"
    );
    assert_eq!(counts(&b, t0 + secs(60)).1, 0, "55 s after it: gone");
}

/// An idle period lets old failures expire although no call arrives to push them out: after it,
/// the window holds only what came since.
#[test]
fn buckets_expire_while_idle() {
    let (b, log) = recorded(
        CircuitBreaker::builder()
            .time_window(secs(10))
            .consecutive_failures(None)
            .minimum_calls(5)
            .failure_rate(0.5),
    );
    let t0 = Instant::now();
    for _ in 0..4 {
        call(&b, t0, Outcome::failed());
    }
    assert_eq!(counts(&b, t0 + secs(9)), (4, 4));
    // Twenty idle seconds: nothing was recorded, yet the window is empty.
    assert_eq!(counts(&b, t0 + secs(20)), (0, 0));
    call(&b, t0 + secs(20), Outcome::failed());
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "1 call in the window: below the minimum (5 failures had the old ones stayed)"
    );
    for _ in 0..4 {
        call(&b, t0 + secs(21), Outcome::failed());
    }
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(log.lock().unwrap()[0].2, TransitionReason::FailureRate);
}

/// The same without a snapshot in between: the first call after the idle period moves the window
/// on before it is counted.
#[test]
fn the_first_call_after_idle_time_moves_the_window_on() {
    let b = CircuitBreaker::builder()
        .time_window(secs(10))
        .consecutive_failures(None)
        .minimum_calls(5)
        .build()
        .unwrap();
    let t0 = Instant::now();
    for _ in 0..4 {
        call(&b, t0, Outcome::failed());
    }
    call(&b, t0 + secs(30), Outcome::failed());
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(counts(&b, t0 + secs(30)), (1, 1));
}

/// The minimum number of calls counts every call in the window, whatever bucket it is in, and
/// only those: a call that expired no longer counts towards it.
#[test]
fn the_minimum_counts_calls_across_buckets() {
    let builder = || {
        CircuitBreaker::builder()
            .consecutive_failures(None)
            .minimum_calls(4)
            .failure_rate(0.5)
    };
    // Four buckets of 1 s: one call in each, the failure rate reaches 50 % with the fourth.
    let b = builder().time_window(secs(4)).build().unwrap();
    let t0 = Instant::now();
    let outcomes = [
        Outcome::Success,
        Outcome::failed(),
        Outcome::Success,
        Outcome::failed(),
    ];
    for (i, o) in outcomes.into_iter().enumerate() {
        assert_eq!(b.state(), BreakerState::Closed, "call {i}");
        call(&b, t0 + secs(i as u64), o);
    }
    assert_eq!(
        b.state(),
        BreakerState::Open,
        "4 calls in 4 buckets, 2 failures"
    );
    // Three buckets of 1 s: the first call has expired when the fourth comes.
    let b = builder().time_window(secs(3)).build().unwrap();
    for (i, o) in outcomes.into_iter().enumerate() {
        call(&b, t0 + secs(i as u64), o);
    }
    assert_eq!(
        (b.state(), counts(&b, t0 + secs(3))),
        (BreakerState::Closed, (3, 2)),
        "only 3 calls in the window"
    );
    // The minimum reached by a success with the rate already over the threshold trips it.
    let b = builder().time_window(secs(4)).build().unwrap();
    for (i, o) in [Outcome::failed(), Outcome::failed(), Outcome::Success]
        .into_iter()
        .enumerate()
    {
        call(&b, t0 + secs(i as u64), o);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    call(&b, t0 + secs(3), Outcome::Success);
    assert_eq!(b.state(), BreakerState::Open, "2 of 4: 50 %");
}

/// A jump of a million windows (about two years) empties the window at once and the breaker
/// goes on counting; an instant beyond any representable bucket neither panics nor loses
/// the breaker.
#[test]
fn clock_jumps_of_many_windows() {
    let b = watched(secs(60), 10);
    let t0 = Instant::now();
    for _ in 0..5 {
        call(&b, t0, Outcome::failed());
    }
    let later = t0 + secs(60) * 1_000_000;
    assert_eq!(counts(&b, later), (0, 0));
    call(&b, later, Outcome::failed());
    call(&b, later + secs(6), Outcome::Success);
    assert_eq!(counts(&b, later + secs(6)), (2, 1));
    assert_eq!(counts(&b, later + secs(66)), (0, 0));
    // Centuries on: buckets saturate, nothing panics.
    let far = t0 + Duration::from_secs(86_400 * 365 * 600);
    call(&b, far, Outcome::failed());
    let _ = b.snapshot(far);
    // An instant from before the last one (a late outcome) counts if its bucket is still in
    // the window, and is dropped otherwise.
    let b = watched(secs(60), 10);
    call(&b, t0 + secs(30), Outcome::failed());
    call(&b, t0 + secs(12), Outcome::failed());
    call(&b, t0, Outcome::failed()); // the breaker's first instant was t0 + 30 s: bucket 0
    assert_eq!(counts(&b, t0 + secs(30)), (3, 3));
    call(&b, t0 + secs(200), Outcome::Success);
    call(&b, t0 + secs(100), Outcome::failed()); // older than the window at 200 s
    assert_eq!(counts(&b, t0 + secs(200)), (1, 0));
}

/// Once the window holds the minimum, successes are counted per thread without the lock; they
/// still land in their bucket and expire with it.
#[test]
fn lock_free_successes_expire_with_their_bucket() {
    let (b, log) = recorded(
        CircuitBreaker::builder()
            .time_window(secs(60))
            .consecutive_failures(None)
            .minimum_calls(10)
            .failure_rate(0.5),
    );
    let t0 = Instant::now();
    for _ in 0..100 {
        call(&b, t0, Outcome::Success);
    }
    for _ in 0..10 {
        call(&b, t0 + secs(30), Outcome::failed());
    }
    assert_eq!(counts(&b, t0 + secs(30)), (110, 10));
    assert_eq!(b.state(), BreakerState::Closed, "9 % failed");
    // Bucket 0 with its 100 successes has expired: the window holds the 10 failures alone,
    // and the next failure trips the breaker.
    let s = b.snapshot(t0 + secs(60));
    assert_eq!((s.calls, s.failures, s.failure_rate), (10, 10, Some(1.0)));
    call(&b, t0 + secs(61), Outcome::failed());
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(log.lock().unwrap().len(), 1);
}

/// A snapshot moves the window on without judging it; the next call is judged on the window as
/// it is then, even a success (which the lock-free path would otherwise count unjudged).
#[test]
fn the_first_success_after_buckets_expired_is_judged() {
    let b = CircuitBreaker::builder()
        .time_window(secs(4)) // 4 buckets of 1 s
        .consecutive_failures(None)
        .minimum_calls(2)
        .failure_rate(0.6)
        .build()
        .unwrap();
    let t0 = Instant::now();
    call(&b, t0, Outcome::Success);
    call(&b, t0, Outcome::Success);
    call(&b, t0 + secs(1), Outcome::failed());
    call(&b, t0 + secs(1), Outcome::failed());
    assert_eq!(b.state(), BreakerState::Closed, "2 of 4: 50 %");
    let s = b.snapshot(t0 + secs(4));
    assert_eq!(
        (s.state, s.calls, s.failure_rate),
        (BreakerState::Closed, 2, Some(1.0)),
        "the successes expired; a snapshot does not trip"
    );
    call(&b, t0 + secs(4), Outcome::Success);
    assert_eq!(b.state(), BreakerState::Open, "2 of 3: 67 %");
}

/// A success in a later bucket than the newest one takes the lock and moves the window on:
/// successes of one bucket never count in the next.
#[test]
fn a_success_in_a_new_bucket_moves_the_window_on() {
    let b = CircuitBreaker::builder()
        .sliding_window(SlidingWindow::Time {
            length: secs(2),
            buckets: 2,
        })
        .minimum_calls(1)
        .build()
        .unwrap();
    let t0 = Instant::now();
    for i in 0..6 {
        for _ in 0..10 {
            call(&b, t0 + secs(i), Outcome::Success);
        }
    }
    assert_eq!(counts(&b, t0 + secs(5)), (20, 0), "buckets 4 and 5");
    assert_eq!(counts(&b, t0 + secs(6)), (10, 0));
}

/// A time window is validated like the rest of the configuration.
#[test]
fn invalid_time_windows_are_typed_errors() {
    let cases = [
        SlidingWindow::time(Duration::ZERO),
        SlidingWindow::time(Duration::from_micros(9_999)), // under 1 ms per bucket
        SlidingWindow::time(Duration::MAX),
        SlidingWindow::Time {
            length: secs(60),
            buckets: 0,
        },
        SlidingWindow::Time {
            length: secs(60_000),
            buckets: 4097,
        },
    ];
    for w in cases {
        let e = CircuitBreaker::builder()
            .sliding_window(w)
            .build()
            .expect_err("invalid");
        assert!(e.to_string().starts_with("breaker time window"), "{e}");
    }
    assert!(
        CircuitBreaker::builder()
            .sliding_window(SlidingWindow::DEFAULT_TIME)
            .minimum_calls(1_000_000)
            .build()
            .is_ok(),
        "a time window has no upper bound on the minimum"
    );
    assert_eq!(
        SlidingWindow::DEFAULT_TIME,
        SlidingWindow::time(secs(60)),
        "60 s in 10 buckets"
    );
}

/// Through the layer, under tokio's paused clock: the layer's cheap clock follows the paused
/// clock, so the window expires after a (virtual) idle period. A cheap clock reading the
/// system's time would see a few milliseconds pass, keep the old failures, and trip.
#[tokio::test(start_paused = true)]
async fn the_layer_expires_buckets_on_the_paused_clock() {
    let transitions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = transitions.clone();
    let breaker = CircuitBreaker::builder()
        .time_window(secs(10))
        .consecutive_failures(None)
        .minimum_calls(3)
        .failure_rate(0.5)
        .on_event(move |e: &Event<'_>| {
            if let Event::BreakerTransition { .. } = e {
                seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .build()
        .unwrap();
    let inner = Scripted::new([
        Step::Status(500),
        Step::Status(500),
        Step::Status(500),
        Step::Status(500),
        Step::Status(500),
    ]);
    let mut svc = CircuitBreakerLayer::new(breaker.clone())
        .classifier(super::classify as fn(&Result<Resp, steadfast::BoxError>) -> Outcome)
        .layer(inner.clone());
    for _ in 0..2 {
        assert_eq!(layer_call(&mut svc).await.unwrap().status, 500);
    }
    tokio::time::sleep(secs(20)).await;
    assert_eq!(layer_call(&mut svc).await.unwrap().status, 500);
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "the two old failures expired on the paused clock"
    );
    let now = tokio::time::Instant::now().into_std();
    assert_eq!(counts(&breaker, now), (1, 1));
    for _ in 0..2 {
        layer_call(&mut svc).await.unwrap();
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(transitions.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(
        inner.instants(),
        [secs(0), secs(0), secs(20), secs(20), secs(20)]
    );
}

// ---------------------------------------------------------------- the cheap reading

/// A clock like the layer's: an exact reading that counts how often it is taken, and a cheap
/// one off by `skew` (a coarse clock lags or leads by up to a tick).
struct Skewed<'a> {
    exact: Instant,
    skew: i64,
    reads: &'a std::cell::Cell<u32>,
}

impl steadfast::deadline::Now for Skewed<'_> {
    fn now(self) -> Instant {
        self.reads.set(self.reads.get() + 1);
        self.exact
    }

    fn recent(&self) -> Option<Instant> {
        let skew = Duration::from_millis(self.skew.unsigned_abs());
        Some(if self.skew < 0 {
            self.exact - skew
        } else {
            self.exact + skew
        })
    }
}

/// Open, far from the end of the open period, the cheap reading alone rejects (no exact read);
/// near it, the exact clock decides, to the nanosecond, whether the cheap one lags or leads.
#[test]
fn the_cheap_reading_never_decides_near_the_end_of_the_open_period() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    let t0 = Instant::now();
    call(&b, t0, Outcome::failed()); // open until t0 + 30 s
    let reads = std::cell::Cell::new(0);
    let at = |exact: Instant, skew: i64| Skewed {
        exact,
        skew,
        reads: &reads,
    };
    let r = b.try_acquire(at(t0 + secs(10), -10)).unwrap_err();
    assert_eq!(
        (r.retry_in, reads.get()),
        (Some(secs(20) + Duration::from_millis(10)), 0),
        "far: the cheap reading decides (and its error shows in retry_in)"
    );
    let r = b.try_acquire(at(t0 + secs(30) - NS, 10)).unwrap_err();
    assert_eq!(
        (r.retry_in, reads.get()),
        (Some(NS), 1),
        "a leading cheap reading says 'passed': the exact clock says 1 ns to go"
    );
    let p = b
        .try_acquire(at(t0 + secs(30), -10))
        .expect("a lagging cheap reading says '10 ms to go': the exact clock admits a probe");
    assert!(p.is_probe());
    assert_eq!(reads.get(), 2);
}
