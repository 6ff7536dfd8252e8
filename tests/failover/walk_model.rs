//! Property tests against a reference model of the walk written from the module docs: passes ×
//! endpoints in priority order × attempts per endpoint, the first attempt free and every further
//! one 5 tokens, a success giving back the last withdrawal (or depositing 1 on the first try), a
//! pass not started without the tokens for its first attempt. The calls per region, the result,
//! the elapsed time and the budget level agree exactly, and the bound on calls per request
//! always holds. A second property checks budget conservation under concurrent calls.

use proptest::prelude::*;
use steadfast::{AllEndpointsFailed, BoxError, RetryBudget};

use super::support::{Resp, Scripted, Step, ms};
use super::*;

mod model;

use model::{Answer, Model, Result_, answer};

/// The scripted step of an answer.
fn step(a: Answer) -> Step {
    match a {
        Answer::Ok => Step::Status(200),
        Answer::NotFound => Step::Status(404),
        Answer::Unavailable => Step::Status(503),
        Answer::Reset => Step::Err("reset"),
    }
}

fn observed(r: Result<Resp, BoxError>) -> Result_ {
    match r {
        Ok(r) => Result_::Status(r.status),
        Err(e) => {
            let all = e
                .downcast_ref::<AllEndpointsFailed>()
                .unwrap_or_else(|| panic!("unexpected error {e}"));
            assert_eq!(all.last.to_string(), "reset");
            Result_::Reset
        }
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

const NAMES: [&str; 4] = ["east", "west", "north", "south"];

/// A failover over `scripted` (named in order), breakers that never trip, the given schedule.
fn failover(
    scripted: &[Scripted],
    recover: Backoff,
    per_endpoint: u32,
    budget: &RetryBudget,
) -> Failover<Scripted, Classifier> {
    let named: Vec<(&str, &Scripted)> = NAMES.iter().copied().zip(scripted).collect();
    regions(&named)
        .breakers(never_trip)
        .recover(recover)
        .attempts_per_endpoint(per_endpoint)
        .budget(budget.clone())
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::with_cases(300)))]

    #[test]
    fn the_walk_follows_the_model(
        scripts in prop::collection::vec(prop::collection::vec(answer(), 0..12), 1..=4),
        retries in 0u32..=3,
        per_endpoint in 1u32..=3,
        capacity in 1u32..60,
        requests in 1usize..6,
    ) {
        paused_runtime().block_on(async {
            let regions_: Vec<Scripted> = scripts
                .iter()
                .map(|s| Scripted::new(s.iter().map(|a| step(*a))))
                .collect();
            let budget = RetryBudget::builder().capacity(capacity).build().unwrap();
            let f = failover(&regions_, Backoff::constant(ms(10), retries), per_endpoint, &budget);
            let mut model = Model::new(&scripts, capacity, retries, per_endpoint);
            let bound = (retries as usize + 1) * scripts.len() * per_endpoint as usize;
            for _ in 0..requests {
                let before: usize = regions_.iter().map(Scripted::count).sum();
                let t0 = Instant::now();
                let got = observed(call(&f, 1).await);
                let (want, calls, sleeps) = model.request();
                let made = regions_.iter().map(Scripted::count).sum::<usize>() - before;
                prop_assert_eq!(got, want);
                prop_assert_eq!(made, calls);
                prop_assert!(made <= bound, "{} calls, bound {}", made, bound);
                prop_assert_eq!(since(t0), ms(10) * sleeps);
                let counts: Vec<usize> = regions_.iter().map(Scripted::count).collect();
                prop_assert_eq!(&counts, &model.calls);
                prop_assert_eq!(budget.level(), Some(model.level));
            }
            Ok(())
        })?;
    }

    /// Concurrent calls on two worker threads over failing regions: every withdrawal succeeds
    /// while the bucket holds 5, none after, so exactly `min(demand, capacity / 5)` further
    /// attempts are made, and the level is what they leave.
    #[test]
    fn the_budget_is_conserved_under_concurrent_calls(
        regions_n in 2usize..=4,
        per_endpoint in 1u32..=2,
        capacity in 1u32..200,
        requests in 1u32..40,
        errors in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let step = if errors { Step::Err("reset") } else { Step::Status(503) };
            let regions_: Vec<Scripted> = (0..regions_n)
                .map(|_| Scripted::new(std::iter::repeat_n(step.clone(), 10_000)))
                .collect();
            let budget = RetryBudget::builder().capacity(capacity).build().unwrap();
            let f = failover(&regions_, Backoff::none(), per_endpoint, &budget);
            let tasks: Vec<_> = (0..requests).map(|i| tokio::spawn(f.clone().oneshot(i))).collect();
            for t in tasks {
                let _ = t.await.unwrap();
            }
            let calls: usize = regions_.iter().map(Scripted::count).sum();
            let demand = requests as usize * (regions_n * per_endpoint as usize - 1);
            let further = demand.min((capacity / 5) as usize);
            prop_assert_eq!(calls, requests as usize + further);
            prop_assert_eq!(budget.level(), Some(capacity - 5 * further as u32));
            Ok(())
        })?;
    }
}
