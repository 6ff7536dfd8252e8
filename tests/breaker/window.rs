//! The outcome window on its own, against a naive reference: every outcome kept with its
//! instant, the last `n` of them for a count window, those of the live buckets for a time
//! window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use steadfast::breaker::{Mark, OutcomeWindow, SlidingWindow};

/// (milliseconds since the first instant, the call) per step; `None`: only read the counts.
fn steps() -> impl Strategy<Value = Vec<(u64, Option<Mark>)>> {
    let mark = (any::<bool>(), any::<bool>()).prop_map(|(failure, slow)| Mark { failure, slow });
    prop::collection::vec((0u64..1_500, prop::option::weighted(0.8, mark)), 1..120)
}

/// (calls, failures, slow, slow failures) of the outcomes in `kept`.
fn naive(kept: &VecDeque<(u64, Mark)>) -> (u64, u64, u64, u64) {
    let n = |f: fn(&Mark) -> bool| kept.iter().filter(|(_, m)| f(m)).count() as u64;
    (
        kept.len() as u64,
        n(|m| m.failure),
        n(|m| m.slow),
        n(|m| m.failure && m.slow),
    )
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::default()))]

    #[test]
    fn a_count_window_keeps_the_last_n_calls(n in 1u32..20, steps in steps()) {
        let mut w = OutcomeWindow::new(SlidingWindow::Calls(n)).unwrap();
        let mut kept = VecDeque::new();
        let t0 = Instant::now();
        for (ms, mark) in steps {
            let now = t0 + Duration::from_millis(ms);
            if let Some(mark) = mark {
                w.record(mark, now);
                kept.push_back((ms, mark));
                if kept.len() > n as usize {
                    kept.pop_front();
                }
            }
            let c = w.counts(now);
            prop_assert_eq!((c.calls, c.failures, c.slow, c.slow_failures), naive(&kept));
        }
    }

    /// Time only moves forward here: the steps are sorted. Buckets of whole milliseconds.
    #[test]
    fn a_time_window_keeps_the_live_buckets(
        buckets in prop_oneof![Just(1u32), Just(2), Just(4), Just(5)],
        mut steps in steps(),
    ) {
        let length = Duration::from_millis(500);
        let bucket = 500 / u64::from(buckets);
        let mut w = OutcomeWindow::new(SlidingWindow::Time { length, buckets }).unwrap();
        steps.sort_by_key(|s| s.0);
        let t0 = Instant::now();
        // The window's buckets start at the first instant it is given.
        w.counts(t0);
        let mut kept: VecDeque<(u64, Mark)> = VecDeque::new();
        for (ms, mark) in steps {
            let now = t0 + Duration::from_millis(ms);
            if let Some(mark) = mark {
                w.record(mark, now);
                kept.push_back((ms, mark));
            }
            kept.retain(|(at, _)| at / bucket + u64::from(buckets) > ms / bucket);
            let c = w.counts(now);
            prop_assert_eq!((c.calls, c.failures, c.slow, c.slow_failures), naive(&kept));
        }
    }
}

#[test]
fn clear_empties_and_invalid_windows_are_errors() {
    let t0 = Instant::now();
    let mut w = OutcomeWindow::new(SlidingWindow::Calls(3)).unwrap();
    w.record(Mark::FAILURE, t0);
    assert_eq!(w.counts(t0).failures, 1);
    w.clear();
    assert_eq!(w.counts(t0).calls, 0);
    assert!(OutcomeWindow::new(SlidingWindow::Calls(0)).is_err());
    assert!(OutcomeWindow::new(SlidingWindow::time(Duration::from_millis(1))).is_err());
}
