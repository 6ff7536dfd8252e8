//! The routing state driven directly, without a runtime: fixed instants, no call.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A router over `n` endpoints named `e0`, `e1`, … with default breakers, and its base instant.
fn router(n: usize, failback: Failback) -> (Router, Instant) {
    let t0 = Instant::now();
    let endpoints = (0..n).map(|i| (Arc::from(format!("e{i}")), CircuitBreaker::default()));
    (Router::new(endpoints, failback, t0), t0)
}

#[test]
fn pick_goes_by_priority_demoted_endpoints_last_unless_they_are_the_head() {
    let (r, _) = router(3, Failback::Manual);
    assert_eq!(r.pick(0b111, 0, None), Some(0));
    assert_eq!(r.pick(0b111, 0b001, None), Some(1));
    r.observe_breaker(0, BreakerState::Open);
    assert_eq!(r.demoted(), 0b001);
    assert_eq!(r.pick(0b111, 0, None), Some(1));
    assert_eq!(
        r.pick(0b111, 0b110, None),
        Some(0),
        "demoted, but still a candidate"
    );
    assert_eq!(
        r.pick(0b111, 0, Some(0)),
        Some(0),
        "the call's probe goes first"
    );
    assert_eq!(r.pick(0b111, 0b111, None), None);
    r.fail_back();
    assert_eq!(r.demoted(), 0);
}

#[test]
fn the_switch_wins_and_health_fails_open_over_the_endpoints_switched_on() {
    let (r, _) = router(2, Failback::Immediate);
    assert_eq!(r.kept_away(0), None);
    assert!(r.set_healthy(0, false));
    assert!(!r.set_healthy(0, false), "no change the second time");
    assert_eq!(r.kept_away(0), Some(Unavailable::Unhealthy));
    r.switch(|_| Ok::<_, ()>(0b01)).unwrap();
    assert_eq!(r.kept_away(0), Some(Unavailable::SwitchedOff));
    r.switch(|_| Ok::<_, ()>(0b00)).unwrap();
    assert!(r.set_healthy(1, false));
    assert_eq!(
        r.kept_away(0),
        None,
        "every endpoint fails its checks: all count as available"
    );
    assert_eq!(r.kept_away(1), None);
}

#[test]
fn push_back_lasts_its_hint_never_shortens_and_clears() {
    let (r, t0) = router(2, Failback::Immediate);
    r.push_back(0, t0, ms(300));
    r.push_back(0, t0, ms(100));
    assert_eq!(
        r.pushed_back(0, &mut LazyNow::fixed(t0 + ms(100))),
        Some(ms(200))
    );
    assert_eq!(r.pushed_back(0, &mut LazyNow::fixed(t0 + ms(300))), None);
    assert_eq!(r.pushed_back(1, &mut LazyNow::fixed(t0)), None);
    r.push_back(1, t0, Duration::MAX);
    assert!(r.pushed_back(1, &mut LazyNow::fixed(t0 + ms(1))).is_some());
    assert!(r.clear_push_back(1, t0));
    assert!(!r.clear_push_back(1, t0));
    assert_eq!(r.why_unavailable(1, t0), None);
}

#[test]
fn availability_flags_report_each_change_once() {
    let (r, _) = router(2, Failback::Immediate);
    assert!(!r.mark_available(1));
    assert!(r.mark_unavailable(1));
    assert!(!r.mark_unavailable(1));
    assert!(r.mark_available(1));
    assert!(!r.mark_available(1));
}

#[test]
fn serving_moves_and_reports_the_endpoint_it_left() {
    let (r, _) = router(3, Failback::Immediate);
    assert_eq!(r.serve(0), None);
    assert_eq!(r.serve(2), Some(0));
    assert_eq!(r.serving(), 2);
    assert_eq!(r.serve(2), None);
}

#[test]
fn a_recovered_endpoint_gets_one_trickle_call_until_its_hold_down_passes() {
    let (r, t0) = router(2, Failback::After(ms(500)));
    r.observe_breaker(0, BreakerState::Open);
    r.serve(1);
    // Its breaker closed again: the first call starts the hold-down and takes the slot.
    assert_eq!(
        r.failback_head(0b11, &mut LazyNow::fixed(t0)),
        Some((0, true))
    );
    assert_eq!(
        r.failback_head(0b11, &mut LazyNow::fixed(t0)),
        None,
        "one trickle call at a time"
    );
    assert_eq!(r.why_unavailable(0, t0), Some(Unavailable::FailbackPending));
    assert_eq!(r.hold_down_left(0, t0 + ms(200)), Some(ms(300)));
    r.end_trickle(0);
    assert_eq!(
        r.failback_head(0b11, &mut LazyNow::fixed(t0 + ms(100))),
        Some((0, true))
    );
    r.end_trickle(0);
    // The hold-down passed without a failure: restored, calls go by priority again.
    assert_eq!(
        r.failback_head(0b11, &mut LazyNow::fixed(t0 + ms(500))),
        None
    );
    assert_eq!(r.demoted(), 0);
}

#[test]
fn a_failure_restarts_the_hold_down() {
    let (r, t0) = router(2, Failback::After(ms(500)));
    r.observe_breaker(0, BreakerState::Open);
    r.serve(1);
    assert_eq!(
        r.failback_head(0b11, &mut LazyNow::fixed(t0)),
        Some((0, true))
    );
    r.end_trickle(0);
    r.failed(0);
    assert_eq!(
        r.hold_down_left(0, t0 + ms(400)),
        None,
        "not started again yet"
    );
    assert_eq!(
        r.failback_head(0b11, &mut LazyNow::fixed(t0 + ms(400))),
        Some((0, true))
    );
    r.end_trickle(0);
    assert_eq!(
        r.failback_head(0b11, &mut LazyNow::fixed(t0 + ms(600))),
        Some((0, true))
    );
}

#[test]
fn a_demotion_behind_the_serving_endpoint_ends() {
    let (r, t0) = router(3, Failback::Manual);
    r.observe_breaker(1, BreakerState::Open);
    assert_eq!(r.serving(), 0);
    assert_eq!(r.failback_head(0b111, &mut LazyNow::fixed(t0)), None);
    assert_eq!(r.demoted(), 0, "endpoint 1 ranks behind the serving one");
}
