//! Failover over real HTTP: `wiremock` servers on loopback as regions, a `reqwest` client per
//! region as a tower service, real time. A region answering 503, one shut down (connection
//! refused), one hanging past the attempt timeout: each server sees exactly the requests it
//! should. Only counts are asserted, never timings: the attempt timeout (3 s) is far longer than
//! any loopback answer even on a loaded machine, so that only the hanging region is cut by it.

use std::time::Duration;

use ::http::{Method, Request};
use steadfast::failover::{Failover, HttpOptions, HttpReplay, PinnedEndpoint, ReplayMarker};
use steadfast::{AllEndpointsFailed, AttemptTimedOut, BoxError, Outcome};
use tower::{Service, ServiceExt, service_fn};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::Backoff;
use super::support::{RefusedPort, classify_reqwest};

/// A region: a `reqwest` client sending each request to the region's base URL (the request's
/// own URI carries only the path).
pub(super) fn region(
    base: String,
) -> impl Service<
    Request<String>,
    Response = reqwest::Response,
    Error = BoxError,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    // no proxy: a proxy set in the environment must not see loopback calls
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("the client builds");
    service_fn(move |req: Request<String>| {
        let client = client.clone();
        let path = req.uri().path().to_owned();
        let url = format!("{base}{path}");
        async move {
            let (mut parts, body) = req.into_parts();
            parts.uri = url.parse()?;
            let req = reqwest::Request::try_from(Request::from_parts(parts, body))?;
            client.execute(req).await.map_err(BoxError::from)
        }
    })
}

pub(super) async fn answering(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

/// The attempt timeout of the tests with a hanging region.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A server that answers 200 only after 30 s: past any attempt timeout here.
async fn hanging() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    server
}

pub(super) async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

pub(super) fn get() -> Request<String> {
    Request::get("/orders").body(String::new()).unwrap()
}

fn post() -> Request<String> {
    let mut req = Request::new("pay 10".to_owned());
    *req.method_mut() = Method::POST;
    *req.uri_mut() = "/payments".parse().unwrap();
    req
}

#[tokio::test]
async fn a_503_region_and_a_shut_down_region_are_hopped_over_to_a_healthy_one() {
    let unavailable = answering(503).await;
    let refused = RefusedPort::new(); // held for the whole test: nothing else takes its port
    let down = refused.url();
    let healthy = answering(200).await;
    let f = Failover::builder()
        .endpoint("us-east-2", region(unavailable.uri()))
        .endpoint("us-west-1", region(down))
        .endpoint("eu-west-1", region(healthy.uri()))
        .classifier(classify_reqwest)
        .build()
        .unwrap();
    let response = f.oneshot(get()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(received(&unavailable).await, 1);
    assert_eq!(received(&healthy).await, 1);
}

#[tokio::test]
async fn a_hanging_region_is_cut_at_the_attempt_timeout_and_the_call_hops() {
    let slow = hanging().await;
    let healthy = answering(200).await;
    let f = Failover::builder()
        .endpoint("us-east-2", region(slow.uri()))
        .endpoint("us-west-1", region(healthy.uri()))
        .classifier(classify_reqwest)
        .attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
        .unwrap();
    let response = f.oneshot(get()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(received(&slow).await, 1);
    assert_eq!(received(&healthy).await, 1);
}

#[tokio::test]
async fn every_region_failing_sees_exactly_its_passes() {
    let unavailable = answering(503).await;
    let refused = RefusedPort::new(); // held for the whole test: nothing else takes its port
    let down = refused.url();
    let slow = hanging().await;
    let f = Failover::builder()
        .endpoint("us-east-2", region(unavailable.uri()))
        .endpoint("us-west-1", region(down))
        .endpoint("eu-west-1", region(slow.uri()))
        .classifier(classify_reqwest)
        .attempt_timeout(ATTEMPT_TIMEOUT)
        .recover(Backoff::constant(Duration::from_millis(10), 1))
        .build()
        .unwrap();
    let e = f.oneshot(get()).await.unwrap_err();
    let all = e.downcast_ref::<AllEndpointsFailed>().expect("all failed");
    assert!(all.last.is::<AttemptTimedOut>(), "{}", all.last);
    let outcomes: Vec<_> = all.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::failed(), Outcome::not_sent(), Outcome::timeout()].repeat(2)
    );
    assert_eq!(received(&unavailable).await, 2, "two passes");
    assert_eq!(received(&slow).await, 2, "two passes");
}

