//! A circuit breaker ([`CircuitBreaker`]), as configured.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::breaker::{CircuitBreaker, CircuitBreakerBuilder, DEFAULT_BUCKETS, SlidingWindow};

/// A [`CircuitBreaker`]'s settings; a missing one keeps the builder's default.
///
/// ```toml
/// failure_rate = 0.5
/// window = 100            # or: time_window = "60s" (and buckets = 10)
/// minimum_calls = 20
/// consecutive_failures = 5  # or: false, to turn the rule off
/// open_duration = "30s"
/// open_growth = { factor = 2.0, max = "5m" }
/// probes = 3
/// required_successes = 3
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Trip at this share of failures in the window. Default 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f64>,
    /// A count window of this many calls. Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// A time window of this length instead of a count window.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_window: Option<Duration>,
    /// The buckets of the time window. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u32>,
    /// A call slower than this counts as slow. Default: off.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub slow_call_duration: Option<Duration>,
    /// Trip at this share of slow calls. Default 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_call_rate: Option<f64>,
    /// The rates are evaluated from this many calls in the window. Default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_calls: Option<u32>,
    /// Trip after this many failures in a row, or `false` for never. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<ConsecutiveFailures>,
    /// How long it stays open. Default 30 s.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_duration: Option<Duration>,
    /// The growth of the open duration on consecutive trips. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_growth: Option<OpenGrowth>,
    /// Probes admitted at once when half-open. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<u32>,
    /// Probe successes that close it. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_successes: Option<u32>,
    /// The longest it waits half-open for its probes. Default: the open duration.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub half_open_max_wait: Option<Duration>,
    /// Count `Rejected` outcomes as successes. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_counts_as_success: Option<bool>,
    /// Its name (for a failover's breakers, a prefix of the endpoint's). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The consecutive-failure rule: a number of failures, or `false` for off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConsecutiveFailures {
    /// Trip after this many failures in a row.
    After(u32),
    /// `false`: the rule is off (`true` is refused when the breaker is built).
    Enabled(bool),
}

/// The growth of the open duration: `factor` per consecutive trip, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenGrowth {
    /// The factor, finite and at least 1.
    pub factor: f64,
    /// The longest open duration.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

impl BreakerConfig {
    /// `b` with every setting. The two settings no builder call expresses
    /// (`consecutive_failures = true`, `buckets` without `time_window`) are left out:
    /// [`build`](Self::build) refuses them, so validate the configuration first.
    pub fn configure(&self, mut b: CircuitBreakerBuilder) -> CircuitBreakerBuilder {
        if let Some(rate) = self.failure_rate {
            b = b.failure_rate(rate);
        }
        if let Some(calls) = self.window {
            b = b.window(calls);
        }
        if let Some(length) = self.time_window {
            b = b.sliding_window(SlidingWindow::Time {
                length,
                buckets: self.buckets.unwrap_or(DEFAULT_BUCKETS),
            });
        }
        if let Some(d) = self.slow_call_duration {
            b = b.slow_call_duration(d);
        }
        if let Some(rate) = self.slow_call_rate {
            b = b.slow_call_rate(rate);
        }
        if let Some(calls) = self.minimum_calls {
            b = b.minimum_calls(calls);
        }
        match self.consecutive_failures {
            Some(ConsecutiveFailures::After(n)) => b = b.consecutive_failures(n),
            Some(ConsecutiveFailures::Enabled(false)) => b = b.consecutive_failures(None),
            Some(ConsecutiveFailures::Enabled(true)) | None => {}
        }
        if let Some(d) = self.open_duration {
            b = b.open_duration(d);
        }
        if let Some(growth) = self.open_growth {
            b = b.open_growth(growth.factor, growth.max);
        }
        if let Some(n) = self.probes {
            b = b.probes(n);
        }
        if let Some(n) = self.required_successes {
            b = b.required_successes(n);
        }
        if let Some(d) = self.half_open_max_wait {
            b = b.half_open_max_wait(d);
        }
        if let Some(yes) = self.rejected_counts_as_success {
            b = b.rejected_counts_as_success(yes);
        }
        if let Some(name) = &self.name {
            b = b.name(name.clone());
        }
        b
    }

    /// The breaker, from [`CircuitBreaker::builder`] with these settings.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for `consecutive_failures = true` (a number or `false` is expected),
    /// for `buckets` without a `time_window`, and as [`CircuitBreakerBuilder::build`] gives it.
    pub fn build(&self) -> Result<CircuitBreaker, ConfigError> {
        if self.consecutive_failures == Some(ConsecutiveFailures::Enabled(true)) {
            return Err(ConfigError::invalid(
                "consecutive failures",
                true,
                "a number of failures, or false to turn the rule off",
            ));
        }
        if let (Some(buckets), None) = (self.buckets, self.time_window) {
            return Err(ConfigError::invalid(
                "breaker buckets",
                buckets,
                "a time_window beside them",
            ));
        }
        self.configure(CircuitBreaker::builder()).build()
    }
}
