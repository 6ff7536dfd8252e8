//! Regional failover over HTTP, end to end: a primary region fails, traffic moves to the
//! secondary without a single failed call; the secondary fails too, and the third region
//! serves; traffic comes back to the primary once it has stayed healthy for a while.
//!
//! The example starts three small HTTP servers on loopback, one per region, in priority order:
//! `us-east-2` (the primary), `us-west-1` and `eu-west-1`; each takes 50 ms to answer. Each
//! region's client is one `reqwest` client with that region's base URL, made a tower service;
//! requests name a relative path (`GET /orders/7`), so any region can serve the same request. A
//! `Failover` over them is called every 200 ms, three calls at a time, while a script breaks and
//! mends the primary:
//!
//! 1. all is well: the primary serves every call;
//! 2. the primary answers `503`: each call gets its `503`, hops to `us-west-1` at once and is
//!    served there; after 3 failures in a row the primary's breaker opens, and calls stop going
//!    to it at all. Right after, `FailoverHandle::serving` still names the primary: it names the
//!    endpoint where the last call *started*, and those calls started at the primary and hopped.
//!    The next call starts at `us-west-1`: that is the failover (`FAILED OVER`), and from then
//!    on `serving` names `us-west-1`;
//! 3. the primary now hangs (it accepts the request and never answers): when its breaker lets
//!    one probe through, 2 s later, the probe is cut at the 300 ms attempt timeout and hops on, so
//!    its caller is served by `us-west-1` too; the breaker opens again;
//! 4. `us-west-1` answers `503` too, while the primary still hangs: each call hops on to
//!    `eu-west-1`, the third region, which serves it; `us-west-1`'s breaker opens after 3 failures
//!    and the failover moves on to `eu-west-1`;
//! 5. the primary recovers (`us-west-1` stays down): the next probe succeeds and closes the
//!    primary's breaker, but under `Failback::After(2 s)` it only gets a trickle, one call at a
//!    time, while the other calls stay on `eu-west-1`; after 2 s without a failure, all traffic
//!    fails back to the primary, past `us-west-1`.
//!
//! It shows:
//!
//! - a `reqwest` client per region as a tower service over `http::Request`s with relative paths,
//!   and `HttpReplay`, the HTTP replay rule (a `GET` may be sent again after a timeout);
//! - a classifier that maps HTTP statuses to outcomes;
//! - the settings of a multi-region client: an attempt timeout (without one, a region that hangs
//!   holds its calls forever), a deadline, breakers tuned for every endpoint, failback after a
//!   hold-down;
//! - an event hook, on the failover and on its breakers, that prints what they do, and
//!   `FailoverHandle::serving`, which endpoint is serving and why.
//!
//! The script moves on when it sees what it waits for (the breaker's state, the region that
//! served), and leaves a generous margin where it waits for time to pass, so every run tells
//! the same story; only the number of rounds in each act may vary by one. At the end it checks
//! the story's facts and panics if one is false: every call succeeded; no server received a
//! request while its region's breaker was open; each server received exactly the calls it served
//! plus the ones it failed; the primary failed 4 (three `503`s and the hung probe), `us-west-1`
//! at least 3; during the hold-down the primary never had two calls in flight and `eu-west-1`
//! kept serving; all traffic came back after it. The run takes about 10 seconds.
//!
//! `cargo run --features http --example failover`

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reqwest::StatusCode;
use steadfast::breaker::BreakerState;
use steadfast::event::Event;
use steadfast::failover::{Failback, Failover, FailoverHandle, HttpReplay};
use steadfast::{BoxError, Outcome};
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

/// The regions, in priority order.
const REGIONS: [&str; 3] = ["us-east-2", "us-west-1", "eu-west-1"];
/// How long a server takes to answer: long enough that the calls of a round are in flight
/// together.
const SERVICE_TIME: Duration = Duration::from_millis(50);
/// Time between two rounds of calls.
const TICK: Duration = Duration::from_millis(200);
/// Calls made together in each round: enough to see the trickle of one call at a time.
const CALLS_PER_TICK: usize = 3;
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(300);
const OPEN_DURATION: Duration = Duration::from_secs(2);
const HOLD_DOWN: Duration = Duration::from_secs(2);
/// More rounds than the story needs (about 40), so that a failover that never fails back ends
/// the example with a panic, not a hang.
const MAX_TICKS: usize = 150;

