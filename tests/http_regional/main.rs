//! Regional clients over real HTTP: `wiremock` servers on loopback as regions, reached through
//! a real `reqwest::Client` (`RegionalClient`) and through hyper-util's legacy client (the
//! failover from `regional::regions`), with the HTTP defaults. Real time, so only counts are
//! asserted: each server sees exactly the calls it should.
#![cfg(all(feature = "reqwest", feature = "hyper"))]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Method;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use steadfast::event::{Event, OnEvent};
use steadfast::failover::Failover;
use steadfast::http::HttpReplay;
use steadfast::regional::{self, Region, RegionClassifier, RegionalClient};
use steadfast::{Backoff, CallError, Outcome};
use tower::{Service, ServiceExt};
use wiremock::matchers::{any, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The attempt timeout of the scenarios that need one; the slow server answers after 30 s.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(300);

/// Records every attempt's endpoint and outcome.
#[derive(Clone, Default)]
struct Attempts(Arc<Mutex<Vec<(String, Outcome)>>>);

impl OnEvent for Attempts {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::Attempt {
            endpoint, outcome, ..
        } = event
        {
            let name = endpoint.unwrap_or_default().to_owned();
            self.0.lock().unwrap().push((name, *outcome));
        }
    }
}

impl Attempts {
    fn taken(&self) -> Vec<(String, Outcome)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[derive(Debug, Clone, Copy)]
enum Via {
    Reqwest,
    Hyper,
}

type HyperFailover = Failover<
    Region<HyperClient<HttpConnector, Full<Bytes>>>,
    RegionClassifier,
    HttpReplay,
    Attempts,
>;

/// A regional stack over two regions, either client, with the HTTP defaults, no recover pass
/// (so every count is one walk's), and the attempt timeout if asked.
enum Stack {
    Reqwest(RegionalClient<RegionClassifier, HttpReplay, Attempts>),
    Hyper(HyperFailover),
}

impl Stack {
    fn new(via: Via, east: &str, west: &str, timeout: bool, attempts: &Attempts) -> Stack {
        let regions = [("us-east-2", east), ("us-west-1", west)];
        macro_rules! configure {
            ($builder:expr) => {{
                let builder = $builder.recover(Backoff::none()).on_event(attempts.clone());
                if timeout {
                    builder.attempt_timeout(ATTEMPT_TIMEOUT)
                } else {
                    builder
                }
            }};
        }
        match via {
            Via::Reqwest => {
                // No proxy: a proxy set in the environment must not see loopback calls.
                let client = reqwest::Client::builder().no_proxy().build().unwrap();
                let builder = RegionalClient::builder(client, regions).unwrap();
                Stack::Reqwest(configure!(builder).build_client().unwrap())
            }
            Via::Hyper => {
                let client = HyperClient::builder(TokioExecutor::new()).build_http();
                let builder = regional::regions(client, regions).unwrap();
                Stack::Hyper(configure!(builder).build().unwrap())
            }
        }
    }

    /// Sends `method path` with `headers` and a small body; the status, or the error with the
    /// client's own error as its message.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<u16, CallError<String>> {
        match self {
            Stack::Reqwest(regional) => {
                let mut builder = regional.request(method, path).body("{}");
                for (name, value) in headers {
                    builder = builder.header(*name, *value);
                }
                let result = regional.execute(builder).await;
                result
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.map_inner(|e| e.to_string()))
            }
            Stack::Hyper(failover) => {
                let mut builder = http::Request::builder().method(method).uri(path);
                for (name, value) in headers {
                    builder = builder.header(*name, *value);
                }
                let req = builder.body(Full::new(Bytes::from_static(b"{}"))).unwrap();
                let result = failover.clone().oneshot(req).await;
                result
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.map_inner(|e| e.to_string()))
            }
        }
    }

    async fn get(&self, path: &str) -> Result<u16, CallError<String>> {
        self.send(Method::GET, path, &[]).await
    }
}

/// A region answering `template` to everything, expecting exactly `calls` requests (checked
/// when it is dropped, and again by [`seen`]).
async fn region(template: ResponseTemplate, calls: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .expect(calls)
        .mount(&server)
        .await;
    server
}

/// An answer arriving after 30 s: past the attempt timeout.
fn slow() -> ResponseTemplate {
    ResponseTemplate::new(200).set_delay(Duration::from_secs(30))
}

