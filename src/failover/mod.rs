//! Regional failover: ordered endpoints, each behind its own circuit breaker, one retry loop per
//! call across them, and failback to the primary.
//!
//! # What it does
//!
//! A [`Failover`] is a tower service over an ordered list of named endpoints — `"us-east-2"`,
//! `"us-west-1"`, … — each an inner service of the same type behind its **own**
//! [`CircuitBreaker`] (one configuration, one state per endpoint). It owns the whole retry loop of
//! a call, so the recommended multi-region stack has no separate [`Retry`](crate::Retry) around
//! it:
//!
//! ```text
//! Failover (deadline, budget, recover schedule, failback policy)
//!   └─ per region: CircuitBreaker → client      (the attempt timeout is the failover's)
//! ```
//!
//! # The walk
//!
//! A call makes **passes** over the endpoints. In each pass it visits the *available* endpoints
//! in routing order, `attempts_per_endpoint` attempts each (default 1, no sleep between them):
//!
//! - `Success`, `Rejected` (a 404) and `Local` results are returned at once: a request the
//!   dependency refused is not failed over, and neither is one the caller got wrong.
//! - `Transient` failures hop to the next endpoint **at once**: a regional outage costs one
//!   failed attempt, not a backoff. A throttled endpoint (`Retry-After`) is skipped by every call
//!   until its hint expires (capped by `retry_after_cap`, default 20 s).
//! - When every endpoint of a pass has failed, the call sleeps the next delay of its **recover
//!   schedule** (default [`Backoff::standard()`] with equal jitter: 3 recover passes after about
//!   500 ms, 1 s and 2 s) and walks them again; a success in any pass ends the call.
//!
//! An endpoint is *available* when its routing control is on, it is not failing its health
//! checks (unless every endpoint that is on fails them: then they all count as available — fail
//! open, as load balancers do), its push-back has expired, and its breaker admits the call.
//! The routing control wins over everything else. When none is available at the start of a pass, the call fails at once with
//! [`NoEndpointAvailable { retry_in }`](NoEndpointAvailable) — unless the earliest endpoint
//! becomes available within the next recover delay and the deadline: then it waits for it.
//!
//! **The bound.** A call sends at most `passes × endpoints × attempts_per_endpoint` attempts,
//! where `passes` is 1 + the recover schedule's retries (with the defaults and two regions: 4 × 2
//! × 1 = 8). The budget caps this further under load.
//!
//! **The end.** A walk that runs out of passes, budget or deadline returns
//! [`AllEndpointsFailed`], carrying every attempt (endpoint, outcome, elapsed) and the last error
//! as its source. If the last attempt ended with a failing *response* (an HTTP 503 is an `Ok`
//! response that the classifier calls `Transient`), that response is returned as it is, as the
//! retry layer does. `DeadlineExceeded` ends a call whose deadline cut an attempt in flight.
//!
//! # Time
//!
//! - **Deadline**: one per call (the configured one, or the request's own, whichever is earlier).
//!   A recover sleep whose end would leave no room for an attempt is not started.
//! - **Attempt timeout**: each hop gets `min(attempt_timeout, remaining)` for readying its
//!   endpoint's service *and* the attempt together, so a hop never takes longer than the
//!   timeout. An attempt cut by it is recorded as `Transient { Timeout }` for its endpoint, and
//!   the call hops. A service not ready in time, or whose `poll_ready` fails, counts as that
//!   endpoint failing with `Transient { NotSent }` (nothing was sent, so the budget is refunded,
//!   and any request may hop).
//! - `Failover::poll_ready` is always ready: readiness is per hop.
//!
//! Set an attempt timeout for a multi-region client: without one, a region that hangs holds the
//! call forever and the failover never hops.
//!
//! # Budget
//!
//! The first attempt sent is free; every further attempt *sent* — a same-endpoint retry, a hop, an
//! attempt of a recover pass — withdraws the budget's cost after the failure it follows (its
//! timeout cost after a timeout). An attempt never sent (its endpoint not ready) is refunded. A
//! first-try success deposits; a success after failures gives back the last withdrawal. An empty
//! budget ends the walk with the last failure. Default: a fresh [`RetryBudget::standard()`] per
//! failover.
//!
//! # Replay
//!
//! The [`Replay`] hook copies the request before its first attempt and decides, after each
//! failure, whether the copy may be sent again, here or elsewhere. The same rule holds for both:
//! a request that may have been applied (a POST that timed out) is sent again only with an
//! explicit marker from its caller ([`ReplayMarker`]), since sending it to another region could
//! apply it twice, and a same-region retry of such a request is no safer. For HTTP,
//! `http::HttpReplay` (feature `http`) is that rule. A request that may not be
//! replayed still skips unavailable endpoints: it goes once, to the first available one. Until it
//! has been sent (every endpoint so far was not ready) it may go anywhere.
//!
//! # Failback
//!
//! Routing is active-passive: calls go to the highest-priority available endpoint. A recovering
//! primary is probed with real requests through its half-open breaker; a failed probe hops on,
//! so the caller does not see it. What happens once it has recovered is the [`Failback`] policy:
//!
//! - `Immediate` (the default): traffic returns as soon as the primary's breaker closes.
//! - `After(hold_down)`: the primary gets a trickle — one call at a time — until it has served
//!   for `hold_down` without a failure; then all traffic returns. A failure restarts the
//!   hold-down, so a flapping primary never gets full traffic back.
//! - `Manual`: traffic stays on the secondary until an operator calls
//!   [`FailoverHandle::fail_back`]; the trickle keeps finding out whether the primary is healthy.
//!
//! The policies govern the return of an endpoint whose *breaker* opened. An endpoint kept away
//! by its health checks, its routing control or push-back takes traffic again as soon as those
//! allow it: the checks' own thresholds (three passes in a row by default) and the operator are
//! the hysteresis there.
//!
//! The handle reports which endpoint is serving and why ([`FailoverHandle::serving`]).
//!
//! # Routing controls and health
//!
//! [`FailoverHandle::routing`] is an operator's on/off switch per endpoint ([`RoutingControl`]):
//! a planned failover, or a region misbehaving in ways the checks miss. The last endpoint that is
//! on cannot be switched off, and an unknown name is refused, both with a typed
//! [`ControlError`]. Routing events ([`Event::RoutingChanged`](crate::event::Event::RoutingChanged),
//! [`Event::RoutingRefused`](crate::event::Event::RoutingRefused), each with its
//! [`RoutingSource`]) go to the hook given with [`RoutingControl::on_event`]. Health comes from
//! [`FailoverHandle::set_health`], which health checks call.
//!
//! With the `routing-file` feature, `steadfast::integrations::routing_file::RoutingFile` reads
//! the switches from a JSON file on an interval (`{"us-east-2": "off"}`, from an orchestrator's
//! mounted config map), off the runtime. The latest change of an endpoint's switch wins: after
//! its first read, the file changes only the endpoints whose line in it changed, so an
//! operator's [`RoutingControl::set`] stands until someone edits that endpoint's line, and a
//! change by the file is reported as such. Writers must replace the file atomically (write a
//! temporary file, then rename it).
//!
//! # Operator actions
//!
//! Each action clears exactly one kind of state, and leaves the others alone:
//!
//! | action | clears | leaves |
//! | --- | --- | --- |
//! | [`FailoverHandle::fail_back`] | every failback demotion and hold-down: calls go by priority again | breakers, push-back, health, switches |
//! | [`FailoverHandle::clear_push_back`] | one endpoint's push-back (`Retry-After`) | breakers, demotions, health, switches |
//! | [`CircuitBreaker::reset`] (of [`FailoverHandle::breaker`]) | that breaker's state: closed, an empty window, the base open duration | push-back, demotions, health, switches |
//! | [`FailoverHandle::set_health`] `(name, true)` | the endpoint's failing-checks flag (a running health driver sets it again on its next verdict) | breakers, push-back, demotions, switches |
//! | switching an endpoint on ([`RoutingControl::set`]) | the operator's switch | breakers, push-back, demotions, health |
//!
//! So an endpoint kept away by several things comes back only when each is cleared or expires:
//! [`FailoverHandle::endpoint_status`] says which one keeps it away now.
//!
//! # Per-request options
//!
//! A [`RequestOptions`] hook reads a deadline, a [`ReplayMarker`] and a pinned endpoint from each
//! request (with the `http` feature, `HttpOptions` reads them from an `http::Request`'s
//! extensions). A pinned request goes only to that endpoint, through its breaker; it does not
//! hop.
//!
//! # Cancellation
//!
//! Dropping a call at any point leaks nothing: a probe slot it held goes back to its breaker, a
//! trickle slot to its endpoint, and tokens withdrawn for an attempt not yet sent to the budget.
//! An attempt dropped by the caller records nothing against its endpoint.
//!
//! # Cost
//!
//! A call to a healthy primary allocates nothing, takes no lock and, without a deadline or an
//! attempt timeout, reads no clock: it reads a word of routing flags, admits through the
//! primary's breaker (one load) and clones the primary's service, as tower's `Retry` clones its
//! service. With more than one endpoint (or attempt) it may send the request again, so the
//! [`Replay`] hook copies it before the first attempt, as any retry layer does. A call that
//! fails or skips an endpoint allocates once for what only such a call needs, and the list of
//! its failed attempts (the error reports them).
//! Each call holds the failover's shared state by one reference count; a failover built once for
//! the life of the process can be leaked with [`Failover::into_static`], and its calls then
//! count nothing. `cargo bench --bench failover` measures it.
//!
//! # The error type
//!
//! `Failover` keeps the endpoints' error type `E`, which must hold this module's errors and
//! build the error of a walk whose every attempt failed ([`FailoverError`]). [`BoxError`] and
//! [`std::io::Error`] qualify (the last error is then the boxed source of
//! [`AllEndpointsFailed`]), and so does [`CallError<E>`](crate::CallError), which keeps the
//! dependency's error typed: an endpoint service returns `CallError::Inner(e)` and the caller
//! reads the last attempt's `e` with [`CallError::inner`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use steadfast::failover::{Failback, Failover};
//! use steadfast::{BoxError, Outcome};
//! use tower::{service_fn, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! // Each region's client, here a closure that knows its region.
//! let region = |name: &'static str| {
//!     service_fn(move |path: &'static str| async move {
//!         if name == "us-east-2" {
//!             Err::<String, BoxError>("connection reset".into()) // the primary is down
//!         } else {
//!             Ok(format!("{name}{path}"))
//!         }
//!     })
//! };
//! let failover = Failover::builder()
//!     .endpoint("us-east-2", region("us-east-2"))
//!     .endpoint("us-west-1", region("us-west-1"))
//!     .attempt_timeout(Duration::from_secs(2))
//!     .deadline(Duration::from_secs(10))
//!     .failback(Failback::After(Duration::from_secs(60)))
//!     .build()?;
//! let handle = failover.handle();
//! // The primary fails; the same call is served by the secondary.
//! assert_eq!(failover.oneshot("/orders").await?, "us-west-1/orders");
//! assert_eq!(handle.endpoints().count(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Panics
//!
//! With a deadline, an attempt timeout or a recover pass, calls must run inside a tokio runtime
//! with the time driver enabled, as for `tokio::time::sleep`.

