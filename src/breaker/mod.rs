//! Circuit breakers: leave a sick dependency alone, and find its recovery with a few probes.
//!
//! # Why a breaker
//!
//! When a dependency is down, every call to it waits for a timeout and then fails: callers pile
//! up, threads and connections are held, and the retries of every client keep the dependency
//! from recovering. A breaker notices that calls are failing, *opens*, and for a while rejects
//! calls at once, without touching the dependency. Then it lets a few *probe* calls through
//! (*half-open*): if they succeed, the dependency has recovered and the breaker *closes*; if one
//! fails, it opens again. Real requests are the probes, so recovery is found without a separate
//! health check (the failover layer adds those), and a failed probe costs one request, which
//! the failover hops to another region.
//!
//! # States and rules
//!
//! | state | admits | leaves when |
//! | --- | --- | --- |
//! | Closed | every call | a trip rule fires → Open |
//! | Open | nothing (`BreakerOpen { retry_in }`) | the open duration passes, or a health signal arrives → HalfOpen |
//! | HalfOpen | up to `probes` calls at once | `required_successes` probes succeed → Closed; `probe_failures` (1) fail or are slow → Open; the maximum wait passes → Open (or Closed) |
//! | ForcedOpen | nothing | an operator calls [`reset`](CircuitBreaker::reset) |
//! | Disabled | every call, recording nothing | an operator calls [`reset`](CircuitBreaker::reset) |
//!
//! An operator may also [`open`](CircuitBreaker::open) the breaker (timed, as if it had
//! tripped, the window kept) or move it to [`half_open`](CircuitBreaker::half_open), from any
//! state.
//!
//! Trip rules (Closed → Open), evaluated each time an outcome is recorded (or only on failures,
//! with [`TripCheck::OnFailure`]):
//!
//! - **consecutive failures** (default 5; `None` turns it off);
//! - the **failure rate** over a sliding window (default: at least 50 % of the last 100 counted
//!   calls; `None` turns it off), evaluated as soon as the window holds `minimum_calls` (20)
//!   calls, not only once it is full. A rate is held in whole basis points and compared in
//!   integers: "at least 7 %" trips at exactly 7 failures of 100;
//! - the **slow-call rate** over the same window (off by default): with
//!   [`slow_call_duration`](CircuitBreakerBuilder::slow_call_duration) set, a call slower than
//!   that counts as slow, and the breaker trips when the share of slow calls reaches
//!   [`slow_call_rate`](CircuitBreakerBuilder::slow_call_rate) (default 100 %). A dependency
//!   that answers, but too slowly for its callers, is as unavailable as one that fails.
//!
//! What counts is [`Outcome::breaker_effect`](crate::Outcome::breaker_effect): `NotSent`,
//! `Timeout` and `Failed` are failures; `Rejected` (a 404), `Throttled` (push-back) and `Local`
//! are ignored (neither counted nor timed), unless `rejected_counts_as_success` is set.
//!
//! The window is the last `n` counted calls ([`SlidingWindow::Calls`], exact), or the calls of
//! the last `T` in `B` buckets ([`SlidingWindow::Time`]; [`time_window`](CircuitBreakerBuilder::time_window)
//! uses 10 buckets, and [`SlidingWindow::DEFAULT_TIME`] is 60 s). A time window counts per
//! bucket, so its memory is `B` small counts whatever the traffic, and it spans between
//! `T - T/B` and `T`: the current bucket and the `B - 1` before it. Buckets are aligned to the
//! first instant the breaker is given, and expire as time passes, with or without calls: an
//! idle hour leaves no old failure behind. A count window never forgets on its own: prefer a
//! time window for a dependency with bursty or low traffic.
//!
//! The open duration (default 30 s) may grow with each consecutive trip (`open_growth`, up to
//! `max_open_duration`), and goes back to its base when the breaker closes; it may be computed
//! per trip ([`open_duration_with`](CircuitBreakerBuilder::open_duration_with)), or zero (the
//! next call after a trip is a probe).
//!
//! # Half-open, and the peers' ways
//!
//! By default a half-open breaker admits 3 probes at once, closes after 3 successes and opens
//! again on the first failed or slow probe, or when the probes take longer than the maximum
//! wait (the open duration). Each peer's way is a setting away:
//!
//! | behaviour | setting | as in |
//! | --- | --- | --- |
//! | close after `s` successes, reopen after `f` failed probes | [`required_successes`](CircuitBreakerBuilder::required_successes)`(s)`, [`probe_failures`](CircuitBreakerBuilder::probe_failures)`(f)` | failsafe (`withSuccessThreshold`, `withFailureThreshold`) |
//! | admit `p` probes in all, decide by the rates among them once all are in | [`half_open_decision`](CircuitBreakerBuilder::half_open_decision)`(`[`HalfOpenDecision::Rates`]`)`, [`probes`](CircuitBreakerBuilder::probes)`(p)` | resilience4j (`permittedNumberOfCallsInHalfOpenState`) |
//! | no maximum wait | [`half_open_max_wait`](CircuitBreakerBuilder::half_open_max_wait)`(None)` | resilience4j's default (`maxWaitDurationInHalfOpenState` 0), Polly |
//! | the maximum wait closes the breaker | [`after_half_open_max_wait`](CircuitBreakerBuilder::after_half_open_max_wait)`(Closed)` | resilience4j (`transitionToStateAfterWaitDuration`) |
//! | one probe, and another when it hangs | `probes(1)`, `required_successes(1)`, [`probe_renewal`](CircuitBreakerBuilder::probe_renewal)`(d)` | Polly (a new probe once the break duration has passed) |
//! | trip rules only on failures | [`trip_check`](CircuitBreakerBuilder::trip_check)`(`[`TripCheck::OnFailure`]`)` | Polly |
//! | open duration per trip | [`open_duration_with`](CircuitBreakerBuilder::open_duration_with) | Polly (`BreakDurationGenerator`), failsafe (`withDelayFn`) |
//! | manual Open and HalfOpen | [`open`](CircuitBreaker::open), [`half_open`](CircuitBreaker::half_open) | failsafe (`open()`, `halfOpen()`), resilience4j (`transitionToOpenState`) |
//!
//! # What it shows
//!
//! [`state`](CircuitBreaker::state) is one load: the state as last recorded (an open breaker
//! whose open period has passed says `Open` until a call looks). [`state_at`](CircuitBreaker::state_at)
//! and [`snapshot`](CircuitBreaker::snapshot) say what the next call would find (HalfOpen once
//! the open period has passed; where the maximum wait leads once it has passed); the readiness
//! report and a failover's endpoint status use them. A [`Snapshot`] also holds the window's
//! counts and rates (slow successes and slow failures apart), the calls rejected so far, and the
//! current half-open period's probes: admitted, in flight, succeeded, failed. A rejection while
//! every probe slot is taken says how long until a call can be admitted when that is known (a
//! probe renewal, or a maximum wait that closes the breaker), and so does the snapshot
//! (`probe_slot_in`). The window itself is public: [`OutcomeWindow`].
//!
//! # Defaults, next to the peers'
//!
//! | setting | steadfast | resilience4j | Polly (v8) | tower-resilience (0.14) |
//! | --- | --- | --- | --- | --- |
//! | window | last 100 calls; or time: 60 s in 10 buckets ([`SlidingWindow::DEFAULT_TIME`]) | last 100 calls (time: `slidingWindowSize` seconds) | 30 s sampling duration | last 100 calls (time: a duration you must set) |
//! | trip on failure rate | ≥ 50 % | ≥ 50 % | ≥ 10 % | ≥ 50 % |
//! | minimum calls | 20 | 100 | 100 | the window size (100) |
//! | trip on consecutive failures | 5 | no | no (v8 default) | no (optional model) |
//! | open duration | 30 s, optional growth | 60 s | 5 s | 30 s |
//! | half-open probes | 3 at once, 3 successes close, 1 failure reopens | 10 in all, decided by the rates | 1 | 1 |
//! | half-open maximum wait | the open duration, then Open | none (`maxWaitDurationInHalfOpenState` 0); then Open | none | not checked |
//! | trip rules evaluated | after every outcome | after every outcome | on failures | not checked |
//! | slow calls | off; when on: > threshold, trip at 100 % | on: > 60 s, trip at 100 % | no | off; rate 100 % |
//!
//! Sources: resilience4j's documented configuration defaults (`failureRateThreshold` 50,
//! `slidingWindowType` `COUNT_BASED`, `slidingWindowSize` 100, `minimumNumberOfCalls` 100,
//! `waitDurationInOpenState` 60 s, `permittedNumberOfCallsInHalfOpenState` 10,
//! `slowCallRateThreshold` 100, `slowCallDurationThreshold` 60 s); Polly's
//! `CircuitBreakerStrategyOptions` (`FailureRatio` 0.1, `MinimumThroughput` 100,
//! `SamplingDuration` 30 s, `BreakDuration` 5 s, and the first action after the break decides);
//! tower-resilience-circuitbreaker 0.14's builder (`failure_rate_threshold` 0.5,
//! `sliding_window_size` 100, `minimum_number_of_calls` the window size,
//! `wait_duration_in_open` 30 s, `permitted_calls_in_half_open` 1, slow calls off). "Not
//! checked": not found in their documentation while writing this table.
//!
//! steadfast trips earlier than the peers on a hard outage (5 failures in a row, or 10 of the
//! first 20 calls), and probes with 3 calls rather than 1, so that one lucky probe does not
//! close the breaker on a dependency that is still failing most calls.
//!
//! # Permits and generations
//!
//! Every state has a *generation*, advanced by every transition. Admission returns a
//! [`Permit`] stamped with the generation, and the outcome is recorded through it. An outcome
//! from an older generation changes nothing: a slow success admitted before an outage can never
//! close a half-open breaker, and a failure from before a reset cannot count against the new
//! window. A permit dropped unused gives its half-open slot back, so a cancelled probe never
//! leaves the breaker stuck half-open (and the maximum half-open wait reopens it if probes hang).
//!
//! # Slow calls, for any driver of the permit API
//!
//! With slow-call tracking on, [`Permit::acquire`] reads `now` once (the call's start) and
//! [`Permit::record`] once (its end); the breaker derives the duration. A call the caller gives
//! up on (its future dropped, or cut by a timeout of the caller's that produces no outcome)
//! after running longer than the threshold counts as slow too: the breaker reads no clock of its
//! own, so whoever drives the permit passes the time with one call, [`Permit::abandon`]`(now)`,
//! from its cancellation path (the layer's response future does it when dropped). A permit
//! dropped without it counts as nothing, as before. In half-open, a slow probe opens the
//! breaker again, like a failed one: a dependency that answers too slowly has not recovered.
//!
//! # Time
//!
//! The breaker itself reads no clock: every method that needs the time takes `now`, an
//! [`Instant`] or anything implementing [`Now`] (a closure reading a clock, read only when
//! needed). Feed it from one clock. The layer uses tokio's ([`tokio::time::Instant`], converted
//! with `into_std()`), so that `tokio::time::pause()` controls it in tests; a caller driving the
//! same breaker by hand alongside the layer must pass instants from that clock too, not
//! `std::time::Instant::now()`, which does not advance with a paused tokio clock.
//!
//! Two decisions happen on hot paths and tolerate a few milliseconds of error: which bucket of a
//! time window a success falls in, and whether an open breaker's open period is still far from
//! over. For those the breaker asks `now` for a cheap reading ([`Now::recent`]), and reads the
//! exact time only within 50 ms of a boundary, so every transition happens at the exact instant.
//! The layer's cheap reading is the kernel's coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`,
//! ~5 ns to read rather than ~27, updated every 1 to 4 ms, on the timebase of
//! `std::time::Instant`), on Linux and Android; elsewhere it reads the exact clock. So, through
//! the layer, a success may land in the neighbouring bucket when it comes within a tick of a
//! bucket boundary, and the `retry_in` of a rejection is within a tick of the truth; the open
//! and half-open transitions themselves are exact. Under a paused tokio clock the layer reads
//! tokio's clock exactly for everything (it detects the pause; see `src/clock.rs`), so
//! paused-time tests control the breaker to the nanosecond. An [`Instant`] is its own exact
//! cheap reading: tests under explicit instants are exact too.
//!
//! # Cost
//!
//! The closed path takes no lock, allocates nothing and reads no clock (a time window reads the
//! cheap one): admission is one load of the state word, and a success adds one to a counter on
//! a cache line of the calling thread's own, tagged with its generation (and its bucket).
//! Failures, slow calls, the first success of a new bucket, and transitions take a lock, and
//! bring the window up to date then. The one approximation this brings: a success recorded at
//! the same moment as a failure, on another thread, may be placed just after that failure in
//! the window rather than just before it (the counts are exact; only the order of outcomes that
//! raced may differ), and one racing the start of a new bucket may count in the new bucket. The
//! counters change only by a compare-and-swap that checks their tags, so an outcome racing a
//! transition (a reset, a trip) never counts in the next generation.
//!
//! Rejecting while open is two loads and a cheap clock reading, until the last 50 ms of the
//! open period, and a count on the calling thread's own counter (a load and a store). The
//! new settings (the peers' modes) cost nothing while off. The layer's error type is yours to choose
//! ([`CircuitBreakerLayer::error`]): with the default, [`BoxError`](crate::BoxError), a
//! rejection boxes its [`BreakerOpen`] (one allocation); an error type of your own with a
//! `From<BreakerOpen>` variant makes it allocation-free.
//!
//! # Examples
//!
//! The pure permit API, as a failover or any custom loop uses it:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use steadfast::breaker::{BreakerState, CircuitBreaker};
//! use steadfast::Outcome;
//!
//! let breaker = CircuitBreaker::builder().consecutive_failures(2).build()?;
//! let t0 = Instant::now();
//! for _ in 0..2 {
//!     let permit = breaker.try_acquire(t0).expect("closed");
//!     permit.record(&Outcome::failed(), t0);
//! }
//! assert_eq!(breaker.state(), BreakerState::Open);
//! let rejected = breaker.try_acquire(t0 + Duration::from_secs(10)).unwrap_err();
//! assert_eq!(rejected.retry_in, Some(Duration::from_secs(20)));
//! // After the open duration, a probe is admitted.
//! let probe = breaker.try_acquire(t0 + Duration::from_secs(30)).expect("a probe");
//! assert_eq!(breaker.state(), BreakerState::HalfOpen);
//! # drop(probe);
//! # Ok::<(), steadfast::ConfigError>(())
//! ```
//!
//! A time window with slow-call tracking, and a call given up early (it counts as nothing):
//!
//! ```
//! use std::time::{Duration, Instant};
//! use steadfast::breaker::{BreakerState, CircuitBreaker};
//! use steadfast::Outcome;
//!
//! let breaker = CircuitBreaker::builder()
//!     .time_window(Duration::from_secs(60))    // 10 buckets of 6 s
//!     .slow_call_duration(Duration::from_secs(2))
//!     .slow_call_rate(0.5)
//!     .minimum_calls(2)
//!     .build()?;
//! let t0 = Instant::now();
//! let secs = Duration::from_secs;
//! breaker.try_acquire(t0).unwrap().record(&Outcome::Success, t0 + secs(3)); // slow
//! breaker.try_acquire(t0).unwrap().abandon(t0 + Duration::from_millis(500)); // nothing
//! breaker.try_acquire(t0).unwrap().record(&Outcome::Success, t0 + Duration::from_millis(20));
//! assert_eq!(breaker.state(), BreakerState::Open, "1 slow call of 2: 50 %");
//! # Ok::<(), steadfast::ConfigError>(())
//! ```
//!
//! As a tower layer:
//!
//! ```
//! use steadfast::breaker::{CircuitBreaker, CircuitBreakerLayer};
//! use steadfast::BoxError;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let breaker = CircuitBreaker::builder().name("payments").build()?;
//! let svc = CircuitBreakerLayer::new(breaker.clone())
//!     .layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x * 2) }));
//! assert_eq!(svc.oneshot(21).await?, 42);
//! # Ok(())
//! # }
//! ```

