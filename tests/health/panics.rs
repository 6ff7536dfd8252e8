//! A check that panics fails that endpoint's check only; the driver keeps running. Checks that
//! stop reporting make the readiness report say they are stale.

use steadfast::health::{Dependency, DependencyState, HealthReport, Status};

use super::support::{ms, secs};
use super::*;

/// A check that panics for `bad` (while polled, or when started if `at_start`) and passes for
/// every other endpoint; records the instants of the checks of `bad`.
fn panicking(
    bad: &'static str,
    at_start: bool,
    started: Arc<Mutex<Vec<Duration>>>,
) -> impl HealthCheck<Error = &'static str, Future: Send + 'static> + Send + 'static {
    let t0 = Instant::now();
    check_fn(move |endpoint: &str| {
        let is_bad = endpoint == bad;
        if is_bad {
            started.lock().unwrap().push(t0.elapsed());
            if at_start {
                panic!("no check for {bad}");
            }
        }
        async move {
            tokio::task::yield_now().await;
            if is_bad {
                panic!("boom");
            }
            Ok(())
        }
    })
}

async fn panics_fail_only_that_endpoint(at_start: bool, error: &str) {
    let t0 = Instant::now();
    let started = Arc::new(Mutex::new(Vec::new()));
    let changes = Changes::new();
    let (table, driver) = spawn(
        HealthChecks::endpoints(["a", "b"], panicking("a", at_start, started.clone()))
            .on_event(changes.clone()),
    );
    at(t0, ms(20_001)).await;
    let a = table.get("a").unwrap();
    assert_eq!(
        (a.healthy, a.consecutive_failures, a.checks),
        (false, 3, 3),
        "three failed checks of a"
    );
    assert_eq!(a.last_error.as_deref(), Some(error));
    let b = table.get("b").unwrap();
    assert_eq!((b.healthy, b.consecutive_passes, b.checks), (true, 3, 3));
    assert_eq!(changes.take(), [change("a", false, secs(20))]);
    // The driver goes on: both endpoints are still checked on the grid.
    at(t0, ms(40_001)).await;
    assert!(!driver.is_finished(), "the driver is still running");
    assert_eq!(table.get("a").unwrap().checks, 5);
    assert_eq!(table.get("b").unwrap().checks, 5);
    assert_eq!(
        *started.lock().unwrap(),
        [0, 10, 20, 30, 40].map(secs).to_vec()
    );
    assert_eq!(changes.take(), []);
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_check_panicking_while_it_runs_fails_that_endpoint_only() {
    panics_fail_only_that_endpoint(false, "check panicked: boom").await;
}

#[tokio::test(start_paused = true)]
async fn a_check_panicking_as_it_starts_fails_that_endpoint_only() {
    panics_fail_only_that_endpoint(true, "check panicked: no check for a").await;
}

#[tokio::test(start_paused = true)]
async fn checks_that_stop_reporting_are_stale_after_three_intervals() {
    let t0 = Instant::now();
    let (table, driver) = spawn(HealthChecks::endpoints(["db"], Probes::new().check()));
    assert_eq!(table.stale_after(), secs(30));
    let report = HealthReport::builder()
        .critical("db", Dependency::endpoint(&table, "db"))
        .build()
        .unwrap();
    at(t0, ms(25_000)).await;
    assert_eq!(report.readiness().status, Status::Ready);
    // The checks stop after the one at 20 s.
    driver.abort();
    at(t0, secs(50)).await;
    assert_eq!(
        report.readiness().status,
        Status::Ready,
        "30 s without a result"
    );
    at(t0, ms(50_001)).await;
    let readiness = report.readiness();
    assert_eq!(readiness.status, Status::Degraded);
    let db = &readiness.dependencies[0];
    assert_eq!(db.state, DependencyState::Degraded);
    assert_eq!(
        db.reason.as_deref(),
        Some("health checks stale: no result for 30.001s (stale after 30s)")
    );
}

#[tokio::test(start_paused = true)]
async fn a_driver_never_spawned_is_stale_after_three_timeouts_when_they_are_longer() {
    let t0 = Instant::now();
    let east = Scripted::new([]);
    let f = regions(&[("east", &east)]).build().unwrap();
    let driver = HealthChecks::failover(f.handle(), Probes::new().check())
        .interval(secs(1))
        .timeout(secs(5))
        .build()
        .unwrap();
    let table = driver.table();
    assert_eq!(table.stale_after(), secs(15));
    let report = HealthReport::builder()
        .critical("orders", Dependency::checked_failover(f.handle(), &table))
        .build()
        .unwrap();
    at(t0, secs(15)).await;
    assert_eq!(report.readiness().status, Status::Ready);
    at(t0, ms(15_001)).await;
    let readiness = report.readiness();
    assert_eq!(readiness.status, Status::Degraded);
    assert_eq!(
        readiness.dependencies[0].reason.as_deref(),
        Some("east: health checks stale: no result for 15.001s (stale after 15s)")
    );
    drop(driver);
}
