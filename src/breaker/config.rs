//! The breaker's configuration: every value with its default, the modes borrowed from the peer
//! breakers, and the rules a configuration must satisfy.

use std::time::Duration;

use super::state::{BreakerState, TransitionReason};
use super::threshold::Threshold;
use super::window::SlidingWindow;
use crate::error::ConfigError;

/// When the closed state's trip rules are evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TripCheck {
    /// After every counted outcome (the default, as resilience4j and failsafe do): a success
    /// that brings the window to its minimum number of calls can trip it, when the failures
    /// already in it reach the rate.
    #[default]
    EveryOutcome,
    /// Only when a failure is recorded (as Polly does): a success never trips the breaker, nor
    /// does a slow success (the slow-call rate is evaluated with the failure rate, on failures).
    OnFailure,
}

/// How a half-open breaker decides between closing and opening again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HalfOpenDecision {
    /// Up to [`probes`](super::CircuitBreakerBuilder::probes) probes at once; closes after
    /// [`required_successes`](super::CircuitBreakerBuilder::required_successes) successes, opens
    /// again after [`probe_failures`](super::CircuitBreakerBuilder::probe_failures) failed or
    /// slow probes (the default: 3 at once, 3 successes, 1 failure; failsafe's success and
    /// failure thresholds with those two setters).
    #[default]
    Counts,
    /// resilience4j's: admit [`probes`](super::CircuitBreakerBuilder::probes) probes in all,
    /// wait until every one is in, then open again if the failure rate or the slow-call rate
    /// among them reaches its threshold (the closed state's thresholds), and close otherwise. A
    /// probe whose outcome is ignored, or whose permit is dropped, gives its place back.
    Rates,
}

/// What a half-open breaker may wait for its probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HalfOpenWait {
    /// The base open duration (no limit when it is zero).
    OpenDuration,
    After(Duration),
    Unlimited,
}

/// What the open duration of a trip is computed from, for
/// [`open_duration_with`](super::CircuitBreakerBuilder::open_duration_with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakInfo {
    /// The consecutive trips without closing, this one included (from 1).
    pub trips: u32,
    /// Why the breaker opens.
    pub reason: TransitionReason,
    /// The calls in the closed state's window at that moment (the window is kept while open
    /// and half-open: reopening from half-open sees the one that tripped it).
    pub calls: u32,
    /// The failures among them.
    pub failures: u32,
}

/// The configuration of a [`CircuitBreaker`](super::CircuitBreaker); see its builder for each
/// value and default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    /// `None`: the failure-rate rule is off.
    pub(crate) failure_rate: Option<f64>,
    pub(crate) window: SlidingWindow,
    pub(crate) minimum_calls: u32,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) trip_check: TripCheck,
    pub(crate) open_duration: Duration,
    pub(crate) open_growth: f64,
    /// The growth's maximum; `None` (no growth configured): the open duration.
    pub(crate) max_open_duration: Option<Duration>,
    pub(crate) probes: u32,
    pub(crate) required_successes: u32,
    pub(crate) probe_failures: u32,
    pub(crate) half_open_decision: HalfOpenDecision,
    pub(crate) half_open_max_wait: HalfOpenWait,
    /// Where the half-open maximum wait ends: Open or Closed.
    pub(crate) after_half_open_max_wait: BreakerState,
    pub(crate) probe_renewal: Option<Duration>,
    pub(crate) rejected_counts_as_success: bool,
    pub(crate) slow_call_duration: Option<Duration>,
    pub(crate) slow_call_rate: f64,
}

pub(crate) const DEFAULT: Settings = Settings {
    failure_rate: Some(0.5),
    window: SlidingWindow::Calls(100),
    minimum_calls: 20,
    consecutive_failures: Some(5),
    trip_check: TripCheck::EveryOutcome,
    open_duration: Duration::from_secs(30),
    open_growth: 1.0,
    max_open_duration: None,
    probes: 3,
    required_successes: 3,
    probe_failures: 1,
    half_open_decision: HalfOpenDecision::Counts,
    half_open_max_wait: HalfOpenWait::OpenDuration,
    after_half_open_max_wait: BreakerState::Open,
    probe_renewal: None,
    rejected_counts_as_success: false,
    slow_call_duration: None,
    slow_call_rate: 1.0,
};

/// The most probes a half-open breaker may admit at once (and the most failed probes
/// [`probe_failures`](super::CircuitBreakerBuilder::probe_failures) may ask for).
pub const MAX_PROBES: u32 = u16::MAX as u32;

const RATE_RULE: &str = "a share in (0, 1] of at least one basis point (0.0001)";