async fn seen(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[path = "../support/refused.rs"]
mod refused;
use refused::RefusedPort;

fn both() -> [Via; 2] {
    [Via::Reqwest, Via::Hyper]
}

#[tokio::test]
async fn a_503_hops_to_the_next_region() {
    for via in both() {
        let east = region(ResponseTemplate::new(503), 1).await;
        let west = region(ResponseTemplate::new(200), 1).await;
        let stack = Stack::new(via, &east.uri(), &west.uri(), false, &Attempts::default());
        assert_eq!(stack.get("/orders/7").await.unwrap(), 200, "{via:?}");
        assert_eq!((seen(&east).await, seen(&west).await), (1, 1), "{via:?}");
    }
}

#[tokio::test]
async fn a_503_everywhere_is_returned_as_the_last_response_never_as_success() {
    for via in both() {
        let east = region(ResponseTemplate::new(503), 1).await;
        let west = region(ResponseTemplate::new(503), 1).await;
        let attempts = Attempts::default();
        let stack = Stack::new(via, &east.uri(), &west.uri(), false, &attempts);
        assert_eq!(stack.get("/orders/7").await.unwrap(), 503, "{via:?}");
        let outcomes: Vec<_> = attempts.taken().into_iter().map(|(_, o)| o).collect();
        assert_eq!(outcomes, [Outcome::failed(), Outcome::failed()], "{via:?}");
    }
}

#[tokio::test]
async fn a_404_is_returned_not_failed_over() {
    for via in both() {
        let east = region(ResponseTemplate::new(404), 1).await;
        let west = region(ResponseTemplate::new(200), 0).await;
        let stack = Stack::new(via, &east.uri(), &west.uri(), false, &Attempts::default());
        assert_eq!(stack.get("/orders/404").await.unwrap(), 404, "{via:?}");
        assert_eq!((seen(&east).await, seen(&west).await), (1, 0), "{via:?}");
    }
}

/// A 429 with `retry_after` pushes its region back: the call hops, and the next call goes
/// straight to the other region.
async fn throttled_region_is_skipped_by_the_next_call(retry_after: &str) {
    for via in both() {
        let east = region(
            ResponseTemplate::new(429).insert_header("retry-after", retry_after),
            1,
        )
        .await;
        let west = region(ResponseTemplate::new(200), 2).await;
        let attempts = Attempts::default();
        let stack = Stack::new(via, &east.uri(), &west.uri(), false, &attempts);
        assert_eq!(stack.get("/a").await.unwrap(), 200, "{via:?}");
        let (_, first) = attempts.taken()[0].clone();
        assert!(
            first.retry_after().is_some_and(|d| d > Duration::ZERO),
            "{via:?}: {first:?}"
        );
        assert_eq!(stack.get("/b").await.unwrap(), 200, "{via:?}");
        assert_eq!(
            attempts.taken(),
            [("us-west-1".to_owned(), Outcome::Success)]
        );
        assert_eq!((seen(&east).await, seen(&west).await), (1, 2), "{via:?}");
    }
}

#[tokio::test]
async fn a_429_with_retry_after_seconds_skips_the_region() {
    throttled_region_is_skipped_by_the_next_call("2").await;
}

#[tokio::test]
async fn a_429_with_retry_after_http_date_skips_the_region() {
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(15));
    throttled_region_is_skipped_by_the_next_call(&date).await;
}

/// The attempts of a call whose first region refused the connection and whose second served.
fn assert_refused_then_served(attempts: &Attempts, via: Via) {
    assert_eq!(
        attempts.taken(),
        [
            ("us-east-2".to_owned(), Outcome::not_sent()),
            ("us-west-1".to_owned(), Outcome::Success)
        ],
        "{via:?}"
    );
}

#[tokio::test]
async fn a_region_shut_down_is_not_sent_and_even_a_post_hops() {
    for via in both() {
        let refused = RefusedPort::new();
        let down = refused.url();
        let west = region(ResponseTemplate::new(201), 1).await;
        let attempts = Attempts::default();
        let stack = Stack::new(via, &down, &west.uri(), false, &attempts);
        let status = stack.send(Method::POST, "/payments", &[]).await.unwrap();
        assert_eq!(status, 201, "{via:?}");
        assert_refused_then_served(&attempts, via);
    }
}