type Request = http::Request<Bytes>;
type Response = http::Response<Bytes>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let start = Instant::now();
    let mut servers = Vec::new();
    for name in REGIONS {
        let server = Server::start(name).await?;
        println!("{name} listening on {}", server.url);
        servers.push(server);
    }
    let [primary, secondary, tertiary] = &servers[..] else {
        unreachable!("three regions")
    };

    let hook = move |event: &Event<'_>| print_event(start, event);
    let mut builder = Failover::builder();
    for server in &servers {
        builder = builder.endpoint(server.name, RegionClient::new(&server.url)?);
    }
    let failover = builder
        .attempt_timeout(ATTEMPT_TIMEOUT)
        .deadline(Duration::from_secs(2))
        .breakers(move |b| {
            b.consecutive_failures(3)
                .open_duration(OPEN_DURATION)
                .probes(1)
                .required_successes(1)
                .on_event(hook)
        })
        .failback(Failback::After(HOLD_DOWN))
        .classifier(classify)
        .replay(HttpReplay)
        .on_event(hook)
        .build()?;
    let handle = failover.handle();
    for server in &servers {
        let _ = server.breakers.set(handle.clone());
    }

    let mut story = Story {
        start,
        failover,
        calls: 0,
        served: [0; REGIONS.len()],
        ticks: 0,
    };

    println!("\n== act 1: all regions healthy");
    for _ in 0..5 {
        let round = story.tick().await;
        assert!(
            round.iter().all(|&r| r == 0),
            "the primary serves while healthy"
        );
    }
    print_serving(start, &handle);
    assert_eq!(primary.received(), 5 * CALLS_PER_TICK);

    println!("\n== act 2: {} answers 503", primary.name);
    primary.set(Mode::Unavailable);
    let (primary_before, secondary_before) = (primary.received(), secondary.received());
    story.hop_until_open(&handle, primary, secondary).await;
    // Each call of the round got its 503 and hopped; the third failure opened the breaker.
    assert_eq!(primary.received() - primary_before, 3);
    assert_eq!(secondary.received() - secondary_before, 3);
    print_serving(start, &handle);
    explain(&[
        "`serving` names the endpoint where the last call started. These calls started at",
        "us-east-2 and hopped to us-west-1 within the call, so it still names the primary.",
        "Its breaker is open now: the next call starts at us-west-1, and that is the failover.",
    ]);
    story.failed_over_round(&handle, secondary).await;

    println!(
        "\n== act 3: {} hangs; its breaker is open, so calls skip it",
        primary.name
    );
    primary.set(Mode::Hanging);
    let primary_before = primary.received();
    while primary.received() == primary_before {
        let round = story.tick().await;
        assert!(round.iter().all(|&r| r == 1), "us-west-1 serves meanwhile");
    }
    // One probe went through the half-open breaker, hung, was cut and hopped on.
    assert_eq!(primary.received() - primary_before, 1);
    assert_eq!(handle.breaker_state(primary.name), Some(BreakerState::Open));
    print_serving(start, &handle);

    println!(
        "\n== act 4: {} answers 503 too, while {} still hangs",
        secondary.name, primary.name
    );
    secondary.set(Mode::Unavailable);
    story.hop_until_open(&handle, secondary, tertiary).await;
    assert_eq!(&*handle.serving().endpoint, secondary.name);
    print_serving(start, &handle);
    explain(&[
        "As in act 2: these calls started at us-west-1 and hopped, so `serving` names it until",
        "the next call starts at eu-west-1, the only region left with a closed breaker.",
    ]);
    story.failed_over_round(&handle, tertiary).await;

    println!(
        "\n== act 5: {} recovers ({} stays down)",
        primary.name, secondary.name
    );
    primary.set(Mode::Healthy);
    primary.most_in_flight.store(0, Ordering::Relaxed);
    // Its breaker is still open: calls stay away until the next probe succeeds and closes it.
    let closing_round = loop {
        let at = start.elapsed();
        let round = story.tick().await;
        if handle.breaker_state(primary.name) == Some(BreakerState::Closed) {
            break at;
        }
        assert!(round.iter().all(|&r| r == 2), "eu-west-1 serves until then");
    };
    let closed_seen = start.elapsed();
    // The hold-down starts with a call after the breaker closed, so it ends no earlier than
    // `HOLD_DOWN` after the round that closed it: the rounds that start before then (less a
    // tick of margin) are all in it.
    let served_before = story.served;
    let mut shown = false;
    while start.elapsed() + TICK < closing_round + HOLD_DOWN {
        story.tick().await;
        if !shown {
            print_serving(start, &handle);
            shown = true;
        }
    }
    let trickle = story.served[0] - served_before[0];
    let still_failed_over = story.served[2] - served_before[2];
    let most_in_flight = primary.most_in_flight.load(Ordering::Relaxed);
    println!(
        "{} during the hold-down: {trickle} calls served by {}, {still_failed_over} by {}, \
         at most {most_in_flight} in flight at {} at a time",
        stamp(start.elapsed()),
        primary.name,
        tertiary.name,
        primary.name,
    );
    assert!(most_in_flight <= 1, "the primary gets one call at a time");
    assert!(
        still_failed_over > 0,
        "traffic stays on eu-west-1 until the hold-down ends"
    );
    // All traffic returns with the first call after the hold-down, which started at most a
    // round after the breaker closed; a second of margin.
    while start.elapsed() < closed_seen + HOLD_DOWN + Duration::from_secs(1) {
        story.tick().await;
    }
    for _ in 0..3 {
        let round = story.tick().await;
        assert!(round.iter().all(|&r| r == 0), "all traffic is back");
    }
    print_serving(start, &handle);

    explain(&[
        "us-west-1 still answers 503, but every call starts at the primary again and is served",
        "there, so none goes near it.",
    ]);

    println!("\n== the score");
    for server in &servers {
        println!(
            "{:>10}: received {:>3} requests, served {:>3} calls, failed {:>2}",
            server.name,
            server.received(),
            story.served[server.index],
            server.failed(),
        );
    }
    println!(
        "{} calls in {} rounds, all served; {:.1}s",
        story.calls,
        story.ticks,
        start.elapsed().as_secs_f64()
    );

    // The facts of the story. Every call was served (`tick` panics otherwise).
    assert_eq!(story.served.iter().sum::<usize>(), story.calls);
    for server in &servers {
        assert_eq!(
            server.received_while_open.load(Ordering::Relaxed),
            0,
            "{} received a request while its breaker was open",
            server.name
        );
    }
    // Each server received what it served plus what it failed: the primary three 503s and one
    // hung probe; us-west-1 three 503s, and one more for each probe of its breaker since;
    // eu-west-1 never failed.
    for server in &servers {
        assert_eq!(
            server.received(),
            story.served[server.index] + server.failed(),
            "{}",
            server.name
        );
    }
    assert_eq!(primary.failed(), 3 + 1);
    assert!(secondary.failed() >= 3);
    assert_eq!(tertiary.failed(), 0);
    assert!(
        story.served[2] > 0,
        "eu-west-1 served while the others were down"
    );
    Ok(())
}

