//! The breaker's state machine: pure (every method takes `now`, nothing reads a clock or needs a
//! runtime), shared between threads, and lock-free on the closed path.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::classify::{BreakerEffect, Outcome};
use crate::deadline::Now;
use crate::error::ConfigError;
use crate::event::{Event, OnEvent};

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
    const ALL: [BreakerState; 5] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
        BreakerState::ForcedOpen,
        BreakerState::Disabled,
    ];

    fn code(self) -> u64 {
        self as u64
    }

    fn from_code(code: u64) -> Self {
        Self::ALL[code as usize]
    }

    /// Whether calls are rejected in this state (some half-open calls are admitted).
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
    /// Open → HalfOpen: the open duration passed.
    OpenElapsed,
    /// Open → HalfOpen early: an external signal, such as a passing health check.
    HealthSignal,
    /// HalfOpen → Closed: enough probes succeeded.
    ProbesSucceeded,
    /// HalfOpen → Open: a probe failed.
    ProbeFailed,
    /// HalfOpen → Open: the probes did not finish within the maximum half-open wait.
    ProbeTimeout,
    /// An operator forced the breaker open.
    ForcedOpen,
    /// An operator disabled the breaker.
    Disabled,
    /// An operator reset the breaker (Closed, empty window).
    Reset,
}

/// The configuration of a [`CircuitBreaker`](super::CircuitBreaker); see its builder for each
/// value and default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Config {
    pub(crate) failure_rate: f64,
    pub(crate) window: u32,
    pub(crate) minimum_calls: u32,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) open_duration: Duration,
    pub(crate) open_growth: f64,
    pub(crate) max_open_duration: Duration,
    pub(crate) probes: u32,
    pub(crate) required_successes: u32,
    pub(crate) half_open_max_wait: Option<Duration>,
    pub(crate) rejected_counts_as_success: bool,
}

pub(crate) const DEFAULT: Config = Config {
    failure_rate: 0.5,
    window: 100,
    minimum_calls: 20,
    consecutive_failures: Some(5),
    open_duration: Duration::from_secs(30),
    open_growth: 1.0,
    max_open_duration: Duration::from_secs(30),
    probes: 3,
    required_successes: 3,
    half_open_max_wait: None,
    rejected_counts_as_success: false,
};

/// The most probes a half-open breaker may admit at once.
pub const MAX_PROBES: u32 = u16::MAX as u32;
/// The largest count window.
pub const MAX_WINDOW: u32 = 1 << 24;

impl Config {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let c = self;
        if !(c.failure_rate > 0.0 && c.failure_rate <= 1.0) {
            return Err(ConfigError::invalid(
                "breaker failure rate",
                c.failure_rate,
                "a number in (0, 1]",
            ));
        }
        if c.window == 0 || c.window > MAX_WINDOW {
            return Err(ConfigError::invalid(
                "breaker window",
                c.window,
                "between 1 and 16777216 calls",
            ));
        }
        if c.minimum_calls == 0 || c.minimum_calls > c.window {
            return Err(ConfigError::invalid(
                "breaker minimum calls",
                c.minimum_calls,
                "between 1 and the window size",
            ));
        }
        if c.consecutive_failures == Some(0) {
            return Err(ConfigError::invalid(
                "breaker consecutive failures",
                0,
                "at least 1 (or none, to turn the rule off)",
            ));
        }
        if c.open_duration.is_zero() {
            return Err(ConfigError::invalid(
                "breaker open duration",
                c.open_duration,
                "more than zero",
            ));
        }
        if !(c.open_growth.is_finite() && c.open_growth >= 1.0) {
            return Err(ConfigError::invalid(
                "breaker open duration growth",
                c.open_growth,
                "a finite number of at least 1",
            ));
        }
        if c.max_open_duration < c.open_duration {
            return Err(ConfigError::invalid(
                "breaker maximum open duration",
                c.max_open_duration,
                "at least the open duration",
            ));
        }
        if c.required_successes == 0 || c.required_successes > c.probes || c.probes > MAX_PROBES {
            return Err(ConfigError::invalid(
                "breaker probes and required successes",
                (c.probes, c.required_successes),
                "probes >= required successes >= 1, probes at most 65535",
            ));
        }
        if c.half_open_max_wait.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::invalid(
                "breaker half-open maximum wait",
                c.half_open_max_wait,
                "more than zero",
            ));
        }
        Ok(())
    }

    /// How long the breaker stays open after its `trips`-th consecutive trip (from 1).
    fn open_duration(&self, trips: u32) -> Duration {
        let base = self.open_duration.as_secs_f64();
        let grown = base
            * self
                .open_growth
                .powi(trips.saturating_sub(1).min(1 << 16) as i32);
        if grown.is_finite() && grown < self.max_open_duration.as_secs_f64() {
            Duration::try_from_secs_f64(grown).unwrap_or(self.max_open_duration)
        } else {
            self.max_open_duration
        }
    }

    fn effect(&self, outcome: &Outcome) -> BreakerEffect {
        match outcome {
            Outcome::Rejected if self.rejected_counts_as_success => BreakerEffect::Success,
            other => other.breaker_effect(),
        }
    }
}