impl Settings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let c = self;
        if let Some(rate) = c.failure_rate {
            if Threshold::from_share(rate).is_none() {
                return Err(ConfigError::invalid(
                    "breaker failure rate",
                    rate,
                    RATE_RULE,
                ));
            }
        }
        c.window.validate()?;
        if c.minimum_calls == 0 || c.minimum_calls > c.window.capacity() {
            return Err(ConfigError::invalid(
                "breaker minimum calls",
                c.minimum_calls,
                "between 1 and the window size",
            ));
        }
        if c.consecutive_failures == Some(0) {
            return Err(ConfigError::invalid(
                "breaker consecutive failures",
                0,
                "at least 1 (or none, to turn the rule off)",
            ));
        }
        if !(c.open_growth.is_finite() && c.open_growth >= 1.0) {
            return Err(ConfigError::invalid(
                "breaker open duration growth",
                c.open_growth,
                "a finite number of at least 1",
            ));
        }
        ConfigError::check_duration("breaker open duration", c.open_duration)?;
        if let Some(max) = c.max_open_duration {
            if max < c.open_duration {
                return Err(ConfigError::invalid(
                    "breaker maximum open duration",
                    max,
                    "at least the open duration",
                ));
            }
            ConfigError::check_duration("breaker maximum open duration", max)?;
        }
        if c.required_successes == 0 || c.required_successes > c.probes || c.probes > MAX_PROBES {
            return Err(ConfigError::invalid(
                "breaker probes and required successes",
                (c.probes, c.required_successes),
                "probes >= required successes >= 1, probes at most 65535",
            ));
        }
        if c.probe_failures == 0 || c.probe_failures > MAX_PROBES {
            return Err(ConfigError::invalid(
                "breaker probe failures",
                c.probe_failures,
                "between 1 and 65535",
            ));
        }
        if let HalfOpenWait::After(wait) = c.half_open_max_wait {
            ConfigError::check_limit("breaker half-open maximum wait", Some(wait))?;
        }
        if !matches!(
            c.after_half_open_max_wait,
            BreakerState::Open | BreakerState::Closed
        ) {
            return Err(ConfigError::invalid(
                "breaker state after the half-open maximum wait",
                c.after_half_open_max_wait,
                "open or closed",
            ));
        }
        ConfigError::check_limit("breaker probe renewal", c.probe_renewal)?;
        ConfigError::check_limit("breaker slow-call duration", c.slow_call_duration)?;
        if Threshold::from_share(c.slow_call_rate).is_none() {
            return Err(ConfigError::invalid(
                "breaker slow-call rate",
                c.slow_call_rate,
                RATE_RULE,
            ));
        }
        Ok(())
    }

    /// The failure-rate threshold, if the rule is on.
    pub(crate) fn failure_threshold(&self) -> Option<Threshold> {
        self.failure_rate.and_then(Threshold::from_share)
    }

    /// The slow-call-rate threshold, if slow-call tracking is on.
    pub(crate) fn slow_threshold(&self) -> Option<Threshold> {
        self.slow_call_duration
            .and_then(|_| Threshold::from_share(self.slow_call_rate))
    }

    /// The longest a half-open breaker waits for its probes, if it is limited.
    pub(crate) fn half_open_max_wait(&self) -> Option<Duration> {
        match self.half_open_max_wait {
            HalfOpenWait::OpenDuration => {
                (!self.open_duration.is_zero()).then_some(self.open_duration)
            }
            HalfOpenWait::After(wait) => Some(wait),
            HalfOpenWait::Unlimited => None,
        }
    }

    /// How long the breaker stays open after its `trips`-th consecutive trip (from 1).
    pub(crate) fn open_duration(&self, trips: u32) -> Duration {
        let base = self.open_duration.as_secs_f64();
        let grown = base
            * self
                .open_growth
                .powi(trips.saturating_sub(1).min(1 << 16) as i32);
        let max = self.max_open_duration.unwrap_or(self.open_duration);
        if grown.is_finite() && grown < max.as_secs_f64() {
            Duration::try_from_secs_f64(grown).unwrap_or(max)
        } else {
            max
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_duration_grows_to_its_cap() {
        let c = Settings {
            open_duration: Duration::from_secs(30),
            open_growth: 2.0,
            max_open_duration: Some(Duration::from_secs(300)),
            ..DEFAULT
        };
        let secs: Vec<_> = (1..=6).map(|k| c.open_duration(k).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 300, 300]);
        assert_eq!(c.open_duration(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn the_default_maximum_wait_follows_the_open_duration() {
        assert_eq!(DEFAULT.half_open_max_wait(), Some(Duration::from_secs(30)));
        let zero = Settings {
            open_duration: Duration::ZERO,
            ..DEFAULT
        };
        assert_eq!(
            zero.half_open_max_wait(),
            None,
            "probe at once, wait for them"
        );
        let off = Settings {
            half_open_max_wait: HalfOpenWait::Unlimited,
            ..DEFAULT
        };
        assert_eq!(off.half_open_max_wait(), None);
    }
}