/// The calling side of the script.
struct Story<F> {
    start: Instant,
    failover: F,
    calls: usize,
    /// Calls served, per region.
    served: [usize; REGIONS.len()],
    ticks: usize,
}

impl<F> Story<F>
where
    F: Service<Request, Response = Response, Error = BoxError> + Clone,
{
    /// Makes `CALLS_PER_TICK` calls together, prints which region served each, waits for the
    /// next tick, and returns the regions (by index). Panics if a call fails, or if the story
    /// goes on too long.
    async fn tick(&mut self) -> [usize; CALLS_PER_TICK] {
        self.ticks += 1;
        assert!(self.ticks <= MAX_TICKS, "the story did not end");
        let next = tokio::time::Instant::now() + TICK;
        let first = self.calls;
        self.calls += CALLS_PER_TICK;
        let call = |n: usize| {
            let request = http::Request::get(format!("/orders/{n}"))
                .body(Bytes::new())
                .expect("a valid request");
            self.failover.clone().oneshot(request)
        };
        // `join!` polls the calls in turn, so they are in flight together (unless one finishes
        // within its first poll, which the checks allow for).
        let results = tokio::join!(call(first), call(first + 1), call(first + 2));
        let mut regions = [0; CALLS_PER_TICK];
        let mut names = Vec::with_capacity(CALLS_PER_TICK);
        for (i, result) in [results.0, results.1, results.2].into_iter().enumerate() {
            let response = match result {
                Ok(response) if response.status() == StatusCode::OK => response,
                Ok(response) => panic!("call {} got {}", first + i, response.status()),
                Err(err) => panic!("call {} failed: {err}", first + i),
            };
            let body = String::from_utf8_lossy(response.body()).into_owned();
            let Some(region) = REGIONS.iter().position(|r| body.starts_with(r)) else {
                panic!("call {} got {body:?}", first + i)
            };
            regions[i] = region;
            self.served[region] += 1;
            names.push(REGIONS[region]);
        }
        println!(
            "{} round {:>2}: calls {:>3}..{:<3} served by {}",
            stamp(self.start.elapsed()),
            self.ticks,
            first,
            first + CALLS_PER_TICK - 1,
            names.join(", ")
        );
        tokio::time::sleep_until(next).await;
        regions
    }

    /// Rounds until `failing`'s breaker opens, every call hopping from it to `to`, served there.
    async fn hop_until_open(&mut self, handle: &FailoverHandle, failing: &Server, to: &Server) {
        while handle.breaker_state(failing.name) != Some(BreakerState::Open) {
            let round = self.tick().await;
            assert!(
                round.iter().all(|&r| r == to.index),
                "the calls hop from {} to {}",
                failing.name,
                to.name
            );
        }
    }

    /// The round after a breaker opened: every call starts at `to` and is served there, and
    /// `serving` names it from then on.
    async fn failed_over_round(&mut self, handle: &FailoverHandle, to: &Server) {
        let round = self.tick().await;
        assert!(round.iter().all(|&r| r == to.index), "{} serves", to.name);
        assert_eq!(&*handle.serving().endpoint, to.name);
        print_serving(self.start, handle);
    }
}

