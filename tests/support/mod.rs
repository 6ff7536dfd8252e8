//! Shared by the test binaries: a scripted service and a classifier over its responses.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

mod refused;
#[allow(unused_imports)]
pub use refused::RefusedPort;

use steadfast::{BoxError, Outcome};
use tokio::time::Instant;

/// A response of the scripted service: an HTTP-like status and an optional `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resp {
    pub status: u16,
    pub retry_after: Option<Duration>,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Step {
    /// Answer with this status at once.
    Status(u16),
    /// Answer 429 (or 503) with a `Retry-After` hint.
    Hint(u16, Duration),
    /// Fail with an error (transient under `classify`).
    Err(&'static str),
    /// Never answer.
    Hang,
    /// Answer with this step after a delay.
    After(Duration, Box<Step>),
}

/// A service answering each call with the next step of its script (then 200 forever), recording
/// the instant of every call. Clones share the script and the record.
#[derive(Clone)]
pub struct Scripted {
    state: Arc<Mutex<State>>,
}

struct State {
    steps: VecDeque<Step>,
    start: Instant,
    calls: Vec<Duration>,
    requests: Vec<u32>,
    /// While set, `poll_ready` stays pending (and wakes its callers when cleared).
    not_ready: bool,
    waiting: Vec<std::task::Waker>,
    /// When set, `poll_ready` fails with it.
    ready_error: Option<&'static str>,
    /// When set, `poll_ready` is pending (registering no wake-up of its own) until this instant.
    ready_from: Option<Instant>,
    /// Futures still alive (created and not yet dropped).
    live: usize,
}

impl Scripted {
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Scripted {
            state: Arc::new(Mutex::new(State {
                steps: steps.into_iter().collect(),
                start: Instant::now(),
                calls: Vec::new(),
                requests: Vec::new(),
                not_ready: false,
                waiting: Vec::new(),
                ready_error: None,
                ready_from: None,
                live: 0,
            })),
        }
    }

    /// `n` failures (500) then 200 forever.
    pub fn failing(n: usize) -> Self {
        Self::new(std::iter::repeat_n(Step::Status(500), n))
    }

    /// How many calls were made.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().calls.len()
    }

    /// When each call was made, since the service was created.
    pub fn instants(&self) -> Vec<Duration> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The requests received, in order.
    pub fn requests(&self) -> Vec<u32> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Response futures created and not yet dropped.
    pub fn live(&self) -> usize {
        self.state.lock().unwrap().live
    }

    pub fn set_not_ready(&self, not_ready: bool) {
        let mut s = self.state.lock().unwrap();
        s.not_ready = not_ready;
        if !not_ready {
            s.waiting.drain(..).for_each(|w| w.wake());
        }
    }

    /// Not ready from now until `after` has passed (on tokio's clock).
    pub fn not_ready_for(&self, after: Duration) {
        self.set_not_ready(true);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            me.set_not_ready(false);
        });
    }

    /// Ready only from `at` on, and only when polled for another reason then: the caller's own
    /// timers decide when it is polled.
    pub fn ready_from(&self, at: Instant) {
        self.state.lock().unwrap().ready_from = Some(at);
    }

    pub fn fail_ready(&self, error: &'static str) {
        self.state.lock().unwrap().ready_error = Some(error);
    }
}

/// Counts itself out of `live` when dropped.
struct Live(Arc<Mutex<State>>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.lock().unwrap().live -= 1;
    }
}

async fn answer(step: Step) -> Result<Resp, BoxError> {
    let mut step = step;
    loop {
        return match step {
            Step::Status(status) => Ok(Resp {
                status,
                retry_after: None,
            }),
            Step::Hint(status, d) => Ok(Resp {
                status,
                retry_after: Some(d),
            }),
            Step::Err(e) => Err(e.into()),
            Step::Hang => std::future::pending().await,
            Step::After(d, next) => {
                tokio::time::sleep(d).await;
                step = *next;
                continue;
            }
        };
    }
}

impl tower::Service<u32> for Scripted {
    type Response = Resp;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Resp, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let mut s = self.state.lock().unwrap();
        if let Some(e) = s.ready_error {
            Poll::Ready(Err(e.into()))
        } else if s.not_ready {
            s.waiting.push(cx.waker().clone());
            Poll::Pending
        } else if s.ready_from.is_some_and(|t| Instant::now() < t) {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn call(&mut self, req: u32) -> Self::Future {
        let step = {
            let mut s = self.state.lock().unwrap();
            let at = s.start.elapsed();
            s.calls.push(at);
            s.requests.push(req);
            s.live += 1;
            s.steps.pop_front().unwrap_or(Step::Status(200))
        };
        let live = Live(self.state.clone());
        Box::pin(async move {
            let _live = live;
            answer(step).await
        })
    }
}

/// HTTP-like classification of the scripted responses.
pub fn classify(r: &Result<Resp, BoxError>) -> Outcome {
    match r {
        Ok(Resp {
            status: 200..=299, ..
        }) => Outcome::Success,
        Ok(Resp {
            status: 429,
            retry_after,
        }) => Outcome::throttled(*retry_after),
        Ok(Resp {
            status: 500..=599,
            retry_after,
        }) => Outcome::Transient {
            kind: steadfast::TransientKind::Failed,
            retry_after: *retry_after,
        },
        Ok(_) => Outcome::Rejected,
        Err(_) => Outcome::failed(),
    }
}

/// HTTP classification of `reqwest` results, for the loopback tests: 2xx succeeds, 429 is
/// push-back, 5xx a server failure, any other status a correct answer; a refused connection never
/// reached the server.
pub fn classify_reqwest(result: &Result<reqwest::Response, BoxError>) -> Outcome {
    match result {
        Ok(r) if r.status().is_success() => Outcome::Success,
        Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => Outcome::throttled(None),
        Ok(r) if r.status().is_server_error() => Outcome::failed(),
        Ok(_) => Outcome::Rejected,
        Err(e) => match e.downcast_ref::<reqwest::Error>() {
            Some(e) if e.is_connect() => Outcome::not_sent(),
            _ => Outcome::failed(),
        },
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `backoff` without its jitter, so that a test can assert exact instants (the presets carry
/// equal jitter).
pub fn exact(backoff: steadfast::Backoff) -> steadfast::Backoff {
    backoff.with_jitter(steadfast::Jitter::None)
}
