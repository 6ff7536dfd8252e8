//! The retry budget: a token bucket that caps the extra load retries and hops add.
//!
//! # Why a budget, and not only a maximum number of retries
//!
//! A maximum number of retries bounds the load *one request* can add: three retries turn one
//! call into four. When a dependency struggles, every request fails, every request retries, and
//! the dependency sees four times its normal load at the worst possible moment: a retry storm.
//! A budget bounds the load retries add *across all requests*: retries spend tokens, successes
//! earn them back, and when the bucket is empty a failure is returned instead of retried. While
//! things are healthy the bucket stays full and retries are free to smooth over blips; during an
//! outage it drains after a bounded number of retries and the client stops amplifying.
//!
//! # The rules (AWS SDK "standard" mode)
//!
//! | event | tokens |
//! | --- | --- |
//! | first attempt of a request | free |
//! | a further attempt actually sent (retry, hop, recover pass) | −5 (`retry_cost`) |
//! | … when the failure it follows was a timeout | −10 (`timeout_cost`) |
//! | an attempt reserved but never sent (dropped, not ready) | refunded |
//! | first-try success | +1 (`success_deposit`), up to the capacity |
//! | success after retries | + the cost of the last withdrawal |
//!
//! The capacity is 500, and the bucket starts full. A [`RetryBudget`] is shared by the clones of
//! the layer that owns it; share one budget across layers explicitly by passing clones of it.
//!
//! # Exactness and cost
//!
//! Every withdrawal and deposit is one compare-and-swap on one word, so concurrent operations
//! never lose an update: the final level equals the exact, clamped sum of all operations. When
//! the bucket is full, a first-try success only loads the word: a healthy service's calls never
//! write to the shared cache line.
//!
//! Calls do not reference-count the budget. Its state lives in a cache-padded cell from a
//! process-wide pool; a budget *leases* a cell and its calls address it directly. The cell's word
//! carries the lease's epoch beside the level, and a cell goes back to the pool with its epoch
//! advanced when the last clone of its budget is dropped, so an operation from a call that
//! outlived its budget fails its compare-and-swap and changes nothing. The pool holds at most as
//! many 64-byte cells as there were budgets alive at once.
//!
//! # Examples
//!
//! ```
//! use steadfast::budget::RetryBudget;
//! use steadfast::classify::Outcome;
//!
//! let budget = RetryBudget::builder().capacity(10).build()?;
//! let first = budget.try_withdraw(&Outcome::failed()).expect("a retry fits");
//! assert_eq!(budget.level(), Some(5));
//! let second = budget.try_withdraw(&Outcome::failed()).expect("a second fits");
//! assert!(budget.try_withdraw(&Outcome::failed()).is_none(), "empty");
//! budget.refund(second); // that attempt was never sent
//! budget.on_success(Some(first)); // a success after a retry gives its cost back
//! assert_eq!(budget.level(), Some(10));
//! # Ok::<(), steadfast::ConfigError>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::classify::Outcome;
use crate::error::ConfigError;

/// A token bucket shared by every clone: see the [module docs](self).
///
/// # Clone
///
/// Clones share one bucket. A layer's clones share its budget; to share one budget between
/// layers, give each a clone.
#[derive(Clone)]
pub struct RetryBudget {
    view: BudgetView,
    /// Keeps the cell leased while any clone lives; `None` for an unlimited budget.
    _lease: Option<Arc<Lease>>,
}

/// The configuration of a [`RetryBudget`]; every value has the default shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Config {
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    success_deposit: u32,
}

const STANDARD: Config = Config {
    capacity: 500,
    retry_cost: 5,
    timeout_cost: 10,
    success_deposit: 1,
};

/// Tokens taken for one attempt, to refund or give back on success.
///
/// Not `Clone`: each withdrawal is given back at most once.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a withdrawal for an attempt never sent must be refunded"]
pub struct Withdrawal {
    amount: u32,
}