/// A call was not admitted: the breaker is open (or half-open with every probe slot taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// How long until the breaker admits probes, when it is known (not while forced open, nor
    /// while half-open with its probe slots taken).
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
    /// Calls counted in the window (closed state).
    pub calls: u32,
    /// Failures among them.
    pub failures: u32,
    /// `failures / calls`, when the window holds at least the minimum number of calls.
    pub failure_rate: Option<f64>,
    /// The current run of consecutive failures (closed state).
    pub consecutive_failures: u32,
    /// Time until the breaker admits probes (open state).
    pub half_open_in: Option<Duration>,
}

/// A ticket of admission: the generation it was issued in, and whether it holds a probe slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    generation: u64,
    kind: TicketKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TicketKind {
    Closed,
    Probe,
    /// Issued by a disabled breaker: records nothing.
    Unrecorded,
}

/// One cache line of its own, so that two shards never share one.
#[repr(align(64))]
#[derive(Default)]
struct Padded<T>(T);

/// Successes counted per thread since the window was last brought up to date.
const SHARDS: usize = 8;

#[inline]
fn my_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // Const-initialised: reading it needs no lazy-initialisation check.
        static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    SHARD.with(|s| match s.get() {
        usize::MAX => {
            let shard = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            s.set(shard);
            shard
        }
        shard => shard,
    })
}

/// The ordered window of the last `cap` counted outcomes, as runs.
#[derive(Debug, Default)]
struct Window {
    /// (is a failure, how many), oldest first.
    runs: VecDeque<(bool, u32)>,
    calls: u32,
    failures: u32,
}

impl Window {
    fn push(&mut self, failure: bool, n: u32, cap: u32) {
        if n == 0 {
            return;
        }
        match self.runs.back_mut() {
            Some((f, count)) if *f == failure => *count = count.saturating_add(n),
            _ => self.runs.push_back((failure, n)),
        }
        self.calls = self.calls.saturating_add(n);
        if failure {
            self.failures = self.failures.saturating_add(n);
        }
        // Old outcomes leave the window.
        while self.calls > cap {
            let excess = self.calls - cap;
            let Some(front) = self.runs.front_mut() else {
                break;
            };
            let gone = excess.min(front.1);
            front.1 -= gone;
            self.calls -= gone;
            if front.0 {
                self.failures -= gone;
            }
            if front.1 == 0 {
                self.runs.pop_front();
            }
        }
    }

    fn clear(&mut self) {
        *self = Window::default();
    }
}

/// What only a holder of the lock changes.
#[derive(Debug, Default)]
struct Slow {
    window: Window,
    /// Consecutive trips without closing, for the growth of the open duration.
    trips: u32,
}

