//! A shared value whose calls count their references on the calling thread's own cache line.
//!
//! A response future must keep the state of its breaker, policy or failover alive on its own:
//! it may outlive the service that made it (`ServiceExt::oneshot` drops the service first). With
//! one `Arc`, every call of every thread adds one to the same counter and takes one off it,
//! so the counter's cache line moves between cores on every call. [`ShardedArc`] keeps one
//! counter per shard ([`crate::shard`]): a handle reaches them all, and a call takes a *lease* on
//! its thread's ([`ShardedArc::lease`]). A lease is counted on a line no other thread writes,
//! unless the future is dropped on another thread (then that one decrement is shared).
//!
//! Every shard holds its own strong reference to the value, so the value lives as long as any
//! handle or lease does, and is dropped exactly once, when the last of them goes; nothing is
//! allocated per call or per clone, only `SHARDS + 2` allocations when the value is created.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::shard::{Padded, SHARDS, this_thread};

/// A reference-counted `T`, as a handle (reaching every shard, to lease calls theirs) or as a
/// lease (one shard's reference). Both dereference to the value through their shard, without a
/// branch.
pub(crate) struct ShardedArc<T> {
    /// The shard this reference counts on: a lease's own; a handle's, the shard of the thread
    /// that made it.
    shard: Arc<Shard<T>>,
    /// Every shard: a handle's (`None` for a lease).
    table: Option<Arc<Table<T>>>,
}

/// One shard: a strong reference to the value, its reference count alone on its cache line.
type Shard<T> = Padded<Arc<T>>;

type Table<T> = [Arc<Shard<T>>; SHARDS];

impl<T> ShardedArc<T> {
    /// A handle on `value`, with its shards.
    pub(crate) fn new(value: T) -> Self {
        let value = Arc::new(value);
        let table: Arc<Table<T>> =
            Arc::new(std::array::from_fn(|_| Arc::new(Padded(value.clone()))));
        ShardedArc {
            shard: table[this_thread()].clone(),
            table: Some(table),
        }
    }

    /// A reference for one call: a lease on the calling thread's shard (a lease leases its own
    /// shard again). It keeps the value alive, as a clone would, without touching a count that
    /// other threads' calls touch.
    #[inline]
    pub(crate) fn lease(&self) -> Self {
        self.lease_in(this_thread())
    }

    /// A lease on `shard` (taken modulo [`SHARDS`]); a lease leases its own shard again.
    #[inline]
    fn lease_in(&self, shard: usize) -> Self {
        ShardedArc {
            shard: match &self.table {
                Some(table) => table[shard & (SHARDS - 1)].clone(),
                None => self.shard.clone(),
            },
            table: None,
        }
    }
}

impl<T> Clone for ShardedArc<T> {
    /// A handle's clone is another handle, counted on the calling thread's shard and on the
    /// handles' shared count (as an `Arc`'s); a lease's, another lease on the same shard.
    #[inline]
    fn clone(&self) -> Self {
        match &self.table {
            Some(table) => ShardedArc {
                shard: table[this_thread()].clone(),
                table: Some(table.clone()),
            },
            None => ShardedArc {
                shard: self.shard.clone(),
                table: None,
            },
        }
    }
}

impl<T> Deref for ShardedArc<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.shard.0
    }
}

