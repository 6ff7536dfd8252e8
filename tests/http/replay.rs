//! The replay rule: every method, marker, `Idempotency-Key` and outcome; which bodies are
//! copied; and under a real retry over `reqwest` and hyper-util against a loopback server
//! answering 503, exactly how many times each request is sent.

use std::time::Duration;

use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use steadfast::backoff::Backoff;
use steadfast::failover::ReplayMarker;
use steadfast::http::{HttpClassifier, HttpReplay, IDEMPOTENCY_KEY, ReplayBody, may_send_again};
use steadfast::replay::Replay;
use steadfast::retry::{RetryLayer, RetryPolicy};
use steadfast::{BoxError, Outcome};
use tower::{Layer, Service, ServiceExt};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{empty, hyper_client, reqwest_client};

const METHODS: [&str; 9] = [
    "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "POST", "PATCH", "CONNECT",
];

fn outcomes() -> [Outcome; 6] {
    [
        Outcome::not_sent(),
        Outcome::timeout(),
        Outcome::failed(),
        Outcome::throttled(None),
        Outcome::Rejected,
        Outcome::Local,
    ]
}

/// The rule as the docs state it.
fn expected(method: &str, marker: Option<ReplayMarker>, keyed: bool, after: &Outcome) -> bool {
    let idempotent = matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    );
    let never_arrived = matches!(
        after,
        Outcome::Transient {
            kind: steadfast::TransientKind::NotSent | steadfast::TransientKind::Throttled,
            ..
        } | Outcome::Rejected
            | Outcome::Local
    );
    match marker {
        Some(ReplayMarker::Once) => false,
        Some(ReplayMarker::Always) => true,
        _ => idempotent || never_arrived || keyed,
    }
}

fn request(method: &str, marker: Option<ReplayMarker>, keyed: bool) -> Request<String> {
    let mut req = Request::builder()
        .method(method)
        .uri("http://east.example/orders")
        .body(String::from("{\"n\":1}"))
        .unwrap();
    if let Some(marker) = marker {
        req.extensions_mut().insert(marker);
    }
    if keyed {
        req.headers_mut()
            .insert(IDEMPOTENCY_KEY, HeaderValue::from_static("k-1"));
    }
    req
}

#[test]
fn every_method_marker_key_and_outcome() {
    for method in METHODS {
        for marker in [None, Some(ReplayMarker::Always), Some(ReplayMarker::Once)] {
            for keyed in [false, true] {
                let req = request(method, marker, keyed);
                let copy = HttpReplay.replay(&req);
                assert_eq!(
                    copy.is_some(),
                    marker != Some(ReplayMarker::Once),
                    "{method} {marker:?}"
                );
                for after in outcomes() {
                    let want = expected(method, marker, keyed, &after);
                    let why = format!("{method} {marker:?} keyed {keyed} after {after:?}");
                    assert_eq!(HttpReplay.may_replay(&req, &after), want, "{why}");
                    let m = Method::from_bytes(method.as_bytes()).unwrap();
                    assert_eq!(
                        may_send_again(&m, req.headers(), marker, &after),
                        want,
                        "{why}"
                    );

                    let mut r = reqwest::Request::new(m, "http://east.example/".parse().unwrap());
                    if keyed {
                        r.headers_mut()
                            .insert(IDEMPOTENCY_KEY, HeaderValue::from_static("k"));
                    }
                    // reqwest keeps extensions private: only the method and the key count.
                    let want = expected(method, None, keyed, &after);
                    assert_eq!(HttpReplay.may_replay(&r, &after), want, "reqwest {why}");
                }
            }
        }
    }
}

#[test]
fn the_copy_is_the_whole_request() {
    let mut req = request("PUT", Some(ReplayMarker::Always), true);
    *req.version_mut() = http::Version::HTTP_2;
    let copy = HttpReplay.replay(&req).unwrap();
    assert_eq!(copy.method(), req.method());
    assert_eq!(copy.uri(), req.uri());
    assert_eq!(copy.version(), req.version());
    assert_eq!(copy.headers(), req.headers());
    assert_eq!(
        copy.extensions().get::<ReplayMarker>(),
        Some(&ReplayMarker::Always)
    );
    assert_eq!(copy.body(), req.body());
}