/// The state every clone of a breaker shares.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) name: Option<Box<str>>,
    hook: Option<Box<dyn OnEvent + Send + Sync>>,
    /// The generation (high bits) and the state (low 3 bits): every call loads it, only
    /// transitions store it.
    word: AtomicU64,
    /// Closed: the current run of failures, tagged with its generation (see [`tagged`]). Written
    /// on a failure, and on the first success after one.
    consecutive: AtomicU64,
    /// Closed: whether the window holds the minimum number of calls; from then on a success can
    /// never trip the breaker, so successes only count themselves in their shard.
    warm: AtomicBool,
    /// Closed: successes per thread since the window was last brought up to date, tagged with
    /// their generation.
    shards: [Padded<AtomicU64>; SHARDS],
    /// Open: when probes may start, in nanoseconds since `base`.
    half_open_at: AtomicU64,
    /// HalfOpen: when it began, in nanoseconds since `base`.
    half_open_since: AtomicU64,
    /// HalfOpen: the generation's low 32 bits, successes (16 bits), probes in flight (16 bits).
    probes: AtomicU64,
    /// The instant times are measured from: the first `now` the breaker needed.
    base: OnceLock<Instant>,
    slow: Mutex<Slow>,
}

const STATE_BITS: u64 = 3;

fn pack(generation: u64, state: BreakerState) -> u64 {
    (generation << STATE_BITS) | state.code()
}

fn unpack(word: u64) -> (u64, BreakerState) {
    (
        word >> STATE_BITS,
        BreakerState::from_code(word & ((1 << STATE_BITS) - 1)),
    )
}

/// Counters that must never carry an outcome of one generation into the next (the run of
/// failures, the success shards) hold the generation's low 24 bits beside a 40-bit count, and
/// are only changed by a compare-and-swap that checks the tag: a stale outcome racing a
/// transition can never land in the new generation's counts.
const TAG_SHIFT: u32 = 40;
const COUNT_MASK: u64 = (1 << TAG_SHIFT) - 1;
const TAG_MASK: u64 = (1 << 24) - 1;

fn tagged(generation: u64, count: u64) -> u64 {
    ((generation & TAG_MASK) << TAG_SHIFT) | count.min(COUNT_MASK)
}

/// The count of a tagged counter, if it belongs to `generation`.
fn count_in(word: u64, generation: u64) -> Option<u64> {
    (word >> TAG_SHIFT == generation & TAG_MASK).then_some(word & COUNT_MASK)
}

fn pack_probes(generation: u64, successes: u32, in_flight: u32) -> u64 {
    ((generation & 0xFFFF_FFFF) << 32) | (u64::from(successes) << 16) | u64::from(in_flight)
}

fn unpack_probes(word: u64) -> (u64, u32, u32) {
    (
        word >> 32,
        ((word >> 16) & 0xFFFF) as u32,
        (word & 0xFFFF) as u32,
    )
}