mod control;
mod future;
mod options;
mod plan;
mod router;

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

pub use self::control::{ControlError, Refused, RoutingControl, RoutingSource, Switch};
pub use self::future::ResponseFuture;
#[cfg(feature = "http")]
pub use self::options::HttpOptions;
pub use self::options::{CallDeadline, CallOptions, PinnedEndpoint, ReplayMarker, RequestOptions};
use self::router::Router;
pub use self::router::{Failback, MAX_ENDPOINTS, Unavailable};
use crate::backoff::Backoff;
use crate::breaker::{BreakerRef, BreakerState, CircuitBreaker, CircuitBreakerBuilder};
use crate::budget::RetryBudget;
use crate::classify::{Classify, DefaultClassifier};
use crate::error::{
    AllEndpointsFailed, AttemptRecord, AttemptTimedOut, BoxError, CallError, ConfigError,
    DeadlineExceeded, NoEndpointAvailable,
};
use crate::event::OnEvent;
/// The HTTP replay rule, defined in [`crate::http`].
#[cfg(feature = "http")]
pub use crate::http::HttpReplay;
use crate::replay::{CloneReplay, Replay};
use crate::retry::DEFAULT_RETRY_AFTER_CAP;
use crate::rng;

/// The error types a failover can return: the endpoints' own error type, able to hold this
/// module's errors and to build the error of a walk whose every attempt failed.
///
/// Implemented by every type that holds [`AllEndpointsFailed`] (with its last error boxed):
/// [`BoxError`] and [`std::io::Error`]; and by [`CallError<E>`](crate::CallError), which keeps
/// the last error typed.
pub trait FailoverError:
    From<NoEndpointAvailable> + From<DeadlineExceeded> + Sized + 'static
{
    /// The error of a walk that made `attempts` and whose last attempt failed with `last`.
    fn all_endpoints_failed(attempts: Vec<AttemptRecord>, last: Self) -> Self;

    /// The error of a walk that made `attempts` and whose last attempt was cut by the attempt
    /// timeout (or its endpoint was not ready within it).
    fn all_endpoints_timed_out(attempts: Vec<AttemptRecord>, last: AttemptTimedOut) -> Self;
}

