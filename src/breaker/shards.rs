//! The per-thread counters: successes and rejections counted without the lock.

use std::sync::atomic::AtomicU64;

pub(super) use crate::shard::{Padded, SHARDS, this_thread as my_shard};

/// A thread's counters: successes since the window was last brought up to date, and
/// rejections.
#[derive(Default)]
pub(super) struct Shard {
    /// Closed: tagged with their generation and bucket (see [`shard_word`]).
    pub(super) successes: AtomicU64,
    /// Rejections on this shard so far (see [`StateMachine::acquire_other`]).
    pub(super) rejected: AtomicU64,
}