/// Prints what the failover and the breakers report. Hooks run inline on the calling task: keep
/// them quick.
fn print_event(start: Instant, event: &Event<'_>) {
    let line = match event {
        Event::Attempt {
            endpoint: Some(endpoint),
            attempt,
            outcome,
            ..
        } if !outcome.is_success() => {
            format!("attempt {attempt} at {endpoint} failed: {outcome:?}")
        }
        Event::Hop { from, to, .. } => format!("hop {from} -> {to}"),
        Event::FailedOver {
            from, to, reason, ..
        } => {
            format!("FAILED OVER {from} -> {to} ({reason:?})")
        }
        Event::FailedBack { from, to, .. } => format!("FAILED BACK {from} -> {to}"),
        Event::EndpointUnavailable {
            endpoint, reason, ..
        } => format!("{endpoint} unavailable: {reason}"),
        Event::EndpointAvailable { endpoint, .. } => format!("{endpoint} available again"),
        Event::RecoverPass { pass, delay, .. } => {
            format!("every region failed: pass {pass} in {delay:?}")
        }
        Event::GaveUp {
            attempts, reason, ..
        } => format!("gave up after {attempts} attempts: {reason}"),
        Event::BreakerTransition {
            breaker: Some(name),
            from,
            to,
            reason,
            ..
        } => format!("breaker {name}: {from} -> {to} ({reason:?})"),
        _ => return,
    };
    println!("{}   {line}", stamp(start.elapsed()));
}

/// Prints the lines of an explanation, set apart from the events.
fn explain(lines: &[&str]) {
    for line in lines {
        println!("         | {line}");
    }
}

/// Prints which endpoint the failover is serving from, why the primary is passed over if it
/// is, and each region's breaker.
fn print_serving(start: Instant, handle: &FailoverHandle) {
    let serving = handle.serving();
    let why = match &serving.failed_over {
        None => "the primary".to_string(),
        Some(over) => {
            let mut why = format!("failed over from {}", over.from);
            if let Some(reason) = over.reason {
                why += &format!(": {reason}");
            }
            if let Some(left) = over.hold_down_left {
                why += &format!(", hold-down ends in {:.1}s", left.as_secs_f64());
            }
            why
        }
    };
    let breakers: Vec<String> = REGIONS
        .iter()
        .map(|name| match handle.breaker_state(name) {
            Some(state) => format!("{name} {state}"),
            None => format!("{name} ?"),
        })
        .collect();
    println!(
        "{} serving: {} ({why}); breakers: {}",
        stamp(start.elapsed()),
        serving.endpoint,
        breakers.join(", ")
    );
}

fn stamp(at: Duration) -> String {
    format!("[{:5.2}s]", at.as_secs_f64())
}

