//! Policies from configuration files (feature `serde`): every builder's settings as plain
//! serde types, durations as human strings (`"500ms"`, `"2s"`, `"1m 30s"`), validated into the
//! same [`ConfigError`] as the builders, with the path of the bad setting in the message.
//!
//! One [`ClientConfig`] describes a client's whole stack: a retry policy, a failover over named
//! endpoints (the caller supplies each endpoint's service by name), its breakers, health checks
//! and chaos script. Any serde format reads it; [`ClientConfig::from_deserializer`] keeps the
//! path of a malformed value, and [`ClientConfig::validate`] builds every part once, so a bad
//! file is refused when it is read, not when the first call is made.
//!
//! A missing setting keeps the builder's default (each field's docs say which); an unknown
//! field is an error, so a typo never silently keeps a default.
//!
//! # Examples
//!
//! ```
//! use steadfast::config::ClientConfig;
//! use tower::service_fn;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let json = r#"{
//!     "failover": {
//!         "endpoints": ["us-east-2", "us-west-1"],
//!         "attempt_timeout": "2s",
//!         "deadline": "10s",
//!         "failback": { "after": "1m" },
//!         "recover": { "kind": "exponential", "base": "200ms", "factor": 2.0, "cap": "2s", "retries": 3 },
//!         "breaker": { "consecutive_failures": 3, "open_duration": "10s" }
//!     },
//!     "health": { "interval": "5s", "unhealthy_after": 2 }
//! }"#;
//! let config = ClientConfig::from_deserializer(&mut serde_json::Deserializer::from_str(json))?;
//! config.validate()?;
//! let region = |name: &str| {
//!     let name = name.to_owned();
//!     service_fn(move |path: String| {
//!         let name = name.clone();
//!         async move { Ok::<_, steadfast::BoxError>(format!("{name}{path}")) }
//!     })
//! };
//! let failover = config
//!     .failover
//!     .as_ref()
//!     .expect("a failover section")
//!     .builder("failover", |name| Some(region(name)))?
//!     .build()?;
//! # let _ = failover;
//!
//! // A bad setting names its place in the file.
//! let bad = r#"{ "failover": { "endpoints": ["a"], "breaker": { "failure_rate": 1.5 } } }"#;
//! let config = ClientConfig::from_deserializer(&mut serde_json::Deserializer::from_str(bad))?;
//! assert_eq!(
//!     config.validate().unwrap_err().to_string(),
//!     "failover.breaker.failure_rate: breaker failure rate is 1.5, expected a share in (0, 1] of at least one basis point (0.0001)"
//! );
//! # Ok(())
//! # }
//! ```

mod backoff;
mod breaker;
mod budget;
mod chaos;
mod failover;
mod fields;
mod health;
mod retry;

use serde::{Deserialize, Deserializer, Serialize};

pub use self::backoff::{BackoffConfig, JitterConfig};
pub use self::breaker::{BreakerConfig, ConsecutiveFailures, OpenGrowth};
pub use self::budget::{BucketConfig, BudgetConfig, Unlimited};
pub use self::chaos::{LatencyConfig, ScriptConfig, TailConfig, WindowConfig};
pub use self::failover::{FailbackConfig, FailoverConfig, HedgeConfig};
pub use self::health::HealthConfig;
pub use self::retry::RetryConfig;
use crate::ConfigError;

/// A client's whole stack, each part optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// A retry policy on one endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConfig>,
    /// A failover over named endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverConfig>,
    /// Health checks of the failover's endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthConfig>,
    /// A chaos script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<ScriptConfig>,
}

impl ClientConfig {
    /// Reads a configuration from any serde deserializer (`serde_json::Deserializer`,
    /// `toml::Deserializer`, …).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Malformed`] with the path of the value that does not fit: an unknown
    /// field, a value of the wrong type, a malformed duration.
    pub fn from_deserializer<'de, D>(deserializer: D) -> Result<Self, ConfigError>
    where
        D: Deserializer<'de>,
    {
        serde_path_to_error::deserialize(deserializer).map_err(|e| ConfigError::Malformed {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })
    }

    /// Builds every part once (the failover with placeholder services), so that a bad setting
    /// is refused now.
    ///
    /// # Errors
    ///
    /// [`ConfigError::At`] with the key of the first invalid setting (`retry.deadline`,
    /// `failover.breaker.failure_rate`, `chaos.windows[2].rate`, …; its section, as
    /// `failover.breaker`, for a rule that relates two settings) and the builder's error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(retry) = &self.retry {
            retry.build("retry")?;
        }
        if let Some(failover) = &self.failover {
            // Services are not needed to check the settings: `()` stands in for each.
            at(
                "failover",
                "",
                failover.builder("failover", |_| Some(()))?.build(),
            )?;
        }
        if let Some(health) = &self.health {
            at("health", "", health.validate())?;
        }
        if let Some(chaos) = &self.chaos {
            chaos.check("chaos")?;
        }
        Ok(())
    }
}

/// `result`'s error, if any, placed at `path.section` (or `path` for an empty section), and at
/// the setting's own key within it when the error names one ([`fields`]). An error already
/// placed keeps its (deeper) place.
fn at<T>(path: &str, section: &str, result: Result<T, ConfigError>) -> Result<T, ConfigError> {
    result.map_err(|error| match error {
        placed @ (ConfigError::At { .. } | ConfigError::Malformed { .. }) => placed,
        error => {
            let mut place = path.to_owned();
            for part in [Some(section), error.setting().and_then(fields::field_of)]
                .into_iter()
                .flatten()
                .filter(|part| !part.is_empty())
            {
                place.push('.');
                place.push_str(part);
            }
            ConfigError::At {
                path: place,
                error: Box::new(error),
            }
        }
    })
}
