//! Cancellation: a call dropped at each of its await points — readying an endpoint, waiting for
//! an attempt, sleeping between passes, waiting for an endpoint to come back — leaks no probe
//! slot, no trickle slot and no budget, and records nothing against the endpoint it was at.

use std::future::Future;

use steadfast::RetryBudget;
use steadfast::breaker::BreakerState;
use steadfast::failover::Failback;

use super::support::{Scripted, Step, ms, secs};
use super::*;

/// Polls `fut` for `d` (paused time), then drops it.
async fn drop_after<F: Future>(d: Duration, fut: F) {
    assert!(
        tokio::time::timeout(d, fut).await.is_err(),
        "the call was still running when dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_before_its_first_poll_it_does_nothing() {
    let east = Scripted::new([]);
    let budget = RetryBudget::builder().capacity(10).build().unwrap();
    let mut f = regions(&[("east", &east)])
        .budget(budget.clone())
        .build()
        .unwrap();
    drop(f.call(1));
    tokio::time::sleep(secs(1)).await;
    assert_eq!((east.count(), budget.level()), (0, Some(10)));
}

#[tokio::test(start_paused = true)]
async fn dropped_while_readying_a_probe_gives_its_slot_back() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(one_probe)
        .budget(budget.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    trip(&handle, "east");
    tokio::time::sleep(secs(10)).await;
    east.set_not_ready(true);
    drop_after(ms(100), call(&f, 1)).await;
    assert_eq!(east.count(), 0);
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::HalfOpen));
    assert!(admits(&handle, "east"), "the probe slot came back");
    assert_eq!(budget.level(), Some(100));
    // And the next call probes east as soon as it is ready.
    east.set_not_ready(false);
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!((east.count(), west.count()), (1, 0));
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn dropped_while_calling_a_probe_gives_its_slot_back_and_records_nothing() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(one_probe)
        .build()
        .unwrap();
    let handle = f.handle();
    trip(&handle, "east");
    tokio::time::sleep(secs(10)).await;
    let generation = handle.breaker("east").unwrap().generation();
    drop_after(ms(100), call(&f, 1)).await;
    assert_eq!((east.count(), east.live()), (1, 0));
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::HalfOpen));
    assert_eq!(
        handle.breaker("east").unwrap().generation(),
        generation + 1,
        "only Open → HalfOpen: the dropped probe recorded nothing"
    );
    assert!(admits(&handle, "east"), "the probe slot came back");
}