/// A transition made under the lock, reported to the hook once the lock is released.
struct Transition {
    from: BreakerState,
    to: BreakerState,
    reason: TransitionReason,
    generation: u64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (generation, state) = unpack(self.word.load(Ordering::Relaxed));
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &state)
            .field("generation", &generation)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        name: Option<Box<str>>,
        hook: Option<Box<dyn OnEvent + Send + Sync>>,
    ) -> Self {
        Shared {
            config,
            name,
            hook,
            word: AtomicU64::new(pack(0, BreakerState::Closed)),
            consecutive: AtomicU64::new(tagged(0, 0)),
            warm: AtomicBool::new(false),
            shards: Default::default(),
            half_open_at: AtomicU64::new(0),
            half_open_since: AtomicU64::new(0),
            probes: AtomicU64::new(pack_probes(0, 0, 0)),
            base: OnceLock::new(),
            slow: Mutex::new(Slow::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slow> {
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn nanos(&self, now: Instant) -> u64 {
        let base = *self.base.get_or_init(|| now);
        u64::try_from(now.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX)
    }

    #[inline]
    pub(crate) fn state(&self) -> (u64, BreakerState) {
        unpack(self.word.load(Ordering::Acquire))
    }

    /// Admits a call, or says why not. `now` is read only outside the closed state.
    #[inline]
    pub(crate) fn acquire(&self, now: impl Now) -> Result<Ticket, Rejected> {
        let (generation, state) = self.state();
        match state {
            BreakerState::Closed => Ok(Ticket {
                generation,
                kind: TicketKind::Closed,
            }),
            BreakerState::Disabled => Ok(Ticket {
                generation,
                kind: TicketKind::Unrecorded,
            }),
            BreakerState::ForcedOpen => Err(Rejected { retry_in: None }),
            BreakerState::Open | BreakerState::HalfOpen => self.acquire_slow(now.now()),
        }
    }

    #[cold]
    fn acquire_slow(&self, now: Instant) -> Result<Ticket, Rejected> {
        let t = self.nanos(now);
        // A few rounds at most: each one follows a transition made by someone else.
        loop {
            let (generation, state) = self.state();
            match state {
                BreakerState::Closed | BreakerState::Disabled | BreakerState::ForcedOpen => {
                    return self.acquire(now);
                }
                BreakerState::Open => {
                    let at = self.half_open_at.load(Ordering::Acquire);
                    if t < at {
                        return Err(Rejected {
                            retry_in: Some(Duration::from_nanos(at - t)),
                        });
                    }
                    self.transition(
                        generation,
                        BreakerState::HalfOpen,
                        TransitionReason::OpenElapsed,
                        now,
                    );
                }
                BreakerState::HalfOpen => {
                    let since = self.half_open_since.load(Ordering::Acquire);
                    let waited = Duration::from_nanos(t.saturating_sub(since));
                    let max_wait = self
                        .config
                        .half_open_max_wait
                        .unwrap_or(self.config.open_duration);
                    if waited > max_wait {
                        self.transition(
                            generation,
                            BreakerState::Open,
                            TransitionReason::ProbeTimeout,
                            now,
                        );
                        continue;
                    }
                    return self.take_probe(generation);
                }
            }
        }
    }

    fn take_probe(&self, generation: u64) -> Result<Ticket, Rejected> {
        let tag = generation & 0xFFFF_FFFF;
        let taken = self
            .probes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let (g, successes, in_flight) = unpack_probes(w);
                (g == tag && in_flight < self.config.probes)
                    .then(|| pack_probes(generation, successes, in_flight + 1))
            });
        match taken {
            Ok(_) => Ok(Ticket {
                generation,
                kind: TicketKind::Probe,
            }),
            Err(_) => Err(Rejected { retry_in: None }),
        }
    }

    /// Gives back the probe slot of a ticket that was never used.
    pub(crate) fn release(&self, ticket: Ticket) {
        if ticket.kind != TicketKind::Probe {
            return;
        }
        let tag = ticket.generation & 0xFFFF_FFFF;
        let _ = self
            .probes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let (g, successes, in_flight) = unpack_probes(w);
                (g == tag && in_flight > 0)
                    .then(|| pack_probes(ticket.generation, successes, in_flight - 1))
            });
    }

    /// Records the outcome of an admitted call. Outcomes from an older generation change
    /// nothing. `now` is read only when the outcome may cause a transition.
    #[inline]
    pub(crate) fn record(&self, ticket: Ticket, outcome: &Outcome, now: impl Now) {
        let effect = self.config.effect(outcome);
        let (generation, state) = self.state();
        if generation != ticket.generation {
            return;
        }
        match (state, ticket.kind, effect) {
            (BreakerState::Closed, TicketKind::Closed, BreakerEffect::Success) => {
                // The first success after failures ends their run (a read, no write, otherwise).
                let run = self.consecutive.load(Ordering::Relaxed);
                if count_in(run, generation).is_some_and(|n| n > 0) {
                    let _ = self.consecutive.compare_exchange(
                        run,
                        tagged(generation, 0),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
                if self.warm.load(Ordering::Relaxed) {
                    let _ = self.shards[my_shard()].0.fetch_update(
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                        |w| count_in(w, generation).map(|n| tagged(generation, n + 1)),
                    );
                } else {
                    self.closed_outcome(generation, false, now.now());
                }
            }
            (BreakerState::Closed, TicketKind::Closed, BreakerEffect::Failure) => {
                self.closed_outcome(generation, true, now.now());
            }
            (BreakerState::HalfOpen, TicketKind::Probe, effect) => {
                self.probe_outcome(ticket, effect, now.now())
            }
            _ => {}
        }
    }

    /// Brings the window up to date with the successes counted in the shards (they all came
    /// before whatever is being recorded now).
    fn flush(&self, slow: &mut Slow, generation: u64) {
        let pending: u64 = self
            .shards
            .iter()
            .filter_map(|s| {
                count_in(
                    s.0.swap(tagged(generation, 0), Ordering::Relaxed),
                    generation,
                )
            })
            .sum();
        let pending = u32::try_from(pending).unwrap_or(u32::MAX);
        slow.window.push(false, pending, self.config.window);
    }

    #[cold]
    fn closed_outcome(&self, generation: u64, failure: bool, now: Instant) {
        let mut slow = self.lock();
        if self.state() != (generation, BreakerState::Closed) {
            return;
        }
        self.flush(&mut slow, generation);
        slow.window.push(failure, 1, self.config.window);
        let mut run = 0;
        if failure {
            // Under the lock, after the state check: a stale failure never gets here.
            let before = self
                .consecutive
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                    Some(tagged(generation, count_in(w, generation).unwrap_or(0) + 1))
                })
                .unwrap_or_default();
            run = count_in(before, generation).unwrap_or(0) + 1;
        }
        let c = &self.config;
        let w = &slow.window;
        if w.calls >= c.minimum_calls {
            self.warm.store(true, Ordering::Relaxed);
        }
        let reason = if failure && c.consecutive_failures.is_some_and(|n| run >= u64::from(n)) {
            TransitionReason::ConsecutiveFailures
        } else if w.calls >= c.minimum_calls
            && f64::from(w.failures) >= c.failure_rate * f64::from(w.calls)
        {
            TransitionReason::FailureRate
        } else {
            return;
        };
        let t = self.transition_locked(&mut slow, generation, BreakerState::Open, reason, now);
        drop(slow);
        self.emit(t);
    }

    #[cold]
    fn probe_outcome(&self, ticket: Ticket, effect: BreakerEffect, now: Instant) {
        let generation = ticket.generation;
        match effect {
            BreakerEffect::Failure => {
                self.transition(
                    generation,
                    BreakerState::Open,
                    TransitionReason::ProbeFailed,
                    now,
                );
            }
            BreakerEffect::Ignored => self.release(ticket),
            BreakerEffect::Success => {
                let tag = generation & 0xFFFF_FFFF;
                let after = self
                    .probes
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                        let (g, successes, in_flight) = unpack_probes(w);
                        (g == tag && in_flight > 0)
                            .then(|| pack_probes(generation, successes + 1, in_flight - 1))
                    });
                if let Ok(before) = after {
                    let (_, successes, _) = unpack_probes(before);
                    if successes + 1 >= self.config.required_successes {
                        self.transition(
                            generation,
                            BreakerState::Closed,
                            TransitionReason::ProbesSucceeded,
                            now,
                        );
                    }
                }
            }
        }
    }

    /// Moves from `generation` to `to`, unless another transition came first.
    pub(crate) fn transition(
        &self,
        generation: u64,
        to: BreakerState,
        reason: TransitionReason,
        now: Instant,
    ) {
        let mut slow = self.lock();
        let t = self.transition_locked(&mut slow, generation, to, reason, now);
        drop(slow);
        self.emit(t);
    }

    /// Moves from whatever state the breaker is in to `to` (for manual operations, which only
    /// go to Closed, ForcedOpen or Disabled: states with no timer, so no clock is read).
    pub(crate) fn force(&self, to: BreakerState, reason: TransitionReason) {
        debug_assert!(!matches!(to, BreakerState::Open | BreakerState::HalfOpen));
        let mut slow = self.lock();
        let (generation, _) = self.state();
        let t = self.transition_locked(&mut slow, generation, to, reason, Instant::now);
        drop(slow);
        self.emit(t);
    }

    fn transition_locked(
        &self,
        slow: &mut Slow,
        generation: u64,
        to: BreakerState,
        reason: TransitionReason,
        now: impl Now,
    ) -> Option<Transition> {
        let (current, from) = self.state();
        if current != generation {
            return None;
        }
        let next = generation + 1;
        // Everything a caller of the new state reads is in place before the state is published.
        match to {
            BreakerState::Open => {
                slow.trips = slow.trips.saturating_add(1);
                let open_for = self.config.open_duration(slow.trips);
                let at = self
                    .nanos(now.now())
                    .saturating_add(u64::try_from(open_for.as_nanos()).unwrap_or(u64::MAX));
                self.half_open_at.store(at, Ordering::Release);
            }
            BreakerState::HalfOpen => {
                self.half_open_since
                    .store(self.nanos(now.now()), Ordering::Release);
                self.probes
                    .store(pack_probes(next, 0, 0), Ordering::Release);
            }
            BreakerState::Closed => {
                slow.trips = 0;
                self.clear_window(slow, next);
            }
            BreakerState::ForcedOpen | BreakerState::Disabled => self.clear_window(slow, next),
        }
        self.word.store(pack(next, to), Ordering::Release);
        Some(Transition {
            from,
            to,
            reason,
            generation: next,
        })
    }

    /// Empties the window and the counters, tagging them with the `generation` about to begin.
    fn clear_window(&self, slow: &mut Slow, generation: u64) {
        slow.window.clear();
        for s in &self.shards {
            s.0.store(tagged(generation, 0), Ordering::Relaxed);
        }
        self.warm.store(false, Ordering::Relaxed);
        self.consecutive
            .store(tagged(generation, 0), Ordering::Relaxed);
    }

    fn emit(&self, t: Option<Transition>) {
        if let (Some(t), Some(hook)) = (t, &self.hook) {
            hook.on_event(&Event::BreakerTransition {
                breaker: self.name.as_deref(),
                from: t.from,
                to: t.to,
                reason: t.reason,
                generation: t.generation,
            });
        }
    }

    pub(crate) fn snapshot(&self, now: Instant) -> Snapshot {
        let mut slow = self.lock();
        let (generation, state) = self.state();
        if state == BreakerState::Closed {
            self.flush(&mut slow, generation);
        }
        let w = &slow.window;
        let t = self.nanos(now);
        Snapshot {
            state,
            generation,
            calls: w.calls,
            failures: w.failures,
            failure_rate: (w.calls >= self.config.minimum_calls && w.calls > 0)
                .then(|| f64::from(w.failures) / f64::from(w.calls)),
            // The run that tripped the breaker stays visible until it closes again.
            consecutive_failures: u32::try_from(
                self.consecutive.load(Ordering::Relaxed) & COUNT_MASK,
            )
            .unwrap_or(u32::MAX),
            half_open_in: (state == BreakerState::Open).then(|| {
                Duration::from_nanos(self.half_open_at.load(Ordering::Acquire).saturating_sub(t))
            }),
        }
    }
}