impl<E> FailoverError for E
where
    E: From<AllEndpointsFailed>
        + From<NoEndpointAvailable>
        + From<DeadlineExceeded>
        + Into<BoxError>
        + 'static,
{
    fn all_endpoints_failed(attempts: Vec<AttemptRecord>, last: Self) -> Self {
        AllEndpointsFailed::new(attempts, last).into()
    }

    fn all_endpoints_timed_out(attempts: Vec<AttemptRecord>, last: AttemptTimedOut) -> Self {
        AllEndpointsFailed::new(attempts, last).into()
    }
}

impl<E: 'static> FailoverError for CallError<E> {
    fn all_endpoints_failed(attempts: Vec<AttemptRecord>, last: Self) -> Self {
        CallError::AllEndpointsFailed {
            attempts,
            last: Box::new(last),
        }
    }

    fn all_endpoints_timed_out(attempts: Vec<AttemptRecord>, last: AttemptTimedOut) -> Self {
        Self::all_endpoints_failed(attempts, CallError::AttemptTimedOut(last))
    }
}

/// Shared state held by an `Arc`, or leaked for the life of the process.
enum Shared<T: 'static> {
    Owned(Arc<T>),
    Static(&'static T),
}

impl<T> Clone for Shared<T> {
    #[inline]
    fn clone(&self) -> Self {
        match self {
            Shared::Owned(a) => Shared::Owned(a.clone()),
            Shared::Static(r) => Shared::Static(r),
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Shared::Owned(a) => a,
            Shared::Static(r) => r,
        }
    }
}