#[tokio::test]
async fn every_region_shut_down_ends_with_the_clients_own_error_typed() {
    let refused = [RefusedPort::new(), RefusedPort::new()];
    let down = [refused[0].url(), refused[1].url()];
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let regional = RegionalClient::builder(client, [("a", &down[0]), ("b", &down[1])])
        .unwrap()
        .recover(Backoff::none())
        .build_client()
        .unwrap();
    let err = regional.execute(regional.get("/x")).await.unwrap_err();
    let outcomes: Vec<_> = err.attempts().iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, [Outcome::not_sent(), Outcome::not_sent()]);
    // The last attempt's `reqwest::Error`, without downcasting.
    let last: &reqwest::Error = err.inner().expect("the last error is reqwest's");
    assert!(last.is_connect(), "{last:?}");
}

#[tokio::test]
async fn a_region_slower_than_the_attempt_timeout_is_cut_and_the_call_hops() {
    for via in both() {
        let east = region(slow(), 1).await;
        let west = region(ResponseTemplate::new(200), 1).await;
        let attempts = Attempts::default();
        let stack = Stack::new(via, &east.uri(), &west.uri(), true, &attempts);
        assert_eq!(stack.get("/orders/7").await.unwrap(), 200, "{via:?}");
        assert_eq!(attempts.taken()[0].1, Outcome::timeout(), "{via:?}");
        assert_eq!((seen(&east).await, seen(&west).await), (1, 1), "{via:?}");
    }
}

#[tokio::test]
async fn a_post_cut_by_the_timeout_is_not_replayed_without_an_idempotency_key() {
    for via in both() {
        let east = region(slow(), 1).await;
        let west = region(ResponseTemplate::new(201), 0).await;
        let stack = Stack::new(via, &east.uri(), &west.uri(), true, &Attempts::default());
        let err = stack
            .send(Method::POST, "/payments", &[])
            .await
            .unwrap_err();
        assert!(err.is_attempt_timed_out(), "{via:?}: {err:?}");
        assert_eq!(err.attempts().len(), 1, "{via:?}");
        assert_eq!((seen(&east).await, seen(&west).await), (1, 0), "{via:?}");
    }
}

#[tokio::test]
async fn a_post_cut_by_the_timeout_with_an_idempotency_key_is_replayed() {
    for via in both() {
        let east = region(slow(), 1).await;
        let west = region(ResponseTemplate::new(201), 1).await;
        let stack = Stack::new(via, &east.uri(), &west.uri(), true, &Attempts::default());
        let key = [("idempotency-key", "pay-7")];
        let status = stack.send(Method::POST, "/payments", &key).await.unwrap();
        assert_eq!(status, 201, "{via:?}");
        assert_eq!((seen(&east).await, seen(&west).await), (1, 1), "{via:?}");
    }
}

#[tokio::test]
async fn a_body_that_cannot_be_copied_is_sent_once() {
    let east = region(ResponseTemplate::new(503), 1).await;
    let west = region(ResponseTemplate::new(200), 0).await;
    let client = HyperClient::builder(TokioExecutor::new()).build_http();
    let regions = [("us-east-2", east.uri()), ("us-west-1", west.uri())];
    let mut failover = regional::regions(client, regions)
        .unwrap()
        .recover(Backoff::none())
        .build()
        .unwrap();
    // A boxed body is a stream to the replay rule: it cannot be copied.
    let body: BoxBody<Bytes, Infallible> = Full::new(Bytes::from_static(b"blob")).boxed();
    let req = http::Request::put("/blob").body(body).unwrap();
    let response = failover.ready().await.unwrap().call(req).await.unwrap();
    // An idempotent PUT, but its body cannot be copied: the 503 is the answer.
    assert_eq!(response.status(), 503);
    assert_eq!((seen(&east).await, seen(&west).await), (1, 0));
}

