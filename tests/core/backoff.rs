use std::time::Duration;

use proptest::prelude::*;
use steadfast::backoff::{Backoff, Jitter};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

/// Exponential schedules over the whole range of parameters, including absurd ones.
fn exponential() -> impl Strategy<Value = Backoff> {
    (
        0u64..=u64::MAX / 2,
        1.0f64..1e6,
        0u64..=u64::MAX / 2,
        0u32..40,
    )
        .prop_map(|(base, factor, extra, retries)| {
            let base = Duration::from_nanos(base >> (base % 40));
            let cap = base + Duration::from_nanos(extra >> (extra % 40));
            Backoff::exponential(base, factor, cap, retries).expect("valid parameters")
        })
}

fn listed() -> impl Strategy<Value = Backoff> {
    (prop::collection::vec(0u64..10_000_000_000, 0..=8), 0u32..20).prop_map(|(v, extra)| {
        let b = Backoff::list(v.into_iter().map(Duration::from_nanos)).unwrap();
        b.with_max_retries(b.max_retries() + extra % 3)
    })
}

fn schedule() -> impl Strategy<Value = Backoff> {
    prop_oneof![exponential(), listed()]
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::with_cases(2000)))]

    #[test]
    fn every_jitter_stays_within_its_bounds(b in schedule(), j in jitter(), seed: u64) {
        let b = b.with_jitter(j);
        let cap = b.cap();
        let first = b.nominal_delay(1).unwrap_or_default().min(cap);
        let mut n = 0;
        for (i, d) in b.delays(seed).enumerate() {
            let nominal = b.nominal_delay(i as u32 + 1).unwrap();
            prop_assert!(d <= cap, "{d:?} above cap {cap:?}");
            match j {
                Jitter::None => prop_assert_eq!(d, nominal),
                Jitter::Full => prop_assert!(d <= nominal),
                Jitter::Equal => prop_assert!(d >= nominal / 2 && d <= nominal, "{d:?} vs {nominal:?}"),
                Jitter::Decorrelated => prop_assert!(d >= first, "{d:?} below base {first:?}"),
            }
            n += 1;
        }
        prop_assert_eq!(n, b.max_retries());
    }

    #[test]
    fn without_jitter_exponential_is_non_decreasing(b in exponential()) {
        let v: Vec<_> = b.delays(0).collect();
        prop_assert_eq!(v.len() as u32, b.max_retries());
        prop_assert!(v.windows(2).all(|w| w[0] <= w[1]), "{v:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_delays(b in schedule(), j in jitter(), seed: u64) {
        let b = b.with_jitter(j);
        let one: Vec<_> = b.delays(seed).collect();
        let two: Vec<_> = b.delays(seed).collect();
        prop_assert_eq!(one, two);
    }

    #[test]
    fn no_parameter_panics(base: u64, factor: f64, cap: u64, retries in 0u32..64, seed: u64, j in jitter()) {
        let made = Backoff::exponential(Duration::from_nanos(base), factor, Duration::from_nanos(cap), retries);
        let ok = made.is_ok();
        match made {
            Ok(b) => { b.with_jitter(j).delays(seed).for_each(drop); }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        prop_assert_eq!(ok, factor.is_finite() && factor >= 1.0 && cap >= base);
    }
}

#[test]
fn seeds_change_jittered_delays() {
    let b = Backoff::standard().with_jitter(Jitter::Full);
    let a: Vec<_> = b.delays(1).collect();
    let c: Vec<_> = b.delays(2).collect();
    assert_ne!(a, c);
}

#[test]
fn jitter_spreads_over_its_whole_range() {
    // Equal jitter of 1 s over many seeds covers [500 ms, 1 s] roughly uniformly.
    let b = Backoff::constant(Duration::from_secs(1), 1).with_jitter(Jitter::Equal);
    let mut buckets = [0u32; 5];
    for seed in 0..10_000u64 {
        let d = b.delays(seed).next().unwrap().as_secs_f64();
        assert!((0.5..=1.0).contains(&d));
        buckets[(((d - 0.5) / 0.1) as usize).min(4)] += 1;
    }
    for n in buckets {
        assert!((1700..2300).contains(&n), "{buckets:?}");
    }
}
