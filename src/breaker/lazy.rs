//! `now`, read at most once.

use std::time::Instant;

use crate::deadline::{Now, nanos_since};

/// `now`, read at most once: the exact instant when a decision needs it, a cheap reading
/// ([`Now::recent`]) where an estimate will do.
pub(super) struct Lazy<N> {
    pub(super) source: Option<N>,
    pub(super) read: Option<Instant>,
}

impl<N: Now> Lazy<N> {
    pub(super) fn new(now: N) -> Self {
        Lazy {
            source: Some(now),
            read: None,
        }
    }

    /// The exact instant.
    pub(super) fn read(&mut self) -> Instant {
        match (self.read, self.source.take()) {
            (_, Some(now)) => *self.read.insert(now.now()),
            (Some(read), None) => read,
            (None, None) => unreachable!("a `Lazy` holds its source until it is read"),
        }
    }

    /// A cheap reading, if there is one (the exact instant, once it has been read).
    pub(super) fn estimate(&self) -> Option<Instant> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
