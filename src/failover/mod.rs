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
//! [`NoEndpointAvailable { retry_in }`](crate::error::NoEndpointAvailable) — unless the earliest endpoint
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
//! Between tiers, routing is active-passive: calls go to the highest-priority available endpoint
//! (within a tier, to its spread: see [below](#active-active-tiers)). A recovering
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
//! # Active-active tiers
//!
//! Endpoints come in priority **tiers**: [`FailoverBuilder::endpoint`] adds a tier of one
//! endpoint (everything above is that case), [`FailoverBuilder::tier`] a tier of several, each
//! with a weight ([`Tier::weighted`], default 1). The calls of a tier are spread across its
//! available endpoints in proportion to their weights; a tier is used only when every endpoint
//! of the tiers above it is unavailable (the same availability as above: switch, health,
//! push-back, breaker, failback).
//!
//! - **The walk.** The pass of a call visits the tiers in order and, within a tier, the
//!   endpoints in the order its [`Spread`] chooses them: a failure (or a skipped endpoint) hops
//!   to another endpoint of the **same tier** first, then down the tiers. The recover schedule,
//!   the budget, the deadline and the bound on attempts are unchanged.
//! - **Spreads** ([`FailoverBuilder::spread`]). [`Spread::LeastLoaded`], the default: power of
//!   two choices over least outstanding requests — two endpoints drawn by weight, the one with
//!   fewer attempts in flight per unit of weight wins; counted per endpoint, on a cache line of
//!   its own, with no lock and no counter shared by every call. It follows the regions' speed.
//!   [`Spread::RoundRobin`]: exact shares by weight, whatever the speed — each handle's calls
//!   step through a golden-ratio sequence, so no counter is shared either. [`Spread::ByKey`]:
//!   weighted rendezvous hashing of the request's key ([`CallOptions::key`], read by the
//!   options hook: [`RequestKey`] for a function of the request, [`SpreadKey`] as an HTTP
//!   extension), so one key's calls stay on one endpoint while it is available, and only the
//!   keys of a lost endpoint move (spread over the others), coming back with it.
//! - **A lost endpoint** gives its share to its available peers in proportion to their weights:
//!   of three equal regions, the third of the one lost goes half to each of the other two.
//! - **Slow start** ([`FailoverBuilder::slow_start`]): an endpoint that takes calls again — a
//!   call is admitted there after calls found it unavailable (its breaker closed, its checks
//!   passing, switched on), or its failback hold-down ended — gets a share that grows linearly
//!   from nothing to its full share over the window, from the next choice in its tier. (The
//!   planner reads no clock for it: the instant is the one the call was given.) The same
//!   holds for a whole tier coming back: while the endpoints of a tier that are back ramp up,
//!   the part of its calls their ramp does not give them yet goes on to the next tier, as
//!   while the tier was away.
//! - **Failback per tier.** The [`Failback`] policies keep their meaning: an endpoint of the
//!   serving tier whose breaker opened is demoted, its peers take its share, and it returns as
//!   the policy says (at once, after a trickle and a hold-down, or by an operator); a whole tier
//!   returns the same way. The serving endpoint ([`FailoverHandle::serving`]) is then the first
//!   endpoint of the serving tier, and [`FailedOver`](crate::event::Event::FailedOver) events
//!   name tiers by their first endpoints.
//! - [`FailoverHandle::call_shares`] reports each endpoint's share of the calls since the last
//!   report.
//!
//! Tiers of one endpoint take the active-passive route described above, unchanged and counting
//! nothing per endpoint.
//!
//! # Hedging
//!
//! With [`FailoverBuilder::hedge`] (off by default), a call whose first attempt has not
//! answered after the hedge's delay sends a copy of its request to another endpoint, a
//! *hedge*, and returns the first answer; the other attempt is cancelled (its future dropped,
//! its breaker told it was abandoned). The rules:
//!
//! - **The delay**: fixed ([`Hedge::after`]), or a quantile of the recent latencies of the
//!   first attempt's endpoint, never below a floor ([`Hedge::percentile`]`(q).floor(..)`).
//!   Each endpoint keeps its last 64 successful first attempts and hedges in a fixed array of
//!   atomics, and computes the quantile again every 16 records; it hedges nothing until it has
//!   16.
//! - **Which calls**: a call's first attempt only, at most once per call: a hop, a retry or a
//!   recover pass is never hedged (they follow a failure, and the walk handles those). The
//!   request must be one that the [replay rule](#replay) would send again after a *timeout* —
//!   the first copy may yet be applied: a copy was kept, and the replay hook allows it after
//!   `Transient { Timeout }`, or the request is marked [`ReplayMarker::Always`]. A request
//!   marked [`ReplayMarker::Once`], or pinned to an endpoint, is never hedged.
//! - **Where**: the next endpoint other than the first attempt's that the planner admits, by
//!   the one admission rule of every attempt (routing switch on, health passing, no
//!   push-back, the breaker admitting — a half-open breaker's probe included). None: no hedge.
//!   The hedge's endpoint counts as visited in the pass.
//! - **How many**: an allowance caps the share of calls hedged: each call adds
//!   [`max_ratio`](Hedge::max_ratio) of a hedge (default 0.1), a hedge takes a whole one, and
//!   it starts with, and holds at most, [`HEDGE_RESERVE`] (10). So over any `n` calls at most
//!   `max_ratio × n + 10` are hedged. A hedge also withdraws the [budget](#budget)'s retry
//!   cost when it is admitted; the tokens are spent once it is sent, given back if it never is.
//! - **Time**: a hedge is never sent once the deadline has passed. Each attempt has its own
//!   attempt timeout, counted from its own start, and both end at the call's deadline
//!   (`DeadlineExceeded`). The delay (or floor) must be shorter than the attempt timeout and
//!   the deadline: [`build`](FailoverBuilder::build) checks.
//! - **The race**: the first attempt to *settle* the call wins: a success, or an answer that is
//!   not failed over (`Rejected`, `Local`). If the first to finish fails (or its attempt
//!   timeout cuts it), the call does not retry at once: it waits for the other. If both fail,
//!   the walk goes on from the hedge's endpoint — another attempt there if
//!   `attempts_per_endpoint` allows, then the rest of the pass, then the recover passes; the
//!   first attempt's endpoint is not visited again in that pass. The bound on attempts holds.
//! - **Events**: [`Event::Hedge`](crate::event::Event::Hedge) when the hedge is admitted;
//!   [`Event::Attempt`](crate::event::Event::Attempt) for each attempt that finishes (a
//!   cancelled one has no outcome, and reports none);
//!   [`Event::HedgeSettled`](crate::event::Event::HedgeSettled) when one of them settles the
//!   call, naming the winner and the attempt cancelled.
//! - **Cost**: without hedging, a call does no hedging work: it tests a few flags, and its
//!   future is a few dozen bytes larger. With it, a call's first attempt adds
//!   its share to the allowance (a load; a write only when the allowance is not full); only if
//!   the attempt is still pending after its first poll does the call read the clock and lend
//!   its one timer to the delay (no second timer, no allocation); a hedge that is sent gets a
//!   slot of its own, allocated then. A percentile delay also reads the clock when the first
//!   attempt is sent and when it succeeds, and records the latency (an atomic add and a store
//!   on the endpoint's record, shared by every thread).
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
//! A hedged call drops both attempts, and gives back the hedge's slot and, if it was not sent
//! yet, its tokens and its share of the allowance.
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
//! Each call holds one reference, on the failover's shared state, counted on one of 8 cache
//! lines, the calling thread's, so that calls on different threads do not share one count (the
//! endpoint's breaker is reached through that state: its admission is a ticket, not a second
//! reference); a failover built once for the life of the process can be leaked with
//! [`Failover::into_static`], and its calls then count nothing at all. `cargo bench --bench
//! failover` measures it.
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
//!
//! [`AllEndpointsFailed`]: crate::error::AllEndpointsFailed
//! [`Backoff::standard()`]: crate::Backoff::standard
//! [`BoxError`]: crate::error::BoxError
//! [`CallError::inner`]: crate::CallError::inner
//! [`CircuitBreaker`]: crate::CircuitBreaker
//! [`CircuitBreaker::reset`]: crate::CircuitBreaker::reset
//! [`FailoverHandle::breaker`]: FailoverHandle::breaker
//! [`Replay`]: crate::replay::Replay
//! [`RetryBudget::standard()`]: crate::RetryBudget::standard