/// Maps a finished attempt to an outcome: 2xx succeeds; 429 is push-back and 5xx a failure of
/// the region, both failed over; any other status is a correct answer, returned as it is. An
/// error is failed over too: as "never sent" when the connection could not be made, else as a
/// failure that the server may have seen.
fn classify(result: &Result<Response, BoxError>) -> Outcome {
    let response = match result {
        Ok(response) => response,
        Err(err) => {
            return match err.downcast_ref::<reqwest::Error>() {
                Some(err) if err.is_connect() => Outcome::not_sent(),
                _ => Outcome::failed(),
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        Outcome::Success
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        Outcome::throttled(retry_after(response))
    } else if status.is_server_error() {
        Outcome::failed()
    } else {
        Outcome::Rejected
    }
}

/// The `Retry-After` header in seconds, if it is one.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(http::header::RETRY_AFTER)?;
    let seconds = value.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds))
}

/// One region's client: a `reqwest` client and the region's base URL, as a tower service over
/// requests with relative paths. It reads the whole body, so that the attempt timeout covers it.
#[derive(Clone)]
struct RegionClient {
    client: reqwest::Client,
    base: reqwest::Url,
}

impl RegionClient {
    fn new(base: &str) -> Result<Self, BoxError> {
        // the servers are on loopback: keep a proxy set in the environment out of the way
        let client = reqwest::Client::builder().no_proxy().build()?;
        Ok(RegionClient {
            client,
            base: base.parse()?,
        })
    }
}

impl Service<Request> for RegionClient {
    type Response = Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let client = self.client.clone();
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let url = self.base.join(path);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(parts.method, url?)
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut answer = http::Response::new(Bytes::new());
            *answer.status_mut() = response.status();
            *answer.headers_mut() = response.headers().clone();
            *answer.body_mut() = response.bytes().await?;
            Ok(answer)
        })
    }
}

/// How a region's server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// `200 OK`, naming the region.
    Healthy,
    /// `503 Service Unavailable`.
    Unavailable,
    /// Reads the request and never answers.
    Hanging,
}

/// One region's HTTP server on loopback, with the script's controls and counts.
#[derive(Debug)]
struct Server {
    name: &'static str,
    index: usize,
    url: String,
    mode: AtomicU8,
    received: AtomicUsize,
    /// Requests answered with a `503`, or left hanging.
    failed: AtomicUsize,
    /// Requests being answered now (a hanging one is not counted), and the most at once.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Requests that arrived while this region's breaker in the failover was open: the
    /// example's referee, which must count none.
    received_while_open: AtomicUsize,
    breakers: OnceLock<FailoverHandle>,
}

impl Server {
    /// Starts region `name`'s server on a free loopback port, healthy.
    async fn start(name: &'static str) -> Result<Arc<Self>, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let server = Arc::new(Server {
            name,
            index: REGIONS.iter().position(|r| *r == name).expect("a region"),
            url: format!("http://{}/", listener.local_addr()?),
            mode: AtomicU8::new(Mode::Healthy as u8),
            received: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            received_while_open: AtomicUsize::new(0),
            breakers: OnceLock::new(),
        });
        let this = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let this = this.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<_>| {
                        let this = this.clone();
                        async move { Ok::<_, Infallible>(this.answer(request.uri().path()).await) }
                    });
                    // a connection that breaks only ends that connection
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(server)
    }

    /// Answers a request after `SERVICE_TIME`, as the script's mode says.
    async fn answer(&self, path: &str) -> hyper::Response<Full<Bytes>> {
        self.received.fetch_add(1, Ordering::Relaxed);
        let breaker = self.breakers.get().and_then(|h| h.breaker_state(self.name));
        if breaker == Some(BreakerState::Open) {
            self.received_while_open.fetch_add(1, Ordering::Relaxed);
        }
        let mode = self.mode();
        if mode != Mode::Healthy {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if mode == Mode::Hanging {
            return std::future::pending().await;
        }
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_in_flight.fetch_max(now, Ordering::Relaxed);
        tokio::time::sleep(SERVICE_TIME).await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let (status, body) = match mode {
            Mode::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "try again later".into()),
            _ => (StatusCode::OK, format!("{} {path}", self.name)),
        };
        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    }

    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::Relaxed) {
            0 => Mode::Healthy,
            1 => Mode::Unavailable,
            _ => Mode::Hanging,
        }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }

    fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }
}