#[tokio::test]
async fn a_region_answering_503_is_left_alone_once_its_breaker_opens() {
    let unavailable = answering(503).await;
    let healthy = answering(200).await;
    let f = Failover::builder()
        .endpoint("us-east-2", region(unavailable.uri()))
        .endpoint("us-west-1", region(healthy.uri()))
        .classifier(classify_reqwest)
        .breakers(|b| b.consecutive_failures(2))
        .build()
        .unwrap();
    for _ in 0..5 {
        let response = f.clone().oneshot(get()).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(received(&unavailable).await, 2);
    assert_eq!(received(&healthy).await, 5);
    assert_eq!(&*f.handle().serving().endpoint, "us-west-1");
}

#[tokio::test]
async fn a_post_follows_the_http_replay_rule() {
    let unavailable = answering(503).await;
    let refused = RefusedPort::new(); // held for the whole test: nothing else takes its port
    let down = refused.url();
    let healthy = answering(200).await;
    let failover = |first: String| {
        Failover::builder()
            .endpoint("us-east-2", region(first))
            .endpoint("us-west-1", region(healthy.uri()))
            .classifier(classify_reqwest)
            .replay(HttpReplay)
            .options(HttpOptions)
            .recover(Backoff::none())
            .build()
            .unwrap()
    };
    // A POST that got a 503 may have been applied: it does not hop.
    let f = failover(unavailable.uri());
    let response = f.clone().oneshot(post()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        (received(&unavailable).await, received(&healthy).await),
        (1, 0)
    );
    // Marked as safe to replay, it does.
    let mut marked = post();
    marked.extensions_mut().insert(ReplayMarker::Always);
    assert_eq!(f.oneshot(marked).await.unwrap().status(), 200);
    assert_eq!(
        (received(&unavailable).await, received(&healthy).await),
        (2, 1)
    );
    // Refused by a region that is down, it never arrived: it hops.
    let f = failover(down);
    assert_eq!(f.oneshot(post()).await.unwrap().status(), 200);
    assert_eq!(received(&healthy).await, 2);
    let bodies: Vec<_> = healthy
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.method.to_string(), String::from_utf8(r.body).unwrap()))
        .collect();
    assert_eq!(
        bodies,
        [
            ("POST".into(), "pay 10".into()),
            ("POST".into(), "pay 10".into())
        ]
    );
}

#[tokio::test]
async fn a_pinned_request_goes_only_to_its_region() {
    let unavailable = answering(503).await;
    let healthy = answering(200).await;
    let f = Failover::builder()
        .endpoint("us-east-2", region(healthy.uri()))
        .endpoint("us-west-1", region(unavailable.uri()))
        .classifier(classify_reqwest)
        .options(HttpOptions)
        .recover(Backoff::none())
        .build()
        .unwrap();
    let mut req = get();
    req.extensions_mut()
        .insert(PinnedEndpoint("us-west-1".into()));
    assert_eq!(f.oneshot(req).await.unwrap().status(), 503);
    assert_eq!(
        (received(&unavailable).await, received(&healthy).await),
        (1, 0)
    );
}

#[tokio::test]
async fn a_get_to_a_hanging_region_is_hedged_to_a_healthy_one_and_a_post_is_not() {
    let slow = hanging().await;
    let healthy = answering(200).await;
    let f = Failover::builder()
        .endpoint("us-east-2", region(slow.uri()))
        .endpoint("us-west-1", region(healthy.uri()))
        .classifier(classify_reqwest)
        .replay(HttpReplay)
        .attempt_timeout(ATTEMPT_TIMEOUT)
        // Long enough for the first request to reach the slow region on a loaded machine.
        .hedge(steadfast::failover::Hedge::after(Duration::from_millis(
            500,
        )))
        .build()
        .unwrap();
    let response = f.clone().oneshot(get()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(received(&slow).await, 1);
    assert_eq!(received(&healthy).await, 1, "the hedge");
    // A POST may be applied twice if copied while the first may still land: never hedged.
    let e = f.oneshot(post()).await.unwrap_err();
    assert!(
        e.is::<AllEndpointsFailed>() || e.is::<AttemptTimedOut>(),
        "{e}"
    );
    assert_eq!(received(&slow).await, 2);
    assert_eq!(
        received(&healthy).await,
        1,
        "no hedge, no hop after a timeout"
    );
}
