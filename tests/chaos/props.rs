//! Property tests of the script's invariants, and of the layer reproducing the script exactly.

use std::time::Duration;

use proptest::prelude::*;
use steadfast::chaos::{ChaosHandle, ChaosLayer, FaultKind, Latency, Script};
use tower::{Layer, Service, ServiceExt};

use crate::support::Scripted;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Up to 6 windows as (start, length) in milliseconds.
fn windows() -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec((0u64..10_000, 1u64..3_000), 0..6)
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::with_cases(256)))]

    /// With outage windows only, a call at `t` fails iff `t` is in some window, and the fault
    /// names the first such window; nothing else is ever injected.
    #[test]
    fn a_call_fails_iff_it_is_inside_an_outage(
        seed: u64,
        ws in windows(),
        probes in prop::collection::vec((0u64..15_000, any::<u64>()), 1..50),
    ) {
        let mut b = Script::builder().seed(seed);
        for (from, len) in &ws {
            b = b.outage(ms(*from)..ms(from + len));
        }
        let script = b.build().unwrap();
        // Random instants, and every window's bounds, exactly and a nanosecond either side.
        let bounds = ws.iter().flat_map(|(from, len)| [*from, from + len]);
        let instants = probes.iter().map(|(t, _)| *t).chain(bounds);
        for (t, call) in instants.zip(probes.iter().map(|(_, c)| *c).cycle()) {
            let nano = Duration::from_nanos(1);
            for t in [ms(t), ms(t) + nano, ms(t).saturating_sub(nano)] {
                let first = ws.iter().position(|(from, len)| ms(*from) <= t && t < ms(from + len));
                let decided = script.decide(call, t);
                prop_assert_eq!(decided.map(|f| (f.kind, f.window)), first.map(|w| (FaultKind::Error, Some(w))));
            }
        }
    }

    /// Raising the error rate only adds failures: a call failed at one rate fails at every
    /// higher one, and the latency drawn for a call does not depend on the rates.
    #[test]
    fn error_rates_are_monotone_and_independent_of_latency(
        seed: u64,
        low in 0.0f64..=1.0,
        extra in 0.0f64..=1.0,
        calls in prop::collection::vec(any::<u64>(), 1..100),
    ) {
        let high = (low + extra).min(1.0);
        let latency = Latency::uniform(ms(1), ms(9));
        let a = Script::builder().seed(seed).error_rate(low).latency(latency).build().unwrap();
        let b = Script::builder().seed(seed).error_rate(high).latency(latency).build().unwrap();
        let c = Script::builder().seed(seed).error_rate(high).build().unwrap();
        for call in calls {
            let (fa, fb, fc) = (a.decide(call, ms(0)), b.decide(call, ms(0)), c.decide(call, ms(0)));
            let fails = |f: Option<steadfast::chaos::Fault>| f.is_some_and(|f| f.kind == FaultKind::Error);
            prop_assert!(!fails(fa) || fails(fb));
            prop_assert_eq!(fa.unwrap().delay, fb.unwrap().delay);
            prop_assert_eq!(fails(fb), fails(fc));
        }
    }

    /// Every drawn latency is within its configured range (the tail's, or the base's), and a
    /// hang never carries a delay.
    #[test]
    fn latencies_stay_within_their_bounds(
        seed: u64,
        (min, span) in (0u64..5_000, 0u64..5_000),
        (tmin, tspan) in (0u64..50_000, 0u64..50_000),
        share in 0.0f64..=1.0,
        hang in 0.0f64..=0.5,
        calls in prop::collection::vec(any::<u64>(), 1..100),
    ) {
        let l = Latency::uniform(ms(min), ms(min + span)).with_tail(share, ms(tmin), ms(tmin + tspan));
        let s = Script::builder().seed(seed).latency(l).hang_rate(hang).build().unwrap();
        for call in calls {
            match s.decide(call, ms(0)) {
                Some(f) if f.kind == FaultKind::Hang => prop_assert_eq!(f.delay, Duration::ZERO),
                Some(f) => {
                    let base = ms(min) <= f.delay && (f.delay < ms(min + span) || span == 0 && f.delay == ms(min));
                    let tail = ms(tmin) <= f.delay && (f.delay < ms(tmin + tspan) || tspan == 0 && f.delay == ms(tmin));
                    prop_assert!(base || tail, "{:?}", f);
                }
                None => prop_assert!(min == 0 || tmin == 0),
            }
        }
    }

    /// Through the layer, a run of calls injects exactly the script's decisions for calls
    /// `0..n`, and a second run with the same seed repeats it.
    #[test]
    fn the_layer_reproduces_the_script(seed: u64, rate in 0.0f64..=1.0, hang in 0.0f64..=0.2, n in 1u64..150) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let script = Script::builder().seed(seed).error_rate(rate).hang_rate(hang).build().unwrap();
        let run = |script: Script| rt.block_on(async move {
            let mut svc = ChaosLayer::new(ChaosHandle::new(script)).layer(Scripted::new([]));
            let mut seen = Vec::new();
            for _ in 0..n {
                let r = tokio::time::timeout(Duration::from_secs(1), svc.ready().await.unwrap().call(0)).await;
                seen.push(match r {
                    Err(_) => Some(FaultKind::Hang),
                    Ok(Err(_)) => Some(FaultKind::Error),
                    Ok(Ok(_)) => None,
                });
            }
            seen
        });
        let first = run(script.clone());
        let predicted: Vec<_> = (0..n).map(|i| script.decide(i, ms(0)).map(|f| f.kind)).collect();
        prop_assert_eq!(&first, &predicted);
        prop_assert_eq!(first, run(script));
    }

    /// Building never panics, whatever the values; it fails exactly on invalid ones.
    #[test]
    fn building_is_total(
        rate in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-0.5), 0.0f64..=1.0, 1.0f64..2.0],
        from in prop_oneof![Just(Duration::MAX), (0u64..1_000).prop_map(ms)],
        until in prop_oneof![Just(Duration::MAX), (0u64..1_000).prop_map(ms)],
    ) {
        let r = Script::builder().error_rate(rate).outage(from..until).build();
        let valid = (0.0..=1.0).contains(&rate) && from < until && until <= steadfast::chaos::MAX_DURATION;
        prop_assert_eq!(r.is_ok(), valid);
    }
}
