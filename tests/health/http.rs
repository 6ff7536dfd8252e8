//! Health checks over real HTTP: two `wiremock` regions on loopback, a `reqwest` check of
//! `GET /health` every 100 ms, and a failover over `reqwest` clients; the primary's `/health`
//! flips to 503 and back. Real time: only counts are asserted (checks, requests), never
//! timings; the checks' timeout is far longer than any loopback answer, even on a loaded
//! machine, so that no check fails for being slow.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use steadfast::health::{HealthChecks, HealthTable};
use tower::{Service, ServiceExt, service_fn};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::support::{RefusedPort, classify_reqwest};
use super::*;

fn client() -> reqwest::Client {
    // No proxy: a proxy set in the environment must not see loopback calls.
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("the client builds")
}

/// A region: `GET {base}/orders` per call.
fn region(
    base: String,
) -> impl Service<u32, Response = reqwest::Response, Error = BoxError, Future: Send + 'static>
+ Clone
+ Send
+ 'static {
    let client = client();
    service_fn(move |_: u32| {
        let request = client.get(format!("{base}/orders"));
        async move { request.send().await.map_err(BoxError::from) }
    })
}

/// The check a user would write: `GET {base}/health`, expecting 200, for east's and west's
/// base URLs; it counts the checks started per region in `started` (east, west).
fn get_health(
    east: String,
    west: String,
    started: Arc<[AtomicUsize; 2]>,
) -> impl HealthCheck<Error = BoxError, Future: Send + 'static> + Send + 'static {
    let urls: HashMap<String, String> = HashMap::from([
        ("east".to_owned(), format!("{east}/health")),
        ("west".to_owned(), format!("{west}/health")),
    ]);
    let http = client();
    check_fn(move |endpoint| {
        started[usize::from(endpoint == "west")].fetch_add(1, Ordering::SeqCst);
        let request = http.get(&urls[endpoint]);
        async move {
            match request.send().await?.status().as_u16() {
                200 => Ok(()),
                status => Err(BoxError::from(format!("status {status}"))),
            }
        }
    })
}

async fn received(server: &MockServer, route: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == route)
        .count()
}

