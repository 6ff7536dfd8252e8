//! What a breaker is and says: its states, the reasons it moves between them, a rejection,
//! a snapshot.

use std::fmt;
use std::time::Duration;

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls flow; outcomes are counted.
    Closed,
    /// Calls are rejected at once until the open duration has passed.
    Open,
    /// A few probe calls are admitted to find out whether the dependency has recovered.
    HalfOpen,
    /// Opened by an operator: rejects every call until [`reset`](super::CircuitBreaker::reset).
    ForcedOpen,
    /// Switched off by an operator: admits every call and records nothing.
    Disabled,
}

impl BreakerState {
    pub(super) const ALL: [BreakerState; 5] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
        BreakerState::ForcedOpen,
        BreakerState::Disabled,
    ];

    #[inline]
    pub(super) fn code(self) -> u64 {
        self as u64
    }

    #[inline]
    pub(super) fn from_code(code: u64) -> Self {
        Self::ALL[code as usize]
    }

    /// Whether calls are rejected in this state (some half-open calls are admitted).
    #[inline]
    pub const fn is_open(self) -> bool {
        matches!(self, BreakerState::Open | BreakerState::ForcedOpen)
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
            BreakerState::ForcedOpen => "forced open",
            BreakerState::Disabled => "disabled",
        })
    }
}

/// Why a breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransitionReason {
    /// Closed → Open: the consecutive-failure limit was reached.
    ConsecutiveFailures,
    /// Closed → Open: the failure rate over the window reached the threshold.
    FailureRate,
    /// Closed → Open: the rate of slow calls over the window reached the threshold.
    SlowCallRate,
    /// Open → HalfOpen: the open duration passed.
    OpenElapsed,
    /// Open → HalfOpen early: an external signal, such as a passing health check.
    HealthSignal,
    /// HalfOpen → Closed: enough probes succeeded (or, deciding by rates, the rates among the
    /// probes stayed under the thresholds).
    ProbesSucceeded,
    /// HalfOpen → Open: enough probes failed (or, deciding by rates, the failure rate among
    /// them reached the threshold).
    ProbeFailed,
    /// HalfOpen → Open: the last probe counted was slower than the slow-call threshold (it
    /// succeeded, or its caller gave up on it); deciding by rates, the slow-call rate among the
    /// probes reached the threshold.
    SlowProbe,
    /// HalfOpen → Open (or Closed, if so configured): the probes did not finish within the
    /// maximum half-open wait.
    ProbeTimeout,
    /// An operator opened the breaker for its open duration, as if it had tripped.
    ManualOpen,
    /// An operator moved the breaker to HalfOpen.
    ManualHalfOpen,
    /// An operator forced the breaker open.
    ForcedOpen,
    /// An operator disabled the breaker.
    Disabled,
    /// An operator reset the breaker (Closed, empty window).
    Reset,
}

/// A call was not admitted: the breaker is open (or half-open with every probe slot taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Open: how long until the breaker admits probes. Half-open with every probe slot taken:
    /// how long until a call is admitted without a probe finishing, the sooner of a probe
    /// renewal and the end of a maximum wait that closes the breaker (`None` with neither, as by
    /// default: the probes decide). Forced open: `None`. Computed from
    /// [`Now::recent`](crate::deadline::Now::recent): within a few milliseconds through the
    /// layer, exact with an `Instant`.
    pub retry_in: Option<Duration>,
}

/// What a breaker looked like at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The state.
    pub state: BreakerState,
    /// The state's generation: it advances on every transition.
    pub generation: u64,
    /// Calls counted in the window.
    pub calls: u32,
    /// Failures among them.
    pub failures: u32,
    /// Slow calls among them (slow-call tracking on): `slow_successes + slow_failures`.
    pub slow_calls: u32,
    /// Slow calls that did not fail: slow successes, and calls given up after the slow-call
    /// threshold ([`Permit::abandon`](super::Permit::abandon)).
    pub slow_successes: u32,
    /// Slow calls that failed.
    pub slow_failures: u32,
    /// `failures / calls`, when the window holds at least the minimum number of calls.
    pub failure_rate: Option<f64>,
    /// `slow_calls / calls`, when slow-call tracking is on and the window holds at least the
    /// minimum number of calls.
    pub slow_call_rate: Option<f64>,
    /// The current run of consecutive failures (closed state).
    pub consecutive_failures: u32,
    /// Time until the breaker admits probes (open state).
    pub half_open_in: Option<Duration>,
    /// Calls rejected since the breaker was built: while open, forced open, or half-open with
    /// every probe slot taken. A running total, for a rate on a dashboard. Counted per thread
    /// without a read-modify-write, to keep the rejecting path cheap: exact up to 8 threads
    /// rejecting at once; beyond, two threads sharing a counter may lose a count when they
    /// reject at the same instant.
    pub rejected_calls: u64,
    /// Half-open with every probe slot taken: the `retry_in` a rejection now would carry (see
    /// [`Rejected::retry_in`]; zero: a probe renewal is due, the next call is admitted); `None`
    /// otherwise, or when it is not known.
    pub probe_slot_in: Option<Duration>,
    /// The current half-open period: probes admitted (in flight, succeeded or failed; a probe
    /// whose permit was dropped, or whose outcome was ignored, gave its place back). 0 in any
    /// other state.
    pub probes_admitted: u32,
    /// The current half-open period: probes in flight.
    pub probes_in_flight: u32,
    /// The current half-open period: probes that succeeded (not slow).
    pub probes_succeeded: u32,
    /// The current half-open period: probes that failed or were slow.
    pub probes_failed: u32,
}
