//! The failover's decisions for one call, pure: which endpoint next, whether to retry here or
//! hop, when to sleep before a recover pass, when to stop and why, and what each step tells the
//! shared routing state (failover and failback).
//!
//! A [`Plan`] holds a call's walk — the endpoints tried in this pass, the attempts so far, the
//! recover schedule's cursor, the permit of the endpoint admitted, the budget's withdrawal — and
//! answers each step with an [`Action`]: send to endpoint *i* (its permit held here), sleep
//! until an instant, or stop with a reason. It reads no clock (each step is given its
//! [`LazyNow`]), runs no service, and knows neither the request nor the response types: the
//! call's future (the executor, [`super::future`]) readies and calls the endpoint's service,
//! asks the replay hook, classifies the result, and carries out what the plan returns. So
//! every rule of the walk is written once, here, and can be driven without a runtime.
//!
//! The answer to "why did this call go to us-west-1?" is in this file: [`Plan::start`] routes
//! the call, [`Plan::after_failure`] chooses between a retry here, a hop and the end of the
//! pass, and [`Plan::admit`] is the one admission rule (routing control and health, push-back,
//! the breaker, the budget) for every attempt, the first one to a healthy primary included.
//!
//! # The usual route
//!
//! A call to a healthy primary is the case the failover is built to make cheap, so the plan
//! keeps it short without a rule of its own: its first step is the first branch of
//! [`Plan::start`] (nothing pinned, nothing demoted: the pass starts at the primary) followed
//! by [`Plan::admit`], and a success is recorded by [`Plan::finish`] before any of the
//! failure's bookkeeping. The plan's own fields are what such a call needs; everything that
//! only a call off the usual route needs (a failure, a skipped endpoint, a failback probe or
//! trickle call, a recover pass) waits in a [`Detour`], allocated on first need.

use std::time::{Duration, Instant};

use super::Settings;
use super::options::{CallOptions, ReplayMarker};
use super::router::{Router, Unavailable, all};
use super::spread::Draw;
use crate::backoff::Cursor;
use crate::breaker::{BreakerState, CircuitBreaker, Permit, Ticket};
use crate::budget::{RetryBudget, Withdrawal};
use crate::classify::{BreakerEffect, Outcome, TransientKind};
use crate::clock::LazyNow;
use crate::deadline::Deadline;
use crate::error::AttemptRecord;
use crate::event::{Event, GiveUpReason, Layer, OnEvent};
use crate::stopwatch::Lap;

/// What a plan consults at each step: the state every call of one failover shares.
pub(crate) struct PlanEnv<'a, H> {
    /// The routing state: endpoints, breakers, flags. Whoever drives the plan keeps it alive
    /// for the whole call (the plan holds its breakers' tickets, not references to them).
    pub(crate) router: &'a Router,
    pub(crate) budget: &'a RetryBudget,
    pub(crate) settings: &'a Settings,
    pub(crate) hook: &'a H,
}

impl<H> PlanEnv<'_, H> {
    /// The permit of `ticket`, from endpoint `j`'s breaker.
    #[inline(always)]
    fn permit(&self, j: usize, ticket: Ticket) -> Permit<&CircuitBreaker> {
        Permit::resume(&self.router.endpoints[j].breaker, ticket)
    }

    /// Whether a call over `candidates` may send its request more than once: its bound on
    /// attempts is above one, and it is not marked to be sent once.
    #[inline]
    fn may_repeat(&self, candidates: u32, marker: Option<ReplayMarker>) -> bool {
        // More than one endpoint, or more than one attempt per endpoint over every pass.
        (candidates & candidates.wrapping_sub(1) != 0 || self.settings.per_endpoint_bound() > 1)
            && marker != Some(ReplayMarker::Once)
    }
}

/// What the call does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Endpoint `i` admitted the attempt (the plan holds its permit): ready its service and
    /// send.
    Send(usize),
    /// Sleep until this instant, then [`resume`](Plan::resume).
    Sleep(Instant),
    /// No further attempt: [`give_up`](Plan::give_up) for this reason.
    Stop(GiveUpReason),
}

