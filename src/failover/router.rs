//! The routing state of a failover: pure (every method takes `now`), shared between calls, and
//! lock-free.
//!
//! It knows the endpoints in priority order, each with its breaker, its push-back time, and its
//! failback bookkeeping; it picks the next endpoint of a walk and records what calls observed.
//! The calls (the future) read the clock and emit events; nothing here does either.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::spread::{Draw, Tiers};
use super::switch::Switch;
use crate::breaker::{BreakerState, CircuitBreaker};
use crate::clock::LazyNow;
use crate::rng::{GOLDEN, mix};

/// The most endpoints one failover may have (a bit each in a word of flags).
pub const MAX_ENDPOINTS: usize = 32;

/// When traffic returns to a higher-priority endpoint that recovered. See the
/// [module docs](super#failback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Failback {
    /// Traffic returns as soon as the endpoint's breaker admits calls again: its half-open
    /// probes are the first calls back, and all traffic follows once they close it.
    #[default]
    Immediate,
    /// Once the endpoint's breaker has closed, it gets a trickle — one call in flight at a
    /// time, the others going to the endpoint that serves meanwhile — until it has served for
    /// `hold_down` without a failure; then all traffic returns. The hold-down starts when a
    /// probe closes the breaker; a failure restarts it from the next call routed there.
    ///
    /// The trickle bounds concurrency, not volume: a client that makes one call at a time
    /// sends all of them to the recovering endpoint (a failure there still hops, so the caller
    /// does not see it).
    After(Duration),
    /// Like `After` with an endless hold-down: traffic stays where it is until an operator calls
    /// [`FailoverHandle::fail_back`](super::FailoverHandle::fail_back), while the trickle keeps
    /// reporting whether the endpoint has recovered.
    Manual,
}

/// Why an endpoint could not take a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unavailable {
    /// Its breaker rejected the call (open, forced open, or half-open with every probe slot
    /// taken; a status read without a call reports only open and forced open).
    BreakerOpen,
    /// It answered with push-back (`Retry-After`), and the hint has not expired.
    PushedBack,
    /// It recovered, but the failback policy keeps traffic away from it for now.
    FailbackPending,
    /// An operator switched it off (routing control).
    SwitchedOff,
    /// It is failing its health checks (while another endpoint passes them).
    Unhealthy,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unavailable::BreakerOpen => "breaker open",
            Unavailable::PushedBack => "pushed back",
            Unavailable::FailbackPending => "failback pending",
            Unavailable::SwitchedOff => "switched off",
            Unavailable::Unhealthy => "failing its health checks",
        })
    }
}

/// One endpoint's shared state.
pub(crate) struct Endpoint {
    pub(crate) name: Arc<str>,
    pub(crate) breaker: CircuitBreaker,
    /// Push-back: the endpoint is skipped until this time (nanoseconds after the router's base,
    /// plus one; 0 for none).
    not_before: AtomicU64,
    /// While demoted with a closed breaker: since when it has served without a failure (same
    /// encoding; 0 for not yet).
    healthy_since: AtomicU64,
    /// The trickle slot of a demoted endpoint (one call at a time).
    trickle: AtomicBool,
}

/// The routing state of one failover.
pub(crate) struct Router {
    pub(crate) endpoints: Box<[Endpoint]>,
    pub(crate) failback: Failback,
    /// Bits 0..32: endpoints a call found unavailable (and none has found available since);
    /// bits 32..64: endpoints demoted by the failback policy.
    flags: AtomicU64,
    /// Bits 0..32: endpoints an operator switched off; bits 32..64: endpoints failing their
    /// health checks.
    control: AtomicU64,
    /// The endpoint calls go to first (the last head of a walk that was not a probe; in a
    /// tiered failover, the first endpoint of that head's tier).
    serving: AtomicU32,
    base: Instant,
    /// The tiers, when one holds more than one endpoint (active-active); `None`: one endpoint
    /// per tier, calls by priority.
    pub(crate) tiers: Option<Box<Tiers>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "endpoints",
                &self.endpoints.iter().map(|e| &*e.name).collect::<Vec<_>>(),
            )
            .field("failback", &self.failback)
            .field(
                "serving",
                &self
                    .endpoints
                    .get(self.serving.load(Ordering::Relaxed) as usize)
                    .map(|e| &*e.name),
            )
            .finish_non_exhaustive()
    }
}