mod config;
mod future;
mod layer;
mod machine;
mod packed;
mod shards;
mod state;
mod threshold;
mod ticket;
mod window;

use std::fmt;
use std::time::{Duration, Instant};

pub use self::config::{BreakInfo, HalfOpenDecision, MAX_PROBES, TripCheck};

use self::config::{DEFAULT, HalfOpenWait, Settings};
pub use self::future::ResponseFuture;
pub use self::layer::{CircuitBreakerLayer, CircuitBreakerService};
use self::machine::{BreakDuration, OnTransition, StateMachine, Transition};
pub use self::state::{BreakerState, Rejected, Snapshot, TransitionReason};
pub(crate) use self::ticket::Ticket;
pub use self::window::{
    DEFAULT_BUCKETS, MAX_BUCKETS, MAX_WINDOW, MIN_BUCKET, Mark, OutcomeWindow, SlidingWindow, Tally,
};
use crate::classify::Outcome;
use crate::deadline::Now;
pub use crate::error::BreakerOpen;
use crate::error::ConfigError;
use crate::event::{Event, OnEvent};
use crate::sharded_arc::ShardedArc;

/// A circuit breaker. See the [module docs](self).
///
/// # Clone
///
/// A cheap handle: clones share one breaker (one state, one window). Give each guarded
/// dependency its own breaker, and one breaker to every service that calls that dependency.
#[derive(Clone)]
pub struct CircuitBreaker {
    shared: ShardedArc<StateMachine>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl Default for CircuitBreaker {
    /// A breaker with every default (see [`CircuitBreaker::builder`]).
    fn default() -> Self {
        CircuitBreaker {
            shared: ShardedArc::new(StateMachine::new(DEFAULT, None, None, None)),
        }
    }
}

impl CircuitBreaker {
    /// A builder with every default.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            config: DEFAULT,
            name: None,
            hook: None,
            break_duration: None,
        }
    }

    /// Admits a call (a [`Permit`] to record its outcome through), or rejects it. `now` is an
    /// [`Instant`] or a closure reading a clock; it is read only when the breaker is not closed.
    ///
    /// # Errors
    ///
    /// [`Rejected`] while open, forced open, or half-open with every probe slot taken.
    #[inline]
    pub fn try_acquire(&self, now: impl Now) -> Result<Permit<&CircuitBreaker>, Rejected> {
        Permit::acquire(self, now)
    }

    /// Admits a call as [`try_acquire`](Self::try_acquire) does (a timed call starts now),
    /// handing over the ticket alone:
    /// for a holder that keeps the breaker alive by other means (a failover's call holds its
    /// whole shared state, the breakers with it) and so needs no reference of the permit's own.
    /// The holder gives the ticket back to this breaker with [`Permit::resume`], then records,
    /// abandons or drops that permit; a ticket dropped on its own keeps a probe slot taken.
    #[inline(always)]
    pub(crate) fn acquire_ticket(&self, now: impl Now) -> Result<Ticket, Rejected> {
        self.shared.acquire(now, true)
    }

    /// The state as the breaker last recorded it: one load, no clock. The timed transitions
    /// happen when a call (or [`state_at`](Self::state_at), or a snapshot) looks: an open
    /// breaker whose open period has passed still says `Open` here until then, and a half-open
    /// one past its maximum wait `HalfOpen`. For what the next call would find, use
    /// [`state_at`](Self::state_at).
    #[inline]
    pub fn state(&self) -> BreakerState {
        self.shared.state().1
    }

    /// The state the next call would find at `now`: `HalfOpen` once the open period has passed
    /// (probes would be admitted), and, once the half-open maximum wait has passed, where it
    /// leads (`Open`, or `Closed` if so configured). For dashboards and readiness reports
    /// ([`HealthReport`](crate::health::HealthReport) uses it through
    /// [`snapshot`](Self::snapshot)). It changes nothing; it takes the breaker's lock while
    /// open or half-open.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use steadfast::breaker::{BreakerState, CircuitBreaker};
    ///
    /// let breaker = CircuitBreaker::builder().open_duration(Duration::from_secs(30)).build()?;
    /// let t0 = Instant::now();
    /// breaker.open(t0);
    /// assert_eq!(breaker.state_at(t0 + Duration::from_secs(29)), BreakerState::Open);
    /// assert_eq!(breaker.state_at(t0 + Duration::from_secs(30)), BreakerState::HalfOpen);
    /// assert_eq!(breaker.state(), BreakerState::Open, "no call has looked yet");
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn state_at(&self, now: Instant) -> BreakerState {
        self.shared.state_at(now).1
    }

    /// The current state's generation.
    pub fn generation(&self) -> u64 {
        self.shared.state().0
    }

    /// The breaker's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// A consistent view of the state, the window, the probes and the timers at `now`. Its
    /// state is the one the next call would find ([`state_at`](Self::state_at)).
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        self.shared.snapshot(now)
    }

    /// An external sign of health (a passing health check): an open breaker moves to HalfOpen
    /// at once, so probes can confirm the recovery. It never overrides a forced-open breaker,
    /// and does nothing in any other state.
    pub fn signal_healthy(&self, now: Instant) {
        let (generation, state) = self.shared.state();
        if state == BreakerState::Open {
            self.shared.transition(
                generation,
                BreakerState::HalfOpen,
                TransitionReason::HealthSignal,
                now,
            );
        }
    }

    /// Opens the breaker at `now` for its open duration, as if it had tripped (the window is
    /// kept, the consecutive trips grow), from any state; after the open duration it admits
    /// probes as usual.
    pub fn open(&self, now: Instant) {
        self.shared
            .force(BreakerState::Open, TransitionReason::ManualOpen, now);
    }

    /// Moves the breaker to HalfOpen at `now`, from any state: probes are admitted at once, and
    /// decide as usual.
    pub fn half_open(&self, now: Instant) {
        self.shared.force(
            BreakerState::HalfOpen,
            TransitionReason::ManualHalfOpen,
            now,
        );
    }

    /// Opens the breaker until [`reset`](Self::reset), whatever calls and health checks say.
    pub fn force_open(&self) {
        self.manual(BreakerState::ForcedOpen, TransitionReason::ForcedOpen)
    }

    /// Switches the breaker off until [`reset`](Self::reset): it admits every call and records
    /// nothing.
    pub fn disable(&self) {
        self.manual(BreakerState::Disabled, TransitionReason::Disabled)
    }

    /// Closes the breaker with an empty window and the base open duration (ending a forced
    /// open or a disable too). It clears the breaker's own state only: behind a failover, an
    /// endpoint's push-back, failback demotion, health and switch stay as they are.
    pub fn reset(&self) {
        self.manual(BreakerState::Closed, TransitionReason::Reset)
    }

    /// A manual move to a state with no timer: no clock is read.
    fn manual(&self, to: BreakerState, reason: TransitionReason) {
        self.shared.force(to, reason, Instant::now);
    }
}

