//! The sliding windows the trip rates are computed over: the last `n` counted calls, or the
//! calls of the last `T` in `B` buckets. Pure and single-threaded: the state machine holds them
//! under its lock, and [`OutcomeWindow`] offers them on their own.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::deadline::nanos_since;
use crate::error::ConfigError;

/// What a trip rate is computed over.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast::breaker::{CircuitBreaker, SlidingWindow};
///
/// // The failure rate over the last minute, in ten buckets of 6 s.
/// let breaker = CircuitBreaker::builder()
///     .sliding_window(SlidingWindow::time(Duration::from_secs(60)))
///     .build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlidingWindow {
    /// The last `n` counted calls (the default: 100). Exact: every call is kept, as runs of
    /// equal outcomes.
    Calls(u32),
    /// The calls of the last `length`, kept as counts in `buckets` buckets of `length / buckets`
    /// each: the current bucket and the `buckets - 1` before it, so the window spans between
    /// `length - length / buckets` and `length`. A bucket expires as time passes, with or without
    /// calls. Memory: one small count per bucket, whatever the traffic.
    Time {
        /// How far back the window reaches.
        length: Duration,
        /// How many buckets it is kept in.
        buckets: u32,
    },
}

impl SlidingWindow {
    /// The time window of 60 s in 10 buckets of 6 s.
    pub const DEFAULT_TIME: SlidingWindow = SlidingWindow::Time {
        length: Duration::from_secs(60),
        buckets: DEFAULT_BUCKETS,
    };

    /// The last `n` counted calls.
    pub const fn calls(n: u32) -> Self {
        SlidingWindow::Calls(n)
    }

    /// The calls of the last `length`, in 10 buckets.
    pub const fn time(length: Duration) -> Self {
        SlidingWindow::Time {
            length,
            buckets: DEFAULT_BUCKETS,
        }
    }
}

impl Default for SlidingWindow {
    /// The last 100 counted calls.
    fn default() -> Self {
        SlidingWindow::Calls(100)
    }
}

/// The buckets of a time window unless told otherwise.
pub const DEFAULT_BUCKETS: u32 = 10;
/// The largest count window.
pub const MAX_WINDOW: u32 = 1 << 24;
/// The most buckets a time window may have.
pub const MAX_BUCKETS: u32 = 1 << 12;
/// The shortest bucket of a time window: the error of the cheap clock is a few milliseconds.
pub const MIN_BUCKET: Duration = Duration::from_millis(1);

impl SlidingWindow {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            SlidingWindow::Calls(n) if n == 0 || n > MAX_WINDOW => Err(ConfigError::invalid(
                "breaker window",
                n,
                "between 1 and 16777216 calls",
            )),
            SlidingWindow::Time { buckets, .. } if buckets == 0 || buckets > MAX_BUCKETS => Err(
                ConfigError::invalid("breaker time window buckets", buckets, "between 1 and 4096"),
            ),
            SlidingWindow::Time { length, buckets } => {
                ConfigError::check_duration("breaker time window", length)?;
                if length / buckets < MIN_BUCKET {
                    Err(ConfigError::invalid(
                        "breaker time window",
                        length,
                        "at least 1 ms per bucket",
                    ))
                } else {
                    Ok(())
                }
            }
            SlidingWindow::Calls(_) => Ok(()),
        }
    }

    /// The most calls the window can hold (a time window: no limit).
    pub(crate) fn capacity(&self) -> u32 {
        match *self {
            SlidingWindow::Calls(n) => n,
            SlidingWindow::Time { .. } => u32::MAX,
        }
    }

    /// The length of one bucket in nanoseconds, for a time window.
    pub(crate) fn bucket_nanos(&self) -> Option<u64> {
        match *self {
            SlidingWindow::Calls(_) => None,
            SlidingWindow::Time { length, buckets } => {
                Some(u64::try_from((length / buckets).as_nanos()).unwrap_or(u64::MAX))
            }
        }
    }
}

/// What one counted call was: a failure or not, slow or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark {
    /// The call failed.
    pub failure: bool,
    /// The call was slower than the slow-call threshold.
    pub slow: bool,
}

impl Mark {
    /// A success in time.
    pub const SUCCESS: Mark = Mark {
        failure: false,
        slow: false,
    };
    /// A failure in time.
    pub const FAILURE: Mark = Mark {
        failure: true,
        slow: false,
    };
}

/// The counts of a window: calls, failures, slow calls, and slow calls that failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Tally {
    /// Calls in the window.
    pub calls: u64,
    /// Failures among them.
    pub failures: u64,
    /// Slow calls among them, failed or not.
    pub slow: u64,
    /// Slow calls that failed.
    pub slow_failures: u64,
}

