//! Health feeding a real failover over scripted regions: a failing endpoint gets no call, fail
//! open when every endpoint fails, recovery, breakers half-opened by passing checks (never a
//! forced-open one), and the events.

use steadfast::breaker::BreakerState;
use steadfast::failover::{FailoverHandle, Switch, Unavailable};
use steadfast::health::HealthChecks;
use tower::ServiceExt;

use super::support::{Step, ms, secs};
use super::*;

/// Sends one request through a clone of the failover; its status.
async fn send<S>(f: &S) -> u16
where
    S: tower::Service<u32, Response = Resp, Error = BoxError> + Clone,
{
    f.clone().oneshot(1).await.expect("a response").status
}

fn failing_checks(handle: &FailoverHandle) -> Vec<bool> {
    handle
        .endpoint_status()
        .iter()
        .map(|e| e.failing_checks)
        .collect()
}

/// Two scripted regions answering 200 (east the primary), and a failover over them.
fn east_west() -> (
    Scripted,
    Scripted,
    Failover<Scripted, Classifier>,
    FailoverHandle,
) {
    let (east, west) = (Scripted::new([]), Scripted::new([]));
    let f = regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let handle = f.handle();
    (east, west, f, handle)
}

/// Checks of east and west that always fail.
fn both_failing() -> Probes {
    Probes::new()
        .script("east", [], Fail("503"))
        .script("west", [], Fail("503"))
}

