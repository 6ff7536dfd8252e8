//! A model-based property test of the breaker's permit API.
//!
//! [`Model`] is a deliberately simple reference written from the breaker's documented rules (not
//! from the implementation): Closed admits every call and opens when a trip rule fires (consecutive
//! failures; a failure rate or a slow-call rate over a count or time window holding at least
//! `minimum_calls`), after every outcome or only after failures; Open admits nothing until its
//! open duration (fixed, growing with consecutive trips up to a maximum, zero, or computed) has
//! passed or a health pass arrives; HalfOpen admits up to `probes` calls at once (one more when a
//! probe has been in flight longer than the renewal time), and either closes after
//! `required_successes` successful probes and reopens after `probe_failures` failed or slow ones,
//! or, deciding by rates, waits for all `probes` and compares their failure and slow rates with
//! the thresholds; its maximum wait (off, or leading to Open or Closed) ends it; every transition
//! starts a new generation, and an outcome recorded with a permit from an older generation is
//! ignored; a dropped permit gives its probe slot back and records nothing.
//!
//! The model is a plain state enum, a generation, a `VecDeque` of every counted outcome with its
//! instant (the window is what a count or a time rule keeps of it), a consecutive-failure counter,
//! the number of consecutive trips, the open and half-open timers as offsets from a fixed `t0`,
//! the probes in flight, succeeded and failed, and the outstanding permits with their start.
//! Thresholds are whole basis points and every rate rule is compared in integers
//! (`part · 10 000 ≥ points · whole`), independently of how the breaker computes it. Arbitrary
//! interleavings of `Acquire`, `Complete`, `Drop`, `Abandon`, `Advance`, manual operations (timed
//! ones too) and `HealthPass` run against both, with a count or a time window, slow-call tracking
//! on or off, and every knob; after every step they must agree on the admission decision (with
//! `retry_in`), the permit's generation and probe flag, the state (as recorded, and as the next
//! call would find it), the generation, the snapshot's counts, rates, probes, rejections and
//! timers, and the transitions reported to the hook.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use steadfast::Outcome;
use steadfast::breaker::{
    BreakerState, CircuitBreaker, HalfOpenDecision, Permit, Rejected, SlidingWindow, Snapshot,
    TransitionReason, TripCheck,
};
use steadfast::event::Event;

// ---------------------------------------------------------------- operations

/// What a completed call answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Success,
    Failed,
    Timeout,
    NotSent,
    Throttled,
    Rejected,
    Local,
}

impl Kind {
    fn outcome(self) -> Outcome {
        match self {
            Kind::Success => Outcome::Success,
            Kind::Failed => Outcome::failed(),
            Kind::Timeout => Outcome::timeout(),
            Kind::NotSent => Outcome::not_sent(),
            Kind::Throttled => Outcome::throttled(None),
            Kind::Rejected => Outcome::Rejected,
            Kind::Local => Outcome::Local,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `try_acquire(now)`, keeping the permit under this id (nothing if the id holds one).
    Acquire(u8),
    /// Record an outcome through the permit held under this id (nothing if none).
    Complete(u8, Kind),
    /// Drop the permit held under this id unused (nothing if none).
    Drop(u8),
    /// The caller gives up on the call of this id: `abandon(now)` (nothing if none).
    Abandon(u8),
    /// Move the virtual clock forward by this many milliseconds.
    Advance(u64),
    ForceOpen,
    Disable,
    Reset,
    /// `open(now)`: timed, as if tripped.
    ManualOpen,
    /// `half_open(now)`.
    ManualHalfOpen,
    /// `signal_healthy(now)`.
    HealthPass,
}

/// Basis points in a whole.
const WHOLE: u64 = 10_000;

/// Whether `part` of `whole` reaches `points` basis points, in integers.
fn reaches(points: u32, part: u32, whole: u32) -> bool {
    whole > 0 && u64::from(part) * WHOLE >= u64::from(points) * u64::from(whole)
}

/// A threshold in basis points as the builder takes it.
fn share(points: u32) -> f64 {
    f64::from(points) / WHOLE as f64
}

/// A small configuration; every duration is a whole number of milliseconds.
#[derive(Debug, Clone, PartialEq)]
struct Cfg {
    /// The failure-rate threshold in basis points; `None`: the rule is off.
    failure_rate: Option<u32>,
    window: u32,
    /// A time window instead: (length in ms, buckets).
    time_window: Option<(u64, u32)>,
    /// Slow-call tracking: (threshold in ms, rate in basis points).
    slow: Option<(u64, u32)>,
    minimum_calls: u32,
    consecutive: Option<u32>,
    /// 0 probes at once.
    open_secs: u64,
    /// 1.0 or 2.0; the maximum open duration is four times the base.
    growth: f64,
    probes: u32,
    required: u32,
    half_open_max_wait_ms: Option<u64>,
    /// No half-open maximum wait at all.
    unlimited_wait: bool,
    /// The maximum wait leads to Closed rather than Open.
    wait_closes: bool,
    rejected_counts_as_success: bool,
    /// Trip rules evaluated only on failures (Polly).
    on_failure_only: bool,
    /// Failed probes that reopen (counts decision).
    probe_failures: u32,
    /// Decide half-open by the rates among `probes` probes (resilience4j).
    by_rates: bool,
    /// Probe renewal, in ms.
    renewal_ms: Option<u64>,
    /// Open durations computed per trip (700 ms times the trip, up to 5) instead of the base
    /// and its growth.
    computed_open: bool,
}

impl Cfg {
    fn base(&self) -> Duration {
        Duration::from_secs(self.open_secs)
    }

    fn max_open(&self) -> Duration {
        self.base() * 4
    }

    /// The open duration of the `k`-th consecutive trip (from 1): min(max, base · growthᵏ⁻¹).
    fn open_for(&self, k: u32) -> Duration {
        if self.computed_open {
            return Duration::from_millis(700) * k.min(5);
        }
        let mut d = self.base();
        for _ in 1..k {
            if d >= self.max_open() {
                break;
            }
            d *= self.growth as u32;
        }
        d.min(self.max_open())
    }

    fn half_open_max_wait(&self) -> Option<Duration> {
        if self.unlimited_wait {
            return None;
        }
        match self.half_open_max_wait_ms {
            Some(ms) => Some(Duration::from_millis(ms)),
            None => (self.open_secs > 0).then(|| self.base()),
        }
    }

    /// A time window's bucket length.
    fn bucket(&self) -> Option<Duration> {
        self.time_window
            .map(|(ms, buckets)| Duration::from_millis(ms) / buckets)
    }

    fn breaker(&self, events: Arc<Mutex<Vec<Transition>>>) -> CircuitBreaker {
        let mut b = CircuitBreaker::builder()
            .name("model")
            .failure_rate(self.failure_rate.map(share))
            .window(self.window)
            .minimum_calls(self.minimum_calls)
            .consecutive_failures(self.consecutive)
            .open_duration(self.base())
            .open_growth(self.growth, self.max_open())
            .probes(self.probes)
            .required_successes(self.required)
            .probe_failures(self.probe_failures)
            .rejected_counts_as_success(self.rejected_counts_as_success)
            .trip_check(if self.on_failure_only {
                TripCheck::OnFailure
            } else {
                TripCheck::EveryOutcome
            })
            .half_open_decision(if self.by_rates {
                HalfOpenDecision::Rates
            } else {
                HalfOpenDecision::Counts
            })
            .on_event(move |e: &Event<'_>| {
                if let Event::BreakerTransition {
                    from,
                    to,
                    reason,
                    generation,
                    ..
                } = e
                {
                    events
                        .lock()
                        .unwrap()
                        .push((*from, *to, *reason, *generation));
                }
            });
        if let Some(ms) = self.half_open_max_wait_ms {
            b = b.half_open_max_wait(Duration::from_millis(ms));
        }
        if self.unlimited_wait {
            b = b.half_open_max_wait(None);
        }
        if self.wait_closes {
            b = b.after_half_open_max_wait(BreakerState::Closed);
        }
        if let Some(ms) = self.renewal_ms {
            b = b.probe_renewal(Duration::from_millis(ms));
        }
        if self.computed_open {
            b = b.open_duration_with(|info| Duration::from_millis(700) * info.trips.min(5));
        }
        if let Some((ms, buckets)) = self.time_window {
            b = b.sliding_window(SlidingWindow::Time {
                length: Duration::from_millis(ms),
                buckets,
            });
        }
        if let Some((ms, rate)) = self.slow {
            b = b
                .slow_call_duration(Duration::from_millis(ms))
                .slow_call_rate(share(rate));
        }
        b.build().expect("a valid configuration")
    }
}

/// (from, to, reason, generation of the new state).
type Transition = (BreakerState, BreakerState, TransitionReason, u64);

/// A permit in the model: (generation, is a probe, when its call started).
type Ticket = (u64, bool, Duration);

// ---------------------------------------------------------------- the reference model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Success,
    Failure,
    Ignored,
}

