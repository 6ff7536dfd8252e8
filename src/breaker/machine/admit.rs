//! Admission: closed, open, half-open with its probe slots.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::breaker::config::{HalfOpenDecision, MAX_PROBES};
use crate::breaker::machine::{SLACK, StateMachine, rejected_for};
use crate::breaker::packed::Probes;
use crate::breaker::shards::my_shard;
use crate::breaker::state::{BreakerState, Rejected, TransitionReason};
use crate::breaker::ticket::{Ticket, TicketKind};
use crate::deadline::Now;
use crate::now::ReadOnce;

impl StateMachine {
    /// Admits a call, or says why not. Closed, `now` is read only to time the call (slow-call
    /// tracking on, and `timed`); open, only its cheap reading is, until the end of the open
    /// period is near.
    #[inline(always)]
    pub(crate) fn acquire(&self, now: impl Now, timed: bool) -> Result<Ticket, Rejected> {
        let (generation, state) = self.state();
        if state == BreakerState::Closed && !(timed && self.times_calls()) {
            return Ok(Ticket::new(generation, TicketKind::Closed));
        }
        self.acquire_other(now, timed)
    }

    /// Every other admission, the cheap open path first; rejections are counted.
    #[inline(never)]
    pub(super) fn acquire_other(&self, now: impl Now, timed: bool) -> Result<Ticket, Rejected> {
        let admitted = self.admit_other(now, timed);
        if admitted.is_err() {
            // A load and a store, not a read-modify-write: the counter is the calling thread's
            // (no lock prefix on the rejecting path). Two threads sharing a shard (more than
            // `SHARDS` threads) may lose a count when they reject at the same instant.
            let rejected = &self.shards[my_shard()].0.rejected;
            rejected.store(
                rejected.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
        }
        admitted
    }

    #[inline(always)]
    pub(super) fn admit_other(&self, now: impl Now, timed: bool) -> Result<Ticket, Rejected> {
        let (generation, state) = self.state();
        match state {
            BreakerState::Disabled => Ok(Ticket::new(generation, TicketKind::Unrecorded)),
            BreakerState::ForcedOpen => Err(Rejected { retry_in: None }),
            BreakerState::Open => {
                // The cheap open path: far from the end of the open period, an estimate of the
                // time decides, and the rejection touches nothing but two loads.
                if let Some(t) = self.recent_nanos(&now) {
                    let at = self.half_open_at.load(Ordering::Acquire);
                    if t.saturating_add(SLACK) < at {
                        return Err(rejected_for(at - t));
                    }
                }
                self.acquire_slow(ReadOnce::new(now), timed)
            }
            BreakerState::Closed | BreakerState::HalfOpen => {
                self.acquire_slow(ReadOnce::new(now), timed)
            }
        }
    }

    #[cold]
    pub(super) fn acquire_slow<N: Now>(
        &self,
        mut now: ReadOnce<N>,
        timed: bool,
    ) -> Result<Ticket, Rejected> {
        // A few rounds at most: each one follows a transition.
        loop {
            let (generation, state) = self.state();
            match state {
                BreakerState::Closed => {
                    return Ok(Ticket {
                        started: self.start(timed, &mut now),
                        ..Ticket::new(generation, TicketKind::Closed)
                    });
                }
                BreakerState::Disabled => {
                    return Ok(Ticket::new(generation, TicketKind::Unrecorded));
                }
                BreakerState::ForcedOpen => return Err(Rejected { retry_in: None }),
                BreakerState::Open => {
                    let at = self.half_open_at.load(Ordering::Acquire);
                    let t = self.nanos(now.read());
                    if t < at {
                        return Err(rejected_for(at - t));
                    }
                    self.transition(
                        generation,
                        BreakerState::HalfOpen,
                        TransitionReason::OpenElapsed,
                        &mut now,
                    );
                }
                BreakerState::HalfOpen => {
                    if self.waited_too_long(&mut now) {
                        self.transition(
                            generation,
                            self.config.after_half_open_max_wait,
                            TransitionReason::ProbeTimeout,
                            &mut now,
                        );
                        continue;
                    }
                    let ticket = match self.take_probe(generation, false) {
                        Some(ticket) => ticket,
                        None if self.probes_complete(generation) => {
                            self.decide_probes(generation, &mut now);
                            continue;
                        }
                        None => self.renew_probe(generation, &mut now)?,
                    };
                    if let Some(renewal) = self.probe_renewal {
                        let t = self.nanos(now.read());
                        self.probe_renew_at
                            .store(t.saturating_add(renewal), Ordering::Release);
                    }
                    return Ok(Ticket {
                        started: self.start(timed, &mut now),
                        ..ticket
                    });
                }
            }
        }
    }

    /// Whether the half-open period has outlasted its maximum wait by `now`.
    pub(super) fn waited_too_long(&self, now: &mut ReadOnce<impl Now>) -> bool {
        let Some(max_wait) = self.half_open_max_wait else {
            return false;
        };
        let since = self.half_open_since.load(Ordering::Acquire);
        let surely_in_time = self
            .recent_nanos(&&mut *now)
            .is_some_and(|t| t.saturating_sub(since).saturating_add(SLACK) <= max_wait);
        !surely_in_time && self.nanos(now.read()).saturating_sub(since) > max_wait
    }

    /// Every probe slot is taken: grants one more if the newest probe has been in flight longer
    /// than the probe renewal, or rejects with the time until a call can be admitted without a
    /// probe finishing, if known.
    #[cold]
    pub(super) fn renew_probe(
        &self,
        generation: u64,
        now: &mut ReadOnce<impl Now>,
    ) -> Result<Ticket, Rejected> {
        let t = self.cheap_nanos(now);
        if let Some(due) = self.renewal_due() {
            let t = self.nanos(now.read());
            if t >= due
                && self
                    .probe_renew_at
                    .compare_exchange(due, u64::MAX, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                if let Some(ticket) = self.take_probe(generation, true) {
                    return Ok(ticket);
                }
            }
        }
        Err(Rejected {
            retry_in: self.slot_free_in(t),
        })
    }

    /// Probe renewal on: when one more probe may be granted, once a probe has been admitted
    /// this period (`u64::MAX` before, or while a renewal is under way).
    pub(super) fn renewal_due(&self) -> Option<u64> {
        self.probe_renewal
            .map(|_| self.probe_renew_at.load(Ordering::Acquire))
            .filter(|&due| due != u64::MAX)
    }

    /// Half-open with every probe slot taken: how long after `t` a call is admitted without a
    /// probe finishing, the sooner of a probe renewal and the end of a maximum wait that
    /// closes the breaker (the end of one that opens it admits nothing).
    pub(super) fn slot_free_in(&self, t: u64) -> Option<Duration> {
        let timeout = self
            .half_open_max_wait
            .filter(|_| self.config.after_half_open_max_wait == BreakerState::Closed)
            .map(|wait| {
                self.half_open_since
                    .load(Ordering::Acquire)
                    .saturating_add(wait)
                    .saturating_add(1)
            });
        let next = match (self.renewal_due(), timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|at| Duration::from_nanos(at.saturating_sub(t)))
    }

    /// Takes a probe slot, if one is free (`renewed`: whatever the limit on probes at once).
    pub(super) fn take_probe(&self, generation: u64, renewed: bool) -> Option<Ticket> {
        let c = &self.config;
        Probes::update(&self.probes, generation, |p| {
            let free = match c.half_open_decision {
                HalfOpenDecision::Counts => p.in_flight < c.probes,
                HalfOpenDecision::Rates => p.admitted() < c.probes,
            };
            ((free || renewed) && p.in_flight < MAX_PROBES).then_some(Probes {
                in_flight: p.in_flight + 1,
                ..p
            })
        })
        .map(|_| Ticket::new(generation, TicketKind::Probe))
    }

    /// Starts timing an admitted call now, if calls are timed (for admissions made before the
    /// call itself, such as the layer's in `poll_ready`).
    pub(crate) fn begin(&self, ticket: &mut Ticket, now: impl Now) {
        if ticket.kind() != TicketKind::Unrecorded {
            ticket.started = self.start(true, now);
        }
    }

    /// Gives back the probe slot of a ticket that was never used (every permit's drop asks:
    /// the check is inline, the giving back is not).
    #[inline]
    pub(crate) fn release(&self, ticket: Ticket) {
        if ticket.kind() == TicketKind::Probe {
            self.release_probe(ticket);
        }
    }

    /// Gives back the probe slot of a probe's ticket that was never used.
    #[inline(never)]
    fn release_probe(&self, ticket: Ticket) {
        // Deciding by rates, a renewed probe given back may leave a complete set: the next
        // admission decides it.
        Probes::update(&self.probes, ticket.generation(), |p| {
            (p.in_flight > 0).then_some(Probes {
                in_flight: p.in_flight - 1,
                ..p
            })
        });
    }
}
