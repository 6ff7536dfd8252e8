//! The breaker's packed words: the state word, the tagged run of failures, the success
//! shards, the probes of a half-open period. Each changes by a compare-and-swap that checks its
//! generation tag.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::breaker::state::BreakerState;

pub(super) const STATE_BITS: u64 = 3;

#[inline]
pub(super) fn pack(generation: u64, state: BreakerState) -> u64 {
    (generation << STATE_BITS) | state.code()
}

#[inline]
pub(super) fn unpack(word: u64) -> (u64, BreakerState) {
    (
        word >> STATE_BITS,
        BreakerState::from_code(word & ((1 << STATE_BITS) - 1)),
    )
}

/// The run of failures must never carry an outcome of one generation into the next: it holds
/// the generation's low 24 bits beside a 40-bit count, and only changes by a compare-and-swap
/// that checks the tag, so a stale outcome racing a transition never lands in the new
/// generation's count.
pub(super) const TAG_SHIFT: u32 = 40;
pub(super) const COUNT_MASK: u64 = (1 << TAG_SHIFT) - 1;
pub(super) const TAG_MASK: u64 = (1 << 24) - 1;

#[inline]
pub(super) fn tagged(generation: u64, count: u64) -> u64 {
    ((generation & TAG_MASK) << TAG_SHIFT) | count.min(COUNT_MASK)
}

/// The count of a tagged counter, if it belongs to `generation`.
#[inline]
pub(super) fn count_in(word: u64, generation: u64) -> Option<u64> {
    (word >> TAG_SHIFT == generation & TAG_MASK).then_some(word & COUNT_MASK)
}

/// A success shard: the generation's low 16 bits, the bucket's low 16 bits (0 for a count
/// window), and a 32-bit count, changed only by a compare-and-swap that checks both tags: a
/// success racing a transition or the start of a new bucket never lands in the wrong one.
#[inline]
pub(super) fn shard_word(generation: u64, bucket: u64, count: u64) -> u64 {
    ((generation & 0xFFFF) << 48) | ((bucket & 0xFFFF) << 32) | count.min(u64::from(u32::MAX))
}

/// The count of a shard, if it belongs to `generation` and `bucket`.
#[inline]
pub(super) fn shard_count(word: u64, generation: u64, bucket: u64) -> Option<u64> {
    (word >> 32 == (((generation & 0xFFFF) << 16) | (bucket & 0xFFFF)))
        .then_some(word & 0xFFFF_FFFF)
}

/// The probes of a half-open period, in one word: the generation's low 16 bits, then 16 bits
/// each for the failed (or slow), succeeded and in-flight probes. Changed only by a
/// compare-and-swap that checks the tag, so a stale probe never counts in a later period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Probes {
    pub(super) tag: u64,
    pub(super) failed: u32,
    pub(super) succeeded: u32,
    pub(super) in_flight: u32,
}

impl Probes {
    #[inline]
    pub(super) fn new(generation: u64) -> Self {
        Probes {
            tag: generation & 0xFFFF,
            ..Probes::default()
        }
    }

    #[inline]
    pub(super) fn pack(self) -> u64 {
        (self.tag << 48)
            | (u64::from(self.failed) << 32)
            | (u64::from(self.succeeded) << 16)
            | u64::from(self.in_flight)
    }

    #[inline]
    pub(super) fn unpack(word: u64) -> Self {
        Probes {
            tag: word >> 48,
            failed: ((word >> 32) & 0xFFFF) as u32,
            succeeded: ((word >> 16) & 0xFFFF) as u32,
            in_flight: (word & 0xFFFF) as u32,
        }
    }

    /// Admitted in this period: every probe that has not given its place back.
    #[inline]
    pub(super) fn admitted(self) -> u32 {
        self.failed + self.succeeded + self.in_flight
    }

    /// Changes the word of `generation`'s period by `f`, if it is that period's and `f` allows.
    pub(super) fn update(
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
}
