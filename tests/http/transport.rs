//! Transport errors from real clients against loopback sockets: a refused port is `NotSent`, a
//! response slower than reqwest's timeout is `Timeout`, a connection closed before the answer is
//! `Failed`, a request that cannot be built or sent is `Local`; `std::io::Error` kinds; bounded
//! source chains.

use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use steadfast::http::{
    HttpClassifier, hyper_outcome, io_outcome, reqwest_outcome, transport_outcome,
};
use steadfast::{BoxError, CallError, Classify, DeadlineExceeded, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{RefusedPort, hyper_client, reqwest_client};

/// The same error read every way a user may hold it: the function for its type, the generic
/// walker, and the classifier over the error itself and boxed.
fn all_ways_reqwest(err: reqwest::Error) -> Outcome {
    let direct = reqwest_outcome(&err);
    assert_eq!(transport_outcome(&err), direct, "{err:?}");
    let c = HttpClassifier::new();
    let typed: Result<reqwest::Response, reqwest::Error> = Err(err);
    assert_eq!(c.classify(&typed), direct);
    seen_through_call_errors(typed, direct)
}

/// A client's result read inside a [`CallError`] (as a region returns it), that `CallError`
/// boxed, and that box inside a `CallError<BoxError>`: the classifier sees through each to the
/// client's own error. Returns `direct`.
fn seen_through_call_errors<T, E>(typed: Result<T, E>, direct: Outcome) -> Outcome
where
    HttpClassifier:
        Classify<T, CallError<E>> + Classify<T, BoxError> + Classify<T, CallError<BoxError>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let c = HttpClassifier::new();
    let wrapped: Result<T, CallError<E>> = typed.map_err(CallError::Inner);
    assert_eq!(c.classify(&wrapped), direct, "CallError::Inner");
    let boxed: Result<T, BoxError> = wrapped.map_err(BoxError::from);
    assert_eq!(c.classify(&boxed), direct, "a boxed CallError");
    let in_box: Result<T, CallError<BoxError>> = boxed.map_err(CallError::Inner);
    assert_eq!(c.classify(&in_box), direct, "CallError<BoxError>");
    direct
}

fn all_ways_hyper(err: hyper_util::client::legacy::Error) -> Outcome {
    let direct = hyper_outcome(&err);
    assert_eq!(transport_outcome(&err), direct, "{err:?}");
    let c = HttpClassifier::new();
    let typed: Result<http::Response<hyper::body::Incoming>, _> = Err(err);
    assert_eq!(c.classify(&typed), direct);
    seen_through_call_errors(typed, direct)
}

/// The outcomes of a GET of `url` that fails, through reqwest and through hyper-util.
async fn get_through_both(url: &str) -> [Outcome; 2] {
    let err = reqwest_client(None).get(url).send().await.unwrap_err();
    let through_reqwest = all_ways_reqwest(err);
    let err = hyper_client::<Empty<Bytes>>()
        .get(url.parse().unwrap())
        .await
        .unwrap_err();
    [through_reqwest, all_ways_hyper(err)]
}

#[tokio::test]
async fn a_refused_port_is_not_sent_through_reqwest_and_hyper_util() {
    let refused = RefusedPort::new();
    let url = format!("{}/", refused.url());
    assert_eq!(get_through_both(&url).await, [Outcome::not_sent(); 2]);
}

#[tokio::test]
async fn a_server_shut_down_is_not_sent() {
    let server = MockServer::builder().start().await;
    let url = server.uri();
    let addr = *server.address();
    drop(server);
    // The server stops on its own thread: wait until its port refuses connections.
    let closed = async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), closed)
        .await
        .expect("the server shuts down");
    let err = reqwest_client(None).get(&url).send().await.unwrap_err();
    assert_eq!(all_ways_reqwest(err), Outcome::not_sent());
}

#[tokio::test]
async fn a_response_slower_than_reqwests_timeout_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let client = reqwest_client(Some(Duration::from_millis(50)));
    let err = client.get(server.uri()).send().await.unwrap_err();
    assert_eq!(all_ways_reqwest(err), Outcome::timeout());
    // It reached the server: a timeout is not `NotSent`.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

/// A server that accepts one connection, reads the request's first bytes and closes without an
/// answer.
async fn closes_without_answering() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket.shutdown().await;
        }
    });
    addr
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_a_server_failure() {
    let url = format!("http://{}/", closes_without_answering().await);
    assert_eq!(get_through_both(&url).await, [Outcome::failed(); 2]);
}

