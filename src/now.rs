//! The lazy-clock idea, in one place: the core takes `now` as a [`Now`] (an instant, or
//! something that reads a clock when asked), and [`ReadOnce`] reads one at most once per
//! operation. The glue's side of the same idea is `clock::LazyNow`: tokio's clock (or a fixed
//! instant) read at most once per step of a call. Pure: no runtime.

use std::time::Instant;

/// The current instant, given or read lazily: an [`Instant`], or a closure that reads a clock.
///
/// The pure core takes `now` through this trait so that a caller on a hot path passes a closure
/// and pays for a clock read only when the core needs one.
pub trait Now {
    /// The instant.
    fn now(self) -> Instant;

    /// A cheap reading of the same clock, for decisions that tolerate a small error, or `None`
    /// when there is nothing cheaper than [`now`](Self::now). A reading may be behind or ahead
    /// of `now` by up to a few milliseconds (the resolution of a coarse clock); code that needs
    /// an exact answer near a boundary calls `now` there.
    ///
    /// The default is `None`; an [`Instant`] is its own exact reading. The breaker uses it to
    /// place outcomes in a time window and to reject calls while open without reading a clock.
    #[inline]
    fn recent(&self) -> Option<Instant> {
        None
    }

    /// [`recent`](Self::recent) as whole nanoseconds since `origin` (0 before it, `u64::MAX`
    /// after 584 years): what the breaker compares with its timers. The default subtracts;
    /// a clock that can count from `origin` faster overrides it.
    #[inline]
    fn recent_since(&self, origin: Instant) -> Option<u64> {
        self.recent().map(|t| nanos_since(origin, t))
    }
}

/// Whole nanoseconds from `origin` to `t`: 0 if `t` is earlier, `u64::MAX` if too far.
#[inline]
pub(crate) fn nanos_since(origin: Instant, t: Instant) -> u64 {
    let d = t.saturating_duration_since(origin);
    d.as_secs()
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(u64::from(d.subsec_nanos())))
        .unwrap_or(u64::MAX)
}

impl Now for Instant {
    #[inline]
    fn now(self) -> Instant {
        self
    }

    #[inline]
    fn recent(&self) -> Option<Instant> {
        Some(*self)
    }
}

impl<F: FnOnce() -> Instant> Now for F {
    #[inline]
    fn now(self) -> Instant {
        self()
    }
}

/// A [`Now`], read at most once: the exact instant when a decision needs it, a cheap reading
/// ([`Now::recent`]) where an estimate will do.
pub(crate) struct ReadOnce<N> {
    source: Option<N>,
    read: Option<Instant>,
}

impl<N: Now> ReadOnce<N> {
    pub(crate) fn new(now: N) -> Self {
        ReadOnce {
            source: Some(now),
            read: None,
        }
    }

    /// The exact instant.
    pub(crate) fn read(&mut self) -> Instant {
        match (self.read, self.source.take()) {
            (_, Some(now)) => *self.read.insert(now.now()),
            (Some(read), None) => read,
            (None, None) => unreachable!("a `ReadOnce` holds its source until it is read"),
        }
    }

    /// A cheap reading, if there is one (the exact instant, once it has been read).
    pub(crate) fn estimate(&self) -> Option<Instant> {
        self.read
            .or_else(|| self.source.as_ref().and_then(Now::recent))
    }
}

impl<N: Now> Now for &mut ReadOnce<N> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_reads_once() {
        let reads = std::cell::Cell::new(0);
        let t = Instant::now();
        let mut lazy = ReadOnce::new(|| {
            reads.set(reads.get() + 1);
            t
        });
        assert_eq!(lazy.estimate(), None, "a closure has no cheap reading");
        assert_eq!(lazy.read(), t);
        assert_eq!(lazy.read(), t);
        assert_eq!(reads.get(), 1);
        assert_eq!(
            ReadOnce::new(t).estimate(),
            Some(t),
            "an instant is its own"
        );
    }
}