/// How a permit (and the breaker layer) holds its breaker: an owned [`CircuitBreaker`], or a
/// reference, such as a `&'static CircuitBreaker`.
///
/// The layer's response future holds its permit, and so its breaker, for as long as the call
/// runs, which may be longer than the service that made it (`ServiceExt::oneshot`): it holds
/// what [`for_call`](Self::for_call) gives. For an owned breaker, that is a reference counted on
/// one of 8 cache lines, the calling thread's (the first 8 threads to call each have one of
/// their own), so that calls on different threads do not share one count; a `&'static`
/// reference counts nothing at all.
///
/// # Why `&'static` is worth having
///
/// Counting a reference is two atomic read-modify-writes per call (one when it is taken, one
/// when the call's future drops it), uncontended but not free: on the 2-vCPU machine of the
/// README's tables, a closed call through the layer took 43 ns (CPU time) with an owned
/// breaker and 20 ns with a `&'static` one, flat from one thread to two in both cases. Safe
/// Rust has no cheaper way for a call that may outlive its service to keep the breaker alive,
/// so a breaker built once for the life of the process (the usual case) is best leaked once
/// (`Box::leak`) and shared as `&'static CircuitBreaker`.
pub trait BreakerRef {
    /// The breaker.
    fn breaker(&self) -> &CircuitBreaker;

