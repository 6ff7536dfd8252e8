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

use std::time::{Duration, Instant};

use super::options::{CallOptions, ReplayMarker};
use super::router::{Router, Unavailable, all};
use super::{EndpointBreaker, Settings};
use crate::backoff::Cursor;
use crate::breaker::{BreakerState, Permit};
use crate::budget::{RetryBudget, Withdrawal};
use crate::classify::{BreakerEffect, Outcome, TransientKind};
use crate::clock::LazyNow;
use crate::deadline::Deadline;
use crate::error::AttemptRecord;
use crate::event::{Event, GiveUpReason, Layer, OnEvent};
use crate::stopwatch::Lap;

/// What a plan consults at each step: the state every call of one failover shares.
pub(super) struct PlanEnv<'a, H> {
    /// The routing state: endpoints, breakers, flags.
    pub(super) router: &'a Router,
    /// The same router when it lives for the process (`into_static`): permits then hold their
    /// breaker by reference, and count nothing.
    pub(super) leaked: Option<&'static Router>,
    pub(super) budget: &'a RetryBudget,
    pub(super) settings: &'a Settings,
    pub(super) hook: &'a H,
}

impl<H> PlanEnv<'_, H> {
    /// Endpoint `j`'s breaker, as a permit holds it.
    #[inline(always)]
    fn breaker(&self, j: usize) -> EndpointBreaker {
        match self.leaked {
            Some(router) => EndpointBreaker::Static(&router.endpoints[j].breaker),
            None => EndpointBreaker::Owned(self.router.endpoints[j].breaker.clone()),
        }
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
pub(super) enum Action {
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
pub(super) enum Verdict {
    /// The call's result: return it (a success, or a failure that is not retried).
    Final,
    /// A retryable failure: keep its result as the last one, and ask
    /// [`after_failure`](Plan::after_failure) what follows.
    Failed,
}

/// What a call that stopped hands its caller besides its last result.
#[derive(Debug)]
pub(super) struct Stopped {
    /// Every attempt that failed, in order.
    pub(super) records: Vec<AttemptRecord>,
    /// The earliest an endpoint skipped in the last pass becomes available, if known.
    pub(super) retry_in: Option<Duration>,
}

/// The part of a call's walk that only a failure or a skipped endpoint brings.
#[derive(Debug, Default)]
struct Trouble {
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
}

/// One call's walk over the endpoints. See the [module docs](self).
#[derive(Debug)]
pub(super) struct Plan {
    /// The endpoints this call may use (all, or the pinned one; none for an unknown name).
    candidates: u32,
    /// Whether the request named its endpoint.
    pinned: bool,
    /// Whether the call went straight to its first endpoint: routing as usual (no failback
    /// head to find), nothing skipped.
    direct: bool,
    /// The request's own word on being sent again.
    marker: Option<ReplayMarker>,
    deadline: Deadline,
    /// The instant of the call, if it was read: the deadline and elapsed times count from it.
    start: Option<Instant>,
    /// The endpoint of the current (or last) attempt.
    current: usize,
    /// The endpoints visited in this pass.
    tried: u32,
    /// The endpoint this call goes to first (a probe of, or the trickle to, a demoted endpoint).
    head: Option<usize>,
    /// The endpoint whose trickle slot this call holds.
    trickle: Option<usize>,
    /// Attempts at the current endpoint in this pass (0 at a pass's start).
    here: u32,
    /// Attempts made (sent, or not sent because the endpoint was not ready).
    attempts: u32,
    /// Attempts admitted in this pass.
    admitted: u32,
    pass: u32,
    /// The seed of the recover schedule's jitter, until the first recover pass needs its
    /// cursor.
    seed: u64,
    /// What only a call that failed or skipped an endpoint needs, allocated then: it keeps the
    /// future of a call to a healthy primary small.
    trouble: Option<Box<Trouble>>,
    /// Whether the request has been sent (so further attempts need the replay hook's leave).
    sent: bool,
    /// Whether the current attempt has been sent and has no outcome yet.
    in_flight: bool,
    /// The current endpoint's admission.
    permit: Option<Permit<EndpointBreaker>>,
    /// Tokens withdrawn for the attempt admitted, until it is sent.
    pending: Option<Withdrawal>,
    /// Tokens withdrawn for the last attempt sent: a success gives them back.
    spent: Option<Withdrawal>,
}

impl Plan {
    /// The plan of a call over `endpoints` endpoints made at `start` (if the clock was read),
    /// jittering its recover sleeps from `seed`.
    #[inline]
    pub(super) fn new(endpoints: usize, start: Option<Instant>, seed: u64) -> Self {
        Plan {
            candidates: all(endpoints),
            pinned: false,
            direct: false,
            marker: None,
            deadline: Deadline::none(),
            start,
            current: 0,
            tried: 0,
            head: None,
            trickle: None,
            here: 0,
            attempts: 0,
            admitted: 0,
            pass: 1,
            seed,
            trouble: None,
            sent: false,
            in_flight: false,
            permit: None,
            pending: None,
            spent: None,
        }
    }

    /// The call's deadline.
    #[inline]
    pub(super) fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// The state of a call that failed or skipped an endpoint, allocated on first need.
    fn trouble(&mut self) -> &mut Trouble {
        self.trouble.get_or_insert_with(Box::default)
    }

    /// The outcome of the last failure, if any.
    fn last(&self) -> Option<Outcome> {
        self.trouble.as_ref().and_then(|t| t.last)
    }

    /// Attempts made so far.
    pub(super) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The recover pass the call is in (1 for the first pass).
    pub(super) fn pass(&self) -> u32 {
        self.pass
    }

    /// Routes the call with the request's `options`: its deadline (the earlier of the
    /// configured one and its own, from the call), its replay marker, its pinned endpoint. Then
    /// the first endpoint of the first pass.
    ///
    /// A healthy primary takes the first branch of every step here: nothing is demoted (no
    /// failback head to find), and [`admit`](Self::admit) lets it through.
    #[inline]
    pub(super) fn start<H: OnEvent>(
        &mut self,
        env: &PlanEnv<'_, H>,
        options: CallOptions<'_>,
        now: &mut LazyNow,
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
            // An endpoint is waiting for failback: the call may be its probe or its trickle.
            if let Some((i, trickle)) = env.router.head(self.candidates, now) {
                self.head = Some(i);
                self.trickle = trickle.then_some(i);
            }
            return self.in_pass(env, now);
        }
        let action = self.in_pass(env, now);
        // One endpoint tried (`tried` has one bit: `Send` means at least one).
        self.direct =
            matches!(action, Action::Send(_)) && self.tried & self.tried.wrapping_sub(1) == 0;
        action
    }

    /// Whether the call went straight to its first endpoint (routing as usual, nothing
    /// skipped): the case the failover is built to make cheap.
    pub(super) fn is_direct(&self) -> bool {
        self.direct
    }

    /// What follows a recover sleep: the pass it started.
    pub(super) fn resume<H: OnEvent>(&mut self, env: &PlanEnv<'_, H>, now: &mut LazyNow) -> Action {
        self.in_pass(env, now)
    }

    /// The attempt admitted is being sent: true when the request must be copied first, because
    /// another attempt may follow.
    #[inline]
    pub(super) fn sending<H>(&mut self, env: &PlanEnv<'_, H>) -> bool {
        let more = self.sent || env.may_repeat(self.candidates, self.marker);
        self.sent = true;
        self.in_flight = true;
        if let Some(w) = self.pending.take() {
            self.spent = Some(w);
        }
        more
    }

    /// The attempt admitted was never sent (its endpoint did not get ready, or the call
    /// stopped): the tokens withdrawn for it go back.
    #[inline]
    pub(super) fn not_sent<H>(&mut self, env: &PlanEnv<'_, H>) {
        if let Some(w) = self.pending.take() {
            env.budget.refund(w);
        }
    }

    /// Records the current attempt's `outcome`: its event, its breaker, the budget, the routing
    /// state (push-back, failback hold-down). `lap` is how long the attempt and the call took,
    /// as the executor measured them for a hook that asks.
    #[inline]
    pub(super) fn finish<H: OnEvent>(
        &mut self,
        env: &PlanEnv<'_, H>,
        outcome: Outcome,
        lap: Lap,
        now: &mut LazyNow,
    ) -> Verdict {
        let router = env.router;
        let j = self.current;
        let endpoint = &router.endpoints[j];
        self.attempts = self.attempts.saturating_add(1);
        self.in_flight = false;
        env.hook.on_event(&Event::Attempt {
            endpoint: Some(&endpoint.name),
            attempt: self.attempts,
            outcome,
            elapsed: lap.attempt,
        });
        if let Some(permit) = self.permit.take() {
            permit.record(&outcome, now.breaker_clock());
        }
        // The call's probe or trickle attempt is over: its later attempts route as any call's
        // (so a recover pass does not go back to the demoted endpoint first without the slot).
        if self.head == Some(j) {
            self.head = None;
        }
        if self.trickle == Some(j) {
            self.trickle = None;
            router.end_trickle(j);
        }
        if outcome.is_success() {
            env.budget.on_success(self.spent.take());
            router.succeeded(j, now);
        }
        if !outcome.is_retryable() {
            self.finished(env, Some(outcome), lap.call);
            return Verdict::Final;
        }
        if outcome.breaker_effect() == BreakerEffect::Failure {
            router.failed(j);
            router.observe_breaker(j, endpoint.breaker.state());
        }
        let at = now.get();
        if let Some(hint) = outcome.retry_after() {
            router.push_back(j, at, hint.min(env.settings.retry_after_cap));
        }
        let start = *self.start.get_or_insert(at);
        let trouble = self.trouble();
        trouble.records.push(AttemptRecord {
            endpoint: endpoint.name.clone(),
            outcome,
            elapsed: at.saturating_duration_since(start),
        });
        trouble.last = Some(outcome);
        Verdict::Failed
    }

    /// What follows the failure just recorded: another attempt here, the next endpoint of the
    /// pass, a recover sleep, or a stop. `copy` is the request's copy, if one was kept, as a
    /// question to the replay hook: may it be sent again after this outcome?
    pub(super) fn after_failure<H: OnEvent>(
        &mut self,
        env: &PlanEnv<'_, H>,
        copy: Option<impl FnOnce(&Outcome) -> bool>,
        now: &mut LazyNow,
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
        let again = self.here < env.settings.attempts_per_endpoint
            && last.transient_kind() != Some(TransientKind::Throttled);
        if again {
            if let Some(action) = self.admit(env, self.current, now) {
                return action;
            }
        }
        self.in_pass(env, now)
    }

    /// The next endpoint of this pass, or what follows the pass.
    #[inline(always)]
    fn in_pass<H: OnEvent>(&mut self, env: &PlanEnv<'_, H>, now: &mut LazyNow) -> Action {
        loop {
            let Some(j) = env.router.pick(self.candidates, self.tried, self.head) else {
                return self.end_of_pass(env, now);
            };
            self.tried |= 1 << j;
            if let Some(action) = self.admit(env, j, now) {
                return action;
            }
        }
    }

    /// Every endpoint of the pass was tried or skipped: sleep before the next pass, or stop.
    #[inline(never)]
    fn end_of_pass<H: OnEvent>(&mut self, env: &PlanEnv<'_, H>, now: &mut LazyNow) -> Action {
        let nothing_admitted = self.admitted == 0;
        let recover = &env.settings.recover;
        let seed = self.seed;
        let cursor = self
            .trouble()
            .cursor
            .get_or_insert_with(|| recover.cursor(seed));
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
            match self.trouble.as_ref().and_then(|t| t.retry_in) {
                Some(wait) if wait <= delay && self.deadline.fits_after(at, wait) => wait,
                _ => return Action::Stop(GiveUpReason::NoEndpointAvailable),
            }
        } else {
            if !self.deadline.fits_after(at, delay) {
                return Action::Stop(GiveUpReason::Deadline);
            }
            if let (Some(outcome), Some(level)) = (self.last(), env.budget.level()) {
                if self.sent && level < env.budget.cost_after(&outcome) {
                    return Action::Stop(GiveUpReason::BudgetExhausted);
                }
            }
            delay
        };
        let Some(until) = at.checked_add(sleep) else {
            return Action::Stop(GiveUpReason::DelayOutOfRange);
        };
        self.pass = self.pass.saturating_add(1);
        self.tried = 0;
        self.admitted = 0;
        self.here = 0;
        self.trouble().retry_in = None;
        env.hook.on_event(&Event::RecoverPass {
            pass: self.pass,
            delay: sleep,
        });
        Action::Sleep(until)
    }

    /// Whether the deadline has passed: at the call's first admission as of the call (a
    /// request's own zero deadline; the call's first step reads no clock for it), later as of
    /// `now`. The clock is read only with a deadline.
    #[inline]
    fn out_of_time(&self, now: &mut LazyNow) -> bool {
        let Some(deadline) = self.deadline.instant() else {
            return false;
        };
        match self.start {
            Some(start) if self.pass == 1 && self.attempts == 0 => deadline <= start,
            _ => self.deadline.is_expired(now.get()),
        }
    }

    /// The one admission rule, for every attempt: `None` if endpoint `j` is unavailable (it is
    /// skipped, and the routing state learns why), else [`Action::Send`] with its permit held,
    /// or a stop when the deadline has passed or the budget cannot pay for the attempt.
    #[inline(always)]
    fn admit<H: OnEvent>(
        &mut self,
        env: &PlanEnv<'_, H>,
        j: usize,
        now: &mut LazyNow,
    ) -> Option<Action> {
        let router = env.router;
        // Never an attempt once the deadline has passed.
        if self.out_of_time(now) {
            return Some(Action::Stop(GiveUpReason::Deadline));
        }
        if let Some(why) = router.blocked(j) {
            self.skip(env, j, why, None);
            return None;
        }
        if let Some(left) = router.pushed_back(j, now) {
            self.skip(env, j, Unavailable::PushedBack, Some(left));
            return None;
        }
        let permit = match Permit::acquire(env.breaker(j), now.breaker_clock()) {
            Ok(permit) => permit,
            Err(rejected) => {
                router.observe_breaker(j, router.endpoints[j].breaker.state());
                self.skip(env, j, Unavailable::BreakerOpen, rejected.retry_in);
                return None;
            }
        };
        let probe = permit.is_probe();
        if probe {
            router.observe_breaker(j, BreakerState::HalfOpen);
        }
        if self.sent {
            let Some(outcome) = self.last() else {
                unreachable!("a request is sent again only after a failure")
            };
            match env.budget.try_withdraw(&outcome) {
                Some(w) => self.pending = Some(w),
                None => return Some(Action::Stop(GiveUpReason::BudgetExhausted)),
            }
        }
        self.admitted_at(env, j, probe);
        self.permit = Some(permit);
        Some(Action::Send(j))
    }

    /// Endpoint `j` admitted the call's next attempt (`probe`: as a half-open probe): the
    /// events and routing changes that follow.
    #[inline(always)]
    fn admitted_at<H: OnEvent>(&mut self, env: &PlanEnv<'_, H>, j: usize, probe: bool) {
        let router = env.router;
        let endpoint = &router.endpoints[j];
        // A probe is not the endpoint taking traffic again: its breaker closing is.
        if !probe && router.mark_available(j) {
            env.hook.on_event(&Event::EndpointAvailable {
                endpoint: &endpoint.name,
            });
        }
        let same = self.here > 0 && self.current == j;
        if self.here > 0 {
            let attempt = self.attempts.saturating_add(1);
            let budget_level = env.budget.level();
            env.hook.on_event(&if same {
                Event::Retry {
                    endpoint: Some(&endpoint.name),
                    attempt,
                    delay: Duration::ZERO,
                    budget_level,
                }
            } else {
                Event::Hop {
                    from: &router.endpoints[self.current].name,
                    to: &endpoint.name,
                    attempt,
                    budget_level,
                }
            });
        }
        // The first endpoint a call is admitted to, other than as a probe or the trickle, is the
        // one calls go to first: the serving endpoint.
        if self.attempts == 0 && !self.pinned && !probe && self.trickle != Some(j) {
            if let Some(old) = router.serve(j) {
                let from = &router.endpoints[old].name;
                env.hook.on_event(&if j > old {
                    Event::FailedOver {
                        from,
                        to: &endpoint.name,
                        reason: self.trouble.as_ref().and_then(|t| t.serving_skipped),
                    }
                } else {
                    Event::FailedBack {
                        from,
                        to: &endpoint.name,
                    }
                });
            }
        }
        self.here = if same { self.here + 1 } else { 1 };
        self.current = j;
        self.admitted += 1;
        self.in_flight = false;
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
        if let Some(r) = retry_in {
            let trouble = self.trouble();
            trouble.retry_in = Some(trouble.retry_in.map_or(r, |e| e.min(r)));
        }
        let router = env.router;
        if self.trickle == Some(j) {
            self.trickle = None;
            router.end_trickle(j);
        }
        if j == router.serving() {
            self.trouble().serving_skipped = Some(reason);
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
    pub(super) fn cut_by_deadline<H: OnEvent>(
        &mut self,
        env: &PlanEnv<'_, H>,
        outcome: Outcome,
        lap: Lap,
        now: &mut LazyNow,
    ) {
        self.not_sent(env);
        self.attempts = self.attempts.saturating_add(1);
        self.in_flight = false;
        let endpoint = &*env.router.endpoints[self.current].name;
        if let Some(permit) = self.permit.take() {
            permit.record(&outcome, now.breaker_clock());
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
    pub(super) fn give_up<H: OnEvent>(
        &mut self,
        env: &PlanEnv<'_, H>,
        reason: GiveUpReason,
        elapsed: Option<Duration>,
    ) -> Stopped {
        self.not_sent(env);
        self.permit = None;
        if let Some(i) = self.trickle.take() {
            env.router.end_trickle(i);
        }
        env.hook.on_event(&Event::GaveUp {
            endpoint: (self.attempts > 0).then(|| &*env.router.endpoints[self.current].name),
            attempts: self.attempts,
            reason,
            budget_level: env.budget.level(),
        });
        self.finished(env, self.last(), elapsed);
        match self.trouble.as_deref_mut() {
            Some(trouble) => Stopped {
                records: std::mem::take(&mut trouble.records),
                retry_in: trouble.retry_in,
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
            endpoint: (self.attempts > 0).then(|| &*env.router.endpoints[self.current].name),
            attempts: self.attempts,
            outcome,
            elapsed,
        });
    }

    /// Whether the call holds anything to give back when it is dropped: tokens, a trickle
    /// slot, a permit.
    #[inline]
    pub(super) fn holds_anything(&self) -> bool {
        self.pending.is_some() || self.trickle.is_some() || self.permit.is_some()
    }

    /// Gives back everything the call holds when it is dropped (at `now`): tokens withdrawn for an
    /// attempt not sent, its trickle slot, its permit. An attempt in flight is reported
    /// abandoned, so its breaker learns how long it ran (a slow call, with slow-call tracking
    /// on); a permit never used just gives its probe slot back.
    #[inline(never)]
    pub(super) fn release<H>(&mut self, env: &PlanEnv<'_, H>, now: &LazyNow) {
        self.not_sent(env);
        if let Some(i) = self.trickle.take() {
            env.router.end_trickle(i);
        }
        if let Some(permit) = self.permit.take() {
            if self.in_flight {
                permit.abandon(now.breaker_clock());
            }
        }
    }
}

#[cfg(test)]
mod tests;