/// Polls `done` every 10 ms, for at most 20 s (a generous bound: with a 100 ms interval the
/// changes here take well under a second).
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..2_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn traffic_leaves_a_region_whose_health_fails_and_returns_when_it_passes() {
    let (east, west) = (MockServer::start().await, MockServer::start().await);
    for server in [&east, &west] {
        Mock::given(method("GET"))
            .and(path("/orders"))
            .respond_with(ResponseTemplate::new(200))
            .mount(server)
            .await;
    }
    // East passes its first two checks, then answers 503: the flip happens on the server, at
    // an exact count.
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&east)
        .await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(2)
        .mount(&east)
        .await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&west)
        .await;

    let f = Failover::builder()
        .endpoint("east", region(east.uri()))
        .endpoint("west", region(west.uri()))
        .classifier(classify_reqwest)
        .build()
        .unwrap();
    let handle = f.handle();

    // The check: GET /health, expecting 200; counting the checks started per region.
    let started: Arc<[AtomicUsize; 2]> = Arc::default();
    let check = get_health(east.uri(), west.uri(), started.clone());
    // How many checks of east had started when each of its changes was reported.
    let at_change: Arc<Mutex<Vec<(bool, usize)>>> = Arc::default();
    let (log, counted) = (at_change.clone(), started.clone());
    let hook = move |event: &Event<'_>| {
        if let Event::HealthChanged {
            endpoint: "east",
            healthy,
            ..
        } = *event
        {
            let n = counted[0].load(Ordering::SeqCst);
            log.lock().unwrap().push((healthy, n));
        }
    };
    let driver = HealthChecks::failover(handle.clone(), check)
        .interval(Duration::from_millis(100))
        .timeout(Duration::from_secs(60))
        .on_event(hook)
        .build()
        .unwrap();
    let table: HealthTable = driver.table();

    // Before the checks run: calls go to east.
    for _ in 0..3 {
        assert_eq!(f.clone().oneshot(1).await.unwrap().status(), 200);
    }
    let driver = tokio::spawn(driver);

    // Unhealthy at the third failed check: the fifth check of east (two passes, three 503s).
    until("east to fail its checks", || {
        table.is_healthy("east") == Some(false)
    })
    .await;
    assert_eq!(*at_change.lock().unwrap(), [(false, 5)]);
    assert_eq!(
        table.get("east").unwrap().last_error.as_deref(),
        Some("status 503")
    );
    assert!(received(&east, "/health").await >= 5);
    for _ in 0..10 {
        assert_eq!(f.clone().oneshot(1).await.unwrap().status(), 200);
    }
    assert_eq!(received(&east, "/orders").await, 3);
    assert_eq!(received(&west, "/orders").await, 10);
    assert_eq!(table.is_healthy("west"), Some(true));
    let west_checks = started[1].load(Ordering::SeqCst);

    // East's /health passes again: healthy after three passes in a row. Of the checks started
    // before the flip, only the one in flight can pass; every check started after the flip
    // passes. So the change comes with check `before + 2` at the earliest (the one in flight
    // and the next two) and `after + 3` at the latest, however long mounting took.
    let before = started[0].load(Ordering::SeqCst);
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(1)
        .mount(&east)
        .await;
    let after = started[0].load(Ordering::SeqCst);
    until("east to pass its checks", || {
        table.is_healthy("east") == Some(true)
    })
    .await;
    let changes = at_change.lock().unwrap().clone();
    assert_eq!(changes.len(), 2);
    let (healthy, n) = changes[1];
    assert!(healthy);
    assert!(
        (before + 2..=after + 3).contains(&n),
        "flipped between checks {before} and {after}, healthy at {n}"
    );
    for _ in 0..10 {
        assert_eq!(f.clone().oneshot(1).await.unwrap().status(), 200);
    }
    assert_eq!(received(&east, "/orders").await, 13);
    assert_eq!(received(&west, "/orders").await, 10);
    // West is checked all along, and stays healthy.
    until("west to be checked again", || {
        started[1].load(Ordering::SeqCst) > west_checks
    })
    .await;
    assert_eq!(table.is_healthy("west"), Some(true));
    driver.abort();
}

#[tokio::test]
async fn a_region_refusing_connections_fails_its_checks_and_gets_no_call() {
    // A port that refuses connections (held for the whole test, so no other server takes it).
    let refused = RefusedPort::new();
    let gone_uri = refused.url();
    let west = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&west)
        .await;
    let f = Failover::builder()
        .endpoint("east", region(gone_uri.clone()))
        .endpoint("west", region(west.uri()))
        .classifier(classify_reqwest)
        .build()
        .unwrap();
    let check = get_health(gone_uri, west.uri(), Arc::default());
    let (table, driver) = spawn(
        HealthChecks::failover(f.handle(), check)
            .interval(Duration::from_millis(100))
            .timeout(Duration::from_secs(60)),
    );
    until("east to fail its checks", || {
        table.is_healthy("east") == Some(false)
    })
    .await;
    let error = table.get("east").unwrap().last_error.unwrap();
    assert!(!error.is_empty());
    for _ in 0..5 {
        assert_eq!(f.clone().oneshot(1).await.unwrap().status(), 200);
    }
    // Every call went straight to west: east's breaker saw no call.
    assert_eq!(received(&west, "/orders").await, 5);
    let east_calls = f.handle().breaker("east").unwrap().snapshot(now()).calls;
    assert_eq!(east_calls, 0);
    let failing: Vec<bool> = f
        .handle()
        .endpoint_status()
        .iter()
        .map(|e| e.failing_checks)
        .collect();
    assert_eq!(failing, [true, false]);
    driver.abort();
}
