//! Chaos over real HTTP: a `wiremock` server on loopback, a `reqwest` client as a tower service
//! (`service_fn`), and real time. Chaos turns some calls into 503 responses that never reach
//! the server; only counts are asserted, never timings.

use std::time::Duration;

use steadfast::chaos::{ChaosHandle, ChaosLayer, FaultKind, Script};
use tower::{Layer, Service, ServiceExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The dependency: answers 200 "real" to every GET /item.
async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/item"))
        .respond_with(ResponseTemplate::new(200).set_body_string("real"))
        .mount(&server)
        .await;
    server
}

/// A reqwest client as a tower service (no proxy: loopback calls must reach the server).
fn client()
-> impl Service<reqwest::Request, Response = reqwest::Response, Error = reqwest::Error> + Clone {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    tower::service_fn(move |req: reqwest::Request| client.execute(req))
}

/// What a load balancer in front of a dead dependency answers.
fn unavailable() -> reqwest::Response {
    http::Response::builder()
        .status(503)
        .body("injected")
        .unwrap()
        .into()
}

async fn get<S>(svc: &mut S, server: &MockServer) -> (u16, String)
where
    S: Service<reqwest::Request, Response = reqwest::Response, Error = reqwest::Error>,
{
    let url = format!("{}/item", server.uri()).parse().unwrap();
    let req = reqwest::Request::new(reqwest::Method::GET, url);
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn chaos_turns_the_seeds_calls_into_503s_that_never_reach_the_server() {
    let server = server().await;
    let script = Script::builder().seed(11).error_rate(0.25).build().unwrap();
    let mut svc = ChaosLayer::new(ChaosHandle::new(script.clone()))
        .fault(|_| Ok(unavailable()))
        .layer(client());
    let n = 60;
    let mut injected = Vec::new();
    for i in 0..n {
        match get(&mut svc, &server).await {
            (503, body) => {
                assert_eq!(body, "injected");
                injected.push(i);
            }
            (200, body) => assert_eq!(body, "real"),
            other => panic!("call {i}: {other:?}"),
        }
    }
    // Exactly the seed's faults...
    let predicted: Vec<u64> = (0..n)
        .filter(|i| script.decide(*i, Duration::ZERO).is_some())
        .collect();
    assert_eq!(injected, predicted);
    assert!(!injected.is_empty() && injected.len() < 30, "{injected:?}");
    // ...and the server saw exactly the others.
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len() as u64, n - injected.len() as u64);
}

#[tokio::test]
async fn an_operator_starts_and_ends_an_outage_between_real_calls() {
    let server = server().await;
    let chaos = ChaosHandle::disabled();
    let mut svc = ChaosLayer::new(chaos.clone())
        .fault(|f| {
            assert_eq!(f.kind, FaultKind::Error);
            Ok(unavailable())
        })
        .layer(client());
    for _ in 0..3 {
        assert_eq!(get(&mut svc, &server).await.0, 200);
    }
    // The incident: an open-ended outage, started from another task.
    let h = chaos.clone();
    tokio::spawn(async move { h.start(Script::builder().outage(..).build().unwrap()) })
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(get(&mut svc, &server).await.0, 503);
    }
    chaos.disable();
    for _ in 0..2 {
        assert_eq!(get(&mut svc, &server).await.0, 200);
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 5);
    assert_eq!(chaos.calls(), 5);
}