    /// What one call holds: a clone unless the implementation knows a cheaper way to keep the
    /// breaker for the call.
    #[inline]
    fn for_call(&self) -> Self
    where
        Self: Sized + Clone,
    {
        self.clone()
    }
}

impl BreakerRef for CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }

    /// A clone counted on the calling thread's own shard of the breaker's reference count.
    #[inline]
    fn for_call(&self) -> Self {
        CircuitBreaker {
            shared: self.shared.lease(),
        }
    }
}

impl BreakerRef for &CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }
}

/// Admission to one call: record its outcome with [`record`](Self::record). Dropping it unused
/// gives a half-open probe slot back.
#[must_use = "a permit records the call's outcome; drop it only if the call was not made"]
pub struct Permit<B: BreakerRef> {
    breaker: B,
    /// Spent once recorded or abandoned: dropping it then gives nothing back.
    ticket: Ticket,
}

impl<B: BreakerRef> Permit<B> {
    /// Admits a call on `breaker`, or rejects it (see [`CircuitBreaker::try_acquire`]).
    ///
    /// # Errors
    ///
    /// [`Rejected`] while open, forced open, or half-open with every probe slot taken.
    #[inline(always)]
    pub fn acquire(breaker: B, now: impl Now) -> Result<Self, Rejected> {
        Self::admit(breaker, now, true)
    }

