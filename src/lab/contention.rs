//! The contention experiment: `n` clients each write once to one resource under optimistic
//! concurrency, all starting together. An attempt reads the version, and its conditional write
//! lands `write_after` later; it fails when another client's write landed in between, and the
//! client retries after its backoff's delay (the real retry decision). The question is how
//! many calls the fleet makes, and when the last write lands, per jitter strategy.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::drive::{Clock, conflict_delay, cursor, retry_policy};
use super::sim::LabError;
use crate::backoff::Backoff;
use crate::config::JitterConfig;
use crate::rng::{SplitMix64, mix};

/// The outcome for one jitter strategy and fleet size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentionResult {
    /// The jitter strategy.
    pub jitter: JitterConfig,
    /// Clients.
    pub clients: u32,
    /// Attempts the fleet made.
    pub calls: u64,
    /// When the last write landed (ms), or the last client gave up.
    pub completion_ms: f64,
    /// Clients whose schedule ran out before their write landed.
    pub gave_up: u32,
}

/// The experiment's schedule: 5 ms doubling to a 2 s cap, 100 retries, with `jitter`.
pub fn backoff(jitter: JitterConfig) -> Backoff {
    Backoff::exponential(Duration::from_millis(5), 2.0, Duration::from_secs(2), 100)
        .expect("a valid schedule")
        .with_jitter(jitter.into())
}

/// Runs the experiment for `clients` clients, writes landing 10 ms after their read.
///
/// # Errors
///
/// [`LabError::Config`] for more than 100,000 clients.
pub fn run(clients: u32, jitter: JitterConfig, seed: u64) -> Result<ContentionResult, LabError> {
    if clients > super::model::limits::MAX_CLIENTS {
        return Err(crate::error::ConfigError::invalid(
            "lab contention clients",
            clients,
            "at most 100000",
        )
        .into());
    }
    let write_after = 10_000_000u64;
    let policy = retry_policy(backoff(jitter));
    let clock = Clock::new(Instant::now());
    let mut rng = SplitMix64::new(seed);
    let mut cursors: Vec<_> = (0..clients)
        .map(|c| cursor(&policy, mix(rng.next_u64() ^ u64::from(c))))
        .collect();
    // (write lands, client, read at)
    let mut heap: BinaryHeap<Reverse<(u64, u32, u64)>> =
        (0..clients).map(|c| Reverse((write_after, c, 0))).collect();
    let (mut calls, mut last_write, mut end, mut gave_up) = (0u64, None::<u64>, 0u64, 0u32);
    while let Some(Reverse((at, c, read))) = heap.pop() {
        calls += 1;
        end = end.max(at);
        if last_write.is_some_and(|w| w > read) {
            match conflict_delay(&policy, &mut cursors[c as usize], clock, at) {
                Some(delay) => {
                    let next = at.saturating_add(delay);
                    heap.push(Reverse((next.saturating_add(write_after), c, next)));
                }
                None => gave_up += 1,
            }
        } else {
            last_write = Some(at);
        }
    }
    Ok(ContentionResult {
        jitter,
        clients,
        calls,
        completion_ms: end as f64 / 1e6,
        gave_up,
    })
}