impl Withdrawal {
    /// How many tokens were taken (0 from an unlimited budget).
    pub const fn amount(&self) -> u32 {
        self.amount
    }
}

impl RetryBudget {
    /// The AWS SDK standard-mode bucket: capacity 500, retry 5, timeout 10, first-try success 1.
    pub fn standard() -> Self {
        Self::with_config(STANDARD)
    }

    /// A budget that never runs out and costs nothing to use (no shared state at all).
    pub fn unlimited() -> Self {
        RetryBudget {
            view: BudgetView {
                cell: None,
                epoch: 0,
                config: STANDARD,
            },
            _lease: None,
        }
    }

    /// A builder starting from the [`standard`](Self::standard) numbers.
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder { config: STANDARD }
    }

    fn with_config(config: Config) -> Self {
        let lease = Lease::acquire(config.capacity);
        RetryBudget {
            view: BudgetView {
                cell: Some(lease.cell),
                epoch: lease.epoch,
                config,
            },
            _lease: Some(Arc::new(lease)),
        }
    }

    /// Tokens in the bucket now, or `None` for an unlimited budget.
    #[inline]
    pub fn level(&self) -> Option<u32> {
        self.view.level()
    }

    /// The bucket's capacity, or `None` for an unlimited budget.
    pub fn capacity(&self) -> Option<u32> {
        self.view.cell.map(|_| self.view.config.capacity)
    }

    /// What an attempt following `outcome` costs: the timeout cost after a timeout, else the
    /// retry cost (0 for an unlimited budget).
    #[inline]
    pub fn cost_after(&self, outcome: &Outcome) -> u32 {
        self.view.cost_after(outcome)
    }

    /// Takes the cost of an attempt that follows `outcome`, or returns `None` when the bucket
    /// holds less than that: then the caller returns its last failure instead of retrying.
    #[inline]
    pub fn try_withdraw(&self, outcome: &Outcome) -> Option<Withdrawal> {
        self.view.try_withdraw(outcome)
    }

    /// Gives back the tokens of an attempt that was never sent.
    #[inline]
    pub fn refund(&self, withdrawal: Withdrawal) {
        self.view.deposit(withdrawal.amount)
    }

    /// Records a successful request: `last` is the withdrawal of its last attempt, or `None`
    /// if it succeeded on the first try. A first-try success deposits the success deposit (when
    /// the bucket is full this only reads it); a success after retries gives back the last
    /// withdrawal's cost.
    #[inline]
    pub fn on_success(&self, last: Option<Withdrawal>) {
        self.view.on_success(last)
    }

    /// A `Copy` view for one call to carry without reference counting.
    #[inline]
    #[allow(dead_code)] // the layers use it
    pub(crate) fn view(&self) -> BudgetView {
        self.view
    }
}

impl Default for RetryBudget {
    /// [`RetryBudget::standard()`].
    fn default() -> Self {
        Self::standard()
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("level", &self.level())
            .field("capacity", &self.capacity())
            .field("retry_cost", &self.view.config.retry_cost)
            .field("timeout_cost", &self.view.config.timeout_cost)
            .field("success_deposit", &self.view.config.success_deposit)
            .finish()
    }
}

/// Builds a [`RetryBudget`]; see each setter for its default.
#[derive(Debug, Clone)]
pub struct RetryBudgetBuilder {
    config: Config,
}

