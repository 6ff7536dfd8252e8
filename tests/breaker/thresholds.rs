//! Exact thresholds: every whole-percent failure rate and slow-call rate from 1 % to 100 %,
//! against every count window from 1 to 200 calls. A window exactly at the threshold trips;
//! one call short of it does not. The expected count of calls is computed in integers
//! (`⌈p · n / 100⌉`), never with the breaker's arithmetic.

use std::time::{Duration, Instant};

use steadfast::Outcome;
use steadfast::breaker::{BreakerState, CircuitBreaker, CircuitBreakerBuilder};

/// The fewest calls of `n` that make at least `percent` % of them.
fn at_threshold(percent: u32, n: u32) -> u32 {
    (percent * n).div_ceil(100)
}

/// A window of exactly `n` calls, evaluated once full, with the consecutive-failure rule off.
fn breaker(n: u32, rules: CircuitBreakerBuilder) -> CircuitBreaker {
    rules
        .window(n)
        .minimum_calls(n)
        .consecutive_failures(None)
        .build()
        .unwrap()
}

/// Fills the window: `n - marked` plain successes, then `marked` marked calls (failures, or
/// slow successes), the last one completing the window. Returns the state before the last call
/// and after it.
fn fill(
    b: &CircuitBreaker,
    n: u32,
    marked: u32,
    mark: impl Fn(&CircuitBreaker, Instant),
) -> [BreakerState; 2] {
    let t0 = Instant::now();
    let mut before = BreakerState::Closed;
    for i in 0..n {
        before = b.state();
        if i < n - marked {
            b.try_acquire(t0).unwrap().record(&Outcome::Success, t0);
        } else {
            mark(b, t0);
        }
    }
    [before, b.state()]
}

fn sweep(
    rules: impl Fn(f64) -> CircuitBreakerBuilder,
    mark: impl Fn(&CircuitBreaker, Instant) + Copy,
) {
    for percent in 1..=100u32 {
        let share = f64::from(percent) / 100.0;
        for n in 1..=200u32 {
            let k = at_threshold(percent, n);
            let exact = breaker(n, rules(share));
            assert_eq!(
                fill(&exact, n, k, mark),
                [BreakerState::Closed, BreakerState::Open],
                "{percent} %: {k} of {n} calls trip",
            );
            assert_eq!(exact.snapshot(Instant::now()).generation, 1);
            let short = breaker(n, rules(share));
            assert_eq!(
                fill(&short, n, k - 1, mark),
                [BreakerState::Closed, BreakerState::Closed],
                "{percent} %: {} of {n} calls do not trip",
                k - 1
            );
        }
    }
}

#[test]
fn every_whole_percent_failure_rate_trips_exactly() {
    sweep(
        |share| CircuitBreaker::builder().failure_rate(share),
        |b, t| b.try_acquire(t).unwrap().record(&Outcome::failed(), t),
    );
}

#[test]
fn every_whole_percent_slow_call_rate_trips_exactly() {
    let threshold = Duration::from_millis(10);
    sweep(
        |share| {
            CircuitBreaker::builder()
                .failure_rate(None)
                .slow_call_duration(threshold)
                .slow_call_rate(share)
        },
        |b, t| {
            b.try_acquire(t)
                .unwrap()
                .record(&Outcome::Success, t + threshold + Duration::from_nanos(1))
        },
    );
}

/// The classic float trap: 7 % of a window of 100 is exactly 7 failures.
#[test]
fn seven_percent_of_a_hundred_is_seven() {
    let b = breaker(100, CircuitBreaker::builder().failure_rate(0.07));
    assert_eq!(
        fill(&b, 100, 7, |b, t| b
            .try_acquire(t)
            .unwrap()
            .record(&Outcome::failed(), t)),
        [BreakerState::Closed, BreakerState::Open]
    );
}
