//! The failover: the walk across regions, the recover loop, failback, deadlines, push-back,
//! replay, per-request options, the budget, cancellation and events, under paused time with
//! scripted regions; the model-based property tests in `walk_model.rs`; loopback HTTP
//! tests (real time, counts only) in `http.rs`.
//!
//! Every scripted region is created at the start of its test, so its `instants()` count from the
//! test's start (paused time: they are exact).

#[path = "../support/seeds.rs"]
mod seeds;
#[path = "../support/mod.rs"]
mod support;

mod budget;
mod call_error;
mod cancel;
mod config;
mod control;
mod coop;
mod events;
mod failback;
mod hedge;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod http_request;
#[cfg(feature = "http")]
mod http_spread;
mod options;
mod pushback;
mod recover;
mod regressions;
mod replay;
#[cfg(feature = "routing-file")]
mod routing_file;
mod spread;
mod time;
mod walk;
mod walk_model;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::backoff::Backoff;
use steadfast::breaker::BreakerState;
use steadfast::event::{Event, GiveUpReason, OnEvent};
use steadfast::failover::{Failover, FailoverBuilder, FailoverHandle, Unavailable};
use steadfast::{BoxError, Outcome};
use support::{Resp, Scripted, secs};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

type Classifier = fn(&Result<Resp, BoxError>) -> Outcome;

/// Two or more scripted regions in priority order, the recover schedule 500 ms, 1 s, 2 s
/// without jitter, the HTTP-like classifier.
fn regions(regions: &[(&str, &Scripted)]) -> FailoverBuilder<Scripted, Classifier> {
    let mut b = Failover::builder()
        .classifier(support::classify as Classifier)
        .recover(Backoff::standard().with_jitter(steadfast::Jitter::None));
    for (name, s) in regions {
        b = b.endpoint(*name, (*s).clone());
    }
    b
}

/// Breakers that never trip on their own (no consecutive-failure rule, a failure rate evaluated
/// only over a window no test fills).
fn never_trip(
    b: steadfast::breaker::CircuitBreakerBuilder,
) -> steadfast::breaker::CircuitBreakerBuilder {
    b.consecutive_failures(None)
        .window(100_000)
        .minimum_calls(100_000)
}

/// The breakers of the failback and cancellation tests: open on the first failure, for 10 s;
/// then one probe at a time, and one success closes them.
fn one_probe(
    b: steadfast::breaker::CircuitBreakerBuilder,
) -> steadfast::breaker::CircuitBreakerBuilder {
    b.consecutive_failures(1)
        .open_duration(secs(10))
        .probes(1)
        .required_successes(1)
}

/// A failover over scripted regions, whatever its hooks, whose calls can be spawned.
trait Client:
    Service<u32, Response = Resp, Error = BoxError, Future: Send> + Clone + Send + 'static
{
}

impl<T> Client for T
where
    T: Service<u32, Response = Resp, Error = BoxError> + Clone + Send + 'static,
    T::Future: Send,
{
}

/// Sends `req` through a clone of `f` (the failover itself stays usable).
async fn call<S>(f: &S, req: u32) -> Result<S::Response, S::Error>
where
    S: Service<u32> + Clone,
{
    f.clone().oneshot(req).await
}

/// The status of a response, panicking on an error.
fn status(r: Result<Resp, BoxError>) -> u16 {
    match r {
        Ok(r) => r.status,
        Err(e) => panic!("expected a response, got the error {e}"),
    }
}

/// Tokio's (paused) clock as the breaker's `Instant`.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Opens endpoint `name`'s breaker by recording failures through its permit API (at tokio's
/// now), as calls would.
fn trip(handle: &FailoverHandle, name: &str) {
    let b = handle.breaker(name).expect("a known endpoint");
    while b.state() == BreakerState::Closed {
        b.try_acquire(now())
            .expect("a closed breaker admits")
            .record(&Outcome::failed(), now());
    }
    assert_eq!(b.state(), BreakerState::Open);
}

/// Whether endpoint `name`'s breaker admits a call now; the permit is dropped unused (a probe
/// slot taken is given back).
fn admits(handle: &FailoverHandle, name: &str) -> bool {
    handle.breaker(name).unwrap().try_acquire(now()).is_ok()
}

/// Consecutive failures counted by endpoint `name`'s (closed) breaker.
fn failures(handle: &FailoverHandle, name: &str) -> u32 {
    handle
        .breaker(name)
        .unwrap()
        .snapshot(now())
        .consecutive_failures
}