const DEMOTED_SHIFT: u32 = 32;

/// The first endpoint of `mask` in priority order.
#[inline]
fn first(mask: u32) -> Option<usize> {
    (mask != 0).then(|| mask.trailing_zeros() as usize)
}

/// A bit per endpoint: `n` endpoints.
pub(crate) const fn all(n: usize) -> u32 {
    // In 64 bits, without a branch: `n` is at most `MAX_ENDPOINTS`.
    ((1u64 << (n & 63)) - 1) as u32
}

impl Router {
    /// `endpoints` (names and breakers) in priority order; `base` is an instant no earlier than
    /// any the router will be given, roughly (earlier ones count as `base`).
    pub(crate) fn new(
        endpoints: impl IntoIterator<Item = (Arc<str>, CircuitBreaker)>,
        failback: Failback,
        base: Instant,
    ) -> Self {
        Router {
            endpoints: endpoints
                .into_iter()
                .map(|(name, breaker)| Endpoint {
                    name,
                    breaker,
                    not_before: AtomicU64::new(0),
                    healthy_since: AtomicU64::new(0),
                    trickle: AtomicBool::new(false),
                })
                .collect(),
            failback,
            flags: AtomicU64::new(0),
            control: AtomicU64::new(0),
            serving: AtomicU32::new(0),
            base,
            tiers: None,
        }
    }

    /// The same router with `tiers` (active-active), unless every tier holds one endpoint.
    pub(crate) fn with_tiers(mut self, tiers: Tiers) -> Self {
        if (0..self.endpoints.len()).any(|i| tiers.peers(i).count_ones() > 1) {
            self.tiers = Some(Box::new(tiers));
        }
        self
    }

    /// Endpoint `i`'s tier (its index when each tier holds one endpoint).
    #[inline]
    pub(crate) fn tier_of(&self, i: usize) -> usize {
        self.tiers.as_ref().map_or(i, |t| t.tier_of(i))
    }

    /// The endpoints of `i`'s tier and of every tier above it.
    fn up_to_tier_of(&self, i: usize) -> u32 {
        match &self.tiers {
            None => all(i + 1),
            Some(t) => all(32 - t.peers(i).leading_zeros() as usize),
        }
    }

    /// The first endpoint of `i`'s tier.
    #[inline]
    pub(crate) fn tier_head(&self, i: usize) -> usize {
        self.tiers
            .as_ref()
            .map_or(i, |t| t.peers(i).trailing_zeros() as usize)
    }

    /// Endpoint `i` takes calls again at `now`: its slow start begins (tiered failovers with a
    /// slow-start window only).
    pub(crate) fn start_ramp(&self, i: usize, now: Instant) {
        if let Some(tiers) = &self.tiers {
            tiers.start_ramp(1 << i, self.encode(now));
        }
    }

    fn encode(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.base).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    #[inline]
    /// The instant of `code`; `None` when it is too far to represent (a push-back without end).
    fn decode(&self, code: u64) -> Option<Instant> {
        self.base.checked_add(Duration::from_nanos(code - 1))
    }

    /// How long from `now` until `code`: zero once passed, `Duration::MAX` if unrepresentable.
    fn until(&self, code: u64, now: Instant) -> Duration {
        self.decode(code)
            .map_or(Duration::MAX, |at| at.saturating_duration_since(now))
    }