#[tokio::test]
async fn a_request_keeps_its_path_and_query_after_the_regions_prefix_whatever_its_origin() {
    let east = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/orders/7"))
        .and(query_param("full", "1"))
        .respond_with(ResponseTemplate::new(200))
        .expect(5)
        .mount(&east)
        .await;
    let base = format!("{}/api/", east.uri());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let regional = RegionalClient::builder(client.clone(), [("us-east-2", &base)])
        .unwrap()
        .build_client()
        .unwrap();
    // A path on no region, the same without its leading slash, a builder of the caller's own
    // client with an absolute URL whose origin is replaced, and a query holding a URL.
    for builder in [
        regional.get("/orders/7?full=1"),
        regional.get("orders/7?full=1"),
        client.get("http://elsewhere.invalid/orders/7?full=1"),
        regional.get("/orders/7?full=1&back=http://elsewhere.invalid/"),
        regional.get("orders/7?full=1&back=http://elsewhere.invalid/"),
    ] {
        let response = regional.execute(builder).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(seen(&east).await, 5);
}

#[tokio::test]
async fn one_region_is_the_single_endpoint_stack_retrying_on_the_recover_schedule() {
    let east = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&east)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&east)
        .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let regional = RegionalClient::builder(client, [("us-east-2", east.uri())])
        .unwrap()
        .recover(Backoff::constant(Duration::from_millis(1), 3))
        .build_client()
        .unwrap();
    let response = regional.execute(regional.get("/orders/7")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(seen(&east).await, 3);
}

#[test]
fn a_regional_client_and_its_calls_can_move_across_threads() {
    fn send_sync_static<T: Send + Sync + 'static>(_: &T) {}
    fn send_static<T: Send + 'static>(_: &T) {}
    let client = reqwest::Client::new();
    let regional = RegionalClient::builder(client, [("a", "http://127.0.0.1:1")])
        .unwrap()
        .build_client()
        .unwrap();
    send_sync_static(&regional);
    send_static(&regional.execute(regional.get("/")));
}

#[test]
fn an_invalid_base_url_is_a_typed_error_at_build_time() {
    let client = reqwest::Client::new();
    let err =
        RegionalClient::builder(client, [("a", "http://127.0.0.1:1"), ("b", "west")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "region base url is \"west\", expected an absolute http or https url with a host, and no \
         query or fragment"
    );
}

#[test]
fn the_regional_clients_verdicts_are_local_to_any_layer_above_it() {
    use steadfast::classify::{DefaultClassifier, outcome_of};
    use steadfast::{DeadlineExceeded, NoEndpointAvailable};
    let verdicts: [CallError<reqwest::Error>; 2] = [
        NoEndpointAvailable::new(None).into(),
        DeadlineExceeded::new().into(),
    ];
    for verdict in verdicts {
        let result: Result<(), _> = Err(verdict);
        assert_eq!(outcome_of(&DefaultClassifier, &result), Outcome::Local);
    }
    let hyper: Result<(), CallError<hyper_util::client::legacy::Error>> =
        Err(NoEndpointAvailable::new(None).into());
    assert_eq!(outcome_of(&DefaultClassifier, &hyper), Outcome::Local);
}

#[tokio::test]
async fn a_base_url_behind_the_retry_layer_retries_a_503_with_the_http_defaults() {
    use steadfast::regional::BaseUrl;
    use steadfast::{RetryLayer, RetryPolicy};
    use tower::Layer;
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let policy = RetryPolicy::builder()
        .classifier(RegionClassifier::default())
        .replay(HttpReplay)
        .backoff(Backoff::constant(Duration::from_millis(1), 3))
        .build()
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = BaseUrl::parse(&server.uri()).unwrap();
    let orders = RetryLayer::new(policy).layer(Region::new(client.clone(), base));
    let req = client
        .get("http://region.invalid/orders/7")
        .build()
        .unwrap();
    // The 503 is retried; the 404 is an answer, returned at once.
    let response = orders.oneshot(req).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(seen(&server).await, 2);
}

#[tokio::test]
async fn a_status_moved_in_the_http_classifier_hops_and_a_refused_region_stays_not_sent() {
    use steadfast::http::HttpClassifier;
    let east = region(ResponseTemplate::new(409), 1).await;
    let west = region(ResponseTemplate::new(200), 1).await;
    let attempts = Attempts::default();
    let conflict_is_transient = HttpClassifier::new().transient(http::StatusCode::CONFLICT);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let refused = RefusedPort::new();
    let regions = [
        ("us-east-2", east.uri()),
        ("eu-west-1", refused.url()),
        ("us-west-1", west.uri()),
    ];
    let regional = RegionalClient::builder(client, regions)
        .unwrap()
        .classifier(RegionClassifier::from(conflict_is_transient))
        .on_event(attempts.clone())
        .build_client()
        .unwrap();
    let response = regional.execute(regional.get("/orders/7")).await.unwrap();
    assert_eq!(response.status(), 200);
    let outcomes: Vec<_> = attempts.taken().into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        outcomes,
        [Outcome::failed(), Outcome::not_sent(), Outcome::Success]
    );
}

