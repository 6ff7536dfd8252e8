//! The breaker's state machine: pure (every method takes `now`, nothing reads a clock or needs a
//! runtime), shared between threads, and lock-free on the closed and open paths.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::breaker::config::{BreakInfo, Config};
use crate::breaker::lazy::Lazy;
use crate::breaker::packed::{Probes, pack, tagged, unpack};
use crate::breaker::shards::{Padded, SHARDS, Shard};
use crate::breaker::state::{BreakerState, Rejected, TransitionReason};
use crate::breaker::threshold::Threshold;
use crate::breaker::window::Window;
use crate::deadline::{Now, nanos_since};
use crate::event::OnEvent;

mod admit;
mod record;
mod report;
mod transition;

/// How far from a boundary (the end of the open period, the half-open maximum wait) a cheap
/// reading of the clock ([`Now::recent`]) is trusted; nearer, the exact clock decides. Far more
/// than the error of a coarse clock (one kernel tick, at most 10 ms).
const SLACK: u64 = 50_000_000;
fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
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
}