/// Counts of interesting things the generated sequences reached, summed over every case, so
/// that the test fails if the generator stops exercising them.
#[derive(Default)]
struct Coverage {
    stale_success_in_half_open: AtomicU64,
    stale_probe_outcome: AtomicU64,
    closed_by_probes: AtomicU64,
    probe_timeouts: AtomicU64,
    grown_trips: AtomicU64,
    rate_trips: AtomicU64,
    rate_trips_by_success: AtomicU64,
    consecutive_trips: AtomicU64,
    half_open_full: AtomicU64,
    slot_freed_by_drop: AtomicU64,
    health_signals: AtomicU64,
    forced_open_rejections: AtomicU64,
    unrecorded_while_disabled: AtomicU64,
    slow_rate_trips: AtomicU64,
    slow_probes: AtomicU64,
    abandoned_slow: AtomicU64,
    expired_by_time: AtomicU64,
    renewed_probes: AtomicU64,
    decided_by_rates: AtomicU64,
    closed_by_max_wait: AtomicU64,
    reopened_after_failed_probes: AtomicU64,
    manual_opens: AtomicU64,
    manual_half_opens: AtomicU64,
    probes_at_once: AtomicU64,
    computed_opens: AtomicU64,
    probe_slot_times: AtomicU64,
    success_not_evaluated: AtomicU64,
}

