//! Health: the check driver's thresholds, schedule and timeouts (`driver.rs`), checks that
//! panic (`panics.rs`), how it feeds a failover's routing and breakers (`routing.rs`), the
//! readiness roll-up (`report.rs`), stale checks in it (`stale.rs`) and its JSON (`json.rs`),
//! under paused time with scripted checks; a model-based property test of the verdict
//! (`verdict_model.rs`); loopback HTTP regions whose `/health` flips, in real time, counts only
//! (`http.rs`).
//!
//! Scripted checks and regions are created at the start of each test, so their instants count
//! from the test's start (paused time: they are exact).

#[path = "../support/seeds.rs"]
mod seeds;
#[path = "../support/mod.rs"]
mod support;

mod driver;
mod http;
#[cfg(feature = "serde")]
mod json;
mod panics;
mod report;
mod routing;
mod stale;
mod verdict_model;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::backoff::Backoff;
use steadfast::event::{Event, OnEvent};
use steadfast::failover::{Failover, FailoverBuilder};
use steadfast::health::{HealthCheck, HealthChecks, HealthTable, check_fn};
use steadfast::{BoxError, Outcome};
use support::{Resp, Scripted};
use tokio::time::Instant;

/// One scripted check result.
#[derive(Debug, Clone)]
enum Probe {
    /// Passes at once.
    Pass,
    /// Fails at once with this error.
    Fail(&'static str),
    /// Never completes.
    Hang,
    /// Ends as the inner probe after a delay.
    After(Duration, Box<Probe>),
}

use Probe::{Fail, Hang, Pass};

/// Scripted checks: per endpoint, a script of results (then `then` forever), and the instant
/// of every check started. Clones share everything.
#[derive(Clone)]
struct Probes {
    state: Arc<Mutex<HashMap<String, Script>>>,
    start: Instant,
}

struct Script {
    steps: VecDeque<Probe>,
    then: Probe,
    started: Vec<Duration>,
}

impl Probes {
    /// Every endpoint named passes, unless scripted with [`script`](Self::script).
    fn new() -> Self {
        Probes {
            state: Arc::default(),
            start: Instant::now(),
        }
    }

    /// Endpoint `name` answers `steps`, then `then` forever.
    fn script(self, name: &str, steps: impl IntoIterator<Item = Probe>, then: Probe) -> Self {
        self.state.lock().unwrap().insert(
            name.to_owned(),
            Script {
                steps: steps.into_iter().collect(),
                then,
                started: Vec::new(),
            },
        );
        self
    }

    /// Replaces what endpoint `name` answers from now on.
    fn set(&self, name: &str, then: Probe) {
        let mut state = self.state.lock().unwrap();
        let s = state.get_mut(name).expect("a scripted endpoint");
        s.steps.clear();
        s.then = then;
    }

    /// When each check of endpoint `name` started, since the probes were made.
    fn started(&self, name: &str) -> Vec<Duration> {
        self.state
            .lock()
            .unwrap()
            .get(name)
            .map(|s| s.started.clone())
            .unwrap_or_default()
    }

    fn next(&self, name: &str) -> Probe {
        let mut state = self.state.lock().unwrap();
        let s = state.entry(name.to_owned()).or_insert_with(|| Script {
            steps: VecDeque::new(),
            then: Pass,
            started: Vec::new(),
        });
        s.started.push(self.start.elapsed());
        s.steps.pop_front().unwrap_or_else(|| s.then.clone())
    }

    /// The check, built from a closure as a user would.
    fn check(
        &self,
    ) -> impl HealthCheck<Error = &'static str, Future: Send + 'static> + Send + 'static {
        let probes = self.clone();
        check_fn(move |endpoint| {
            let mut probe = probes.next(endpoint);
            async move {
                loop {
                    return match probe {
                        Pass => Ok(()),
                        Fail(e) => Err(e),
                        Hang => std::future::pending().await,
                        Probe::After(d, next) => {
                            tokio::time::sleep(d).await;
                            probe = *next;
                            continue;
                        }
                    };
                }
            }
        })
    }
}

/// Builds the driver and spawns it: its table, and its task (abort it to drop the driver).
fn spawn<C, H>(checks: HealthChecks<C, H>) -> (HealthTable, tokio::task::JoinHandle<()>)
where
    C: HealthCheck + Send + 'static,
    C::Future: Send + 'static,
    H: OnEvent + Send + 'static,
{
    let driver = checks.build().expect("valid settings");
    (driver.table(), tokio::spawn(driver))
}

fn after(d: Duration, probe: Probe) -> Probe {
    Probe::After(d, Box::new(probe))
}

/// Time since `t0`, of an instant the library reported (tokio's clock as `std::time::Instant`).
fn since(t0: Instant, at: std::time::Instant) -> Duration {
    at - t0.into_std()
}

/// Sleeps until `t0 + d` (paused time: exactly then).
async fn at(t0: Instant, d: Duration) {
    tokio::time::sleep_until(t0 + d).await;
}

/// Every `HealthChanged` event: endpoint, verdict, and the instant (since the recorder was
/// made).
#[derive(Clone)]
struct Changes {
    seen: Arc<Mutex<Vec<(String, bool, Duration)>>>,
    start: Instant,
}

impl Changes {
    fn new() -> Self {
        Changes {
            seen: Arc::default(),
            start: Instant::now(),
        }
    }

    fn take(&self) -> Vec<(String, bool, Duration)> {
        std::mem::take(&mut self.seen.lock().unwrap())
    }
}

impl OnEvent for Changes {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::HealthChanged {
            endpoint, healthy, ..
        } = *event
        {
            self.seen
                .lock()
                .unwrap()
                .push((endpoint.to_owned(), healthy, self.start.elapsed()));
        }
    }
}

fn change(endpoint: &str, healthy: bool, at: Duration) -> (String, bool, Duration) {
    (endpoint.to_owned(), healthy, at)
}

type Classifier = fn(&Result<Resp, BoxError>) -> Outcome;

/// A failover over scripted regions in priority order, with the HTTP-like classifier and no
/// recover pass.
fn regions(regions: &[(&str, &Scripted)]) -> FailoverBuilder<Scripted, Classifier> {
    let mut b = Failover::builder()
        .classifier(support::classify as Classifier)
        .recover(Backoff::none());
    for (name, s) in regions {
        b = b.endpoint(*name, (*s).clone());
    }
    b
}

/// Tokio's (paused) clock as the breaker's `Instant`.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}