    /// Like [`acquire`](Self::acquire), but a timed call starts only at [`begin`](Self::begin)
    /// (the layer admits in `poll_ready` and calls later).
    #[inline(always)]
    pub(crate) fn admit(breaker: B, now: impl Now, timed: bool) -> Result<Self, Rejected> {
        let ticket = breaker.breaker().shared.acquire(now, timed)?;
        Ok(Permit { breaker, ticket })
    }

    /// Like [`admit`](Self::admit), holding the breaker as a call does
    /// ([`BreakerRef::for_call`]), taken only once the call is admitted.
    #[inline(always)]
    pub(crate) fn admit_call(breaker: &B, now: impl Now, timed: bool) -> Result<Self, Rejected>
    where
        B: Clone,
    {
        let ticket = breaker.breaker().shared.acquire(now, timed)?;
        Ok(Permit {
            breaker: breaker.for_call(),
            ticket,
        })
    }

    /// The permit of a ticket from [`CircuitBreaker::acquire_ticket`] on `breaker`.
    #[inline(always)]
    pub(crate) fn resume(breaker: B, ticket: Ticket) -> Self {
        Permit { breaker, ticket }
    }

    /// Starts timing the call now (slow-call tracking on; otherwise `now` is not read).
    #[inline]
    pub(crate) fn begin(&mut self, now: impl Now) {
        self.breaker.breaker().shared.begin(&mut self.ticket, now);
    }