impl Coverage {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

static COVERAGE: Coverage = Coverage {
    stale_success_in_half_open: AtomicU64::new(0),
    stale_probe_outcome: AtomicU64::new(0),
    closed_by_probes: AtomicU64::new(0),
    probe_timeouts: AtomicU64::new(0),
    grown_trips: AtomicU64::new(0),
    rate_trips: AtomicU64::new(0),
    rate_trips_by_success: AtomicU64::new(0),
    consecutive_trips: AtomicU64::new(0),
    half_open_full: AtomicU64::new(0),
    slot_freed_by_drop: AtomicU64::new(0),
    health_signals: AtomicU64::new(0),
    forced_open_rejections: AtomicU64::new(0),
    unrecorded_while_disabled: AtomicU64::new(0),
    slow_rate_trips: AtomicU64::new(0),
    slow_probes: AtomicU64::new(0),
    abandoned_slow: AtomicU64::new(0),
    expired_by_time: AtomicU64::new(0),
    renewed_probes: AtomicU64::new(0),
    decided_by_rates: AtomicU64::new(0),
    closed_by_max_wait: AtomicU64::new(0),
    reopened_after_failed_probes: AtomicU64::new(0),
    manual_opens: AtomicU64::new(0),
    manual_half_opens: AtomicU64::new(0),
    probes_at_once: AtomicU64::new(0),
    computed_opens: AtomicU64::new(0),
    probe_slot_times: AtomicU64::new(0),
    success_not_evaluated: AtomicU64::new(0),
};

#[derive(Debug)]
struct Model {
    cfg: Cfg,
    state: BreakerState,
    generation: u64,
    /// The counted outcomes still in the window, oldest first: (when, a failure, slow).
    window: VecDeque<(Duration, bool, bool)>,
    consecutive: u32,
    /// Trips since the breaker last closed.
    trips: u32,
    /// Open: when probes may start (offset from `t0`).
    open_until: Duration,
    /// HalfOpen: when it began (offset from `t0`).
    half_open_since: Duration,
    /// HalfOpen: probes of the current generation in flight, how many succeeded, how many
    /// failed or were slow, and among those the slow ones that did not fail and that did.
    in_flight: u32,
    successes: u32,
    failed: u32,
    slow_probe_successes: u32,
    slow_probe_failures: u32,
    /// HalfOpen, probe renewal on: when one more probe may be granted (after the first probe).
    renew_at: Option<Duration>,
    /// Every rejection so far.
    rejected: u64,
    /// Outstanding permits: id → (generation, is a probe, when the call started).
    permits: BTreeMap<u8, Ticket>,
    /// Transitions so far.
    events: Vec<Transition>,
}

impl Model {
    fn new(cfg: Cfg) -> Self {
        Model {
            cfg,
            state: BreakerState::Closed,
            generation: 0,
            window: VecDeque::new(),
            consecutive: 0,
            trips: 0,
            open_until: Duration::ZERO,
            half_open_since: Duration::ZERO,
            in_flight: 0,
            successes: 0,
            failed: 0,
            slow_probe_successes: 0,
            slow_probe_failures: 0,
            renew_at: None,
            rejected: 0,
            permits: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    fn effect(&self, kind: Kind) -> Effect {
        match kind {
            Kind::Success => Effect::Success,
            Kind::Failed | Kind::Timeout | Kind::NotSent => Effect::Failure,
            Kind::Rejected if self.cfg.rejected_counts_as_success => Effect::Success,
            Kind::Rejected | Kind::Throttled | Kind::Local => Effect::Ignored,
        }
    }

    fn calls(&self) -> u32 {
        self.window.len() as u32
    }

    fn failures(&self) -> u32 {
        self.window.iter().filter(|o| o.1).count() as u32
    }

    fn slow_calls(&self) -> u32 {
        self.window.iter().filter(|o| o.2).count() as u32
    }

    fn slow_failures(&self) -> u32 {
        self.window.iter().filter(|o| o.1 && o.2).count() as u32
    }

    /// HalfOpen: probes admitted (in flight, succeeded or failed).
    fn admitted(&self) -> u32 {
        self.in_flight + self.successes + self.failed
    }

    /// Whether a half-open period begun at `half_open_since` has outlasted its maximum wait.
    fn timed_out(&self, now: Duration) -> bool {
        self.cfg
            .half_open_max_wait()
            .is_some_and(|wait| now - self.half_open_since > wait)
    }

    /// What the next call at `now` would find, and the time until probes if that is Open.
    fn ahead(&self, now: Duration) -> (BreakerState, Option<Duration>) {
        match self.state {
            BreakerState::Open if now >= self.open_until => (BreakerState::HalfOpen, None),
            BreakerState::Open => (BreakerState::Open, Some(self.open_until - now)),
            BreakerState::HalfOpen if self.timed_out(now) => {
                if self.cfg.wait_closes {
                    (BreakerState::Closed, None)
                } else {
                    let open_for = self.cfg.open_for(self.trips + 1);
                    if open_for.is_zero() {
                        (BreakerState::HalfOpen, None)
                    } else {
                        (BreakerState::Open, Some(open_for))
                    }
                }
            }
            other => (other, None),
        }
    }

    /// Time moves a time window on: outcomes of the buckets before the last `buckets` leave.
    fn expire(&mut self, now: Duration) {
        if let (Some(bucket), Some((_, buckets))) = (self.cfg.bucket(), self.cfg.time_window) {
            let current = now.as_nanos() / bucket.as_nanos();
            let before = self.window.len();
            self.window
                .retain(|o| o.0.as_nanos() / bucket.as_nanos() + u128::from(buckets) > current);
            if self.window.len() < before {
                Coverage::bump(&COVERAGE.expired_by_time);
            }
        }
    }

    /// Whether a call that started at `start` and ended at `now` was slow.
    fn slow(&self, start: Duration, now: Duration) -> bool {
        self.cfg
            .slow
            .is_some_and(|(ms, _)| now - start > Duration::from_millis(ms))
    }

    /// Every transition: one generation further, and what the new state starts with.
    fn enter(&mut self, to: BreakerState, reason: TransitionReason, now: Duration) {
        let from = self.state;
        self.generation += 1;
        self.state = to;
        match to {
            BreakerState::Open => {
                self.trips += 1;
                if self.trips > 1 && self.cfg.growth > 1.0 {
                    Coverage::bump(&COVERAGE.grown_trips);
                }
                if self.cfg.computed_open {
                    Coverage::bump(&COVERAGE.computed_opens);
                }
                self.open_until = now + self.cfg.open_for(self.trips);
            }
            BreakerState::HalfOpen => {
                self.half_open_since = now;
                self.in_flight = 0;
                self.successes = 0;
                self.failed = 0;
                self.slow_probe_successes = 0;
                self.slow_probe_failures = 0;
                self.renew_at = None;
            }
            BreakerState::Closed => {
                self.trips = 0;
                self.window.clear();
                self.consecutive = 0;
            }
            BreakerState::ForcedOpen | BreakerState::Disabled => {
                self.window.clear();
                self.consecutive = 0;
            }
        }
        self.events.push((from, to, reason, self.generation));
    }

    /// `Ok((generation, is a probe, start))`, or `Err(retry_in)`.
    fn acquire(&mut self, now: Duration) -> Result<Ticket, Option<Duration>> {
        let admitted = self.admit(now);
        if admitted.is_err() {
            self.rejected += 1;
        }
        admitted
    }

    fn admit(&mut self, now: Duration) -> Result<Ticket, Option<Duration>> {
        loop {
            match self.state {
                BreakerState::Open if now < self.open_until => {
                    return Err(Some(self.open_until - now));
                }
                BreakerState::Open => {
                    if self.cfg.open_secs == 0 {
                        Coverage::bump(&COVERAGE.probes_at_once);
                    }
                    self.enter(BreakerState::HalfOpen, TransitionReason::OpenElapsed, now);
                }
                BreakerState::Closed | BreakerState::Disabled => {
                    return Ok((self.generation, false, now));
                }
                BreakerState::ForcedOpen => {
                    Coverage::bump(&COVERAGE.forced_open_rejections);
                    return Err(None);
                }
                BreakerState::HalfOpen if self.timed_out(now) => {
                    Coverage::bump(&COVERAGE.probe_timeouts);
                    if self.cfg.wait_closes {
                        Coverage::bump(&COVERAGE.closed_by_max_wait);
                        self.enter(BreakerState::Closed, TransitionReason::ProbeTimeout, now);
                    } else {
                        self.enter(BreakerState::Open, TransitionReason::ProbeTimeout, now);
                    }
                }
                BreakerState::HalfOpen => return self.take_probe(now),
            }
        }
    }

    fn take_probe(&mut self, now: Duration) -> Result<Ticket, Option<Duration>> {
        let free = if self.cfg.by_rates {
            self.admitted() < self.cfg.probes
        } else {
            self.in_flight < self.cfg.probes
        };
        let renewed = !free && self.renew_at.is_some_and(|at| now >= at);
        if self.cfg.by_rates && !free && self.in_flight == 0 {
            // Every probe is in (a renewed one was given back): this call decides.
            self.decide(now);
            return self.admit(now);
        }
        if free || renewed {
            if renewed {
                Coverage::bump(&COVERAGE.renewed_probes);
            }
            self.in_flight += 1;
            if let Some(ms) = self.cfg.renewal_ms {
                self.renew_at = Some(now + Duration::from_millis(ms));
            }
            return Ok((self.generation, true, now));
        }
        Coverage::bump(&COVERAGE.half_open_full);
        Err(self.slot_free_in(now))
    }

    /// Whether every probe slot is taken: a call now would be rejected.
    fn slots_taken(&self) -> bool {
        if self.cfg.by_rates {
            self.in_flight > 0 && self.admitted() >= self.cfg.probes
        } else {
            self.in_flight >= self.cfg.probes
        }
    }

    /// Every probe slot taken: how long until a call is admitted without a probe finishing.
    fn slot_free_in(&self, now: Duration) -> Option<Duration> {
        // Only a wait that closes the breaker admits a call when it ends.
        let timeout = self
            .cfg
            .half_open_max_wait()
            .filter(|_| self.cfg.wait_closes)
            .map(|wait| self.half_open_since + wait + Duration::from_nanos(1));
        let next = match (self.renew_at, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|at| at.saturating_sub(now))
    }

    /// Deciding by rates, every probe is in: the closed state's thresholds among them.
    fn decide(&mut self, now: Duration) {
        Coverage::bump(&COVERAGE.decided_by_rates);
        let whole = self.successes + self.failed;
        let failures = self.failed - self.slow_probe_successes;
        let slow = self.slow_probe_successes + self.slow_probe_failures;
        if self
            .cfg
            .failure_rate
            .is_some_and(|points| reaches(points, failures, whole))
        {
            self.enter(BreakerState::Open, TransitionReason::ProbeFailed, now);
        } else if self
            .cfg
            .slow
            .is_some_and(|(_, points)| reaches(points, slow, whole))
        {
            self.enter(BreakerState::Open, TransitionReason::SlowProbe, now);
        } else {
            Coverage::bump(&COVERAGE.closed_by_probes);
            self.enter(BreakerState::Closed, TransitionReason::ProbesSucceeded, now);
        }
    }

    /// A probe's outcome: a success, or a failed or slow probe.
    fn probe_outcome(&mut self, failure: bool, slow: bool, now: Duration) {
        self.in_flight -= 1;
        let failed = failure || slow;
        if failed {
            self.failed += 1;
            if slow {
                Coverage::bump(&COVERAGE.slow_probes);
                if failure {
                    self.slow_probe_failures += 1;
                } else {
                    self.slow_probe_successes += 1;
                }
            }
        } else {
            self.successes += 1;
        }
        if self.cfg.by_rates {
            if self.in_flight == 0 && self.admitted() >= self.cfg.probes {
                self.decide(now);
            }
        } else if failed && self.failed >= self.cfg.probe_failures {
            if self.failed > 1 {
                Coverage::bump(&COVERAGE.reopened_after_failed_probes);
            }
            let reason = if failure {
                TransitionReason::ProbeFailed
            } else {
                TransitionReason::SlowProbe
            };
            self.enter(BreakerState::Open, reason, now);
        } else if !failed && self.successes >= self.cfg.required {
            Coverage::bump(&COVERAGE.closed_by_probes);
            self.enter(BreakerState::Closed, TransitionReason::ProbesSucceeded, now);
        }
    }

    fn rate_reached(&self) -> bool {
        let calls = self.calls();
        calls >= self.cfg.minimum_calls
            && self
                .cfg
                .failure_rate
                .is_some_and(|points| reaches(points, self.failures(), calls))
    }

    fn slow_rate_reached(&self) -> bool {
        let calls = self.calls();
        calls >= self.cfg.minimum_calls
            && self
                .cfg
                .slow
                .is_some_and(|(_, points)| reaches(points, self.slow_calls(), calls))
    }

    fn push(&mut self, now: Duration, failure: bool, slow: bool) {
        self.expire(now);
        self.window.push_back((now, failure, slow));
        if self.cfg.time_window.is_none() {
            while self.window.len() > self.cfg.window as usize {
                self.window.pop_front();
            }
        }
    }

    /// After a counted call in the closed state: the failure rate, then the slow-call rate.
    fn evaluate(&mut self, now: Duration) -> bool {
        if self.rate_reached() {
            Coverage::bump(&COVERAGE.rate_trips);
            self.enter(BreakerState::Open, TransitionReason::FailureRate, now);
            true
        } else if self.slow_rate_reached() {
            Coverage::bump(&COVERAGE.slow_rate_trips);
            self.enter(BreakerState::Open, TransitionReason::SlowCallRate, now);
            true
        } else {
            false
        }
    }

    fn record(&mut self, (generation, probe, start): Ticket, kind: Kind, now: Duration) {
        let effect = self.effect(kind);
        let slow = self.slow(start, now);
        if generation != self.generation {
            // Stale: changes nothing.
            if self.state == BreakerState::HalfOpen && effect == Effect::Success {
                Coverage::bump(&COVERAGE.stale_success_in_half_open);
            }
            if probe {
                Coverage::bump(&COVERAGE.stale_probe_outcome);
            }
            return;
        }
        match self.state {
            BreakerState::Closed => {
                assert!(!probe, "a closed-state permit of the current generation");
                match effect {
                    Effect::Ignored => {}
                    Effect::Success => {
                        self.consecutive = 0;
                        self.push(now, false, slow);
                        if self.cfg.on_failure_only {
                            if self.rate_reached() || self.slow_rate_reached() {
                                Coverage::bump(&COVERAGE.success_not_evaluated);
                            }
                        } else {
                            if self.rate_reached() {
                                Coverage::bump(&COVERAGE.rate_trips_by_success);
                            }
                            self.evaluate(now);
                        }
                    }
                    Effect::Failure => {
                        self.consecutive += 1;
                        self.push(now, true, slow);
                        if self.cfg.consecutive.is_some_and(|n| self.consecutive >= n) {
                            Coverage::bump(&COVERAGE.consecutive_trips);
                            self.enter(
                                BreakerState::Open,
                                TransitionReason::ConsecutiveFailures,
                                now,
                            );
                        } else {
                            self.evaluate(now);
                        }
                    }
                }
            }
            BreakerState::HalfOpen => {
                assert!(probe, "a half-open permit of the current generation");
                match effect {
                    Effect::Ignored => self.in_flight -= 1,
                    effect => self.probe_outcome(effect == Effect::Failure, slow, now),
                }
            }
            // Disabled records nothing.
            BreakerState::Disabled => {
                if effect != Effect::Ignored {
                    Coverage::bump(&COVERAGE.unrecorded_while_disabled);
                }
            }
            // Open and ForcedOpen issue no permits.
            BreakerState::Open | BreakerState::ForcedOpen => {
                unreachable!("a permit of the current generation while open")
            }
        }
    }

    /// The caller gives up at `now`: a slow call if it ran longer than the threshold (neither a
    /// success nor a failure; a slow probe reopens), otherwise the same as a drop.
    fn abandon(&mut self, ticket: Ticket, now: Duration) {
        let (generation, _, start) = ticket;
        if !self.slow(start, now) {
            return self.release(ticket);
        }
        Coverage::bump(&COVERAGE.abandoned_slow);
        if generation != self.generation {
            return;
        }
        match self.state {
            BreakerState::Closed => {
                self.push(now, false, true);
                if !self.cfg.on_failure_only {
                    self.evaluate(now);
                }
            }
            BreakerState::HalfOpen => self.probe_outcome(false, true, now),
            _ => {}
        }
    }

    /// A permit dropped unused gives its slot back if it is a probe of the current generation.
    fn release(&mut self, (generation, probe, _): Ticket) {
        if probe && generation == self.generation && self.state == BreakerState::HalfOpen {
            Coverage::bump(&COVERAGE.slot_freed_by_drop);
            self.in_flight -= 1;
        }
    }

    fn signal_healthy(&mut self, now: Duration) {
        if self.state == BreakerState::Open {
            Coverage::bump(&COVERAGE.health_signals);
            self.enter(BreakerState::HalfOpen, TransitionReason::HealthSignal, now);
        }
    }
}

// ---------------------------------------------------------------- the harness

/// Runs `ops` against a fresh breaker and the model, comparing them after every step. Returns
/// the breaker's final snapshot.
fn run(cfg: &Cfg, ops: &[Op]) -> Result<Snapshot, TestCaseError> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let breaker = cfg.breaker(events.clone());
    let t0 = Instant::now();
    // The breaker's buckets start at the first instant it is given: t0, as the model's do.
    breaker.snapshot(t0);
    let mut offset = Duration::ZERO;
    let mut model = Model::new(cfg.clone());
    let mut permits: BTreeMap<u8, Permit<&CircuitBreaker>> = BTreeMap::new();

    for (step, &op) in ops.iter().enumerate() {
        let now = t0 + offset;
        match op {
            Op::Acquire(id) if !permits.contains_key(&id) => {
                let expected = model.acquire(offset);
                match (expected, breaker.try_acquire(now)) {
                    (Ok((generation, probe, start)), Ok(permit)) => {
                        prop_assert_eq!(
                            (permit.generation(), permit.is_probe()),
                            (generation, probe),
                            "step {} {:?}: the permit's generation and probe flag",
                            step,
                            op
                        );
                        model.permits.insert(id, (generation, probe, start));
                        permits.insert(id, permit);
                    }
                    (Err(retry_in), Err(rejected)) => prop_assert_eq!(
                        rejected,
                        Rejected { retry_in },
                        "step {} {:?}: the rejection",
                        step,
                        op
                    ),
                    (expected, actual) => {
                        return Err(TestCaseError::fail(format!(
                            "step {step} {op:?}: admission: model {expected:?}, breaker {:?}",
                            actual.map(|p| (p.generation(), p.is_probe()))
                        )));
                    }
                }
            }
            Op::Acquire(_) => {}
            Op::Complete(id, kind) => {
                if let Some(permit) = permits.remove(&id) {
                    let ticket = model.permits.remove(&id).expect("the model holds it too");
                    model.record(ticket, kind, offset);
                    permit.record(&kind.outcome(), now);
                }
            }
            Op::Abandon(id) => {
                if let Some(permit) = permits.remove(&id) {
                    let ticket = model.permits.remove(&id).expect("the model holds it too");
                    model.abandon(ticket, offset);
                    permit.abandon(now);
                }
            }
            Op::Drop(id) => {
                if let Some(permit) = permits.remove(&id) {
                    let ticket = model.permits.remove(&id).expect("the model holds it too");
                    model.release(ticket);
                    drop(permit);
                }
            }
            Op::Advance(ms) => offset += Duration::from_millis(ms),
            Op::ForceOpen => {
                model.enter(
                    BreakerState::ForcedOpen,
                    TransitionReason::ForcedOpen,
                    offset,
                );
                breaker.force_open();
            }
            Op::Disable => {
                model.enter(BreakerState::Disabled, TransitionReason::Disabled, offset);
                breaker.disable();
            }
            Op::Reset => {
                model.enter(BreakerState::Closed, TransitionReason::Reset, offset);
                breaker.reset();
            }
            Op::ManualOpen => {
                Coverage::bump(&COVERAGE.manual_opens);
                model.enter(BreakerState::Open, TransitionReason::ManualOpen, offset);
                breaker.open(now);
            }
            Op::ManualHalfOpen => {
                Coverage::bump(&COVERAGE.manual_half_opens);
                model.enter(
                    BreakerState::HalfOpen,
                    TransitionReason::ManualHalfOpen,
                    offset,
                );
                breaker.half_open(now);
            }
            Op::HealthPass => {
                model.signal_healthy(offset);
                breaker.signal_healthy(now);
            }
        }

        // Compare everything observable.
        let now = t0 + offset;
        prop_assert_eq!(
            breaker.state(),
            model.state,
            "step {} {:?}: state",
            step,
            op
        );
        prop_assert_eq!(
            breaker.generation(),
            model.generation,
            "step {} {:?}: generation",
            step,
            op
        );
        let (ahead, half_open_in) = model.ahead(offset);
        prop_assert_eq!(
            breaker.state_at(now),
            ahead,
            "step {} {:?}: the state the next call would find",
            step,
            op
        );
        let snap = breaker.snapshot(now);
        model.expire(offset);
        let calls = model.calls();
        let failures = model.failures();
        let slow_calls = model.slow_calls();
        prop_assert_eq!(
            (snap.state, snap.generation),
            (ahead, model.generation),
            "step {} {:?}: snapshot state",
            step,
            op
        );
        let current = model.state == BreakerState::HalfOpen && !model.timed_out(offset);
        let slot_in = (current && model.slots_taken())
            .then(|| model.slot_free_in(offset))
            .flatten();
        if slot_in.is_some() {
            Coverage::bump(&COVERAGE.probe_slot_times);
        }
        prop_assert_eq!(
            snap.probe_slot_in,
            slot_in,
            "step {} {:?}: snapshot time until a probe slot",
            step,
            op
        );
        let probes = if current {
            (
                model.admitted(),
                model.in_flight,
                model.successes,
                model.failed,
            )
        } else {
            (0, 0, 0, 0)
        };
        prop_assert_eq!(
            (
                snap.probes_admitted,
                snap.probes_in_flight,
                snap.probes_succeeded,
                snap.probes_failed
            ),
            probes,
            "step {} {:?}: snapshot probes (admitted, in flight, succeeded, failed)",
            step,
            op
        );
        prop_assert_eq!(
            (snap.rejected_calls, snap.slow_successes, snap.slow_failures),
            (
                model.rejected,
                slow_calls - model.slow_failures(),
                model.slow_failures()
            ),
            "step {} {:?}: snapshot rejections, slow successes and failures",
            step,
            op
        );
        prop_assert_eq!(
            (snap.calls, snap.failures, snap.consecutive_failures),
            (calls, failures, model.consecutive),
            "step {} {:?}: snapshot (calls, failures, consecutive failures); window {:?}",
            step,
            op,
            model.window
        );
        let rate = (calls >= cfg.minimum_calls).then(|| f64::from(failures) / f64::from(calls));
        prop_assert_eq!(
            snap.failure_rate,
            rate,
            "step {} {:?}: snapshot failure rate",
            step,
            op
        );
        let slow_rate = (calls >= cfg.minimum_calls && cfg.slow.is_some())
            .then(|| f64::from(slow_calls) / f64::from(calls));
        prop_assert_eq!(
            (snap.slow_calls, snap.slow_call_rate),
            (slow_calls, slow_rate),
            "step {} {:?}: snapshot slow calls and their rate",
            step,
            op
        );
        prop_assert_eq!(
            snap.half_open_in,
            half_open_in,
            "step {} {:?}: snapshot time until half-open",
            step,
            op
        );
        prop_assert_eq!(
            &*events.lock().unwrap(),
            &model.events,
            "step {} {:?}: transitions reported to the hook",
            step,
            op
        );
    }
    Ok(breaker.snapshot(t0 + offset))
}

/// The final state and generation after `ops`.
fn end(cfg: &Cfg, ops: &[Op]) -> (BreakerState, u64) {
    let snap = run(cfg, ops).unwrap();
    (snap.state, snap.generation)
}

// ---------------------------------------------------------------- strategies

/// A threshold in basis points: round shares, the shares floats misjudge (7 %, 14 %, 28 %,
/// 55 %, 56 %), and anything.
fn threshold() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        Just(10_000u32),
        Just(5_000),
        Just(2_500),
        Just(7_500),
        Just(3_333),
        Just(700),
        Just(1_400),
        Just(2_800),
        Just(5_500),
        Just(5_600),
        1u32..=10_000,
    ]
}

