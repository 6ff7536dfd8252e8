//! A retry policy ([`RetryPolicy`]), as configured.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BackoffConfig, BudgetConfig, at};
use crate::ConfigError;
use crate::retry::{RetryPolicy, RetryPolicyBuilder};

/// A [`RetryPolicy`]'s settings; a missing one keeps the builder's default.
///
/// ```toml
/// deadline = "10s"
/// attempt_timeout = "2s"
/// retry_after_cap = "20s"
/// backoff = { kind = "standard" }
/// budget = { capacity = 100 }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The schedule of retries. Default: [`Backoff::standard`](crate::Backoff::standard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffConfig>,
    /// The retry budget. Default: a fresh standard budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetConfig>,
    /// The deadline of a call. Default: none.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<Duration>,
    /// The timeout of each attempt. Default: none.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub attempt_timeout: Option<Duration>,
    /// The longest `Retry-After` hint honoured. Default 20 s.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after_cap: Option<Duration>,
    /// The jitter's seed. Default: drawn from the process's entropy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl RetryConfig {
    /// A [`RetryPolicy`] builder with these settings, for the caller to give its classifier,
    /// replay rule and hook, and build.
    ///
    /// # Errors
    ///
    /// [`ConfigError::At`] with the path of the schedule or the budget (under `path`) when one
    /// of them is invalid; the builder checks the rest when it builds.
    pub fn builder(&self, path: &str) -> Result<RetryPolicyBuilder, ConfigError> {
        let mut b = RetryPolicy::builder();
        if let Some(backoff) = &self.backoff {
            b = b.backoff(at(path, "backoff", backoff.build())?);
        }
        if let Some(budget) = &self.budget {
            b = b.budget(at(path, "budget", budget.build())?);
        }
        if let Some(d) = self.deadline {
            b = b.deadline(d);
        }
        if let Some(d) = self.attempt_timeout {
            b = b.attempt_timeout(d);
        }
        if let Some(d) = self.retry_after_cap {
            b = b.retry_after_cap(d);
        }
        if let Some(seed) = self.seed {
            b = b.seed(seed);
        }
        Ok(b)
    }

    /// The policy, with the default classifier, replay rule and no hook: what validating the
    /// settings builds.
    ///
    /// # Errors
    ///
    /// [`ConfigError::At`] with the path of the invalid setting's section.
    pub fn build(&self, path: &str) -> Result<RetryPolicy, ConfigError> {
        at(path, "", self.builder(path)?.build())
    }
}