mod builder;
mod control;
mod error;
mod future;
mod handle;
pub(crate) mod hedge;
pub(crate) mod options;
pub(crate) mod plan;
pub(crate) mod router;
pub(crate) mod service;
pub(crate) mod spread;
mod switch;

pub use self::builder::{FailoverBuilder, Tier};
pub use self::control::{ControlError, RoutingControl};
pub use self::error::FailoverError;
pub use self::future::ResponseFuture;
pub use self::handle::{CallShare, EndpointStatus, FailedOver, FailoverHandle, Serving};
pub use self::hedge::{DEFAULT_HEDGE_FLOOR, DEFAULT_HEDGE_RATIO, HEDGE_RESERVE, Hedge};
pub use self::options::{
    CallDeadline, CallOptions, PinnedEndpoint, ReplayMarker, RequestKey, RequestOptions, SpreadKey,
};
pub use self::router::{Failback, MAX_ENDPOINTS, Unavailable};
pub use self::service::Failover;
use self::service::{Inner, Settings, Shared};
pub use self::spread::{MAX_WEIGHT, Spread};
pub use self::switch::{Refused, RoutingSource, Switch};
/// The HTTP request options, defined in [`crate::http`].
#[cfg(feature = "http")]
pub use crate::http::HttpOptions;
/// The HTTP replay rule, defined in [`crate::http`].
#[cfg(feature = "http")]
pub use crate::http::HttpReplay;
