//! Retry on one endpoint: backoff, budget, deadline, attempt timeout and push-back.
//!
//! # What it does
//!
//! [`Retry`] sends a request to its inner service and classifies the result into an
//! [`Outcome`](crate::classify::Outcome):
//!
//! - `Success` and `Rejected` are returned at once; `Local` (including every error of this
//!   library) is returned at once and never retried.
//! - `Transient` is retried after the schedule's next delay, while the schedule has retries left,
//!   the request can be replayed, the budget can pay for the attempt, and the deadline leaves room
//!   for an attempt after the sleep. Otherwise the last result is returned as it is (a 503
//!   response stays a 503 response).
//!
//! The defaults: [`Backoff::default()`](crate::backoff::Backoff::default) (3 retries after
//! 500 ms, 1 s and 2 s, equal jitter), a fresh [`RetryBudget::standard()`] per policy, no
//! deadline, no attempt timeout, `Retry-After` hints honoured up to 20 s.
//!
//! # Time
//!
//! - **Deadline**: one per call, measured from the call. An attempt runs for at most
//!   `min(attempt_timeout, remaining)`. When the deadline cuts an attempt that has no result yet,
//!   the caller gets [`DeadlineExceeded`]. A sleep whose end would leave no room for an attempt
//!   is not started: the last result is returned at once instead.
//! - **Attempt timeout**: an attempt still running after it is dropped and counts as
//!   `Transient { Timeout }` (costing the budget's timeout cost if retried). If no retry follows,
//!   the caller gets [`AttemptTimedOut`]. For a retry, it also bounds waiting for the service to
//!   become ready; the attempt then gets a full timeout of its own (within the deadline), and is
//!   never sent once the deadline or that wait's limit has passed.
//! - **Push-back**: a `Retry-After` hint makes the delay `max(schedule delay, hint)`. A hint
//!   above the cap, or one that would cross the deadline, returns the server's answer at once.
//!   A hint uses a retry of the schedule like any other failure; after the last retry it adds
//!   none.
//!
//! Timers are created only when an attempt is pending and a limit is configured, and the clock
//! is read only when a deadline or an attempt timeout is configured (and on retries). Every
//! timer is tokio's, so `tokio::time::pause()` controls them all in tests.
//!
//! # Budget and readiness
//!
//! Every retry actually sent costs the budget's retry cost (its timeout cost after a timeout);
//! the tokens are taken when the retry is scheduled, before the sleep, and given back if the
//! attempt is never sent (the call is dropped, the service fails or times out getting ready). A
//! first-try success deposits one token, a success after retries gives back the last retry's
//! cost; `Rejected` and `Local` results deposit nothing. An empty bucket returns the last result.
//!
//! A retry waits for the service to be ready (`poll_ready`) after its sleep. An error from
//! `poll_ready` is returned as it is; waiting longer than the attempt timeout counts as an
//! attempt with outcome `Transient { NotSent }` (it uses a retry of the schedule, costs nothing,
//! and may itself be retried).
//!
//! Whether a request may be sent again is the [`Replay`] hook's: it copies the request before
//! the first attempt, and may decline to send the copy after a given outcome (for example, a
//! POST only after `NotSent`). The deadline is measured from the call on tokio's clock (so a
//! paused test clock controls it), and [`RetryPolicy::run`] calls its closure for the first
//! time when first polled.
//!
//! # Performance
//!
//! A call on the happy path allocates nothing, takes no lock and, without a deadline or attempt
//! timeout, reads no clock. Each call holds a reference on the policy, so that a call that
//! outlives its service (as with `ServiceExt::oneshot`) still retries; it is counted on one of 8
//! cache lines, the calling thread's (the first 8 threads to call each have one of their own;
//! [`PolicyRef::for_call`]), so that calls on different threads do not share one count. A policy
//! defined once for the process can be passed as `&'static RetryPolicy` instead (see
//! [`PolicyRef`]): then calls count nothing at all. Counting is two uncontended atomic
//! read-modify-writes per call (taken at the call, dropped with its future), which safe Rust
//! cannot avoid for a call that may outlive its service; they are the whole difference
//! between the owned and the `&'static` rows of the README's retry table. The inner service is cloned per call, as
//! tower's own `Retry` does, and the request is copied before each attempt that may be followed
//! by another (`Replay`). `cargo bench --bench retry` measures all of it against tower's `Retry`
//! and tower-resilience's retry.
//!
//! Jitter is drawn from a seed per service (distinct for every clone and every
//! [`run`](RetryPolicy::run)), advanced per call, so a fleet of clients, and the calls of one
//! client, do not retry in lockstep; [`RetryPolicyBuilder::seed`] makes it reproducible.
//!
//! # The error type
//!
//! `Retry` keeps the inner service's error type `E`. Because a deadline or attempt timeout can
//! end a call with no error from the inner service, `E` must be able to hold this library's
//! timeout errors: `E: From<DeadlineExceeded> + From<AttemptTimedOut>`.
//! [`BoxError`](crate::BoxError), [`std::io::Error`] and [`CallError`] can; map other error
//! types into [`CallError::Inner`] (`ServiceBuilder::map_err(CallError::Inner)`) to keep them
//! typed. [`RetryPolicy::run`] needs nothing of the closure's error type: it returns
//! `CallError<E>`.
//!
//! # Examples
//!
//! A layer on a tower service:
//!
//! ```
//! use std::time::Duration;
//! use steadfast::retry::{RetryLayer, RetryPolicy};
//! use steadfast::{Backoff, BoxError};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let policy = RetryPolicy::builder()
//!     .backoff(Backoff::standard())
//!     .deadline(Duration::from_secs(10))
//!     .attempt_timeout(Duration::from_secs(2))
//!     .build()?;
//! let service = RetryLayer::new(policy).layer(service_fn(|name: &'static str| async move {
//!     Ok::<_, BoxError>(format!("hello, {name}"))
//! }));
//! assert_eq!(service.oneshot("world").await?, "hello, world");
//! # Ok(())
//! # }
//! ```
//!
//! The same policy around an async closure that is not a service, such as an AWS SDK call. The
//! closure keeps its own error type, the classifier sees it, and the call returns the
//! operation's error typed, or the policy's verdict ([`CallError`]):
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use steadfast::retry::RetryPolicy;
//! use steadfast::{Backoff, BoxError, CallError, Outcome};
//!
//! #[derive(Debug, PartialEq)]
//! enum SdkError { Throttling, Validation }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let policy = RetryPolicy::builder()
//!     .backoff(Backoff::standard())
//!     .classifier(|r: &Result<u32, SdkError>| match r {
//!         Ok(_) => Outcome::Success,
//!         Err(SdkError::Throttling) => Outcome::throttled(None),
//!         Err(SdkError::Validation) => Outcome::Rejected,
//!     })
//!     .build()?;
//! let calls = AtomicU32::new(0);
//! let send = || async { // e.g. `client.get_item().table_name("t").send().await`
//!     match calls.fetch_add(1, Ordering::Relaxed) {
//!         0 => Err(SdkError::Throttling),
//!         1 => Ok(42),
//!         _ => Err(SdkError::Validation),
//!     }
//! };
//! assert_eq!(policy.run(|| async { send().await }).await.ok(), Some(42));
//! let err: CallError<SdkError> = policy.run(|| async { send().await }).await.unwrap_err();
//! assert_eq!(err.inner(), Some(&SdkError::Validation)); // rejected: not retried
//! assert_eq!(calls.load(Ordering::Relaxed), 3);
//! # Ok(())
//! # }
//! ```
//!
//! # Panics
//!
//! With a deadline or an attempt timeout (or any retry with a delay), calls must run inside a
//! tokio runtime with the time driver enabled, as for `tokio::time::sleep`.

