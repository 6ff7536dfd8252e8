//! Hedged requests: when a call's first attempt is slow, a copy of its request goes to another
//! endpoint, and the first answer wins. This file holds the setting ([`Hedge`]) and what the
//! calls of one failover share for it ([`Hedging`]: the allowance that caps the share of calls
//! hedged, and each endpoint's record of recent latencies). The steps of one call live with its
//! plan (`plan/hedge.rs`) and its executor (`future.rs`); the rules are in the
//! [module docs](super#hedging).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::budget::{RetryBudget, Withdrawal};
use crate::classify::Outcome;
use crate::error::ConfigError;

/// When a failover call sends a hedge: a copy of its request to the next available endpoint,
/// while its first attempt is still in flight. Off unless given to
/// [`FailoverBuilder::hedge`](super::FailoverBuilder::hedge). See the
/// [module docs](super#hedging) for the rules.
///
/// ```
/// use std::time::Duration;
/// use steadfast::failover::Hedge;
///
/// // A hedge after 50 ms, for at most 5 % of calls.
/// let fixed = Hedge::after(Duration::from_millis(50)).max_ratio(0.05);
/// // A hedge after the endpoint's recent 95th percentile, never before 20 ms.
/// let adaptive = Hedge::percentile(0.95).floor(Duration::from_millis(20));
/// # let _ = (fixed, adaptive);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hedge {
    pub(crate) delay: HedgeDelay,
    pub(crate) max_ratio: f64,
}

/// How long a call waits for its first attempt before hedging.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HedgeDelay {
    /// A fixed delay.
    After(Duration),
    /// The `quantile` of the first attempt's endpoint's recent latencies, never below `floor`.
    Percentile { quantile: f64, floor: Duration },
}

/// The share of calls hedged by default: at most one in ten.
pub const DEFAULT_HEDGE_RATIO: f64 = 0.1;

/// The floor of a percentile delay by default: 10 ms.
pub const DEFAULT_HEDGE_FLOOR: Duration = Duration::from_millis(10);

/// Hedges the allowance holds when it is full (it starts full): a burst of slow calls after a
/// quiet spell may hedge this many more than the ratio allows.
pub const HEDGE_RESERVE: u32 = 10;

/// Latencies kept per endpoint. 64 successes are recent enough to follow a change within
/// seconds on a busy client, and enough for a 95th percentile to rest on three samples above
/// it; 64 × 4 bytes stay in four cache lines, and selecting the percentile from them on the
/// stack takes no allocation and a few hundred instructions, once every
/// [`REFRESH_EVERY`] records.
pub(crate) const SAMPLES: usize = 64;

/// A percentile is used only once this many latencies were recorded: until then, no hedge.
pub(crate) const MIN_SAMPLES: u32 = 16;

/// The percentile is computed again after this many records (not on every call).
pub(crate) const REFRESH_EVERY: u32 = 16;

/// The allowance's tokens per hedge: a ratio is kept to a thousandth.
const TOKENS_PER_HEDGE: u32 = 1000;

impl Hedge {
    /// A hedge after a fixed `delay`.
    pub fn after(delay: Duration) -> Self {
        Hedge {
            delay: HedgeDelay::After(delay),
            max_ratio: DEFAULT_HEDGE_RATIO,
        }
    }

    /// A hedge after the `quantile` (0.95 for the 95th percentile) of the latencies of the
    /// first attempt's endpoint's last 64 successes (calls' first attempts and hedges that
    /// won there), never before the
    /// [`floor`](Self::floor) (default 10 ms). No hedge until the endpoint has 16 latencies.
    pub fn percentile(quantile: f64) -> Self {
        Hedge {
            delay: HedgeDelay::Percentile {
                quantile,
                floor: DEFAULT_HEDGE_FLOOR,
            },
            max_ratio: DEFAULT_HEDGE_RATIO,
        }
    }

    /// The shortest delay of a [`percentile`](Self::percentile) hedge; for a fixed one, the
    /// delay. Default 10 ms.
    pub fn floor(mut self, floor: Duration) -> Self {
        self.delay = match self.delay {
            HedgeDelay::After(_) => HedgeDelay::After(floor),
            HedgeDelay::Percentile { quantile, .. } => HedgeDelay::Percentile { quantile, floor },
        };
        self
    }

    /// The largest share of calls hedged, over time: each call adds `ratio` of a hedge to an
    /// allowance, and a hedge takes a whole one (the allowance starts with, and holds at most,
    /// [`HEDGE_RESERVE`] hedges). Above 0 and at most 1, to a thousandth. Default 0.1.
    pub fn max_ratio(mut self, ratio: f64) -> Self {
        self.max_ratio = ratio;
        self
    }

    /// The shortest delay this hedge may wait.
    fn shortest(&self) -> Duration {
        match self.delay {
            HedgeDelay::After(d) => d,
            HedgeDelay::Percentile { floor, .. } => floor,
        }
    }

