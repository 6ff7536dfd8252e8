//! A drill against three real HTTP servers on loopback, in real time: the report's counts
//! against the servers' own. Only counts are asserted; the traffic stops at a barrier of what
//! it has seen (served elsewhere, then by the primary again), well before the drill ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use steadfast::chaos::{ChaosHandle, ChaosLayer};
use steadfast::drill::{Drill, Drills, Objectives, Phase, Tap};
use steadfast::failover::{Failback, Failover};
use steadfast::{Backoff, BoxError};
use tower::{Layer, ServiceExt, service_fn};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::REGIONS;

/// A region's server: answers its name to everything.
async fn region(name: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string(name))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_drill_over_loopback_counts_what_each_region_served() {
    let mut servers = Vec::new();
    for name in REGIONS {
        servers.push(region(name).await);
    }
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let tap = Tap::new();
    let chaos: Vec<ChaosHandle> = REGIONS.iter().map(|_| ChaosHandle::disabled()).collect();
    let mut builder = Failover::builder();
    for (i, server) in servers.iter().enumerate() {
        let (http, url) = (http.clone(), format!("{}/orders/7", server.uri()));
        let client = service_fn(move |_: u32| {
            let request = http.get(&url);
            async move { Ok::<_, BoxError>(request.send().await?.text().await?) }
        });
        builder = builder.endpoint(REGIONS[i], ChaosLayer::new(chaos[i].clone()).layer(client));
    }
    let hook = tap.clone();
    let failover = builder
        .breakers(move |b| {
            b.consecutive_failures(1)
                .open_duration(Duration::from_millis(200))
                .on_event(hook.hook(()))
        })
        .attempt_timeout(Duration::from_secs(5))
        .recover(Backoff::none())
        .failback(Failback::Immediate)
        .on_event(tap.hook(()))
        .build()
        .unwrap();
    let drills = Drills::new(failover.handle(), &tap)
        .chaos(REGIONS[0], chaos[0].clone())
        .unwrap();

    let drill = Drill::regional_outage(Duration::from_secs(2))
        .lead(Duration::ZERO)
        .settle(Duration::from_secs(3));
    let done = AtomicBool::new(false);
    let run = async {
        let report = drills.run(&drill, &Objectives::default()).await;
        done.store(true, Ordering::Release);
        report
    };
    // The service's traffic: one call after another, until it has seen calls served elsewhere
    // and then by the primary again three times each.
    let traffic = async {
        let (mut calls, mut elsewhere, mut back) = (0u64, 0, 0);
        while back < 3 && !done.load(Ordering::Acquire) {
            let served = failover.clone().oneshot(7).await.unwrap();
            calls += 1;
            if served != REGIONS[0] {
                elsewhere += 1;
            } else if elsewhere >= 3 {
                back += 1;
            }
        }
        calls
    };
    let (report, calls) = tokio::join!(run, traffic);
    let report = report.unwrap();
    assert!(!done.load(Ordering::Acquire) || report.settle > Duration::ZERO);

    let disturbed = report.disturbed();
    let lead = report.phase(Phase::Lead);
    assert_eq!(lead.calls + disturbed.calls, calls, "{report}");
    assert_eq!(lead.failed + disturbed.failed, 0, "{report}");
    for (i, server) in servers.iter().enumerate() {
        let received = server.received_requests().await.unwrap().len() as u64;
        let served = lead.served_by(REGIONS[i]) + disturbed.served_by(REGIONS[i]);
        assert_eq!(served, received, "{}: {report}", REGIONS[i]);
    }
    // A call counts in the phase in which it ended: of the calls ending during the outage, the
    // primary served at most the one in flight when it began (the traffic is one call at a
    // time); eu-west-1 never had to serve.
    assert!(
        report.phase(Phase::Fault).served_by(REGIONS[0]) <= 1,
        "{report}"
    );
    assert_eq!(disturbed.served_by(REGIONS[2]), 0);
    assert!(disturbed.served_by(REGIONS[1]) >= 3, "{report}");
    assert!(
        report.phase(Phase::Recovery).served_by(REGIONS[0]) >= 3,
        "{report}"
    );
    assert!(report.time_to_fail_over.is_some() && report.time_to_fail_back.is_some());
    assert!(report.verdict.passed, "{report}");
}