impl<T: fmt::Debug> fmt::Debug for ShardedArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    use proptest::prelude::*;

    use super::*;

    /// A value that counts its drops.
    struct Tracked {
        value: u64,
        drops: Arc<AtomicUsize>,
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn tracked(value: u64) -> (ShardedArc<Tracked>, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let value = Tracked {
            value,
            drops: drops.clone(),
        };
        (ShardedArc::new(value), drops)
    }

    /// The shard a lease counts on (`None` for a handle).
    fn shard_of<T>(a: &ShardedArc<T>) -> Option<*const Shard<T>> {
        a.table.is_none().then_some(Arc::as_ptr(&a.shard))
    }

    /// The count of the handles' table, or of the lease's shard.
    fn shard_count<T>(a: &ShardedArc<T>) -> usize {
        match &a.table {
            Some(table) => Arc::strong_count(table),
            None => Arc::strong_count(&a.shard),
        }
    }

    #[test]
    fn handles_and_leases_reach_the_value() {
        let (handle, _) = tracked(42);
        let clone = handle.clone();
        let lease = handle.lease();
        let again = lease.lease();
        for a in [&handle, &clone, &lease, &again] {
            assert_eq!(a.value, 42);
            assert!(std::ptr::eq(&**a, &*handle));
        }
    }

    #[test]
    fn a_lease_counts_on_its_threads_shard_only() {
        let (handle, _) = tracked(1);
        let first = handle.lease();
        let second = handle.lease();
        assert_eq!(shard_of(&first), shard_of(&second), "one thread, one shard");
        assert_eq!(shard_of(&first.lease()), shard_of(&first));
        assert_eq!(shard_of(&first.clone()), shard_of(&first));
        // The handles' shared count is untouched by leases.
        assert_eq!(shard_count(&handle), 1);
        assert_eq!(
            shard_count(&first),
            4,
            "the table's, the handle's (made on this thread) and two leases"
        );
        assert_ne!(shard_of(&handle.lease_in(0)), shard_of(&handle.lease_in(1)));
        assert_eq!(
            shard_of(&handle.lease_in(SHARDS + 3)),
            shard_of(&handle.lease_in(3))
        );
        drop(second);
        assert_eq!(shard_count(&first), 3);
    }

    #[test]
    fn shards_never_share_a_cache_line() {
        let (handle, _) = tracked(1);
        let mut starts: Vec<usize> = (0..SHARDS)
            .map(|i| shard_of(&handle.lease_in(i)).unwrap() as usize)
            .collect();
        starts.sort_unstable();
        // Each count sits at the start of its shard's allocation, 64-byte aligned; the shards
        // are distinct allocations of at least 64 bytes.
        assert!(std::mem::size_of::<Shard<Tracked>>() >= 64);
        for w in starts.windows(2) {
            assert!(w[1] - w[0] >= 64, "{starts:?}");
        }
    }

    #[test]
    fn the_value_outlives_the_handle_while_a_lease_lives() {
        let (handle, drops) = tracked(7);
        let lease = handle.lease();
        drop(handle);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        assert_eq!(lease.value, 7);
        let again = lease.clone();
        drop(lease);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(again);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    /// Threads lease on their own shards and drop their leases after the handle is gone, some
    /// of them on another thread than the one that leased: the value lives until the last
    /// lease, and is dropped exactly once.
    #[test]
    fn leases_across_threads_keep_the_value_until_the_last() {
        const THREADS: usize = 4;
        for _ in 0..50 {
            let (handle, drops) = tracked(9);
            let leased = Barrier::new(THREADS + 1);
            let released = Barrier::new(THREADS + 1);
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let (mine, leased, released, tx) =
                        (handle.clone(), &leased, &released, tx.clone());
                    s.spawn(move || {
                        let leases: Vec<_> = (0..10).map(|_| mine.lease()).collect();
                        drop(mine);
                        leased.wait();
                        released.wait();
                        // Every handle is gone now.
                        assert!(leases.iter().all(|l| l.value == 9));
                        if t % 2 == 0 {
                            drop(leases);
                        } else {
                            tx.send(leases).unwrap(); // dropped on the main thread
                        }
                    });
                }
                drop(tx);
                let handle = handle;
                leased.wait();
                drop(handle);
                assert_eq!(drops.load(Ordering::SeqCst), 0, "the leases keep it");
                released.wait();
            });
            assert_eq!(drops.load(Ordering::SeqCst), 0, "sent leases still live");
            let sent: Vec<_> = rx.iter().collect();
            assert_eq!(sent.len(), THREADS / 2);
            assert!(sent.iter().flatten().all(|l| l.value == 9));
            drop(sent);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Clone item `i`.
        Clone(usize),
        /// Lease item `i` on a shard.
        Lease(usize, usize),
        /// Drop item `i`.
        Drop(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..16usize).prop_map(Op::Clone),
            (0..16usize, 0..2 * SHARDS).prop_map(|(i, s)| Op::Lease(i, s)),
            (0..16usize).prop_map(Op::Drop),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Whatever the handles and leases taken and dropped, in any order: the value is alive
        /// exactly while one of them is, and dropped once; a lease always counts on the shard
        /// it was given, and a lease of a lease on its shard.
        #[test]
        fn the_value_lives_exactly_as_long_as_a_reference(
            ops in prop::collection::vec(op(), 0..64),
        ) {
            let (handle, drops) = tracked(3);
            let mut live: Vec<ShardedArc<Tracked>> = vec![handle];
            for op in ops {
                match op {
                    Op::Clone(i) if !live.is_empty() => {
                        let a = &live[i % live.len()];
                        let b = a.clone();
                        prop_assert_eq!(shard_of(&b), shard_of(a));
                        live.push(b);
                    }
                    Op::Lease(i, s) if !live.is_empty() => {
                        let a = &live[i % live.len()];
                        let b = a.lease_in(s);
                        match shard_of(a) {
                            Some(shard) => prop_assert_eq!(shard_of(&b), Some(shard)),
                            None => prop_assert!(shard_of(&b).is_some()),
                        }
                        live.push(b);
                    }
                    Op::Drop(i) if !live.is_empty() => {
                        let i = i % live.len();
                        drop(live.swap_remove(i));
                    }
                    _ => {}
                }
                let dropped = drops.load(Ordering::SeqCst);
                prop_assert_eq!(dropped, usize::from(live.is_empty()));
                for a in &live {
                    prop_assert_eq!(a.value, 3);
                }
            }
            drop(live);
            prop_assert_eq!(drops.load(Ordering::SeqCst), 1);
        }
    }
}
