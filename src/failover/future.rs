//! The future of a call through [`Failover`](super::Failover): the executor of the call's
//! [`Plan`].
//!
//! It holds what the plan does not: the request (and its copy), the service of the endpoint
//! admitted, the last result, and one timer (a hop's limit, or a recover sleep). It alone reads
//! the clock, clones an endpoint's service, asks the replay hook and classifies results; every
//! decision is the plan's, and this future carries it out.
//!
//! A failover that hedges lends the timer to the hedge's delay while the first attempt is in
//! flight (the delay is always the earlier: otherwise no hedge is armed), then gives it back to
//! the attempt's limit. A hedge that is sent gets a slot of its own, allocated then: its
//! timer (its limit), its future, its ticket. A call that sends no hedge allocates nothing
//! for it and arms no second timer.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::hedge::Hedging;
use super::plan::{Action, HedgeTicket, Plan, PlanEnv, Stopped, Verdict};
use super::{FailoverError, Inner, RequestOptions, Shared};
use crate::classify::{Classify, Outcome, outcome_of};
use crate::clock::{LazyNow, now};
use crate::deadline::Deadline;
use crate::error::{AttemptTimedOut, DeadlineExceeded, NoEndpointAvailable};
use crate::event::{Event, GiveUpReason, OnEvent};
use crate::limit::{Limit, arm};
use crate::replay::Replay;
use crate::stopwatch::{Lap, Stopwatch};

pin_project! {
    /// The response future of [`Failover`](super::Failover).
    ///
    /// It allocates nothing for a call that its first attempt settles (the usual case: a
    /// healthy primary); a call that fails or skips an endpoint allocates once for what only
    /// such a call needs, and records its failed attempts in a list that allocates.
    ///
    /// # Cancellation
    ///
    /// Dropping it at any point leaks nothing: a breaker permit still held gives its probe slot
    /// back, a trickle slot goes back to its endpoint, and tokens withdrawn for an attempt not
    /// sent yet go back to the budget. The attempt in flight records nothing.
    pub struct ResponseFuture<S, Req, C, R, H, O>
    where
        S: Service<Req>,
        S: 'static,
        C: 'static,
        R: 'static,
        H: 'static,
        O: 'static,
    {
        #[pin]
        phase: Phase<S::Future>,
        // One timer, created on first need and reset after: a hop's limit, a recover sleep.
        #[pin]
        timer: Option<Sleep>,
        call: Call<S, Req, C, R, H, O>,
    }
}

pin_project! {
    /// Where the executor is.
    #[project = PhaseProj]
    enum Phase<F> {
        // Reading the request's options and routing the call (on first poll).
        Start,
        // Waiting for the admitted endpoint's service to be ready.
        Readying,
        // The attempt is in flight.
        Calling { #[pin] fut: F },
        // Sleeping before a recover pass, on the timer.
        Sleeping,
        // The first attempt failed while its hedge was in flight: the call waits for the
        // hedge, which the plan has adopted as its current attempt.
        AwaitingHedge,
        Done,
    }
}

/// What an endpoint's service answered.
type ServiceResult<S, Req> = Result<<S as Service<Req>>::Response, <S as Service<Req>>::Error>;

/// The unpinned state of one call: the shared state, the plan, and what only the executor
/// holds.
struct Call<S, Req, C, R, H, O>
where
    S: Service<Req>,
    S: 'static,
    C: 'static,
    R: 'static,
    H: 'static,
    O: 'static,
{
    shared: Shared<Inner<S, C, R, H, O>>,
    executor: Executor<S, Req>,
}

/// What the executor holds besides the shared state: the plan, and what only the executor
/// touches.
struct Executor<S: Service<Req>, Req> {
    plan: Plan,
    /// The request until it is first sent; then the copy further attempts send, if any.
    request: Option<Req>,
    /// The service of the endpoint admitted, while readying it.
    service: Option<S>,
    /// What the current hop's timer is armed for.
    limit: Limit,
    /// The last failure's result: `Some(None)` when the limit cut it.
    last: Option<Option<ServiceResult<S, Req>>>,
    /// When the call was made and its attempt began, for a hook that asks for durations.
    watch: Stopwatch,
    /// The call's hedge, when the failover hedges.
    hedge: HedgeRun<S::Future, S, Req>,
}

/// Where a call's hedge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No hedge is armed or in flight.
    Off,
    /// The first attempt may be hedged: the timer is lent to the delay if the attempt is
    /// still in flight after its first poll.
    Waiting,
    /// The timer waits for the delay.
    Armed,
    /// The hedge's endpoint was admitted: readying its service.
    Readying,
    /// The hedge is in flight.
    Racing,
}