/// A sliding window of call outcomes on its own, exactly as a breaker keeps it: the last `n`
/// calls, or the calls of the last `T` in `B` buckets ([`SlidingWindow`]). For a breaker of your
/// own, a simulator, or a dashboard that wants the same counts.
///
/// A time window's buckets are aligned to the first instant it is given, and expire as time
/// passes, with or without calls; an outcome older than the window is not counted. A count
/// window reads no clock (the instants are ignored). Memory: one small count per bucket, or one
/// entry per run of equal outcomes.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use steadfast::breaker::{Mark, OutcomeWindow, SlidingWindow};
///
/// let t0 = Instant::now();
/// let mut w = OutcomeWindow::new(SlidingWindow::Time {
///     length: Duration::from_secs(10),
///     buckets: 10,
/// })?;
/// w.record(Mark::FAILURE, t0);
/// w.record(Mark::SUCCESS, t0 + Duration::from_secs(5));
/// assert_eq!(w.counts(t0 + Duration::from_secs(9)).failures, 1);
/// let later = w.counts(t0 + Duration::from_secs(10));
/// assert_eq!((later.calls, later.failures), (1, 0), "the first second's bucket expired");
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct OutcomeWindow {
    window: Window,
    /// A time window's bucket length in nanoseconds; 0 for a count window.
    bucket: u64,
    /// The first instant given: bucket 0 begins there.
    base: Option<Instant>,
}

impl OutcomeWindow {
    /// An empty window.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] unless a count window holds between 1 and [`MAX_WINDOW`] calls, and a
    /// time window has between 1 and [`MAX_BUCKETS`] buckets of at least [`MIN_BUCKET`] each.
    pub fn new(kind: SlidingWindow) -> Result<Self, ConfigError> {
        kind.validate()?;
        Ok(OutcomeWindow {
            window: Window::new(kind),
            bucket: kind.bucket_nanos().unwrap_or(0),
            base: None,
        })
    }

    fn epoch(&mut self, now: Instant) -> u64 {
        let base = *self.base.get_or_insert(now);
        nanos_since(base, now).checked_div(self.bucket).unwrap_or(0)
    }

    /// Counts one call that ended at `now`.
    pub fn record(&mut self, mark: Mark, now: Instant) {
        let epoch = self.epoch(now);
        self.window.push(mark, 1, epoch);
    }

    /// The counts at `now` (a time window moves on to `now` first).
    pub fn counts(&mut self, now: Instant) -> Tally {
        let epoch = self.epoch(now);
        self.window.advance(epoch);
        self.window.tally()
    }

    /// Empties the window (a time window keeps its place in time).
    pub fn clear(&mut self) {
        self.window.clear();
    }
}

impl Tally {
    fn add(&mut self, mark: Mark, n: u64) {
        self.calls = self.calls.saturating_add(n);
        if mark.failure {
            self.failures = self.failures.saturating_add(n);
        }
        if mark.slow {
            self.slow = self.slow.saturating_add(n);
        }
        if mark.slow && mark.failure {
            self.slow_failures = self.slow_failures.saturating_add(n);
        }
    }

    fn remove(&mut self, other: Tally) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
        self.slow_failures -= other.slow_failures;
    }

    fn remove_mark(&mut self, mark: Mark, n: u64) {
        let mut gone = Tally::default();
        gone.add(mark, n);
        self.remove(gone);
    }
}

/// A sliding window of either kind.
#[derive(Debug)]
pub(crate) enum Window {
    Calls(CallWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(kind: SlidingWindow) -> Self {
        match kind {
            SlidingWindow::Calls(cap) => Window::Calls(CallWindow {
                runs: VecDeque::new(),
                tally: Tally::default(),
                cap: u64::from(cap),
            }),
            SlidingWindow::Time { buckets, .. } => Window::Time(TimeWindow {
                buckets: vec![Tally::default(); buckets as usize].into_boxed_slice(),
                newest: 0,
                tally: Tally::default(),
            }),
        }
    }

    /// Adds `n` calls of the bucket `epoch` (ignored by a count window).
    pub(crate) fn push(&mut self, mark: Mark, n: u64, epoch: u64) {
        match self {
            Window::Calls(w) => w.push(mark, n),
            Window::Time(w) => w.push(mark, n, epoch),
        }
    }

    /// Lets the buckets before `epoch`'s window expire (a count window never expires).
    pub(crate) fn advance(&mut self, epoch: u64) {
        if let Window::Time(w) = self {
            w.advance(epoch);
        }
    }

    /// The newest bucket (0 for a count window).
    pub(crate) fn newest(&self) -> u64 {
        match self {
            Window::Calls(_) => 0,
            Window::Time(w) => w.newest,
        }
    }

    pub(crate) fn tally(&self) -> Tally {
        match self {
            Window::Calls(w) => w.tally,
            Window::Time(w) => w.tally,
        }
    }

    /// Empties the window (a time window keeps its place in time).
    pub(crate) fn clear(&mut self) {
        match self {
            Window::Calls(w) => {
                w.runs.clear();
                w.tally = Tally::default();
            }
            Window::Time(w) => {
                w.buckets.fill(Tally::default());
                w.tally = Tally::default();
            }
        }
    }
}

/// The ordered window of the last `cap` counted calls, as runs.
#[derive(Debug)]
pub(crate) struct CallWindow {
    /// (what the calls were, how many), oldest first.
    runs: VecDeque<(Mark, u64)>,
    tally: Tally,
    cap: u64,
}

impl CallWindow {
    fn push(&mut self, mark: Mark, n: u64) {
        if n == 0 {
            return;
        }
        match self.runs.back_mut() {
            Some((m, count)) if *m == mark => *count = count.saturating_add(n),
            _ => self.runs.push_back((mark, n)),
        }
        self.tally.add(mark, n);
        // Old calls leave the window.
        while self.tally.calls > self.cap {
            let excess = self.tally.calls - self.cap;
            let Some(front) = self.runs.front_mut() else {
                break;
            };
            let gone = excess.min(front.1);
            front.1 -= gone;
            self.tally.remove_mark(front.0, gone);
            if front.1 == 0 {
                self.runs.pop_front();
            }
        }
    }
}

/// The counts of the last `buckets` buckets; bucket `e` holds the calls made in
/// `[e · bucket, (e + 1) · bucket)` after the breaker's first instant.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    /// Bucket `e` is at `e % len`.
    buckets: Box<[Tally]>,
    /// The newest bucket's number: the window is `newest - len + 1 ..= newest`.
    newest: u64,
    tally: Tally,
}

