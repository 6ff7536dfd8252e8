//! A failover's metrics served to Prometheus: `/metrics` on loopback, from the
//! `metrics-exporter-prometheus` recorder, fed by the `MetricsEvents` hook.
//!
//! The primary region fails; calls hop to the secondary, the primary's breaker opens and traffic
//! fails over. The example then scrapes its own `/metrics` once and prints the `steadfast_`
//! series; with `--serve` it keeps serving until interrupted, for a real Prometheus to scrape.
//!
//! ```text
//! cargo run --example metrics --features metrics [-- --serve]
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use steadfast::BoxError;
use steadfast::failover::Failover;
use steadfast::integrations::metrics::MetricsEvents;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{ServiceExt, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 9464));
    let (recorder, exporter) = PrometheusBuilder::new().with_http_listener(addr).build()?;
    metrics::set_global_recorder(recorder)?;
    tokio::spawn(exporter);

    // One hook for the whole client, its handles registered now with the global recorder.
    let hook = MetricsEvents::builder("orders")
        .endpoints(["us-east-2", "us-west-1"])
        .build();
    let region = |name: &'static str| {
        service_fn(move |path: &'static str| async move {
            if name == "us-east-2" {
                Err::<String, BoxError>("connection reset".into())
            } else {
                Ok(format!("{name}{path}"))
            }
        })
    };
    let breakers = hook.clone();
    let failover = Failover::builder()
        .endpoint("us-east-2", region("us-east-2"))
        .endpoint("us-west-1", region("us-west-1"))
        .attempt_timeout(Duration::from_secs(2))
        .breakers(move |b| b.consecutive_failures(3).on_event(breakers.clone()))
        .on_event(hook.clone())
        .build()?;
    for _ in 0..10 {
        failover.clone().oneshot("/orders").await?;
    }

    println!("serving http://{addr}/metrics");
    for line in scrape(addr).await?.lines() {
        if line.starts_with("steadfast_") && !line.ends_with(" 0") {
            println!("{line}");
        }
    }
    if std::env::args().any(|arg| arg == "--serve") {
        std::future::pending::<()>().await;
    }
    Ok(())
}

/// One plain HTTP/1.1 GET of `/metrics`: the response's body.
async fn scrape(addr: SocketAddr) -> Result<String, BoxError> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .ok_or("no HTTP response")?;
    Ok(body)
}