/// What the executor holds for a call's hedge.
struct HedgeRun<F, S, Req> {
    stage: Stage,
    /// Whether a hedge was admitted in this call.
    fired: bool,
    /// Whether the plan adopted the hedge as its current attempt (the first one failed).
    adopted: bool,
    /// Whether this call hedges (its failover does, and its first attempt was sent): the
    /// executor looks at the rest only then.
    active: bool,
    /// When the first attempt was sent (hedging only): its latency, and the hedge's delay.
    first_sent: Option<Instant>,
    /// The first attempt's limit while the timer waits for the hedge's delay.
    limit_after: Option<(Instant, Limit)>,
    /// The hedge, once admitted. Dropped by hand — by the executor when the hedge is over,
    /// else by [`Call`]'s `drop` — so that a call that hedges nothing has no drop glue for it.
    slot: ManuallyDrop<Option<Slot<F, S, Req>>>,
}

/// A hedge admitted, pinned in its allocation.
type Slot<F, S, Req> = Pin<Box<HedgeSlot<F, S, Req>>>;

pin_project! {
    /// A hedge admitted: allocated then, so that a call that sends none pays nothing for it.
    struct HedgeSlot<F, S, Req> {
        // The hedge's limit, as the executor's timer is the first attempt's.
        #[pin]
        timer: Option<Sleep>,
        #[pin]
        fut: Option<F>,
        // The hedge's endpoint's service, while readying it.
        service: Option<S>,
        // The hedge's copy of the request, until it is sent.
        request: Option<Req>,
        limit: Limit,
        // When the hedge began.
        began: Instant,
        // The attempt of the hedged call that is not the plan's current one.
        ticket: Option<HedgeTicket>,
    }
}

impl<F, S, Req> HedgeRun<F, S, Req> {
    const OFF: Self = HedgeRun {
        stage: Stage::Off,
        fired: false,
        adopted: false,
        active: false,
        first_sent: None,
        limit_after: None,
        slot: ManuallyDrop::new(None),
    };

    /// Whether the hedge is admitted and not over (readying or in flight).
    #[inline]
    fn live(&self) -> bool {
        matches!(self.stage, Stage::Readying | Stage::Racing)
    }

    /// The ticket of the hedge admitted.
    fn ticket(&mut self) -> Option<&mut HedgeTicket> {
        self.slot
            .as_mut()
            .and_then(|slot| slot.as_mut().project().ticket.as_mut())
    }

    /// Takes the ticket of the hedge admitted.
    fn take_ticket(&mut self) -> Option<HedgeTicket> {
        self.slot
            .as_mut()
            .and_then(|slot| slot.as_mut().project().ticket.take())
    }

    /// When the hedge began.
    fn began(&self) -> Option<Instant> {
        self.slot.as_ref().map(|slot| slot.began)
    }
}

impl<S, Req, C, R, H, O> Drop for Call<S, Req, C, R, H, O>
where
    S: Service<Req>,
{
    #[inline]
    fn drop(&mut self) {
        if self.executor.plan.holds_anything() || self.executor.hedge.slot.is_some() {
            let env = self.shared.env();
            let now = LazyNow::live();
            self.executor.plan.release(&env, &now);
            if let Some(ticket) = self.executor.hedge.take_ticket() {
                Plan::release_hedge(&env, self.shared.hedging.as_ref(), ticket, &now);
            }
            // Both attempts' futures are dropped: the hedge's here, the other with the phase.
            drop(std::mem::take(&mut *self.executor.hedge.slot));
        }
    }
}

impl<S, Req, C, R, H, O> ResponseFuture<S, Req, C, R, H, O>
where
    S: Service<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    /// A call of `req`; the clock is read now only if a deadline or attempt timeout is
    /// configured, or the request's options may set a deadline, so that deadlines count from
    /// the call.
    #[inline]
    pub(super) fn new(shared: Shared<Inner<S, C, R, H, O>>, req: Req, seed: u64) -> Self {
        let settings = &shared.settings;
        let limited = settings.deadline.is_some() || settings.attempt_timeout.is_some();
        let start = (limited || O::DEADLINES).then(now);
        let plan = Plan::new(shared.services.len(), start, seed);
        let watch = Stopwatch::start(&shared.hook);
        ResponseFuture {
            phase: Phase::Start,
            timer: None,
            call: Call {
                shared,
                executor: Executor {
                    plan,
                    request: Some(req),
                    service: None,
                    limit: Limit::Unarmed,
                    last: None,
                    watch,
                    hedge: HedgeRun::OFF,
                },
            },
        }
    }
}

