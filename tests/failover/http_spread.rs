//! Active-active over real HTTP: three `wiremock` servers on loopback as the regions of one
//! tier, a `reqwest` client per region, real time. Only counts are asserted, never timings.

use steadfast::failover::{Failover, HttpOptions, Spread, SpreadKey};
use tower::{Service, ServiceExt};

use super::http::{answering, get, received, region};
use super::support::{RefusedPort, classify_reqwest};

const NAMES: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

#[tokio::test]
async fn round_robin_spreads_calls_evenly_over_three_live_regions() {
    let servers = [
        answering(200).await,
        answering(200).await,
        answering(200).await,
    ];
    let mut f = Failover::builder()
        .tier(|t| {
            t.endpoint(NAMES[0], region(servers[0].uri()))
                .endpoint(NAMES[1], region(servers[1].uri()))
                .endpoint(NAMES[2], region(servers[2].uri()))
        })
        .spread(Spread::RoundRobin)
        .classifier(classify_reqwest)
        .build()
        .unwrap();
    let handle = f.handle();
    for _ in 0..300 {
        let response = f.ready().await.unwrap().call(get()).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let shares = handle.call_shares();
    for (server, share) in servers.iter().zip(&shares) {
        let got = received(server).await;
        assert_eq!(
            got as u64, share.calls,
            "the handle counts what the server saw"
        );
        assert!((97..=103).contains(&got), "{got}");
    }
}

#[tokio::test]
async fn a_key_keeps_its_calls_in_one_region_and_a_shut_down_regions_calls_go_to_its_peers() {
    let servers = [answering(200).await, answering(200).await];
    let refused = RefusedPort::new(); // held for the whole test: nothing else takes its port
    let f = Failover::builder()
        .tier(|t| {
            t.endpoint(NAMES[0], region(servers[0].uri()))
                .endpoint(NAMES[1], region(servers[1].uri()))
                .endpoint(NAMES[2], region(refused.url()))
        })
        .spread(Spread::ByKey)
        .classifier(classify_reqwest)
        .options(HttpOptions)
        .build()
        .unwrap();
    let mut before = [0, 0];
    for user in 0..40u64 {
        for _ in 0..5 {
            let mut req = get();
            req.extensions_mut()
                .insert(SpreadKey(user.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
            let response = f.clone().oneshot(req).await.unwrap();
            assert_eq!(response.status(), 200, "a refused attempt hops to a peer");
        }
        let after = [received(&servers[0]).await, received(&servers[1]).await];
        let calls = [after[0] - before[0], after[1] - before[1]];
        // All five calls of one user went to one live server: its own, or, if its region is
        // the one shut down, the same peer each time.
        assert!(calls == [5, 0] || calls == [0, 5], "user {user}: {calls:?}");
        before = after;
    }
    assert_eq!(before[0] + before[1], 200);
    assert!(before.iter().all(|&n| n >= 40), "{before:?}");
}
