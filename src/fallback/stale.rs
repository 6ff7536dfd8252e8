//! The last good response per key, kept for a bounded time and count, served when a call fails:
//! [`StaleCache`] and its fallback, [`Stale`].

use std::collections::HashMap;
use std::fmt;
use std::future::{Ready, ready};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::policy::{Degraded, Failure, Fallback};
use crate::clock;
use crate::error::ConfigError;

/// The last good response per key, for at most `max_age` and at most `max_entries` keys: the
/// stale answers a [`FallbackLayer`](super::FallbackLayer) serves when a call fails.
///
/// # The rules
///
/// - **Age.** An entry is served while its age (the time since it was stored, on tokio's clock)
///   is *less than* `max_age`: an entry stored at `t` is served up to, and not at, `t +
///   max_age`. An expired entry is never served, and is dropped when found.
/// - **Count.** Storing a key not yet held into a full cache first drops the expired entries
///   among the oldest (the oldest entries up to the first one that has not expired); if it is
///   still full, it drops the entry stored longest ago (the oldest answer, the next to expire).
///   Storing a key already held replaces its entry and makes it the newest. Reading never
///   changes the order. So the cache never holds more than `max_entries` entries.
///
/// # Cost
///
/// The cache is one `std::sync::Mutex` around a hash map (std's, with its SipHash hasher) and a
/// list of its entries in the order they were stored; the lock is held only inside these
/// methods, never across an `.await`. Storing a key already held is one hash lookup and a few
/// index updates; a new key costs a second lookup, the key's clone (each key is held once) and,
/// in a full cache, one lookup per entry dropped. Used as a fallback
/// ([`fallback`](Self::fallback)), it is on the success path: every successful call clones its
/// response (so the response type must be `Clone`: use one whose clone is cheap, such as
/// `bytes::Bytes` bodies or an `Arc`), computes its key, reads the clock once and takes the lock
/// to store them — calls running at once wait for each other there. The benchmarks measure it
/// (`benches/fallback.rs`).
///
/// # Clone
///
/// Clones share the entries.
pub struct StaleCache<K, T> {
    shared: Arc<Shared<K, T>>,
}

impl<K, T> Clone for StaleCache<K, T> {
    fn clone(&self) -> Self {
        StaleCache {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<K, T> {
    max_entries: usize,
    max_age: Duration,
    entries: Mutex<Entries<K, T>>,
}

/// The entries in the order they were stored, oldest first: a doubly linked list threaded
/// through `slots` (indices, `NIL` for none), and the map from each key to its slot. Moving an
/// entry to the newest end, or dropping the oldest, is a few index updates; a store of a key
/// already held is one hash lookup.
struct Entries<K, T> {
    map: HashMap<K, usize>,
    slots: Vec<Option<Slot<K, T>>>,
    /// Slots emptied, to be reused first: `slots` never grows beyond `max_entries`.
    free: Vec<usize>,
    oldest: usize,
    newest: usize,
}

const NIL: usize = usize::MAX;

struct Slot<K, T> {
    key: K,
    value: T,
    stored_at: Instant,
    older: usize,
    newer: usize,
}

impl<K, T> Entries<K, T> {
    fn new() -> Self {
        Entries {
            map: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            oldest: NIL,
            newest: NIL,
        }
    }

    fn clear(&mut self) {
        *self = Entries::new();
    }

    fn slot(&self, i: usize) -> Option<&Slot<K, T>> {
        self.slots.get(i).and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, i: usize) -> Option<&mut Slot<K, T>> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    /// Takes slot `i` out of the order.
    fn unlink(&mut self, i: usize) {
        let Some(slot) = self.slot(i) else { return };
        let (older, newer) = (slot.older, slot.newer);
        match self.slot_mut(older) {
            Some(o) => o.newer = newer,
            None => self.oldest = newer,
        }
        match self.slot_mut(newer) {
            Some(n) => n.older = older,
            None => self.newest = older,
        }
    }

    /// Puts slot `i` at the newest end.
    fn push_newest(&mut self, i: usize) {
        let newest = self.newest;
        if let Some(slot) = self.slot_mut(i) {
            slot.older = newest;
            slot.newer = NIL;
        }
        match self.slot_mut(newest) {
            Some(n) => n.newer = i,
            None => self.oldest = i,
        }
        self.newest = i;
    }
}

impl<K: Hash + Eq, T> Entries<K, T> {
    /// Drops the entry in slot `i`.
    fn remove(&mut self, i: usize) {
        self.unlink(i);
        if let Some(slot) = self.slots.get_mut(i).and_then(Option::take) {
            self.map.remove(&slot.key);
            self.free.push(i);
        }
    }
}

/// A response read from a [`StaleCache`], and how old it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaleEntry<T> {
    /// The response, cloned.
    pub value: T,
    /// How long ago it was stored: less than the cache's `max_age`.
    pub age: Duration,
}

impl<K, T> fmt::Debug for StaleCache<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaleCache")
            .field("max_entries", &self.shared.max_entries)
            .field("max_age", &self.shared.max_age)
            .field("len", &self.lock().map.len())
            .finish()
    }
}

