//! The JSON of a readiness report (feature `serde`), checked against a literal: the shape a
//! service's readiness endpoint returns.

use serde_json::json;
use steadfast::CircuitBreaker;
use steadfast::health::{Dependency, HealthChecks, HealthReport};

use super::support::{ms, secs};
use super::*;

#[tokio::test(start_paused = true)]
async fn the_report_serializes_to_the_documented_shape() {
    let t0 = Instant::now();
    let (east, west) = (Scripted::new([]), Scripted::new([]));
    let orders = regions(&[("us-east-2", &east), ("us-west-1", &west)])
        .build()
        .unwrap();
    let probes = Probes::new().script("us-east-2", [], Fail("status 503"));
    let checks = HealthChecks::failover(orders.handle(), probes.check())
        .build()
        .unwrap();
    let orders_table = checks.table();
    let checks = tokio::spawn(checks);
    let db = HealthChecks::endpoints(["db-primary"], Probes::new().check())
        .build()
        .unwrap();
    let db_table = db.table();
    let db = tokio::spawn(db);
    let payments = CircuitBreaker::builder()
        .open_duration(secs(30))
        .build()
        .unwrap();
    let report = HealthReport::builder()
        .critical(
            "orders",
            Dependency::checked_failover(orders.handle(), &orders_table),
        )
        .optional("payments", payments.clone())
        .critical("db", Dependency::endpoint(&db_table, "db-primary"))
        .build()
        .unwrap();

    at(t0, ms(21_000)).await;
    while payments.state() != steadfast::breaker::BreakerState::Open {
        payments
            .try_acquire(now())
            .unwrap()
            .record(&Outcome::failed(), now());
    }
    at(t0, ms(29_500)).await;
    let value = serde_json::to_value(report.readiness()).unwrap();
    assert_eq!(
        value,
        json!({
            "status": "degraded",
            "dependencies": [
                {
                    "name": "orders",
                    "critical": true,
                    "state": "degraded",
                    "reason": "serving from us-west-1: us-east-2 failing its health checks",
                    "kind": "failover",
                    "serving": "us-west-1",
                    "endpoints": [
                        {
                            "endpoint": "us-east-2",
                            "available": false,
                            "unavailable": "unhealthy",
                            "breaker": "closed",
                            "switch": "on",
                            "failing_checks": true,
                            "last_error": "status 503"
                        },
                        {
                            "endpoint": "us-west-1",
                            "available": true,
                            "unavailable": null,
                            "breaker": "closed",
                            "switch": "on",
                            "failing_checks": false,
                            "last_error": null
                        }
                    ]
                },
                {
                    "name": "payments",
                    "critical": false,
                    "state": "down",
                    "reason": "breaker open",
                    "kind": "breaker",
                    "breaker": "open",
                    "half_open_in_ms": 21_500
                },
                {
                    "name": "db",
                    "critical": true,
                    "state": "up",
                    "reason": null,
                    "kind": "endpoint",
                    "endpoint": "db-primary",
                    "healthy": true,
                    "in_state_for_ms": 29_500,
                    "last_error": null,
                    "consecutive_passes": 3,
                    "consecutive_failures": 0
                }
            ]
        })
    );
    // The exact text a readiness endpoint sends starts like this (keys in declaration order).
    let text = serde_json::to_string(&report.readiness()).unwrap();
    assert!(
        text.starts_with(r#"{"status":"degraded","dependencies":[{"name":"orders","critical":true,"state":"degraded","reason":"#),
        "{text}"
    );
    checks.abort();
    db.abort();
}

#[tokio::test(start_paused = true)]
async fn every_state_has_its_snake_case_name() {
    let b = CircuitBreaker::default();
    let state = |b: &CircuitBreaker| {
        let r = HealthReport::builder()
            .critical("b", b.clone())
            .build()
            .unwrap()
            .readiness();
        let v = serde_json::to_value(&r).unwrap();
        (
            v["status"].as_str().unwrap().to_owned(),
            v["dependencies"][0]["state"].as_str().unwrap().to_owned(),
            v["dependencies"][0]["breaker"].as_str().unwrap().to_owned(),
        )
    };
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(state(&b), s("ready", "up", "closed"));
    b.force_open();
    assert_eq!(state(&b), s("not_ready", "down", "forced_open"));
    b.disable();
    assert_eq!(state(&b), s("ready", "up", "disabled"));
    b.reset();
    while b.state() == steadfast::breaker::BreakerState::Closed {
        b.try_acquire(now())
            .unwrap()
            .record(&Outcome::failed(), now());
    }
    assert_eq!(state(&b), s("not_ready", "down", "open"));
    b.signal_healthy(now());
    assert_eq!(state(&b), s("degraded", "degraded", "half_open"));
}
