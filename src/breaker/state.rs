//! The breaker's state machine: pure (every method takes `now`, nothing reads a clock or needs a
//! runtime), shared between threads, and lock-free on the closed and open paths.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::config::{BreakInfo, Config, HalfOpenDecision, MAX_PROBES, TripCheck};
use super::threshold::Threshold;
use super::window::{Mark, Tally, Window};
use crate::classify::{BreakerEffect, Outcome};
use crate::deadline::{Now, nanos_since};
use crate::error::MAX_DURATION;
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

/// How far from a boundary (the end of the open period, the half-open maximum wait) a cheap
/// reading of the clock ([`Now::recent`]) is trusted; nearer, the exact clock decides. Far more
/// than the error of a coarse clock (one kernel tick, at most 10 ms).
const SLACK: u64 = 50_000_000;
fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A call was not admitted: the breaker is open (or half-open with every probe slot taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Open: how long until the breaker admits probes. Half-open with every probe slot taken:
    /// how long until a call is admitted without a probe finishing, the sooner of a probe
    /// renewal and the end of a maximum wait that closes the breaker (`None` with neither, as by
    /// default: the probes decide). Forced open: `None`. Computed from [`Now::recent`]: within a
    /// few milliseconds through the layer, exact with an `Instant`.
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

/// A ticket of admission: the generation it was issued in, whether it holds a probe slot, and
/// when the call started (slow-call tracking on). Plain words: it is returned on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The generation (high bits) and the [`TicketKind`] (low 2 bits): a permit is copied on
    /// every call, and whole words copy without stalls.
    word: u64,
    /// `1 +` nanoseconds since `base` when the call started; 0 for an untimed call.
    started: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TicketKind {
    Closed = 0,
    Probe = 1,
    /// Issued by a disabled breaker, or already used: records nothing, releases nothing.
    Unrecorded = 2,
}

impl Ticket {
    fn new(generation: u64, kind: TicketKind) -> Self {
        Ticket {
            word: (generation << 2) | kind as u64,
            started: 0,
        }
    }

    fn kind(&self) -> TicketKind {
        match self.word & 3 {
            0 => TicketKind::Closed,
            1 => TicketKind::Probe,
            _ => TicketKind::Unrecorded,
        }
    }

    /// The same ticket, used: it records and releases nothing any more.
    pub(crate) fn spent(self) -> Self {
        Ticket {
            word: self.word | 3,
            started: 0,
        }
    }
}

/// `now`, read at most once: the exact instant when a decision needs it, a cheap reading
/// ([`Now::recent`]) where an estimate will do.
struct Lazy<N> {
    source: Option<N>,
    read: Option<Instant>,
}

impl<N: Now> Lazy<N> {
    fn new(now: N) -> Self {
        Lazy {
            source: Some(now),
            read: None,
        }
    }

    /// The exact instant.
    fn read(&mut self) -> Instant {
        match (self.read, self.source.take()) {
            (_, Some(now)) => *self.read.insert(now.now()),
            (Some(read), None) => read,
            (None, None) => unreachable!("a `Lazy` holds its source until it is read"),
        }
    }

    /// A cheap reading, if there is one (the exact instant, once it has been read).
    fn estimate(&self) -> Option<Instant> {
        self.read
            .or_else(|| self.source.as_ref().and_then(Now::recent))
    }
}

impl<N: Now> Now for &mut Lazy<N> {
    fn now(self) -> Instant {
        self.read()
    }

    fn recent(&self) -> Option<Instant> {
        self.estimate()
    }

    fn recent_since(&self, origin: Instant) -> Option<u64> {
        match (self.read, &self.source) {
            (Some(read), _) => Some(nanos_since(origin, read)),
            (None, Some(source)) => source.recent_since(origin),
            (None, None) => None,
        }
    }
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

/// A thread's counters: successes since the window was last brought up to date, and
/// rejections.
#[derive(Default)]
struct Shard {
    /// Closed: tagged with their generation and bucket (see [`shard_word`]).
    successes: AtomicU64,
    /// Rejections on this shard so far (see [`Shared::acquire_other`]).
    rejected: AtomicU64,
}

/// What only a holder of the lock changes.
#[derive(Debug)]
struct Locked {
    window: Window,
    /// Consecutive trips without closing, for the growth of the open duration.
    trips: u32,
    /// HalfOpen: slow probes that did not fail, and slow probes that failed (the probe word
    /// counts both among its failed probes).
    slow_probe_successes: u32,
    slow_probe_failures: u32,
}

/// A function computing the open duration of a trip.
pub(crate) type BreakDuration = Box<dyn Fn(&BreakInfo) -> Duration + Send + Sync>;

/// The state every clone of a breaker shares. `repr(C)`, hot fields first: what the closed and
/// open paths read shares the first cache line (the shards have lines of their own).
#[repr(C)]
pub(crate) struct Shared {
    /// The generation (high bits) and the state (low 3 bits): every call loads it, only
    /// transitions store it.
    word: AtomicU64,
    /// Closed: the current run of failures, tagged with its generation (see [`tagged`]). Written
    /// on a failure, and on the first success after one.
    consecutive: AtomicU64,
    /// A time window's bucket length in nanoseconds; 0 for a count window.
    bucket: u64,
    /// Time window: the newest bucket, and the instant it ends (nanoseconds since `base`). A
    /// success before that instant counts in its shard; one after it takes the lock and moves
    /// the window on.
    newest: AtomicU64,
    bucket_end: AtomicU64,
    /// Open: when probes may start, in nanoseconds since `base`.
    half_open_at: AtomicU64,
    /// The instant times are measured from: the first `now` the breaker needed.
    base: OnceLock<Instant>,
    /// Closed: whether the window holds the minimum number of calls; from then on a success can
    /// never trip the breaker (until buckets expire, which only the lock path does), so
    /// successes only count themselves in their shard.
    warm: AtomicBool,
    /// Whether calls are timed (slow-call tracking on): the configuration's, at hand.
    timed: bool,
    /// Whether a `Rejected` outcome counts as a success: the configuration's, at hand.
    rejected_is_success: bool,
    /// Per thread: successes since the window was last brought up to date, and rejections.
    shards: [Padded<Shard>; SHARDS],
    pub(crate) config: Config,
    pub(crate) name: Option<Box<str>>,
    hook: Option<Box<dyn OnEvent + Send + Sync>>,
    /// The thresholds of the rate rules, in whole basis points (`None`: the rule is off).
    failure_threshold: Option<Threshold>,
    slow_threshold: Option<Threshold>,
    /// Computes the open duration, if given.
    break_duration: Option<BreakDuration>,
    /// HalfOpen: when it began, in nanoseconds since `base`.
    half_open_since: AtomicU64,
    /// HalfOpen: the longest wait for probes, in nanoseconds, if limited.
    half_open_max_wait: Option<u64>,
    /// HalfOpen: the probe renewal, in nanoseconds, if on.
    probe_renewal: Option<u64>,
    /// HalfOpen, probe renewal on: when one more probe may be granted (nanoseconds since `base`).
    probe_renew_at: AtomicU64,
    /// HalfOpen: the [`Probes`] of the current period.
    probes: AtomicU64,
    locked: Mutex<Locked>,
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

/// The run of failures must never carry an outcome of one generation into the next: it holds
/// the generation's low 24 bits beside a 40-bit count, and only changes by a compare-and-swap
/// that checks the tag, so a stale outcome racing a transition never lands in the new
/// generation's count.
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

/// A success shard: the generation's low 16 bits, the bucket's low 16 bits (0 for a count
/// window), and a 32-bit count, changed only by a compare-and-swap that checks both tags: a
/// success racing a transition or the start of a new bucket never lands in the wrong one.
fn shard_word(generation: u64, bucket: u64, count: u64) -> u64 {
    ((generation & 0xFFFF) << 48) | ((bucket & 0xFFFF) << 32) | count.min(u64::from(u32::MAX))
}

/// The count of a shard, if it belongs to `generation` and `bucket`.
fn shard_count(word: u64, generation: u64, bucket: u64) -> Option<u64> {
    (word >> 32 == (((generation & 0xFFFF) << 16) | (bucket & 0xFFFF)))
        .then_some(word & 0xFFFF_FFFF)
}

/// The probes of a half-open period, in one word: the generation's low 16 bits, then 16 bits
/// each for the failed (or slow), succeeded and in-flight probes. Changed only by a
/// compare-and-swap that checks the tag, so a stale probe never counts in a later period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Probes {
    tag: u64,
    failed: u32,
    succeeded: u32,
    in_flight: u32,
}

impl Probes {
    fn new(generation: u64) -> Self {
        Probes {
            tag: generation & 0xFFFF,
            ..Probes::default()
        }
    }

    fn pack(self) -> u64 {
        (self.tag << 48)
            | (u64::from(self.failed) << 32)
            | (u64::from(self.succeeded) << 16)
            | u64::from(self.in_flight)
    }

    fn unpack(word: u64) -> Self {
        Probes {
            tag: word >> 48,
            failed: ((word >> 32) & 0xFFFF) as u32,
            succeeded: ((word >> 16) & 0xFFFF) as u32,
            in_flight: (word & 0xFFFF) as u32,
        }
    }

    /// Admitted in this period: every probe that has not given its place back.
    fn admitted(self) -> u32 {
        self.failed + self.succeeded + self.in_flight
    }

    /// Changes the word of `generation`'s period by `f`, if it is that period's and `f` allows.
    fn update(
        word: &AtomicU64,
        generation: u64,
        f: impl Fn(Probes) -> Option<Probes>,
    ) -> Option<(Probes, Probes)> {
        let mut before = Probes::default();
        word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            let p = Probes::unpack(w);
            before = p;
            (p.tag == generation & 0xFFFF)
                .then(|| f(p))
                .flatten()
                .map(Probes::pack)
        })
        .ok()
        .map(|_| {
            let after = f(before).unwrap_or(before);
            (before, after)
        })
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn rejected_for(nanos: u64) -> Rejected {
    Rejected {
        retry_in: Some(Duration::from_nanos(nanos)),
    }
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
        break_duration: Option<BreakDuration>,
    ) -> Self {
        Shared {
            config,
            name,
            hook,
            word: AtomicU64::new(pack(0, BreakerState::Closed)),
            consecutive: AtomicU64::new(tagged(0, 0)),
            warm: AtomicBool::new(false),
            timed: config.slow_call_duration.is_some(),
            rejected_is_success: config.rejected_counts_as_success,
            shards: Default::default(),
            failure_threshold: config.failure_threshold(),
            slow_threshold: config.slow_threshold(),
            break_duration,
            bucket: config.window.bucket_nanos().unwrap_or(0),
            newest: AtomicU64::new(0),
            // Nothing counts on a shard until the first success has taken the lock.
            bucket_end: AtomicU64::new(0),
            half_open_at: AtomicU64::new(0),
            half_open_since: AtomicU64::new(0),
            half_open_max_wait: config.half_open_max_wait().map(duration_nanos),
            probe_renewal: config.probe_renewal.map(duration_nanos),
            probe_renew_at: AtomicU64::new(0),
            probes: AtomicU64::new(Probes::new(0).pack()),
            base: OnceLock::new(),
            locked: Mutex::new(Locked {
                window: Window::new(config.window),
                trips: 0,
                slow_probe_successes: 0,
                slow_probe_failures: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Locked> {
        self.locked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    fn nanos(&self, now: Instant) -> u64 {
        nanos_since(*self.base.get_or_init(|| now), now)
    }

    /// The cheap reading of `now` in nanoseconds since `base`, if it has one.
    #[inline]
    fn recent_nanos(&self, now: &impl Now) -> Option<u64> {
        match self.base.get() {
            Some(base) => now.recent_since(*base),
            // The first instant the breaker needs becomes its base.
            None => now.recent().map(|t| self.nanos(t)),
        }
    }

    /// The cheap reading of `now` in nanoseconds since `base`, or the exact one when there is
    /// no cheap one.
    #[inline]
    fn cheap_nanos(&self, now: &mut Lazy<impl Now>) -> u64 {
        match self.recent_nanos(&&mut *now) {
            Some(t) => t,
            None => self.nanos(now.read()),
        }
    }

    /// The time-window bucket of `now` (0 for a count window, which reads no clock).
    fn bucket_of(&self, now: &mut Lazy<impl Now>) -> u64 {
        match self.bucket {
            0 => 0,
            len => self.cheap_nanos(now) / len,
        }
    }

    #[inline]
    pub(crate) fn state(&self) -> (u64, BreakerState) {
        unpack(self.word.load(Ordering::Acquire))
    }

    /// Whether calls are timed (slow-call tracking is on).
    #[inline]
    pub(crate) fn times_calls(&self) -> bool {
        self.timed
    }

    /// When a call admitted now starts (see [`Ticket::started`]), if it is timed and `timed`
    /// asks for it.
    #[inline]
    fn start(&self, timed: bool, now: impl Now) -> u64 {
        if timed && self.times_calls() {
            self.nanos(now.now()).saturating_add(1)
        } else {
            0
        }
    }

    /// Admits a call, or says why not. Closed, `now` is read only to time the call (slow-call
    /// tracking on, and `timed`); open, only its cheap reading is, until the end of the open
    /// period is near.
    #[inline(always)]
    pub(crate) fn acquire(&self, now: impl Now, timed: bool) -> Result<Ticket, Rejected> {
        let (generation, state) = self.state();
        if state == BreakerState::Closed && !(timed && self.times_calls()) {
            return Ok(Ticket::new(generation, TicketKind::Closed));
        }
        self.acquire_other(now, timed)
    }

    /// Every other admission, the cheap open path first; rejections are counted.
    #[inline(never)]
    fn acquire_other(&self, now: impl Now, timed: bool) -> Result<Ticket, Rejected> {
        let admitted = self.admit_other(now, timed);
        if admitted.is_err() {
            // A load and a store, not a read-modify-write: the counter is the calling thread's
            // (no lock prefix on the rejecting path). Two threads sharing a shard (more than
            // `SHARDS` threads) may lose a count when they reject at the same instant.
            let rejected = &self.shards[my_shard()].0.rejected;
            rejected.store(
                rejected.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
        }
        admitted
    }

    #[inline(always)]
    fn admit_other(&self, now: impl Now, timed: bool) -> Result<Ticket, Rejected> {
        let (generation, state) = self.state();
        match state {
            BreakerState::Disabled => Ok(Ticket::new(generation, TicketKind::Unrecorded)),
            BreakerState::ForcedOpen => Err(Rejected { retry_in: None }),
            BreakerState::Open => {
                // The cheap open path: far from the end of the open period, an estimate of the
                // time decides, and the rejection touches nothing but two loads.
                if let Some(t) = self.recent_nanos(&now) {
                    let at = self.half_open_at.load(Ordering::Acquire);
                    if t.saturating_add(SLACK) < at {
                        return Err(rejected_for(at - t));
                    }
                }
                self.acquire_slow(Lazy::new(now), timed)
            }
            BreakerState::Closed | BreakerState::HalfOpen => {
                self.acquire_slow(Lazy::new(now), timed)
            }
        }
    }

    #[cold]
    fn acquire_slow<N: Now>(&self, mut now: Lazy<N>, timed: bool) -> Result<Ticket, Rejected> {
        // A few rounds at most: each one follows a transition.
        loop {
            let (generation, state) = self.state();
            match state {
                BreakerState::Closed => {
                    return Ok(Ticket {
                        started: self.start(timed, &mut now),
                        ..Ticket::new(generation, TicketKind::Closed)
                    });
                }
                BreakerState::Disabled => {
                    return Ok(Ticket::new(generation, TicketKind::Unrecorded));
                }
                BreakerState::ForcedOpen => return Err(Rejected { retry_in: None }),
                BreakerState::Open => {
                    let at = self.half_open_at.load(Ordering::Acquire);
                    let t = self.nanos(now.read());
                    if t < at {
                        return Err(rejected_for(at - t));
                    }
                    self.transition(
                        generation,
                        BreakerState::HalfOpen,
                        TransitionReason::OpenElapsed,
                        &mut now,
                    );
                }
                BreakerState::HalfOpen => {
                    if self.waited_too_long(&mut now) {
                        self.transition(
                            generation,
                            self.config.after_half_open_max_wait,
                            TransitionReason::ProbeTimeout,
                            &mut now,
                        );
                        continue;
                    }
                    let ticket = match self.take_probe(generation, false) {
                        Some(ticket) => ticket,
                        None if self.probes_complete(generation) => {
                            self.decide_probes(generation, &mut now);
                            continue;
                        }
                        None => self.renew_probe(generation, &mut now)?,
                    };
                    if let Some(renewal) = self.probe_renewal {
                        let t = self.nanos(now.read());
                        self.probe_renew_at
                            .store(t.saturating_add(renewal), Ordering::Release);
                    }
                    return Ok(Ticket {
                        started: self.start(timed, &mut now),
                        ..ticket
                    });
                }
            }
        }
    }

    /// Whether the half-open period has outlasted its maximum wait by `now`.
    fn waited_too_long(&self, now: &mut Lazy<impl Now>) -> bool {
        let Some(max_wait) = self.half_open_max_wait else {
            return false;
        };
        let since = self.half_open_since.load(Ordering::Acquire);
        let surely_in_time = self
            .recent_nanos(&&mut *now)
            .is_some_and(|t| t.saturating_sub(since).saturating_add(SLACK) <= max_wait);
        !surely_in_time && self.nanos(now.read()).saturating_sub(since) > max_wait
    }

    /// Every probe slot is taken: grants one more if the newest probe has been in flight longer
    /// than the probe renewal, or rejects with the time until a call can be admitted without a
    /// probe finishing, if known.
    #[cold]
    fn renew_probe(&self, generation: u64, now: &mut Lazy<impl Now>) -> Result<Ticket, Rejected> {
        let t = self.cheap_nanos(now);
        if let Some(due) = self.renewal_due() {
            let t = self.nanos(now.read());
            if t >= due
                && self
                    .probe_renew_at
                    .compare_exchange(due, u64::MAX, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                if let Some(ticket) = self.take_probe(generation, true) {
                    return Ok(ticket);
                }
            }
        }
        Err(Rejected {
            retry_in: self.slot_free_in(t),
        })
    }

    /// Probe renewal on: when one more probe may be granted, once a probe has been admitted
    /// this period (`u64::MAX` before, or while a renewal is under way).
    fn renewal_due(&self) -> Option<u64> {
        self.probe_renewal
            .map(|_| self.probe_renew_at.load(Ordering::Acquire))
            .filter(|&due| due != u64::MAX)
    }

    /// Half-open with every probe slot taken: how long after `t` a call is admitted without a
    /// probe finishing, the sooner of a probe renewal and the end of a maximum wait that
    /// closes the breaker (the end of one that opens it admits nothing).
    fn slot_free_in(&self, t: u64) -> Option<Duration> {
        let timeout = self
            .half_open_max_wait
            .filter(|_| self.config.after_half_open_max_wait == BreakerState::Closed)
            .map(|wait| {
                self.half_open_since
                    .load(Ordering::Acquire)
                    .saturating_add(wait)
                    .saturating_add(1)
            });
        let next = match (self.renewal_due(), timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|at| Duration::from_nanos(at.saturating_sub(t)))
    }

    /// Takes a probe slot, if one is free (`renewed`: whatever the limit on probes at once).
    fn take_probe(&self, generation: u64, renewed: bool) -> Option<Ticket> {
        let c = &self.config;
        Probes::update(&self.probes, generation, |p| {
            let free = match c.half_open_decision {
                HalfOpenDecision::Counts => p.in_flight < c.probes,
                HalfOpenDecision::Rates => p.admitted() < c.probes,
            };
            ((free || renewed) && p.in_flight < MAX_PROBES).then_some(Probes {
                in_flight: p.in_flight + 1,
                ..p
            })
        })
        .map(|_| Ticket::new(generation, TicketKind::Probe))
    }

    /// Starts timing an admitted call now, if calls are timed (for admissions made before the
    /// call itself, such as the layer's in `poll_ready`).
    pub(crate) fn begin(&self, ticket: &mut Ticket, now: impl Now) {
        if ticket.kind() != TicketKind::Unrecorded {
            ticket.started = self.start(true, now);
        }
    }

    /// Gives back the probe slot of a ticket that was never used.
    pub(crate) fn release(&self, ticket: Ticket) {
        if ticket.kind() != TicketKind::Probe {
            return;
        }
        // Deciding by rates, a renewed probe given back may leave a complete set: the next
        // admission decides it.
        Probes::update(&self.probes, ticket.generation(), |p| {
            (p.in_flight > 0).then_some(Probes {
                in_flight: p.in_flight - 1,
                ..p
            })
        });
    }

    /// Whether the timed call of `ticket` ran longer than the slow-call threshold by `now`.
    #[inline]
    fn was_slow(&self, ticket: Ticket, now: &mut Lazy<impl Now>) -> bool {
        match (self.config.slow_call_duration, ticket.started) {
            (Some(threshold), started) if started > 0 => {
                let ran = self.nanos(now.read()).saturating_sub(started - 1);
                ran > duration_nanos(threshold)
            }
            _ => false,
        }
    }

    /// Records the outcome of an admitted call. Outcomes from an older generation change
    /// nothing. `now` is read only when the outcome may cause a transition, to time the call,
    /// or (cheaply) to place it in a time window.
    #[inline]
    pub(crate) fn record(&self, ticket: Ticket, outcome: &Outcome, now: impl Now) {
        let effect = match outcome {
            Outcome::Rejected if self.rejected_is_success => BreakerEffect::Success,
            other => other.breaker_effect(),
        };
        let (generation, state) = self.state();
        if generation != ticket.generation() {
            return;
        }
        match (state, ticket.kind(), effect) {
            (BreakerState::Closed, TicketKind::Closed, BreakerEffect::Success) => {
                self.closed_success(generation, ticket, Lazy::new(now));
            }
            (BreakerState::Closed, TicketKind::Closed, BreakerEffect::Failure) => {
                let mut now = Lazy::new(now);
                let slow = self.was_slow(ticket, &mut now);
                self.closed_outcome(
                    generation,
                    Mark {
                        failure: true,
                        slow,
                    },
                    &mut now,
                );
            }
            (BreakerState::HalfOpen, TicketKind::Probe, BreakerEffect::Ignored) => {
                self.release(ticket);
            }
            (BreakerState::HalfOpen, TicketKind::Probe, effect) => {
                let mut now = Lazy::new(now);
                let slow = self.was_slow(ticket, &mut now);
                let mark = Mark {
                    failure: effect == BreakerEffect::Failure,
                    slow,
                };
                self.probe_outcome(ticket, mark, &mut now);
            }
            _ => {}
        }
    }

    /// The caller gave up on an admitted call at `now`: if it had already run longer than the
    /// slow-call threshold, it counts as a slow call (neither a success nor a failure);
    /// otherwise it is as if the permit was dropped unused.
    pub(crate) fn abandon(&self, ticket: Ticket, now: impl Now) {
        let mut now = Lazy::new(now);
        if !self.was_slow(ticket, &mut now) {
            self.release(ticket);
            return;
        }
        let (generation, state) = self.state();
        if generation != ticket.generation() {
            return;
        }
        let slow = Mark {
            failure: false,
            slow: true,
        };
        match (state, ticket.kind()) {
            (BreakerState::Closed, TicketKind::Closed) => {
                self.closed_outcome(generation, slow, &mut now)
            }
            (BreakerState::HalfOpen, TicketKind::Probe) => {
                self.probe_outcome(ticket, slow, &mut now)
            }
            _ => {}
        }
    }

    #[inline]
    fn closed_success<N: Now>(&self, generation: u64, ticket: Ticket, mut now: Lazy<N>) {
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
        let slow = self.was_slow(ticket, &mut now);
        if !slow && self.count_success(generation, &mut now) {
            return;
        }
        self.closed_outcome(
            generation,
            Mark {
                failure: false,
                slow,
            },
            &mut now,
        );
    }

    /// Counts a success on the calling thread's shard, without the lock, when it cannot change
    /// the verdict: the window holds the minimum number of calls (a success only lowers the
    /// rates) and, for a time window, the success falls in the newest bucket (no bucket
    /// expires). True when counted (or stale: nothing to count); false when the lock path must
    /// count it.
    #[inline]
    fn count_success(&self, generation: u64, now: &mut Lazy<impl Now>) -> bool {
        let bucket = match self.bucket {
            0 => 0,
            _ => {
                let t = self.cheap_nanos(now);
                if t >= self.bucket_end.load(Ordering::Acquire) {
                    return false;
                }
                self.newest.load(Ordering::Acquire)
            }
        };
        if !self.warm.load(Ordering::Relaxed) {
            return false;
        }
        let counted = self.shards[my_shard()].0.successes.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |w| shard_count(w, generation, bucket).map(|n| shard_word(generation, bucket, n + 1)),
        );
        // A failed swap: either the generation is over (a stale success: nothing to count),
        // or a new bucket began (the lock path counts it).
        counted.is_ok() || self.state().0 != generation
    }

    /// Brings the window up to date: the successes counted in the shards (they belong to the
    /// newest bucket, or to the count window), then time, up to `bucket`. The shards are then
    /// tagged for the newest bucket.
    fn sync(&self, locked: &mut Locked, generation: u64, bucket: u64) {
        let newest = locked.window.newest();
        let target = newest.max(bucket);
        let pending: u64 = self
            .shards
            .iter()
            .filter_map(|s| {
                shard_count(
                    s.0.successes
                        .swap(shard_word(generation, target, 0), Ordering::Relaxed),
                    generation,
                    newest,
                )
            })
            .sum();
        locked.window.push(Mark::SUCCESS, pending, newest);
        locked.window.advance(target);
    }

    /// Publishes what the lock-free paths read of the window: whether it is warm, and the
    /// newest bucket with its end.
    fn publish(&self, locked: &Locked) {
        let calls = locked.window.tally().calls;
        self.warm.store(
            calls >= u64::from(self.config.minimum_calls),
            Ordering::Relaxed,
        );
        if self.bucket > 0 {
            let newest = locked.window.newest();
            self.newest.store(newest, Ordering::Release);
            self.bucket_end.store(
                newest.saturating_add(1).saturating_mul(self.bucket),
                Ordering::Release,
            );
        }
    }

    #[cold]
    fn closed_outcome(&self, generation: u64, mark: Mark, now: &mut Lazy<impl Now>) {
        let bucket = self.bucket_of(now);
        let mut locked = self.lock();
        if self.state() != (generation, BreakerState::Closed) {
            return;
        }
        self.sync(&mut locked, generation, bucket);
        locked.window.push(mark, 1, bucket);
        let mut run = 0;
        if mark.failure {
            // Under the lock, after the state check: a stale failure never gets here.
            let before = self
                .consecutive
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                    Some(tagged(generation, count_in(w, generation).unwrap_or(0) + 1))
                })
                .unwrap_or_default();
            run = count_in(before, generation).unwrap_or(0) + 1;
        }
        self.publish(&locked);
        let c = &self.config;
        let w = locked.window.tally();
        let rates = w.calls >= u64::from(c.minimum_calls)
            && (mark.failure || c.trip_check == TripCheck::EveryOutcome);
        let reached =
            |th: Option<Threshold>, part| rates && th.is_some_and(|th| th.reached(part, w.calls));
        let reason = if mark.failure && c.consecutive_failures.is_some_and(|n| run >= u64::from(n))
        {
            TransitionReason::ConsecutiveFailures
        } else if reached(self.failure_threshold, w.failures) {
            TransitionReason::FailureRate
        } else if reached(self.slow_threshold, w.slow) {
            TransitionReason::SlowCallRate
        } else {
            return;
        };
        let t = self.transition_locked(&mut locked, generation, BreakerState::Open, reason, now);
        drop(locked);
        self.emit(t);
    }

    /// Whether every probe slot of a period with `p` is taken (a call now would be rejected).
    fn slots_taken(&self, p: Probes) -> bool {
        let c = &self.config;
        match c.half_open_decision {
            HalfOpenDecision::Counts => p.in_flight >= c.probes,
            HalfOpenDecision::Rates => p.in_flight > 0 && p.admitted() >= c.probes,
        }
    }

    /// Deciding by rates: whether every probe of `generation`'s period is in, none in flight.
    fn probes_complete(&self, generation: u64) -> bool {
        let p = Probes::unpack(self.probes.load(Ordering::Acquire));
        self.config.half_open_decision == HalfOpenDecision::Rates
            && p.tag == generation & 0xFFFF
            && p.in_flight == 0
            && p.admitted() >= self.config.probes
    }

    #[cold]
    fn probe_outcome(&self, ticket: Ticket, mark: Mark, now: &mut Lazy<impl Now>) {
        let generation = ticket.generation();
        let failed = mark.failure || mark.slow;
        // A slow probe is counted under the lock too, where a decision by rates reads it.
        let mut locked = None;
        if mark.slow {
            let guard = self.lock();
            if self.state().0 != generation {
                return;
            }
            locked = Some(guard);
        }
        let counted = Probes::update(&self.probes, generation, |p| {
            (p.in_flight > 0).then_some(Probes {
                failed: (p.failed + u32::from(failed)).min(0xFFFF),
                succeeded: (p.succeeded + u32::from(!failed)).min(0xFFFF),
                in_flight: p.in_flight - 1,
                ..p
            })
        });
        let Some((_, after)) = counted else {
            return;
        };
        if let Some(guard) = locked.as_mut() {
            if mark.failure {
                guard.slow_probe_failures += 1;
            } else {
                guard.slow_probe_successes += 1;
            }
        }
        let c = &self.config;
        let (to, reason) = match c.half_open_decision {
            HalfOpenDecision::Rates => {
                if after.in_flight == 0 && after.admitted() >= c.probes {
                    drop(locked);
                    self.decide_probes(generation, now);
                }
                return;
            }
            HalfOpenDecision::Counts if failed && after.failed >= c.probe_failures => (
                BreakerState::Open,
                if mark.failure {
                    TransitionReason::ProbeFailed
                } else {
                    TransitionReason::SlowProbe
                },
            ),
            HalfOpenDecision::Counts if !failed && after.succeeded >= c.required_successes => {
                (BreakerState::Closed, TransitionReason::ProbesSucceeded)
            }
            HalfOpenDecision::Counts => return,
        };
        let mut locked = locked.unwrap_or_else(|| self.lock());
        let t = self.transition_locked(&mut locked, generation, to, reason, now);
        drop(locked);
        self.emit(t);
    }

    /// Deciding by rates, every probe is in: opens again if the failure rate or the slow-call
    /// rate among them reached its threshold, and closes otherwise.
    fn decide_probes(&self, generation: u64, now: &mut Lazy<impl Now>) {
        let mut locked = self.lock();
        let p = Probes::unpack(self.probes.load(Ordering::Acquire));
        if self.state() != (generation, BreakerState::HalfOpen) || p.tag != generation & 0xFFFF {
            return;
        }
        let whole = u64::from(p.failed + p.succeeded);
        let slow = u64::from(locked.slow_probe_successes + locked.slow_probe_failures);
        let failures = u64::from(p.failed.saturating_sub(locked.slow_probe_successes));
        let reached = |th: Option<Threshold>, part| th.is_some_and(|th| th.reached(part, whole));
        let (to, reason) = if reached(self.failure_threshold, failures) {
            (BreakerState::Open, TransitionReason::ProbeFailed)
        } else if reached(self.slow_threshold, slow) {
            (BreakerState::Open, TransitionReason::SlowProbe)
        } else {
            (BreakerState::Closed, TransitionReason::ProbesSucceeded)
        };
        let t = self.transition_locked(&mut locked, generation, to, reason, now);
        drop(locked);
        self.emit(t);
    }

    /// Moves from `generation` to `to`, unless another transition came first.
    pub(crate) fn transition(
        &self,
        generation: u64,
        to: BreakerState,
        reason: TransitionReason,
        now: impl Now,
    ) {
        let mut locked = self.lock();
        let t = self.transition_locked(&mut locked, generation, to, reason, now);
        drop(locked);
        self.emit(t);
    }

    /// Moves from whatever state the breaker is in to `to` (for manual operations; `now` is
    /// read only for the timed states, Open and HalfOpen).
    pub(crate) fn force(&self, to: BreakerState, reason: TransitionReason, now: impl Now) {
        let mut locked = self.lock();
        let (generation, _) = self.state();
        let t = self.transition_locked(&mut locked, generation, to, reason, now);
        drop(locked);
        self.emit(t);
    }

    /// The open duration of the `trips`-th consecutive trip, with the window `w`.
    fn open_for(&self, trips: u32, w: Tally, reason: TransitionReason) -> Duration {
        match &self.break_duration {
            Some(f) => f(&BreakInfo {
                trips,
                reason,
                calls: saturate(w.calls),
                failures: saturate(w.failures),
            })
            .min(MAX_DURATION),
            None => self.config.open_duration(trips),
        }
    }

    fn transition_locked(
        &self,
        locked: &mut Locked,
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
                locked.trips = locked.trips.saturating_add(1);
                let open_for = self.open_for(locked.trips, locked.window.tally(), reason);
                let at = self
                    .nanos(now.now())
                    .saturating_add(duration_nanos(open_for));
                self.half_open_at.store(at, Ordering::Release);
            }
            BreakerState::HalfOpen => {
                self.half_open_since
                    .store(self.nanos(now.now()), Ordering::Release);
                self.probes
                    .store(Probes::new(next).pack(), Ordering::Release);
                self.probe_renew_at.store(u64::MAX, Ordering::Release);
                locked.slow_probe_successes = 0;
                locked.slow_probe_failures = 0;
            }
            BreakerState::Closed => {
                locked.trips = 0;
                self.clear_window(locked, next);
            }
            BreakerState::ForcedOpen | BreakerState::Disabled => self.clear_window(locked, next),
        }
        self.word.store(pack(next, to), Ordering::Release);
        Some(Transition {
            from,
            to,
            reason,
            generation: next,
        })
    }

    /// Empties the window and the counters, tagging them with the `generation` about to begin
    /// (a time window keeps its place in time).
    fn clear_window(&self, locked: &mut Locked, generation: u64) {
        locked.window.clear();
        let newest = locked.window.newest();
        for s in &self.shards {
            s.0.successes
                .store(shard_word(generation, newest, 0), Ordering::Relaxed);
        }
        self.consecutive
            .store(tagged(generation, 0), Ordering::Relaxed);
        self.publish(locked);
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

    /// The state the next call would find at `now`, with its generation: HalfOpen once the open
    /// period has passed, and where the half-open maximum wait leads once it has passed. Takes
    /// the lock only while open or half-open.
    pub(crate) fn state_at(&self, now: Instant) -> (u64, BreakerState) {
        let (generation, state) = self.state();
        if !matches!(state, BreakerState::Open | BreakerState::HalfOpen) {
            return (generation, state);
        }
        let locked = self.lock();
        let (generation, state) = self.state();
        let (state, _) = self.ahead(&locked, state, self.nanos(now));
        (generation, state)
    }

    /// Where the next call at `t` would find a breaker now in `state`, and, if it would find it
    /// open, how long until it admits probes.
    fn ahead(&self, locked: &Locked, state: BreakerState, t: u64) -> (BreakerState, Option<u64>) {
        match state {
            BreakerState::Open => {
                let at = self.half_open_at.load(Ordering::Acquire);
                if t >= at {
                    (BreakerState::HalfOpen, None)
                } else {
                    (BreakerState::Open, Some(at - t))
                }
            }
            BreakerState::HalfOpen if self.timed_out(t) => {
                match self.config.after_half_open_max_wait {
                    BreakerState::Open => {
                        let open_for = duration_nanos(self.open_for(
                            locked.trips.saturating_add(1),
                            locked.window.tally(),
                            TransitionReason::ProbeTimeout,
                        ));
                        if open_for == 0 {
                            (BreakerState::HalfOpen, None)
                        } else {
                            (BreakerState::Open, Some(open_for))
                        }
                    }
                    to => (to, None),
                }
            }
            other => (other, None),
        }
    }

    /// Whether a half-open period has outlasted its maximum wait at `t`.
    fn timed_out(&self, t: u64) -> bool {
        self.half_open_max_wait.is_some_and(|max_wait| {
            t.saturating_sub(self.half_open_since.load(Ordering::Acquire)) > max_wait
        })
    }

    pub(crate) fn snapshot(&self, now: Instant) -> Snapshot {
        let mut locked = self.lock();
        let (generation, state) = self.state();
        let t = self.nanos(now);
        // Time moves a time window on, with or without calls.
        let bucket = t.checked_div(self.bucket).unwrap_or(0);
        if state == BreakerState::Closed {
            // Not published: the lock-free path keeps counting only in the bucket of the last
            // evaluation, so the first success after buckets expired is evaluated.
            self.sync(&mut locked, generation, bucket);
        } else {
            locked.window.advance(bucket);
        }
        let (ahead, half_open_in) = self.ahead(&locked, state, t);
        let probes = Probes::unpack(self.probes.load(Ordering::Acquire));
        let probes = if state == BreakerState::HalfOpen
            && !self.timed_out(t)
            && probes.tag == generation & 0xFFFF
        {
            probes
        } else {
            Probes::default()
        };
        let w = locked.window.tally();
        let ready = w.calls >= u64::from(self.config.minimum_calls) && w.calls > 0;
        let rate = |n: u64| n as f64 / w.calls as f64;
        Snapshot {
            state: ahead,
            generation,
            calls: saturate(w.calls),
            failures: saturate(w.failures),
            slow_calls: saturate(w.slow),
            slow_successes: saturate(w.slow - w.slow_failures),
            slow_failures: saturate(w.slow_failures),
            failure_rate: ready.then(|| rate(w.failures)),
            slow_call_rate: (ready && self.times_calls()).then(|| rate(w.slow)),
            // The run that tripped the breaker stays visible until it closes again.
            consecutive_failures: saturate(self.consecutive.load(Ordering::Relaxed) & COUNT_MASK),
            half_open_in: half_open_in.map(Duration::from_nanos),
            rejected_calls: self
                .shards
                .iter()
                .map(|s| s.0.rejected.load(Ordering::Relaxed))
                .fold(0, u64::saturating_add),
            probe_slot_in: self
                .slots_taken(probes)
                .then(|| self.slot_free_in(t))
                .flatten(),
            probes_admitted: probes.admitted(),
            probes_in_flight: probes.in_flight,
            probes_succeeded: probes.succeeded,
            probes_failed: probes.failed,
        }
    }
}

impl Ticket {
    pub(crate) fn generation(&self) -> u64 {
        self.word >> 2
    }

    pub(crate) fn is_probe(&self) -> bool {
        self.kind() == TicketKind::Probe
    }

    pub(crate) fn is_timed(&self) -> bool {
        self.started > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn shards_belong_to_one_generation_and_bucket() {
        let w = shard_word(7, 300, 5);
        assert_eq!(shard_count(w, 7, 300), Some(5));
        assert_eq!(shard_count(w, 8, 300), None);
        assert_eq!(shard_count(w, 7, 301), None);
        assert_eq!(
            shard_count(shard_word(7, 300, u64::MAX), 7, 300),
            Some(u64::from(u32::MAX)),
            "saturates"
        );
        assert_eq!(
            shard_count(shard_word(7 + (1 << 16), 300, 1), 7, 300),
            Some(1)
        );
    }

    #[test]
    fn words_round_trip() {
        for s in BreakerState::ALL {
            assert_eq!(unpack(pack(12345, s)), (12345, s));
        }
        let p = Probes {
            tag: 7,
            failed: 1,
            succeeded: 3,
            in_flight: 2,
        };
        assert_eq!(Probes::unpack(p.pack()), p);
        assert_eq!(p.admitted(), 6);
    }

    #[test]
    fn lazy_reads_once() {
        let reads = std::cell::Cell::new(0);
        let t = Instant::now();
        let mut lazy = Lazy::new(|| {
            reads.set(reads.get() + 1);
            t
        });
        assert_eq!(lazy.estimate(), None, "a closure has no cheap reading");
        assert_eq!(lazy.read(), t);
        assert_eq!(lazy.read(), t);
        assert_eq!(reads.get(), 1);
        assert_eq!(Lazy::new(t).estimate(), Some(t), "an instant is its own");
    }
}