/// How a hop ended: an outcome (with the result, if there is one), or its limit.
enum AttemptEnd<T> {
    Finished(Outcome, Option<T>),
    /// The limit `cut` fired; `sent` tells whether the attempt had been sent.
    Cut {
        cut: Limit,
        sent: bool,
    },
}

/// What readying a hop's service came to.
enum Readied<T> {
    /// Ready, within the hop's limit: send the attempt.
    Send,
    /// Not sent: the service failed to get ready, or the hop's limit passed first.
    Ended(AttemptEnd<T>),
}

/// The shared state as the executor reads it: the failover's own, and the plan's view of it.
struct View<'a, S, C, R, H, O> {
    inner: &'a Inner<S, C, R, H, O>,
    env: PlanEnv<'a, H>,
}

impl<S: Service<Req>, Req> Executor<S, Req> {
    /// Reads the request's options and routes the call.
    #[inline]
    fn start<C, R, H: OnEvent, O: RequestOptions<Req>>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        now: &mut LazyNow<true>,
    ) -> Action {
        let Some(req) = self.request.as_ref() else {
            unreachable!("a call starts with its request")
        };
        let options = view.inner.options.options(req);
        self.plan.start(&view.env, options, now)
    }

    /// Takes up what the plan admitted: endpoint `j`'s service, for a hop with its own limit.
    #[inline]
    fn take_service<C, R, H, O>(&mut self, view: &View<'_, S, C, R, H, O>, j: usize)
    where
        S: Clone,
    {
        self.service = Some(view.inner.services[j].clone());
        self.limit = Limit::Unarmed;
        self.watch.attempt();
    }

    /// Sends the attempt on the (ready) service, keeping a copy of the request if the plan says
    /// another attempt may follow.
    #[inline]
    fn send<C, R: Replay<Req>, H, O>(&mut self, view: &View<'_, S, C, R, H, O>) -> S::Future {
        let more = self.plan.sending(&view.env);
        let Some(req) = self.request.take() else {
            unreachable!("an attempt is admitted only with a request to send")
        };
        if more {
            self.request = view.inner.replay.replay(&req);
        }
        let Some(mut service) = self.service.take() else {
            unreachable!("an attempt is sent on its endpoint's service")
        };
        service.call(req)
    }

    /// What follows the failure just recorded, the replay hook asked about the copy.
    fn after_failure<C, R: Replay<Req>, H: OnEvent, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        now: &mut LazyNow<true>,
    ) -> Action {
        let replay = &view.inner.replay;
        let copy = self
            .request
            .as_ref()
            .map(|copy| move |outcome: &Outcome| replay.may_replay(copy, outcome));
        self.plan.after_failure(&view.env, copy, now)
    }

    /// The end of a call that makes no further attempt: the last result, or the error that
    /// says why there is none.
    fn stop<C, R, H: OnEvent, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        reason: GiveUpReason,
    ) -> ServiceResult<S, Req>
    where
        S::Error: FailoverError,
    {
        let elapsed = self.watch.lap().call;
        let Stopped { records, retry_in } = self.plan.give_up(&view.env, reason, elapsed);
        match self.last.take() {
            Some(Some(Ok(response))) => Ok(response),
            Some(Some(Err(e))) => Err(S::Error::all_endpoints_failed(records, e)),
            Some(None) => {
                let timeout = view.inner.settings.attempt_timeout.unwrap_or_default();
                Err(S::Error::all_endpoints_timed_out(
                    records,
                    AttemptTimedOut::new(timeout),
                ))
            }
            None if reason == GiveUpReason::Deadline => Err(DeadlineExceeded::new().into()),
            None => Err(NoEndpointAvailable::new(retry_in).into()),
        }
    }
}

/// A call's hedge: arming it, sending it, and settling the race. See the
/// [module docs](super#hedging) for the rules.
impl<S: Service<Req>, Req> Executor<S, Req> {
    /// The call's attempt was just sent on a failover that hedges: if it is the call's first,
    /// the call counts towards the allowance (and, for a percentile delay, its start is read),
    /// and it waits to be hedged if it may be.
    #[inline(never)]
    fn arm_hedge(&mut self, hedging: &Hedging) {
        if self.plan.attempts() != 0 || self.hedge.fired {
            return;
        }
        hedging.on_call();
        self.hedge.active = true;
        if hedging.records_latency() {
            self.hedge.first_sent = Some(Instant::now());
        }
        if self.plan.may_hedge(self.request.is_some()) {
            self.hedge.stage = Stage::Waiting;
        }
    }

