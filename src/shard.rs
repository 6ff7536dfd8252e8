//! Per-thread shards: which of a few cache lines the calling thread writes, so that threads
//! counting the same thing at once do not bounce one cache line between their cores.
//!
//! The rule: a thread is given a shard the first time it asks, round-robin over [`SHARDS`], and
//! keeps it for its life. The first [`SHARDS`] threads to ask (the worker threads of a runtime,
//! typically) each get one of their own; later threads share, which stays correct (every shard
//! is an atomic or a reference count) and only costs some contention.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many shards a sharded value has: a power of two.
pub(crate) const SHARDS: usize = 8;

/// One cache line of its own, so that two shards never share one.
#[repr(align(64))]
#[derive(Debug, Default)]
pub(crate) struct Padded<T>(pub(crate) T);

/// The calling thread's shard, in `0..SHARDS`.
#[inline]
pub(crate) fn this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // Const-initialised: reading it needs no lazy-initialisation check.
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|s| match s.get() {
        usize::MAX => {
            let shard = next_shard(&NEXT);
            s.set(shard);
            shard
        }
        // Masked, so that indexing an array of `SHARDS` needs no bounds check.
        shard => shard & (SHARDS - 1),
    })
}

/// The shard of a thread asking for the first time: round-robin over a counter.
#[cold]
fn next_shard(next: &AtomicUsize) -> usize {
    next.fetch_add(1, Ordering::Relaxed) % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_shard() {
        let mine = this_thread();
        assert!(mine < SHARDS);
        for _ in 0..100 {
            assert_eq!(this_thread(), mine);
        }
    }

    #[test]
    fn shards_are_handed_out_round_robin() {
        let next = AtomicUsize::new(0);
        let given: Vec<usize> = (0..2 * SHARDS).map(|_| next_shard(&next)).collect();
        let expected: Vec<usize> = (0..SHARDS).chain(0..SHARDS).collect();
        assert_eq!(given, expected);
        // Past the counter's wrap, still in range.
        let next = AtomicUsize::new(usize::MAX);
        assert_eq!(next_shard(&next), usize::MAX % SHARDS);
        assert_eq!(next_shard(&next), 0);
    }

    #[test]
    fn every_thread_has_a_shard_in_range() {
        let shards: Vec<usize> = (0..2 * SHARDS)
            .map(|_| std::thread::spawn(this_thread).join().unwrap())
            .collect();
        assert!(shards.iter().all(|&s| s < SHARDS), "{shards:?}");
    }

    #[test]
    fn padded_values_never_share_a_line() {
        assert_eq!(std::mem::align_of::<Padded<u8>>(), 64);
        let two = [Padded(0u8), Padded(1u8)];
        let a = &two[0] as *const _ as usize;
        let b = &two[1] as *const _ as usize;
        assert_eq!(b - a, 64);
    }
}