/// What a finished attempt settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The call's result: return it (a success, or a failure that is not retried).
    Final,
    /// A retryable failure: keep its result as the last one, and ask
    /// [`after_failure`](Plan::after_failure) what follows.
    Failed,
}

/// What a call that stopped hands its caller besides its last result.
#[derive(Debug)]
pub(crate) struct Stopped {
    /// Every attempt that failed, in order.
    pub(crate) records: Vec<AttemptRecord>,
    /// The earliest an endpoint skipped in the last pass becomes available, if known.
    pub(crate) retry_in: Option<Duration>,
}

/// The part of a call's plan that only a call off the usual route needs — one that failed,
/// skipped an endpoint, or went first to a demoted endpoint (its failback probe or trickle
/// call) — allocated then. It keeps the plan of a call to a healthy primary small: that call
/// builds, moves and drops only [`Plan`]'s own fields.
#[derive(Debug)]
struct Detour {
    /// The recover pass the call is in (1 for the first pass).
    pass: u32,
    /// Attempts made before this pass: an end of pass with no more made admitted nothing.
    attempts_before_pass: u32,
    /// The outcome of the last failure.
    last: Option<Outcome>,
    /// Every failed attempt, for the caller's error.
    records: Vec<AttemptRecord>,
    /// The earliest an endpoint skipped in this pass becomes available, if known.
    retry_in: Option<Duration>,
    /// Why the serving endpoint was skipped, when this call skipped it.
    serving_skipped: Option<Unavailable>,
    /// The recover schedule's cursor, from the first recover pass.
    cursor: Option<Cursor>,
    /// The demoted endpoint this call goes to first (as its probe, or its trickle call), until
    /// its attempt there is over.
    failback_head: Option<u8>,
    /// The endpoint whose trickle slot this call holds.
    trickle: Option<u8>,
    /// Tokens withdrawn for the attempt admitted, until it is sent.
    pending: Option<Withdrawal>,
    /// Tokens withdrawn for the last attempt sent: a success gives them back.
    spent: Option<Withdrawal>,
}

impl Detour {
    fn new() -> Self {
        Detour {
            pass: 1,
            attempts_before_pass: 0,
            last: None,
            records: Vec::new(),
            retry_in: None,
            serving_skipped: None,
            cursor: None,
            failback_head: None,
            trickle: None,
            pending: None,
            spent: None,
        }
    }
}

/// One call's walk over the endpoints. See the [module docs](self).
///
/// Its own fields are what every call needs; the rest waits in a [`Detour`], allocated only
/// when the call leaves the usual route.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The instant of the call, if it was read: the deadline and elapsed times count from it.
    start: Option<Instant>,
    deadline: Deadline,
    /// The seed of the recover schedule's jitter, until the first recover pass needs its
    /// cursor.
    seed: u64,
    /// The current endpoint's admission: its breaker's ticket, given back to that breaker
    /// (through the router) when the attempt is recorded, abandoned or not made. A call holds
    /// no reference of its own on the breaker: its driver keeps the router alive.
    ticket: Option<Ticket>,
    /// What only a call off the usual route needs.
    detour: Option<Box<Detour>>,
    /// The endpoints this call may use (all, or the pinned one; none for an unknown name).
    candidates: u32,
    /// The endpoints visited in this pass.
    tried: u32,
    /// Attempts made (sent, or not sent because the endpoint was not ready).
    attempts: u32,
    /// Attempts at the current endpoint in this pass (0 at a pass's start).
    attempts_here: u32,
    /// The endpoint of the current (or last) attempt.
    current: u8,
    /// The request's own word on being sent again.
    marker: Option<ReplayMarker>,
    /// Whether the request named its endpoint.
    pinned: bool,
    /// Whether the request has been sent (so further attempts need the replay hook's leave).
    sent: bool,
    /// Whether the current attempt has been sent and has no outcome yet.
    in_flight: bool,
    /// Whether the current attempt counts in its endpoint's load (tiers only).
    loaded: bool,
    /// The request's key, for a spread by key.
    key: Option<u64>,
}