    /// The first attempt is still in flight after its first poll: the timer is lent to the
    /// hedge's delay, unless the attempt's limit comes first (the walk then handles what
    /// follows). The limit is kept, to arm again when the delay has passed. Ready when the
    /// delay has passed already.
    #[inline(never)]
    fn lend_timer<C, R, H, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        mut timer: Pin<&mut Option<Sleep>>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        self.hedge.stage = Stage::Off;
        let sent = *self.hedge.first_sent.get_or_insert_with(Instant::now);
        let Some(at) = view
            .inner
            .hedging
            .as_ref()
            .and_then(|hedging| hedging.delay(self.plan.current()))
            .and_then(|delay| sent.checked_add(delay))
        else {
            return Poll::Pending;
        };
        // The attempt's limit, armed by its first poll (if it has one).
        let limit = match (self.limit, timer.as_ref().as_pin_ref()) {
            (Limit::Unarmed, _) | (_, None) => None,
            (armed, Some(sleep)) => Some((sleep.deadline(), armed)),
        };
        if limit.is_some_and(|(end, _)| end <= at) {
            return Poll::Pending;
        }
        self.hedge.limit_after = limit;
        // Armed at the delay: the attempt's poll reports it as a limit, which the executor
        // knows for the delay while the hedge is armed.
        self.limit = Limit::Attempt;
        arm(timer.as_mut(), at);
        self.hedge.stage = Stage::Armed;
        match timer.as_pin_mut() {
            Some(sleep) => sleep.poll(cx),
            None => Poll::Pending,
        }
    }

    /// The hedge's delay has passed with the first attempt in flight: the timer goes back to
    /// the attempt's limit, and the hedge is fired if it may be.
    #[inline(never)]
    fn delay_passed<C, R: Replay<Req>, H: OnEvent, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        timer: Pin<&mut Option<Sleep>>,
    ) where
        S: Clone,
    {
        match self.hedge.limit_after.take() {
            Some((end, limit)) => {
                arm(timer, end);
                self.limit = limit;
            }
            None => self.limit = Limit::Unarmed,
        }
        self.hedge.stage = if self.fire_hedge(view) {
            Stage::Readying
        } else {
            Stage::Off
        };
    }

    /// The hedge's delay has passed with the first attempt in flight: admits the hedge if the
    /// replay rule, the deadline, the allowance, the budget and an available endpoint allow.
    #[inline(never)]
    fn fire_hedge<C, R: Replay<Req>, H: OnEvent, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
    ) -> bool
    where
        S: Clone,
    {
        let (Some(hedging), Some(copy)) = (view.inner.hedging.as_ref(), self.request.as_ref())
        else {
            return false;
        };
        let replay = &view.inner.replay;
        if !self
            .plan
            .may_send_twice(|after| replay.may_replay(copy, after))
        {
            return false;
        }
        let Some(request) = replay.replay(copy) else {
            return false;
        };
        let began = Instant::now();
        let delay = self
            .hedge
            .first_sent
            .map_or(Duration::ZERO, |sent| began.saturating_duration_since(sent));
        let mut now = LazyNow::live();
        let Some(ticket) = self.plan.hedge(&view.env, hedging, delay, &mut now) else {
            return false;
        };
        *self.hedge.slot = Some(Box::pin(HedgeSlot {
            timer: None,
            fut: None,
            service: Some(view.inner.services[ticket.endpoint()].clone()),
            request: Some(request),
            limit: Limit::Unarmed,
            began,
            ticket: Some(ticket),
        }));
        self.hedge.fired = true;
        true
    }

    /// Polls the hedge admitted: readying its endpoint's service, then the attempt in flight,
    /// each within the hedge's own limit. Ready with how the hedge ended; pending while it runs
    /// (or when there is none).
    fn poll_hedge<C, R, H, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        cx: &mut Context<'_>,
    ) -> Poll<AttemptEnd<ServiceResult<S, Req>>>
    where
        S::Error: FailoverError,
        C: Classify<S::Response, S::Error>,
    {
        let deadline = self.plan.deadline();
        let timeout = view.inner.settings.attempt_timeout;
        let Some(slot) = self.hedge.slot.as_mut() else {
            return Poll::Pending;
        };
        let mut slot = slot.as_mut().project();
        loop {
            match self.hedge.stage {
                Stage::Off | Stage::Waiting | Stage::Armed => return Poll::Pending,
                Stage::Readying => {
                    match ready!(poll_ready(
                        slot.service,
                        slot.limit,
                        slot.timer.as_mut(),
                        deadline,
                        timeout,
                        cx
                    )) {
                        Readied::Send => {
                            let (Some(mut service), Some(request)) =
                                (slot.service.take(), slot.request.take())
                            else {
                                unreachable!("a hedge is sent with its service and its copy")
                            };
                            slot.fut.set(Some(service.call(request)));
                            if let Some(ticket) = slot.ticket.as_mut() {
                                Plan::hedge_sent(ticket);
                            }
                            self.hedge.stage = Stage::Racing;
                        }
                        Readied::Ended(ended) => {
                            *slot.service = None;
                            *slot.request = None;
                            self.hedge.stage = Stage::Off;
                            if let (Some(hedging), Some(ticket)) =
                                (view.inner.hedging.as_ref(), slot.ticket.as_mut())
                            {
                                Plan::hedge_not_sent(&view.env, hedging, ticket);
                            }
                            return Poll::Ready(ended);
                        }
                    }
                }
                Stage::Racing => {
                    let Some(running) = slot.fut.as_mut().as_pin_mut() else {
                        unreachable!("a hedge in flight has its future")
                    };
                    let ended = match ready!(poll_sent(
                        running,
                        slot.limit,
                        slot.timer.as_mut(),
                        deadline,
                        timeout,
                        cx
                    )) {
                        Ok(result) => {
                            let outcome = outcome_of(&view.inner.classifier, &result);
                            AttemptEnd::Finished(outcome, Some(result))
                        }
                        Err(cut) => AttemptEnd::Cut { cut, sent: true },
                    };
                    slot.fut.set(None);
                    self.hedge.stage = Stage::Off;
                    return Poll::Ready(ended);
                }
            }
        }
    }

    /// How long the attempt that just ended and the call took: the hedge's attempt counts
    /// from when it began.
    fn lap(&self, hedge: bool) -> Lap {
        let mut lap = self.watch.lap();
        if hedge && lap.attempt.is_some() {
            lap.attempt = self.hedge.began().map(|began| began.elapsed());
        }
        lap
    }

    /// The hedge ended while the first attempt is in flight, with `outcome`: the plan records
    /// it. A result that settles the call is returned (the first attempt is cancelled); after a
    /// failure the call waits for the first attempt.
    #[inline(never)]
    fn other_ended<C, R, H: OnEvent, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        outcome: Outcome,
        result: Option<ServiceResult<S, Req>>,
        now: &mut LazyNow<true>,
    ) -> Option<ServiceResult<S, Req>> {
        let Some(mut ticket) = self.hedge.take_ticket() else {
            unreachable!("a hedge that ended was admitted")
        };
        let env = &view.env;
        let began = self.hedge.began();
        *self.hedge.slot = None;
        self.plan.swap(&mut ticket);
        let lap = self.lap_from(began);
        match self.plan.finish(env, outcome, lap, now) {
            Verdict::Final => {
                let hedge = self.plan.current();
                self.report_settled(view, hedge, true, Some(ticket.endpoint()));
                if outcome.is_success() {
                    self.record_latency(view, hedge, began);
                }
                // The first attempt, now the ticket's, is cancelled: its future is dropped with
                // the phase.
                Plan::release_hedge(env, view.inner.hedging.as_ref(), ticket, now);
                let Some(result) = result else {
                    unreachable!("a cut attempt is transient")
                };
                Some(result)
            }
            Verdict::Failed => {
                self.plan.swap(&mut ticket);
                Plan::release_hedge(env, view.inner.hedging.as_ref(), ticket, now);
                self.last = Some(result);
                None
            }
        }
    }

    /// The lap of an attempt begun at `began` (for a hook that asks for durations).
    fn lap_from(&self, began: Option<Instant>) -> Lap {
        let mut lap = self.watch.lap();
        if lap.attempt.is_some() {
            lap.attempt = began.map(|began| began.elapsed());
        }
        lap
    }

    /// The plan's current attempt failed in a call that hedges: if the hedge is admitted and
    /// the failed attempt was the first, the plan adopts the hedge as its current attempt and
    /// the call waits for it (true); else the hedge is over, and the walk goes on (false).
    #[inline(never)]
    fn current_failed<C, R, H, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        now: &LazyNow<true>,
    ) -> bool {
        if self.hedge.live() && !self.hedge.adopted {
            if let Some(ticket) = self.hedge.ticket() {
                self.plan.swap(ticket);
            }
            self.hedge.first_sent = None;
            self.hedge.adopted = true;
            return true;
        }
        self.end_hedge(view, now);
        self.hedge.first_sent = None;
        false
    }

    /// Polls the hedge while the first attempt is in flight: `Some` with the call's result
    /// when the hedge settles it, `None` when it failed (the call waits for the first attempt).
    #[inline(never)]
    fn race<C, R, H: OnEvent, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<ServiceResult<S, Req>>>
    where
        S::Error: FailoverError,
        C: Classify<S::Response, S::Error>,
    {
        let (outcome, result) = match ready!(self.poll_hedge(view, cx)) {
            AttemptEnd::Finished(outcome, result) => (outcome, result),
            // A hedge cut by the deadline is recorded as a failure: the first attempt, whose
            // limit is never later, is cut when it is polled next.
            AttemptEnd::Cut { sent: true, .. } => (Outcome::timeout(), None),
            AttemptEnd::Cut { sent: false, .. } => (Outcome::not_sent(), None),
        };
        Poll::Ready(self.other_ended(view, outcome, result, &mut LazyNow::live()))
    }

    /// The plan's current attempt settled a call that hedges: reports which attempt won if a
    /// hedge was admitted, records the winner's latency, and cancels the other.
    #[inline(never)]
    fn settled<C, R, H: OnEvent, O>(
        &mut self,
        view: &View<'_, S, C, R, H, O>,
        outcome: Outcome,
        now: &LazyNow<true>,
    ) {
        let hedge = self.hedge.adopted;
        if !self.hedge.fired {
            if outcome.is_success() {
                self.record_latency(view, self.plan.current(), self.hedge.first_sent);
            }
            return;
        }
        let winner = self.plan.current();
        let racing = !hedge && self.hedge.stage == Stage::Racing;
        let cancelled = if racing {
            self.hedge.ticket().map(|t| t.endpoint())
        } else {
            None
        };
        self.report_settled(view, winner, hedge, cancelled);
        if outcome.is_success() {
            let began = if hedge {
                self.hedge.began()
            } else {
                self.hedge.first_sent
            };
            self.record_latency(view, winner, began);
        }
        self.end_hedge(view, now);
    }

    /// Records that an attempt at `endpoint` begun at `began` succeeded now.
    fn record_latency<C, R, H, O>(
        &self,
        view: &View<'_, S, C, R, H, O>,
        endpoint: usize,
        began: Option<Instant>,
    ) {
        if let (Some(hedging), Some(began)) = (view.inner.hedging.as_ref(), began) {
            hedging.record(endpoint, began.elapsed());
        }
    }

    /// Reports which attempt of a hedged call settled it.
    fn report_settled<C, R, H: OnEvent, O>(
        &self,
        view: &View<'_, S, C, R, H, O>,
        winner: usize,
        hedge_won: bool,
        cancelled: Option<usize>,
    ) {
        let endpoints = &view.inner.router.endpoints;
        view.inner.hook.on_event(&Event::HedgeSettled {
            winner: &endpoints[winner].name,
            hedge_won,
            cancelled: cancelled.map(|i| &*endpoints[i].name),
        });
    }

    /// Ends the call's hedge, wherever it is: its future is dropped (cancelled), and what its
    /// ticket holds is given back.
    #[inline]
    fn end_hedge<C, R, H, O>(&mut self, view: &View<'_, S, C, R, H, O>, now: &LazyNow<true>) {
        self.hedge.stage = Stage::Off;
        if self.hedge.slot.is_none() {
            return;
        }
        if let Some(ticket) = self.hedge.take_ticket() {
            Plan::release_hedge(&view.env, view.inner.hedging.as_ref(), ticket, now);
        }
        *self.hedge.slot = None;
    }
}