/// A bare `HttpClassifier` given to the regional builder sees through the regions'
/// `CallError`: a refused connection is `NotSent`, so even a POST hops, through either client.
#[tokio::test]
async fn a_bare_http_classifier_reads_a_refused_region_as_not_sent_and_a_post_hops() {
    use steadfast::http::HttpClassifier;
    for via in both() {
        let west = region(ResponseTemplate::new(201), 1).await;
        let refused = RefusedPort::new();
        let regions = [("us-east-2", refused.url()), ("us-west-1", west.uri())];
        let attempts = Attempts::default();
        let status = match via {
            Via::Reqwest => {
                let client = reqwest::Client::builder().no_proxy().build().unwrap();
                let regional = RegionalClient::builder(client, regions)
                    .unwrap()
                    .classifier(HttpClassifier::new())
                    .on_event(attempts.clone())
                    .build_client()
                    .unwrap();
                let response = regional.execute(regional.post("/payments")).await.unwrap();
                response.status().as_u16()
            }
            Via::Hyper => {
                let client = HyperClient::builder(TokioExecutor::new()).build_http();
                let failover = regional::regions(client, regions)
                    .unwrap()
                    .classifier(HttpClassifier::new())
                    .on_event(attempts.clone())
                    .build()
                    .unwrap();
                let request = http::Request::post("/payments")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                failover.oneshot(request).await.unwrap().status().as_u16()
            }
        };
        assert_eq!(status, 201, "{via:?}");
        assert_refused_then_served(&attempts, via);
    }
}

/// hyper-util's client over a connector whose connections never open: no socket, so it runs
/// under paused time.
fn never_connecting() -> HyperClient<impl Connect + Clone + Send + Sync + 'static, Full<Bytes>> {
    use hyper_util::rt::TokioIo;
    let never = tower::service_fn(|_: http::Uri| {
        std::future::pending::<Result<TokioIo<tokio::net::TcpStream>, std::io::Error>>()
    });
    HyperClient::builder(TokioExecutor::new()).build(never)
}

/// With no timeout set, the regional builders still bound time: a region that never answers is
/// cut at the default attempt timeout (10 s) and hopped, and the call ends at the default
/// deadline (30 s). Paused time, and no socket: hyper-util's client over a connector whose
/// connections never open.
#[tokio::test(start_paused = true)]
async fn a_region_that_never_answers_is_cut_by_the_default_attempt_timeout_and_deadline() {
    use tokio::time::Instant;
    let client = never_connecting();
    let attempts = Attempts::default();
    let failover = regional::regions(
        client,
        [
            ("us-east-2", "http://east.invalid"),
            ("us-west-1", "http://west.invalid"),
        ],
    )
    .unwrap()
    .on_event(attempts.clone())
    .build()
    .unwrap();
    let start = Instant::now();
    let request = http::Request::get("/orders/7")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let call = tokio::time::timeout(Duration::from_secs(3600), failover.oneshot(request));
    let err = call.await.expect("the call ends on its own").unwrap_err();
    assert!(err.is_deadline_exceeded(), "{err:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    let taken = attempts.taken();
    assert_eq!(
        taken[..2],
        [
            ("us-east-2".to_owned(), Outcome::timeout()),
            ("us-west-1".to_owned(), Outcome::timeout())
        ]
    );
}

/// `no_attempt_timeout` and `no_deadline` take the regional builders' time bounds away: the
/// same never-answering regions then hold the call (an hour of paused time, still pending).
#[tokio::test(start_paused = true)]
async fn without_the_default_time_bounds_a_region_that_never_answers_holds_the_call() {
    let client = never_connecting();
    let failover = regional::regions(client, [("us-east-2", "http://east.invalid")])
        .unwrap()
        .no_attempt_timeout()
        .no_deadline()
        .build()
        .unwrap();
    let request = http::Request::get("/orders/7")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let call = tokio::time::timeout(Duration::from_secs(3600), failover.oneshot(request));
    assert!(call.await.is_err(), "still pending after an hour");
}