    /// The generation the permit was issued in.
    pub fn generation(&self) -> u64 {
        self.ticket.generation()
    }

    /// Whether the permit holds a half-open probe slot.
    pub fn is_probe(&self) -> bool {
        self.ticket.is_probe()
    }

    /// Whether the call is timed (slow-call tracking on, and the call started).
    #[inline]
    pub(crate) fn is_timed(&self) -> bool {
        self.ticket.is_timed()
    }

    /// Records the call's outcome. `now` is read only if the outcome may change the state, to
    /// time the call (slow-call tracking on), or cheaply ([`Now::recent`]) to place it in a
    /// time window.
    #[inline(always)]
    pub fn record(mut self, outcome: &Outcome, now: impl Now) {
        let ticket = self.ticket;
        self.ticket = ticket.spent();
        self.breaker.breaker().shared.record(ticket, outcome, now);
    }

    /// The caller gave up on the call at `now` (its future was dropped, or it was cut by a
    /// timeout of the caller's, not one that produced an outcome). If the call had already run
    /// longer than the slow-call threshold, it counts as a slow call, neither a success nor a
    /// failure (a slow probe opens the breaker again); otherwise this is the same as dropping
    /// the permit unused, which gives a probe slot back. `now` is read only with slow-call
    /// tracking on.
    ///
    /// Dropping a permit cannot tell how long its call ran (the breaker reads no clock of its
    /// own), so code that drives the permit API and may be cancelled calls this from its
    /// cancellation path, as the layer's response future does when it is dropped.
    #[inline]
    pub fn abandon(mut self, now: impl Now) {
        let ticket = self.ticket;
        self.ticket = ticket.spent();
        self.breaker.breaker().shared.abandon(ticket, now);
    }
}

impl<B: BreakerRef> Drop for Permit<B> {
    #[inline]
    fn drop(&mut self) {
        self.breaker.breaker().shared.release(self.ticket);
    }
}

impl<B: BreakerRef> fmt::Debug for Permit<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("generation", &self.generation())
            .field("probe", &self.is_probe())
            .finish()
    }
}