/// Polls a hop's service until it is ready, fails to get ready (`NotSent`, with its error), or
/// the hop's limit passes first.
fn poll_ready<S: Service<Req>, Req>(
    service: &mut Option<S>,
    limit: &mut Limit,
    timer: Pin<&mut Option<Sleep>>,
    deadline: Deadline,
    timeout: Option<Duration>,
    cx: &mut Context<'_>,
) -> Poll<Readied<ServiceResult<S, Req>>> {
    let Some(service) = service.as_mut() else {
        unreachable!("readying an admitted endpoint's service")
    };
    Poll::Ready(match service.poll_ready(cx) {
        Poll::Ready(Ok(())) => match limit.passed(timer) {
            Some(cut) => Readied::Ended(AttemptEnd::Cut { cut, sent: false }),
            None => Readied::Send,
        },
        Poll::Ready(Err(e)) => {
            Readied::Ended(AttemptEnd::Finished(Outcome::not_sent(), Some(Err(e))))
        }
        Poll::Pending => Readied::Ended(AttemptEnd::Cut {
            cut: ready!(limit.poll(timer, deadline, timeout, cx)),
            sent: false,
        }),
    })
}

/// Polls an attempt in flight: its result, or the hop's limit cutting it.
fn poll_sent<Fut: Future>(
    fut: Pin<&mut Fut>,
    limit: &mut Limit,
    timer: Pin<&mut Option<Sleep>>,
    deadline: Deadline,
    timeout: Option<Duration>,
    cx: &mut Context<'_>,
) -> Poll<Result<Fut::Output, Limit>> {
    match fut.poll(cx) {
        Poll::Ready(result) => Poll::Ready(Ok(result)),
        Poll::Pending => limit.poll(timer, deadline, timeout, cx).map(Err),
    }
}