impl<S, C, R, H, O> Shared<Inner<S, C, R, H, O>> {
    /// What a call's plan consults: the routing state, the budget, the settings, the hook.
    #[inline(always)]
    fn env(&self) -> plan::PlanEnv<'_, H> {
        let leaked = match self {
            Shared::Static(inner) => Some(&*inner.router),
            Shared::Owned(_) => None,
        };
        plan::PlanEnv {
            router: &self.router,
            leaked,
            budget: &self.budget,
            settings: &self.settings,
            hook: &self.hook,
        }
    }
}

/// The breaker of one endpoint, as a permit holds it: by reference when the failover is
/// `'static`, else by its own handle.
enum EndpointBreaker {
    Owned(CircuitBreaker),
    Static(&'static CircuitBreaker),
}

impl BreakerRef for EndpointBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        match self {
            EndpointBreaker::Owned(b) => b,
            EndpointBreaker::Static(b) => b,
        }
    }
}

/// The plain settings of a failover.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    attempts_per_endpoint: u32,
    recover: Backoff,
    deadline: Option<Duration>,
    attempt_timeout: Option<Duration>,
    retry_after_cap: Duration,
}

impl Settings {
    /// The most attempts one call makes at one endpoint: every pass, `attempts_per_endpoint`
    /// each.
    #[inline]
    fn per_endpoint_bound(&self) -> u32 {
        self.recover
            .max_retries()
            .saturating_add(1)
            .saturating_mul(self.attempts_per_endpoint)
    }
}

/// What every call of one failover shares.
struct Inner<S, C, R, H, O> {
    router: Arc<Router>,
    services: Box<[S]>,
    settings: Settings,
    budget: RetryBudget,
    seeds: AtomicU64,
    classifier: C,
    replay: R,
    hook: H,
    options: O,
}

/// A tower service over ordered regional endpoints, each behind its own breaker. See the
/// [module docs](self).
///
/// # Clone
///
/// Clones share everything (endpoints, breakers, budget, routing state); each gets its own
/// jitter stream.
pub struct Failover<S, C = DefaultClassifier, R = CloneReplay, H = (), O = ()>
where
    S: 'static,
    C: 'static,
    R: 'static,
    H: 'static,
    O: 'static,
{
    shared: Shared<Inner<S, C, R, H, O>>,
    seed: u64,
}

impl<S, C, R, H, O> Clone for Failover<S, C, R, H, O> {
    fn clone(&self) -> Self {
        Failover {
            seed: rng::mix(self.shared.seeds.fetch_add(rng::GOLDEN, Ordering::Relaxed)),
            shared: self.shared.clone(),
        }
    }
}

impl<S, C, R, H, O> fmt::Debug for Failover<S, C, R, H, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failover")
            .field("router", &self.shared.router)
            .field("settings", &self.shared.settings)
            .field("budget", &self.shared.budget)
            .finish_non_exhaustive()
    }
}

impl Failover<()> {
    /// A builder with every default; add endpoints in priority order with
    /// [`endpoint`](FailoverBuilder::endpoint).
    ///
    /// # The default classifier counts every `Ok` as a success
    ///
    /// Unless [`classifier`](FailoverBuilder::classifier) is given,
    /// [`DefaultClassifier`] judges each attempt: every `Err`
    /// is a transient failure, and **every `Ok` is a success — including an HTTP response with
    /// status 503, 500 or 429**, which HTTP clients return as `Ok`. Over an HTTP client such a
    /// failover never fails over on a status: it never sees a failing server fail. Give it a
    /// classifier that reads the status: the ready HTTP classifier of the `steadfast::http` module
    /// (feature `http`), or a closure of your own returning an
    /// [`Outcome`](crate::classify::Outcome).
    pub fn builder<S>() -> FailoverBuilder<S> {
        FailoverBuilder {
            config: Config {
                endpoints: Vec::new(),
                breakers: None,
                settings: Settings {
                    attempts_per_endpoint: 1,
                    recover: Backoff::default(),
                    deadline: None,
                    attempt_timeout: None,
                    retry_after_cap: DEFAULT_RETRY_AFTER_CAP,
                },
                failback: Failback::Immediate,
                budget: None,
                seed: None,
            },
            classifier: DefaultClassifier,
            replay: CloneReplay,
            hook: (),
            options: (),
        }
    }
}