impl TimeWindow {
    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    fn advance(&mut self, epoch: u64) {
        if epoch <= self.newest {
            return;
        }
        if epoch - self.newest >= self.len() {
            // A jump of a whole window or more: everything expired, in O(buckets).
            self.buckets.fill(Tally::default());
            self.tally = Tally::default();
        } else {
            for e in self.newest + 1..=epoch {
                let i = (e % self.len()) as usize;
                self.tally.remove(self.buckets[i]);
                self.buckets[i] = Tally::default();
            }
        }
        self.newest = epoch;
    }

    fn push(&mut self, mark: Mark, n: u64, epoch: u64) {
        self.advance(epoch);
        if epoch + self.len() <= self.newest {
            // Older than the window (an outcome recorded late): it is not in the window.
            return;
        }
        let i = (epoch % self.len()) as usize;
        self.buckets[i].add(mark, n);
        self.tally.add(mark, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Mark = Mark {
        failure: true,
        slow: false,
    };
    const S: Mark = Mark::SUCCESS;
    const SLOW: Mark = Mark {
        failure: false,
        slow: true,
    };

    fn counts(w: &Window) -> (u64, u64, u64) {
        let t = w.tally();
        (t.calls, t.failures, t.slow)
    }

    #[test]
    fn call_window_slides_and_merges_runs() {
        let mut w = Window::new(SlidingWindow::Calls(5));
        w.push(F, 3, 0);
        w.push(S, 1, 0);
        w.push(S, 1, 0);
        assert_eq!(counts(&w), (5, 3, 0));
        let Window::Calls(c) = &w else { panic!() };
        assert_eq!(c.runs.len(), 2);
        w.push(SLOW, 2, 0);
        assert_eq!(counts(&w), (5, 1, 2), "two old failures left");
        w.push(S, 100, 0);
        assert_eq!(counts(&w), (5, 0, 0));
    }

    #[test]
    fn time_window_expires_buckets_and_jumps() {
        let mut w = Window::new(SlidingWindow::Time {
            length: Duration::from_secs(4),
            buckets: 4,
        });
        w.push(F, 1, 0);
        w.push(S, 2, 1);
        w.push(SLOW, 1, 3);
        assert_eq!(counts(&w), (4, 1, 1));
        w.advance(4);
        assert_eq!(counts(&w), (3, 0, 1), "bucket 0 expired");
        w.push(F, 1, 1);
        assert_eq!(
            counts(&w),
            (4, 1, 1),
            "a late outcome of a live bucket counts"
        );
        w.push(F, 1, 0);
        assert_eq!(counts(&w), (4, 1, 1), "one of an expired bucket does not");
        w.advance(1_000_000_000);
        assert_eq!(counts(&w), (0, 0, 0), "a jump of many windows");
        assert_eq!(w.newest(), 1_000_000_000);
        w.advance(5);
        assert_eq!(w.newest(), 1_000_000_000, "never backwards");
    }

    #[test]
    fn validation() {
        let secs = Duration::from_secs;
        assert!(SlidingWindow::DEFAULT_TIME.validate().is_ok());
        assert!(SlidingWindow::Calls(0).validate().is_err());
        assert!(SlidingWindow::Calls(MAX_WINDOW + 1).validate().is_err());
        assert!(SlidingWindow::time(Duration::ZERO).validate().is_err());
        assert!(
            SlidingWindow::time(Duration::from_millis(9))
                .validate()
                .is_err()
        );
        assert!(
            SlidingWindow::time(Duration::from_millis(10))
                .validate()
                .is_ok()
        );
        assert!(SlidingWindow::time(Duration::MAX).validate().is_err());
        let zero = SlidingWindow::Time {
            length: secs(1),
            buckets: 0,
        };
        assert!(zero.validate().is_err());
        let many = SlidingWindow::Time {
            length: secs(100),
            buckets: MAX_BUCKETS + 1,
        };
        assert!(many.validate().is_err());
    }
}
