//! What the layers report as they work: one [`Event`] enum and one hook trait, [`OnEvent`].
//!
//! A hook is a generic parameter of each layer, so the default, `()`, compiles to nothing: no
//! allocation, no dynamic dispatch, no branch. Closures `Fn(&Event<'_>)` are hooks, which is the
//! usual way to feed metrics; with the `tracing` feature, [`TracingEvents`] emits every event as a
//! `tracing` event. Events borrow what they name (an endpoint's `&str`) and are `Copy`, so
//! building one allocates nothing.
//!
//! Hooks run inline, on the task that made the call: keep them quick and never block in them.
//!
//! # Examples
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use steadfast::event::{Event, OnEvent};
//!
//! let retries = Arc::new(AtomicU64::new(0));
//! let counter = retries.clone();
//! let hook = move |event: &Event<'_>| {
//!     if let Event::Retry { .. } = event {
//!         counter.fetch_add(1, Ordering::Relaxed);
//!     }
//! };
//! //! ```

use std::fmt;
use std::time::Duration;

use crate::breaker::{BreakerState, TransitionReason};
use crate::chaos::Fault as InjectedFault;
use crate::classify::Outcome;
use crate::failover::{Refused, RoutingSource, Switch, Unavailable};
use crate::fallback::Trigger;

