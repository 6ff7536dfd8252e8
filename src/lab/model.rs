//! What the lab simulates: a [`Scenario`] (the fleet, its load, the regions and their faults)
//! and a [`PolicyConfig`] (the retry, budget, breaker and failover settings every client uses),
//! both readable from JSON.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{BackoffConfig, BreakerConfig, BudgetConfig, FailbackConfig, ScriptConfig};
use crate::error::ConfigError;

/// An incident to replay: a fleet of clients calling regions, some of which misbehave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name, as the command line selects it.
    pub name: String,
    /// One sentence on what happens.
    #[serde(default)]
    pub description: String,
    /// How long clients send requests (calls in flight at the end finish afterwards).
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// How many clients, each with its own policy state (breakers, budget, routing), as
    /// separate processes have.
    pub clients: u32,
    /// How each client sends requests.
    pub load: Load,
    /// How long a client waits for one attempt's response before it counts as a timeout.
    #[serde(with = "humantime_serde")]
    pub attempt_timeout: Duration,
    /// The regions, in the failover's priority order: the first is the primary (and the only
    /// one a policy without failover calls).
    pub regions: Vec<Region>,
    /// An operator's routing changes, applied to every client's failover at their instant
    /// (policies without failover ignore them). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routing: Vec<RoutingChange>,
    /// The width of one point of the time series.
    #[serde(with = "humantime_serde", default = "default_bucket")]
    pub bucket: Duration,
}

fn default_bucket() -> Duration {
    Duration::from_secs(10)
}

/// How a client sends requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Load {
    /// Open loop: requests arrive at this mean rate per second per client, whatever happens to
    /// earlier ones (gaps drawn uniformly between zero and twice the mean gap).
    Open {
        /// Requests per second per client, above zero.
        rate: f64,
    },
    /// Closed loop: a client sends its next request this long (drawn uniformly between zero
    /// and twice this) after the last one ended.
    Closed {
        /// The mean think time.
        #[serde(with = "humantime_serde")]
        think: Duration,
    },
}

/// A region: a server pool with a concurrency, a queue and a service time, behind a network
/// delay, with a fault script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Its name.
    pub name: String,
    /// Requests served at once; the rest wait in the queue, first come first served.
    pub concurrency: u32,
    /// The most requests waiting; one more is refused at once (a failure). Default: unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_limit: Option<u32>,
    /// The shortest service time.
    #[serde(with = "humantime_serde")]
    pub service_min: Duration,
    /// The longest (service times are uniform between the two).
    #[serde(with = "humantime_serde")]
    pub service_max: Duration,
    /// The one-way network delay between a client and the region.
    #[serde(with = "humantime_serde")]
    pub network: Duration,
    /// The faults, in the chaos module's vocabulary (outage, brownout, hangs, slowdown, base
    /// rates), relative to the start of the run. Its seed is mixed with the run's.
    ///
    /// A call the script fails is answered after the script's delay without taking a server;
    /// a call it hangs takes no server and is never answered (its client times out); a call it
    /// slows is served for its service time plus the delay. A throttled call is answered at
    /// once. A call whose client timed out is still served when its turn comes: a server does
    /// not know the client gave up, which is what makes a queue beyond the timeout collapse.
    #[serde(default)]
    pub faults: ScriptConfig,
    /// Throttling windows: refused calls carry a `Retry-After` hint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttling: Vec<Throttle>,
}

/// A window during which a region refuses a share of calls with a `Retry-After` hint, without
/// serving them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Its start.
    #[serde(with = "humantime_serde")]
    pub from: Duration,
    /// Its end.
    #[serde(with = "humantime_serde")]
    pub to: Duration,
    /// The share of calls refused, in [0, 1].
    pub rate: f64,
    /// The hint they carry.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
}

/// An operator's routing change at an instant of the run, made through the failover's own
/// routing control (so a change that would switch off the last endpoint on is refused, as
/// there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingChange {
    /// When, from the start of the run.
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// What.
    pub action: RoutingAction,
}

/// What an operator does to the routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RoutingAction {
    /// Switches the region off: calls skip it.
    SwitchOff(String),
    /// Switches the region on again.
    SwitchOn(String),
    /// Ends every failback hold-down (the only way back under `Failback::Manual`).
    FailBack,
}

