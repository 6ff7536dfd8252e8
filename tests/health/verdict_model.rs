//! Property test against a reference model of the verdict, written from the module docs as
//! windows rather than counters: a healthy endpoint becomes unhealthy at the first check whose
//! last `unhealthy_after` results all failed, an unhealthy one healthy at the first whose last
//! `healthy_after` results all passed. Over any sequence of passes, failures, slow passes and
//! hangs (cut by the timeout), the driver's table, the failover's routing bit and the events
//! agree with the model after every check.

use proptest::collection::vec;
use proptest::prelude::*;
use steadfast::health::HealthChecks;

use super::support::{ms, secs};
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum R {
    Pass,
    Fail,
    /// Passes after 1.5 s (within the 2 s timeout).
    SlowPass,
    /// Never answers: cut at 2 s, a failure.
    Hang,
}

impl R {
    fn passes(self) -> bool {
        matches!(self, R::Pass | R::SlowPass)
    }

    fn probe(self) -> Probe {
        match self {
            R::Pass => Pass,
            R::Fail => Fail("down"),
            R::SlowPass => after(ms(1_500), Pass),
            R::Hang => Hang,
        }
    }
}

fn result() -> impl Strategy<Value = R> {
    prop_oneof![
        Just(R::Pass),
        Just(R::Fail),
        Just(R::SlowPass),
        Just(R::Hang)
    ]
}

/// The model after the results `rs`: (healthy, consecutive failures, consecutive passes,
/// changes so far).
fn model(rs: &[R], unhealthy_after: usize, healthy_after: usize) -> (bool, u32, u32, usize) {
    let mut healthy = true;
    let mut changes = 0;
    for i in 0..rs.len() {
        let last = |n: usize| (i + 1 >= n).then(|| &rs[i + 1 - n..=i]);
        if healthy && last(unhealthy_after).is_some_and(|w| w.iter().all(|r| !r.passes())) {
            healthy = false;
            changes += 1;
        } else if !healthy && last(healthy_after).is_some_and(|w| w.iter().all(|r| r.passes())) {
            healthy = true;
            changes += 1;
        }
    }
    let trailing = |pass: bool| rs.iter().rev().take_while(|r| r.passes() == pass).count() as u32;
    (healthy, trailing(false), trailing(true), changes)
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::with_cases(200)))]

    #[test]
    fn the_verdict_follows_the_reference_model(
        rs in vec(result(), 1..40),
        unhealthy_after in 1u32..5,
        healthy_after in 1u32..5,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let t0 = Instant::now();
            let (a, b) = (Scripted::new([]), Scripted::new([]));
            let f = regions(&[("a", &a), ("b", &b)]).build().unwrap();
            let handle = f.handle();
            let probes = Probes::new().script("a", rs.iter().map(|r| r.probe()), Pass);
            let changes = Changes::new();
            let (table, task) = spawn(HealthChecks::failover(handle.clone(), probes.check())
                .unhealthy_after(unhealthy_after)
                .healthy_after(healthy_after)
                .on_event(changes.clone()));
            let mut seen = 0;
            for k in 0..rs.len() {
                // Every check of round k has ended by 10 k + 2 s.
                at(t0, secs(10 * k as u64) + ms(2_001)).await;
                let h = table.get("a").unwrap();
                let (healthy, failures, passes, changed) =
                    model(&rs[..=k], unhealthy_after as usize, healthy_after as usize);
                prop_assert_eq!(
                    (h.healthy, h.consecutive_failures, h.consecutive_passes, h.checks),
                    (healthy, failures, passes, k as u64 + 1),
                    "after check {}", k
                );
                prop_assert_eq!(handle.endpoint_status()[0].failing_checks, !healthy);
                seen += changes.take().len();
                prop_assert_eq!(seen, changed);
            }
            task.abort();
            Ok(())
        })?;
    }
}
