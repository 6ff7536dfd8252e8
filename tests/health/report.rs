//! The readiness roll-up: every kind of dependency in every state, critical or optional, alone
//! and in pairs, gives the status of the module docs' tables; each entry says why.

use steadfast::breaker::BreakerState;
use steadfast::failover::{FailoverHandle, Switch, Unavailable};
use steadfast::health::{
    Dependency, DependencyState, Detail, EndpointReport, HealthChecks, HealthReport, Status,
};
use steadfast::{CircuitBreaker, ConfigError};
use tokio::task::JoinHandle;

use super::support::{ms, secs};
use super::*;

/// A dependency in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Situation {
    /// A failover whose primary is available.
    FailoverOnPrimary,
    /// A failover whose primary's breaker is forced open: calls go to the secondary.
    FailoverOnSecondary,
    /// A failover whose primary waits for failback (`Manual`) while its breaker is closed.
    FailoverFailbackPending,
    /// The same, with the secondary's breaker forced open: calls go to the primary anyway.
    FailoverOnlyFailbackPending,
    /// A failover whose every endpoint fails its checks: fail open, calls go to the primary.
    FailoverFailOpen,
    /// A failover with every breaker forced open.
    FailoverNone,
    /// A failover with one endpoint switched off and the other's breaker open.
    FailoverOffAndOpen,
    BreakerClosed,
    BreakerDisabled,
    BreakerHalfOpen,
    BreakerOpen,
    BreakerForcedOpen,
    EndpointHealthy,
    EndpointUnhealthy,
}

use DependencyState::{Degraded, Down, Up};
use Situation::*;

/// The module docs' first table: what each kind of dependency is in each state.
const STATES: [(Situation, DependencyState); 14] = [
    (FailoverOnPrimary, Up),
    (FailoverOnSecondary, Degraded),
    (FailoverFailbackPending, Degraded),
    (FailoverOnlyFailbackPending, Up),
    (FailoverFailOpen, Degraded),
    (FailoverNone, Down),
    (FailoverOffAndOpen, Down),
    (BreakerClosed, Up),
    (BreakerDisabled, Up),
    (BreakerHalfOpen, Degraded),
    (BreakerOpen, Down),
    (BreakerForcedOpen, Down),
    (EndpointHealthy, Up),
    (EndpointUnhealthy, Down),
];

/// The module docs' second table: the status one dependency gives, critical or not.
fn status_of(critical: bool, state: DependencyState) -> Status {
    match (critical, state) {
        (_, Up) => Status::Ready,
        (_, Degraded) => Status::Degraded,
        (true, Down) => Status::NotReady,
        (false, Down) => Status::Degraded,
    }
}

/// The worse of two statuses.
fn worse(a: Status, b: Status) -> Status {
    match (a, b) {
        (Status::NotReady, _) | (_, Status::NotReady) => Status::NotReady,
        (Status::Degraded, _) | (_, Status::Degraded) => Status::Degraded,
        _ => Status::Ready,
    }
}

/// A fresh two-region failover over scripted regions.
fn failover() -> Failover<Scripted, Classifier> {
    regions(&[("east", &Scripted::new([])), ("west", &Scripted::new([]))])
        .build()
        .unwrap()
}

fn open(b: &CircuitBreaker) {
    while b.state() == BreakerState::Closed {
        b.try_acquire(now())
            .unwrap()
            .record(&Outcome::failed(), now());
    }
}

/// Checks failing from the first, with `unhealthy_after(1)`, run until the first result; the
/// driver keeps running.
async fn failing_checks(
    b: HealthChecks<
        impl HealthCheck<Error = &'static str, Future: Send + 'static> + Send + 'static,
    >,
) -> (steadfast::HealthTable, JoinHandle<()>) {
    let driver = b.unhealthy_after(1).build().unwrap();
    let table = driver.table();
    let task = tokio::spawn(driver);
    tokio::time::sleep(ms(1)).await;
    (table, task)
}