impl<S, Req, C, R, H, O> Future for ResponseFuture<S, Req, C, R, H, O>
where
    S: Service<Req> + Clone,
    S::Error: FailoverError,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Call { shared, executor } = this.call;
        // One look through the shared reference (owned or leaked) for the whole poll.
        let inner: &Inner<S, C, R, H, O> = shared;
        let view = View {
            inner,
            env: inner.env(),
        };
        loop {
            let timeout = view.inner.settings.attempt_timeout;
            let ended = match this.phase.as_mut().project() {
                PhaseProj::Start => {
                    let action = executor.start(&view, &mut LazyNow::live());
                    match carry_out(
                        executor,
                        &view,
                        action,
                        this.phase.as_mut(),
                        this.timer.as_mut(),
                        cx,
                    ) {
                        Some(poll) => return poll,
                        None => continue,
                    }
                }
                PhaseProj::Readying => {
                    let deadline = executor.plan.deadline();
                    let timer = this.timer.as_mut();
                    match ready!(poll_ready(
                        &mut executor.service,
                        &mut executor.limit,
                        timer,
                        deadline,
                        timeout,
                        cx
                    )) {
                        Readied::Ended(ended) => {
                            // Its endpoint did not get ready: nothing was sent, nothing is paid
                            // for.
                            executor.plan.not_sent(&view.env);
                            ended
                        }
                        Readied::Send => {
                            let fut = executor.send(&view);
                            this.phase.set(Phase::Calling { fut });
                            if let Some(hedging) = &view.inner.hedging {
                                executor.arm_hedge(hedging);
                            }
                            continue;
                        }
                    }
                }
                PhaseProj::Calling { fut } => {
                    let deadline = executor.plan.deadline();
                    let timer = this.timer.as_mut();
                    match poll_sent(fut, &mut executor.limit, timer, deadline, timeout, cx) {
                        Poll::Ready(Ok(result)) => {
                            let outcome = outcome_of(&view.inner.classifier, &result);
                            AttemptEnd::Finished(outcome, Some(result))
                        }
                        Poll::Ready(Err(_)) if executor.hedge.stage == Stage::Armed => {
                            // The timer was lent to the hedge's delay, which has passed.
                            executor.delay_passed(&view, this.timer.as_mut());
                            continue;
                        }
                        Poll::Ready(Err(cut)) => AttemptEnd::Cut { cut, sent: true },
                        Poll::Pending if executor.hedge.stage == Stage::Waiting => {
                            ready!(executor.lend_timer(&view, this.timer.as_mut(), cx));
                            // The delay has passed already.
                            executor.delay_passed(&view, this.timer.as_mut());
                            continue;
                        }
                        Poll::Pending if !executor.hedge.live() => return Poll::Pending,
                        Poll::Pending => match ready!(executor.race(&view, cx)) {
                            Some(result) => {
                                this.phase.set(Phase::Done);
                                return Poll::Ready(result);
                            }
                            None => continue,
                        },
                    }
                }
                PhaseProj::AwaitingHedge => ready!(executor.poll_hedge(&view, cx)),
                PhaseProj::Sleeping => {
                    if let Some(sleep) = this.timer.as_mut().as_pin_mut() {
                        ready!(sleep.poll(cx));
                    }
                    let action = executor.plan.resume(&view.env, &mut LazyNow::live());
                    match carry_out(
                        executor,
                        &view,
                        action,
                        this.phase.as_mut(),
                        this.timer.as_mut(),
                        cx,
                    ) {
                        Some(poll) => return poll,
                        None => continue,
                    }
                }
                PhaseProj::Done => panic!("failover ResponseFuture polled after completion"),
            };
            let mut now = LazyNow::live();
            let env = &view.env;
            let (outcome, result) = match ended {
                AttemptEnd::Finished(outcome, result) => (outcome, result),
                AttemptEnd::Cut { cut, sent } => {
                    let outcome = if sent {
                        Outcome::timeout()
                    } else {
                        Outcome::not_sent()
                    };
                    if cut == Limit::Deadline {
                        this.phase.set(Phase::Done);
                        if executor.hedge.active {
                            executor.end_hedge(&view, &now);
                        }
                        executor
                            .plan
                            .cut_by_deadline(env, outcome, executor.watch.lap(), &mut now);
                        return Poll::Ready(Err(DeadlineExceeded::new().into()));
                    }
                    (outcome, None)
                }
            };
            this.phase.set(Phase::Done);
            let lap = if executor.hedge.active {
                executor.lap(executor.hedge.adopted)
            } else {
                executor.watch.lap()
            };
            match executor.plan.finish(env, outcome, lap, &mut now) {
                Verdict::Final => {
                    let Some(result) = result else {
                        unreachable!("a cut attempt is transient")
                    };
                    if executor.hedge.active {
                        executor.settled(&view, outcome, &now);
                    }
                    return Poll::Ready(result);
                }
                Verdict::Failed => {
                    executor.last = Some(result);
                    if executor.hedge.active && executor.current_failed(&view, &now) {
                        this.phase.set(Phase::AwaitingHedge);
                        continue;
                    }
                    let action = executor.after_failure(&view, &mut now);
                    if let Some(poll) = carry_out(
                        executor,
                        &view,
                        action,
                        this.phase.as_mut(),
                        this.timer.as_mut(),
                        cx,
                    ) {
                        return poll;
                    }
                    // Another attempt at once (a repeat at the same endpoint, or a hop): it spends
                    // a unit of the task's cooperative budget, so that a run of attempts failing
                    // at once yields to the runtime (and an outer timeout fires).
                    ready!(crate::coop::proceed(cx));
                }
            }
        }
    }
}