/// Builds a [`CircuitBreaker`]; every setter documents its default.
pub struct CircuitBreakerBuilder {
    config: Settings,
    name: Option<Box<str>>,
    hook: Option<Box<dyn OnEvent + Send + Sync>>,
    break_duration: Option<BreakDuration>,
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("config", &self.config)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerBuilder {
    /// Trip when at least this share of the calls in the window failed, in (0, 1], rounded to
    /// the nearest basis point (0.01 %) and compared exactly: `0.07` trips at 7 failures of
    /// 100. `None` turns the rule off. Default 0.5.
    pub fn failure_rate(mut self, rate: impl Into<Option<f64>>) -> Self {
        self.config.failure_rate = rate.into();
        self
    }

    /// When the trip rules are evaluated: after every counted outcome (the default, as
    /// resilience4j and failsafe do), or only when a failure is recorded
    /// ([`TripCheck::OnFailure`], as Polly does). Default [`TripCheck::EveryOutcome`].
    pub fn trip_check(mut self, check: TripCheck) -> Self {
        self.config.trip_check = check;
        self
    }

    /// How many of the most recent counted calls the failure rate is computed over: the same
    /// as `sliding_window(SlidingWindow::Calls(calls))`. Default 100.
    pub fn window(mut self, calls: u32) -> Self {
        self.config.window = SlidingWindow::Calls(calls);
        self
    }

    /// What the failure rate (and the slow-call rate) is computed over: the last `n` counted
    /// calls, or the calls of the last `T` in `B` buckets. Default: the last 100 calls.
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.config.window = window;
        self
    }

    /// Compute the rates over the calls of the last `length`, in 10 buckets: the same as
    /// `sliding_window(SlidingWindow::time(length))`. [`SlidingWindow::DEFAULT_TIME`] is 60 s.
    /// Default: a count window.
    pub fn time_window(self, length: Duration) -> Self {
        self.sliding_window(SlidingWindow::time(length))
    }

    /// Count a call slower than `threshold` (strictly) as slow, and trip when the share of slow
    /// calls in the window reaches the slow-call rate. Calls are then timed: from admission to
    /// [`Permit::record`] (through the layer, from `call` to the response), one clock read at
    /// each end. A call given up by its caller after running longer than the threshold counts
    /// as slow too ([`Permit::abandon`]); a slow probe opens the breaker again. Default: off.
    pub fn slow_call_duration(mut self, threshold: Duration) -> Self {
        self.config.slow_call_duration = Some(threshold);
        self
    }

    /// Trip when at least this share of the calls in the window were slow, in (0, 1] (slow-call
    /// tracking on), rounded to the nearest basis point and compared exactly, as the failure
    /// rate. Default 1.0: every call in the window.
    pub fn slow_call_rate(mut self, rate: f64) -> Self {
        self.config.slow_call_rate = rate;
        self
    }

    /// The rates are evaluated once the window holds this many calls. Default 20.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// Trip after this many failures in a row; `None` turns the rule off. Default 5.
    pub fn consecutive_failures(mut self, failures: impl Into<Option<u32>>) -> Self {
        self.config.consecutive_failures = failures.into();
        self
    }

    /// How long the breaker stays open before admitting probes (the base, when it grows), at
    /// most [`MAX_DURATION`](crate::MAX_DURATION). Zero probes at once: the next call after a
    /// trip is a probe. Default 30 s.
    pub fn open_duration(mut self, duration: Duration) -> Self {
        self.config.open_duration = duration;
        self
    }

    /// Compute the open duration of each trip (as Polly's `BreakDurationGenerator`) from the
    /// consecutive trips without closing and the window when it tripped ([`BreakInfo`]); a
    /// result above [`MAX_DURATION`](crate::MAX_DURATION) is cut to it. It replaces the open
    /// duration and its growth; the half-open maximum wait still defaults to the base
    /// [`open_duration`](Self::open_duration). The function runs under the breaker's lock, on
    /// every trip (and when [`state_at`](CircuitBreaker::state_at) or a snapshot previews a
    /// half-open breaker past its maximum wait): keep it short, and never call the breaker from
    /// it. Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::breaker::CircuitBreaker;
    ///
    /// // 10 s, 20 s, 30 s, ... up to 2 minutes.
    /// let breaker = CircuitBreaker::builder()
    ///     .open_duration_with(|b| Duration::from_secs(10 * u64::from(b.trips.min(12))))
    ///     .build()?;
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn open_duration_with(
        mut self,
        f: impl Fn(&BreakInfo) -> Duration + Send + Sync + 'static,
    ) -> Self {
        self.break_duration = Some(Box::new(f));
        self
    }

    /// Grow the open duration by `factor` on every consecutive trip (without closing in
    /// between), up to `max`; it returns to its base when the breaker closes. `max` must be at
    /// least the open duration, whichever setter is called first ([`build`](Self::build)
    /// checks), and at most [`MAX_DURATION`](crate::MAX_DURATION). Default: no growth.
    pub fn open_growth(mut self, factor: f64, max: Duration) -> Self {
        self.config.open_growth = factor;
        self.config.max_open_duration = Some(max);
        self
    }