/// Time since `t0`.
fn since(t0: Instant) -> Duration {
    Instant::now() - t0
}

/// An owned copy of the events the failover tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Attempt(String, u32, Outcome),
    Retry(String, u32, Option<u32>),
    Hop(String, String, u32, Option<u32>),
    Pass(u32, Duration),
    Over(String, String, Option<Unavailable>),
    Back(String, String),
    Unavailable(String, Unavailable),
    Available(String),
    GaveUp(Option<String>, u32, GiveUpReason),
    Deadline(String, u32),
    Hedge(String, String, Duration),
    Settled(String, bool, Option<String>),
}

/// Records every failover event (breaker transitions are left out).
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Ev>>>);

impl Recorder {
    fn take(&self) -> Vec<Ev> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl OnEvent for Recorder {
    fn on_event(&self, event: &Event<'_>) {
        let s = |n: &str| n.to_owned();
        let ev = match *event {
            Event::Attempt {
                endpoint,
                attempt,
                outcome,
                ..
            } => Ev::Attempt(s(endpoint.unwrap()), attempt, outcome),
            Event::Retry {
                endpoint,
                attempt,
                budget_level,
                ..
            } => Ev::Retry(s(endpoint.unwrap()), attempt, budget_level),
            Event::Hop {
                from,
                to,
                attempt,
                budget_level,
                ..
            } => Ev::Hop(s(from), s(to), attempt, budget_level),
            Event::RecoverPass { pass, delay, .. } => Ev::Pass(pass, delay),
            Event::FailedOver {
                from, to, reason, ..
            } => Ev::Over(s(from), s(to), reason),
            Event::FailedBack { from, to, .. } => Ev::Back(s(from), s(to)),
            Event::EndpointUnavailable {
                endpoint, reason, ..
            } => Ev::Unavailable(s(endpoint), reason),
            Event::EndpointAvailable { endpoint, .. } => Ev::Available(s(endpoint)),
            Event::GaveUp {
                endpoint,
                attempts,
                reason,
                ..
            } => Ev::GaveUp(endpoint.map(s), attempts, reason),
            Event::DeadlineExceeded {
                endpoint, attempt, ..
            } => Ev::Deadline(s(endpoint.unwrap()), attempt),
            Event::Hedge {
                from, to, delay, ..
            } => Ev::Hedge(s(from), s(to), delay),
            Event::HedgeSettled {
                winner,
                hedge_won,
                cancelled,
                ..
            } => Ev::Settled(s(winner), hedge_won, cancelled.map(s)),
            _ => return,
        };
        self.0.lock().unwrap().push(ev);
    }
}

fn attempt(endpoint: &str, n: u32, outcome: Outcome) -> Ev {
    Ev::Attempt(endpoint.into(), n, outcome)
}

fn hop(from: &str, to: &str, n: u32, level: Option<u32>) -> Ev {
    Ev::Hop(from.into(), to.into(), n, level)
}

/// `support::classify`, and two errors the scripted regions raise by name: `"refused"` never
/// reached the server (`NotSent`), `"bad credentials"` is the caller's fault (`Local`).
fn classify_more(r: &Result<Resp, BoxError>) -> Outcome {
    match r {
        Err(e) if e.to_string() == "refused" => Outcome::not_sent(),
        Err(e) if e.to_string() == "bad credentials" => Outcome::Local,
        _ => support::classify(r),
    }
}

/// Per-request options by request number: a `RequestOptions` hook as a user would write one.
#[derive(Clone, Copy)]
struct ByRequest(fn(u32) -> steadfast::failover::CallOptions<'static>);

impl steadfast::failover::RequestOptions<u32> for ByRequest {
    fn options<'r>(&self, req: &'r u32) -> steadfast::failover::CallOptions<'r> {
        (self.0)(*req)
    }
}

/// The HTTP replay rule (a request that may have been applied is not sent again without a
/// marker) over numbered requests: a copy of every request, sent again only
/// after an outcome that cannot have been applied (`NotSent`, push-back).
#[derive(Clone, Copy)]
struct OnlyIfNotApplied;

impl steadfast::replay::Replay<u32> for OnlyIfNotApplied {
    fn replay(&self, req: &u32) -> Option<u32> {
        Some(*req)
    }

    fn may_replay(&self, _: &u32, after: &Outcome) -> bool {
        !after.may_have_been_applied()
    }
}
