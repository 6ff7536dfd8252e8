//! Rehearsing an outage: chaos in front of a healthy HTTP dependency, and a circuit breaker
//! that must notice.
//!
//! The example starts a small, healthy HTTP server on loopback, and calls it every 50 ms for
//! 2.5 s through `CircuitBreaker → Chaos → reqwest`. The chaos script is an incident:
//!
//! - from 0.5 s to 1.5 s, an outage: every call gets a `503` made by the chaos layer, and never
//!   reaches the server;
//! - all along, 1 call in 20 is slowed by 100 ms (seeded: the same calls on every run).
//!
//! The breaker opens after 3 failures in a row, rejects calls at once for 300 ms, then probes.
//! While the outage lasts, its probes fail and it opens again; once the outage is over, the
//! probes succeed and it closes. The output is one line per request, with every injected fault
//! (chaos numbers only the calls that reach it: the open breaker rejects the others first) and
//! every breaker transition, and the count of requests the server really saw.
//!
//! Timings are real (a loopback server), so a line may move by one call from run to run; the
//! injected faults, by call number, are the same on every run.
//!
//! `cargo run --example chaos`

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use steadfast::breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::chaos::{ChaosHandle, ChaosLayer, Latency, Script};
use steadfast::event::Event;
use steadfast::{BoxError, BreakerOpen, Outcome};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (url, seen) = start_server().await?;
    let ms = Duration::from_millis;

    let incident = Script::builder()
        .seed(2026)
        .latency(Latency::none().with_tail(0.05, ms(100), ms(100)))
        .outage(ms(500)..ms(1500))
        .build()?;
    let breaker = CircuitBreaker::builder()
        .name("dependency")
        .consecutive_failures(3)
        .open_duration(ms(300))
        .on_event(print_event)
        .build()?;

    let http = reqwest::Client::builder().no_proxy().build()?;
    let client = tower::service_fn(move |req: reqwest::Request| http.execute(req));
    let chaos = ChaosHandle::disabled();
    let client = ChaosLayer::new(chaos.clone())
        .name("dependency")
        .fault_response(|_| unavailable())
        .on_event(print_event)
        .layer(client);
    let mut client = CircuitBreakerLayer::new(breaker)
        .classifier(classify)
        .layer(client);

    println!("server on {url}; the incident starts now");
    chaos.start(incident);
    let t0 = Instant::now();
    let mut calls = 0;
    while t0.elapsed() < ms(2500) {
        let at = t0.elapsed().as_millis();
        let req = reqwest::Request::new(reqwest::Method::GET, url.parse()?);
        let outcome = match client.ready().await?.call(req).await {
            Ok(resp) => format!("{}", resp.status()),
            Err(e) if e.is::<BreakerOpen>() => "rejected by the open breaker".to_owned(),
            Err(e) => format!("error: {e}"),
        };
        println!("{at:>5} ms  request {calls:>2}: {outcome}");
        calls += 1;
        tokio::time::sleep(ms(50)).await;
    }
    chaos.disable();
    println!(
        "{calls} requests made; the server saw {} of them",
        seen.load(Ordering::Relaxed)
    );
    Ok(())
}

/// 5xx fails; anything else is an answer.
fn classify(r: &Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match r {
        Ok(resp) if resp.status().is_server_error() => Outcome::failed(),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::not_sent(),
    }
}

/// What a load balancer in front of a dead dependency answers.
fn unavailable() -> reqwest::Response {
    let resp = http::Response::builder()
        .status(503)
        .body("injected by chaos")
        .expect("a valid response");
    resp.into()
}

fn print_event(e: &Event<'_>) {
    match e {
        Event::Fault { fault, .. } => {
            println!(
                "           chaos: call {} gets {} (delay {:?}, window {:?})",
                fault.call, fault.kind, fault.delay, fault.window
            );
        }
        Event::BreakerTransition { from, to, .. } => {
            println!("           breaker: {from} -> {to}");
        }
        _ => {}
    }
}

/// A healthy server answering `200 OK` to everything, counting the requests it sees.
async fn start_server() -> Result<(String, Arc<AtomicUsize>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    count.fetch_add(1, Ordering::Relaxed);
                    async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((url, seen))
}