mod future;
mod layer;
pub(crate) mod policy;

use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};

use tower_service::Service;

pub use self::future::{ResponseFuture, RetryError};
pub use self::layer::RetryLayer;
pub use self::policy::{DEFAULT_RETRY_AFTER_CAP, PolicyRef, RetryPolicy, RetryPolicyBuilder};
#[cfg(doc)]
use crate::budget::RetryBudget;
use crate::classify::Classify;
use crate::classify::DefaultClassifier;
use crate::error::{AttemptTimedOut, CallError, DeadlineExceeded};
use crate::event::OnEvent;
use crate::replay::CloneReplay;
use crate::replay::Replay;

/// Retries calls to the inner service under a [`RetryPolicy`] (or a `&'static` one: see
/// [`PolicyRef`]). See the [module docs](self).
///
/// # An inner error that cannot hold a verdict
///
/// `Retry` is a service only when the inner error `E` can hold the library's timeout errors
/// ([see above](self#the-error-type)). A `reqwest::Client` fails with `reqwest::Error`, which
/// cannot: wrapped as it is, calling it reads "the method `oneshot` exists for struct
/// `Retry<Client, …>`, but its trait bounds were not satisfied". Map its error into
/// [`CallError::Inner`] under the layer; the [`HttpClassifier`](crate::http::HttpClassifier)
/// sees through it, and the caller gets `CallError<reqwest::Error>`:
///
/// ```
/// # #[cfg(feature = "reqwest")]
/// # async fn demo() -> Result<(), steadfast::BoxError> {
/// use steadfast::http::{HttpClassifier, HttpReplay};
/// use steadfast::{CallError, RetryLayer, RetryPolicy};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// let policy = RetryPolicy::builder()
///     .classifier(HttpClassifier::new())
///     .replay(HttpReplay)
///     .build()?;
/// let http = reqwest::Client::new();
/// let client = ServiceBuilder::new()
///     .layer(RetryLayer::new(policy))
///     .map_err(CallError::Inner) // reqwest::Error -> CallError<reqwest::Error>
///     .service(http.clone());
/// let response = client.oneshot(http.get("https://orders.example.com/7").build()?).await?;
/// # let _ = response;
/// # Ok(())
/// # }
/// ```
///
/// # Clone
///
/// Clones share the policy and its budget; each clone gets its own jitter stream.
pub struct Retry<S, P = RetryPolicy> {
    inner: S,
    policy: P,
    /// This service's jitter seed, advanced by one per call.
    seed: u64,
}