/// Something a layer did, with what metrics need to count it.
///
/// `#[non_exhaustive]`: later layers add variants, so match with a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// An attempt finished; or was cut by the attempt timeout or the deadline (its outcome is
    /// then `Transient { Timeout }`); or its service did not become ready in time (then it was
    /// never sent, and its outcome is `Transient { NotSent }`).
    #[non_exhaustive]
    Attempt {
        /// The endpoint that answered, when the layer knows endpoints by name.
        endpoint: Option<&'a str>,
        /// The attempt's number: 1 for the first call.
        attempt: u32,
        /// What it meant.
        outcome: Outcome,
        /// How long it took, from when it was sent (or, not sent, from when its service was
        /// asked to be ready), for a hook that asks for durations ([`OnEvent::timed`]); `None`
        /// otherwise.
        elapsed: Option<Duration>,
    },
    /// A call through a retry layer or a failover ended: its result is returned now. Reported
    /// once per call, after the call's last [`Attempt`](Event::Attempt) (and its
    /// [`GaveUp`](Event::GaveUp) or [`DeadlineExceeded`](Event::DeadlineExceeded), if any).
    #[non_exhaustive]
    CallFinished {
        /// The layer the call went through.
        layer: Layer,
        /// The endpoint of the last attempt, when the layer knows endpoints by name and an
        /// attempt was made.
        endpoint: Option<&'a str>,
        /// How many attempts were made.
        attempts: u32,
        /// What the last attempt meant; `None` when the call made none (no endpoint was
        /// available, or the first service failed to become ready).
        outcome: Option<Outcome>,
        /// How long the whole call took, from when it was made, for a hook that asks for
        /// durations ([`OnEvent::timed`]); `None` otherwise.
        elapsed: Option<Duration>,
    },
    /// Another attempt is scheduled after `delay`; its tokens are already withdrawn.
    #[non_exhaustive]
    Retry {
        /// The endpoint it will go to, when the layer knows endpoints by name.
        endpoint: Option<&'a str>,
        /// The number of the attempt that will be made: 2 for the first retry.
        attempt: u32,
        /// How long the call sleeps first.
        delay: Duration,
        /// Tokens left in the budget after the withdrawal (`None`: unlimited).
        budget_level: Option<u32>,
    },
    /// The call stops retrying and returns its last failure.
    #[non_exhaustive]
    GaveUp {
        /// The endpoint of the last attempt, when the layer knows endpoints by name.
        endpoint: Option<&'a str>,
        /// How many attempts were made.
        attempts: u32,
        /// Why no further attempt is made.
        reason: GiveUpReason,
        /// Tokens in the budget (`None`: unlimited).
        budget_level: Option<u32>,
    },
    /// A circuit breaker changed state.
    #[non_exhaustive]
    BreakerTransition {
        /// The breaker's name, if it was given one.
        breaker: Option<&'a str>,
        /// The state it left.
        from: BreakerState,
        /// The state it entered.
        to: BreakerState,
        /// Why.
        reason: TransitionReason,
        /// The generation of the new state.
        generation: u64,
    },
    /// The deadline cut an attempt in flight: the caller gets
    /// [`DeadlineExceeded`](crate::DeadlineExceeded).
    #[non_exhaustive]
    DeadlineExceeded {
        /// The endpoint of the attempt cut, when the layer knows endpoints by name.
        endpoint: Option<&'a str>,
        /// The number of the attempt cut.
        attempt: u32,
    },
    /// A failover call moves on to another endpoint at once, after a failure at `from`.
    #[non_exhaustive]
    Hop {
        /// The endpoint that failed.
        from: &'a str,
        /// The endpoint the next attempt goes to.
        to: &'a str,
        /// The number of the attempt that will be made.
        attempt: u32,
        /// Tokens left in the budget after the withdrawal (`None`: unlimited).
        budget_level: Option<u32>,
    },
    /// A failover call's first attempt, at `from`, has not answered after `delay`: a copy of
    /// its request goes to `to` (a hedge), and the first answer wins. Its tokens are already
    /// withdrawn.
    #[non_exhaustive]
    Hedge {
        /// The endpoint of the attempt in flight.
        from: &'a str,
        /// The endpoint the hedge goes to.
        to: &'a str,
        /// How long the call waited for the first attempt.
        delay: Duration,
        /// Tokens left in the budget after the withdrawal (`None`: unlimited).
        budget_level: Option<u32>,
    },
    /// A hedged failover call was settled by one of its two attempts (a success, or a failure
    /// that is not failed over); the other, if still in flight, was cancelled (dropped).
    /// Reported once per hedged call that one of them settled, after that attempt's
    /// [`Attempt`](Event::Attempt) and the call's [`CallFinished`](Event::CallFinished).
    #[non_exhaustive]
    HedgeSettled {
        /// The endpoint whose attempt settled the call.
        winner: &'a str,
        /// Whether that attempt was the hedge (else the first attempt).
        hedge_won: bool,
        /// The endpoint of the other attempt, when it was still in flight and was cancelled.
        cancelled: Option<&'a str>,
    },
    /// Every endpoint of a failover failed in one pass: the call walks them again after
    /// `delay`.
    #[non_exhaustive]
    RecoverPass {
        /// The number of the pass that will start: 2 for the first recover pass.
        pass: u32,
        /// How long the call sleeps first.
        delay: Duration,
    },
    /// Calls now go first to a lower-priority endpoint: `from` is unavailable.
    #[non_exhaustive]
    FailedOver {
        /// The endpoint calls went to first until now.
        from: &'a str,
        /// The endpoint calls go to first from now on.
        to: &'a str,
        /// Why `from` is not taking calls, when the call that noticed knows it.
        reason: Option<Unavailable>,
    },
    /// Calls go first to a higher-priority endpoint again.
    #[non_exhaustive]
    FailedBack {
        /// The endpoint calls went to first until now.
        from: &'a str,
        /// The endpoint calls go to first from now on.
        to: &'a str,
    },
    /// A call found a failover endpoint unavailable (reported once until it is available again).
    #[non_exhaustive]
    EndpointUnavailable {
        /// The endpoint.
        endpoint: &'a str,
        /// Why.
        reason: Unavailable,
    },
    /// A failover endpoint that was unavailable takes calls again: a call other than a
    /// half-open probe was admitted there (a probe shows in its breaker's transitions).
    #[non_exhaustive]
    EndpointAvailable {
        /// The endpoint.
        endpoint: &'a str,
    },
    /// A [chaos layer](crate::chaos) injected a fault into a call (reported when the call is
    /// made, before any delay).
    #[non_exhaustive]
    Fault {
        /// The chaos layer's name, if it was given one.
        chaos: Option<&'a str>,
        /// What was injected: its kind, delay, call number and window.
        fault: InjectedFault,
    },
    /// A [fallback layer](crate::fallback) answered a failed call: reported when the
    /// fallback's answer is known, served or failed (not when the call is dropped before).
    #[non_exhaustive]
    Fallback {
        /// Why the fallback ran.
        trigger: Trigger,
        /// Whether it served an answer (`false`: it failed, and the caller gets its error).
        served: bool,
        /// How old the answer served is, for a response kept from an earlier call (a stale
        /// response); `None` for an answer made now, and when it failed.
        age: Option<Duration>,
    },
    /// An endpoint's routing switch changed.
    #[non_exhaustive]
    RoutingChanged {
        /// The endpoint.
        endpoint: &'a str,
        /// Its switch now.
        switch: Switch,
        /// Who changed it: a routing file's change reverting an operator's switch shows as a
        /// `File` change after an `Operator` one.
        source: RoutingSource,
    },
    /// A routing change was refused (nothing changed).
    #[non_exhaustive]
    RoutingRefused {
        /// The endpoint named, when the refusal is about one (cut after 128 bytes).
        endpoint: Option<&'a str>,
        /// Why.
        reason: Refused,
        /// Whose change it was.
        source: RoutingSource,
    },
    /// An endpoint's health changed: it passed or failed enough consecutive checks.
    #[non_exhaustive]
    HealthChanged {
        /// The endpoint.
        endpoint: &'a str,
        /// Whether it is healthy now.
        healthy: bool,
    },
    /// A consumer extended the visibility of the message it is processing.
    #[non_exhaustive]
    LeaseExtended {
        /// The message's id.
        message_id: &'a str,
        /// The visibility it now has, from now.
        visibility: Duration,
    },
    /// A consumer failed to extend a message's visibility before it ran out: the message is no
    /// longer its own, and the handler's work signal is cancelled.
    #[non_exhaustive]
    LeaseLost {
        /// The message's id.
        message_id: &'a str,
    },
    /// A consumer shutting down released a message whose handler had not finished in time.
    #[non_exhaustive]
    LeaseReleased {
        /// The message's id.
        message_id: &'a str,
    },
    /// A handler failed, and its message was made visible again at once for another consumer.
    #[non_exhaustive]
    MessageRestored {
        /// The message's id.
        message_id: &'a str,
        /// How many times the queue has delivered it.
        receive_count: u32,
    },
    /// A handler failed, and its message was published to another region, then deleted here.
    #[non_exhaustive]
    MessageRepublished {
        /// The message's id.
        message_id: &'a str,
    },
    /// A handler failed on a message delivered `receive_count` times: it is left to the queue's
    /// dead-letter redrive.
    #[non_exhaustive]
    MessageDeadLettered {
        /// The message's id.
        message_id: &'a str,
        /// How many times the queue has delivered it.
        receive_count: u32,
    },
}