impl RetryBudgetBuilder {
    /// The most tokens the bucket holds; it starts full. Default 500.
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.config.capacity = capacity;
        self
    }

    /// Tokens an attempt costs after a failure other than a timeout. Default 5.
    pub fn retry_cost(mut self, cost: u32) -> Self {
        self.config.retry_cost = cost;
        self
    }

    /// Tokens an attempt costs after a timeout. Default 10.
    pub fn timeout_cost(mut self, cost: u32) -> Self {
        self.config.timeout_cost = cost;
        self
    }

    /// Tokens a first-try success deposits. Default 1.
    pub fn success_deposit(mut self, deposit: u32) -> Self {
        self.config.success_deposit = deposit;
        self
    }

    /// The budget, leasing its cell.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the capacity is 0 or above 2³¹, or a cost exceeds the capacity (it
    /// could never be paid: use [`Backoff::none()`](crate::backoff::Backoff::none) to turn
    /// retries off).
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        let c = self.config;
        if c.capacity == 0 || c.capacity > MAX_CAPACITY {
            return Err(ConfigError::invalid(
                "budget capacity",
                c.capacity,
                "between 1 and 2147483648",
            ));
        }
        for (setting, cost) in [
            ("budget retry cost", c.retry_cost),
            ("budget timeout cost", c.timeout_cost),
        ] {
            if cost > c.capacity {
                return Err(ConfigError::invalid(
                    setting,
                    cost,
                    "at most the budget capacity",
                ));
            }
        }
        Ok(RetryBudget::with_config(c))
    }
}

const MAX_CAPACITY: u32 = 1 << 31;
const LEVEL_MASK: u64 = u32::MAX as u64;

/// One bucket's word: the lease epoch in the high half, the level in the low half. Padded to a
/// cache line so that two busy budgets never share one.
#[repr(align(64))]
struct Cell {
    word: AtomicU64,
}

/// Cells no budget holds now, ready for reuse.
static POOL: Mutex<Vec<&'static Cell>> = Mutex::new(Vec::new());

/// A budget's hold on one cell; dropping it returns the cell.
struct Lease {
    cell: &'static Cell,
    epoch: u32,
}

impl Lease {
    fn acquire(level: u32) -> Self {
        let reused = POOL.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let cell = reused.unwrap_or_else(|| {
            Box::leak(Box::new(Cell {
                word: AtomicU64::new(0),
            }))
        });
        // The epoch was advanced when the cell was released, so calls of its last owner no
        // longer match it; only this lease writes the new level.
        let epoch = (cell.word.load(Ordering::Acquire) >> 32) as u32;
        cell.word.store(pack(epoch, level), Ordering::Release);
        Lease { cell, epoch }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Advance the epoch (wrapping): every operation of a call still in flight now fails.
        self.cell.word.fetch_add(1 << 32, Ordering::AcqRel);
        POOL.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.cell);
    }
}

const fn pack(epoch: u32, level: u32) -> u64 {
    ((epoch as u64) << 32) | level as u64
}

/// What one call carries to use its budget: `Copy`, without reference counting.
#[derive(Clone, Copy)]
pub(crate) struct BudgetView {
    cell: Option<&'static Cell>,
    epoch: u32,
    config: Config,
}

impl fmt::Debug for BudgetView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetView")
            .field("level", &self.level())
            .finish()
    }
}

impl BudgetView {
    #[inline]
    pub(crate) fn level(&self) -> Option<u32> {
        let word = self.cell?.word.load(Ordering::Relaxed);
        ((word >> 32) as u32 == self.epoch).then_some((word & LEVEL_MASK) as u32)
    }

    #[inline]
    pub(crate) fn cost_after(&self, outcome: &Outcome) -> u32 {
        match self.cell {
            None => 0,
            Some(_) if outcome.is_timeout() => self.config.timeout_cost,
            Some(_) => self.config.retry_cost,
        }
    }

