//! The health table: each checked endpoint's verdict, and the threshold rule that turns check
//! results into it. Pure (every change takes `now`); shared behind a std `Mutex` that is never
//! held across an `.await`.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The thresholds of the health verdict: how many consecutive failures make a healthy endpoint
/// unhealthy, and how many consecutive passes make an unhealthy one healthy again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Thresholds {
    pub(crate) unhealthy_after: u32,
    pub(crate) healthy_after: u32,
}

/// One endpoint's health, as its checks have found it. See [`HealthTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointHealth {
    /// The endpoint's name.
    pub endpoint: Arc<str>,
    /// The verdict: `true` until `unhealthy_after` consecutive checks have failed, then `false`
    /// until `healthy_after` consecutive checks have passed. Endpoints start healthy.
    pub healthy: bool,
    /// When the verdict last changed, or when the checks were built if it never has (tokio's
    /// clock, as `std::time::Instant`).
    pub since: Instant,
    /// The error of the latest failed check since the endpoint last became healthy (its
    /// `Display` text; a check cut by the timeout reads `check timed out after 2s`). Cleared when
    /// the endpoint becomes healthy again; kept while it passes checks on its way back.
    pub last_error: Option<String>,
    /// Checks passed in a row, up to the latest (0 if the latest failed).
    pub consecutive_passes: u32,
    /// Checks failed in a row, up to the latest (0 if the latest passed).
    pub consecutive_failures: u32,
    /// When the latest check ended, if one has.
    pub last_check: Option<Instant>,
    /// How many checks have ended (passed, failed or timed out).
    pub checks: u64,
}

impl EndpointHealth {
    pub(crate) fn new(endpoint: Arc<str>, since: Instant) -> Self {
        EndpointHealth {
            endpoint,
            healthy: true,
            since,
            last_error: None,
            consecutive_passes: 0,
            consecutive_failures: 0,
            last_check: None,
            checks: 0,
        }
    }

    /// Records one check's result at `now`; the new verdict if it changed.
    ///
    /// Passes and failures are counted in runs: a result of the other kind starts the count
    /// again, so a verdict changes only after a full run (hysteresis: results that alternate
    /// never change it while both thresholds are above 1).
    pub(crate) fn record(
        &mut self,
        result: Result<(), String>,
        now: Instant,
        thresholds: Thresholds,
    ) -> Option<bool> {
        self.checks = self.checks.saturating_add(1);
        self.last_check = Some(now);
        let changed = match result {
            Ok(()) => {
                self.consecutive_failures = 0;
                self.consecutive_passes = self.consecutive_passes.saturating_add(1);
                (!self.healthy && self.consecutive_passes >= thresholds.healthy_after)
                    .then_some(true)
            }
            Err(error) => {
                self.consecutive_passes = 0;
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.last_error = Some(error);
                (self.healthy && self.consecutive_failures >= thresholds.unhealthy_after)
                    .then_some(false)
            }
        };
        if let Some(healthy) = changed {
            self.set(healthy, now);
        }
        changed
    }

    fn set(&mut self, healthy: bool, now: Instant) {
        self.healthy = healthy;
        self.since = now;
        if healthy {
            self.last_error = None;
        }
    }
}

/// Every checked endpoint's health: a cheap `Clone` handle on the table a
/// [`HealthDriver`](super::HealthDriver) writes, for readiness reports and operators.
///
/// Reading it copies entries out under a short lock; the driver takes the same lock once per
/// finished check. Neither holds it across an `.await`.
///
/// # Clone
///
/// Clones share one table.
#[derive(Clone)]
pub struct HealthTable {
    entries: Arc<Mutex<Vec<EndpointHealth>>>,
    stale_after: Duration,
}

impl fmt::Debug for HealthTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthTable")
            .field("entries", &*self.lock())
            .field("stale_after", &self.stale_after)
            .finish()
    }
}

impl HealthTable {
    /// A table of `endpoints`, all healthy since `now`, whose entries are stale after
    /// `stale_after` without a result.
    pub(crate) fn new(
        endpoints: impl IntoIterator<Item = Arc<str>>,
        now: Instant,
        stale_after: Duration,
    ) -> Self {
        HealthTable {
            entries: Arc::new(Mutex::new(
                endpoints
                    .into_iter()
                    .map(|e| EndpointHealth::new(e, now))
                    .collect(),
            )),
            stale_after,
        }
    }

