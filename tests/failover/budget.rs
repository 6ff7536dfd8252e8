//! The budget across hops: the first attempt is free, every further attempt sent costs 5 (10
//! after a timeout), an attempt never sent is refunded, a success gives the last cost back; and
//! the bound on calls per request when everything fails.

use steadfast::event::GiveUpReason;
use steadfast::{AllEndpointsFailed, AttemptTimedOut, RetryBudget};

use super::support::{Scripted, Step, ms, secs};
use super::*;

fn failing() -> Scripted {
    Scripted::new(std::iter::repeat_n(Step::Status(503), 1000))
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_failing_requests_makes_exactly_the_hops_the_budget_allows() {
    let (east, west, north) = (failing(), failing(), failing());
    // 23 tokens: four hops at 5 each (3 left, not enough for a fifth).
    let budget = RetryBudget::builder().capacity(23).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west), ("north", &north)])
        .breakers(never_trip)
        .recover(Backoff::none())
        .budget(budget.clone())
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| tokio::spawn(f.clone().oneshot(i)))
        .collect();
    for t in tasks {
        assert_eq!(status(t.await.unwrap()), 503);
    }
    assert_eq!(east.count(), 10, "every first attempt is free");
    assert_eq!(
        west.count() + north.count(),
        4,
        "exactly the hops 23 tokens pay for"
    );
    assert_eq!(budget.level(), Some(3));
}

#[tokio::test(start_paused = true)]
async fn hops_after_timeouts_cost_the_timeout_cost() {
    let east = Scripted::new(std::iter::repeat_n(Step::Hang, 10));
    let west = failing();
    let budget = RetryBudget::builder().capacity(25).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .attempt_timeout(secs(1))
        .recover(Backoff::none())
        .budget(budget.clone())
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| tokio::spawn(f.clone().oneshot(i)))
        .collect();
    let mut timed_out = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => assert_eq!(r.status, 503),
            Err(e) => {
                let all = e.downcast_ref::<AllEndpointsFailed>().unwrap();
                assert!(all.last.is::<AttemptTimedOut>());
                timed_out += 1;
            }
        }
    }
    assert_eq!(west.count(), 2, "25 tokens pay for two hops at 10");
    assert_eq!(timed_out, 8);
    assert_eq!(budget.level(), Some(5));
    assert_eq!(west.instants(), [secs(1), secs(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_hop_never_sent_is_refunded() {
    let east = failing();
    let west = Scripted::new([]);
    let north = failing();
    west.set_not_ready(true);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west), ("north", &north)])
        .attempt_timeout(secs(1))
        .recover(Backoff::none())
        .budget(budget.clone())
        .on_event(rec.clone())
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 503);
    assert_eq!(
        budget.level(),
        Some(95),
        "only the hop to north was paid for"
    );
    assert_eq!((east.count(), west.count(), north.count()), (1, 0, 1));
    let hops: Vec<_> = rec
        .take()
        .into_iter()
        .filter(|e| matches!(e, Ev::Hop(..)))
        .collect();
    assert_eq!(
        hops,
        [
            hop("east", "west", 2, Some(95)),
            hop("west", "north", 3, Some(95)),
        ],
        "the hop to west withdrew 5, got it back, and the hop to north withdrew 5"
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_after_hops_gives_the_last_withdrawal_back() {
    let (east, west) = (failing(), failing());
    let north = Scripted::new([]);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west), ("north", &north)])
        .budget(budget.clone())
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(budget.level(), Some(95), "-5 -5 +5");
}