#[tokio::test(start_paused = true)]
async fn dropped_while_readying_a_hop_refunds_it() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    west.set_not_ready(true);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west)])
        .budget(budget.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    drop_after(ms(100), call(&f, 1)).await;
    assert_eq!(budget.level(), Some(100), "the hop to west was never sent");
    assert_eq!((east.count(), west.count()), (1, 0));
    assert_eq!(
        (failures(&handle, "east"), failures(&handle, "west")),
        (1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_while_calling_a_hop_keeps_its_cost_and_records_nothing() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([Step::Hang]);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west)])
        .budget(budget.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    drop_after(ms(100), call(&f, 1)).await;
    assert_eq!(
        budget.level(),
        Some(95),
        "the hop was sent: its cost is spent"
    );
    assert_eq!((west.count(), west.live()), (1, 0));
    assert_eq!(failures(&handle, "west"), 0);
    let snapshot = handle.breaker("west").unwrap().snapshot(now());
    assert_eq!(
        snapshot.calls, 0,
        "nothing recorded for the dropped attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_while_sleeping_between_passes_leaves_nothing_behind() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 10));
    let west = Scripted::new(std::iter::repeat_n(Step::Status(503), 10));
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .budget(budget.clone())
        .build()
        .unwrap();
    drop_after(ms(200), call(&f, 1)).await;
    assert_eq!((east.count(), west.count()), (1, 1));
    assert_eq!(budget.level(), Some(95), "only the hop sent is paid for");
    tokio::time::sleep(secs(10)).await;
    assert_eq!(
        (east.count(), west.count()),
        (1, 1),
        "nothing runs after the drop"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_while_waiting_for_an_endpoint_holds_nothing() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let budget = RetryBudget::builder().capacity(100).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| one_probe(b).open_duration(ms(300)))
        .budget(budget.clone())
        .build()
        .unwrap();
    let handle = f.handle();
    trip(&handle, "east");
    trip(&handle, "west");
    drop_after(ms(100), call(&f, 1)).await;
    tokio::time::sleep(secs(1)).await;
    assert_eq!((east.count(), west.count()), (0, 0), "the wait was dropped");
    assert!(admits(&handle, "east") && admits(&handle, "west"));
    assert_eq!(budget.level(), Some(100));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_trickle_call_gives_its_slot_back() {
    for ready in [true, false] {
        // east: trips, is probed back to closed at 10 s; then its trickle call hangs (or its
        // service never gets ready) and is dropped.
        let hang = if ready { vec![Step::Hang] } else { vec![] };
        let east = Scripted::new(
            [Step::Status(503), Step::Status(200)]
                .into_iter()
                .chain(hang),
        );
        let west = Scripted::new([]);
        let f = regions(&[("east", &east), ("west", &west)])
            .breakers(one_probe)
            .failback(Failback::Manual)
            .build()
            .unwrap();
        let t0 = Instant::now();
        assert_eq!(status(call(&f, 1).await), 200);
        tokio::time::sleep_until(t0 + secs(10)).await;
        assert_eq!(status(call(&f, 2).await), 200);
        assert_eq!(f.handle().breaker_state("east"), Some(BreakerState::Closed));
        east.set_not_ready(!ready);
        drop_after(ms(100), call(&f, 3)).await;
        assert_eq!(east.count(), if ready { 3 } else { 2 });
        east.set_not_ready(false);
        // The trickle slot is free: the next call is the trickle, to east.
        assert_eq!(status(call(&f, 4).await), 200);
        assert_eq!(east.requests().last(), Some(&4), "ready: {ready}");
        assert_eq!(west.count(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_while_readying_a_healthy_primary_leaves_nothing_behind() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    east.set_not_ready(true);
    let budget = RetryBudget::builder().capacity(10).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west)])
        .budget(budget.clone())
        .build()
        .unwrap();
    let _spent = budget.try_withdraw(&Outcome::failed()).unwrap();
    drop_after(ms(100), call(&f, 1)).await;
    let handle = f.handle();
    assert_eq!(
        (east.count(), west.count(), budget.level()),
        (0, 0, Some(5))
    );
    let snapshot = handle.breaker("east").unwrap().snapshot(now());
    assert_eq!(
        (snapshot.calls, snapshot.failures),
        (0, 0),
        "nothing recorded"
    );
    east.set_not_ready(false);
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!(
        (east.count(), budget.level()),
        (1, Some(6)),
        "the next call is a first-try success"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_while_calling_a_healthy_primary_leaves_nothing_behind() {
    let east = Scripted::new([Step::Hang]);
    let west = Scripted::new([]);
    let budget = RetryBudget::builder().capacity(10).build().unwrap();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.consecutive_failures(1))
        .budget(budget.clone())
        .build()
        .unwrap();
    drop_after(ms(100), call(&f, 1)).await;
    let handle = f.handle();
    assert_eq!((east.count(), east.live(), west.count()), (1, 0, 0));
    assert_eq!(budget.level(), Some(10));
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Closed));
    let snapshot = handle.breaker("east").unwrap().snapshot(now());
    assert_eq!(
        (snapshot.calls, snapshot.failures),
        (0, 0),
        "nothing recorded"
    );
}

/// Two worker threads, real time, a primary failing one call in three with a breaker that opens
/// and half-opens every few milliseconds: every call is served, and once they are all done no
/// probe slot is still held.
#[test]
fn concurrent_calls_leave_no_probe_slot_held() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let steps: Vec<Step> = (0..3000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let answer = if seed % 3 == 0 { 503 } else { 200 };
                Step::After(
                    Duration::from_micros(seed % 500),
                    Box::new(Step::Status(answer)),
                )
            })
            .collect();
        let east = Scripted::new(steps);
        let west = Scripted::new([]);
        let f = regions(&[("east", &east), ("west", &west)])
            .breakers(|b| {
                // Half-open until its probes report, however long the check below waits: a
                // breaker that gave up waiting would open again and hide a leaked slot.
                b.consecutive_failures(2)
                    .open_duration(ms(2))
                    .half_open_max_wait(secs(3600))
                    .probes(3)
                    .required_successes(2)
            })
            .build()
            .unwrap();
        let mut served = Vec::new();
        let mut dropped = Vec::new();
        for i in 0..1000 {
            let call = f.clone().oneshot(i);
            if i % 7 == 0 {
                // Some calls are dropped mid-flight.
                dropped.push(tokio::spawn(tokio::time::timeout(
                    Duration::from_micros(200),
                    call,
                )));
            } else {
                served.push(tokio::spawn(call));
            }
        }
        for t in served {
            assert_eq!(status(t.await.unwrap()), 200);
        }
        for t in dropped {
            if let Ok(r) = t.await.unwrap() {
                assert_eq!(status(r), 200);
            }
        }
        assert!(east.count() > 0 && west.count() > 0);
        assert_eq!((east.live(), west.live()), (0, 0));
        let handle = f.handle();
        let breaker = handle.breaker("east").unwrap();
        // Past the open duration (a sleep is never shorter): closed or half-open now, and half-open
        // stays so until a probe reports.
        tokio::time::sleep(ms(5)).await;
        let permits: Vec<_> = (0..3)
            .filter_map(|_| breaker.try_acquire(now()).ok())
            .collect();
        assert_eq!(
            permits.len(),
            3,
            "every probe slot is free ({:?})",
            breaker.state()
        );
    });
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_after_the_slow_threshold_counts_as_slow_for_its_endpoint() {
    // Both paths: the direct one (a healthy primary), and the walk (a hop to west).
    let east = Scripted::new([Step::Hang, Step::Hang, Step::Status(503)]);
    let west = Scripted::new([Step::Hang]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.slow_call_duration(ms(100)).consecutive_failures(None))
        .build()
        .unwrap();
    let handle = f.handle();
    let slow = |name: &str| {
        let now = tokio::time::Instant::now().into_std();
        handle.breaker(name).unwrap().snapshot(now).slow_calls
    };
    // Dropped before the threshold: nothing.
    drop_after(ms(50), call(&f, 1)).await;
    assert_eq!(slow("east"), 0);
    // Dropped after it, on the direct path: one slow call at east.
    drop_after(ms(150), call(&f, 2)).await;
    assert_eq!(slow("east"), 1);
    // East fails, the call hops to west, and is dropped there after the threshold.
    drop_after(ms(150), call(&f, 3)).await;
    assert_eq!((slow("east"), slow("west")), (1, 1));
    assert_eq!((east.count(), west.count()), (3, 1));
}