    /// How many probe calls a half-open breaker admits at once (deciding by
    /// [`HalfOpenDecision::Rates`]: in all). Default 3.
    pub fn probes(mut self, probes: u32) -> Self {
        self.config.probes = probes;
        self
    }

    /// How many probes must succeed for the breaker to close. Default 3.
    pub fn required_successes(mut self, successes: u32) -> Self {
        self.config.required_successes = successes;
        self
    }

    /// How many failed (or slow) probes open the breaker again, in one half-open period
    /// (failsafe's failure threshold in half-open). Default 1: the first.
    pub fn probe_failures(mut self, failures: u32) -> Self {
        self.config.probe_failures = failures;
        self
    }

    /// How a half-open breaker decides: by counts of successes and failures (the default), or
    /// by the rates among a fixed number of probes ([`HalfOpenDecision::Rates`], as
    /// resilience4j). Default [`HalfOpenDecision::Counts`].
    pub fn half_open_decision(mut self, decision: HalfOpenDecision) -> Self {
        self.config.half_open_decision = decision;
        self
    }

    /// The longest a breaker stays half-open waiting for its probes; then it opens again (or
    /// closes, see [`after_half_open_max_wait`](Self::after_half_open_max_wait)). `None`: no
    /// limit, the probes alone decide (as resilience4j by default, and Polly). Default: the
    /// base open duration (no limit when that is zero).
    pub fn half_open_max_wait(mut self, wait: impl Into<Option<Duration>>) -> Self {
        self.config.half_open_max_wait = match wait.into() {
            Some(wait) => HalfOpenWait::After(wait),
            None => HalfOpenWait::Unlimited,
        };
        self
    }

    /// Where the half-open maximum wait leads: [`BreakerState::Open`] (the default) or
    /// [`BreakerState::Closed`] (resilience4j's `transitionToStateAfterWaitDuration`).
    /// [`build`](Self::build) refuses any other state. Default `Open`.
    pub fn after_half_open_max_wait(mut self, state: BreakerState) -> Self {
        self.config.after_half_open_max_wait = state;
        self
    }

    /// While half-open with every probe slot taken, grant one more probe when the newest one
    /// has been in flight longer than `after` (Polly's: a probe that hangs does not hold the
    /// breaker half-open). The extra probe counts as any other. Default: off.
    pub fn probe_renewal(mut self, after: Duration) -> Self {
        self.config.probe_renewal = Some(after);
        self
    }

    /// Count `Rejected` outcomes (a 404: the dependency answered) as successes rather than
    /// ignoring them. Default: ignored.
    pub fn rejected_counts_as_success(mut self, yes: bool) -> Self {
        self.config.rejected_counts_as_success = yes;
        self
    }

    /// A name for events and debugging, such as the dependency's: not empty, and without
    /// leading or trailing whitespace ([`build`](Self::build) checks). Default: none.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// The name given so far, if any.
    pub(crate) fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The hook that receives every transition as an [`Event::BreakerTransition`]. Transitions
    /// are rare, so the hook is stored boxed. Default: none.
    pub fn on_event(mut self, hook: impl OnEvent + Send + Sync + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// The breaker, closed.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] unless: the rates are in (0, 1] and at least one basis point (0.0001);
    /// a count window holds between 1 and
    /// [`MAX_WINDOW`] calls and at least the minimum number of calls, which is at least 1; a
    /// time window has between 1 and [`MAX_BUCKETS`] buckets of at least [`MIN_BUCKET`] each;
    /// the consecutive-failure limit, if any, is at least 1; durations are at most
    /// [`MAX_DURATION`](crate::MAX_DURATION), more than zero (but for the open duration), and
    /// the maximum open duration at least the open duration (whatever the order of the
    /// setters); the growth factor is finite and at least 1; 65535 ≥ probes ≥ required
    /// successes ≥ 1, and 65535 ≥ probe failures ≥ 1; the half-open maximum wait leads to Open
    /// or Closed; a name, if given, is not empty and has no leading or trailing whitespace.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.config.validate()?;
        if let Some(name) = &self.name {
            ConfigError::check_name("breaker name", name)?;
        }
        Ok(CircuitBreaker {
            shared: ShardedArc::new(StateMachine::new(
                self.config,
                self.name.clone(),
                self.hook.map(|hook| transition_events(hook, self.name)),
                self.break_duration,
            )),
        })
    }
}

/// Reports each transition of breaker `name` to `hook` as an
/// [`Event::BreakerTransition`]: the one place a breaker's transitions become events.
fn transition_events(hook: Box<dyn OnEvent + Send + Sync>, name: Option<Box<str>>) -> OnTransition {
    Box::new(move |t: &Transition| {
        hook.on_event(&Event::BreakerTransition {
            breaker: name.as_deref(),
            from: t.from,
            to: t.to,
            reason: t.reason,
            generation: t.generation,
        });
    })
}
