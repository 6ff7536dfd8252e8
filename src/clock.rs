//! The glue's one clock: tokio's, so that `tokio::time::pause()` controls every timer and every
//! instant the layers hand to the pure core (which works in `std::time::Instant`).
//!
//! # The cheap reading
//!
//! Reading the exact clock costs ~27 ns here. The breaker needs the time on hot paths that
//! tolerate a few milliseconds of error: placing a success in a bucket of a time window, and
//! rejecting a call while open when the end of the open period is still far away. For those,
//! [`TokioClock`] offers [`Now::recent`], a reading of `CLOCK_MONOTONIC_COARSE` (~5 ns, updated at
//! every kernel tick: 1 to 4 ms, at most 10 ms) mapped onto `std::time::Instant`, which is
//! `CLOCK_MONOTONIC`, the same timebase. The mapping is one pair of readings taken once, so the
//! estimate is within one tick of the exact clock, ahead or behind. The core decides exactly
//! wherever the answer depends on the last few milliseconds: it calls [`Now::now`] there.
//!
//! A paused tokio clock is a different timebase: it stands still, and jumps when a test sleeps.
//! The coarse clock knows nothing of it, so a thread reads tokio's clock exactly, always, once
//! it has seen it paused. It looks when it first needs a cheap reading, and again at every
//! exact reading made through [`TokioClock::now`]: a tokio clock that is not paused reads exactly
//! what `std::time::Instant::now()` reads between two readings of the latter, and a paused one
//! (frozen, or moved by `advance` and auto-advance) practically never does. Pausing requires a
//! current-thread runtime, whose tasks all run on its thread, so the flag is per thread.
//! `#[tokio::test(start_paused = true)]` is always seen; a clock paused in the middle of a test
//! is seen at the first exact reading after the pause (a trip, a failure, a rejection near the
//! end of an open period).
//!
//! Other platforms than Linux and Android have no coarse clock on the timebase of
//! `std::time::Instant` that this crate can read safely: there, `recent` is exact.

use std::cell::Cell;
use std::time::Instant;

use crate::deadline::{Now, nanos_since};

/// The clock of one step of a call, read at most once and only if something needs it: tokio's
/// clock ([`live`](Self::live)), or an instant already read ([`fixed`](Self::fixed), which is
/// how the pure core is driven without a runtime).
///
/// This is the glue's side of the lazy clock (the core's side, a [`Now`] read at most once
/// per operation, is in `now.rs`): the failover and its routing state read it.
///
/// Whether it is live is part of its type (`LIVE`), so that the executor's steps hand the
/// breakers [`TokioClock`] with nothing to look at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LazyNow<const LIVE: bool = false> {
    at: Option<Instant>,
}

impl LazyNow<true> {
    /// Tokio's clock, read on first need.
    #[inline]
    pub(crate) fn live() -> Self {
        LazyNow { at: None }
    }
}

impl LazyNow<false> {
    /// An instant already read: every reading is `at`.
    #[inline]
    pub(crate) fn fixed(at: Instant) -> Self {
        LazyNow { at: Some(at) }
    }
}

impl<const LIVE: bool> LazyNow<LIVE> {
    /// The instant, read now if it was not yet.
    #[inline]
    pub(crate) fn get(&mut self) -> Instant {
        *self.at.get_or_insert_with(now)
    }

    /// The same clock as a breaker reads it: [`TokioClock`] (exact where it must be, cheap where an
    /// estimate will do) when live, the fixed instant otherwise.
    #[inline]
    pub(crate) fn breaker_clock(&self) -> BreakerClock {
        match self.at {
            _ if LIVE => BreakerClock::Tokio,
            Some(at) => BreakerClock::At(at),
            None => BreakerClock::Tokio,
        }
    }
}

/// A breaker's view of a [`LazyNow`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum BreakerClock {
    /// Tokio's clock, through [`TokioClock`].
    Tokio,
    /// A fixed instant.
    At(Instant),
}

impl Now for BreakerClock {
    #[inline]
    fn now(self) -> Instant {
        match self {
            BreakerClock::Tokio => TokioClock.now(),
            BreakerClock::At(at) => at,
        }
    }

    #[inline]
    fn recent(&self) -> Option<Instant> {
        match self {
            BreakerClock::Tokio => TokioClock.recent(),
            BreakerClock::At(at) => Some(*at),
        }
    }

    #[inline]
    fn recent_since(&self, origin: Instant) -> Option<u64> {
        match self {
            BreakerClock::Tokio => TokioClock.recent_since(origin),
            BreakerClock::At(at) => Some(nanos_since(origin, *at)),
        }
    }
}