#[tokio::test]
async fn a_request_that_cannot_be_built_or_sent_is_local() {
    let err = reqwest_client(None)
        .get("not a url")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_builder(), "{err:?}");
    assert_eq!(all_ways_reqwest(err), Outcome::Local);

    // hyper-util's client needs an absolute URI.
    let err = hyper_client::<Empty<Bytes>>()
        .get("/orders/7".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(all_ways_hyper(err), Outcome::Local);
}

#[tokio::test]
async fn a_reqwest_status_error_is_its_status() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let response = reqwest_client(None).get(server.uri()).send().await.unwrap();
    let err = response.error_for_status().unwrap_err();
    assert_eq!(all_ways_reqwest(err), Outcome::Rejected);
}

#[test]
fn io_error_kinds() {
    use io::ErrorKind as K;
    let cases = [
        (K::ConnectionRefused, Outcome::not_sent()),
        (K::AddrNotAvailable, Outcome::not_sent()),
        (K::HostUnreachable, Outcome::not_sent()),
        (K::NetworkUnreachable, Outcome::not_sent()),
        (K::NetworkDown, Outcome::not_sent()),
        (K::TimedOut, Outcome::timeout()),
        (K::InvalidInput, Outcome::Local),
        (K::PermissionDenied, Outcome::Local),
        (K::Unsupported, Outcome::Local),
        (K::ConnectionReset, Outcome::failed()),
        (K::ConnectionAborted, Outcome::failed()),
        (K::BrokenPipe, Outcome::failed()),
        (K::UnexpectedEof, Outcome::failed()),
        (K::InvalidData, Outcome::failed()),
        (K::Other, Outcome::failed()),
    ];
    let c = HttpClassifier::new();
    for (kind, want) in cases {
        let err = io::Error::from(kind);
        assert_eq!(io_outcome(&err), want, "{kind:?}");
        assert_eq!(transport_outcome(&err), want, "{kind:?}");
        let result: Result<http::Response<()>, io::Error> = Err(err);
        assert_eq!(c.classify(&result), want, "{kind:?}");
        seen_through_call_errors(result, want);
    }
    // The library's verdicts in a `CallError` are `Local`, whatever the client's error type.
    let verdict: Result<http::Response<()>, CallError<io::Error>> =
        Err(DeadlineExceeded::new().into());
    assert_eq!(c.classify(&verdict), Outcome::Local);
    // An error wrapping another is read through it; this library's own error is `Local`.
    let wrapped = io::Error::other(io::Error::from(K::ConnectionRefused));
    assert_eq!(io_outcome(&wrapped), Outcome::not_sent());
    let own = io::Error::other(DeadlineExceeded::new());
    assert_eq!(io_outcome(&own), Outcome::Local);
    assert_eq!(transport_outcome(&own), Outcome::Local);
}

/// An error whose source is `inner`.
#[derive(Debug)]
struct Layer(Box<dyn Error + Send + Sync>);

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("layer")
    }
}

impl Error for Layer {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

fn wrapped(depth: usize, kind: io::ErrorKind) -> BoxError {
    (0..depth).fold(io::Error::from(kind).into(), |inner, _| {
        Box::new(Layer(inner))
    })
}

#[test]
fn source_chains_are_walked_a_bounded_depth() {
    let c = HttpClassifier::new();
    let near: Result<http::Response<()>, BoxError> = Err(wrapped(3, io::ErrorKind::TimedOut));
    assert_eq!(c.classify(&near), Outcome::timeout());
    assert_eq!(
        transport_outcome(&*wrapped(15, io::ErrorKind::TimedOut)),
        Outcome::timeout()
    );
    // Past 16 errors the walk stops: an unrecognised failure, never a hang.
    let far = wrapped(10_000, io::ErrorKind::TimedOut);
    assert_eq!(transport_outcome(&*far), Outcome::failed());
}

/// An error that is its own source: a chain that never ends.
#[derive(Debug)]
struct Looping;

impl fmt::Display for Looping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("looping")
    }
}

impl Error for Looping {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self)
    }
}

#[test]
fn a_chain_that_loops_ends_as_an_unrecognised_failure() {
    assert_eq!(transport_outcome(&Looping), Outcome::failed());
    let boxed: Result<http::Response<()>, BoxError> = Err(Box::new(Looping));
    assert_eq!(HttpClassifier::new().classify(&boxed), Outcome::failed());
    assert_eq!(
        steadfast::classify::outcome_of(&HttpClassifier::new(), &boxed),
        Outcome::failed()
    );
}