/// The knobs, each on in a tenth to a quarter of the cases: (the rate rule off,
/// trip on failures only, probe failures, decide by rates, no maximum wait, the wait closes,
/// zero open duration, probe renewal in ms, computed open durations).
type Knobs = (bool, bool, u32, bool, bool, bool, bool, Option<u64>, bool);

fn knobs() -> impl Strategy<Value = Knobs> {
    let quarter = || prop::bool::weighted(0.25);
    (
        prop::bool::weighted(0.1),
        quarter(),
        prop_oneof![3 => Just(1u32), 1 => 2u32..=3],
        quarter(),
        prop::bool::weighted(0.15),
        quarter(),
        prop::bool::weighted(0.15),
        prop::option::weighted(0.25, prop_oneof![Just(100u64), Just(500), Just(1_000)]),
        prop::bool::weighted(0.2),
    )
}

fn config() -> impl Strategy<Value = Cfg> {
    let base = (1u32..=12, 1u32..=4)
        .prop_flat_map(move |(window, probes)| {
            (
                threshold(),
                Just(window),
                1..=window,
                prop::option::of(1u32..6),
                1u64..=5,
                prop_oneof![Just(1.0), Just(2.0)],
                Just(probes),
                1..=probes,
                prop::option::of((1u64..=80).prop_map(|tenths| tenths * 100)),
                any::<bool>(),
            )
        })
        .prop_map(
            |(
                failure_rate,
                window,
                minimum_calls,
                consecutive,
                open_secs,
                growth,
                probes,
                required,
                half_open_max_wait_ms,
                rejected_counts_as_success,
            )| Cfg {
                failure_rate: Some(failure_rate),
                window,
                time_window: None,
                slow: None,
                minimum_calls,
                consecutive,
                open_secs,
                growth,
                probes,
                required,
                half_open_max_wait_ms,
                unlimited_wait: false,
                wait_closes: false,
                rejected_counts_as_success,
                on_failure_only: false,
                probe_failures: 1,
                by_rates: false,
                renewal_ms: None,
                computed_open: false,
            },
        );
    // Half the cases with a time window (1 to 10 s in 1 to 5 buckets), half with slow-call
    // tracking (a threshold the generated delays cross often).
    let time_window = prop::option::of((
        prop_oneof![Just(1_000u64), Just(2_000), Just(4_000), Just(10_000)],
        1u32..=5,
    ));
    let slow = prop::option::of((
        prop_oneof![Just(100u64), Just(500), Just(1_000), Just(2_000)],
        threshold(),
    ));
    (base, time_window, slow, knobs()).prop_map(|(cfg, time_window, slow, knobs)| {
        let (
            rate_off,
            on_failure_only,
            probe_failures,
            by_rates,
            unlimited_wait,
            wait_closes,
            zero_open,
            renewal_ms,
            computed_open,
        ) = knobs;
        Cfg {
            time_window,
            slow,
            failure_rate: cfg.failure_rate.filter(|_| !rate_off),
            on_failure_only,
            probe_failures,
            by_rates,
            unlimited_wait,
            wait_closes,
            open_secs: if zero_open { 0 } else { cfg.open_secs },
            renewal_ms,
            computed_open,
            ..cfg
        }
    })
}