/// The policy every client of a run uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Its name in tables and charts.
    pub name: String,
    /// The retry schedule (with failover: the recover passes' schedule).
    pub backoff: BackoffConfig,
    /// The retry budget. Default: the standard bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetConfig>,
    /// A breaker (per region with failover; required there, default settings if absent).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerConfig>,
    /// Failover over every region in order, with this failback policy. Default: none (the
    /// primary only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailbackConfig>,
}

/// The lab's limits on a scenario, so that a run is bounded.
pub mod limits {
    /// The most clients.
    pub const MAX_CLIENTS: u32 = 100_000;
    /// The most regions (a failover's limit).
    pub const MAX_REGIONS: usize = 32;
    /// The longest run: a day.
    pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(86_400);
    /// The most series points.
    pub const MAX_BUCKETS: u64 = 100_000;
}

impl Scenario {
    /// Checks the scenario against the lab's limits and each setting's range.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ms = Duration::from_millis(1);
        if self.clients == 0 || self.clients > limits::MAX_CLIENTS {
            return Err(ConfigError::invalid(
                "lab clients",
                self.clients,
                "1 to 100000",
            ));
        }
        if self.regions.is_empty() || self.regions.len() > limits::MAX_REGIONS {
            return Err(ConfigError::invalid(
                "lab regions",
                self.regions.len(),
                "1 to 32 regions",
            ));
        }
        if self.duration.is_zero() || self.duration > limits::MAX_DURATION {
            return Err(ConfigError::invalid(
                "lab duration",
                self.duration,
                "above zero, at most a day",
            ));
        }
        if self.bucket < ms
            || self.duration.as_nanos() / self.bucket.as_nanos() > u128::from(limits::MAX_BUCKETS)
        {
            return Err(ConfigError::invalid(
                "lab bucket",
                self.bucket,
                "at least 1 ms, and at most 100000 buckets in the run",
            ));
        }
        if self.attempt_timeout < ms || self.attempt_timeout > limits::MAX_DURATION {
            return Err(ConfigError::invalid(
                "lab attempt timeout",
                self.attempt_timeout,
                "1 ms to a day",
            ));
        }
        match self.load {
            Load::Open { rate } if !(rate.is_finite() && (0.001..=10_000.0).contains(&rate)) => {
                return Err(ConfigError::invalid(
                    "lab open-loop rate",
                    rate,
                    "0.001 to 10000 requests per second",
                ));
            }
            Load::Closed { think } if think > limits::MAX_DURATION => {
                return Err(ConfigError::invalid(
                    "lab think time",
                    think,
                    "at most a day",
                ));
            }
            _ => {}
        }
        for change in &self.routing {
            if change.at > limits::MAX_DURATION {
                return Err(ConfigError::invalid(
                    "lab routing change",
                    change.at,
                    "at most a day after the start",
                ));
            }
            if let RoutingAction::SwitchOff(name) | RoutingAction::SwitchOn(name) = &change.action {
                if !self.regions.iter().any(|r| &r.name == name) {
                    return Err(ConfigError::invalid(
                        "lab routing change",
                        name,
                        "the name of a region of the scenario",
                    ));
                }
            }
        }
        for region in &self.regions {
            if region.concurrency == 0 {
                return Err(ConfigError::invalid(
                    "lab region concurrency",
                    region.concurrency,
                    "at least 1",
                ));
            }
            if region.service_min > region.service_max
                || region.service_max > limits::MAX_DURATION
                || region.network > limits::MAX_DURATION
            {
                return Err(ConfigError::invalid(
                    "lab region service time",
                    region.service_min..region.service_max,
                    "a range whose minimum is at most its maximum, at most a day",
                ));
            }
            region.faults.build()?;
            for t in &region.throttling {
                if !(0.0..=1.0).contains(&t.rate) || t.from > t.to {
                    return Err(ConfigError::invalid(
                        "lab throttling window",
                        t.rate,
                        "a rate in [0, 1] over a window whose start is before its end",
                    ));
                }
                ConfigError::check_duration("lab retry-after", t.retry_after)?;
            }
        }
        Ok(())
    }
}
