//! The `http` feature under paused time: `HttpOptions` reads a request's deadline, replay
//! marker and pinned endpoint from its extensions, and `HttpReplay` applies DESIGN's replay rule
//! for HTTP (idempotent methods hop after anything, any method after `NotSent`, a request that
//! may have been applied only with `ReplayMarker::Always`). The scripted regions see the body.

use ::http::{Method, Request};
use steadfast::failover::{
    CallDeadline, Failover, FailoverBuilder, HttpOptions, HttpReplay, PinnedEndpoint, ReplayMarker,
};
use steadfast::{AllEndpointsFailed, AttemptTimedOut, BoxError, DeadlineExceeded, Outcome};
use tower::util::MapRequest;

use super::support::{Resp, Scripted, Step, ms, secs};
use super::*;

/// The request's number, carried as text: `HttpReplay` copies the bodies it knows (`ReplayBody`).
type Body = fn(Request<String>) -> u32;
type Region = MapRequest<Scripted, Body>;

fn body(req: Request<String>) -> u32 {
    req.into_body().parse().expect("a request number")
}

fn http_regions(
    regions: &[(&str, &Scripted)],
) -> FailoverBuilder<Region, Classifier, HttpReplay, (), HttpOptions> {
    let mut b = Failover::builder()
        .classifier(classify_more as Classifier)
        .recover(Backoff::standard())
        .replay(HttpReplay)
        .options(HttpOptions);
    for (name, s) in regions {
        b = b.endpoint(*name, (*s).clone().map_request(body as Body));
    }
    b
}

fn request(method: Method, n: u32) -> Request<String> {
    let mut req = Request::new(n.to_string());
    *req.method_mut() = method;
    req
}

fn with<T: Clone + Send + Sync + 'static>(mut req: Request<String>, ext: T) -> Request<String> {
    req.extensions_mut().insert(ext);
    req
}

async fn send(
    f: &Failover<Region, Classifier, HttpReplay, (), HttpOptions>,
    req: Request<String>,
) -> Result<Resp, BoxError> {
    f.clone().oneshot(req).await
}

#[tokio::test(start_paused = true)]
async fn after_a_503_a_get_hops_and_a_post_does_not() {
    let east = Scripted::new([Step::Status(503), Step::Status(503)]);
    let west = Scripted::new([]);
    let f = http_regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    assert_eq!(status(send(&f, request(Method::GET, 1)).await), 200);
    assert_eq!(status(send(&f, request(Method::POST, 2)).await), 503);
    assert_eq!(east.requests(), [1, 2]);
    assert_eq!(west.requests(), [1]);
}

#[tokio::test(start_paused = true)]
async fn a_post_marked_always_hops_after_a_503() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let f = http_regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let post = with(request(Method::POST, 3), ReplayMarker::Always);
    assert_eq!(status(send(&f, post).await), 200);
    assert_eq!(west.requests(), [3]);
}

#[tokio::test(start_paused = true)]
async fn a_post_hops_after_not_sent() {
    let east = Scripted::new([Step::Err("refused")]);
    let west = Scripted::new([]);
    let f = http_regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    assert_eq!(status(send(&f, request(Method::POST, 4)).await), 200);
    assert_eq!((east.requests(), west.requests()), (vec![4], vec![4]));
}

#[tokio::test(start_paused = true)]
async fn a_post_hops_when_its_first_endpoint_was_never_ready() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    east.set_not_ready(true);
    let f = http_regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .build()
        .unwrap();
    assert_eq!(status(send(&f, request(Method::POST, 5)).await), 200);
    assert_eq!((east.count(), west.instants()), (0, vec![secs(1)]));
}

#[tokio::test(start_paused = true)]
async fn after_a_timeout_a_post_does_not_hop_and_a_put_does() {
    let east = Scripted::new([Step::Hang, Step::Hang]);
    let west = Scripted::new([]);
    let f = http_regions(&[("east", &east), ("west", &west)])
        .attempt_timeout(secs(1))
        .build()
        .unwrap();
    let e = send(&f, request(Method::POST, 6)).await.unwrap_err();
    let all = e.downcast_ref::<AllEndpointsFailed>().unwrap();
    assert!(all.last.is::<AttemptTimedOut>());
    assert_eq!(all.attempts[0].outcome, Outcome::timeout());
    assert_eq!(status(send(&f, request(Method::PUT, 7)).await), 200);
    assert_eq!(west.requests(), [7]);
}

#[tokio::test(start_paused = true)]
async fn a_get_marked_once_does_not_hop() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let f = http_regions(&[("east", &east), ("west", &west)])
        .build()
        .unwrap();
    let get = with(request(Method::GET, 8), ReplayMarker::Once);
    assert_eq!(status(send(&f, get).await), 503);
    assert_eq!(west.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_deadline_extension_bounds_the_call() {
    let east = Scripted::new([Step::Hang]);
    let f = http_regions(&[("east", &east)])
        .deadline(secs(10))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let get = with(request(Method::GET, 9), CallDeadline(ms(1500)));
    let e = send(&f, get).await.unwrap_err();
    assert!(e.is::<DeadlineExceeded>());
    assert_eq!(since(t0), ms(1500));
}

#[tokio::test(start_paused = true)]
async fn a_pinned_endpoint_extension_pins_the_call() {
    let east = Scripted::new([]);
    let west = Scripted::new([Step::Status(503)]);
    let f = http_regions(&[("east", &east), ("west", &west)])
        .recover(Backoff::none())
        .build()
        .unwrap();
    let get = with(request(Method::GET, 10), PinnedEndpoint("west".into()));
    assert_eq!(status(send(&f, get).await), 503, "pinned: no hop to east");
    assert_eq!((east.count(), west.count()), (0, 1));
    let get = with(request(Method::GET, 11), PinnedEndpoint("mars".into()));
    let e = send(&f, get).await.unwrap_err();
    assert!(e.is::<steadfast::NoEndpointAvailable>());
}