/// Outcomes: mostly successes while the dependency is healthy, mostly failures while it is
/// sick, and anything for `None`.
fn kind(healthy: Option<bool>) -> impl Strategy<Value = Kind> {
    let (successes, failures) = match healthy {
        Some(true) => (12, 1),
        Some(false) => (2, 6),
        None => (4, 3),
    };
    prop_oneof![
        successes => Just(Kind::Success),
        failures => Just(Kind::Failed),
        1 => Just(Kind::Timeout),
        1 => Just(Kind::NotSent),
        1 => Just(Kind::Throttled),
        1 => Just(Kind::Rejected),
        1 => Just(Kind::Local),
    ]
}

/// Time passing: a few milliseconds, or whole tenths of a second and seconds, so that the
/// instants often fall exactly on the open duration and the half-open maximum wait.
fn advance() -> impl Strategy<Value = Op> {
    prop_oneof![
        0u64..5,
        (1u64..=20).prop_map(|tenths| tenths * 100),
        (1u64..=8).prop_map(|secs| secs * 1000),
    ]
    .prop_map(Op::Advance)
}

/// Calls, cancellations, time and health signals.
fn traffic(healthy: Option<bool>) -> impl Strategy<Value = Op> {
    let id = 0u8..6;
    prop_oneof![
        30 => id.clone().prop_map(Op::Acquire),
        30 => (id.clone(), kind(healthy)).prop_map(|(id, kind)| Op::Complete(id, kind)),
        8 => id.clone().prop_map(Op::Drop),
        4 => id.prop_map(Op::Abandon),
        16 => advance(),
        3 => Just(Op::HealthPass),
    ]
}