impl<S, P: PolicyRef> Retry<S, P> {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: S, policy: P) -> Self {
        let seed = policy.policy().next_seed();
        Retry {
            inner,
            policy,
            seed,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy<P::Classifier, P::Replay, P::Hook> {
        self.policy.policy()
    }
}

impl<S, P> Retry<S, P> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, P: PolicyRef> Clone for Retry<S, P> {
    fn clone(&self) -> Self {
        Retry::new(self.inner.clone(), self.policy.clone())
    }
}

impl<S: fmt::Debug, P> fmt::Debug for Retry<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, Req, P> Service<Req> for Retry<S, P>
where
    S: Service<Req> + Clone,
    S::Error: From<DeadlineExceeded> + From<AttemptTimedOut> + 'static,
    P: PolicyRef,
    P::Classifier: Classify<S::Response, S::Error>,
    P::Replay: Replay<Req>,
    P::Hook: OnEvent,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, P, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The readied instance goes to the future; this service keeps a fresh clone.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        self.seed = self.seed.wrapping_add(1);
        ResponseFuture::start(ready, req, self.policy.for_call(), self.seed)
    }
}

impl<C, R, H> RetryPolicy<C, R, H> {
    /// Runs `f` under this policy: calls it, and calls it again per the policy while its result
    /// is a retryable failure. Each call of `f` is one attempt. The request is `()`: with the
    /// default [`CloneReplay`] every attempt may be replayed (a replay hook written for another
    /// request type does not apply to `()`, so such a policy cannot `run`).
    ///
    /// For an async call that is not a tower service, such as an AWS SDK operation:
    /// `policy.run(|| async { client.get_item().key(..).send().await })`. The closure keeps its
    /// own error type `E`, whatever it is: the classifier sees the operation's own
    /// `Result<T, E>`, and the call returns `Result<T, CallError<E>>`, the last attempt's error
    /// as [`CallError::Inner`] or the policy's verdict ([`CallError::DeadlineExceeded`],
    /// [`CallError::AttemptTimedOut`]). See the [module docs](self) for an example.
    ///
    /// # Errors
    ///
    /// The future's output is `Err` when the last attempt failed and no retry followed
    /// ([`CallError::Inner`]), when the deadline cut an attempt in flight, or when the last
    /// attempt was cut by the attempt timeout.
    pub fn run<F, Fut, T, E>(&self, f: F) -> Run<F, E, C, R, H>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
        R: Replay<()>,
        H: OnEvent,
        E: 'static,
    {
        ResponseFuture::lazy(FnService(f), (), self.for_call(), self.next_seed())
    }
}

/// The future of [`RetryPolicy::run`] over a closure failing with `E`: its output is
/// `Result<T, CallError<E>>`.
pub type Run<F, E, C = DefaultClassifier, R = CloneReplay, H = ()> =
    ResponseFuture<FnService<F>, (), RetryPolicy<C, R, H>, CallError<E>>;

/// An async closure as a service of `()`: each call is one attempt. Used by
/// [`RetryPolicy::run`].
#[derive(Debug, Clone)]
pub struct FnService<F>(F);

impl<F, Fut, T, E> Service<()> for FnService<F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Response = T;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Fut {
        (self.0)()
    }
}