impl<K, T> StaleCache<K, T> {
    /// A cache of at most `max_entries` keys, each served for less than `max_age`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `max_entries` is zero, or `max_age` is zero or above
    /// [`MAX_DURATION`](crate::MAX_DURATION).
    pub fn new(max_entries: usize, max_age: Duration) -> Result<Self, ConfigError> {
        if max_entries == 0 {
            return Err(ConfigError::invalid(
                "stale cache max_entries",
                max_entries,
                "at least 1",
            ));
        }
        ConfigError::check_limit("stale cache max_age", Some(max_age))?;
        Ok(StaleCache {
            shared: Arc::new(Shared {
                max_entries,
                max_age,
                entries: Mutex::new(Entries::new()),
            }),
        })
    }

    /// The most entries it holds.
    pub fn max_entries(&self) -> usize {
        self.shared.max_entries
    }

    /// The age from which an entry is no longer served.
    pub fn max_age(&self) -> Duration {
        self.shared.max_age
    }

    /// How many entries it holds, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The entries, whatever a panic elsewhere left: every change below keeps them consistent
    /// before anything that may panic (a key's `Hash`, a response's `Clone`) runs.
    fn lock(&self) -> MutexGuard<'_, Entries<K, T>> {
        self.shared
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone, T> StaleCache<K, T> {
    /// Keeps `value` as the last good response for `key`, stored now (tokio's clock).
    pub fn store(&self, key: K, value: T) {
        self.store_at(key, value, clock::now());
    }

    /// Keeps `value` as the last good response for `key`, stored at `now`. Instants must not go
    /// backwards from one call to the next (an earlier one counts as `now` of the newest entry
    /// for the eviction order, and ages are never negative).
    pub fn store_at(&self, key: K, value: T, now: Instant) {
        let (max_entries, max_age) = (self.shared.max_entries, self.shared.max_age);
        let mut guard = self.lock();
        let entries = &mut *guard;
        if let Some(&i) = entries.map.get(&key) {
            if let Some(slot) = entries.slot_mut(i) {
                slot.value = value;
                slot.stored_at = now;
            }
            entries.unlink(i);
            entries.push_newest(i);
            return;
        }
        // Full: the oldest first, the expired ones, then, if it is still full, the oldest one.
        if entries.map.len() >= max_entries {
            while let Some(oldest) = entries.slot(entries.oldest) {
                let expired = age(oldest.stored_at, now) >= max_age;
                if !expired && entries.map.len() < max_entries {
                    break;
                }
                entries.remove(entries.oldest);
            }
        }
        let slot = Slot {
            key: key.clone(),
            value,
            stored_at: now,
            older: NIL,
            newer: NIL,
        };
        let i = match entries.free.pop() {
            Some(i) => {
                entries.slots[i] = Some(slot);
                i
            }
            None => {
                entries.slots.push(Some(slot));
                entries.slots.len() - 1
            }
        };
        entries.map.insert(key, i);
        entries.push_newest(i);
    }
}

impl<K: Hash + Eq, T: Clone> StaleCache<K, T> {
    /// The last good response for `key` and its age, now (tokio's clock), unless it expired or
    /// was evicted.
    pub fn get(&self, key: &K) -> Option<StaleEntry<T>> {
        self.get_at(key, clock::now())
    }

