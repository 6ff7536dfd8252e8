//! Property: whatever the drill, its timings, its abort rule and where it is cut, the stack
//! comes back exactly as it was (routing switches, chaos switches and scripts), no drill is
//! left holding it, and a report's phases add up (every call served once or failed).

use std::time::Duration;

use proptest::prelude::*;
use steadfast::chaos::Script;
use steadfast::drill::{Drill, Objectives, Phase};

use super::{REGIONS, rig};

fn drill() -> impl Strategy<Value = Drill> {
    let ms = |n: u64| Duration::from_millis(n);
    (
        0..4u8,
        1..3000u64,
        0..1500u64,
        0..15_000u64,
        0..3usize,
        0.0..=1.0f64,
        1..10u64,
    )
        .prop_map(move |(kind, window, lead, settle, target, share, min)| {
            let w = ms(window);
            match kind {
                0 => Drill::planned_failover(w),
                1 => Drill::regional_outage(w),
                2 => Drill::brownout(w, share.max(0.01)),
                _ => Drill::hang(w),
            }
            .target(REGIONS[target])
            .lead(ms(lead))
            .settle(ms(settle))
            .abort_above(share, min)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_drill_ended_aborted_or_dropped_leaves_the_stack_as_it_was(
        drill in drill(),
        cut in proptest::option::of(0..20_000u64),
        others_down in any::<bool>(),
        own_script in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let rig = rig();
            if others_down {
                rig.chaos[2].start(Script::builder().outage(..).build().unwrap());
            }
            if own_script {
                let own = Script::builder().seed(5).outage(Duration::from_secs(3600)..).build();
                rig.chaos[0].replace(own.unwrap());
            }
            let (routing, chaos) = (rig.routing(), rig.chaos_state());
            let o = Objectives::default();
            let result = match cut {
                Some(cut) => tokio::time::timeout(Duration::from_millis(cut), rig.drill(&drill, &o))
                    .await
                    .ok(),
                None => Some(rig.drill(&drill, &o).await),
            };
            prop_assert_eq!(rig.routing(), routing);
            prop_assert_eq!(rig.chaos_state(), chaos);
            prop_assert!(!rig.tap.drill_running());
            if let Some(Ok(report)) = result {
                for phase in Phase::ALL {
                    let p = report.phase(phase);
                    let served: u64 = p.served.iter().map(|s| s.calls).sum();
                    prop_assert_eq!(served + p.failed, p.calls);
                    prop_assert!(p.attempts >= p.calls);
                }
                prop_assert_eq!(report.verdict.passed, report.verdict.checks.iter().all(|c| c.passed));
                if let Some(a) = &report.aborted {
                    prop_assert!(a.failed as f64 > drill.abort_rule().0 * a.calls as f64);
                }
            }
            Ok(())
        })?;
    }
}