/// The layer a call went through, in [`Event::CallFinished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// [`Retry`](crate::retry::Retry), or [`RetryPolicy::run`](crate::retry::RetryPolicy::run).
    Retry,
    /// [`Failover`](crate::failover::Failover).
    Failover,
}

impl Layer {
    /// Its name in snake case: `retry`, `failover`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Retry => "retry",
            Layer::Failover => "failover",
        }
    }
}

/// Why a call with a retryable failure makes no further attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The schedule has no retries left.
    RetriesExhausted,
    /// The budget holds less than the attempt's cost.
    BudgetExhausted,
    /// The next sleep would leave no room for an attempt before the deadline.
    Deadline,
    /// The server's `Retry-After` hint is beyond the configured cap.
    RetryAfterTooLong,
    /// The request may not be replayed (after this outcome).
    NotReplayable,
    /// The next delay is too long to represent as an instant (an absurd `Retry-After` or
    /// schedule).
    DelayOutOfRange,
    /// The service failed to become ready for the next attempt; its `poll_ready` error is
    /// returned.
    NotReady,
    /// No failover endpoint is available for the next pass, nor soon enough to wait for.
    NoEndpointAvailable,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GiveUpReason::RetriesExhausted => "no retries left",
            GiveUpReason::BudgetExhausted => "retry budget exhausted",
            GiveUpReason::Deadline => "no room for another attempt before the deadline",
            GiveUpReason::RetryAfterTooLong => "retry-after hint beyond the cap",
            GiveUpReason::NotReplayable => "request may not be replayed",
            GiveUpReason::DelayOutOfRange => "next delay out of range",
            GiveUpReason::NotReady => "service failed to become ready",
            GiveUpReason::NoEndpointAvailable => "no endpoint available",
        })
    }
}

/// Receives [`Event`]s. `()` ignores them; closures `Fn(&Event<'_>)` are hooks.
pub trait OnEvent {
    /// Called inline for every event.
    fn on_event(&self, event: &Event<'_>);

    /// Whether this hook wants durations. When it does, the retry layer and the failover read
    /// the clock when a call is made and when each attempt is sent, and report how long each
    /// attempt and each call took ([`Event::Attempt`] and [`Event::CallFinished`]'s
    /// `elapsed`). When it does not (the default), they read no clock for it and report
    /// `None`: a hook that only counts costs no clock reading. Wrap a closure in [`timed`] to
    /// ask for durations.
    #[inline(always)]
    fn timed(&self) -> bool {
        false
    }
}

impl OnEvent for () {
    #[inline(always)]
    fn on_event(&self, _: &Event<'_>) {}
}

/// `hook`, asking for durations ([`OnEvent::timed`]): attempts and calls report how long they
/// took.
///
/// ```
/// use steadfast::event::{Event, timed};
///
/// let hook = timed(|event: &Event<'_>| {
///     if let Event::CallFinished { elapsed: Some(elapsed), .. } = event {
///         println!("call took {elapsed:?}");
///     }
/// });
/// # let _ = hook;
/// ```
pub fn timed<H: OnEvent>(hook: H) -> Timed<H> {
    Timed(hook)
}

/// A hook that asks for durations: see [`timed`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Timed<H>(pub H);

impl<H: OnEvent> OnEvent for Timed<H> {
    #[inline]
    fn on_event(&self, event: &Event<'_>) {
        self.0.on_event(event)
    }

    #[inline(always)]
    fn timed(&self) -> bool {
        true
    }
}

impl<F> OnEvent for F
where
    F: Fn(&Event<'_>),
{
    #[inline]
    fn on_event(&self, event: &Event<'_>) {
        self(event)
    }
}

// The tracing hook lives with the other integrations, at the edge of the crate.
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use crate::integrations::tracing_events::TracingEvents;
