//! Checks that stop reporting (a driver dropped or never spawned) are stale after three
//! intervals, or three timeouts when those are longer: the readiness report says so.

use steadfast::health::{Dependency, DependencyState, HealthReport, Status};

use super::support::{ms, secs};
use super::*;

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
