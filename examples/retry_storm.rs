//! What a retry budget does during an outage, with the pure core alone (no runtime, no network).
//!
//! 2,000 requests arrive while a dependency is down for the middle 1,000 of them. Each request
//! retries on `Backoff::standard()` (3 retries, with equal jitter) unless the budget refuses. The example prints how
//! many calls the dependency received with and without a budget: the budget is what keeps
//! clients from quadrupling the load on a dependency that is already failing.
//!
//! `cargo run --example retry_storm`

use steadfast::backoff::Backoff;
use steadfast::budget::RetryBudget;
use steadfast::classify::Outcome;

fn main() {
    let schedule = Backoff::standard();
    println!("schedule: {:?}", schedule.delays(0).collect::<Vec<_>>());
    for (name, budget) in [
        ("no budget", RetryBudget::unlimited()),
        ("standard budget", RetryBudget::standard()),
    ] {
        let (mut calls, mut served, mut during_outage) = (0u32, 0u32, 0u32);
        for request in 0..2_000u32 {
            let down = (500..1_500).contains(&request);
            let mut last = None;
            let mut attempts = 0;
            loop {
                attempts += 1;
                calls += 1;
                if down {
                    during_outage += 1;
                }
                let outcome = if down {
                    Outcome::failed()
                } else {
                    Outcome::Success
                };
                if outcome.is_success() {
                    budget.on_success(last.take());
                    served += 1;
                    break;
                }
                if attempts > schedule.max_retries() {
                    break;
                }
                match budget.try_withdraw(&outcome) {
                    Some(w) => last = Some(w), // a retry is sent
                    None => break,             // the budget refuses: return the failure
                }
            }
        }
        println!(
            "{name:>16}: {calls} calls for 2000 requests, {during_outage} of them during the \
             outage (1000 requests), {served} served, budget level {:?}",
            budget.level()
        );
    }
}
