//! Active-active tiers through the whole failover, under paused time: how each spread divides
//! 10 000 calls (seeded, so exact), where the calls of a lost region go, and what p2c does with
//! regions of limited capacity when one is lost (at 1× and at 2× over-subscription).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use steadfast::BoxError;
use steadfast::failover::{Failover, RequestKey, Spread, Switch};
use tokio::task::JoinSet;
use tower::{Service, ServiceExt, service_fn};

use super::support::ms;

/// A region's counts: calls it served, calls it refused as over capacity.
#[derive(Default)]
struct Counts {
    served: AtomicUsize,
    refused: AtomicUsize,
    in_flight: AtomicUsize,
    /// The most calls it served at once.
    peak: AtomicUsize,
    /// Whether it fails every call (a region down).
    down: std::sync::atomic::AtomicBool,
}

impl Counts {
    fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }
}

/// A region answering with its index; `capacity` calls at once at most (a call over it fails
/// at once), each taking `latency`.
fn region(
    index: usize,
    counts: Arc<Counts>,
    capacity: usize,
    latency: std::time::Duration,
) -> impl Service<u64, Response = usize, Error = BoxError, Future = impl Send> + Clone + Send {
    service_fn(move |_: u64| {
        let counts = counts.clone();
        async move {
            if counts.down.load(Ordering::Relaxed) {
                return Err::<usize, BoxError>("connection refused".into());
            }
            let before = counts.in_flight.fetch_add(1, Ordering::Relaxed);
            if before >= capacity {
                counts.in_flight.fetch_sub(1, Ordering::Relaxed);
                counts.refused.fetch_add(1, Ordering::Relaxed);
                return Err("over capacity".into());
            }
            counts.peak.fetch_max(before + 1, Ordering::Relaxed);
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            counts.in_flight.fetch_sub(1, Ordering::Relaxed);
            counts.served.fetch_add(1, Ordering::Relaxed);
            Ok(index)
        }
    })
}

const NAMES: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

fn three(
    capacity: usize,
    latency: std::time::Duration,
) -> (
    Vec<Arc<Counts>>,
    Vec<impl Service<u64, Response = usize, Error = BoxError, Future = impl Send> + Clone + Send>,
) {
    let counts: Vec<Arc<Counts>> = (0..3).map(|_| Arc::default()).collect();
    let services = (0..3)
        .map(|i| region(i, counts[i].clone(), capacity, latency))
        .collect();
    (counts, services)
}

/// `calls` calls one after the other, request `k` for the `k`th: how many each region served.
async fn sequential<S>(failover: &mut S, calls: u64) -> [usize; 3]
where
    S: Service<u64, Response = usize, Error = BoxError>,
{
    let mut served = [0; 3];
    for k in 0..calls {
        let region = failover.ready().await.unwrap().call(k).await.unwrap();
        served[region] += 1;
    }
    served
}

fn within(counts: [usize; 3], expected: [usize; 3], tolerance: usize) -> bool {
    counts
        .iter()
        .zip(expected)
        .all(|(&c, e)| c.abs_diff(e) <= tolerance)
}