impl<S, C, R, H, O> Failover<S, C, R, H, O> {
    /// A handle on the routing state: which endpoint serves, the breakers, failback.
    pub fn handle(&self) -> FailoverHandle {
        FailoverHandle {
            router: self.shared.router.clone(),
        }
    }

    /// The budget the calls draw from.
    pub fn budget(&self) -> &RetryBudget {
        &self.shared.budget
    }

    /// Leaks the shared state, so that calls hold it by a `'static` reference and count no
    /// reference per call. For a failover built once and used for the life of the process (the
    /// usual multi-region client); each call of `into_static` leaks one more copy, so call it
    /// once, at startup.
    pub fn into_static(self) -> Self {
        match self.shared {
            Shared::Static(_) => self,
            Shared::Owned(arc) => {
                // The reference count is leaked with it: the state is never freed.
                let leaked: &'static Arc<Inner<S, C, R, H, O>> = Box::leak(Box::new(arc));
                Failover {
                    shared: Shared::Static(leaked),
                    seed: self.seed,
                }
            }
        }
    }
}

impl<S, C, R, H, O, Req> Service<Req> for Failover<S, C, R, H, O>
where
    S: Service<Req> + Clone,
    S::Error: FailoverError,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C, R, H, O>;

    /// Always ready: each hop readies its endpoint's service.
    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        self.seed = self.seed.wrapping_add(1);
        ResponseFuture::new(self.shared.clone(), req, self.seed)
    }
}

impl<S, C, R, H, O> Failover<S, C, R, H, O> {
    /// A call through a shared reference, with a jitter seed drawn from the shared stream (one
    /// atomic add), for clients that hold the failover behind `&self`.
    #[cfg(feature = "reqwest")]
    pub(crate) fn call_shared<Req>(&self, req: Req) -> ResponseFuture<S, Req, C, R, H, O>
    where
        S: Service<Req>,
        H: OnEvent,
        O: RequestOptions<Req>,
    {
        let seed = rng::mix(self.shared.seeds.fetch_add(rng::GOLDEN, Ordering::Relaxed));
        ResponseFuture::new(self.shared.clone(), req, seed)
    }
}

/// A cheap `Clone` handle on a failover's routing state, for operators and readiness checks.
#[derive(Clone)]
pub struct FailoverHandle {
    router: Arc<Router>,
}

impl fmt::Debug for FailoverHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.router.fmt(f)
    }
}

/// One endpoint's state, as [`FailoverHandle::endpoint_status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStatus {
    /// The endpoint's name.
    pub endpoint: Arc<str>,
    /// Its breaker's state.
    pub breaker: BreakerState,
    /// Its routing switch.
    pub switch: Switch,
    /// Whether it is failing its health checks (it counts as unavailable for that only while
    /// another endpoint passes them).
    pub failing_checks: bool,
    /// Why a call would not be sent there now, if it would not.
    pub unavailable: Option<Unavailable>,
}

/// Which endpoint a failover's calls go to first, and why. See [`FailoverHandle::serving`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Serving {
    /// The endpoint calls go to first.
    pub endpoint: Arc<str>,
    /// Its place in the priority order: 0 is the primary.
    pub priority: usize,
    /// Why a higher-priority endpoint is not serving: `None` when the primary serves.
    pub failed_over: Option<FailedOver>,
}

/// Why calls are not going to a higher-priority endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedOver {
    /// The highest-priority endpoint that is not serving.
    pub from: Arc<str>,
    /// Why, now; `None` when it has just become available again and no call has gone back to it
    /// yet (the next call will).
    pub reason: Option<Unavailable>,
    /// Under `Failback::After`, how long until its hold-down ends, if it has started.
    pub hold_down_left: Option<Duration>,
}

