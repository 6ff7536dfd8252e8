//! A retry budget ([`RetryBudget`]), as configured.

use serde::{Deserialize, Serialize};

use crate::{ConfigError, RetryBudget};

/// A [`RetryBudget`]: `"unlimited"`, or the token bucket's numbers (each defaulting to
/// [`RetryBudget::standard`]'s).
///
/// ```toml
/// capacity = 500
/// retry_cost = 5
/// timeout_cost = 10
/// success_deposit = 1
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BudgetConfig {
    /// [`RetryBudget::unlimited`]: the string `"unlimited"`.
    Unlimited(Unlimited),
    /// A token bucket.
    Bucket(BucketConfig),
}

/// The string `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unlimited {
    /// The only value.
    Unlimited,
}

/// A token bucket's numbers; a missing one keeps [`RetryBudget::standard`]'s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// The tokens it holds when full. Default 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// The tokens a retry after a failure costs. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_cost: Option<u32>,
    /// The tokens a retry after a timeout costs. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_cost: Option<u32>,
    /// The tokens a first-try success gives back. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_deposit: Option<u32>,
}

impl BudgetConfig {
    /// The budget.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] as [`RetryBudgetBuilder::build`](crate::budget::RetryBudgetBuilder::build)
    /// gives it.
    pub fn build(&self) -> Result<RetryBudget, ConfigError> {
        match self {
            BudgetConfig::Unlimited(_) => Ok(RetryBudget::unlimited()),
            BudgetConfig::Bucket(bucket) => {
                let mut b = RetryBudget::builder();
                if let Some(n) = bucket.capacity {
                    b = b.capacity(n);
                }
                if let Some(n) = bucket.retry_cost {
                    b = b.retry_cost(n);
                }
                if let Some(n) = bucket.timeout_cost {
                    b = b.timeout_cost(n);
                }
                if let Some(n) = bucket.success_deposit {
                    b = b.success_deposit(n);
                }
                b.build()
            }
        }
    }
}