/// Whether endpoint `j` takes an attempt now, by the one admission rule: routing control and
/// health, then push-back, then its breaker. Its permit, or `None` after telling `unavailable`
/// why not (and for how long, if known). Its breaker's ticket, given back through the router.
/// The routing state learns what a rejecting breaker
/// said; the caller notes a probe.
#[inline(always)]
fn available<H, const LIVE: bool>(
    env: &PlanEnv<'_, H>,
    j: usize,
    now: &mut LazyNow<LIVE>,
    unavailable: impl FnOnce(Unavailable, Option<Duration>),
) -> Option<Ticket> {
    let router = env.router;
    if let Some(why) = router.kept_away(j) {
        unavailable(why, None);
        return None;
    }
    if let Some(left) = router.pushed_back(j, now) {
        unavailable(Unavailable::PushedBack, Some(left));
        return None;
    }
    let ticket = match router.endpoints[j]
        .breaker
        .acquire_ticket(now.breaker_clock())
    {
        Ok(ticket) => ticket,
        Err(rejected) => {
            router.observe_breaker(j, router.endpoints[j].breaker.state());
            unavailable(Unavailable::BreakerOpen, rejected.retry_in);
            return None;
        }
    };
    Some(ticket)
}

impl Plan {
    /// The plan of a call over `endpoints` endpoints made at `start` (if the clock was read),
    /// jittering its recover sleeps from `seed`.
    #[inline]
    pub(crate) fn new(endpoints: usize, start: Option<Instant>, seed: u64) -> Self {
        Plan {
            start,
            deadline: Deadline::none(),
            seed,
            ticket: None,
            detour: None,
            candidates: all(endpoints),
            tried: 0,
            attempts: 0,
            attempts_here: 0,
            current: 0,
            marker: None,
            pinned: false,
            sent: false,
            in_flight: false,
            loaded: false,
            key: None,
        }
    }

    /// The call's deadline.
    #[inline]
    pub(crate) fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// What only a call off the usual route needs, allocated on first need.
    fn detour(&mut self) -> &mut Detour {
        self.detour.get_or_insert_with(|| Box::new(Detour::new()))
    }

    /// The outcome of the last failure, if any.
    fn last(&self) -> Option<Outcome> {
        self.detour.as_ref().and_then(|d| d.last)
    }

    /// The demoted endpoint this call goes to first, until its attempt there is over.
    #[inline]
    fn failback_head(&self) -> Option<usize> {
        self.detour
            .as_ref()
            .and_then(|d| d.failback_head)
            .map(usize::from)
    }

    /// Whether this call holds endpoint `j`'s trickle slot.
    #[inline]
    fn holds_trickle(&self, j: usize) -> bool {
        self.detour
            .as_ref()
            .is_some_and(|d| d.trickle.map(usize::from) == Some(j))
    }

    /// Attempts made so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The recover pass the call is in (1 for the first pass).
    pub(crate) fn pass(&self) -> u32 {
        self.detour.as_ref().map_or(1, |d| d.pass)
    }

    /// Whether the call has stayed on the usual route so far: nothing failed or skipped, no
    /// failback head (so nothing was allocated for it).
    pub(crate) fn on_usual_route(&self) -> bool {
        self.detour.is_none()
    }

