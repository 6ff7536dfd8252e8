//! Active-active: priority tiers of endpoints, and how the calls of a tier are spread across its
//! available endpoints. Pure, as the rest of the router: the instant, the call's draw and its
//! key are handed in.
//!
//! A failover whose every tier holds one endpoint (active-passive, what
//! [`FailoverBuilder::endpoint`](super::FailoverBuilder::endpoint) builds) has no [`Tiers`]: its
//! calls take the router's own branch, by priority, and count nothing here.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::clock::LazyNow;
use crate::rng::{GOLDEN, mix};
use crate::shard::Padded;

/// The largest weight of one endpoint ([`Tier::weighted`](super::Tier::weighted)).
pub const MAX_WEIGHT: u32 = 10_000;

/// How the calls of a tier are spread across its available endpoints. See the
/// [module docs](super#active-active-tiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Spread {
    /// Power of two choices over least outstanding requests (the default): each call draws two
    /// endpoints of the tier (in proportion to their weights) and goes to the one with fewer
    /// calls in flight per unit of weight. It follows the endpoints' speed: a region that slows
    /// down holds more calls in flight and gets fewer new ones. Pick it unless a reason below
    /// applies.
    #[default]
    LeastLoaded,
    /// Weighted round robin: each handle's calls visit the endpoints in a fixed, interleaved
    /// order, in proportion to their weights, whatever their speed. Pick it when the share must
    /// be exact (capacity bought per region, a cost split), and the regions are equally fast.
    ///
    /// The order is per [`Failover`](super::Failover) value (each clone steps through its own
    /// golden-ratio sequence, so no counter is shared between calls): a client that clones the
    /// failover per call draws a fresh position each time, and its shares are then those of a
    /// weighted random choice — right on average, within a few percent over thousands of calls.
    RoundRobin,
    /// A consistent choice per key (weighted rendezvous hashing of the key the request's
    /// options give, [`CallOptions::key`](super::CallOptions::key)): one user's calls stay in one
    /// region while it is available, for its caches or read-your-writes; when it is not, only
    /// its keys move, spread over the others, and they come back when it does. Calls without a
    /// key are spread as by `LeastLoaded`.
    ByKey,
}

/// Fixed-point scale of an effective weight: a weight of 1 at full share.
const SCALE: u64 = 1 << 20;

/// One endpoint's counts, alone on its cache line.
#[derive(Debug, Default)]
struct Load {
    /// Attempts admitted here.
    started: AtomicU64,
    /// Attempts admitted here that are over.
    ended: AtomicU64,
    /// Since when its slow start runs (the router's encoding; 0 for none).
    ramp_since: AtomicU64,
}

/// The tiers of an active-active failover, and the spreading state of their endpoints.
pub(crate) struct Tiers {
    spread: Spread,
    /// Each endpoint's tier.
    tier: Box<[u8]>,
    /// Each endpoint's peers: the endpoints of its tier, a bit each (indexed without a bounds
    /// check: endpoints are fewer than `MAX_ENDPOINTS`).
    peers: [u32; super::MAX_ENDPOINTS],
    /// Each endpoint's weight.
    weights: Box<[u32]>,
    /// Whether every endpoint has the same weight (the choice then counts endpoints).
    uniform: bool,
    /// Each endpoint's salt for keyed choices (from its name: adding an endpoint moves only the
    /// keys it wins).
    salts: Box<[u64]>,
    /// The slow-start window (zero: none).
    slow_start: Duration,
    /// The endpoints whose slow start may still run.
    ramping: AtomicU32,
    /// The endpoints that came back and whose slow start begins at the next choice.
    returns: AtomicU32,
    load: Box<[Padded<Load>]>,
    /// The `started` counts at the last report ([`Tiers::shares`]).
    reported: Mutex<Box<[u64]>>,
}

impl fmt::Debug for Tiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tiers")
            .field("spread", &self.spread)
            .field("tier", &self.tier)
            .field("weights", &self.weights)
            .field("slow_start", &self.slow_start)
            .finish_non_exhaustive()
    }
}

/// What a call brings to a choice besides `now`: its own draw (from its seed) and its key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draw {
    /// The call's sequence number on its handle (round robin), scrambled for random choices.
    pub(crate) seq: u64,
    /// The request's key, if its options gave one.
    pub(crate) key: Option<u64>,
}

