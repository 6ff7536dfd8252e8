//! A real HTTP 503 from a loopback server, through reqwest and the HTTP classifier, answered by
//! the fallback; the stale cache serves the last 200 after it (real time, counts only).

use std::convert::Infallible;
use std::time::Duration;

use steadfast::BoxError;
use steadfast::fallback::{Failure, FallbackLayer, StaleCache, Trigger, from_fn};
use steadfast::http::HttpClassifier;
use steadfast::{Outcome, RetryLayer, RetryPolicy};
use tower::{Service, ServiceBuilder, ServiceExt};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::Seen;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn get(server: &MockServer) -> reqwest::Request {
    reqwest::Request::new(reqwest::Method::GET, server.uri().parse().unwrap())
}

#[tokio::test]
async fn a_503_is_answered_by_the_fallback_and_a_404_is_not() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let seen = Seen::default();
    let fallback = from_fn(
        |req: &reqwest::Request| req.url().path().len(),
        |_, failure: Failure<reqwest::Response, BoxError>| async move {
            let status = failure.result.map(|r| r.status().as_u16()).ok();
            Ok::<_, Infallible>(http::Response::new(format!("default after {status:?}")).into())
        },
    );
    let mut svc = ServiceBuilder::new()
        .layer(
            FallbackLayer::new(fallback)
                .classifier(HttpClassifier::new())
                .on_event(seen.hook()),
        )
        .map_err(BoxError::from)
        .service(client());
    let resp: reqwest::Response = svc.ready().await.unwrap().call(get(&server)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "default after Some(503)");
    let resp = svc.ready().await.unwrap().call(get(&server)).await.unwrap();
    assert_eq!(resp.status(), 404, "a rejection is an answer");
    assert_eq!(
        seen.events(),
        [(Trigger::Failed(Outcome::failed()), true, None)]
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn after_retries_on_503_the_last_good_body_is_served_stale() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("fresh"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    // The body is read inside the stack, so that the cached response is a cheap clone.
    let read = tower::service_fn(|req: reqwest::Request| async move {
        let resp = client().execute(req).await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        Ok::<_, BoxError>(out)
    });
    let policy = RetryPolicy::builder()
        .backoff(steadfast::Backoff::constant(Duration::from_millis(1), 2))
        .classifier(HttpClassifier::new())
        .replay(steadfast::http::HttpReplay)
        .build()
        .unwrap();
    let cache = StaleCache::new(16, Duration::from_secs(60)).unwrap();
    let seen = Seen::default();
    let mut svc = ServiceBuilder::new()
        .layer(
            FallbackLayer::new(
                cache
                    .fallback(|req: &reqwest::Request| req.url().path().to_owned())
                    .mark(|mut resp: http::Response<bytes::Bytes>, age| {
                        let age = age.as_secs().to_string().parse().unwrap();
                        resp.headers_mut().insert(http::header::AGE, age);
                        resp
                    }),
            )
            .classifier(HttpClassifier::new())
            .on_event(seen.hook()),
        )
        .layer(RetryLayer::new(policy))
        .service(read);
    let first = svc.ready().await.unwrap().call(get(&server)).await.unwrap();
    assert_eq!(
        (first.status().as_u16(), first.body().as_ref()),
        (200, &b"fresh"[..])
    );
    assert_eq!(cache.len(), 1);
    let stale = svc.ready().await.unwrap().call(get(&server)).await.unwrap();
    assert_eq!(
        (stale.status().as_u16(), stale.body().as_ref()),
        (200, &b"fresh"[..])
    );
    assert_eq!(stale.headers()[http::header::AGE], "0");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        4,
        "one, then three"
    );
    let events = seen.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].0, events[0].1),
        (Trigger::Failed(Outcome::failed()), true)
    );
    assert!(events[0].2.is_some_and(|age| age < Duration::from_secs(60)));
}
