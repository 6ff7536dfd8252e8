//! The per-thread counters: successes and rejections counted without the lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One cache line of its own, so that two shards never share one.
#[repr(align(64))]
#[derive(Default)]
pub(super) struct Padded<T>(pub(super) T);

/// Successes counted per thread since the window was last brought up to date.
pub(super) const SHARDS: usize = 8;

#[inline]
pub(super) fn my_shard() -> usize {
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
pub(super) struct Shard {
    /// Closed: tagged with their generation and bucket (see [`shard_word`]).
    pub(super) successes: AtomicU64,
    /// Rejections on this shard so far (see [`Shared::acquire_other`]).
    pub(super) rejected: AtomicU64,
}