/// Now, on tokio's clock, as the core's `Instant`.
#[inline]
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// How this thread reads the time cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not yet known: the first cheap reading looks at tokio's clock.
    Unknown,
    /// Tokio's clock is the system's: the coarse clock estimates it.
    Coarse,
    /// Tokio's clock is (or was) paused: read it exactly.
    Exact,
}

thread_local! {
    static MODE: Cell<Mode> = const { Cell::new(Mode::Unknown) };
}

/// Tokio's clock, read exactly, noticing a paused clock (three readings until one is seen).
fn exact_checked() -> Instant {
    if MODE.get() == Mode::Exact {
        return now();
    }
    let before = Instant::now();
    let t = now();
    let after = Instant::now();
    MODE.set(if t < before || t > after {
        Mode::Exact
    } else {
        Mode::Coarse
    });
    t
}

/// A cheap reading of tokio's clock: within one kernel tick of it, or exact where that is not
/// possible (a paused clock, another platform).
#[inline]
pub(crate) fn recent() -> Instant {
    match MODE.get() {
        Mode::Coarse => coarse::estimate(),
        Mode::Exact => now(),
        Mode::Unknown => exact_checked(),
    }
}

/// A cheap reading of tokio's clock in nanoseconds since `origin` (see [`recent`]).
#[inline]
pub(crate) fn recent_since(origin: Instant) -> u64 {
    match MODE.get() {
        Mode::Coarse => coarse::since(origin),
        Mode::Exact => nanos_since(origin, now()),
        Mode::Unknown => nanos_since(origin, exact_checked()),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    use std::cell::Cell;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    /// Ticks of the coarse clock are 32.32 fixed-point seconds.
    fn ticks_to_nanos(ticks: u64) -> u64 {
        u64::try_from((u128::from(ticks) * 1_000_000_000) >> 32).unwrap_or(u64::MAX)
    }

    fn nanos_to_ticks(nanos: u128) -> u64 {
        u64::try_from((nanos << 32) / 1_000_000_000).unwrap_or(u64::MAX)
    }

    /// One pair of readings, taken together: the coarse one lags by less than a tick.
    fn calibration() -> (Instant, u64) {
        static CALIBRATION: OnceLock<(Instant, u64)> = OnceLock::new();
        *CALIBRATION.get_or_init(|| {
            (
                Instant::now(),
                coarsetime::Instant::now_without_cache_update().as_ticks(),
            )
        })
    }

    fn ticks() -> u64 {
        coarsetime::Instant::now_without_cache_update().as_ticks()
    }

    /// `CLOCK_MONOTONIC_COARSE` mapped onto `Instant` (`CLOCK_MONOTONIC`).
    #[inline]
    pub(super) fn estimate() -> Instant {
        let (instant, at) = calibration();
        instant + Duration::from_nanos(ticks_to_nanos(ticks().saturating_sub(at)))
    }

    /// The same in nanoseconds since `origin`, with no `Instant` arithmetic: the coarse reading
    /// of `origin` is computed once per thread and origin (each breaker has its own).
    #[inline]
    pub(super) fn since(origin: Instant) -> u64 {
        thread_local! {
            static ORIGIN: Cell<Option<(Instant, u64)>> = const { Cell::new(None) };
        }
        let from = match ORIGIN.get() {
            Some((o, ticks)) if o == origin => ticks,
            _ => {
                let (instant, at) = calibration();
                let ticks = if origin >= instant {
                    at.saturating_add(nanos_to_ticks(origin.duration_since(instant).as_nanos()))
                } else {
                    at.saturating_sub(nanos_to_ticks(instant.duration_since(origin).as_nanos()))
                };
                ORIGIN.set(Some((origin, ticks)));
                ticks
            }
        };
        ticks_to_nanos(ticks().saturating_sub(from))
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod coarse {
    use std::time::Instant;

    /// No coarse clock on the timebase of `Instant` here: the exact one.
    #[inline]
    pub(super) fn estimate() -> Instant {
        super::now()
    }

    #[inline]
    pub(super) fn since(origin: Instant) -> u64 {
        crate::deadline::nanos_since(origin, super::now())
    }
}

/// The glue's clock as the core's [`Now`]: exact (and watching for a paused clock) when the
/// core needs the exact time, a cheap [`recent`] reading when an estimate will do.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokioClock;

impl Now for TokioClock {
    #[inline]
    fn now(self) -> Instant {
        exact_checked()
    }

    #[inline]
    fn recent(&self) -> Option<Instant> {
        Some(recent())
    }

    #[inline]
    fn recent_since(&self, origin: Instant) -> Option<u64> {
        Some(recent_since(origin))
    }
}
