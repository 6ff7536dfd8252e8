//! Graceful degradation: a degraded answer when the dependency cannot be reached.
//!
//! A [`FallbackLayer`] sits over a service (usually over the whole stack: a [`Retry`],
//! a [`CircuitBreaker`], a [`Failover`]) and answers the calls that fail with a [`Fallback`]'s
//! answer: a default, a value computed from the request, or the last good response
//! ([`StaleCache`]). Successful calls go through untouched.
//!
//! # When it answers
//!
//! A finished call is read in this order:
//!
//! 1. An error that is one of this library's verdicts ([`Verdict`]: a deadline exceeded, an
//!    attempt timed out, an open breaker, every endpoint failed, no endpoint available) is a
//!    [`Trigger::Verdict`]. The verdicts are read with
//!    [`verdict_of`](crate::classify::verdict_of) (the verdicts boxed in a [`BoxError`], an
//!    `io::Error`, the common `CallError`s); [`FallbackLayer::verdicts`] reads others.
//! 2. Otherwise the classifier decides ([`FallbackLayer::classifier`], default
//!    [`DefaultClassifier`]): a `Transient` outcome is a [`Trigger::Failed`] — every `Err`
//!    with the default classifier, and a failing response such as an HTTP 503 with the HTTP
//!    classifier. `Success` is a success; `Rejected` (a 404) and `Local` are answers, returned
//!    as they are.
//!
//! Every trigger is answered by default; [`FallbackLayer::when`] narrows them with a predicate.
//! A trigger not selected is returned as it was.
//!
//! # The request
//!
//! The request is moved into the inner service when the call is made, so the fallback cannot
//! have it when the call fails. It keeps a part of it instead, taken before the call
//! ([`Fallback::part`]: an id, a cache key, or `()`), and receives that part with the
//! [`Failure`] (the trigger and the call's result: the error, or the failing response). Taking
//! the part is on the success path: a `Copy` id costs nothing, a `String` key allocates.
//!
//! # Errors and events
//!
//! The layer's error is [`FallbackError`]: [`Inner`](FallbackError::Inner) with the call's own
//! error when the fallback did not answer, or [`Fallback`](FallbackError::Fallback) with the
//! trigger and the fallback's own error, typed, when it failed too (a [`StaleMiss`] when the
//! stale cache had nothing to serve). Each answer of the fallback, served or failed, is
//! reported as an [`Event::Fallback`] with its trigger and, for a stale response, its age.
//!
//! # Cost
//!
//! On the success path the layer takes the request's part, clones the fallback and its settings
//! (cheap for closures), and classifies the response: no allocation, no lock, no clock read
//! (`benches/fallback.rs`). The stale cache is the exception: it stores every good response,
//! under a lock (see [`StaleCache`]'s cost).
//!
//! # Examples
//!
//! A default over a circuit breaker: while the breaker is open, callers get the default at
//! once.
//!
//! ```
//! use std::convert::Infallible;
//! use steadfast::fallback::{from_fn, FallbackLayer, Failure};
//! use steadfast::{BoxError, CircuitBreaker, CircuitBreakerLayer};
//! use tower::{service_fn, ServiceBuilder};
//!
//! # fn main() -> Result<(), BoxError> {
//! let breaker = CircuitBreaker::builder().build()?;
//! let recommendations = ServiceBuilder::new()
//!     .layer(FallbackLayer::new(from_fn(
//!         |_: &u32| (),                                  // nothing of the request is needed
//!         |(), _: Failure<Vec<u32>, BoxError>| async { Ok::<_, Infallible>(Vec::new()) },
//!     )))
//!     .layer(CircuitBreakerLayer::new(breaker))
//!     .service(service_fn(|user: u32| async move { Ok::<_, BoxError>(vec![user]) }));
//! # let _ = recommendations;
//! # Ok(())
//! # }
//! ```
//!
//! [`Retry`]: crate::Retry
//! [`CircuitBreaker`]: crate::CircuitBreaker
//! [`Failover`]: crate::Failover
//! [`BoxError`]: crate::BoxError
//! [`DefaultClassifier`]: crate::DefaultClassifier
//! [`Event::Fallback`]: crate::Event::Fallback

mod error;
mod future;
mod layer;
mod policy;
mod stale;
mod trigger;

pub use crate::error::Verdict;
pub use error::FallbackError;
pub use future::ResponseFuture;
pub use layer::{FallbackLayer, FallbackService, Rules};
pub use policy::{Degraded, Failure, Fallback, FromFn, FromFnFuture, from_fn};
pub use stale::{Stale, StaleCache, StaleEntry, StaleMiss};
pub use trigger::{AnyVerdict, Every, ReadVerdict, Trigger, When};