#[tokio::test(start_paused = true)]
async fn each_spread_divides_ten_thousand_calls_by_weight() {
    for spread in [Spread::LeastLoaded, Spread::RoundRobin, Spread::ByKey] {
        let (_, s) = three(usize::MAX, ms(0));
        let mut failover = Failover::builder()
            .tier(|t| {
                t.weighted(NAMES[0], 2, s[0].clone())
                    .endpoint(NAMES[1], s[1].clone())
                    .endpoint(NAMES[2], s[2].clone())
            })
            .spread(spread)
            .seed(7)
            // The request is the key: a hash of it, so that consecutive keys are not neighbours.
            .options(RequestKey(|k: &u64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .build()
            .unwrap();
        let handle = failover.handle();
        let served = sequential(&mut failover, 10_000).await;
        // Round robin is within a few calls of exact; the random draws within 3 % (seeded: the
        // same counts on every run).
        let tolerance = if spread == Spread::RoundRobin { 5 } else { 300 };
        assert!(
            within(served, [5_000, 2_500, 2_500], tolerance),
            "{spread:?}: {served:?}"
        );
        let shares = handle.call_shares();
        assert_eq!(shares.len(), 3);
        for (share, served) in shares.iter().zip(served) {
            assert_eq!(share.calls, served as u64, "{spread:?}");
            assert_eq!(share.tier, 0);
        }
        assert_eq!(shares[0].weight, 2);
        assert!((shares[0].share - served[0] as f64 / 10_000.0).abs() < 1e-12);
        // The next report counts from this one.
        assert!(handle.call_shares().iter().all(|s| s.calls == 0));
    }
}

#[tokio::test(start_paused = true)]
async fn a_lost_region_moves_its_third_evenly_onto_the_other_two() {
    for spread in [Spread::LeastLoaded, Spread::RoundRobin, Spread::ByKey] {
        let (counts, s) = three(usize::MAX, ms(0));
        let mut failover = Failover::builder()
            .tier(|t| {
                t.endpoint(NAMES[0], s[0].clone())
                    .endpoint(NAMES[1], s[1].clone())
                    .endpoint(NAMES[2], s[2].clone())
            })
            .spread(spread)
            .seed(11)
            .options(RequestKey(|k: &u64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .build()
            .unwrap();
        let all_up = sequential(&mut failover, 9_000).await;
        assert!(within(all_up, [3_000; 3], 200), "{spread:?}: {all_up:?}");
        // eu-west-1 goes down: its failures hop to a peer at once, its breaker opens, and its
        // third lands evenly on the other two.
        counts[2].down.store(true, Ordering::Relaxed);
        let one_down = sequential(&mut failover, 9_000).await;
        assert_eq!(one_down[2], 0, "{spread:?}");
        assert!(
            within(one_down, [4_500, 4_500, 0], 200),
            "{spread:?}: {one_down:?}"
        );
        assert_eq!(one_down[0] + one_down[1], 9_000, "every call served");
    }
}

/// What a burst came to: calls each region served, the most it served at once, attempts
/// refused over capacity, calls that failed.
#[derive(Debug)]
struct Burst {
    served: [usize; 3],
    peak: [usize; 3],
    refused: usize,
    failed: usize,
}

/// `calls` calls at once, each taking 100 ms, over three regions of `capacity` each (the
/// third switched off if `lose`), least loaded first.
async fn burst(calls: u64, capacity: usize, lose: bool) -> Burst {
    let (counts, s) = three(capacity, ms(100));
    let failover = Failover::builder()
        .tier(|t| {
            t.endpoint(NAMES[0], s[0].clone())
                .endpoint(NAMES[1], s[1].clone())
                .endpoint(NAMES[2], s[2].clone())
        })
        .breakers(super::never_trip)
        .seed(3)
        .build()
        .unwrap();
    if lose {
        failover
            .handle()
            .routing()
            .set(NAMES[2], Switch::Off)
            .unwrap();
    }
    let mut set = JoinSet::new();
    for k in 0..calls {
        let f = failover.clone();
        set.spawn(async move { f.oneshot(k).await });
    }
    let mut failed = 0;
    while let Some(result) = set.join_next().await {
        failed += usize::from(result.unwrap().is_err());
    }
    Burst {
        served: [0, 1, 2].map(|i| counts[i].served()),
        peak: [0, 1, 2].map(|i| counts[i].peak.load(Ordering::Relaxed)),
        refused: counts
            .iter()
            .map(|c| c.refused.load(Ordering::Relaxed))
            .sum(),
        failed,
    }
}

#[tokio::test(start_paused = true)]
async fn least_loaded_fills_the_remaining_regions_to_capacity_and_no_further() {
    // 20 calls at once over three regions of capacity 10: about a third each, none refused.
    let b = burst(20, 10, false).await;
    assert_eq!(b.served.iter().sum::<usize>(), 20, "{b:?}");
    assert!(b.served.iter().all(|&s| (6..=7).contains(&s)), "{b:?}");
    assert_eq!((b.refused, b.failed), (0, 0), "{b:?}");
    // One lost: the other two take 10 each, exactly their capacity, in one attempt each.
    let b = burst(20, 10, true).await;
    assert_eq!(b.served, [10, 10, 0], "{b:?}");
    assert_eq!((b.refused, b.failed), (0, 0), "{b:?}");
    // 2× over-subscribed (40 calls on the 20 places left): each region is filled to exactly its
    // capacity; each of the 20 calls over it is refused by both (two attempts, at once), waits
    // for its first recover pass (about 500 ms, jittered, when the first calls are done) and is
    // served there.
    let b = burst(40, 10, true).await;
    assert_eq!(b.peak, [10, 10, 0], "{b:?}");
    assert_eq!(b.served.iter().sum::<usize>(), 40, "{b:?}");
    assert!(
        b.served.iter().take(2).all(|&s| (18..=22).contains(&s)),
        "{b:?}"
    );
    assert_eq!((b.refused, b.failed), (40, 0), "{b:?}");
}

#[tokio::test(start_paused = true)]
async fn calls_dropped_in_flight_or_cut_by_their_deadline_leave_no_load_behind() {
    let (_, s) = three(usize::MAX, ms(1_000));
    let failover = Failover::builder()
        .tier(|t| {
            t.endpoint(NAMES[0], s[0].clone())
                .endpoint(NAMES[1], s[1].clone())
                .endpoint(NAMES[2], s[2].clone())
        })
        .deadline(ms(500))
        .seed(5)
        .build()
        .unwrap();
    let handle = failover.handle();
    // Six calls in flight, then dropped.
    let mut calls: Vec<_> = (0..6)
        .map(|k| Box::pin(failover.clone().oneshot(k)))
        .collect();
    for call in &mut calls {
        assert!(futures_poll_once(call.as_mut()).await.is_none());
    }
    let loads: Vec<u64> = handle.call_shares().iter().map(|s| s.in_flight).collect();
    assert_eq!(loads.iter().sum::<u64>(), 6, "{loads:?}");
    drop(calls);
    assert!(handle.call_shares().iter().all(|s| s.in_flight == 0));
    // Six more, cut by their deadline (500 ms) before the regions answer (1 s).
    let mut set = JoinSet::new();
    for k in 0..6 {
        let f = failover.clone();
        set.spawn(async move { f.oneshot(k).await });
    }
    while let Some(result) = set.join_next().await {
        assert!(result.unwrap().is_err());
    }
    let shares = handle.call_shares();
    assert!(shares.iter().all(|s| s.in_flight == 0), "{shares:?}");
    assert_eq!(shares.iter().map(|s| s.calls).sum::<u64>(), 6);
}

/// Polls `fut` once: its output if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(fut: F) -> Option<F::Output> {
    let mut fut = fut;
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