/// An operator at work: manual operations among a little traffic.
fn operator() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => traffic(None),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        2 => Just(Op::Reset),
        1 => Just(Op::ManualOpen),
        1 => Just(Op::ManualHalfOpen),
    ]
}

/// 1 to 199 operations, in periods of traffic to a healthy or a sick dependency, and short
/// periods of manual operations.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let period = prop_oneof![
        2 => prop::collection::vec(traffic(Some(true)), 1..50),
        2 => prop::collection::vec(traffic(Some(false)), 1..50),
        1 => prop::collection::vec(operator(), 1..6),
    ];
    prop::collection::vec(period, 1..10).prop_map(|periods| {
        let mut ops: Vec<Op> = periods.into_iter().flatten().collect();
        ops.truncate(199);
        ops
    })
}

// ---------------------------------------------------------------- tests

/// Arbitrary interleavings agree with the model at every step; the generated sequences must
/// also reach every interesting corner (stale successes in HalfOpen among them).
#[test]
fn breaker_follows_the_model() {
    // Rounds of 500 random cases, until every corner below was reached at least 10 times (a
    // round usually suffices; the cases are random, so a rare corner may need a second).
    for round in 1..=4 {
        let mut runner = TestRunner::new(crate::seeds::persisted(Config {
            cases: 500,
            source_file: Some(file!()),
            ..Config::default()
        }));
        let result = runner.run(&(config(), ops()), |(cfg, ops)| run(&cfg, &ops).map(drop));
        if let Err(e) = result {
            panic!("{e}");
        }
        if round == 4 || coverage().iter().all(|(_, n)| *n >= 10) {
            break;
        }
    }
    for (what, n) in coverage() {
        eprintln!("{what}: {n}");
        assert!(n >= 10, "the sequences reached '{what}' only {n} times");
    }
}