    /// How long since `code` at `now`.
    fn since(&self, code: u64, now: Instant) -> Duration {
        self.decode(code)
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at))
    }

    /// How long since slow-start `code` at `now`.
    #[cfg(test)]
    pub(crate) fn since_code_for_tests(&self, code: u64, now: Instant) -> Duration {
        self.since(code, now)
    }

    /// Which endpoint the call `candidates` allows goes first, by priority. Demoted endpoints
    /// (waiting for failback) come after the others, unless `head` (the call's probe or
    /// trickle) names one.
    #[inline]
    pub(crate) fn pick(&self, candidates: u32, tried: u32, head: Option<usize>) -> Option<usize> {
        if let Some(h) = head.filter(|&h| tried & (1 << h) == 0) {
            return Some(h);
        }
        let left = candidates & !tried;
        let demoted = self.demoted();
        first(left & !demoted).or_else(|| first(left & demoted))
    }

    /// Which endpoint the call `candidates` allows goes next, of those it has not `tried`:
    /// active-passive, the first by priority ([`pick`](Self::pick)); in tiers, an endpoint of
    /// the first tier with one left (demoted endpoints after the others, unless `head` names
    /// one), chosen by the spread with the call's `draw` at `now`.
    #[inline]
    pub(crate) fn next<const LIVE: bool>(
        &self,
        candidates: u32,
        tried: u32,
        head: Option<usize>,
        draw: Draw,
        now: &mut LazyNow<LIVE>,
    ) -> Option<usize> {
        match &self.tiers {
            None => self.pick(candidates, tried, head),
            Some(tiers) => self.spread(tiers, candidates, tried, head, draw, now),
        }
    }

    /// [`next`](Self::next) in tiers.
    #[inline(never)]
    fn spread<const LIVE: bool>(
        &self,
        tiers: &Tiers,
        candidates: u32,
        tried: u32,
        head: Option<usize>,
        draw: Draw,
        now: &mut LazyNow<LIVE>,
    ) -> Option<usize> {
        if let Some(h) = head.filter(|&h| tried & (1 << h) == 0) {
            return Some(h);
        }
        let left = candidates & !tried;
        let demoted = self.demoted();
        let pool = match left & !demoted {
            0 => left & demoted,
            pool => pool,
        };
        let i = first(pool)?;
        let peers = tiers.peers(i);
        let mut draw = draw;
        if tried & peers != 0 {
            // Another choice in a tier the call tried: drawn afresh, so that the calls of a
            // skipped or failed endpoint spread over its peers rather than follow the first draw.
            draw.seq = mix(draw.seq ^ u64::from(tried).wrapping_mul(GOLDEN));
        }
        if tiers.returns() != 0 {
            tiers.start_ramp(tiers.take_returns(), self.encode(now.get()));
        }
        let since = |code, at| self.since(code, at);
        let mut tier = pool & peers;
        if tried & peers == 0 && tiers.ramps(tier) {
            // Slow start across tiers: the endpoints of this tier that are back (not known to
            // be unavailable) take the share their ramp gives them; the rest of the tier's
            // calls go on to the next tier with a candidate, as while the tier was away.
            let up = tier & !(self.flags.load(Ordering::Relaxed) as u32);
            let below = pool & !all(32 - peers.leading_zeros() as usize);
            if let Some(k) = first(below) {
                if tiers.spills(up, draw, now, since) {
                    tier = below & tiers.peers(k);
                }
            }
        }
        Some(tiers.choose(tier, draw, now, since))
    }

    /// The demoted endpoints.
    #[inline]
    pub(crate) fn demoted(&self) -> u32 {
        (self.flags.load(Ordering::Relaxed) >> DEMOTED_SHIFT) as u32
    }

    /// Why routing control or health keeps calls away from endpoint `i`, if they do. The control
    /// wins; health counts only while some endpoint that is switched on passes its checks (when
    /// every endpoint on fails them, they all count as available: fail open, as load balancers
    /// do).
    #[inline]
    pub(crate) fn kept_away(&self, i: usize) -> Option<Unavailable> {
        let control = self.control.load(Ordering::Relaxed);
        if control == 0 {
            return None;
        }
        let (off, unhealthy) = (control as u32, (control >> 32) as u32);
        let on = all(self.endpoints.len()) & !off;
        if off & (1 << i) != 0 {
            Some(Unavailable::SwitchedOff)
        } else if unhealthy & (1 << i) != 0 && unhealthy & on != on {
            Some(Unavailable::Unhealthy)
        } else {
            None
        }
    }

    /// The endpoint named `name`.
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.endpoints.iter().position(|e| &*e.name == name)
    }

    /// Endpoint `i`'s switch in the switched-off set `off`.
    pub(crate) fn switch_in(off: u32, i: usize) -> Switch {
        if off & (1 << i) != 0 {
            Switch::Off
        } else {
            Switch::On
        }
    }

    /// The endpoints switched off.
    pub(crate) fn switched_off(&self) -> u32 {
        self.control.load(Ordering::Relaxed) as u32
    }

    /// Replaces the switched-off set with `f(current)`, unless `f` refuses (returns an error):
    /// atomic against concurrent changes, so two operators can never switch off the last two
    /// endpoints that are on between them.
    pub(crate) fn switch<E>(&self, f: impl Fn(u32) -> Result<u32, E>) -> Result<(u32, u32), E> {
        let mut current = self.control.load(Ordering::Relaxed);
        loop {
            let off = f(current as u32)?;
            let next = (current & !u64::from(u32::MAX)) | u64::from(off);
            match self.control.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok((current as u32, off)),
                Err(seen) => current = seen,
            }
        }
    }

    /// Records endpoint `i`'s health; true if it changed.
    pub(crate) fn set_healthy(&self, i: usize, healthy: bool) -> bool {
        let bit = 1u64 << (32 + i);
        let before = if healthy {
            self.control.fetch_and(!bit, Ordering::AcqRel)
        } else {
            self.control.fetch_or(bit, Ordering::AcqRel)
        };
        (before & bit == 0) != healthy
    }

    /// Whether endpoint `i` is failing its health checks (whether or not that counts, see
    /// [`kept_away`](Self::kept_away)).
    pub(crate) fn is_unhealthy(&self, i: usize) -> bool {
        self.control.load(Ordering::Relaxed) & (1u64 << (32 + i)) != 0
    }

    /// How long endpoint `i` is still pushed back at `now`, if it is.
    #[inline]
    pub(crate) fn pushed_back<const LIVE: bool>(
        &self,
        i: usize,
        now: &mut LazyNow<LIVE>,
    ) -> Option<Duration> {
        let code = self.endpoints[i].not_before.load(Ordering::Relaxed);
        if code == 0 {
            return None;
        }
        let left = self.until(code, now.get());
        (!left.is_zero()).then_some(left)
    }

    /// Push-back from endpoint `i`: skip it for `hint` from `now` (never shortening a longer
    /// push-back already set).
    pub(crate) fn push_back(&self, i: usize, now: Instant, hint: Duration) {
        // A hint too long to represent pushes back without end (until a longer-lived process
        // would see it expire): the largest code.
        let code = now
            .checked_add(hint)
            .map_or(u64::MAX, |until| self.encode(until));
        self.endpoints[i]
            .not_before
            .fetch_max(code, Ordering::Relaxed);
    }

    /// Ends endpoint `i`'s push-back; true if it was still pushed back at `now`.
    pub(crate) fn clear_push_back(&self, i: usize, now: Instant) -> bool {
        let code = self.endpoints[i].not_before.swap(0, Ordering::Relaxed);
        code != 0 && !self.until(code, now).is_zero()
    }

    /// Records that a call found endpoint `i` unavailable; true if it was available before (the
    /// call then reports the change).
    pub(crate) fn mark_unavailable(&self, i: usize) -> bool {
        let bit = 1u64 << i;
        self.flags.load(Ordering::Relaxed) & bit == 0
            && self.flags.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// Records that a call was admitted by endpoint `i` (not as a probe); true if it was
    /// unavailable before. In tiers, its slow start then begins at the next choice.
    #[inline]
    pub(crate) fn mark_available(&self, i: usize) -> bool {
        self.flags.load(Ordering::Relaxed) & (1u64 << i) != 0 && self.came_back(i)
    }

    /// Endpoint `i`, found unavailable by an earlier call, admitted a call: true if this call
    /// is the one that marks it available again (its slow start begins at the next choice in
    /// its tier, which has the time: the admission reads no clock).
    #[cold]
    #[inline(never)]
    fn came_back(&self, i: usize) -> bool {
        let bit = 1u64 << i;
        let back = self.flags.fetch_and(!bit, Ordering::Relaxed) & bit != 0;
        if let (true, Some(tiers)) = (back, &self.tiers) {
            tiers.came_back(i);
        }
        back
    }

    /// Notes the breaker state a call found at endpoint `i`: under a failback policy other than
    /// `Immediate`, an endpoint whose breaker is not closed is demoted until it has recovered.
    pub(crate) fn observe_breaker(&self, i: usize, state: BreakerState) {
        if self.failback == Failback::Immediate {
            return;
        }
        match state {
            BreakerState::Open | BreakerState::HalfOpen | BreakerState::ForcedOpen => {
                let bit = 1u64 << (DEMOTED_SHIFT + i as u32);
                if self.flags.load(Ordering::Relaxed) & bit == 0 {
                    self.flags.fetch_or(bit, Ordering::Relaxed);
                }
                self.endpoints[i].healthy_since.store(0, Ordering::Relaxed);
            }
            BreakerState::Closed | BreakerState::Disabled => {}
        }
    }

    /// A success at endpoint `i`: a demoted endpoint whose breaker it closed starts its
    /// hold-down now.
    #[inline]
    pub(crate) fn succeeded<const LIVE: bool>(&self, i: usize, now: &mut LazyNow<LIVE>) {
        let e = &self.endpoints[i];
        if self.demoted() & (1 << i) != 0
            && e.breaker.state() == BreakerState::Closed
            && e.healthy_since.load(Ordering::Relaxed) == 0
        {
            let _ = e.healthy_since.compare_exchange(
                0,
                self.encode(now.get()),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// A failure at endpoint `i`: a demoted endpoint's hold-down starts again.
    pub(crate) fn failed(&self, i: usize) {
        if self.demoted() & (1 << i) != 0 {
            self.endpoints[i].healthy_since.store(0, Ordering::Relaxed);
        }
    }

    /// Ends every demotion: traffic goes by priority again.
    pub(crate) fn fail_back(&self) {
        self.flags.fetch_and(u64::from(u32::MAX), Ordering::Relaxed);
        for e in self.endpoints.iter() {
            e.healthy_since.store(0, Ordering::Relaxed);
        }
    }

    /// Ends endpoint `i`'s demotion at `now` (in tiers, its slow start begins).
    fn restore<const LIVE: bool>(&self, i: usize, now: &mut LazyNow<LIVE>) {
        self.flags
            .fetch_and(!(1u64 << (DEMOTED_SHIFT + i as u32)), Ordering::Relaxed);
        self.endpoints[i].healthy_since.store(0, Ordering::Relaxed);
        if self.tiers.is_some() {
            self.start_ramp(i, now.get());
        }
    }

    /// The head of a call among `candidates` while an endpoint ahead of every other candidate is
    /// demoted: `Some((i, trickle))` sends the call to `i` first — as a half-open probe while
    /// its breaker is not closed, or as its one trickle call (`trickle`, a slot the call must
    /// give back with [`end_trickle`](Self::end_trickle)). `None`: route by priority (the
    /// demoted endpoint goes last, or it was just restored). Restores an endpoint whose
    /// hold-down has passed.
    pub(crate) fn failback_head<const LIVE: bool>(
        &self,
        candidates: u32,
        now: &mut LazyNow<LIVE>,
    ) -> Option<(usize, bool)> {
        // Failback is about endpoints ranked above the one serving: a demotion behind it means
        // nothing any more (it would only reorder later hops), so it ends.
        // In tiers, the serving tier's own demoted endpoints keep their demotion: the policy
        // governs their return to their share of it.
        let serving = self.serving();
        let behind = !self.up_to_tier_of(serving);
        let stale = self.demoted() & behind;
        if stale != 0 {
            for i in (0..self.endpoints.len()).filter(|i| stale & (1 << i) != 0) {
                self.restore(i, now);
            }
        }
        let demoted = self.demoted() & candidates;
        let d = first(demoted)?;
        if first(candidates & !demoted).is_some_and(|n| self.tier_of(n) < self.tier_of(d)) {
            return None;
        }
        let endpoint = &self.endpoints[d];
        match endpoint.breaker.state() {
            BreakerState::ForcedOpen => None,
            BreakerState::Open | BreakerState::HalfOpen => Some((d, false)),
            BreakerState::Closed | BreakerState::Disabled => {
                let since = endpoint.healthy_since.load(Ordering::Relaxed);
                if since == 0 {
                    let _ = endpoint.healthy_since.compare_exchange(
                        0,
                        self.encode(now.get()),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                } else if let Failback::After(hold_down) = self.failback {
                    if self.since(since, now.get()) >= hold_down {
                        self.restore(d, now);
                        return None;
                    }
                }
                endpoint
                    .trickle
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                    .then_some((d, true))
            }
        }
    }

    /// Gives back the trickle slot of endpoint `i`.
    pub(crate) fn end_trickle(&self, i: usize) {
        self.endpoints[i].trickle.store(false, Ordering::Release);
    }

    /// Records that a call started at endpoint `i` (not as a probe or trickle): its tier's
    /// first endpoint serves; the previous serving endpoint if it changed.
    #[inline]
    pub(crate) fn serve(&self, i: usize) -> Option<usize> {
        let i = self.tier_head(i) as u32;
        if self.serving.load(Ordering::Relaxed) == i {
            return None;
        }
        let old = self.serving.swap(i, Ordering::Relaxed);
        (old != i).then_some(old as usize)
    }

    /// The endpoint calls go to first.
    #[inline]
    pub(crate) fn serving(&self) -> usize {
        self.serving.load(Ordering::Relaxed) as usize
    }

    /// Why endpoint `i` would not take a call at `now`, if it would not (reading its breaker's
    /// state without admitting anything).
    pub(crate) fn why_unavailable(&self, i: usize, now: Instant) -> Option<Unavailable> {
        if let Some(why) = self.kept_away(i) {
            return Some(why);
        }
        let e = &self.endpoints[i];
        if self.pushed_back(i, &mut LazyNow::fixed(now)).is_some() {
            return Some(Unavailable::PushedBack);
        }
        let snapshot = e.breaker.snapshot(now);
        let open = match snapshot.state {
            BreakerState::ForcedOpen => true,
            BreakerState::Open => snapshot.half_open_in.is_some_and(|d| !d.is_zero()),
            _ => false,
        };
        if open {
            return Some(Unavailable::BreakerOpen);
        }
        (self.demoted() & (1 << i) != 0).then_some(Unavailable::FailbackPending)
    }

    /// How long until a demoted endpoint `i` is restored by its hold-down, if known.
    pub(crate) fn hold_down_left(&self, i: usize, now: Instant) -> Option<Duration> {
        let Failback::After(hold_down) = self.failback else {
            return None;
        };
        let since = self.endpoints[i].healthy_since.load(Ordering::Relaxed);
        (since != 0).then(|| hold_down.saturating_sub(self.since(since, now)))
    }
}

#[cfg(test)]
mod tests;