    /// Checks the settings against a failover's attempt timeout and deadline.
    pub(crate) fn check(
        &self,
        attempt_timeout: Option<Duration>,
        deadline: Option<Duration>,
    ) -> Result<(), ConfigError> {
        let shortest = self.shortest();
        let setting = match self.delay {
            HedgeDelay::After(_) => "failover hedge delay",
            HedgeDelay::Percentile { quantile, .. } => {
                if !(quantile > 0.0 && quantile <= 1.0) {
                    return Err(ConfigError::invalid(
                        "failover hedge percentile",
                        quantile,
                        "above 0 and at most 1",
                    ));
                }
                "failover hedge floor"
            }
        };
        ConfigError::check_limit(setting, Some(shortest))?;
        if let Some(limit) = attempt_timeout.into_iter().chain(deadline).min() {
            if shortest >= limit {
                return Err(ConfigError::invalid(
                    setting,
                    shortest,
                    "shorter than the attempt timeout and the deadline",
                ));
            }
        }
        if !(self.max_ratio >= 0.001 && self.max_ratio <= 1.0) {
            return Err(ConfigError::invalid(
                "failover hedge max_ratio",
                self.max_ratio,
                "at least 0.001 and at most 1",
            ));
        }
        Ok(())
    }
}

/// What the calls of one failover share for hedging.
#[derive(Debug)]
pub(crate) struct Hedging {
    pub(crate) policy: Hedge,
    /// The share of calls that may be hedged, as a bucket: a call deposits its ratio, a hedge
    /// withdraws one.
    allowance: RetryBudget,
    /// Each endpoint's recent latencies (none for a fixed delay).
    latencies: Box<[LatencyRecord]>,
}

impl Hedging {
    /// The shared state of a checked `policy` over `endpoints` endpoints.
    pub(crate) fn new(policy: Hedge, endpoints: usize) -> Result<Self, ConfigError> {
        let deposit = (policy.max_ratio * f64::from(TOKENS_PER_HEDGE)).round() as u32;
        let allowance = RetryBudget::builder()
            .capacity(HEDGE_RESERVE * TOKENS_PER_HEDGE)
            .retry_cost(TOKENS_PER_HEDGE)
            .timeout_cost(TOKENS_PER_HEDGE)
            .success_deposit(deposit.max(1))
            .build()?;
        let latencies = match policy.delay {
            HedgeDelay::After(_) => 0,
            HedgeDelay::Percentile { .. } => endpoints,
        };
        Ok(Hedging {
            policy,
            allowance,
            latencies: (0..latencies).map(|_| LatencyRecord::new()).collect(),
        })
    }

    /// Whether calls record their latencies (a percentile delay).
    #[inline]
    pub(crate) fn records_latency(&self) -> bool {
        !self.latencies.is_empty()
    }

    /// A call's first attempt was sent: its share of a hedge goes into the allowance.
    #[inline]
    pub(crate) fn on_call(&self) {
        self.allowance.on_success(None);
    }

    /// The delay after which a first attempt at endpoint `i` may be hedged, if it may (a
    /// percentile needs [`MIN_SAMPLES`] latencies first).
    pub(crate) fn delay(&self, i: usize) -> Option<Duration> {
        match self.policy.delay {
            HedgeDelay::After(delay) => Some(delay),
            HedgeDelay::Percentile { floor, .. } => {
                let percentile = self.latencies.get(i)?.percentile()?;
                Some(percentile.max(floor))
            }
        }
    }

    /// Takes a hedge from the allowance, or `None` when the calls so far allow no more.
    pub(crate) fn take(&self) -> Option<Withdrawal> {
        self.allowance.try_withdraw(&Outcome::failed())
    }

    /// Gives back a hedge that was never sent.
    pub(crate) fn give_back(&self, hedge: Withdrawal) {
        self.allowance.refund(hedge);
    }

    /// Hedges the allowance holds now (whole ones).
    #[cfg(test)]
    pub(crate) fn allowance(&self) -> u32 {
        self.allowance.level().unwrap_or(0) / TOKENS_PER_HEDGE
    }

    /// Records a successful attempt at endpoint `i` that took `elapsed`.
    pub(crate) fn record(&self, i: usize, elapsed: Duration) {
        if let (Some(record), HedgeDelay::Percentile { quantile, .. }) =
            (self.latencies.get(i), self.policy.delay)
        {
            record.record(elapsed, quantile);
        }
    }
}

/// One endpoint's last [`SAMPLES`] latencies, in microseconds, and the percentile last
/// computed from them: fixed-size, lock-free, allocation-free.
#[derive(Debug)]
pub(crate) struct LatencyRecord {
    samples: [AtomicU32; SAMPLES],
    /// Latencies recorded so far (wrapping): the next one goes to `count % SAMPLES`.
    count: AtomicU32,
    /// The percentile in microseconds, plus one; 0 until [`MIN_SAMPLES`] were recorded.
    percentile: AtomicU32,
}

