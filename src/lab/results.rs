//! What a run measured: a [`Summary`] of the whole run and a [`Series`] over time, plain data
//! that serializes to the same bytes for the same run on every machine.

use serde::{Deserialize, Serialize};

/// The result of one policy under one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The scenario's name.
    pub scenario: String,
    /// The policy's name.
    pub policy: String,
    /// The run's seed.
    pub seed: u64,
    /// The whole run.
    pub summary: Summary,
    /// The run over time.
    pub series: Series,
}

/// The whole run, as callers and regions saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Requests the clients made.
    pub requests: u64,
    /// Requests that succeeded.
    pub succeeded: u64,
    /// `succeeded / requests`.
    pub success_rate: f64,
    /// Latency seen by callers (success or failure), in milliseconds: median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Attempts sent to any region.
    pub attempts: u64,
    /// Attempts per request: the load amplification.
    pub amplification: f64,
    /// Attempts each region received, in the scenario's order.
    pub attempts_per_region: Vec<RegionLoad>,
    /// Requests that failed, by why: `final` for a failure the policy does not retry (or a
    /// breaker's rejection), else the reason the policy gave up.
    pub failures: Vec<Count>,
    /// Requests that gave up because the budget was empty.
    pub budget_exhausted: u64,
    /// Breaker transitions, by the state entered.
    pub breaker_transitions: Vec<Count>,
    /// Median time from the primary's first fault window's start to a client's failover, over
    /// the clients that failed over (ms); `None` if none did or there is no such window.
    pub time_to_failover_ms: Option<f64>,
    /// The longest of those times (ms).
    pub time_to_failover_max_ms: Option<f64>,
    /// Clients that failed over after the incident started.
    pub clients_failed_over: u64,
    /// Median time from the end of the primary's first fault window to a client's failback
    /// (ms); `None` if none failed back.
    pub time_to_failback_ms: Option<f64>,
    /// The longest of those times (ms).
    pub time_to_failback_max_ms: Option<f64>,
    /// Clients that failed back after the incident ended.
    pub clients_failed_back: u64,
    /// Requests that failed between the incident's start and their client's failover (or the
    /// incident's end, for a client that did not fail over).
    pub lost_during_switch: u64,
    /// Events the simulator processed.
    pub events: u64,
}

/// A region's share of the load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionLoad {
    /// The region.
    pub region: String,
    /// Attempts it received.
    pub attempts: u64,
}

/// A named count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// What is counted.
    pub what: String,
    /// How many.
    pub count: u64,
}

/// The run over time, one point per bucket of the scenario's width (by when requests started,
/// for rates; by when attempts were sent, for load).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The width of a bucket, in milliseconds.
    pub bucket_ms: u64,
    /// Requests started in each bucket.
    pub requests: Vec<u64>,
    /// The share of those that succeeded (1 for a bucket without requests).
    pub success_rate: Vec<f64>,
    /// Attempts sent in each bucket per request started in it.
    pub amplification: Vec<f64>,
    /// Attempts sent in each bucket, per region (outer: regions in the scenario's order).
    pub attempts_per_region: Vec<Vec<u64>>,
    /// The median latency of the requests started in each bucket (ms).
    pub p50_ms: Vec<f64>,
    /// Their 99th percentile (ms).
    pub p99_ms: Vec<f64>,
    /// Breakers that opened in each bucket, every client's together (a failover's breakers:
    /// one per region and client).
    #[serde(default)]
    pub breakers_opened: Vec<u64>,
    /// Breakers that closed again in each bucket, every client's together.
    #[serde(default)]
    pub breakers_closed: Vec<u64>,
    /// Requests that gave up in each bucket (by when they gave up) because the retry budget
    /// could not pay for another attempt.
    #[serde(default)]
    pub budget_exhausted: Vec<u64>,
    /// The windows of the primary's faults (ms from the start): the incident, to shade.
    pub incidents: Vec<(u64, u64)>,
}

/// The value at quantile `per_mille`/1000 of `sorted` (nearest rank), in milliseconds from
/// microseconds; 0 when empty.
pub(crate) fn quantile_ms(sorted: &[u32], per_mille: u64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let n = sorted.len() as u64;
    let rank = (n * per_mille).div_ceil(1000).max(1);
    f64::from(sorted[(rank - 1) as usize]) / 1000.0
}

/// `a / b`, or `empty` when `b` is zero.
pub(crate) fn ratio(a: u64, b: u64, empty: f64) -> f64 {
    if b == 0 { empty } else { a as f64 / b as f64 }
}

/// The median of `values` (the lower middle), if any; `values` is left sorted.
pub(crate) fn median(values: &mut [u64]) -> Option<u64> {
    values.sort_unstable();
    (!values.is_empty()).then(|| values[(values.len() - 1) / 2])
}
