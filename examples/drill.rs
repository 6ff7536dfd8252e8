//! Failover drills against three regions on loopback, while the service serves its traffic.
//!
//! Three local HTTP servers play `us-east-2` (the primary), `us-west-1` and `eu-west-1`. Each
//! region's client is a `reqwest` client with that region's base URL behind a chaos layer,
//! switched off, as it would be in production; a `Failover` over them carries a drill `Tap`'s
//! hooks (on the failover, its breakers and the routing control). A traffic loop calls it every
//! 20 ms, four calls at a time, for the whole run, while the drill runner plays:
//!
//! 1. a **planned failover**: `us-east-2` switched off for 2 s, then on again;
//! 2. an **unplanned regional outage**: every call to `us-east-2` fails for 3 s (a chaos
//!    outage), the breaker opens, traffic moves to `us-west-1`, and after the outage the breaker
//!    probes, closes and, after the 1 s failback hold-down, all traffic returns.
//!
//! Each drill prints its report: time to fail over and back, calls failed or slowed per phase,
//! attempts per call, budget, breaker transitions, and the verdict against the objectives
//! (RTO 1 s, failback within 5 s, no failed call). With the `serde` feature it prints the
//! second report as JSON too. The run takes about 15 seconds.
//!
//! `cargo run --example drill` (or `--features serde` for the JSON)

use std::time::Duration;

use steadfast::BoxError;
use steadfast::chaos::{ChaosHandle, ChaosLayer};
use steadfast::drill::{Drill, Drills, Objectives, Report, Tap};
use steadfast::failover::{Failback, Failover};
use tower::{Layer, ServiceExt, service_fn};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const REGIONS: [&str; 3] = ["us-east-2", "us-west-1", "eu-west-1"];

/// A region: answers its name after 5 ms.
async fn region(name: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(name)
                .set_delay(Duration::from_millis(5)),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut servers = Vec::new();
    for name in REGIONS {
        servers.push(region(name).await);
    }
    let http = reqwest::Client::builder().no_proxy().build()?;
    let tap = Tap::new();
    let chaos: Vec<ChaosHandle> = REGIONS.iter().map(|_| ChaosHandle::disabled()).collect();

    let mut builder = Failover::builder();
    for (i, server) in servers.iter().enumerate() {
        let (http, url) = (http.clone(), format!("{}/orders/7", server.uri()));
        let client = service_fn(move |_: ()| {
            let request = http.get(&url);
            async move { Ok::<_, BoxError>(request.send().await?.text().await?) }
        });
        builder = builder.endpoint(REGIONS[i], ChaosLayer::new(chaos[i].clone()).layer(client));
    }
    let breaker_tap = tap.clone();
    let failover = builder
        .breakers(move |b| {
            b.consecutive_failures(3)
                .open_duration(Duration::from_secs(1))
                .on_event(breaker_tap.hook(()))
        })
        .attempt_timeout(Duration::from_millis(500))
        .deadline(Duration::from_secs(2))
        .failback(Failback::After(Duration::from_secs(1)))
        .on_event(tap.hook(())) // a service wraps its own hook: tap.hook(my_metrics)
        .build()?;
    let mut drills = Drills::new(failover.handle(), &tap).budget(failover.budget().clone());
    for (name, chaos) in REGIONS.iter().zip(&chaos) {
        drills = drills.chaos(name, chaos.clone())?;
    }

    // The service's real traffic, for the whole run.
    let traffic = async {
        loop {
            let call = || failover.clone().oneshot(());
            let _ = tokio::join!(call(), call(), call(), call());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let objectives = Objectives::default()
        .rto(Duration::from_secs(1))
        .failback_within(Duration::from_secs(5))
        .max_failed_share(0.0)
        .slow_call(Duration::from_millis(250));
    let secs = Duration::from_secs;
    let plays = async {
        let planned = Drill::planned_failover(secs(2))
            .lead(secs(1))
            .settle(secs(1));
        let planned = drills.run(&planned, &objectives).await?;
        println!("{planned}");
        let outage = Drill::regional_outage(secs(3))
            .lead(secs(1))
            .settle(secs(6));
        let outage = drills.run(&outage, &objectives).await?;
        println!("{outage}");
        Ok::<_, BoxError>([planned, outage])
    };
    let reports = tokio::select! {
        reports = plays => reports?,
        () = traffic => unreachable!("the traffic goes on"),
    };
    print_json(&reports[1]);
    if reports.iter().all(|r| r.verdict.passed) {
        println!("both drills passed");
        Ok(())
    } else {
        Err("a drill failed its objectives".into())
    }
}

#[cfg(feature = "serde")]
fn print_json(report: &Report) {
    match serde_json::to_string_pretty(report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("JSON: {e}"),
    }
}

#[cfg(not(feature = "serde"))]
fn print_json(_: &Report) {}