    /// Routes the call with the request's `options`: its deadline (the earlier of the
    /// configured one and its own, from the call), its replay marker, its pinned endpoint. Then
    /// the first endpoint of the first pass.
    ///
    /// A healthy primary takes the first branch of every step here: nothing is pinned or
    /// demoted (no failback head to find), so the pass starts at the primary, and
    /// [`admit`](Self::admit) lets it through.
    #[inline(always)]
    pub(crate) fn start<H: OnEvent, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        options: CallOptions<'_>,
        now: &mut LazyNow<LIVE>,
    ) -> Action {
        self.marker = options.replay;
        if env.settings.deadline.is_some() || options.deadline.is_some() {
            let start = *self.start.get_or_insert_with(|| now.get());
            let after =
                |d: Option<Duration>| d.map_or(Deadline::none(), |d| Deadline::after(start, d));
            self.deadline = after(env.settings.deadline).min(after(options.deadline));
        }
        if let Some(name) = options.endpoint {
            self.pinned = true;
            self.candidates = env.router.index(name).map_or(0, |i| 1 << i);
            if self.candidates == 0 {
                return Action::Stop(GiveUpReason::NoEndpointAvailable);
            }
        } else if env.router.demoted() != 0 {
            self.find_failback_head(env, options.key, now);
        } else if env.router.tiers.is_some() {
            // Active-active: the tier's spread picks the first endpoint (with the key).
            self.key = options.key;
        } else {
            // The usual route: nothing demoted, nothing tried, every endpoint a candidate, so
            // the pass starts at the primary (what `pick` answers then), whose index is known
            // here.
            self.tried = 1;
            if let Some(action) = self.admit(env, 0, now) {
                return action;
            }
        }
        self.next_in_pass(env, now)
    }

    /// An endpoint is waiting for failback: the call may be its probe or its trickle call,
    /// sent there first.
    #[inline(never)]
    fn find_failback_head<H, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        key: Option<u64>,
        now: &mut LazyNow<LIVE>,
    ) {
        self.key = key;
        if let Some((i, trickle)) = env.router.failback_head(self.candidates, now) {
            let i = i as u8;
            let detour = self.detour();
            detour.failback_head = Some(i);
            detour.trickle = trickle.then_some(i);
        }
    }

    /// What follows a recover sleep: the pass it started.
    pub(crate) fn resume<H: OnEvent, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        now: &mut LazyNow<LIVE>,
    ) -> Action {
        self.next_in_pass(env, now)
    }

    /// The attempt admitted is being sent: true when the request must be copied first, because
    /// another attempt may follow.
    #[inline]
    pub(crate) fn sending<H>(&mut self, env: &PlanEnv<'_, H>) -> bool {
        let more = self.sent || env.may_repeat(self.candidates, self.marker);
        self.sent = true;
        self.in_flight = true;
        if let Some(detour) = self.detour.as_deref_mut() {
            if let Some(w) = detour.pending.take() {
                detour.spent = Some(w);
            }
        }
        more
    }

    /// The attempt admitted was never sent (its endpoint did not get ready, or the call
    /// stopped): the tokens withdrawn for it go back.
    #[inline]
    pub(crate) fn not_sent<H>(&mut self, env: &PlanEnv<'_, H>) {
        if let Some(w) = self.detour.as_mut().and_then(|d| d.pending.take()) {
            env.budget.refund(w);
        }
    }

    /// Records the current attempt's `outcome`: its event, its breaker, the budget, the routing
    /// state (push-back, failback hold-down). `lap` is how long the attempt and the call took,
    /// as the executor measured them for a hook that asks (see [`OnEvent::timed`]).
    #[inline(always)]
    pub(crate) fn finish<H: OnEvent, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        outcome: Outcome,
        lap: Lap,
        now: &mut LazyNow<LIVE>,
    ) -> Verdict {
        let router = env.router;
        let j = usize::from(self.current);
        self.attempts = self.attempts.saturating_add(1);
        self.in_flight = false;
        env.hook.on_event(&Event::Attempt {
            // `get`, not indexing: a hook that ignores the name costs no bounds check.
            endpoint: router.endpoints.get(j).map(|e| &*e.name),
            attempt: self.attempts,
            outcome,
            elapsed: lap.attempt,
        });
        if let Some(ticket) = self.ticket.take() {
            env.permit(j, ticket).record(&outcome, now.breaker_clock());
            if self.loaded {
                self.unload(env);
            }
        }
        let mut spent = None;
        if let Some(detour) = self.detour.as_deref_mut() {
            // The call's probe or trickle attempt is over: its later attempts route as any
            // call's (so a recover pass does not go back to the demoted endpoint first without
            // the slot).
            if detour.failback_head == Some(self.current) {
                detour.failback_head = None;
            }
            if detour.trickle == Some(self.current) {
                detour.trickle = None;
                router.end_trickle(j);
            }
            if outcome.is_success() {
                spent = detour.spent.take();
            }
        }
        if outcome.is_success() {
            env.budget.on_success(spent);
            router.succeeded(j, now);
        }
        if !outcome.is_retryable() {
            self.finished(env, Some(outcome), lap.call);
            return Verdict::Final;
        }
        let endpoint = &router.endpoints[j];
        if outcome.breaker_effect() == BreakerEffect::Failure {
            router.failed(j);
            router.observe_breaker(j, endpoint.breaker.state());
        }
        let at = now.get();
        if let Some(hint) = outcome.retry_after() {
            router.push_back(j, at, hint.min(env.settings.retry_after_cap));
        }
        let start = *self.start.get_or_insert(at);
        let detour = self.detour();
        detour.records.push(AttemptRecord {
            endpoint: endpoint.name.clone(),
            outcome,
            elapsed: at.saturating_duration_since(start),
        });
        detour.last = Some(outcome);
        Verdict::Failed
    }

    /// What follows the failure just recorded: another attempt here, the next endpoint of the
    /// pass, a recover sleep, or a stop. `copy` is the request's copy, if one was kept, as a
    /// question to the replay hook: may it be sent again after this outcome?
    pub(crate) fn after_failure<H: OnEvent, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        copy: Option<impl FnOnce(&Outcome) -> bool>,
        now: &mut LazyNow<LIVE>,
    ) -> Action {
        let Some(last) = self.last() else {
            unreachable!("a failure was recorded")
        };
        if self.sent {
            let allowed = match (copy, self.marker) {
                (None, _) | (_, Some(ReplayMarker::Once)) => false,
                (Some(_), Some(ReplayMarker::Always)) => true,
                (Some(ask), None) => ask(&last),
            };
            if !allowed {
                // No copy was kept when no further attempt was possible at all.
                let none_possible = self.marker != Some(ReplayMarker::Once)
                    && !env.may_repeat(self.candidates, self.marker);
                return Action::Stop(if none_possible {
                    GiveUpReason::RetriesExhausted
                } else {
                    GiveUpReason::NotReplayable
                });
            }
        }
        let again = self.attempts_here < env.settings.attempts_per_endpoint
            && last.transient_kind() != Some(TransientKind::Throttled);
        if again {
            if let Some(action) = self.admit(env, usize::from(self.current), now) {
                self.load(env, action);
                return action;
            }
        }
        self.next_in_pass(env, now)
    }

    /// The next endpoint of this pass that admits the call, or what follows the pass.
    #[inline(always)]
    fn next_in_pass<H: OnEvent, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        now: &mut LazyNow<LIVE>,
    ) -> Action {
        loop {
            let draw = Draw {
                seq: self.seed,
                key: self.key,
            };
            let Some(j) =
                env.router
                    .next(self.candidates, self.tried, self.failback_head(), draw, now)
            else {
                return self.end_of_pass(env, now);
            };
            self.tried |= 1 << j;
            if let Some(action) = self.admit(env, j, now) {
                self.load(env, action);
                return action;
            }
        }
    }

    /// Every endpoint of the pass was tried or skipped: sleep before the next pass, or stop.
    #[inline(never)]
    fn end_of_pass<H: OnEvent, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        now: &mut LazyNow<LIVE>,
    ) -> Action {
        let (attempts, seed, sent, deadline) = (self.attempts, self.seed, self.sent, self.deadline);
        let recover = &env.settings.recover;
        let detour = self.detour();
        let nothing_admitted = attempts == detour.attempts_before_pass;
        let cursor = detour.cursor.get_or_insert_with(|| recover.cursor(seed));
        let Some(delay) = recover.next_delay(cursor) else {
            return Action::Stop(if nothing_admitted {
                GiveUpReason::NoEndpointAvailable
            } else {
                GiveUpReason::RetriesExhausted
            });
        };
        let at = now.get();
        let sleep = if nothing_admitted {
            // Wait for the earliest endpoint if it comes within the delay and the deadline.
            match detour.retry_in {
                Some(wait) if wait <= delay && deadline.fits_after(at, wait) => wait,
                _ => return Action::Stop(GiveUpReason::NoEndpointAvailable),
            }
        } else {
            if !deadline.fits_after(at, delay) {
                return Action::Stop(GiveUpReason::Deadline);
            }
            if let (Some(outcome), Some(level)) = (detour.last, env.budget.level()) {
                if sent && level < env.budget.cost_after(&outcome) {
                    return Action::Stop(GiveUpReason::BudgetExhausted);
                }
            }
            delay
        };
        let Some(until) = at.checked_add(sleep) else {
            return Action::Stop(GiveUpReason::DelayOutOfRange);
        };
        detour.pass = detour.pass.saturating_add(1);
        detour.attempts_before_pass = attempts;
        detour.retry_in = None;
        let pass = detour.pass;
        self.tried = 0;
        self.attempts_here = 0;
        env.hook
            .on_event(&Event::RecoverPass { pass, delay: sleep });
        Action::Sleep(until)
    }

    /// Whether the deadline has passed: at the call's first admission as of the call (a
    /// request's own zero deadline; the call's first step reads no clock for it), later as of
    /// `now`. The clock is read only with a deadline.
    #[inline]
    fn out_of_time<const LIVE: bool>(&self, now: &mut LazyNow<LIVE>) -> bool {
        let Some(deadline) = self.deadline.instant() else {
            return false;
        };
        match self.start {
            Some(start) if self.attempts == 0 && self.pass() == 1 => deadline <= start,
            _ => self.deadline.is_expired(now.get()),
        }
    }

    /// The one admission rule, for every attempt: `None` if endpoint `j` is unavailable (it is
    /// skipped, and the routing state learns why), else [`Action::Send`] with its permit held,
    /// or a stop when the deadline has passed or the budget cannot pay for the attempt.
    #[inline(always)]
    fn admit<H: OnEvent, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        j: usize,
        now: &mut LazyNow<LIVE>,
    ) -> Option<Action> {
        // Never an attempt once the deadline has passed.
        if self.out_of_time(now) {
            return Some(Action::Stop(GiveUpReason::Deadline));
        }
        let ticket = available(env, j, now, |why, left| self.skip(env, j, why, left))?;
        let probe = ticket.is_probe();
        if probe {
            env.router.observe_breaker(j, BreakerState::HalfOpen);
        }
        if self.sent {
            let Some(outcome) = self.last() else {
                unreachable!("a request is sent again only after a failure")
            };
            match env.budget.try_withdraw(&outcome) {
                Some(w) => self.detour().pending = Some(w),
                None => {
                    // Not made: a probe slot goes back.
                    drop(env.permit(j, ticket));
                    return Some(Action::Stop(GiveUpReason::BudgetExhausted));
                }
            }
        }
        self.note_admission(env, j, probe);
        self.ticket = Some(ticket);
        Some(Action::Send(j))
    }

    /// Endpoint `j` admitted the call's next attempt (`probe`: as a half-open probe): the
    /// events and routing changes that follow.
    #[inline(always)]
    fn note_admission<H: OnEvent>(&mut self, env: &PlanEnv<'_, H>, j: usize, probe: bool) {
        let router = env.router;
        let endpoint = &router.endpoints[j];
        // A probe is not the endpoint taking traffic again: its breaker closing is.
        if !probe && router.mark_available(j) {
            env.hook.on_event(&Event::EndpointAvailable {
                endpoint: &endpoint.name,
            });
        }
        if self.attempts_here == 0 {
            // The first attempt of a pass: the call's first, or a recover pass's.
            self.attempts_here = 1;
        } else {
            self.retry_or_hop(env, j);
        }
        // The first endpoint a call is admitted to, other than as a probe or the trickle, is the
        // one calls go to first: the serving endpoint. Usually it already is (one compare).
        if router.serving() != j
            && router.serving() != router.tier_head(j)
            && self.attempts == 0
            && !self.pinned
            && !probe
            && !self.holds_trickle(j)
        {
            self.serve(env, j);
        }
        self.current = j as u8;
    }

    /// Endpoint `j` admitted an attempt that follows another in this pass: a retry where the
    /// last one was, or a hop from there.
    #[inline(never)]
    fn retry_or_hop<H: OnEvent>(&mut self, env: &PlanEnv<'_, H>, j: usize) {
        let router = env.router;
        let previous = usize::from(self.current);
        let attempt = self.attempts.saturating_add(1);
        let budget_level = env.budget.level();
        let to = &router.endpoints[j].name;
        if previous == j {
            self.attempts_here += 1;
            env.hook.on_event(&Event::Retry {
                endpoint: Some(to),
                attempt,
                delay: Duration::ZERO,
                budget_level,
            });
        } else {
            self.attempts_here = 1;
            env.hook.on_event(&Event::Hop {
                from: &router.endpoints[previous].name,
                to,
                attempt,
                budget_level,
            });
        }
    }

    /// The call moves the serving endpoint to `j`: it failed over, or failed back.
    #[inline(never)]
    fn serve<H: OnEvent>(&self, env: &PlanEnv<'_, H>, j: usize) {
        let router = env.router;
        if let Some(old) = router.serve(j) {
            let new = router.tier_head(j);
            let from = &router.endpoints[old].name;
            let to = &router.endpoints[new].name;
            env.hook.on_event(&if new > old {
                Event::FailedOver {
                    from,
                    to,
                    reason: self.detour.as_ref().and_then(|d| d.serving_skipped),
                }
            } else {
                Event::FailedBack { from, to }
            });
        }
    }

    /// Endpoint `j` was skipped as unavailable for `reason`, for `retry_in` if known.
    #[inline(never)]
    fn skip<H: OnEvent>(
        &mut self,
        env: &PlanEnv<'_, H>,
        j: usize,
        reason: Unavailable,
        retry_in: Option<Duration>,
    ) {
        let router = env.router;
        let detour = self.detour();
        if let Some(r) = retry_in {
            detour.retry_in = Some(detour.retry_in.map_or(r, |e| e.min(r)));
        }
        if detour.trickle.map(usize::from) == Some(j) {
            detour.trickle = None;
            router.end_trickle(j);
        }
        if j == router.serving() {
            detour.serving_skipped = Some(reason);
        }
        if router.mark_unavailable(j) {
            env.hook.on_event(&Event::EndpointUnavailable {
                endpoint: &router.endpoints[j].name,
                reason,
            });
        }
    }

    /// The deadline cut the current attempt (`outcome`: timed out, or not sent): records it
    /// for the endpoint; the call ends with `DeadlineExceeded`.
    pub(crate) fn cut_by_deadline<H: OnEvent, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        outcome: Outcome,
        lap: Lap,
        now: &mut LazyNow<LIVE>,
    ) {
        self.not_sent(env);
        self.attempts = self.attempts.saturating_add(1);
        self.in_flight = false;
        self.unload(env);
        let current = usize::from(self.current);
        let endpoint = &*env.router.endpoints[current].name;
        if let Some(ticket) = self.ticket.take() {
            env.permit(current, ticket)
                .record(&outcome, now.breaker_clock());
        }
        env.hook.on_event(&Event::Attempt {
            endpoint: Some(endpoint),
            attempt: self.attempts,
            outcome,
            elapsed: lap.attempt,
        });
        env.hook.on_event(&Event::DeadlineExceeded {
            endpoint: Some(endpoint),
            attempt: self.attempts,
        });
        self.finished(env, Some(outcome), lap.call);
    }

    /// The end of a call that makes no further attempt, for `reason`: gives back what it
    /// holds, reports it, and hands over the attempts' records.
    pub(crate) fn give_up<H: OnEvent>(
        &mut self,
        env: &PlanEnv<'_, H>,
        reason: GiveUpReason,
        elapsed: Option<Duration>,
    ) -> Stopped {
        self.not_sent(env);
        if let Some(ticket) = self.ticket.take() {
            // Not made: a probe slot goes back.
            drop(env.permit(usize::from(self.current), ticket));
        }
        self.unload(env);
        self.end_trickle(env);
        env.hook.on_event(&Event::GaveUp {
            endpoint: (self.attempts > 0)
                .then(|| &*env.router.endpoints[usize::from(self.current)].name),
            attempts: self.attempts,
            reason,
            budget_level: env.budget.level(),
        });
        self.finished(env, self.last(), elapsed);
        match self.detour.as_deref_mut() {
            Some(detour) => Stopped {
                records: std::mem::take(&mut detour.records),
                retry_in: detour.retry_in,
            },
            None => Stopped {
                records: Vec::new(),
                retry_in: None,
            },
        }
    }

    /// Reports the end of the call: `outcome` settled it (`None`: no attempt did), after
    /// `elapsed`.
    fn finished<H: OnEvent>(
        &self,
        env: &PlanEnv<'_, H>,
        outcome: Option<Outcome>,
        elapsed: Option<Duration>,
    ) {
        env.hook.on_event(&Event::CallFinished {
            layer: Layer::Failover,
            endpoint: (self.attempts > 0)
                .then(|| &*env.router.endpoints[usize::from(self.current)].name),
            attempts: self.attempts,
            outcome,
            elapsed,
        });
    }

    /// In tiers, an attempt admitted (`action` sends it) counts in its endpoint's load until
    /// it is over. (Active-passive calls count nothing, and their usual route, which admits
    /// the primary in [`start`](Self::start), does not come here.)
    #[inline]
    fn load<H>(&mut self, env: &PlanEnv<'_, H>, action: Action) {
        if env.router.tiers.is_some() {
            self.load_tiered(env, action);
        }
    }

    /// [`load`](Self::load) in tiers.
    #[inline(never)]
    fn load_tiered<H>(&mut self, env: &PlanEnv<'_, H>, action: Action) {
        if let (Some(tiers), Action::Send(j)) = (&env.router.tiers, action) {
            tiers.started(j);
            self.loaded = true;
        }
    }

    /// The current attempt no longer counts in its endpoint's load, if it did.
    #[inline(never)]
    fn unload<H>(&mut self, env: &PlanEnv<'_, H>) {
        if std::mem::take(&mut self.loaded) {
            if let Some(tiers) = &env.router.tiers {
                tiers.ended(usize::from(self.current));
            }
        }
    }

    /// Gives back the trickle slot the call holds, if it holds one.
    fn end_trickle<H>(&mut self, env: &PlanEnv<'_, H>) {
        if let Some(i) = self.detour.as_mut().and_then(|d| d.trickle.take()) {
            env.router.end_trickle(usize::from(i));
        }
    }

    /// Whether the call holds anything to give back when it is dropped: a permit (and, in
    /// tiers, the load its attempt counts in), tokens, a trickle slot.
    #[inline]
    pub(crate) fn holds_anything(&self) -> bool {
        self.ticket.is_some()
            || self
                .detour
                .as_ref()
                .is_some_and(|d| d.pending.is_some() || d.trickle.is_some())
    }

    /// Gives back everything the call holds when it is dropped (at `now`): tokens withdrawn for an
    /// attempt not sent, its trickle slot, its permit. An attempt in flight is reported
    /// abandoned, so its breaker learns how long it ran (a slow call, with slow-call tracking
    /// on); a permit never used just gives its probe slot back.
    #[inline(never)]
    pub(crate) fn release<H, const LIVE: bool>(
        &mut self,
        env: &PlanEnv<'_, H>,
        now: &LazyNow<LIVE>,
    ) {
        self.not_sent(env);
        self.end_trickle(env);
        self.unload(env);
        if let Some(ticket) = self.ticket.take() {
            let permit = env.permit(usize::from(self.current), ticket);
            if self.in_flight {
                permit.abandon(now.breaker_clock());
            }
        }
    }
}

mod hedge;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod tier_tests;

pub(crate) use self::hedge::HedgeTicket;