impl FailoverHandle {
    /// The endpoints' names, in priority order.
    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.router.endpoints.iter().map(|e| &*e.name)
    }

    /// The breaker of endpoint `name`, for inspection or manual control (`force_open`,
    /// `reset`).
    pub fn breaker(&self, name: &str) -> Option<&CircuitBreaker> {
        self.index(name).map(|i| self.endpoint_breaker(i))
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.router.index(name)
    }

    /// Reports endpoint `name`'s health from a source of your own (an orchestrator's view, a
    /// check this crate does not run): a failing endpoint is unavailable while another passes
    /// (see the [module docs](self)); true if its health changed. The crate's health checks
    /// report through the same switch (so a running driver overrides it at its next verdict
    /// change). It sets the health flag only: not the breaker, a push-back, a demotion or a
    /// switch.
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownEndpoint`].
    pub fn set_health(&self, name: &str, healthy: bool) -> Result<bool, ControlError> {
        let i = self
            .index(name)
            .ok_or_else(|| ControlError::UnknownEndpoint(name.to_owned()))?;
        Ok(self.set_endpoint_health(i, healthy))
    }

    /// Which endpoint calls go to first (the one the last call that was not a probe started
    /// at), and why the ones before it are passed over, as of now (tokio's clock).
    pub fn serving(&self) -> Serving {
        let now = crate::clock::now();
        let i = self.router.serving();
        let endpoint = &self.router.endpoints[i];
        let failed_over = (i > 0).then(|| {
            let from = &self.router.endpoints[0];
            let reason = self.router.why_unavailable(0, now);
            FailedOver {
                from: from.name.clone(),
                reason,
                hold_down_left: (reason == Some(Unavailable::FailbackPending))
                    .then(|| self.router.hold_down_left(0, now))
                    .flatten(),
            }
        });
        Serving {
            endpoint: endpoint.name.clone(),
            priority: i,
            failed_over,
        }
    }

    /// Ends a failback hold-down now (the only way back under [`Failback::Manual`]): the next
    /// call goes to the highest-priority available endpoint again. It clears every endpoint's
    /// demotion and hold-down, and nothing else: not a breaker, a push-back, a health verdict
    /// or a switch (see the [module docs](self#operator-actions)).
    pub fn fail_back(&self) {
        self.router.fail_back();
    }

    /// Ends endpoint `name`'s push-back now: the `Retry-After` it answered no longer keeps calls
    /// away (they go there again as soon as nothing else does). True if it was pushed back. It
    /// clears the push-back only: not the breaker, a demotion, a health verdict or a switch.
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownEndpoint`].
    pub fn clear_push_back(&self, name: &str) -> Result<bool, ControlError> {
        let i = self
            .index(name)
            .ok_or_else(|| ControlError::UnknownEndpoint(name.to_owned()))?;
        Ok(self.router.clear_push_back(i, crate::clock::now()))
    }

    /// The routing switches: an operator's on/off per endpoint, which wins over breakers and
    /// health checks.
    pub fn routing(&self) -> RoutingControl {
        RoutingControl::new(self.router.clone())
    }

    /// Every endpoint's state now (tokio's clock), in priority order: for operators and
    /// readiness reports.
    pub fn endpoint_status(&self) -> Vec<EndpointStatus> {
        let now = crate::clock::now();
        let off = self.router.switched_off();
        self.router
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| EndpointStatus {
                endpoint: e.name.clone(),
                breaker: e.breaker.state_at(now),
                switch: Router::switch_in(off, i),
                failing_checks: self.router.is_unhealthy(i),
                unavailable: self.router.why_unavailable(i, now),
            })
            .collect()
    }

    /// Records endpoint `i`'s health from its checks; true if it changed. Health checks call
    /// this.
    pub(crate) fn set_endpoint_health(&self, i: usize, healthy: bool) -> bool {
        self.router.set_healthy(i, healthy)
    }

    /// Endpoint `i`'s breaker.
    pub(crate) fn endpoint_breaker(&self, i: usize) -> &CircuitBreaker {
        &self.router.endpoints[i].breaker
    }

    /// The state of endpoint `name`'s breaker.
    pub fn breaker_state(&self, name: &str) -> Option<BreakerState> {
        self.breaker(name).map(CircuitBreaker::state)
    }
}

/// Names region `region`'s breaker after it: a name the configuration gave (the same for every
/// region) becomes its prefix, `"{name}/{region}"`, so that events tell the regions apart.
fn region_breaker(
    builder: CircuitBreakerBuilder,
    region: &str,
) -> Result<CircuitBreakerBuilder, ConfigError> {
    match builder.given_name() {
        Some(given) if given != region => {
            ConfigError::check_name("breaker name", given)?;
            let name = format!("{given}/{region}");
            Ok(builder.name(name))
        }
        _ => Ok(builder.name(region)),
    }
}

/// Builds a [`Failover`]; every setter documents its default.
pub struct FailoverBuilder<S, C = DefaultClassifier, R = CloneReplay, H = (), O = ()> {
    config: Config<S>,
    classifier: C,
    replay: R,
    hook: H,
    options: O,
}

