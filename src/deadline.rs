//! One deadline per request, carried through retries, hops and each attempt.
//!
//! # Why one deadline
//!
//! Per-attempt timeouts alone let a call with retries run for `attempts × timeout + sleeps`,
//! which is longer than any caller is willing to wait. A [`Deadline`] bounds the whole call: an
//! attempt runs for at most `min(attempt_timeout, remaining)`, and a retry is not even started
//! when its sleep would leave no room for the attempt after it. Then the caller gets the last
//! error at once, rather than a sleep that can only end in [`DeadlineExceeded`].
//!
//! `Deadline` is pure: every method takes `now`, so the layers read the clock (tokio's, which
//! tests pause) and this module only computes.
//!
//! # Examples
//!
//! ```
//! use std::time::{Duration, Instant};
//! use steadfast::deadline::Deadline;
//!
//! let now = Instant::now();
//! let secs = Duration::from_secs;
//! let deadline = Deadline::after(now, secs(5));
//! assert_eq!(deadline.remaining(now), Some(secs(5)));
//! // An attempt gets the smaller of its timeout and what is left.
//! assert_eq!(deadline.attempt_limit(now + secs(4), Some(secs(2))), Some(secs(1)));
//! // A 4 s sleep leaves room for an attempt; a 5 s sleep does not.
//! assert!(deadline.fits_after(now, secs(4)));
//! assert!(!deadline.fits_after(now, secs(5)));
//! ```

use std::time::{Duration, Instant};

pub use crate::error::DeadlineExceeded;

pub use crate::now::Now;
pub(crate) use crate::now::nanos_since;

/// The instant by which a request must be done, or none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Deadline {
    at: Option<Instant>,
}

impl Deadline {
    /// No deadline: every rule allows everything.
    pub const fn none() -> Self {
        Deadline { at: None }
    }

    /// A deadline at `at`.
    pub const fn at(at: Instant) -> Self {
        Deadline { at: Some(at) }
    }

    /// A deadline `timeout` after `now`. A timeout too large to add to `now` means no deadline.
    pub fn after(now: Instant, timeout: Duration) -> Self {
        Deadline {
            at: now.checked_add(timeout),
        }
    }

    /// The instant, if there is a deadline.
    pub const fn instant(&self) -> Option<Instant> {
        self.at
    }

    /// Whether there is a deadline.
    pub const fn is_some(&self) -> bool {
        self.at.is_some()
    }

    /// The earlier of two deadlines (no deadline is the latest).
    pub fn min(self, other: Deadline) -> Deadline {
        match (self.at, other.at) {
            (Some(a), Some(b)) => Deadline::at(a.min(b)),
            (a, b) => Deadline { at: a.or(b) },
        }
    }

    /// Time left at `now` (zero once passed), or `None` without a deadline.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.at.map(|at| at.saturating_duration_since(now))
    }

    /// Whether the deadline has passed at `now`: no time is left.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.remaining(now).is_some_and(|r| r.is_zero())
    }

    /// Whether an attempt still fits after sleeping `delay` from `now`: the sleep must end
    /// strictly before the deadline. Always true without a deadline.
    pub fn fits_after(&self, now: Instant, delay: Duration) -> bool {
        self.remaining(now).is_none_or(|left| delay < left)
    }

    /// How long an attempt starting at `now` may run: `min(attempt_timeout, remaining)`, or
    /// `None` when neither limits it.
    pub fn attempt_limit(
        &self,
        now: Instant,
        attempt_timeout: Option<Duration>,
    ) -> Option<Duration> {
        match (self.remaining(now), attempt_timeout) {
            (Some(left), Some(t)) => Some(left.min(t)),
            (left, t) => left.or(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_of_the_sleep_rule() {
        let now = Instant::now();
        let d = Deadline::after(now, Duration::from_millis(100));
        assert!(d.fits_after(now, Duration::from_millis(99)));
        assert!(d.fits_after(now, Duration::from_nanos(99_999_999)));
        assert!(
            !d.fits_after(now, Duration::from_millis(100)),
            "no room left at all"
        );
        assert!(!d.fits_after(now, Duration::from_millis(101)));
        let later = now + Duration::from_millis(150);
        assert!(!d.fits_after(later, Duration::ZERO), "already expired");
        assert!(Deadline::none().fits_after(now, Duration::MAX));
    }

    #[test]
    fn remaining_and_expiry() {
        let now = Instant::now();
        let d = Deadline::after(now, Duration::from_secs(1));
        assert_eq!(
            d.remaining(now + Duration::from_secs(2)),
            Some(Duration::ZERO)
        );
        assert!(d.is_expired(now + Duration::from_secs(1)));
        assert!(!d.is_expired(now));
        assert_eq!(Deadline::none().remaining(now), None);
        assert!(!Deadline::none().is_expired(now));
    }

    #[test]
    fn attempt_limit_is_the_minimum() {
        let now = Instant::now();
        let s = Duration::from_secs;
        let d = Deadline::after(now, s(3));
        assert_eq!(d.attempt_limit(now, Some(s(5))), Some(s(3)));
        assert_eq!(d.attempt_limit(now, Some(s(1))), Some(s(1)));
        assert_eq!(d.attempt_limit(now, None), Some(s(3)));
        assert_eq!(Deadline::none().attempt_limit(now, Some(s(1))), Some(s(1)));
        assert_eq!(Deadline::none().attempt_limit(now, None), None);
    }

    #[test]
    fn absurd_timeout_is_no_deadline() {
        let now = Instant::now();
        assert_eq!(Deadline::after(now, Duration::MAX), Deadline::none());
    }

    #[test]
    fn min_of_deadlines() {
        let now = Instant::now();
        let a = Deadline::after(now, Duration::from_secs(1));
        let b = Deadline::after(now, Duration::from_secs(2));
        assert_eq!(a.min(b), a);
        assert_eq!(b.min(a), a);
        assert_eq!(Deadline::none().min(b), b);
        assert_eq!(Deadline::none().min(Deadline::none()), Deadline::none());
    }
}