    #[inline]
    pub(crate) fn try_withdraw(&self, outcome: &Outcome) -> Option<Withdrawal> {
        let amount = self.cost_after(outcome);
        let Some(cell) = self.cell else {
            return Some(Withdrawal { amount: 0 });
        };
        let mut word = cell.word.load(Ordering::Relaxed);
        loop {
            let level = (word & LEVEL_MASK) as u32;
            if (word >> 32) as u32 != self.epoch || level < amount {
                return None;
            }
            match cell.word.compare_exchange_weak(
                word,
                pack(self.epoch, level - amount),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Withdrawal { amount }),
                Err(actual) => word = actual,
            }
        }
    }

    /// Adds `amount`, clamped at the capacity; writes nothing when that changes nothing.
    #[inline]
    pub(crate) fn deposit(&self, amount: u32) {
        let Some(cell) = self.cell else { return };
        if amount == 0 {
            return;
        }
        let mut word = cell.word.load(Ordering::Relaxed);
        loop {
            let level = (word & LEVEL_MASK) as u32;
            if (word >> 32) as u32 != self.epoch || level >= self.config.capacity {
                return;
            }
            let new = level.saturating_add(amount).min(self.config.capacity);
            match cell.word.compare_exchange_weak(
                word,
                pack(self.epoch, new),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    #[inline]
    pub(crate) fn on_success(&self, last: Option<Withdrawal>) {
        match last {
            None => self.deposit(self.config.success_deposit),
            Some(w) => self.deposit(w.amount),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_numbers() {
        let b = RetryBudget::standard();
        assert_eq!(b.level(), Some(500));
        assert_eq!(b.capacity(), Some(500));
        assert_eq!(b.cost_after(&Outcome::failed()), 5);
        assert_eq!(b.cost_after(&Outcome::not_sent()), 5);
        assert_eq!(b.cost_after(&Outcome::throttled(None)), 5);
        assert_eq!(b.cost_after(&Outcome::timeout()), 10);
        let w = b.try_withdraw(&Outcome::timeout()).unwrap();
        assert_eq!(w.amount(), 10);
        assert_eq!(b.level(), Some(490));
        b.on_success(None);
        assert_eq!(b.level(), Some(491));
        b.on_success(Some(w));
        assert_eq!(b.level(), Some(500));
        b.on_success(None);
        assert_eq!(b.level(), Some(500), "clamped at capacity");
    }

    #[test]
    fn empty_bucket_refuses_exactly() {
        let b = RetryBudget::builder().capacity(12).build().unwrap();
        let _a = b.try_withdraw(&Outcome::failed()).unwrap();
        let _c = b.try_withdraw(&Outcome::failed()).unwrap();
        assert_eq!(b.level(), Some(2));
        assert!(b.try_withdraw(&Outcome::failed()).is_none());
        assert_eq!(b.level(), Some(2), "a refusal takes nothing");
    }

    #[test]
    fn unlimited_never_refuses() {
        let b = RetryBudget::unlimited();
        assert_eq!(b.level(), None);
        for _ in 0..10_000 {
            let w = b.try_withdraw(&Outcome::timeout()).unwrap();
            assert_eq!(w.amount(), 0);
        }
    }

    #[test]
    fn clones_share_one_bucket() {
        let a = RetryBudget::standard();
        let b = a.clone();
        let _w = a.try_withdraw(&Outcome::failed()).unwrap();
        assert_eq!(b.level(), Some(495));
    }

    #[test]
    fn invalid_configuration() {
        assert!(RetryBudget::builder().capacity(0).build().is_err());
        assert!(RetryBudget::builder().capacity(u32::MAX).build().is_err());
        let e = RetryBudget::builder()
            .capacity(4)
            .build()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "budget retry cost is 5, expected at most the budget capacity"
        );
        assert!(
            RetryBudget::builder()
                .capacity(MAX_CAPACITY)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn a_call_outliving_its_budget_cannot_touch_the_reused_cell() {
        let old = RetryBudget::builder().capacity(50).build().unwrap();
        let stale = old.view();
        drop(old);
        // Whichever cell the new budget gets (perhaps the same one), the stale view is dead.
        let fresh = RetryBudget::builder().capacity(50).build().unwrap();
        assert!(stale.try_withdraw(&Outcome::failed()).is_none());
        stale.deposit(1);
        assert_eq!(stale.level(), None);
        assert_eq!(fresh.level(), Some(50));
    }
}
