//! An admin endpoint that starts failover drills, behind a bearer token.
//!
//! A drill moves production traffic: starting one is an operator action, so the endpoint
//! requires `Authorization: Bearer <token>`, compared in constant time (`subtle`), and answers
//! `401` without it. It listens on loopback only; put it behind the same authentication and
//! network policy as the service's other admin endpoints.
//!
//! `POST /drills/{planned-failover,regional-outage,brownout,hang}` plays that drill on the
//! primary (a 2 s fault, 0.5 s of lead, 3 s to settle) and answers `200` with the report as
//! text, `409` while another drill runs, `404` for an unknown drill, `405` for another method.
//!
//! The stack is three in-process regions behind chaos layers, under a failover carrying the
//! drill tap's hooks, with its own traffic (a call every 10 ms). The example then plays an
//! operator against its own endpoint: a request without the token (`401`), with a wrong one
//! (`401`), a drill, and a second drill while the first runs (`409`). The token comes from
//! `STEADFAST_ADMIN_TOKEN`, or is drawn at startup and printed (in production, read it from the
//! service's secret store).
//!
//! `cargo run --example drill_admin`

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use steadfast::BoxError;
use steadfast::chaos::{ChaosHandle, ChaosLayer};
use steadfast::drill::{Drill, DrillError, Drills, Objectives, Tap};
use steadfast::failover::Failover;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

const REGIONS: [&str; 3] = ["us-east-2", "us-west-1", "eu-west-1"];

/// An in-process region: answers its name at once.
#[derive(Clone)]
struct Region(&'static str);

impl tower::Service<()> for Region {
    type Response = &'static str;
    type Error = BoxError;
    type Future = std::future::Ready<Result<&'static str, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        std::future::ready(Ok(self.0))
    }
}

/// What the endpoint needs: the drill runner and the token.
struct Admin {
    drills: Drills,
    token: String,
}

impl Admin {
    /// Whether the request carries the token, compared in constant time (the length aside).
    fn authorized(&self, request: &Request<hyper::body::Incoming>) -> bool {
        let Some(given) = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        given.as_bytes().ct_eq(self.token.as_bytes()).into()
    }

    async fn handle(&self, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        if !self.authorized(&request) {
            let mut response = answer(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            response.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer"),
            );
            return response;
        }
        if request.method() != Method::POST {
            return answer(StatusCode::METHOD_NOT_ALLOWED, "POST to start a drill\n");
        }
        let secs = Duration::from_secs;
        let drill = match request.uri().path() {
            "/drills/planned-failover" => Drill::planned_failover(secs(2)),
            "/drills/regional-outage" => Drill::regional_outage(secs(2)),
            "/drills/brownout" => Drill::brownout(secs(2), 0.2),
            "/drills/hang" => Drill::hang(secs(2)),
            _ => return answer(StatusCode::NOT_FOUND, "no such drill\n"),
        }
        .lead(Duration::from_millis(500))
        .settle(secs(3));
        let objectives = Objectives::default().rto(secs(1));
        match self.drills.run(&drill, &objectives).await {
            Ok(report) => answer(StatusCode::OK, report.to_string()),
            Err(e @ DrillError::AlreadyRunning) => answer(StatusCode::CONFLICT, format!("{e}\n")),
            Err(e) => answer(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")),
        }
    }
}

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

/// A token of 32 hex digits, from the standard library's randomly keyed hasher (an example's
/// stand-in for a secret store).
fn fresh_token() -> String {
    (0..2)
        .map(|i: u64| format!("{:016x}", RandomState::new().hash_one(i)))
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The stack: regions behind chaos layers, the tap's hooks on the failover and its breakers.
    let tap = Tap::new();
    let chaos: Vec<ChaosHandle> = REGIONS.iter().map(|_| ChaosHandle::disabled()).collect();
    let mut builder = Failover::builder();
    for (name, chaos) in REGIONS.iter().zip(&chaos) {
        builder = builder.endpoint(*name, ChaosLayer::new(chaos.clone()).layer(Region(name)));
    }
    let breaker_tap = tap.clone();
    let failover = builder
        .breakers(move |b| {
            b.consecutive_failures(3)
                .open_duration(Duration::from_secs(1))
                .on_event(breaker_tap.hook(()))
        })
        .attempt_timeout(Duration::from_millis(200))
        .on_event(tap.hook(()))
        .build()?;
    let mut drills = Drills::new(failover.handle(), &tap).budget(failover.budget().clone());
    for (name, chaos) in REGIONS.iter().zip(&chaos) {
        drills = drills.chaos(name, chaos.clone())?;
    }

    // The service's own traffic.
    let traffic = failover.clone();
    tokio::spawn(async move {
        loop {
            let _ = traffic.clone().oneshot(()).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });

    let token = std::env::var("STEADFAST_ADMIN_TOKEN").unwrap_or_else(|_| fresh_token());
    let admin = Arc::new(Admin { drills, token });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    println!("admin endpoint on {url} (token {})", admin.token);
    let server = admin.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let admin = server.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.handle(request).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    // An operator at work.
    let http = reqwest::Client::builder().no_proxy().build()?;
    let outage = format!("{url}/drills/regional-outage");
    let anonymous = http.post(&outage).send().await?;
    println!("without a token: {}", anonymous.status());
    let wrong = http.post(&outage).bearer_auth("guess").send().await?;
    println!("with a wrong token: {}", wrong.status());
    let first = http.post(&outage).bearer_auth(&admin.token).send();
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        http.post(format!("{url}/drills/hang"))
            .bearer_auth(&admin.token)
            .send()
            .await
    };
    let (first, second) = tokio::join!(first, second);
    let second = second?;
    println!(
        "a second drill meanwhile: {} {}",
        second.status(),
        second.text().await?.trim()
    );
    let first = first?;
    println!("the drill: {}\n{}", first.status(), first.text().await?);
    Ok(())
}