impl Ticket {
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn is_probe(&self) -> bool {
        self.kind == TicketKind::Probe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides_and_merges_runs() {
        let mut w = Window::default();
        w.push(true, 3, 5);
        w.push(false, 1, 5);
        w.push(false, 1, 5);
        assert_eq!((w.calls, w.failures, w.runs.len()), (5, 3, 2));
        w.push(false, 2, 5);
        assert_eq!((w.calls, w.failures), (5, 1), "two old failures left");
        w.push(false, 100, 5);
        assert_eq!((w.calls, w.failures, w.runs.len()), (5, 0, 1));
    }

    #[test]
    fn open_duration_grows_to_its_cap() {
        let c = Config {
            open_duration: Duration::from_secs(30),
            open_growth: 2.0,
            max_open_duration: Duration::from_secs(300),
            ..DEFAULT
        };
        let secs: Vec<_> = (1..=6).map(|k| c.open_duration(k).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 300, 300]);
        assert_eq!(c.open_duration(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn tagged_counters_belong_to_one_generation() {
        let w = tagged(7, 3);
        assert_eq!(count_in(w, 7), Some(3));
        assert_eq!(count_in(w, 8), None);
        assert_eq!(
            count_in(tagged(7, u64::MAX), 7),
            Some(COUNT_MASK),
            "saturates"
        );
        assert_eq!(
            count_in(tagged(TAG_MASK + 1 + 7, 1), 7),
            Some(1),
            "the tag wraps"
        );
    }

    #[test]
    fn words_round_trip() {
        for s in BreakerState::ALL {
            assert_eq!(unpack(pack(12345, s)), (12345, s));
        }
        assert_eq!(unpack_probes(pack_probes(7, 3, 2)), (7, 3, 2));
    }
}
