//! A regional failover ([`Failover`]), as configured: its endpoints by name, and every
//! setting of its builder.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BackoffConfig, BreakerConfig, BudgetConfig, at};
use crate::ConfigError;
use crate::failover::{Failback, Failover, FailoverBuilder, Hedge};

/// A [`Failover`]'s endpoints (by name, in priority order) and settings; a missing setting
/// keeps the builder's default.
///
/// ```toml
/// endpoints = ["us-east-2", "us-west-1"]
/// attempt_timeout = "2s"
/// deadline = "10s"
/// failback = { after = "60s" }
/// recover = { kind = "standard" }
/// breaker = { consecutive_failures = 3, open_duration = "10s" }
/// hedge = { percentile = 0.95, floor = "20ms", max_ratio = 0.05 }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverConfig {
    /// The endpoints' names, highest priority first; the caller supplies a service for each.
    pub endpoints: Vec<String>,
    /// Attempts at each endpoint per pass. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_per_endpoint: Option<u32>,
    /// The recover schedule. Default: [`Backoff::standard`](crate::Backoff::standard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover: Option<BackoffConfig>,
    /// The deadline of a call. Default: none.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<Duration>,
    /// The timeout of each hop. Default: none.
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
    /// The failback policy. Default: `"immediate"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<FailbackConfig>,
    /// The retry budget. Default: a fresh standard budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetConfig>,
    /// Every endpoint's breaker. Default: the breaker's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerConfig>,
    /// The jitter's seed. Default: drawn from the process's entropy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Hedged requests. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge: Option<HedgeConfig>,
}

/// A [`Hedge`]: `{ after = "50ms" }`, or `{ percentile = 0.95, floor = "20ms" }` (the floor
/// optional), each with an optional `max_ratio` (default 0.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HedgeConfig {
    /// A fixed delay ([`Hedge::after`]).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub after: Option<Duration>,
    /// A quantile of recent latencies ([`Hedge::percentile`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
    /// The floor of a percentile delay ([`Hedge::floor`]). Default 10 ms.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub floor: Option<Duration>,
    /// The largest share of calls hedged ([`Hedge::max_ratio`]). Default 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<f64>,
}

impl HedgeConfig {
    /// The [`Hedge`]; the failover's builder checks its values.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] unless exactly one of `after` and `percentile` is given, or when a
    /// `floor` is given with `after`.
    pub fn build(&self) -> Result<Hedge, ConfigError> {
        let hedge = match (self.after, self.percentile, self.floor) {
            (Some(after), None, None) => Hedge::after(after),
            (None, Some(q), floor) => {
                let hedge = Hedge::percentile(q);
                floor.map_or(hedge, |floor| hedge.floor(floor))
            }
            _ => {
                return Err(ConfigError::invalid(
                    "failover hedge",
                    self,
                    "either `after`, or `percentile` (and an optional `floor`)",
                ));
            }
        };
        Ok(self.max_ratio.map_or(hedge, |r| hedge.max_ratio(r)))
    }
}

/// A [`Failback`] policy: `"immediate"`, `"manual"`, or `{ after = "60s" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailbackConfig {
    /// [`Failback::Immediate`].
    Immediate,
    /// [`Failback::Manual`].
    Manual,
    /// [`Failback::After`] this hold-down.
    After(#[serde(with = "humantime_serde")] Duration),
}

impl From<FailbackConfig> for Failback {
    fn from(failback: FailbackConfig) -> Self {
        match failback {
            FailbackConfig::Immediate => Failback::Immediate,
            FailbackConfig::Manual => Failback::Manual,
            FailbackConfig::After(hold_down) => Failback::After(hold_down),
        }
    }
}

impl FailoverConfig {
    /// A [`Failover`] builder with these endpoints, each given the service `services` returns
    /// for its name, and these settings, for the caller to give its classifier, replay rule,
    /// hooks and options, and build.
    ///
    /// The breaker settings are given with [`FailoverBuilder::breakers`]; to add an event hook
    /// to the breakers as well, call `breakers` again with both:
    /// `.breakers(move |b| settings.configure(b).on_event(hook.clone()))`, `settings` being
    /// a clone of [`breaker`](Self::breaker).
    ///
    /// # Errors
    ///
    /// [`ConfigError::At`] under `path`: `endpoints[i]` when `services` has no service for
    /// that name; the schedule, budget or breaker section when one is invalid. The builder
    /// checks the rest when it builds.
    pub fn builder<S>(
        &self,
        path: &str,
        mut services: impl FnMut(&str) -> Option<S>,
    ) -> Result<FailoverBuilder<S>, ConfigError> {
        let mut b = Failover::builder();
        for (i, name) in self.endpoints.iter().enumerate() {
            let service = services(name).ok_or_else(|| ConfigError::At {
                path: format!("{path}.endpoints[{i}]"),
                error: Box::new(ConfigError::invalid(
                    "failover endpoint",
                    name,
                    "a name the caller has a service for",
                )),
            })?;
            b = b.endpoint(name.clone(), service);
        }
        if let Some(breaker) = &self.breaker {
            // Checked here, so that the path names the section.
            at(path, "breaker", breaker.build())?;
            let breaker = breaker.clone();
            b = b.breakers(move |builder| breaker.configure(builder));
        }
        if let Some(n) = self.attempts_per_endpoint {
            b = b.attempts_per_endpoint(n);
        }
        if let Some(recover) = &self.recover {
            b = b.recover(at(path, "recover", recover.build())?);
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
        if let Some(failback) = self.failback {
            b = b.failback(failback.into());
        }
        if let Some(budget) = &self.budget {
            b = b.budget(at(path, "budget", budget.build())?);
        }
        if let Some(seed) = self.seed {
            b = b.seed(seed);
        }
        if let Some(hedge) = &self.hedge {
            b = b.hedge(at(path, "hedge", hedge.build())?);
        }
        Ok(b)
    }
}