/// Opens endpoint `name`'s breaker through its permit API, as failed calls would.
fn trip(handle: &FailoverHandle, name: &str) {
    let b = handle.breaker(name).unwrap();
    while b.state() == BreakerState::Closed {
        b.try_acquire(now())
            .unwrap()
            .record(&Outcome::failed(), now());
    }
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_failing_primary_gets_no_call_and_recovery_brings_the_calls_back() {
    let t0 = Instant::now();
    let (east, west, f, handle) = east_west();
    let probes = Probes::new().script("east", (0..3).map(|_| Fail("503")), Pass);
    let (_, driver) = spawn(HealthChecks::failover(handle.clone(), probes.check()));

    // Failing two checks: still served.
    at(t0, secs(15)).await;
    assert_eq!(send(&f).await, 200);
    assert_eq!((east.count(), west.count()), (1, 0));
    // The third failure, at 20 s: calls go to west with no attempt at east.
    at(t0, ms(20_001)).await;
    assert_eq!(failing_checks(&handle), [true, false]);
    assert_eq!(
        handle.endpoint_status()[0].unavailable,
        Some(Unavailable::Unhealthy)
    );
    for _ in 0..5 {
        assert_eq!(send(&f).await, 200);
    }
    assert_eq!((east.count(), west.count()), (1, 5));
    assert_eq!(&*handle.serving().endpoint, "west");
    // Passing at 30, 40: still away; the third pass, at 50 s, brings the calls back.
    at(t0, ms(49_999)).await;
    assert_eq!(send(&f).await, 200);
    assert_eq!((east.count(), west.count()), (1, 6));
    at(t0, ms(50_001)).await;
    assert_eq!(failing_checks(&handle), [false, false]);
    for _ in 0..3 {
        assert_eq!(send(&f).await, 200);
    }
    assert_eq!((east.count(), west.count()), (4, 6));
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn when_every_endpoint_fails_its_checks_all_count_as_available_and_calls_go_to_the_primary() {
    let t0 = Instant::now();
    let (east, west, f, handle) = east_west();
    let probes = both_failing();
    let (_, driver) = spawn(HealthChecks::failover(handle.clone(), probes.check()));
    at(t0, ms(20_001)).await;
    assert_eq!(failing_checks(&handle), [true, true]);
    assert!(
        handle
            .endpoint_status()
            .iter()
            .all(|e| e.unavailable.is_none())
    );
    for _ in 0..4 {
        assert_eq!(send(&f).await, 200);
    }
    assert_eq!((east.count(), west.count()), (4, 0));

    // West passes again (healthy at 50 s): only east fails its checks, and it is left alone.
    probes.set("west", Pass);
    at(t0, ms(50_001)).await;
    assert_eq!(failing_checks(&handle), [true, false]);
    for _ in 0..4 {
        assert_eq!(send(&f).await, 200);
    }
    assert_eq!((east.count(), west.count()), (4, 4));
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_failing_endpoint_on_a_call_walk_is_skipped_and_hops_go_past_it() {
    let t0 = Instant::now();
    // Three regions; the middle one fails its checks, the primary fails its calls.
    let east = Scripted::new([Step::Status(503)]);
    let (central, west) = (Scripted::new([]), Scripted::new([]));
    let f = regions(&[("east", &east), ("central", &central), ("west", &west)])
        .build()
        .unwrap();
    let handle = f.handle();
    let probes = Probes::new().script("central", [], Fail("refused"));
    let (_, driver) =
        spawn(HealthChecks::failover(handle.clone(), probes.check()).unhealthy_after(1));
    at(t0, ms(1)).await;
    assert_eq!(send(&f).await, 200);
    assert_eq!((east.count(), central.count(), west.count()), (1, 0, 1));
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_passing_check_half_opens_an_open_breaker_at_once() {
    let t0 = Instant::now();
    let (east, west) = (Scripted::new([]), Scripted::new([]));
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(|b| b.open_duration(secs(60)))
        .build()
        .unwrap();
    let handle = f.handle();
    trip(&handle, "east");
    // East's checks fail until 25 s, then pass (the check at 30 s is the first to pass).
    let probes = Probes::new().script("east", (0..3).map(|_| Fail("503")), Pass);
    let (_, driver) =
        spawn(HealthChecks::failover(handle.clone(), probes.check()).unhealthy_after(5));
    at(t0, ms(29_999)).await;
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Open));
    at(t0, ms(30_001)).await;
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::HalfOpen));
    // The next call is a probe at east, which closes it (the defaults: 3 successes).
    for _ in 0..3 {
        assert_eq!(send(&f).await, 200);
    }
    assert_eq!(east.count(), 3);
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::Closed));
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_passing_check_never_moves_a_forced_open_breaker() {
    let t0 = Instant::now();
    let (east, west, f, handle) = east_west();
    handle.breaker("east").unwrap().force_open();
    let probes = Probes::new();
    let (_, driver) = spawn(HealthChecks::failover(handle.clone(), probes.check()));
    at(t0, ms(100_001)).await;
    assert_eq!(probes.started("east").len(), 11);
    assert_eq!(handle.breaker_state("east"), Some(BreakerState::ForcedOpen));
    assert_eq!(send(&f).await, 200);
    assert_eq!((east.count(), west.count()), (0, 1));
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn fail_open_never_sends_a_call_to_an_endpoint_switched_off() {
    let t0 = Instant::now();
    let (east, west, f, handle) = east_west();
    // Every endpoint fails its checks (fail open), and east is switched off: the switch wins.
    let probes = both_failing();
    let (_, driver) =
        spawn(HealthChecks::failover(handle.clone(), probes.check()).unhealthy_after(1));
    handle.routing().set("east", Switch::Off).unwrap();
    at(t0, ms(1)).await;
    assert_eq!(failing_checks(&handle), [true, true]);
    for _ in 0..3 {
        assert_eq!(send(&f).await, 200);
    }
    assert_eq!((east.count(), west.count()), (0, 3));
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn every_change_is_one_event_and_building_a_driver_marks_every_endpoint_healthy() {
    let t0 = Instant::now();
    let (.., handle) = east_west();
    let probes = Probes::new()
        .script("east", (0..4).map(|_| Fail("503")), Pass)
        .script("west", [Fail("x"), Pass, Fail("x")], Pass);
    let changes = Changes::new();
    let (_, task) = spawn(
        HealthChecks::failover(handle.clone(), probes.check())
            .unhealthy_after(2)
            .healthy_after(2)
            .on_event(changes.clone()),
    );
    at(t0, secs(101)).await;
    assert_eq!(
        changes.take(),
        [
            change("east", false, secs(10)),
            change("east", true, secs(50))
        ]
    );

    // Failing from 110 s: unhealthy at 120 s; dropping the driver reports it healthy again.
    probes.set("east", Fail("503"));
    at(t0, ms(120_001)).await;
    assert_eq!(changes.take(), [change("east", false, secs(120))]);
    task.abort();
    let _ = task.await;
    assert_eq!(changes.take(), [change("east", true, ms(120_001))]);
    assert_eq!(failing_checks(&handle), [false, false]);

    // Building a driver marks every endpoint of its failover healthy, whatever another left.
    let again = Changes::new();
    let probes2 = Probes::new().script("east", [], Fail("503"));
    let (_, task) = spawn(
        HealthChecks::failover(handle.clone(), probes2.check())
            .unhealthy_after(1)
            .on_event(again.clone()),
    );
    at(t0, ms(120_002)).await;
    assert_eq!(again.take(), [change("east", false, Duration::ZERO)]);
    assert_eq!(failing_checks(&handle), [true, false]);
    drop(
        HealthChecks::failover(handle.clone(), probes2.check())
            .build()
            .unwrap(),
    );
    assert_eq!(failing_checks(&handle), [false, false]);
    task.abort();
}