/// How often the generated sequences reached each interesting corner, so far.
fn coverage() -> Vec<(&'static str, u64)> {
    let c = &COVERAGE;
    let counts = [
        ("stale success in HalfOpen", &c.stale_success_in_half_open),
        ("stale probe outcome", &c.stale_probe_outcome),
        ("closed by probes", &c.closed_by_probes),
        ("probe timeout", &c.probe_timeouts),
        ("grown open duration", &c.grown_trips),
        ("failure-rate trip", &c.rate_trips),
        ("failure-rate trip by a success", &c.rate_trips_by_success),
        ("consecutive-failure trip", &c.consecutive_trips),
        ("half-open full", &c.half_open_full),
        ("slot freed by a drop", &c.slot_freed_by_drop),
        ("health signal", &c.health_signals),
        ("forced-open rejection", &c.forced_open_rejections),
        ("outcome while disabled", &c.unrecorded_while_disabled),
        ("slow-call-rate trip", &c.slow_rate_trips),
        ("slow probe", &c.slow_probes),
        ("abandoned slow call", &c.abandoned_slow),
        ("outcomes expired by time", &c.expired_by_time),
        ("renewed probe", &c.renewed_probes),
        ("half-open decided by rates", &c.decided_by_rates),
        ("closed by the maximum wait", &c.closed_by_max_wait),
        (
            "reopened after several failed probes",
            &c.reopened_after_failed_probes,
        ),
        ("manual open", &c.manual_opens),
        ("manual half-open", &c.manual_half_opens),
        ("probes at once (zero open duration)", &c.probes_at_once),
        ("computed open duration", &c.computed_opens),
        ("time until a probe slot", &c.probe_slot_times),
        (
            "a success over the rate, not evaluated",
            &c.success_not_evaluated,
        ),
    ];
    counts
        .into_iter()
        .map(|(what, count)| (what, count.load(Ordering::Relaxed)))
        .collect()
}

fn cfg(
    window: u32,
    minimum_calls: u32,
    consecutive: Option<u32>,
    probes: u32,
    required: u32,
) -> Cfg {
    Cfg {
        failure_rate: Some(5_000),
        window,
        time_window: None,
        slow: None,
        minimum_calls,
        consecutive,
        open_secs: 1,
        growth: 1.0,
        probes,
        required,
        half_open_max_wait_ms: None,
        unlimited_wait: false,
        wait_closes: false,
        rejected_counts_as_success: false,
        on_failure_only: false,
        probe_failures: 1,
        by_rates: false,
        renewal_ms: None,
        computed_open: false,
    }
}

/// A success acquired while closed, completed after the breaker went Open → HalfOpen, changes
/// nothing, even where a single probe success would close the breaker.
#[test]
fn stale_success_in_half_open_changes_nothing() {
    use Op::*;
    let c = cfg(10, 10, Some(1), 2, 1);
    let ops = [
        Acquire(0),
        Acquire(1),
        Complete(1, Kind::Failed), // consecutive limit 1: Open, generation 1
        Advance(1_000),
        Acquire(2),                 // HalfOpen (generation 2), one probe
        Complete(0, Kind::Success), // stale
    ];
    assert_eq!(end(&c, &ops), (BreakerState::HalfOpen, 2));
    // The same with the stale success coming in through the health signal's HalfOpen.
    let ops = [
        Acquire(0),
        Acquire(1),
        Complete(1, Kind::Failed),
        HealthPass,
        Complete(0, Kind::Success),
    ];
    assert_eq!(end(&c, &ops), (BreakerState::HalfOpen, 2));
    // A probe's own success does close it.
    let ops = [
        Acquire(1),
        Complete(1, Kind::Failed),
        HealthPass,
        Acquire(2),
        Complete(2, Kind::Success),
    ];
    assert_eq!(end(&c, &ops), (BreakerState::Closed, 3));
}

