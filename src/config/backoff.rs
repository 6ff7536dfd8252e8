//! A schedule of delays ([`Backoff`]) and its jitter, as configured.

use std::time::Duration;

use humantime_serde::Serde as Human;
use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::backoff::{Backoff, Jitter};

/// A [`Backoff`]: one of its presets or constructors, by `kind`, with an optional `jitter`
/// (default: the schedule's own, [`Jitter::Equal`] for the presets and none for the
/// constructors).
///
/// ```toml
/// kind = "exponential"
/// base = "100ms"
/// factor = 2.0
/// cap = "5s"
/// retries = 4
/// jitter = "full"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackoffConfig {
    /// [`Backoff::standard`]: 3 retries after about 500 ms, 1 s and 2 s.
    Standard {
        /// Its jitter. Default: the schedule's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jitter: Option<JitterConfig>,
    },
    /// [`Backoff::extended`].
    Extended {
        /// Its jitter. Default: the schedule's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jitter: Option<JitterConfig>,
    },
    /// [`Backoff::none`]: no retries.
    None {},
    /// [`Backoff::constant`].
    Constant {
        /// The delay before every retry.
        #[serde(with = "humantime_serde")]
        delay: Duration,
        /// How many retries.
        retries: u32,
        /// Its jitter. Default: the schedule's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jitter: Option<JitterConfig>,
    },
    /// [`Backoff::exponential`].
    Exponential {
        /// The first delay.
        #[serde(with = "humantime_serde")]
        base: Duration,
        /// The growth of each delay over the last, at least 1.
        factor: f64,
        /// The longest delay.
        #[serde(with = "humantime_serde")]
        cap: Duration,
        /// How many retries.
        retries: u32,
        /// Its jitter. Default: the schedule's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jitter: Option<JitterConfig>,
    },
    /// [`Backoff::list`]: these delays, one retry each.
    List {
        /// The delays.
        delays: Vec<Human<Duration>>,
        /// Its jitter. Default: the schedule's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jitter: Option<JitterConfig>,
    },
}

/// A [`Jitter`]: `"none"`, `"full"`, `"equal"` or `"decorrelated"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JitterConfig {
    /// [`Jitter::None`].
    None,
    /// [`Jitter::Full`].
    Full,
    /// [`Jitter::Equal`].
    Equal,
    /// [`Jitter::Decorrelated`].
    Decorrelated,
}

impl From<JitterConfig> for Jitter {
    fn from(jitter: JitterConfig) -> Self {
        match jitter {
            JitterConfig::None => Jitter::None,
            JitterConfig::Full => Jitter::Full,
            JitterConfig::Equal => Jitter::Equal,
            JitterConfig::Decorrelated => Jitter::Decorrelated,
        }
    }
}

impl BackoffConfig {
    /// The schedule.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] as [`Backoff::exponential`] and [`Backoff::list`] give it.
    pub fn build(&self) -> Result<Backoff, ConfigError> {
        let (backoff, jitter) = match self {
            BackoffConfig::Standard { jitter } => (Backoff::standard(), jitter),
            BackoffConfig::Extended { jitter } => (Backoff::extended(), jitter),
            BackoffConfig::None {} => (Backoff::none(), &None),
            BackoffConfig::Constant {
                delay,
                retries,
                jitter,
            } => (Backoff::constant(*delay, *retries), jitter),
            BackoffConfig::Exponential {
                base,
                factor,
                cap,
                retries,
                jitter,
            } => (
                Backoff::exponential(*base, *factor, *cap, *retries)?,
                jitter,
            ),
            BackoffConfig::List { delays, jitter } => {
                (Backoff::list(delays.iter().map(|d| **d))?, jitter)
            }
        };
        Ok(match jitter {
            Some(jitter) => backoff.with_jitter((*jitter).into()),
            None => backoff,
        })
    }
}
