//! # steadfast
//!
//! Keeps calls to remote dependencies working through transient faults, sustained outages and
//! whole-region failures, as composable [`tower`](https://docs.rs/tower) layers.
//!
//! This release holds the core every layer stands on. It is plain Rust, with no runtime: every
//! decision is a function of its inputs and of `now` passed in.
//!
//! - [`classify`]: what a finished attempt means ([`Outcome`]), defined once for retry, breaker,
//!   failover and health.
//! - [`backoff`]: schedules of delays with jitter ([`Backoff`]).
//! - [`budget`]: the token bucket that caps the load retries add ([`RetryBudget`]).
//! - [`deadline`]: one deadline per request ([`Deadline`]).
//! - [`event`]: what the layers report ([`Event`], [`OnEvent`]).
//! - [`error`]: the typed configuration error and the library's own errors.
//!
//! # Feature flags
//!
//! - `tracing`: [`event::TracingEvents`], a hook that emits events through `tracing`.
//! - `full`: everything.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;
pub mod budget;
pub mod classify;
pub mod deadline;
pub mod error;
pub mod event;
mod rng;

pub use backoff::{Backoff, Jitter};
pub use budget::RetryBudget;
pub use classify::{Classify, DefaultClassifier, Outcome, TransientKind};
pub use deadline::Deadline;
pub use error::{BoxError, ConfigError, DeadlineExceeded};
pub use event::{Event, OnEvent};