/// A name's salt: FNV-1a, fixed by its definition (so a key's region is the same in every
/// process and release).
fn salt(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// The endpoint of `mask` (in index order) at which the running sum of `weight` passes `slot`
/// (the last one if it never does).
fn locate(mask: u32, slot: u64, weight: impl Fn(usize) -> u64) -> usize {
    let mut left = mask;
    let mut sum = 0;
    let mut last = mask.trailing_zeros() as usize;
    while left != 0 {
        let i = left.trailing_zeros() as usize;
        left &= left - 1;
        sum += weight(i);
        last = i;
        if slot < sum {
            return i;
        }
    }
    last
}

/// `x` scaled to `[0, total)` as a fraction of 2^64.
fn scale(x: u64, total: u64) -> u64 {
    ((u128::from(x) * u128::from(total)) >> 64) as u64
}

impl Tiers {
    /// `placement`: each endpoint's `(name, tier, weight)`, in index order, tiers ascending from
    /// 0 without a gap (the builder checks).
    pub(crate) fn new<'a>(
        placement: impl IntoIterator<Item = (&'a str, u8, u32)>,
        spread: Spread,
        slow_start: Duration,
    ) -> Self {
        let mut tier = Vec::new();
        let mut weights = Vec::new();
        let mut salts = Vec::new();
        let mut masks: Vec<u32> = Vec::new();
        for (i, (name, t, w)) in placement.into_iter().enumerate() {
            let t_ix = usize::from(t);
            if masks.len() <= t_ix {
                masks.resize(t_ix + 1, 0);
            }
            masks[t_ix] |= 1 << i;
            tier.push(t);
            weights.push(w.max(1));
            salts.push(salt(name));
        }
        let n = tier.len();
        let uniform = weights.windows(2).all(|w| w[0] == w[1]);
        Tiers {
            uniform,
            spread,
            peers: std::array::from_fn(|i| tier.get(i).map_or(0, |&t| masks[usize::from(t)])),
            tier: tier.into(),
            weights: weights.into(),
            salts: salts.into(),
            slow_start,
            ramping: AtomicU32::new(0),
            returns: AtomicU32::new(0),
            load: (0..n).map(|_| Padded(Load::default())).collect(),
            reported: Mutex::new(vec![0; n].into()),
        }
    }

    /// Endpoint `i`'s tier.
    #[inline]
    pub(crate) fn tier_of(&self, i: usize) -> usize {
        usize::from(self.tier[i])
    }

    /// The endpoints of endpoint `i`'s tier.
    #[inline]
    pub(crate) fn peers(&self, i: usize) -> u32 {
        self.peers[i & (super::MAX_ENDPOINTS - 1)]
    }

    /// Endpoint `i`'s weight.
    pub(crate) fn weight(&self, i: usize) -> u32 {
        self.weights[i]
    }

    /// Attempts in flight at endpoint `i`.
    #[inline]
    pub(crate) fn in_flight(&self, i: usize) -> u64 {
        let load = &self.load[i].0;
        // `ended` first: a count read after it is never below it.
        let ended = load.ended.load(Ordering::Relaxed);
        load.started.load(Ordering::Relaxed).saturating_sub(ended)
    }

    /// An attempt was admitted at endpoint `i`.
    #[inline]
    pub(crate) fn started(&self, i: usize) {
        self.load[i].0.started.fetch_add(1, Ordering::Relaxed);
    }

    /// An attempt admitted at endpoint `i` is over (or was never sent).
    #[inline]
    pub(crate) fn ended(&self, i: usize) {
        self.load[i].0.ended.fetch_add(1, Ordering::Relaxed);
    }

    /// The endpoints of `mask` take calls again, from `code` (the router's encoding of now):
    /// their slow start begins.
    pub(crate) fn start_ramp(&self, mask: u32, code: u64) {
        if self.slow_start.is_zero() {
            return;
        }
        for (i, load) in self.load.iter().enumerate() {
            if mask & (1 << i) != 0 {
                load.0.ramp_since.store(code, Ordering::Relaxed);
            }
        }
        self.ramping.fetch_or(mask, Ordering::Relaxed);
    }

    /// Endpoint `i` came back: its slow start begins at the next choice.
    pub(crate) fn came_back(&self, i: usize) {
        if !self.slow_start.is_zero() {
            self.returns.fetch_or(1 << i, Ordering::Relaxed);
        }
    }

    /// The endpoints that came back since the last choice.
    #[inline]
    pub(crate) fn returns(&self) -> u32 {
        self.returns.load(Ordering::Relaxed)
    }

    /// Takes the endpoints that came back, for their slow start to begin.
    pub(crate) fn take_returns(&self) -> u32 {
        self.returns.swap(0, Ordering::Relaxed)
    }

    /// Endpoint `i`'s effective weight (in units of `SCALE`) `since` its slow start began:
    /// its weight times the part of the window that has passed, `None` once the window is
    /// over.
    pub(crate) fn ramped(&self, i: usize, since: Duration) -> Option<u64> {
        let window = self.slow_start;
        (since < window).then(|| {
            let full = u128::from(self.weights[i]) * u128::from(SCALE);
            (full * since.as_nanos() / window.as_nanos()) as u64
        })
    }

    /// Endpoint `i`'s effective weight at `now` (`since` maps a start code to the time since
    /// it), ending its slow start once the window is over.
    fn effective(&self, i: usize, since: &mut impl FnMut(u64) -> Duration) -> u64 {
        if self.ramping.load(Ordering::Relaxed) & (1 << i) != 0 {
            let code = self.load[i].0.ramp_since.load(Ordering::Relaxed);
            match self.ramped(i, since(code)) {
                Some(w) => return w,
                None => {
                    self.ramping.fetch_and(!(1 << i), Ordering::Relaxed);
                }
            }
        }
        u64::from(self.weights[i]) * SCALE
    }

    #[cfg(test)]
    /// The share of calls endpoint `i` would get among `mask` at `now`, in `[0, 1]` (its
    /// effective weight over theirs): for reports and tests.
    pub(crate) fn share_of(
        &self,
        i: usize,
        mask: u32,
        mut since: impl FnMut(u64) -> Duration,
    ) -> f64 {
        let total: u64 = (0..self.tier.len())
            .filter(|j| mask & (1 << j) != 0)
            .map(|j| self.effective(j, &mut since))
            .sum();
        if total == 0 {
            return 0.0;
        }
        self.effective(i, &mut since) as f64 / total as f64
    }

    /// Whether an endpoint of `mask` ramps up.
    #[inline]
    pub(crate) fn ramps(&self, mask: u32) -> bool {
        self.ramping.load(Ordering::Relaxed) & mask != 0
    }

    /// Whether a call with `draw` that could go to the endpoints `up` (the tier's endpoints not
    /// known to be unavailable) goes on to the next tier instead, at `now`: while they ramp up,
    /// the part of the tier's calls their slow start does not give them yet (the draw falls
    /// above their effective weight over their full weight).
    #[cold]
    #[inline(never)]
    pub(crate) fn spills<const LIVE: bool>(
        &self,
        up: u32,
        draw: Draw,
        now: &mut LazyNow<LIVE>,
        since: impl Fn(u64, Instant) -> Duration,
    ) -> bool {
        let mut at = |code: u64| since(code, now.get());
        let (mut effective, mut full) = (0u64, 0u64);
        for i in (0..self.tier.len()).filter(|i| up & (1 << i) != 0) {
            effective += self.effective(i, &mut at);
            full += u64::from(self.weights[i]) * SCALE;
        }
        full != 0 && scale(mix(draw.seq ^ GOLDEN), full) >= effective
    }

    /// Which endpoint of `pool` (untried endpoints of one tier, at least one) the call with
    /// `draw` goes to, at `now` (`since` maps a slow-start code to the time since it).
    pub(crate) fn choose<const LIVE: bool>(
        &self,
        pool: u32,
        draw: Draw,
        now: &mut LazyNow<LIVE>,
        since: impl Fn(u64, Instant) -> Duration,
    ) -> usize {
        if pool & pool.wrapping_sub(1) == 0 {
            return pool.trailing_zeros() as usize;
        }
        if self.ramping.load(Ordering::Relaxed) & pool != 0 {
            return self.choose_ramping(pool, draw, now, since);
        }
        // Full shares (the usual case): the configured weights, and no clock.
        if self.uniform {
            return self.by_weight(pool, draw, u64::from(pool.count_ones()), |_| 1);
        }
        let weights = &self.weights;
        let mut total = 0;
        let mut left = pool;
        while left != 0 {
            total += u64::from(weights[left.trailing_zeros() as usize]);
            left &= left - 1;
        }
        self.by_weight(pool, draw, total, |i| u64::from(weights[i]))
    }

    /// [`choose`](Self::choose) while an endpoint of `pool` ramps up: the effective weights at
    /// `now`.
    #[cold]
    #[inline(never)]
    fn choose_ramping<const LIVE: bool>(
        &self,
        pool: u32,
        draw: Draw,
        now: &mut LazyNow<LIVE>,
        since: impl Fn(u64, Instant) -> Duration,
    ) -> usize {
        let mut at = |code: u64| since(code, now.get());
        let mut weights = [0u64; super::MAX_ENDPOINTS];
        let mut total = 0;
        for (i, w) in weights.iter_mut().enumerate() {
            if pool & (1 << i) != 0 {
                *w = self.effective(i, &mut at);
                total += *w;
            }
        }
        if total == 0 {
            // Every endpoint of the pool has just come back: equal odds.
            for (i, w) in weights.iter_mut().enumerate() {
                if pool & (1 << i) != 0 {
                    *w = 1;
                    total += 1;
                }
            }
        }
        self.by_weight(pool, draw, total, |i| weights[i])
    }

    /// The choice among `pool` (at least two endpoints) by the spread, the endpoints weighing
    /// `weight` (`total` together).
    #[inline]
    fn by_weight(&self, pool: u32, draw: Draw, total: u64, weight: impl Fn(usize) -> u64) -> usize {
        match (self.spread, draw.key) {
            (Spread::RoundRobin, _) => {
                // The golden-ratio sequence: consecutive calls land spread over [0, 1), so each
                // endpoint's share stays within a few calls of its weight's.
                locate(pool, scale(draw.seq.wrapping_mul(GOLDEN), total), weight)
            }
            (Spread::ByKey, Some(key)) => self.rendezvous(pool, key, weight),
            (Spread::LeastLoaded | Spread::ByKey, _) => {
                self.two_choices(pool, mix(draw.seq), total, weight)
            }
        }
    }

    /// Power of two choices: two endpoints of `pool` drawn in proportion to `weight` (from
    /// `random`), the one with fewer attempts in flight per unit of weight (the first drawn on
    /// a tie).
    fn two_choices(
        &self,
        pool: u32,
        random: u64,
        total: u64,
        weight: impl Fn(usize) -> u64,
    ) -> usize {
        let a = locate(pool, scale(random, total), &weight);
        let rest = pool & !(1 << a);
        // The draw's other half: its bits are as random as the first's.
        let b = locate(
            rest,
            scale(random.rotate_left(32), total - weight(a)),
            &weight,
        );
        let (load_a, load_b) = (u128::from(self.in_flight(a)), u128::from(self.in_flight(b)));
        // load_a / weight_a against load_b / weight_b, without dividing.
        if load_b * u128::from(weight(a)) < load_a * u128::from(weight(b)) {
            b
        } else {
            a
        }
    }

    /// Weighted rendezvous hashing: the endpoint of `pool` with the highest score for `key`,
    /// `weight / -ln(u)` with `u` uniform from the key and the endpoint's salt.
    fn rendezvous(&self, pool: u32, key: u64, weight: impl Fn(usize) -> u64) -> usize {
        let mut best = (f64::NEG_INFINITY, pool.trailing_zeros() as usize);
        let mut left = pool;
        while left != 0 {
            let i = left.trailing_zeros() as usize;
            left &= left - 1;
            // In (0, 1]: never 0, whose logarithm is infinite.
            let u = ((mix(key ^ self.salts[i]) >> 11) + 1) as f64 / (1u64 << 53) as f64;
            let score = weight(i) as f64 / -u.ln().min(-f64::MIN_POSITIVE);
            if score > best.0 {
                best = (score, i);
            }
        }
        best.1
    }

    /// Each endpoint's attempts since the last report, and starts a new one.
    pub(crate) fn shares(&self) -> Vec<u64> {
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reported
            .iter_mut()
            .zip(self.load.iter())
            .map(|(last, load)| {
                let now = load.0.started.load(Ordering::Relaxed);
                let calls = now.saturating_sub(*last);
                *last = now;
                calls
            })
            .collect()
    }
}