#[tokio::test(start_paused = true)]
async fn a_first_try_success_deposits_one() {
    let east = Scripted::new([]);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = regions(&[("east", &east)])
        .budget(budget.clone())
        .build()
        .unwrap();
    for _ in 0..2 {
        let _spent = budget.try_withdraw(&Outcome::failed()).unwrap();
    }
    assert_eq!(budget.level(), Some(90));
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(budget.level(), Some(91));
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_ends_the_pass_without_sleeping() {
    let (east, west) = (failing(), failing());
    let budget = RetryBudget::builder().capacity(5).build().unwrap();
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .budget(budget.clone())
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(status(call(&f, 1).await), 503);
    assert_eq!(since(t0), ms(0), "no sleep for a pass it could not pay for");
    assert_eq!(
        (east.count(), west.count(), budget.level()),
        (1, 1, Some(0))
    );
    assert_eq!(
        rec.take().pop(),
        Some(Ev::GaveUp(
            Some("west".into()),
            2,
            GiveUpReason::BudgetExhausted
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn failovers_given_one_budget_share_it() {
    let (east, west) = (failing(), failing());
    let budget = RetryBudget::builder().capacity(10).build().unwrap();
    let build = || {
        regions(&[("east", &east), ("west", &west)])
            .breakers(never_trip)
            .recover(Backoff::none())
            .budget(budget.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    for f in [&a, &b, &a] {
        assert_eq!(status(call(f, 1).await), 503);
    }
    assert_eq!((west.count(), budget.level()), (2, Some(0)));
    assert_eq!(a.budget().level(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn the_bound_on_calls_per_request_holds_exactly_when_everything_fails() {
    let east = Scripted::new(std::iter::repeat_n(Step::Err("reset"), 100));
    let west = Scripted::new(std::iter::repeat_n(Step::Status(503), 100));
    let north = Scripted::new(std::iter::repeat_n(Step::Err("reset"), 100));
    let budget = RetryBudget::standard();
    let f = regions(&[("east", &east), ("west", &west), ("north", &north)])
        .breakers(never_trip)
        .attempts_per_endpoint(2)
        .budget(budget.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    let all = e.downcast_ref::<AllEndpointsFailed>().unwrap();
    // passes (1 + 3 recover passes) × endpoints (3) × attempts per endpoint (2)
    assert_eq!(all.attempts.len(), 4 * 3 * 2);
    let each = [0, 0, 500, 500, 1500, 1500, 3500, 3500].map(ms);
    assert_eq!(east.instants(), each);
    assert_eq!(west.instants(), each);
    assert_eq!(north.instants(), each);
    assert_eq!(since(t0), ms(3500));
    assert_eq!(
        budget.level(),
        Some(500 - 23 * 5),
        "every attempt after the first"
    );
    let order: Vec<_> = all.attempts[..6].iter().map(|a| &*a.endpoint).collect();
    assert_eq!(order, ["east", "east", "west", "west", "north", "north"]);
}

#[tokio::test(start_paused = true)]
async fn with_the_defaults_and_two_regions_the_bound_is_eight() {
    let east = Scripted::new(std::iter::repeat_n(Step::Err("reset"), 100));
    let west = Scripted::new(std::iter::repeat_n(Step::Err("reset"), 100));
    let f = Failover::builder()
        .endpoint("east", east.clone())
        .endpoint("west", west.clone())
        .breakers(never_trip)
        .seed(7)
        .build()
        .unwrap();
    let t0 = Instant::now();
    let e = call(&f, 1).await.unwrap_err();
    assert_eq!(
        e.downcast_ref::<AllEndpointsFailed>()
            .unwrap()
            .attempts
            .len(),
        8
    );
    assert_eq!((east.count(), west.count()), (4, 4));
    // Equal jitter: each recover delay within [d/2, d] of 500 ms, 1 s, 2 s.
    let elapsed = since(t0);
    assert!(elapsed >= ms(1750) && elapsed <= ms(3500), "{elapsed:?}");
    let at = east.instants();
    for (i, (lo, hi)) in [(250, 500), (500, 1000), (1000, 2000)]
        .into_iter()
        .enumerate()
    {
        let gap = at[i + 1] - at[i];
        assert!(gap >= ms(lo) && gap <= ms(hi), "recover delay {i}: {gap:?}");
    }
}
