//! The Prometheus exporter's `/metrics`, served on a loopback port and scraped over a real
//! socket (real time: the test only counts).

use std::net::{SocketAddr, TcpListener};

use metrics_exporter_prometheus::PrometheusBuilder;
use steadfast::BoxError;
use steadfast::failover::Failover;
use steadfast::integrations::metrics::MetricsEvents;
use tower::{ServiceExt, service_fn};

/// The value of the series `name` whose labels include every one of `labels`.
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{'))
                && labels
                    .iter()
                    .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no series {name} {labels:?} in:\n{body}"))
}

/// A loopback port free a moment ago.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn the_exporter_serves_the_hooks_counts_on_loopback() {
    let addr = free_port();
    let (recorder, exporter) = PrometheusBuilder::new()
        .with_http_listener(addr)
        .build()
        .unwrap();
    let exporter = tokio::spawn(exporter);
    // Registered with this recorder only: the test installs nothing global.
    let hook = metrics::with_local_recorder(&recorder, || {
        MetricsEvents::builder("orders")
            .endpoints(["east", "west"])
            .build()
    });
    let region = |name: &'static str| {
        service_fn(move |x: u32| async move {
            if name == "east" {
                Err::<u32, BoxError>("connection reset".into())
            } else {
                Ok(x)
            }
        })
    };
    let breakers = hook.clone();
    let failover = Failover::builder()
        .endpoint("east", region("east"))
        .endpoint("west", region("west"))
        .breakers(move |b| b.consecutive_failures(2).on_event(breakers.clone()))
        .on_event(hook.clone())
        .build()
        .unwrap();
    // Two calls fail at east and hop (the second opens its breaker); the third finds east
    // unavailable and fails over; the fourth goes straight to west.
    for _ in 0..4 {
        assert_eq!(failover.clone().oneshot(7).await.unwrap(), 7);
    }

    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let east = ("steadfast_endpoint", "east");
    let west = ("steadfast_endpoint", "west");
    let client = ("steadfast_client", "orders");
    let attempts = |endpoint, outcome, error| {
        sample(
            &body,
            "steadfast_attempts",
            &[
                client,
                endpoint,
                ("steadfast_outcome", outcome),
                ("error_type", error),
            ],
        )
    };
    assert_eq!(attempts(east, "transient", "failed"), 2.0);
    assert_eq!(attempts(west, "success", ""), 4.0);
    assert_eq!(sample(&body, "steadfast_hops", &[client, east]), 2.0);
    assert_eq!(
        sample(&body, "steadfast_failover_failovers", &[client, east]),
        1.0
    );
    assert_eq!(
        sample(&body, "steadfast_failover_serving", &[client, west]),
        1.0
    );
    assert_eq!(
        sample(&body, "steadfast_failover_serving", &[client, east]),
        0.0
    );
    let open = [
        client,
        ("steadfast_breaker", "east"),
        ("steadfast_breaker_state", "open"),
    ];
    assert_eq!(sample(&body, "steadfast_breaker_state", &open), 1.0);
    assert_eq!(sample(&body, "steadfast_breaker_transitions", &open), 1.0);
    assert!(
        body.contains("# HELP steadfast_attempts Attempts finished, by outcome"),
        "{body}"
    );
    exporter.abort();
}