/// What a builder holds besides its hooks.
struct Config<S> {
    endpoints: Vec<(Arc<str>, S)>,
    breakers: Option<Box<dyn Fn(CircuitBreakerBuilder) -> CircuitBreakerBuilder>>,
    settings: Settings,
    failback: Failback,
    budget: Option<RetryBudget>,
    seed: Option<u64>,
}

impl<S, C, R, H, O> fmt::Debug for FailoverBuilder<S, C, R, H, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("FailoverBuilder")
            .field(
                "endpoints",
                &c.endpoints.iter().map(|e| &*e.0).collect::<Vec<_>>(),
            )
            .field("settings", &c.settings)
            .field("failback", &c.failback)
            .finish_non_exhaustive()
    }
}

impl<S, C, R, H, O> FailoverBuilder<S, C, R, H, O> {
    /// The endpoints' services added so far, in order.
    #[cfg(feature = "reqwest")]
    pub(crate) fn endpoint_services(&self) -> impl Iterator<Item = &S> {
        self.config.endpoints.iter().map(|(_, service)| service)
    }

    /// Adds an endpoint, after those added before it (the first is the primary). Its name is
    /// not empty, has no leading or trailing whitespace, and differs from every other
    /// endpoint's ignoring ASCII case ([`build`](Self::build) checks).
    pub fn endpoint(mut self, name: impl Into<String>, service: S) -> Self {
        self.config.endpoints.push((name.into().into(), service));
        self
    }

    /// Configures every endpoint's breaker: `f` gets a builder with the defaults, named after
    /// the endpoint, and returns it configured. A breaker is always named after its endpoint:
    /// a name `f` gives (the same for every endpoint) becomes a prefix, so
    /// `breakers(|b| b.name("orders"))` names them `orders/us-east-2`, `orders/us-west-1`, ….
    /// Default: [`CircuitBreaker::builder`]'s defaults.
    pub fn breakers(
        mut self,
        f: impl Fn(CircuitBreakerBuilder) -> CircuitBreakerBuilder + 'static,
    ) -> Self {
        self.config.breakers = Some(Box::new(f));
        self
    }

    /// How many attempts a pass makes at each endpoint before hopping (no sleep between them).
    /// Default 1.
    pub fn attempts_per_endpoint(mut self, attempts: u32) -> Self {
        self.config.settings.attempts_per_endpoint = attempts;
        self
    }

    /// The schedule between passes when every endpoint failed: each delay starts a recover
    /// pass. Default: [`Backoff::default()`] (standard, equal jitter: 3 recover passes).
    /// [`Backoff::none()`] makes one pass.
    pub fn recover(mut self, schedule: Backoff) -> Self {
        self.config.settings.recover = schedule;
        self
    }

