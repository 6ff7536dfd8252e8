//! Retry over real HTTP: a `wiremock` server on loopback, a `reqwest` client wrapped in a tower
//! service, and real time (short constant delays, so the tests stay fast). Only counts are
//! asserted, never timings.

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast::BoxError;
use steadfast::backoff::Backoff;
use steadfast::event::{Event, GiveUpReason};
use steadfast::retry::{RetryLayer, RetryPolicy};

// 2xx succeeds, 429 is push-back, 5xx is a server failure, any other status is a correct
// answer; a refused connection never reached the server.
use super::support::classify_reqwest as classify;
use tower::{Layer, Service, ServiceExt};
use wiremock::matchers::{any, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A `reqwest` client as a tower service, with its errors boxed.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        // no proxy: a proxy set in the environment must not see loopback calls
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("the client builds");
        Http { client }
    }
}

impl Service<reqwest::Request> for Http {
    type Response = reqwest::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: reqwest::Request) -> Self::Future {
        let client = self.client.clone();
        Box::pin(async move { client.execute(req).await.map_err(BoxError::from) })
    }
}

/// A copy of the request for another attempt; a POST is sent once.
fn replay(req: &reqwest::Request) -> Option<reqwest::Request> {
    if req.method() == reqwest::Method::POST {
        return None;
    }
    req.try_clone()
}

/// What the event hook saw.
#[derive(Default)]
struct Seen {
    attempts: AtomicU32,
    retries: AtomicU32,
    gave_up: Mutex<Option<GiveUpReason>>,
}

impl Seen {
    fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    fn retries(&self) -> u32 {
        self.retries.load(Ordering::Relaxed)
    }

    fn gave_up(&self) -> Option<GiveUpReason> {
        *self.gave_up.lock().unwrap()
    }
}

/// The client under test: 3 retries 10 ms apart, and a hook recording into the returned `Seen`.
fn retrying() -> (
    impl Service<reqwest::Request, Response = reqwest::Response, Error = BoxError>,
    Arc<Seen>,
) {
    let seen = Arc::new(Seen::default());
    let record = seen.clone();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::constant(Duration::from_millis(10), 3))
        .classifier(classify)
        .replay(replay)
        .on_event(move |event: &Event<'_>| match event {
            Event::Attempt { .. } => {
                record.attempts.fetch_add(1, Ordering::Relaxed);
            }
            Event::Retry { .. } => {
                record.retries.fetch_add(1, Ordering::Relaxed);
            }
            Event::GaveUp { reason, .. } => {
                *record.gave_up.lock().unwrap() = Some(*reason);
            }
            _ => {}
        })
        .build()
        .unwrap();
    (RetryLayer::new(policy).layer(Http::new()), seen)
}

fn get(url: &str) -> reqwest::Request {
    reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap())
}

/// Sends `req` through `client`, which outlives the call (and so does its policy's budget).
async fn send(
    client: &mut impl Service<reqwest::Request, Response = reqwest::Response, Error = BoxError>,
    req: reqwest::Request,
) -> Result<reqwest::Response, BoxError> {
    client.ready().await?.call(req).await
}

async fn requests_received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn http_503_twice_then_200_is_retried_to_success() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(2)
        .mount(&server)
        .await;

    let (mut client, seen) = retrying();
    let response = send(&mut client, get(&server.uri())).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(requests_received(&server).await, 3);
    assert_eq!((seen.attempts(), seen.retries()), (3, 2));
    assert_eq!(seen.gave_up(), None);
}

#[tokio::test]
async fn http_400_is_returned_as_a_response_after_one_request() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400))
        .mount(&server)
        .await;

    let (mut client, seen) = retrying();
    let response = send(&mut client, get(&server.uri())).await.unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(requests_received(&server).await, 1);
    assert_eq!((seen.attempts(), seen.retries()), (1, 0));
    assert_eq!(
        seen.gave_up(),
        None,
        "a rejection is an answer, not a give-up"
    );
}

#[tokio::test]
async fn http_always_503_returns_the_503_after_four_requests() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;

    let (mut client, seen) = retrying();
    let response = send(&mut client, get(&server.uri())).await.unwrap();

    assert_eq!(response.status(), 503);
    assert_eq!(requests_received(&server).await, 4, "1 call and 3 retries");
    assert_eq!((seen.attempts(), seen.retries()), (4, 3));
    assert_eq!(seen.gave_up(), Some(GiveUpReason::RetriesExhausted));
}

#[tokio::test]
async fn http_post_declined_by_the_replay_hook_is_sent_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;

    let (mut client, seen) = retrying();
    let mut post = reqwest::Request::new(reqwest::Method::POST, server.uri().parse().unwrap());
    *post.body_mut() = Some("pay 10".into());
    let response = send(&mut client, post).await.unwrap();

    assert_eq!(response.status(), 503);
    assert_eq!(requests_received(&server).await, 1);
    assert_eq!((seen.attempts(), seen.retries()), (1, 0));
    assert_eq!(seen.gave_up(), Some(GiveUpReason::NotReplayable));
}

#[tokio::test]
async fn http_connection_refused_errors_after_four_attempts() {
    // a port that was free a moment ago and has no listener now
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    let (mut client, seen) = retrying();
    let err = send(&mut client, get(&format!("http://127.0.0.1:{port}/")))
        .await
        .expect_err("nothing listens on the port");

    let err = err
        .downcast_ref::<reqwest::Error>()
        .expect("the caller gets the client's error");
    assert!(err.is_connect(), "expected a connect error, got {err:?}");
    assert_eq!((seen.attempts(), seen.retries()), (4, 3));
    assert_eq!(seen.gave_up(), Some(GiveUpReason::RetriesExhausted));
}

/// `oneshot` drops the service as soon as the call is made: the call alone keeps the policy and
/// its budget, and still retries.
#[tokio::test]
async fn http_oneshot_retries_after_the_service_is_gone() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;

    let (client, seen) = retrying();
    let response = client.oneshot(get(&server.uri())).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(requests_received(&server).await, 2);
    assert_eq!((seen.attempts(), seen.retries()), (2, 1));
}

/// A `reqwest::Client` as it is, its error mapped into `CallError::Inner` under the retry layer
/// (reqwest's error cannot hold the library's verdicts): the bare `HttpClassifier` sees through
/// the `CallError`, so a 503 is retried and a POST to a refused port, never sent, is sent again
/// as `HttpReplay` allows; the caller gets reqwest's own error, typed.
#[cfg(feature = "reqwest")]
#[tokio::test]
async fn a_reqwest_client_as_it_is_behind_map_err_is_classified_through_the_call_error() {
    use steadfast::CallError;
    use steadfast::http::{HttpClassifier, HttpReplay};
    use tower::ServiceBuilder;

    let attempts = Arc::new(AtomicU32::new(0));
    let counted = attempts.clone();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::constant(Duration::from_millis(10), 3))
        .classifier(HttpClassifier::new())
        .replay(HttpReplay)
        .on_event(move |event: &Event<'_>| {
            if let Event::Attempt { .. } = event {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .map_err(CallError::Inner)
        .service(client.clone());

    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let response = service.clone().oneshot(get(&server.uri())).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(requests_received(&server).await, 2);
    assert_eq!(attempts.swap(0, Ordering::Relaxed), 2);

    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let post = client
        .post(format!("http://127.0.0.1:{port}/payments"))
        .build()
        .unwrap();
    let err = service.oneshot(post).await.unwrap_err();
    assert!(
        err.inner().is_some_and(reqwest::Error::is_connect),
        "{err:?}"
    );
    assert_eq!(attempts.load(Ordering::Relaxed), 4);
}