impl LatencyRecord {
    fn new() -> Self {
        LatencyRecord {
            samples: std::array::from_fn(|_| AtomicU32::new(0)),
            count: AtomicU32::new(0),
            percentile: AtomicU32::new(0),
        }
    }

    /// The percentile last computed, if enough latencies were recorded.
    pub(crate) fn percentile(&self) -> Option<Duration> {
        match self.percentile.load(Ordering::Relaxed) {
            0 => None,
            p => Some(Duration::from_micros(u64::from(p - 1))),
        }
    }

    /// Records `elapsed` (saturating at about 71 minutes); every [`REFRESH_EVERY`] records,
    /// from the [`MIN_SAMPLES`]th on, computes the `quantile` again.
    pub(crate) fn record(&self, elapsed: Duration, quantile: f64) {
        let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX - 1);
        let n = self.count.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        self.samples[(n.wrapping_sub(1) as usize) % SAMPLES].store(micros, Ordering::Relaxed);
        // `MIN_SAMPLES` is a multiple of `REFRESH_EVERY`; 0 only when the count wraps.
        if n >= MIN_SAMPLES && n % REFRESH_EVERY == 0 {
            let held = (n as usize).min(SAMPLES);
            let mut sorted = [0u32; SAMPLES];
            for (slot, sample) in sorted.iter_mut().zip(&self.samples[..held]) {
                *slot = sample.load(Ordering::Relaxed);
            }
            let p = nearest_rank(&mut sorted[..held], quantile);
            self.percentile
                .store(p.saturating_add(1), Ordering::Relaxed);
        }
    }
}

/// The `quantile` of `samples` by the nearest-rank method (the smallest sample at or above
/// that share of them); reorders `samples`. `samples` is not empty.
pub(crate) fn nearest_rank(samples: &mut [u32], quantile: f64) -> u32 {
    let n = samples.len();
    let rank = (quantile * n as f64).ceil() as usize;
    let index = rank.clamp(1, n) - 1;
    *samples.select_nth_unstable(index).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(nearest_rank(&mut v, 0.95), 95);
        assert_eq!(nearest_rank(&mut v, 0.5), 50);
        assert_eq!(nearest_rank(&mut v, 1.0), 100);
        assert_eq!(nearest_rank(&mut v, 0.001), 1);
        let mut one = [7];
        assert_eq!(nearest_rank(&mut one, 0.99), 7);
    }

    #[test]
    fn percentile_waits_for_sixteen_samples_then_follows_the_last_64() {
        let record = LatencyRecord::new();
        for ms in 1..=15 {
            record.record(Duration::from_millis(ms), 0.95);
        }
        assert_eq!(record.percentile(), None);
        record.record(Duration::from_millis(16), 0.95);
        // Nearest rank of 0.95 × 16 = 15.2 → the 16th smallest.
        assert_eq!(record.percentile(), Some(Duration::from_millis(16)));
        // 64 more at 100 ms push every earlier sample out.
        for _ in 0..64 {
            record.record(Duration::from_millis(100), 0.95);
        }
        assert_eq!(record.percentile(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn the_allowance_caps_hedges_at_the_ratio_plus_the_reserve() {
        let hedging = Hedging::new(Hedge::after(Duration::from_millis(5)), 2).unwrap();
        assert_eq!(hedging.allowance(), HEDGE_RESERVE);
        let mut hedges = 0;
        for _ in 0..100 {
            hedging.on_call();
            if let Some(w) = hedging.take() {
                drop(w);
                hedges += 1;
            }
        }
        // Calls 1..=11 empty the reserve (each adds a tenth); then one call in ten.
        assert_eq!(hedges, 11 + 8);
    }

    #[test]
    fn invalid_settings_are_refused() {
        let ms = Duration::from_millis;
        assert!(Hedge::after(ms(50)).check(Some(ms(100)), None).is_ok());
        assert!(Hedge::after(ms(0)).check(None, None).is_err());
        assert!(Hedge::after(ms(100)).check(Some(ms(100)), None).is_err());
        assert!(Hedge::after(ms(100)).check(None, Some(ms(50))).is_err());
        assert!(Hedge::percentile(f64::NAN).check(None, None).is_err());
        assert!(Hedge::percentile(0.0).check(None, None).is_err());
        assert!(Hedge::percentile(1.5).check(None, None).is_err());
        assert!(
            Hedge::percentile(0.99)
                .floor(ms(0))
                .check(None, None)
                .is_err()
        );
        let ratio = |r| Hedge::after(ms(5)).max_ratio(r).check(None, None);
        assert!(ratio(0.0).is_err());
        assert!(ratio(0.0005).is_err());
        assert!(ratio(1.5).is_err());
        assert!(ratio(f64::NAN).is_err());
        assert!(ratio(1.0).is_ok());
    }
}