    /// The deadline of the whole call, measured from the call. Default: none.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.config.settings.deadline = Some(deadline);
        self
    }

    /// The longest one hop (readying its endpoint's service, and the attempt) may take.
    /// Default: none.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.config.settings.attempt_timeout = Some(timeout);
        self
    }

    /// No deadline: the call takes as long as its passes do (the default of
    /// [`Failover::builder`]; the [regional](crate::regional) builders start with one).
    pub fn no_deadline(mut self) -> Self {
        self.config.settings.deadline = None;
        self
    }

    /// No attempt timeout: a hop takes as long as its endpoint does (the default of
    /// [`Failover::builder`]; the [regional](crate::regional) builders start with one).
    pub fn no_attempt_timeout(mut self) -> Self {
        self.config.settings.attempt_timeout = None;
        self
    }

    /// The longest push-back (`Retry-After`) honoured: a throttled endpoint is skipped for its
    /// hint, up to this. At most [`MAX_RETRY_AFTER_CAP`](crate::MAX_RETRY_AFTER_CAP) (1 hour);
    /// [`FailoverHandle::clear_push_back`] ends a push-back early. Default 20 s.
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.config.settings.retry_after_cap = cap;
        self
    }

    /// When traffic returns to a recovered higher-priority endpoint. Default
    /// [`Failback::Immediate`].
    pub fn failback(mut self, failback: Failback) -> Self {
        self.config.failback = failback;
        self
    }

    /// The budget further attempts draw from; pass clones of one budget to share it. Default: a
    /// fresh [`RetryBudget::standard()`].
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.config.budget = Some(budget);
        self
    }

    /// The seed of the recover schedule's jitter. Default: a seed drawn per process.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// The classifier of attempts. Default: [`DefaultClassifier`], which counts every `Ok` as a
    /// success, an HTTP 503 response included (see [`Failover::builder`]): over an HTTP client,
    /// give a classifier that reads the status. Whatever it is, this library's own errors are
    /// `Local`: never failed over.
    pub fn classifier<C2>(self, classifier: C2) -> FailoverBuilder<S, C2, R, H, O> {
        let FailoverBuilder {
            config,
            replay,
            hook,
            options,
            ..
        } = self;
        FailoverBuilder {
            config,
            classifier,
            replay,
            hook,
            options,
        }
    }

    /// How a request is copied for another attempt, and whether the copy may be sent after a
    /// given failure ([`Replay`]). Default: [`CloneReplay`], which needs a request type that is
    /// `Clone`; for any other (such as `reqwest::Request`) this step is required, for example
    /// `.replay(|r: &reqwest::Request| r.try_clone())`, or `.replay(|_: &MyRequest| None)` to
    /// send each request once to one endpoint. See
    /// [the replay module](crate::replay#a-request-type-that-is-not-clone) for the compile error
    /// that says so.
    pub fn replay<R2>(self, replay: R2) -> FailoverBuilder<S, C, R2, H, O> {
        let FailoverBuilder {
            config,
            classifier,
            hook,
            options,
            ..
        } = self;
        FailoverBuilder {
            config,
            classifier,
            replay,
            hook,
            options,
        }
    }

    /// The hook that receives [`Event`](crate::event::Event)s. Default: `()`.
    pub fn on_event<H2>(self, hook: H2) -> FailoverBuilder<S, C, R, H2, O> {
        let FailoverBuilder {
            config,
            classifier,
            replay,
            options,
            ..
        } = self;
        FailoverBuilder {
            config,
            classifier,
            replay,
            hook,
            options,
        }
    }

    /// The hook that reads each request's [`CallOptions`]. Default: `()`, none.
    pub fn options<O2>(self, options: O2) -> FailoverBuilder<S, C, R, H, O2> {
        let FailoverBuilder {
            config,
            classifier,
            replay,
            hook,
            ..
        } = self;
        FailoverBuilder {
            config,
            classifier,
            replay,
            hook,
            options,
        }
    }

    /// The validated failover, every breaker closed.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when there is no endpoint or more than [`MAX_ENDPOINTS`], a name is
    /// empty or padded with whitespace, two endpoints' names are equal ignoring ASCII case,
    /// `attempts_per_endpoint` is zero, the deadline or the attempt timeout is zero, a duration
    /// is longer than [`MAX_DURATION`](crate::MAX_DURATION), the `retry_after_cap` is above
    /// [`MAX_RETRY_AFTER_CAP`](crate::MAX_RETRY_AFTER_CAP), or a breaker's configuration is
    /// invalid.
    pub fn build(self) -> Result<Failover<S, C, R, H, O>, ConfigError> {
        let FailoverBuilder {
            config,
            classifier,
            replay,
            hook,
            options,
        } = self;
        let n = config.endpoints.len();
        if n == 0 || n > MAX_ENDPOINTS {
            return Err(ConfigError::invalid(
                "failover endpoint count",
                n,
                "at least 1 and at most 32",
            ));
        }
        for (i, (name, _)) in config.endpoints.iter().enumerate() {
            ConfigError::check_name("failover endpoint name", name)?;
            if config.endpoints[..i]
                .iter()
                .any(|(other, _)| other.eq_ignore_ascii_case(name))
            {
                return Err(ConfigError::invalid(
                    "failover endpoint name",
                    name,
                    "a name given to one endpoint only (ignoring ASCII case)",
                ));
            }
        }
        let settings = config.settings;
        if settings.attempts_per_endpoint == 0 {
            return Err(ConfigError::invalid(
                "failover attempts per endpoint",
                0,
                "at least 1",
            ));
        }
        ConfigError::check_limit("failover deadline", settings.deadline)?;
        ConfigError::check_limit("failover attempt timeout", settings.attempt_timeout)?;
        ConfigError::check_retry_after_cap("failover retry_after_cap", settings.retry_after_cap)?;
        ConfigError::check_duration("failover recover delay", settings.recover.cap())?;
        let mut breakers = Vec::with_capacity(n);
        let mut services = Vec::with_capacity(n);
        for (name, service) in config.endpoints {
            let builder = CircuitBreaker::builder().name(&*name);
            let builder = match &config.breakers {
                Some(f) => region_breaker(f(builder), &name)?,
                None => builder,
            };
            breakers.push((name, builder.build()?));
            services.push(service);
        }
        let router = Router::new(breakers, config.failback, crate::clock::now());
        let seed = config.seed.unwrap_or_else(rng::entropy_seed);
        Ok(Failover {
            shared: Shared::Owned(Arc::new(Inner {
                router: Arc::new(router),
                services: services.into_boxed_slice(),
                settings,
                budget: config.budget.unwrap_or_default(),
                seeds: AtomicU64::new(rng::mix(seed)),
                classifier,
                replay,
                hook,
                options,
            })),
            seed,
        })
    }
}
