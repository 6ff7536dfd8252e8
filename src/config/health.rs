//! Health checks' schedule and thresholds ([`HealthChecks`]), as configured.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::health::{HealthCheck, HealthChecks, check_fn};

/// [`HealthChecks`]' settings; a missing one keeps the default.
///
/// ```toml
/// interval = "10s"
/// timeout = "2s"
/// unhealthy_after = 3
/// healthy_after = 3
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// How often each endpoint is checked. Default 10 s.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// How long one check may take. Default 2 s.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Consecutive failed checks that make an endpoint unhealthy. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_after: Option<u32>,
    /// Consecutive passed checks that make it healthy again. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_after: Option<u32>,
}

impl HealthConfig {
    /// `checks` with these settings (its build checks them).
    pub fn configure<C, H>(&self, mut checks: HealthChecks<C, H>) -> HealthChecks<C, H> {
        if let Some(d) = self.interval {
            checks = checks.interval(d);
        }
        if let Some(d) = self.timeout {
            checks = checks.timeout(d);
        }
        if let Some(n) = self.unhealthy_after {
            checks = checks.unhealthy_after(n);
        }
        if let Some(n) = self.healthy_after {
            checks = checks.healthy_after(n);
        }
        checks
    }

    /// Checks the settings as [`HealthChecks::build`] does, without a check to run.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] as [`HealthChecks::build`] gives it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = check_fn(|_: &str| std::future::ready(Ok::<(), &str>(())));
        fn build<C: HealthCheck>(checks: HealthChecks<C>) -> Result<(), ConfigError> {
            checks.build().map(drop)
        }
        build(self.configure(HealthChecks::endpoints(["config"], check)))
    }
}