/// A dependency in situation `s` (and the driver keeping it there, if any).
async fn make(s: Situation) -> (Dependency, Option<JoinHandle<()>>) {
    let all_fail = || {
        Probes::new()
            .script("east", [], Fail("503"))
            .script("west", [], Fail("503"))
    };
    match s {
        FailoverOnPrimary => (failover().handle().into(), None),
        FailoverOnSecondary => {
            let h = failover().handle();
            h.breaker("east").unwrap().force_open();
            (h.into(), None)
        }
        FailoverFailbackPending | FailoverOnlyFailbackPending => {
            let east = Scripted::new([super::support::Step::Status(503)]);
            let f = regions(&[("east", &east), ("west", &Scripted::new([]))])
                .breakers(|b| {
                    b.consecutive_failures(1)
                        .open_duration(secs(1))
                        .probes(1)
                        .required_successes(1)
                })
                .failback(steadfast::Failback::Manual)
                .build()
                .unwrap();
            let h = f.handle();
            // A failure opens east; after its open duration a probe closes it; Manual keeps
            // calls on west.
            tower::ServiceExt::oneshot(f.clone(), 1).await.unwrap();
            tokio::time::sleep(secs(2)).await;
            tower::ServiceExt::oneshot(f.clone(), 2).await.unwrap();
            assert_eq!(h.breaker_state("east"), Some(BreakerState::Closed));
            assert_eq!(
                h.endpoint_status()[0].unavailable,
                Some(Unavailable::FailbackPending)
            );
            if s == FailoverOnlyFailbackPending {
                h.breaker("west").unwrap().force_open();
                assert_eq!(report_of(&h).0.as_deref(), Some("east"));
                // And so it does: the next call is served by east.
                let before = east.count();
                tower::ServiceExt::oneshot(f.clone(), 3).await.unwrap();
                assert_eq!(east.count(), before + 1);
            }
            (h.into(), None)
        }
        FailoverFailOpen => {
            let h = failover().handle();
            let (_, task) =
                failing_checks(HealthChecks::failover(h.clone(), all_fail().check())).await;
            (h.into(), Some(task))
        }
        FailoverNone => {
            let h = failover().handle();
            h.breaker("east").unwrap().force_open();
            h.breaker("west").unwrap().force_open();
            (h.into(), None)
        }
        FailoverOffAndOpen => {
            let h = failover().handle();
            h.routing().set("east", Switch::Off).unwrap();
            open(h.breaker("west").unwrap());
            (h.into(), None)
        }
        BreakerClosed => (CircuitBreaker::default().into(), None),
        BreakerDisabled => {
            let b = CircuitBreaker::default();
            b.disable();
            (b.into(), None)
        }
        BreakerHalfOpen => {
            let b = CircuitBreaker::default();
            open(&b);
            b.signal_healthy(now());
            assert_eq!(b.state(), BreakerState::HalfOpen);
            (b.into(), None)
        }
        BreakerOpen => {
            let b = CircuitBreaker::default();
            open(&b);
            (b.into(), None)
        }
        BreakerForcedOpen => {
            let b = CircuitBreaker::default();
            b.force_open();
            (b.into(), None)
        }
        EndpointHealthy => {
            let driver = HealthChecks::endpoints(["db"], Probes::new().check())
                .build()
                .unwrap();
            let dep = Dependency::endpoint(&driver.table(), "db");
            (dep, Some(tokio::spawn(driver)))
        }
        EndpointUnhealthy => {
            let probes = Probes::new().script("db", [], Fail("refused"));
            let (table, task) =
                failing_checks(HealthChecks::endpoints(["db"], probes.check())).await;
            (Dependency::endpoint(&table, "db"), Some(task))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn each_dependency_alone_gives_the_documented_state_and_status() {
    for (situation, state) in STATES {
        for critical in [true, false] {
            let (dep, task) = make(situation).await;
            let b = HealthReport::builder();
            let b = if critical {
                b.critical("dep", dep)
            } else {
                b.optional("dep", dep)
            };
            let readiness = b.build().unwrap().readiness();
            let entry = &readiness.dependencies[0];
            assert_eq!(entry.state, state, "{situation:?}");
            assert_eq!(entry.critical, critical);
            assert_eq!(
                entry.reason.is_none(),
                state == Up,
                "{situation:?}: {entry:?}"
            );
            assert_eq!(
                readiness.status,
                status_of(critical, state),
                "{situation:?}, critical: {critical}"
            );
            task.inspect(JoinHandle::abort);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_pair_gives_the_worse_status() {
    for (first, first_state) in STATES {
        for (second, second_state) in STATES {
            for (c1, c2) in [(true, true), (true, false), (false, true), (false, false)] {
                let (d1, t1) = make(first).await;
                let (d2, t2) = make(second).await;
                let b = HealthReport::builder();
                let b = if c1 {
                    b.critical("one", d1)
                } else {
                    b.optional("one", d1)
                };
                let b = if c2 {
                    b.critical("two", d2)
                } else {
                    b.optional("two", d2)
                };
                let readiness = b.build().unwrap().readiness();
                assert_eq!(
                    readiness.status,
                    worse(status_of(c1, first_state), status_of(c2, second_state)),
                    "{first:?} (critical: {c1}), {second:?} (critical: {c2})"
                );
                let names: Vec<_> = readiness.dependencies.iter().map(|d| &*d.name).collect();
                assert_eq!(names, ["one", "two"]);
                t1.inspect(JoinHandle::abort);
                t2.inspect(JoinHandle::abort);
            }
        }
    }
}

#[test]
fn no_dependency_is_ready() {
    let readiness = HealthReport::builder().build().unwrap().readiness();
    assert_eq!(readiness.status, Status::Ready);
    assert!(readiness.dependencies.is_empty());
    assert!(Status::Ready.is_ready() && Status::Degraded.is_ready());
    assert!(!Status::NotReady.is_ready());
}

fn endpoint(name: &str, unavailable: Option<Unavailable>, breaker: BreakerState) -> EndpointReport {
    let h = failover().handle();
    let mut e = report_of(&h).1.remove(0);
    e.endpoint = name.into();
    e.available = unavailable.is_none();
    e.unavailable = unavailable;
    e.breaker = breaker;
    e
}

/// The failover entry's serving endpoint and endpoints.
fn report_of(h: &FailoverHandle) -> (Option<String>, Vec<EndpointReport>) {
    let r = HealthReport::builder()
        .critical("f", h.clone())
        .build()
        .unwrap()
        .readiness();
    match r.dependencies.into_iter().next().unwrap().detail {
        Detail::Failover {
            serving, endpoints, ..
        } => (serving, endpoints),
        other => panic!("not a failover: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_failover_entry_says_which_endpoint_serves_and_why() {
    let h = failover().handle();
    h.breaker("east").unwrap().force_open();
    let r = HealthReport::builder()
        .critical("orders", h.clone())
        .build()
        .unwrap()
        .readiness();
    assert_eq!(
        r.dependencies[0].reason.as_deref(),
        Some("serving from west: east breaker open")
    );
    let (serving, endpoints) = report_of(&h);
    assert_eq!(serving.as_deref(), Some("west"));
    assert_eq!(
        endpoints,
        [
            endpoint(
                "east",
                Some(Unavailable::BreakerOpen),
                BreakerState::ForcedOpen
            ),
            endpoint("west", None, BreakerState::Closed),
        ]
    );

    h.breaker("west").unwrap().force_open();
    let r = HealthReport::builder()
        .optional("orders", h.clone())
        .build()
        .unwrap()
        .readiness();
    assert_eq!(
        r.dependencies[0].reason.as_deref(),
        Some("no endpoint available: east breaker open, west breaker open")
    );
    assert_eq!(report_of(&h).0, None);
}

#[tokio::test(start_paused = true)]
async fn a_checked_failover_carries_each_endpoints_last_error() {
    let t0 = Instant::now();
    let h = failover().handle();
    let probes = Probes::new().script("east", [], Fail("status 503"));
    let (table, task) = spawn(HealthChecks::failover(h.clone(), probes.check()));
    at(t0, ms(20_001)).await;
    let r = HealthReport::builder()
        .critical("orders", Dependency::checked_failover(h.clone(), &table))
        .build()
        .unwrap()
        .readiness();
    assert_eq!(r.status, Status::Degraded);
    assert_eq!(
        r.dependencies[0].reason.as_deref(),
        Some("serving from west: east failing its health checks")
    );
    let Detail::Failover { endpoints, .. } = &r.dependencies[0].detail else {
        panic!("a failover")
    };
    assert_eq!(endpoints[0].last_error.as_deref(), Some("status 503"));
    assert!(endpoints[0].failing_checks);
    assert_eq!(endpoints[1].last_error, None);
    // Without the table, the same entry has no error.
    assert_eq!(report_of(&h).1[0].last_error, None);
    task.abort();
}

/// Once the open period has passed, the entry says half-open (degraded) at once, although no
/// call has come to move the breaker: it shows what the next call would find.
#[tokio::test(start_paused = true)]
async fn a_breaker_entry_says_when_it_admits_probes() {
    let t0 = Instant::now();
    let b = CircuitBreaker::builder()
        .open_duration(secs(30))
        .build()
        .unwrap();
    open(&b);
    at(t0, ms(8_500)).await;
    let report = HealthReport::builder()
        .critical("payments", b.clone())
        .build()
        .unwrap();
    let r = report.readiness();
    assert_eq!(r.status, Status::NotReady);
    assert_eq!(r.dependencies[0].reason.as_deref(), Some("breaker open"));
    let Detail::Breaker {
        breaker,
        half_open_in,
        ..
    } = r.dependencies[0].detail
    else {
        panic!("a breaker")
    };
    assert_eq!(
        (breaker, half_open_in),
        (BreakerState::Open, Some(ms(21_500)))
    );
    at(t0, ms(29_999)).await;
    assert_eq!(report.readiness().status, Status::NotReady);
    at(t0, ms(30_000)).await;
    let r = report.readiness();
    assert_eq!(b.state(), BreakerState::Open, "no call has looked");
    assert_eq!(r.status, Status::Degraded);
    assert_eq!(
        r.dependencies[0].reason.as_deref(),
        Some("breaker half-open")
    );
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_entry_says_since_when_and_its_last_error() {
    let t0 = Instant::now();
    let probes = Probes::new().script(
        "db",
        [Pass, Fail("refused"), Fail("refused")],
        Fail("timeout"),
    );
    let (table, task) = spawn(HealthChecks::endpoints(["db", "cache"], probes.check()));
    let report = HealthReport::builder()
        .critical("db", Dependency::endpoint(&table, "db"))
        .optional("cache", Dependency::endpoint(&table, "cache"))
        .build()
        .unwrap();
    at(t0, secs(35)).await;
    let r = report.readiness();
    assert_eq!(r.status, Status::NotReady);
    assert_eq!(
        r.dependencies[0].reason.as_deref(),
        Some("failing its health checks: timeout")
    );
    match &r.dependencies[0].detail {
        Detail::Endpoint {
            endpoint,
            healthy,
            since,
            in_state_for,
            last_error,
            consecutive_passes,
            consecutive_failures,
            ..
        } => {
            assert_eq!(endpoint, "db");
            assert!(!healthy);
            assert_eq!(super::since(t0, *since), secs(30));
            assert_eq!(*in_state_for, secs(5));
            assert_eq!(last_error.as_deref(), Some("timeout"));
            assert_eq!((*consecutive_passes, *consecutive_failures), (0, 3));
        }
        other => panic!("an endpoint: {other:?}"),
    }
    assert_eq!(r.dependencies[1].state, Up);
    task.abort();
}

#[test]
fn duplicate_names_and_unknown_endpoints_are_typed_errors() {
    let table = HealthChecks::endpoints(["db"], Probes::new().check())
        .build()
        .unwrap()
        .table();
    let err = HealthReport::builder()
        .critical("x", CircuitBreaker::default())
        .optional("x", CircuitBreaker::default())
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "health report dependency name is \"x\", expected a name given to one dependency only"
    );
    let err: ConfigError = HealthReport::builder()
        .critical("db", Dependency::endpoint(&table, "dbx"))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "health report endpoint is \"dbx\", expected an endpoint of its health table"
    );
}

#[test]
fn empty_and_padded_dependency_names_are_typed_errors() {
    for name in ["", " db", "db\n"] {
        let err = HealthReport::builder()
            .critical(name, CircuitBreaker::default())
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "health report dependency name is {name:?}, expected a non-empty name without \
                 leading or trailing whitespace"
            )
        );
    }
}
