//! # steadfast
//!
//! Keeps calls to remote dependencies working through transient faults, sustained outages and
//! whole-region failures, as composable [`tower`](https://docs.rs/tower) layers.
//!
//! # Layers
//!
//! - [`retry`]: retry on one endpoint with backoff, jitter, a budget, a deadline, an attempt
//!   timeout and server push-back ([`RetryLayer`], [`RetryPolicy`]); the same policy runs async
//!   closures that are not services, such as AWS SDK calls ([`RetryPolicy::run`]).
//!
//! ```
//! use std::time::Duration;
//! use steadfast::{BoxError, RetryLayer, RetryPolicy};
//! use tower::ServiceBuilder;
//!
//! # fn wrap<S>(client: S) -> Result<(), BoxError>
//! # where S: tower::Service<u32, Error = BoxError> + Clone {
//! let policy = RetryPolicy::builder()
//!     .deadline(Duration::from_secs(10))
//!     .attempt_timeout(Duration::from_secs(2))
//!     .build()?;
//! let client = ServiceBuilder::new().layer(RetryLayer::new(policy)).service(client);
//! # let _ = client;
//! # Ok(())
//! # }
//! ```
//!
//! - [`breaker`]: circuit breakers with consecutive, failure-rate (over a count or a time
//!   window) and slow-call trips, half-open probing, generations and manual control
//!   ([`CircuitBreaker`], [`CircuitBreakerLayer`]); the permit API drives one from any loop (the
//!   failover uses it per region).
//! - [`failover`]: ordered regional endpoints, each behind its own breaker, with one retry loop
//!   per call across them: hops, recover passes, push-back, deadlines, the budget, failback to
//!   the primary, and an operator's routing controls ([`Failover`], [`FailoverHandle`]).
//! - `regional` (features `reqwest`, `hyper`): a failover over named base URLs sharing one
//!   HTTP client, with the HTTP classifier and safe replay by default; `RegionalClient` keeps
//!   reqwest's builder style (`regional.execute(regional.get("/orders/7"))`) and returns
//!   `reqwest::Response`s or [`CallError<reqwest::Error>`](CallError).
//! - `aws` (feature `aws`): the AWS SDK for Rust as a failover endpoint: the `SdkError`
//!   classifier, one client per region with the SDK's retries off, and
//!   `regions.run(|client| client.get_item()…send())`.
//! - [`health`]: active health checks per endpoint, run by a driver future the caller spawns
//!   ([`HealthChecks`], [`HealthCheck`], [`health::check_fn`]), which feed a failover's
//!   routing; and the readiness roll-up a service serves from its readiness endpoint
//!   ([`HealthReport`], [`Readiness`]).
//!
//! - [`fallback`]: graceful degradation: a degraded answer for calls that fail with the
//!   library's verdicts or a classified failure, from a function ([`fallback::from_fn`]) or
//!   the last good response per key ([`StaleCache`], bounded in entries and age)
//!   ([`FallbackLayer`]).
//!
//! - [`drill`]: failover drills on a running stack (planned failover, regional outage,
//!   brownout, hang) measured from its own events, judged against RTO and loss objectives, and
//!   restored on end, abort or drop ([`drill::Drills`], [`drill::Tap`]); the operators'
//!   [`runbook`].
//! - [`chaos`]: seeded, reproducible fault injection (errors, latency, hangs, outage and
//!   brownout windows) for any service, switched at run time through a [`ChaosHandle`]
//!   ([`ChaosLayer`], [`Script`]), to rehearse outages in tests and in staging.
//!
//! # The core
//!
//! Plain Rust, with no runtime: every decision is a function of its inputs and of `now` passed
//! in, so it is tested without a clock.
//!
//! - [`classify`]: what a finished attempt means ([`Outcome`]), defined once for retry, breaker,
//!   failover and health.
//! - [`backoff`]: schedules of delays with jitter ([`Backoff`]).
//! - [`budget`]: the token bucket that caps the load retries add ([`RetryBudget`]).
//! - [`deadline`]: one deadline per request ([`Deadline`]).
//! - [`replay`]: whether and how a request is sent again ([`replay::Replay`]).
//! - [`event`]: what the layers report ([`Event`], [`OnEvent`]).
//! - [`error`]: the typed configuration error and the library's own errors.
//!
//! # Architecture
//!
//! Three rings; dependencies point inward:
//!
//! - **The pure core** decides. Plain Rust with no runtime and no tower: every decision is a
//!   function of its inputs and of `now` passed in. The vocabulary ([`Outcome`],
//!   [`Deadline`], [`Backoff`], [`RetryBudget`], [`Event`]) and the rules: the retry policy's
//!   `decide`, the breaker's state machine, and the failover's routing state and planner.
//! - **The glue** does: the tower layers and their futures read tokio's clock, own the timers,
//!   call the inner services, classify results and carry out what the core returned.
//! - **The edge** adapts other crates, behind cargo features, off by default: the `http`
//!   module, the `regional` HTTP clients, the routing-file and etcd sources, the tracing and
//!   metrics hooks.
//!
//! Events follow the same direction. The files that define the vocabulary (a breaker's states
//! and transition reasons, a routing switch, an injected fault, why an endpoint is unavailable)
//! import nothing of [`event`], which names them; one [`Event`] enum serves the whole stack.
//! The cores do not emit: the breaker's state machine reports each transition to a function
//! its builder gives, which makes it an [`Event::BreakerTransition`], and the failover's
//! routing controls emit from their handle.
//!
//! The failover is split the same way. Its *planner* (`src/failover/plan.rs`) holds one call's
//! walk and answers each step with an action: send to endpoint *i* (holding its breaker
//! permit), sleep until an instant, or stop with a reason. It is the one place where a call's
//! route is decided, so "why did this call go to us-west-1?" is answered there: the first
//! endpoint of a call, a retry here or a hop, the recover sleep, the stop, and the single
//! admission rule (routing switch and health, push-back, breaker, budget, deadline) that every
//! attempt passes, the first one to a healthy primary included. Its *executor*, the
//! [`failover::ResponseFuture`], holds the request, the endpoint's service and one timer; it
//! alone reads the clock, clones services, asks the replay hook and classifies. The planner is
//! tested without a runtime, against the same reference model as the whole stack.
//!
//! Where each decision lives: whether to retry, and after which delay, in `retry/policy.rs`;
//! whether a breaker admits a call in `breaker/machine/admit.rs`, whether an outcome trips it
//! or closes it in `breaker/machine/record.rs`; which endpoint a call goes to next, and when a
//! failover call stops, in `failover/plan.rs`, over the routing state of `failover/router.rs`;
//! whether a checked endpoint is healthy in `health/table.rs`.
//!
//! | file | ring | concern |
//! | --- | --- | --- |
//! | `classify.rs`, `backoff.rs`, `budget.rs`, `deadline.rs`, `replay.rs`, `event.rs`, `error.rs` | core | the shared vocabulary |
//! | `now.rs` | core | the lazy clock: `now` as the core takes it ([`deadline::Now`]), read at most once |
//! | `retry/policy.rs` | core | retry decisions |
//! | `breaker/state.rs` | core | a breaker's states, transition reasons, rejection, snapshot |
//! | `breaker/config.rs`, `breaker/threshold.rs` | core | a breaker's settings and their validation |
//! | `breaker/window.rs` | core | the sliding windows of outcomes |
//! | `breaker/machine/` | core | the state machine: its shared state (`mod.rs`), admission (`admit.rs`), recording outcomes and the trip rules (`record.rs`), transitions (`transition.rs`), what it reports (`report.rs`) |
//! | `breaker/packed.rs`, `breaker/shards.rs`, `breaker/ticket.rs` | core | the machine's packed atomic words, per-thread counters, tickets of admission |
//! | `failover/switch.rs` | core | the routing controls' vocabulary: a switch, who changed it, why a change was refused |
//! | `failover/router.rs` | core | routing state shared by calls: flags, push-back, failback |
//! | `failover/plan.rs` | core | one call's walk: every failover decision |
//! | `failover/plan/hedge.rs`, `failover/hedge.rs` | core | a call's hedge as its plan decides it; the hedge setting, the allowance and the latency records shared by calls |
//! | `failover/control.rs` | core | operators' routing switches, and their events |
//! | `health/` | core and glue | check verdicts, the driver, the readiness report |
//! | `clock.rs`, `limit.rs`, `coop.rs` | glue | tokio's clock (and the lazy reading), a phase's timer, yielding |
//! | `breaker/mod.rs` | glue | the breaker's handle, permits and builder (where transitions become events) |
//! | `retry/future.rs`, `breaker/layer.rs`, `breaker/future.rs`, `failover/future.rs`, `chaos/` | glue | the layers and their futures |
//! | `fallback/` | glue | the fallback layer (`layer.rs`, `future.rs`), what triggers it (`trigger.rs`), the fallbacks (`policy.rs`, `stale.rs`), its error |
//! | `failover/service.rs`, `failover/builder.rs`, `failover/handle.rs`, `failover/error.rs`, `failover/options.rs` | glue | the failover service, its builder, the operators' handle and status, its error trait, per-request options |
//! | `http/`, `regional/`, `integrations/`, `aws/`, `messaging/`, `config/` | edge | HTTP, the regional clients, routing sources and metrics, the AWS SDK, messaging, policies from configuration |
//! | `drill/` | glue | failover drills: the event tap (`tap.rs`), the runner and its restoring guard (`runner.rs`), what a drill is (`plan.rs`), the report and verdict (`report.rs`) |
//! | `lab/` | edge | the policy lab: a simulator driving the core with virtual instants (`lab/drive.rs` is its one adapter) |
//!
//! # Feature flags
//!
//! - `tracing`: [`event::TracingEvents`], a hook that emits events through `tracing`.
//! - `http`: the `http` module (the HTTP classifier, `Retry-After`, transport errors, the HTTP
//!   replay rule `http::HttpReplay`), and per-request failover options from `http::Request`
//!   extensions (`failover::HttpOptions`).
//! - `reqwest`: `reqwest::Response`, `reqwest::Error` and `reqwest::Request` in the `http`
//!   module's classifier and replay rule.
//! - `hyper`: hyper-util's legacy client errors and hyper's bodies in the `http` module.
//! - `serde`: `serde::Serialize` for the readiness report ([`health::Readiness`]), and
//!   `config`: every builder's settings from a configuration file.
//! - `routing-file`: a failover's routing switches read from a JSON file on an interval
//!   (`integrations::routing_file::RoutingFile`).
//! - `aws`: the `aws` module: the AWS SDK's `SdkError` classifier, one SDK client per region,
//!   and the closure-form failover over them (`regions(..)?.build()?.run(|client| ..)`).
//! - `etcd`: a failover's routing switches from etcd, watched under a key prefix
//!   (`integrations::routing_etcd::EtcdRouting`); building it needs `protoc`.
//! - `metrics`: an event hook recording counters, gauges and a histogram through the `metrics`
//!   facade (`integrations::metrics::MetricsEvents`).
//! - `lab`: the policy lab (`lab`): deterministic virtual-time simulations of outages that
//!   drive the failover's planner, the breakers, the budget and the retry decision for a fleet
//!   of clients; scenarios and policies from JSON or TOML; an offline HTML report (plotters,
//!   SVG only).
//! - `full`: everything.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "aws")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws")))]
pub mod aws;
pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod chaos;
pub mod classify;
mod clock;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod config;
mod coop;
pub mod deadline;
pub mod drill;
pub mod error;
pub mod event;
pub mod failover;
pub mod fallback;
pub mod health;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod integrations;
#[cfg(feature = "lab")]
#[cfg_attr(docsrs, doc(cfg(feature = "lab")))]
pub mod lab;
mod limit;
pub mod messaging;
mod now;
#[cfg(any(feature = "reqwest", feature = "hyper"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "reqwest", feature = "hyper"))))]
pub mod regional;
pub mod replay;
pub mod retry;
mod rng;
#[doc = include_str!("../docs/runbook.md")]
pub mod runbook {}
mod shard;
mod sharded_arc;
mod stopwatch;

pub use backoff::{Backoff, Jitter};

/// The README's Rust snippets, compiled and run as doc tests so that they never drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use breaker::{CircuitBreaker, CircuitBreakerLayer};
pub use budget::RetryBudget;
pub use chaos::{Chaos, ChaosHandle, ChaosLayer, Latency, Script};
pub use classify::{Classify, DefaultClassifier, Outcome, TransientKind};
pub use deadline::Deadline;
pub use error::{
    AllEndpointsFailed, AttemptTimedOut, BoxError, BreakerOpen, CallError, ConfigError,
    DeadlineExceeded, MAX_DURATION, MAX_RETRY_AFTER_CAP, NoEndpointAvailable, Verdict,
};
pub use event::{Event, OnEvent};
pub use failover::{Failback, Failover, FailoverError, FailoverHandle};
pub use fallback::{FallbackLayer, StaleCache};
pub use health::{HealthCheck, HealthChecks, HealthReport, HealthTable, Readiness};
pub use retry::{Retry, RetryLayer, RetryPolicy};