/// Carries out the plan's `action`: `Some` when the poll returns now.
#[inline(always)]
fn carry_out<S, Req, C, R, H, O>(
    executor: &mut Executor<S, Req>,
    view: &View<'_, S, C, R, H, O>,
    action: Action,
    mut phase: Pin<&mut Phase<S::Future>>,
    timer: Pin<&mut Option<Sleep>>,
    cx: &mut Context<'_>,
) -> Option<Poll<ServiceResult<S, Req>>>
where
    S: Service<Req> + Clone,
    S::Error: FailoverError,
    R: Replay<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    match action {
        Action::Send(j) => {
            executor.take_service(view, j);
            phase.set(Phase::Readying);
            None
        }
        Action::Sleep(until) => {
            let until = Instant::from_std(until);
            arm(timer, until);
            phase.set(Phase::Sleeping);
            if until <= Instant::now() {
                // No sleep: yield first, so that endpoints failing at once with zero delays
                // cannot hold the thread.
                cx.waker().wake_by_ref();
                return Some(Poll::Pending);
            }
            None
        }
        Action::Stop(reason) => {
            phase.set(Phase::Done);
            Some(Poll::Ready(executor.stop(view, reason)))
        }
    }
}

impl<S, Req, C, R, H, O> fmt::Debug for ResponseFuture<S, Req, C, R, H, O>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Start => "start",
            Phase::Readying => "readying",
            Phase::Calling { .. } => "calling",
            Phase::Sleeping => "sleeping",
            Phase::AwaitingHedge => "awaiting hedge",
            Phase::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("phase", &phase)
            .field(
                "route",
                &if self.call.executor.plan.on_usual_route() {
                    "direct"
                } else {
                    "detour"
                },
            )
            .field("attempts", &self.call.executor.plan.attempts())
            .field("pass", &self.call.executor.plan.pass())
            .field("deadline", &self.call.executor.plan.deadline())
            .finish_non_exhaustive()
    }
}