    /// The last good response for `key` and its age at `now`, unless it expired (then it is
    /// dropped) or was evicted.
    pub fn get_at(&self, key: &K, now: Instant) -> Option<StaleEntry<T>> {
        let mut entries = self.lock();
        let i = *entries.map.get(key)?;
        let slot = entries.slot(i)?;
        let age = age(slot.stored_at, now);
        if age < self.shared.max_age {
            return Some(StaleEntry {
                value: slot.value.clone(),
                age,
            });
        }
        entries.remove(i);
        None
    }
}

fn age(stored_at: Instant, now: Instant) -> Duration {
    now.saturating_duration_since(stored_at)
}

impl<K, T> StaleCache<K, T> {
    /// A fallback over this cache, keyed by `key` of each request: every successful call
    /// stores its response (cloned) under its key, and a failed call is answered with the last
    /// good response under its key, with its age; when there is none, the fallback fails with
    /// [`StaleMiss`], which holds the failure.
    pub fn fallback<Req, X>(&self, key: X) -> Stale<K, T, X>
    where
        X: Fn(&Req) -> K,
    {
        Stale {
            cache: self.clone(),
            key,
            mark: unmarked::<T>,
        }
    }
}

fn unmarked<T>(response: T, _age: Duration) -> T {
    response
}

/// A fallback serving a [`StaleCache`]'s last good responses: see [`StaleCache::fallback`].
pub struct Stale<K, T, X, M = fn(T, Duration) -> T> {
    cache: StaleCache<K, T>,
    key: X,
    mark: M,
}

impl<K, T, X: Clone, M: Clone> Clone for Stale<K, T, X, M> {
    fn clone(&self) -> Self {
        Stale {
            cache: self.cache.clone(),
            key: self.key.clone(),
            mark: self.mark.clone(),
        }
    }
}

impl<K, T, X, M> fmt::Debug for Stale<K, T, X, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stale")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl<K, T, X, M> Stale<K, T, X, M> {
    /// The same fallback, telling the caller how old a stale response is: `mark` receives
    /// each response served and its age, and returns what the caller gets (an HTTP response
    /// with an `Age` header, say).
    pub fn mark<M2: Fn(T, Duration) -> T>(self, mark: M2) -> Stale<K, T, X, M2> {
        Stale {
            cache: self.cache,
            key: self.key,
            mark,
        }
    }

    /// The cache.
    pub fn cache(&self) -> &StaleCache<K, T> {
        &self.cache
    }
}

impl<Req, K, T, E, X, M> Fallback<Req, T, E> for Stale<K, T, X, M>
where
    K: Hash + Eq + Clone,
    T: Clone,
    X: Fn(&Req) -> K,
    M: Fn(T, Duration) -> T,
{
    type Part = K;
    type Error = StaleMiss<T, E>;
    type Future = Ready<Result<Degraded<T>, StaleMiss<T, E>>>;

    #[inline]
    fn part(&self, request: &Req) -> K {
        (self.key)(request)
    }

    #[inline]
    fn succeeded(&self, key: K, response: &T) {
        self.cache.store(key, response.clone());
    }

    fn fallback(&self, key: K, failure: Failure<T, E>) -> Self::Future {
        ready(match self.cache.get(&key) {
            Some(StaleEntry { value, age }) => Ok(Degraded::aged((self.mark)(value, age), age)),
            None => Err(StaleMiss { failure }),
        })
    }
}

/// A [`Stale`] fallback had no response to serve (none stored for the key, or it expired or
/// was evicted): the call's failure, as it was.
#[derive(Debug)]
#[non_exhaustive]
pub struct StaleMiss<T, E> {
    /// The failure the fallback could not answer.
    pub failure: Failure<T, E>,
}

impl<T, E> fmt::Display for StaleMiss<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no stale response to serve ({})", self.failure.trigger)
    }
}

/// Its source is not repeated (the failure's error may be a [`BoxError`](crate::BoxError), not
/// itself an `Error`): read it from [`failure`](Self::failure).
impl<T: fmt::Debug, E: fmt::Debug> std::error::Error for StaleMiss<T, E> {}
