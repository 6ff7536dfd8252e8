//! Retrying an HTTP call through transient failures, end to end.
//!
//! The example starts a small HTTP server on loopback that is having a bad moment: it pushes
//! back once with `429 Too Many Requests` and `Retry-After: 1`, then fails twice with
//! `503 Service Unavailable`, then answers `200 OK`. A `reqwest` client wrapped in the retry
//! layer calls it once and gets the `200`, after 3 retries.
//!
//! It shows:
//!
//! - a `reqwest::Client` as it is under the retry layer: its error, which cannot hold the
//!   library's verdicts (a deadline, a timed-out attempt), goes into `CallError::Inner`, so the
//!   caller still gets reqwest's own error, typed;
//! - the ready HTTP classifier and replay rule (`HttpClassifier`, which reads the server's
//!   `Retry-After`, and `HttpReplay`, which copies a `reqwest::Request` with `try_clone`);
//! - an event hook that prints every attempt, every retry and giving up.
//!
//! The schedule is `Backoff::standard()` without jitter (500 ms, 1 s, 2 s), so the output is the
//! same on every run. The first retry waits 1 s, not 500 ms: a `Retry-After` hint longer than
//! the schedule's delay wins. The run takes about 4 seconds.
//!
//! `cargo run --features reqwest --example retry`

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use steadfast::backoff::{Backoff, Jitter};
use steadfast::event::Event;
use steadfast::http::{HttpClassifier, HttpReplay};
use steadfast::retry::{RetryLayer, RetryPolicy};
use steadfast::{BoxError, CallError};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (url, requests_seen) = start_flaky_server().await?;
    println!("server listening on {url}");

    let policy = RetryPolicy::builder()
        .backoff(Backoff::standard().with_jitter(Jitter::None)) // exact delays: the same output every run
        // 2xx succeeds; 429 (and 503 with `Retry-After`) is push-back, retried after the hint;
        // 5xx is a server failure, retried; any other status is an answer, returned as it is.
        .classifier(HttpClassifier::new())
        // A copy of each request (`try_clone`); a GET may be sent again after any failure.
        .replay(HttpReplay)
        .on_event(print_event)
        .build()?;
    // the server is on loopback: keep a proxy set in the environment out of the way
    let http = reqwest::Client::builder().no_proxy().build()?;
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .map_err(CallError::Inner) // reqwest::Error -> CallError<reqwest::Error>
        .service(http);

    let request = reqwest::Request::new(reqwest::Method::GET, url.parse()?);
    let response = client.ready().await?.call(request).await?;

    let status = response.status();
    let body = response.text().await?;
    println!("final answer: {status}, body {body:?}");
    println!(
        "the server saw {} requests",
        requests_seen.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Prints what the retry layer does. Hooks run inline on the calling task: keep them quick.
fn print_event(event: &Event<'_>) {
    match event {
        Event::Attempt {
            attempt, outcome, ..
        } => println!("attempt {attempt}: {outcome:?}"),
        Event::Retry {
            attempt,
            delay,
            budget_level,
            ..
        } => println!(
            "  retrying: attempt {attempt} in {delay:?}, budget left: {}",
            budget_level.map_or("unlimited".to_string(), |level| level.to_string())
        ),
        Event::GaveUp {
            attempts, reason, ..
        } => println!("  giving up after {attempts} attempts: {reason:?}"),
        _ => {}
    }
}

/// Starts the flaky server on a free loopback port. Returns its URL and a count of the requests
/// it has received.
async fn start_flaky_server() -> Result<(String, Arc<AtomicUsize>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    async move { Ok::<_, Infallible>(flaky_answer(n)) }
                });
                // a connection that breaks only ends that connection
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((url, requests))
}

/// The answer to the server's `n`th request (from 0): 429 with `Retry-After: 1`, then 503
/// twice, then 200 from then on.
fn flaky_answer(n: usize) -> hyper::Response<Full<Bytes>> {
    let (status, body) = match n {
        0 => (StatusCode::TOO_MANY_REQUESTS, "slow down"),
        1 | 2 => (StatusCode::SERVICE_UNAVAILABLE, "try again later"),
        _ => (StatusCode::OK, "hello from the server"),
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
    }
    response
}
