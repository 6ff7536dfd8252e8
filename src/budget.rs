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
//! The bucket's word sits alone on its cache line, so two busy budgets never contend.
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
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

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
    /// The bucket's level; `None` for an unlimited budget.
    cell: Option<Arc<Cell>>,
    config: Settings,
}

/// The configuration of a [`RetryBudget`]; every value has the default shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    success_deposit: u32,
}

const STANDARD: Settings = Settings {
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
            cell: None,
            config: STANDARD,
        }
    }

    /// A builder starting from the [`standard`](Self::standard) numbers.
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder { config: STANDARD }
    }

    fn with_config(config: Settings) -> Self {
        RetryBudget {
            cell: Some(Arc::new(Cell {
                level: AtomicU32::new(config.capacity),
            })),
            config,
        }
    }

    /// Tokens in the bucket now, or `None` for an unlimited budget.
    #[inline]
    pub fn level(&self) -> Option<u32> {
        Some(self.cell.as_ref()?.level.load(Ordering::Relaxed))
    }

    /// The bucket's capacity, or `None` for an unlimited budget.
    pub fn capacity(&self) -> Option<u32> {
        self.cell.as_ref().map(|_| self.config.capacity)
    }

    /// What an attempt following `outcome` costs: the timeout cost after a timeout, else the
    /// retry cost (0 for an unlimited budget).
    #[inline]
    pub fn cost_after(&self, outcome: &Outcome) -> u32 {
        match self.cell {
            None => 0,
            Some(_) if outcome.is_timeout() => self.config.timeout_cost,
            Some(_) => self.config.retry_cost,
        }
    }

    /// Takes the cost of an attempt that follows `outcome`, or returns `None` when the bucket
    /// holds less than that: then the caller returns its last failure instead of retrying.
    #[inline]
    pub fn try_withdraw(&self, outcome: &Outcome) -> Option<Withdrawal> {
        let amount = self.cost_after(outcome);
        let Some(cell) = &self.cell else {
            return Some(Withdrawal { amount: 0 });
        };
        cell.level
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |level| {
                level.checked_sub(amount)
            })
            .ok()
            .map(|_| Withdrawal { amount })
    }

    /// Gives back the tokens of an attempt that was never sent.
    #[inline]
    pub fn refund(&self, withdrawal: Withdrawal) {
        self.deposit(withdrawal.amount)
    }

    /// Records a successful request: `last` is the withdrawal of its last attempt, or `None`
    /// if it succeeded on the first try. A first-try success deposits the success deposit (when
    /// the bucket is full this only reads it); a success after retries gives back the last
    /// withdrawal's cost.
    #[inline]
    pub fn on_success(&self, last: Option<Withdrawal>) {
        match last {
            None => self.deposit(self.config.success_deposit),
            Some(w) => self.deposit(w.amount),
        }
    }

    /// Adds `amount`, clamped at the capacity; writes nothing when that changes nothing.
    #[inline]
    fn deposit(&self, amount: u32) {
        let Some(cell) = &self.cell else { return };
        let capacity = self.config.capacity;
        if amount == 0 || cell.level.load(Ordering::Relaxed) >= capacity {
            return;
        }
        let _ = cell
            .level
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |level| {
                (level < capacity).then(|| level.saturating_add(amount).min(capacity))
            });
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
            .field("retry_cost", &self.config.retry_cost)
            .field("timeout_cost", &self.config.timeout_cost)
            .field("success_deposit", &self.config.success_deposit)
            .finish()
    }
}

/// Builds a [`RetryBudget`]; see each setter for its default.
#[derive(Debug, Clone)]
pub struct RetryBudgetBuilder {
    config: Settings,
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
    /// [`ConfigError`] when the capacity is 0 or above 2³¹.
    ///
    /// A cost above the capacity is allowed: it can never be paid, so failures of that kind
    /// are never retried (a bucket of 7 with the standard costs retries failures once, and never
    /// retries a timeout).
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        let c = self.config;
        if c.capacity == 0 || c.capacity > MAX_CAPACITY {
            return Err(ConfigError::invalid(
                "budget capacity",
                c.capacity,
                "between 1 and 2147483648",
            ));
        }
        Ok(RetryBudget::with_config(c))
    }
}

const MAX_CAPACITY: u32 = 1 << 31;
/// The bucket's level, alone on its cache line so that two busy budgets never share one.
#[repr(align(64))]
struct Cell {
    level: AtomicU32,
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
        let e = RetryBudget::builder().capacity(0).build().unwrap_err();
        assert_eq!(
            e.to_string(),
            "budget capacity is 0, expected between 1 and 2147483648"
        );
        let small = RetryBudget::builder().capacity(7).build().unwrap();
        assert!(
            small.try_withdraw(&Outcome::timeout()).is_none(),
            "never paid"
        );
        assert!(small.try_withdraw(&Outcome::failed()).is_some());
        assert!(
            RetryBudget::builder()
                .capacity(MAX_CAPACITY)
                .build()
                .is_ok()
        );
    }
}