/// A probe from an earlier half-open period: its success cannot close the new one, and
/// dropping it gives back no slot of the new one.
#[test]
fn stale_probe_changes_nothing() {
    use Op::*;
    let c = cfg(10, 10, Some(1), 1, 1);
    let ops = [
        Acquire(0),
        Complete(0, Kind::Failed), // Open, generation 1
        Advance(1_000),
        Acquire(1), // HalfOpen, generation 2: the only probe slot
        Advance(1_001),
        Acquire(2), // waited 1.001 s > 1 s: ProbeTimeout, Open (generation 3)
        Advance(1_000),
        Acquire(3), // HalfOpen, generation 4: the only probe slot again
        Drop(1),    // an old probe gives back nothing of generation 4 ...
        Acquire(4), // ... so this one is rejected
        Complete(1, Kind::Success),
    ];
    assert_eq!(end(&c, &ops), (BreakerState::HalfOpen, 4));
}

/// The window reaches its minimum by a success with the failure rate already over the
/// threshold: that success trips the breaker.
#[test]
fn minimum_calls_reached_by_a_success_trips() {
    use Op::*;
    let c = cfg(100, 20, None, 3, 3);
    let mut ops = Vec::new();
    for i in 0..19 {
        ops.push(Acquire(0));
        ops.push(Complete(
            0,
            if i < 15 { Kind::Failed } else { Kind::Success },
        ));
    }
    assert_eq!(end(&c, &ops), (BreakerState::Closed, 0));
    ops.push(Acquire(0));
    ops.push(Complete(0, Kind::Success));
    assert_eq!(end(&c, &ops), (BreakerState::Open, 1));
}

/// Open until exactly the open duration has passed; half-open until the maximum wait is
/// exceeded (strictly), then open again at the next admission.
#[test]
fn open_and_half_open_boundaries() {
    use Op::*;
    let c = cfg(10, 10, Some(1), 1, 1);
    let ops = [
        Acquire(0),
        Complete(0, Kind::Failed), // Open (generation 1) until 1 s
        Advance(999),
        Acquire(1), // rejected, retry in 1 ms
        Advance(1),
        Acquire(1), // HalfOpen (generation 2): the probe
        Drop(1),
        Advance(1_000),
        Acquire(2), // waited exactly the maximum: still half-open
        Drop(2),
        Advance(1),
        Acquire(3), // waited more: ProbeTimeout, Open (generation 3) for 1 s
    ];
    let snap = run(&c, &ops).unwrap();
    assert_eq!(
        (snap.state, snap.generation, snap.half_open_in),
        (BreakerState::Open, 3, Some(Duration::from_secs(1)))
    );
}

/// The open duration doubles with every trip without closing (1 s, 2 s, 4 s, capped at 4 s),
/// and is back to 1 s after the breaker closes.
#[test]
fn open_duration_grows_per_trip_and_resets_on_close() {
    use Op::*;
    let c = Cfg {
        growth: 2.0,
        ..cfg(10, 10, Some(1), 1, 1)
    };
    let ops = [
        Acquire(0),
        Complete(0, Kind::Failed), // Open for 1 s (generation 1)
        Advance(1_000),
        Acquire(1),
        Complete(1, Kind::Failed), // Open for 2 s (generation 3)
        Advance(1_999),
        Acquire(2), // rejected, retry in 1 ms
        Advance(1),
        Acquire(2),
        Complete(2, Kind::Failed), // Open for 4 s (generation 5)
        Advance(4_000),
        Acquire(3),
        Complete(3, Kind::Failed), // Open for 4 s, the cap (generation 7)
        Advance(4_000),
        Acquire(4),
        Complete(4, Kind::Success), // Closed (generation 9)
        Acquire(5),
        Complete(5, Kind::Failed), // Open for 1 s again (generation 10)
        Advance(400),
    ];
    let snap = run(&c, &ops).unwrap();
    assert_eq!(
        (snap.state, snap.generation, snap.half_open_in),
        (BreakerState::Open, 10, Some(Duration::from_millis(600)))
    );
}

/// Runs `ops` on the breaker alone (no model): the probes in flight never exceed the probes
/// permitted at once (deciding by counts), nor the probes admitted the number permitted in all
/// (deciding by rates); and a half-open breaker with a maximum wait leaves that half-open
/// period once the wait is over, whatever happened before.
fn bounded(cfg: &Cfg, ops: &[Op]) -> Result<(), TestCaseError> {
    let breaker = cfg.breaker(Arc::new(Mutex::new(Vec::new())));
    let t0 = Instant::now();
    let mut offset = Duration::ZERO;
    let mut permits: BTreeMap<u8, Permit<&CircuitBreaker>> = BTreeMap::new();
    for &op in ops {
        let now = t0 + offset;
        match op {
            Op::Acquire(id) if !permits.contains_key(&id) => {
                if let Ok(p) = breaker.try_acquire(now) {
                    permits.insert(id, p);
                }
            }
            Op::Complete(id, kind) => {
                if let Some(p) = permits.remove(&id) {
                    p.record(&kind.outcome(), now);
                }
            }
            Op::Abandon(id) => {
                if let Some(p) = permits.remove(&id) {
                    p.abandon(now);
                }
            }
            Op::Drop(id) => drop(permits.remove(&id)),
            Op::Advance(ms) => offset += Duration::from_millis(ms),
            Op::ForceOpen => breaker.force_open(),
            Op::Disable => breaker.disable(),
            Op::Reset => breaker.reset(),
            Op::ManualOpen => breaker.open(now),
            Op::ManualHalfOpen => breaker.half_open(now),
            Op::HealthPass => breaker.signal_healthy(now),
            Op::Acquire(_) => {}
        }
        let snap = breaker.snapshot(t0 + offset);
        if cfg.by_rates {
            prop_assert!(snap.probes_admitted <= cfg.probes, "{:?}", snap);
        } else {
            prop_assert!(snap.probes_in_flight <= cfg.probes, "{:?}", snap);
        }
    }
    if let (BreakerState::HalfOpen, Some(wait)) = (breaker.state(), cfg.half_open_max_wait()) {
        let generation = breaker.generation();
        let after = t0 + offset + wait + Duration::from_nanos(1);
        drop(breaker.try_acquire(after));
        prop_assert!(
            breaker.generation() > generation,
            "still in the same half-open period after the maximum wait"
        );
    }
    Ok(())
}

/// Two invariants, for every generated configuration (probe renewal off: it
/// grants probes beyond the limit by design) and sequence.
#[test]
fn probes_stay_bounded_and_half_open_ends() {
    let mut runner = TestRunner::new(crate::seeds::persisted(Config {
        cases: 300,
        source_file: Some(file!()),
        ..Config::default()
    }));
    let cfgs = config().prop_map(|cfg| Cfg {
        renewal_ms: None,
        ..cfg
    });
    let result = runner.run(&(cfgs, ops()), |(cfg, ops)| bounded(&cfg, &ops));
    if let Err(e) = result {
        panic!("{e}");
    }
}