#[test]
fn in_memory_bodies_are_copied_and_streams_are_not() {
    assert_eq!(String::from("a").try_copy().as_deref(), Some("a"));
    assert_eq!(vec![1u8].try_copy(), Some(vec![1u8]));
    assert_eq!(
        Bytes::from_static(b"a").try_copy(),
        Some(Bytes::from_static(b"a"))
    );
    assert_eq!(().try_copy(), Some(()));
    assert!(empty().try_copy().is_some());
    assert!(Empty::<Bytes>::new().try_copy().is_some());
    assert!(
        Full::new(Bytes::from_static(b"a"))
            .boxed()
            .try_copy()
            .is_none()
    );
    assert!(
        Full::new(Bytes::from_static(b"a"))
            .boxed_unsync()
            .try_copy()
            .is_none()
    );

    let stream = Request::get("/")
        .body(Full::new(Bytes::new()).boxed())
        .unwrap();
    assert!(HttpReplay.replay(&stream).is_none(), "a stream goes once");

    let body = reqwest::Body::from("abc");
    assert_eq!(body.try_copy().unwrap().as_bytes(), Some(&b"abc"[..]));
    assert!(
        reqwest::Body::wrap(Full::new(Bytes::new()))
            .try_copy()
            .is_none()
    );

    let mut r = reqwest::Request::new(Method::POST, "http://east.example/".parse().unwrap());
    *r.body_mut() = Some(reqwest::Body::from("abc"));
    let copy = HttpReplay.replay(&r).unwrap();
    assert_eq!(
        copy.body().and_then(reqwest::Body::as_bytes),
        Some(&b"abc"[..])
    );
    *r.body_mut() = Some(reqwest::Body::wrap(Full::new(Bytes::new())));
    assert!(HttpReplay.replay(&r).is_none(), "a stream goes once");
}

/// A server answering 503 to everything.
async fn unavailable() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    server
}

/// Three retries 1 ms apart, HTTP classified and replayed.
fn policy() -> RetryPolicy<HttpClassifier, HttpReplay> {
    RetryPolicy::builder()
        .backoff(Backoff::constant(Duration::from_millis(1), 3))
        .classifier(HttpClassifier::new())
        .replay(HttpReplay)
        .build()
        .unwrap()
}

async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

fn box_reqwest(err: reqwest::Error) -> BoxError {
    err.into()
}

#[tokio::test]
async fn under_a_retry_over_reqwest_each_request_is_sent_as_the_rule_says() {
    let cases: [(Method, bool, Option<reqwest::Body>, usize); 5] = [
        (Method::GET, false, None, 4),
        (Method::DELETE, false, None, 4),
        (Method::POST, false, Some("{}".into()), 1),
        (Method::POST, true, Some("{}".into()), 4),
        (
            Method::PUT,
            false,
            Some(reqwest::Body::wrap(Full::new(Bytes::new()))),
            1,
        ),
    ];
    for (method, keyed, body, want) in cases {
        let server = unavailable().await;
        let client = reqwest_client(None).map_err(box_reqwest as fn(_) -> _);
        let mut retrying = RetryLayer::new(policy()).layer(client);
        let mut req = reqwest::Request::new(method.clone(), server.uri().parse().unwrap());
        *req.body_mut() = body;
        if keyed {
            req.headers_mut()
                .insert(IDEMPOTENCY_KEY, HeaderValue::from_static("k-1"));
        }
        let response = retrying.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(received(&server).await, want, "{method} keyed {keyed}");
    }
}

fn box_hyper(err: hyper_util::client::legacy::Error) -> BoxError {
    err.into()
}

#[tokio::test]
async fn under_a_retry_over_hyper_util_each_request_is_sent_as_the_rule_says() {
    type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;
    let full = || Full::new(Bytes::from_static(b"{}"));
    let cases: [(Method, Option<ReplayMarker>, bool, usize); 5] = [
        (Method::GET, None, false, 4),
        (Method::POST, None, false, 1),
        (Method::PATCH, Some(ReplayMarker::Always), false, 4),
        (Method::GET, Some(ReplayMarker::Once), false, 1),
        (Method::PUT, None, true, 1),
    ];
    for (method, marker, stream, want) in cases {
        let server = unavailable().await;
        let uri = server.uri();
        let why = format!("{method} {marker:?} stream {stream}");
        let sent = if stream {
            let client = hyper_client::<Body>().map_err(box_hyper as fn(_) -> _);
            let mut retrying = RetryLayer::new(policy()).layer(client);
            let mut req = Request::builder()
                .method(method)
                .uri(uri)
                .body(full().boxed())
                .unwrap();
            if let Some(marker) = marker {
                req.extensions_mut().insert(marker);
            }
            retrying.ready().await.unwrap().call(req).await
        } else {
            let client = hyper_client::<Full<Bytes>>().map_err(box_hyper as fn(_) -> _);
            let mut retrying = RetryLayer::new(policy()).layer(client);
            let mut req = Request::builder()
                .method(method)
                .uri(uri)
                .body(full())
                .unwrap();
            if let Some(marker) = marker {
                req.extensions_mut().insert(marker);
            }
            retrying.ready().await.unwrap().call(req).await
        };
        assert_eq!(sent.unwrap().status(), 503, "{why}");
        assert_eq!(received(&server).await, want, "{why}");
    }
}
