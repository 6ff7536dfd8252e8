//! A chaos script ([`Script`]), as configured.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::at;
use crate::ConfigError;
use crate::chaos::{Latency, Script};

/// A chaos [`Script`]: base rates and latency, and windows in the order they apply.
///
/// ```toml
/// seed = 42
/// error_rate = 0.01
/// latency = { min = "5ms", max = "20ms", tail = { share = 0.01, min = "1s", max = "2s" } }
/// windows = [
///     { kind = "outage", from = "1m", to = "2m" },
///     { kind = "brownout", from = "3m", to = "4m", rate = 0.5 },
/// ]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    /// The seed of the draws. Default: drawn from the process's entropy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The share of calls that fail, in [0, 1]. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// The share of calls that hang, in [0, 1]. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_rate: Option<f64>,
    /// The latency added to every call outside slowdowns. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyConfig>,
    /// The windows, as offsets from the script's start. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowConfig>,
}

/// A [`Latency`]: uniform between `min` and `max`, with an optional tail.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// The least latency added.
    #[serde(with = "humantime_serde")]
    pub min: Duration,
    /// The most (outside the tail).
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// A share of calls slowed much more. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<TailConfig>,
}

/// The tail of a [`LatencyConfig`]: `share` of the calls slowed by `min` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    /// The share of calls, in [0, 1].
    pub share: f64,
    /// The least latency of the tail.
    #[serde(with = "humantime_serde")]
    pub min: Duration,
    /// The most.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

impl From<LatencyConfig> for Latency {
    fn from(l: LatencyConfig) -> Self {
        let latency = Latency::uniform(l.min, l.max);
        match l.tail {
            Some(tail) => latency.with_tail(tail.share, tail.min, tail.max),
            None => latency,
        }
    }
}

/// A window of a script, from `from` to `to` after its start, by `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowConfig {
    /// Every call fails.
    Outage {
        /// Its start.
        #[serde(with = "humantime_serde")]
        from: Duration,
        /// Its end.
        #[serde(with = "humantime_serde")]
        to: Duration,
    },
    /// Every call hangs until dropped.
    Hangs {
        /// Its start.
        #[serde(with = "humantime_serde")]
        from: Duration,
        /// Its end.
        #[serde(with = "humantime_serde")]
        to: Duration,
    },
    /// Calls fail at `rate`.
    Brownout {
        /// Its start.
        #[serde(with = "humantime_serde")]
        from: Duration,
        /// Its end.
        #[serde(with = "humantime_serde")]
        to: Duration,
        /// The share of calls that fail, in [0, 1].
        rate: f64,
    },
    /// Calls are slowed by `latency`.
    Slowdown {
        /// Its start.
        #[serde(with = "humantime_serde")]
        from: Duration,
        /// Its end.
        #[serde(with = "humantime_serde")]
        to: Duration,
        /// The latency added.
        latency: LatencyConfig,
    },
}

impl ScriptConfig {
    /// The script.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] as [`ScriptBuilder::build`](crate::chaos::ScriptBuilder::build) gives
    /// it.
    pub fn build(&self) -> Result<Script, ConfigError> {
        let mut b = Script::builder();
        if let Some(seed) = self.seed {
            b = b.seed(seed);
        }
        if let Some(rate) = self.error_rate {
            b = b.error_rate(rate);
        }
        if let Some(rate) = self.hang_rate {
            b = b.hang_rate(rate);
        }
        if let Some(latency) = self.latency {
            b = b.latency(latency.into());
        }
        for window in &self.windows {
            b = match *window {
                WindowConfig::Outage { from, to } => b.outage(from..to),
                WindowConfig::Hangs { from, to } => b.hangs(from..to),
                WindowConfig::Brownout { from, to, rate } => b.brownout(from..to, rate),
                WindowConfig::Slowdown { from, to, latency } => {
                    b.slowdown(from..to, latency.into())
                }
            };
        }
        b.build()
    }

    /// Checks the script as [`build`](Self::build) does, placing an error under `path`: at the
    /// window it is in (`chaos.windows[2].rate`), or at the setting.
    pub(super) fn check(&self, path: &str) -> Result<(), ConfigError> {
        for (i, window) in self.windows.iter().enumerate() {
            let alone = ScriptConfig {
                windows: vec![*window],
                ..ScriptConfig::default()
            };
            at(path, &format!("windows[{i}]"), alone.build())?;
        }
        at(path, "", self.build()).map(drop)
    }
}
