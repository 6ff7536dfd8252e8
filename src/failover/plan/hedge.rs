//! A call's hedge, as its plan decides it: whether the call may hedge, whether it does when
//! its delay has passed (the deadline, the allowance, the budget, then the next available
//! endpoint other than the first attempt's, by the one admission rule), and how the plan
//! records two attempts in flight at once.
//!
//! The plan records one attempt at a time: its *current* one (endpoint, breaker ticket, whether
//! in flight, whether it counts in its endpoint's load). A [`HedgeTicket`] holds the other attempt of a hedged call. The executor
//! [`swap`](Plan::swap)s them to record the other attempt's outcome, and swaps them for good
//! when the first attempt has failed and the call waits for the hedge (the walk then goes on
//! from the hedge's endpoint).

use std::time::Duration;

use super::{Plan, PlanEnv, available};
use crate::breaker::{BreakerState, Ticket};
use crate::budget::Withdrawal;
use crate::classify::Outcome;
use crate::clock::LazyNow;
use crate::event::{Event, OnEvent};
use crate::failover::hedge::Hedging;
use crate::failover::options::ReplayMarker;

/// The attempt of a hedged call that is not its plan's current one. See the
/// [module docs](self).
#[derive(Debug)]
pub(crate) struct HedgeTicket {
    endpoint: u8,
    ticket: Option<Ticket>,
    in_flight: bool,
    /// Whether the attempt counts in its endpoint's load (tiers only; a hedge never does).
    loaded: bool,
    /// What the hedge took from the retry budget and the allowance, until it is sent.
    taken: Option<(Withdrawal, Withdrawal)>,
}

impl HedgeTicket {
    /// The endpoint of the attempt the ticket holds.
    pub(crate) fn endpoint(&self) -> usize {
        usize::from(self.endpoint)
    }
}

impl Plan {
    /// Whether the attempt in flight may be hedged: it is the call's first, `copied` (a copy
    /// of the request was kept for another attempt), the request is not marked to be sent
    /// once, and the call may use another endpoint.
    #[inline]
    pub(crate) fn may_hedge(&self, copied: bool) -> bool {
        copied
            && self.in_flight
            && self.attempts == 0
            && self.marker != Some(ReplayMarker::Once)
            && self.candidates & !(1 << self.current) != 0
    }

    /// The hedge of the attempt in flight, `delay` after it was sent: `None` when the deadline
    /// has passed, the allowance or the retry budget holds too little, or no endpoint other
    /// than the current one is available. The hedge's endpoint counts as visited in this pass.
    pub(crate) fn hedge<H: OnEvent, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        hedging: &Hedging,
        delay: Duration,
        now: &mut LazyNow<LIVE>,
    ) -> Option<HedgeTicket> {
        if self.deadline.is_expired(now.get()) {
            return None;
        }
        let allowance = hedging.take()?;
        let Some(tokens) = env.budget.try_withdraw(&Outcome::failed()) else {
            hedging.give_back(allowance);
            return None;
        };
        let mut passed = self.tried | 1 << self.current;
        let (j, ticket) = loop {
            let Some(j) = env.router.pick(self.candidates, passed, None) else {
                env.budget.refund(tokens);
                hedging.give_back(allowance);
                return None;
            };
            passed |= 1 << j;
            if let Some(ticket) = available(env, j, now, |_, _| ()) {
                if ticket.is_probe() {
                    env.router.observe_breaker(j, BreakerState::HalfOpen);
                }
                break (j, ticket);
            }
        };
        self.tried |= 1 << j;
        let endpoints = &env.router.endpoints;
        env.hook.on_event(&Event::Hedge {
            from: &endpoints[usize::from(self.current)].name,
            to: &endpoints[j].name,
            delay,
            budget_level: env.budget.level(),
        });
        Some(HedgeTicket {
            endpoint: j as u8,
            ticket: Some(ticket),
            in_flight: false,
            loaded: false,
            taken: Some((tokens, allowance)),
        })
    }

    /// The hedge of `ticket` was sent: what it took is spent.
    pub(crate) fn hedge_sent(ticket: &mut HedgeTicket) {
        ticket.in_flight = true;
        ticket.taken = None;
    }

    /// Swaps the plan's current attempt (endpoint, breaker ticket, in flight, load) with the
    /// ticket's.
    pub(crate) fn swap(&mut self, ticket: &mut HedgeTicket) {
        std::mem::swap(&mut self.current, &mut ticket.endpoint);
        std::mem::swap(&mut self.ticket, &mut ticket.ticket);
        std::mem::swap(&mut self.in_flight, &mut ticket.in_flight);
        std::mem::swap(&mut self.loaded, &mut ticket.loaded);
    }

    /// Gives back what `ticket` holds at `now`: an attempt in flight is reported abandoned to
    /// its breaker, a permit never used gives its probe slot back, and a hedge never sent
    /// gives back what it took from the budget and the allowance.
    pub(crate) fn release_hedge<H, const LIVE: bool>(
        env: &PlanEnv<'_, H>,
        hedging: Option<&Hedging>,
        ticket: HedgeTicket,
        now: &LazyNow<LIVE>,
    ) {
        let HedgeTicket {
            endpoint,
            ticket,
            in_flight,
            loaded,
            taken,
        } = ticket;
        let j = usize::from(endpoint);
        if let Some(ticket) = ticket {
            let permit = env.permit(j, ticket);
            if in_flight {
                permit.abandon(now.breaker_clock());
            }
        }
        if loaded {
            if let Some(tiers) = &env.router.tiers {
                tiers.ended(j);
            }
        }
        if let Some((tokens, allowance)) = taken {
            env.budget.refund(tokens);
            if let Some(hedging) = hedging {
                hedging.give_back(allowance);
            }
        }
    }

    /// The attempt of the ticket was not sent (its service did not get ready): what it took
    /// goes back.
    pub(crate) fn hedge_not_sent<H>(
        env: &PlanEnv<'_, H>,
        hedging: &Hedging,
        ticket: &mut HedgeTicket,
    ) {
        if let Some((tokens, allowance)) = ticket.taken.take() {
            env.budget.refund(tokens);
            hedging.give_back(allowance);
        }
    }
}

impl Plan {
    /// The endpoint of the current attempt.
    #[inline]
    pub(crate) fn current(&self) -> usize {
        usize::from(self.current)
    }

    /// Whether the request may be sent again while its first copy may still be applied: the
    /// replay rule after a failure whose effect is unknown (a timeout), so that a hedge is
    /// never sent where a retry after a timeout would not be. A request marked
    /// [`Always`](ReplayMarker::Always) may, one marked [`Once`](ReplayMarker::Once) may not,
    /// and `ask` (the replay hook, asked about the copy) decides for any other.
    pub(crate) fn may_send_twice(&self, ask: impl FnOnce(&Outcome) -> bool) -> bool {
        match self.marker {
            Some(ReplayMarker::Always) => true,
            Some(ReplayMarker::Once) => false,
            None => ask(&Outcome::timeout()),
        }
    }
}