    /// How long an endpoint may go without a check result before its entry is stale: three
    /// intervals of the driver that keeps the table (three timeouts, if the timeout is the
    /// longer). A stale entry means the checks stopped (the driver was dropped, or never
    /// spawned) or cannot keep up: its verdict is old news, and the readiness report says so.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// How long `entry` has gone without a check result at `now` (since the table was made, if
    /// it never had one), when that is longer than [`stale_after`](Self::stale_after).
    pub fn stale_for(&self, entry: &EndpointHealth, now: Instant) -> Option<Duration> {
        let silent = now.saturating_duration_since(entry.last_check.unwrap_or(entry.since));
        (silent > self.stale_after).then_some(silent)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<EndpointHealth>> {
        // Nothing panics while holding it; if something did, the entries are still whole.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every endpoint's health, in the order the checks were given them (a failover's priority
    /// order).
    pub fn entries(&self) -> Vec<EndpointHealth> {
        self.lock().clone()
    }

    /// Endpoint `name`'s health, if it is checked.
    pub fn get(&self, name: &str) -> Option<EndpointHealth> {
        self.lock().iter().find(|e| &*e.endpoint == name).cloned()
    }

    /// Whether endpoint `name` is healthy, if it is checked.
    pub fn is_healthy(&self, name: &str) -> Option<bool> {
        self.lock()
            .iter()
            .find(|e| &*e.endpoint == name)
            .map(|e| e.healthy)
    }

    /// The position of endpoint `name`.
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.lock().iter().position(|e| &*e.endpoint == name)
    }

    /// Endpoint `i`'s health.
    pub(crate) fn entry(&self, i: usize) -> Option<EndpointHealth> {
        self.lock().get(i).cloned()
    }

    /// Records a check of endpoint `i` (see [`EndpointHealth::record`]).
    pub(crate) fn record(
        &self,
        i: usize,
        result: Result<(), String>,
        now: Instant,
        thresholds: Thresholds,
    ) -> Option<bool> {
        self.lock()
            .get_mut(i)
            .and_then(|e| e.record(result, now, thresholds))
    }

    /// Makes endpoint `i` healthy at `now` (its checks stopped); true if it was not.
    pub(crate) fn reset(&self, i: usize, now: Instant) -> bool {
        let mut entries = self.lock();
        let Some(e) = entries.get_mut(i) else {
            return false;
        };
        e.consecutive_passes = 0;
        e.consecutive_failures = 0;
        if e.healthy {
            return false;
        }
        e.set(true, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        unhealthy_after: 3,
        healthy_after: 2,
    };

    fn fail() -> Result<(), String> {
        Err("boom".into())
    }

    #[test]
    fn runs_change_the_verdict_and_stamp_it() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut e = EndpointHealth::new("a".into(), t0);
        assert_eq!(e.record(fail(), at(1), T), None);
        assert_eq!(e.record(fail(), at(2), T), None);
        assert_eq!(e.record(Ok(()), at(3), T), None);
        assert_eq!(e.consecutive_failures, 0);
        assert_eq!(e.last_error.as_deref(), Some("boom"));
        assert!(e.healthy);
        assert_eq!(e.since, t0);
        for s in 4..6 {
            assert_eq!(e.record(fail(), at(s), T), None);
        }
        assert_eq!(e.record(fail(), at(6), T), Some(false));
        assert_eq!(
            (e.healthy, e.since, e.consecutive_failures),
            (false, at(6), 3)
        );
        assert_eq!(e.record(fail(), at(7), T), None);
        assert_eq!(e.record(Ok(()), at(8), T), None);
        assert_eq!(e.last_error.as_deref(), Some("boom"));
        assert_eq!(e.record(Ok(()), at(9), T), Some(true));
        assert_eq!(
            (e.healthy, e.since, e.last_error.as_deref()),
            (true, at(9), None)
        );
        assert_eq!((e.checks, e.last_check), (9, Some(at(9))));
    }

    #[test]
    fn reset_makes_an_unhealthy_endpoint_healthy_once() {
        let t0 = Instant::now();
        let table = HealthTable::new(["a".into(), "b".into()], t0, Duration::from_secs(30));
        let once = Thresholds {
            unhealthy_after: 1,
            healthy_after: 1,
        };
        assert_eq!(table.record(1, fail(), t0, once), Some(false));
        assert!(!table.reset(0, t0));
        assert!(table.reset(1, t0));
        assert!(!table.reset(1, t0));
        assert!(!table.reset(7, t0));
        assert_eq!(table.is_healthy("b"), Some(true));
        assert_eq!(table.index("b"), Some(1));
        assert_eq!(table.get("c"), None);
    }
}
