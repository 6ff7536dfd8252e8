//! The policy lab: deterministic, virtual-time simulations of outages that show what a retry,
//! budget, breaker or failover policy does to a fleet before an outage does.
//!
//! A [`Scenario`] describes a fleet of clients, its load, and regions with a capacity (requests
//! served at once, a queue, a service time), a network delay and a fault script in the chaos
//! module's vocabulary (outages, brownouts, hangs, slowdowns) plus throttling with
//! `Retry-After`. A [`PolicyConfig`] is what every client uses: a backoff schedule, a retry
//! budget, a breaker, a failover with its failback policy. [`run`] replays the scenario with
//! the policy and returns a [`RunResult`]: success rate, latency percentiles, load
//! amplification overall, per region and over time, time to fail over and back, budget
//! exhaustion, breaker transitions.
//!
//! # The library's own decisions
//!
//! Nothing here re-implements a policy: each simulated client holds the library's real state
//! (a failover's router with its breakers and budget, or a retry policy with its budget and a
//! breaker), and each call is decided by the failover's planner or the retry policy's decision,
//! given virtual instants. Overload is not scripted: a region serves `concurrency` requests at
//! once and queues the rest, so that demand above capacity raises latency, latency beyond the
//! attempt timeout makes timeouts, and timeouts make retries (the retry storm emerges).
//!
//! # Deterministic
//!
//! A run is a function of the scenario, the policy and the seed: one thread, a virtual clock,
//! an event queue ordered by time and then by scheduling order, every random draw from the
//! crate's seeded generator, no hash-map iteration, integer arithmetic for time. The same
//! inputs give the same [`RunResult`], serialized to the same bytes, on every run and machine.
//!
//! # Example
//!
//! ```
//! use steadfast::lab;
//!
//! let mut scenario = lab::shipped::scenario("regional-outage").expect("shipped");
//! scenario.clients = 5; // a small fleet
//! let policy = lab::shipped::policy_named("failover-immediate").expect("shipped");
//! let result = lab::run(&scenario, &policy, 42)?;
//! assert!(result.summary.success_rate > 0.99);
//! # Ok::<(), lab::LabError>(())
//! ```

pub mod contention;
mod drive;
mod model;
pub mod report;
mod results;
pub mod shipped;
mod sim;

pub use self::model::{
    Load, PolicyConfig, Region, RoutingAction, RoutingChange, Scenario, Throttle, limits,
};
pub use self::results::{Count, RegionLoad, RunResult, Series, Summary};
pub use self::sim::{LabError, MAX_EVENTS, run, run_with_progress};

/// Reads a scenario from JSON.
///
/// # Errors
///
/// [`LabError::File`] naming where the JSON does not fit; [`LabError::Config`] for a setting
/// out of range.
pub fn scenario_from_json(json: &str) -> Result<Scenario, LabError> {
    checked_scenario(from_json(json)?)
}

/// Reads a scenario from TOML: the same fields as in JSON, durations as `"2m"`.
///
/// ```
/// let scenario = steadfast::lab::scenario_from_toml(r#"
/// name = "small"
/// description = "a fleet of three, one region"
/// clients = 3
/// duration = "10s"
/// load = { closed = { think = "1s" } }
/// attempt_timeout = "1s"
/// [[regions]]
/// name = "primary"
/// concurrency = 10
/// service_min = "20ms"
/// service_max = "60ms"
/// network = "5ms"
/// "#)?;
/// assert_eq!((scenario.clients, scenario.regions.len()), (3, 1));
/// # Ok::<(), steadfast::lab::LabError>(())
/// ```
///
/// # Errors
///
/// [`LabError::File`] naming where the TOML does not fit; [`LabError::Config`] for a setting
/// out of range.
pub fn scenario_from_toml(toml: &str) -> Result<Scenario, LabError> {
    checked_scenario(from_toml(toml)?)
}

fn checked_scenario(scenario: Scenario) -> Result<Scenario, LabError> {
    scenario.validate()?;
    Ok(scenario)
}

/// One policy, or several: how a file of policies is read.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<PolicyConfig>),
    One(Box<PolicyConfig>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<PolicyConfig> {
        match self {
            OneOrMany::Many(p) => p,
            OneOrMany::One(p) => vec![*p],
        }
    }
}

/// Reads a list of policies from JSON (an array, or one policy).
///
/// # Errors
///
/// [`LabError::File`] naming where the JSON does not fit; [`LabError::Config`] for a setting
/// out of range.
pub fn policies_from_json(json: &str) -> Result<Vec<PolicyConfig>, LabError> {
    checked_policies(from_json::<OneOrMany>(json)?.into_vec())
}

/// Reads a list of policies from TOML: an array of tables `[[policies]]`, or one policy (TOML
/// has no array at the top of a document).
///
/// # Errors
///
/// [`LabError::File`] naming where the TOML does not fit; [`LabError::Config`] for a setting
/// out of range.
pub fn policies_from_toml(toml: &str) -> Result<Vec<PolicyConfig>, LabError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Document {
        Listed { policies: Vec<PolicyConfig> },
        One(Box<PolicyConfig>),
    }
    checked_policies(match from_toml::<Document>(toml)? {
        Document::Listed { policies } => policies,
        Document::One(p) => vec![*p],
    })
}

fn checked_policies(policies: Vec<PolicyConfig>) -> Result<Vec<PolicyConfig>, LabError> {
    for p in &policies {
        p.backoff.build()?;
        if let Some(b) = &p.budget {
            b.build()?;
        }
        if let Some(b) = &p.breaker {
            b.build()?;
        }
    }
    Ok(policies)
}

fn from_toml<T: serde::de::DeserializeOwned>(toml: &str) -> Result<T, LabError> {
    let de = toml::de::Deserializer::parse(toml).map_err(|e| LabError::File(e.to_string()))?;
    serde_path_to_error::deserialize(de).map_err(|e| LabError::File(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, LabError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| LabError::File(e.to_string()))
}
