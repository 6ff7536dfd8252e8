//! Health: active checks per endpoint, and the readiness roll-up a service serves from its own
//! health endpoint.
//!
//! # Readiness, not liveness
//!
//! An orchestrator asks a service two different questions:
//!
//! - **Liveness**: is this process broken beyond repair (deadlocked, out of memory, wedged)? A
//!   "no" *restarts* it.
//! - **Readiness**: should this instance receive traffic now? A "no" takes it out of the load
//!   balancer's rotation until it says "yes" again; nothing is restarted.
//!
//! This module answers readiness only. **Liveness must never depend on dependencies.** When a
//! database or a region that every instance shares goes down, every instance's dependency
//! check fails at the same moment: a liveness probe that includes it restarts the whole fleet,
//! which comes back into the same outage, restarts again, and turns a dependency's outage into
//! a full outage of this service, plus a cold start, plus a thundering herd on the dependency
//! when it recovers. A liveness probe checks the process itself (it can answer at all); the
//! [`Readiness`] of this module belongs on the readiness probe, where a `NotReady` instance
//! merely stops receiving traffic, and one serving `Degraded` keeps it.
//!
//! # Health checks
//!
//! A [`HealthCheck`] probes one endpoint by name (`GET /health`, expecting 200); [`check_fn`]
//! makes one from any closure returning a future. [`HealthChecks`] builds a [`HealthDriver`]: a
//! future **that the caller spawns** (no hidden task), which checks every endpoint on its own
//! schedule and keeps a [`HealthTable`]. Defaults:
//!
//! | setting | default |
//! | --- | --- |
//! | [`interval`](HealthChecks::interval) | 10 s |
//! | [`timeout`](HealthChecks::timeout) (per check) | 2 s |
//! | [`unhealthy_after`](HealthChecks::unhealthy_after) (consecutive failures) | 3 |
//! | [`healthy_after`](HealthChecks::healthy_after) (consecutive passes) | 3 |
//!
//! Endpoints start healthy. The verdict changes only after a full run of results of the other
//! kind: `unhealthy_after` failures in a row make a healthy endpoint unhealthy, `healthy_after`
//! passes in a row make it healthy again, and a result of the other kind starts the run over.
//! So results that alternate never change the verdict (with thresholds above 1): a flapping
//! endpoint does not flap the routing. A check fails when it returns `Err` or is still running
//! at its timeout; one that completes exactly at its timeout passes. A check that **panics**
//! (starting it, or while it runs) fails too, with the error `check panicked: <message>`: the
//! panic is caught at the check's boundary, so it costs that endpoint one failed check, and the
//! driver goes on checking every endpoint.
//!
//! With the defaults, an endpoint that goes down is unhealthy after its third failed check:
//! between 2 and 3 intervals plus a timeout after the outage begins (20 to 32 s), and healthy
//! again 2 to 3 intervals after it recovers.
//!
//! ## Schedule
//!
//! Each endpoint's checks start on a grid of the interval, from the driver's first poll: with
//! the defaults at exactly 0, 10, 20 s… An endpoint has at most one check running. Checks of
//! different endpoints never wait for each other: one that hangs holds only its own endpoint's
//! schedule, and only until its timeout. A timeout as long as the interval or longer is
//! allowed: a check still running at its endpoint's next grid instant makes that endpoint skip
//! the instants it overlapped, and its next check starts at the first grid instant not before
//! the check ended (at once, when it ended exactly on one). With a 15 s timeout on a 10 s
//! interval, a hanging endpoint is checked at 0, 20, 40 s…, cut at 15, 35, 55 s. The interval
//! and the timeout are at most [`MAX_DURATION`](crate::MAX_DURATION) (365 days).
//!
//! ## Feeding a failover
//!
//! A driver built with [`HealthChecks::failover`] feeds that failover:
//!
//! - an endpoint failing its checks is unavailable to calls, which go to the next available
//!   endpoint without an attempt at it;
//! - if **every** endpoint is failing its checks, all count as available (fail open, as load
//!   balancers do): the checks are more likely wrong than every region down at once, and the
//!   breakers still protect the calls;
//! - every passing check moves the endpoint's **open** breaker to half-open at once, so that
//!   real calls can probe the recovery before the open duration ends; a **forced-open** breaker
//!   never moves (an operator's decision wins, as the routing switches do).
//!
//! [`HealthChecks::endpoints`] checks endpoints on their own (a database): their verdicts are
//! only recorded, for the report. Every change of verdict is reported as
//! [`Event::HealthChanged`](crate::Event::HealthChanged).
//!
//! # Readiness
//!
//! A [`HealthReport`] holds a service's dependencies, each registered as **critical** (the
//! service cannot serve without it) or **optional** (it can, worse), and judges each one:
//!
//! | dependency | up | degraded | down |
//! | --- | --- | --- | --- |
//! | failover ([`Dependency::failover`]) | calls go to the primary | calls go to a secondary; or every endpoint is failing its checks (fail open); or an endpoint's checks are stale (of [`Dependency::checked_failover`]) | no endpoint can take a call: each is switched off, has its breaker open or forced open, is pushed back, or fails its checks while another passes |
//! | breaker ([`Dependency::breaker`]) | closed or disabled | half-open (probing) | open or forced open |
//! | checked endpoint ([`Dependency::endpoint`]) | healthy | healthy, but its checks are stale | unhealthy (failed `unhealthy_after` checks in a row, not yet passed `healthy_after`) |
//!
//! Checks are **stale** when an endpoint has had no result for
//! [`HealthTable::stale_after`] (three intervals, or three timeouts if the timeout is the
//! longer): the driver was dropped or never spawned, or its checks cannot keep up. A stale
//! verdict is old news, so the entry says so in its reason, and a healthy one counts as
//! degraded rather than up (not down: the dependency may well be fine, and taking every instance
//! out of rotation because a driver stopped would be worse than serving).
//!
//! Where calls go is where the next call would start: the first available endpoint in priority
//! order, else the first kept away only by the failback policy (demoted endpoints still take
//! calls when nothing else can): a failover whose primary waits for failback is degraded while a
//! secondary serves, and up when no secondary can take a call (the primary then serves).
//!
//! The service's [`Status`] is the worst of its dependencies':
//!
//! | dependency is | critical | optional |
//! | --- | --- | --- |
//! | up | `Ready` | `Ready` |
//! | degraded | `Degraded` | `Degraded` |
//! | down | `NotReady` | `Degraded` |
//!
//! `Ready` and `Degraded` should receive traffic (a readiness endpoint answers 200,
//! [`Status::is_ready`]); `NotReady` should not (503). Each entry says why: its state, a reason
//! in words, and what was read (which endpoint serves and why the others do not, a breaker's
//! state and when it admits probes, an endpoint's verdict, for how long, and its last error).
//! When a dependency changed state is known for a checked endpoint only: breakers and
//! failovers do not record it.
//!
//! # JSON
//!
//! With the `serde` feature, [`Readiness`] is `serde::Serialize`. Instants mean nothing outside
//! the process, so times are ages in whole milliseconds (`in_state_for_ms`,
//! `half_open_in_ms`); states are snake_case strings; absent values are `null`, so every entry
//! of a kind has the same keys:
//!
//! ```json
//! {
//!   "status": "degraded",
//!   "dependencies": [
//!     {
//!       "name": "orders", "critical": true, "state": "degraded",
//!       "reason": "serving from us-west-1: us-east-2 failing its health checks",
//!       "kind": "failover", "serving": "us-west-1",
//!       "endpoints": [
//!         { "endpoint": "us-east-2", "available": false, "unavailable": "unhealthy",
//!           "breaker": "closed", "switch": "on", "failing_checks": true,
//!           "last_error": "status 503" },
//!         { "endpoint": "us-west-1", "available": true, "unavailable": null,
//!           "breaker": "closed", "switch": "on", "failing_checks": false, "last_error": null }
//!       ]
//!     },
//!     { "name": "payments", "critical": false, "state": "down", "reason": "breaker open",
//!       "kind": "breaker", "breaker": "open", "half_open_in_ms": 21500 },
//!     { "name": "db", "critical": true, "state": "up", "reason": null, "kind": "endpoint",
//!       "endpoint": "db-primary", "healthy": true, "in_state_for_ms": 3600000,
//!       "last_error": null, "consecutive_passes": 360, "consecutive_failures": 0 }
//!   ]
//! }
//! ```
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use steadfast::health::{check_fn, Dependency, HealthChecks, HealthReport, Status};
//! use steadfast::{BoxError, CircuitBreaker, Failover};
//! use tower::service_fn;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let region = service_fn(|x: u32| async move { Ok::<_, BoxError>(x) });
//! let orders = Failover::builder()
//!     .endpoint("us-east-2", region)
//!     .endpoint("us-west-1", region)
//!     .build()?;
//!
//! // GET https://{region}.orders.internal/health, expecting 200 (here: every region passes).
//! let check = check_fn(|_region| async { Ok::<(), BoxError>(()) });
//! let checks = HealthChecks::failover(orders.handle(), check)
//!     .interval(Duration::from_secs(5))
//!     .build()?;
//! let table = checks.table();
//! let checks = tokio::spawn(checks); // the caller spawns the driver
//!
//! let payments = CircuitBreaker::default();
//! let report = HealthReport::builder()
//!     .critical("orders", Dependency::checked_failover(orders.handle(), &table))
//!     .optional("payments", payments.clone())
//!     .build()?;
//!
//! // In the readiness handler (never the liveness one):
//! let readiness = report.readiness();
//! assert_eq!(readiness.status, Status::Ready);
//! let http_status = if readiness.status.is_ready() { 200 } else { 503 };
//! # assert_eq!(http_status, 200);
//!
//! payments.force_open(); // an optional dependency down: still serving, degraded
//! assert_eq!(report.readiness().status, Status::Degraded);
//! # checks.abort();
//! # Ok(())
//! # }
//! ```
//!
//! # Time and cost
//!
//! The driver reads tokio's clock and sleeps on tokio's timers, so paused time controls every
//! instant of it; the table and the verdicts are pure (each change takes `now`). Nothing here
//! is on a call's path: a failover reads the health of its endpoints from the same word of
//! routing flags as its switches, which it reads anyway. A finished check takes the table's
//! lock once; a report takes each table's lock once and allocates its entries.

mod check;
mod report;
mod table;

pub use self::check::{CheckFn, HealthCheck, HealthChecks, HealthDriver, check_fn};
/// JSON forms of durations and of other modules' types, shared with the drill report.
#[cfg(feature = "serde")]
pub(crate) use self::report::ser;
pub use self::report::{
    Dependency, DependencyReport, DependencyState, Detail, EndpointReport, HealthReport,
    HealthReportBuilder, Readiness, Status,
};
pub use self::table::{EndpointHealth, HealthTable};
