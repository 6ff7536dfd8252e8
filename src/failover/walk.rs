//! The general walk of a failover call: every endpoint, hop, recover pass and stop. A call starts
//! on the direct path ([`super::future`]) and continues here, boxed, once it needs more than one
//! attempt at one endpoint.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::router::{LazyNow, Unavailable};
use super::{
    EndpointBreaker, FailoverError, Inner, ReplayMarker, RequestOptions, Shared, drop_permit,
};
use crate::backoff::Cursor;
use crate::breaker::Permit;
use crate::budget::Withdrawal;
use crate::classify::{Classify, Outcome, outcome_of};
use crate::clock::{Glue, now};
use crate::deadline::Deadline;
use crate::error::{AttemptRecord, AttemptTimedOut, DeadlineExceeded, NoEndpointAvailable};
use crate::event::{Event, GiveUpReason, OnEvent};
use crate::limit::{Limit, arm};
use crate::replay::Replay;

pin_project! {
    /// The walk: the request (or its copy), the service of the endpoint being tried, that
    /// endpoint's breaker permit, its place in the recover schedule.
    pub(super) struct WalkFuture<S, Req, C, R, H, O>
    where
        S: Service<Req>,
        S: 'static,
        C: 'static,
        R: 'static,
        H: 'static,
        O: 'static,
    {
        #[pin]
        state: State<S::Future, Answer<S, Req>>,
        // One timer, created on first need and reset after: a hop's limit, a recover sleep.
        #[pin]
        timer: Option<Sleep>,
        walk: Walk<S, Req, C, R, H, O>,
    }
}

pin_project! {
    #[project = StateProj]
    pub(super) enum State<F, T> {
        // Choosing the first endpoint.
        Start,
        // The direct path's attempt ended with this step: handle it first.
        Resume { step: Option<Step<T>> },
        // Waiting for the current endpoint's service to be ready.
        Readying,
        // The attempt is in flight.
        Calling { #[pin] fut: F },
        // Sleeping before a pass, on the timer.
        Sleeping,
        Done,
    }
}

/// Where the walk goes after a failure or at a pass's start.
enum Next {
    /// An endpoint admitted the attempt: ready its service.
    Attempt,
    /// Sleep until this instant, then start a pass.
    Sleep(Instant),
    /// No further attempt.
    Stop(GiveUpReason),
}

/// The unpinned state of one call: the shared state, and the walk's own.
struct Walk<S, Req, C, R, H, O>
where
    S: Service<Req>,
    S: 'static,
    C: 'static,
    R: 'static,
    H: 'static,
    O: 'static,
{
    shared: Shared<Inner<S, C, R, H, O>>,
    st: CallState<S, Req>,
}

/// What an endpoint's service answered.
pub(super) type Answer<S, Req> = Result<<S as Service<Req>>::Response, <S as Service<Req>>::Error>;

/// Where a walk is.
pub(super) struct CallState<S: Service<Req>, Req> {
    /// The request until it is first sent; then the copy further attempts send, if any.
    request: Option<Req>,
    /// Whether the request has been sent (so further attempts need the replay hook's leave).
    sent: bool,
    /// Whether the current attempt has been sent and has no outcome yet.
    in_flight: bool,
    replay: Option<ReplayMarker>,
    /// The service of the current endpoint, while readying it.
    service: Option<S>,
    /// The current endpoint's admission.
    permit: Option<Permit<EndpointBreaker>>,
    /// The endpoint of the current (or last) attempt.
    current: usize,
    /// The endpoints this call may use.
    candidates: u32,
    pinned: bool,
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
    /// The earliest an endpoint skipped in this pass becomes available, if known.
    retry_in: Option<Duration>,
    /// Why the serving endpoint was skipped, when this call skipped it.
    serving_skipped: Option<Unavailable>,
    cursor: Cursor,
    deadline: Deadline,
    /// The instant elapsed times count from.
    start: Option<std::time::Instant>,
    limit: Limit,
    /// The last failure: its outcome, and its result if it had one (a cut attempt has none).
    last: Option<(Outcome, Option<Answer<S, Req>>)>,
    records: Vec<AttemptRecord>,
    pending: Option<Withdrawal>,
    spent: Option<Withdrawal>,
}

impl<S: Service<Req>, Req, C, R, H, O> Walk<S, Req, C, R, H, O> {
    /// Tokens withdrawn for an attempt not sent (the hop was not ready, the call stopped or was
    /// dropped) go back.
    fn unsent(&mut self) {
        if let Some(w) = self.st.pending.take() {
            self.shared.budget.refund(w);
        }
    }
}

impl<S, Req, C, R, H, O> Drop for Walk<S, Req, C, R, H, O>
where
    S: Service<Req>,
{
    fn drop(&mut self) {
        self.unsent();
        if let Some(i) = self.st.trickle.take() {
            self.shared.router.end_trickle(i);
        }
        drop_permit(self.st.permit.take(), self.st.in_flight);
    }
}

/// What a call settled before its walk: the request's options and its deadline.
#[derive(Debug, Clone, Copy)]
pub(super) struct Applied {
    pub(super) replay: Option<ReplayMarker>,
    pub(super) deadline: Deadline,
    pub(super) start: Option<std::time::Instant>,
    /// The endpoints the call may use (all, or the pinned one; none for an unknown name).
    pub(super) candidates: u32,
    pub(super) pinned: bool,
}

impl Applied {
    /// Whether the deadline had passed when the call was made (a request's own zero deadline).
    #[inline]
    pub(super) fn expired_at_start(&self) -> bool {
        matches!((self.deadline.instant(), self.start), (Some(d), Some(s)) if d <= s)
    }
}

/// The direct path's attempt, when the walk takes over after it.
pub(super) struct First<S, Req> {
    /// The endpoint.
    pub(super) endpoint: usize,
    /// Its permit, unrecorded.
    pub(super) permit: Option<Permit<EndpointBreaker>>,
    /// The request, if it was not sent; else the copy for further attempts, if any.
    pub(super) request: Option<Req>,
    pub(super) sent: bool,
    pub(super) service: Option<S>,
}

impl<S: Service<Req>, Req> CallState<S, Req> {
    /// A walk from the start (`first: None`), or after the direct path's attempt.
    pub(super) fn new(applied: Applied, cursor: Cursor, first: First<S, Req>, start: bool) -> Self {
        let (tried, here, admitted) = if start {
            (0, 0, 0)
        } else {
            (1 << first.endpoint, 1, 1)
        };
        CallState {
            request: first.request,
            sent: first.sent,
            in_flight: false,
            replay: applied.replay,
            service: first.service,
            permit: first.permit,
            current: first.endpoint,
            candidates: applied.candidates,
            pinned: applied.pinned,
            tried,
            head: None,
            trickle: None,
            here,
            attempts: 0,
            admitted,
            pass: 1,
            retry_in: None,
            serving_skipped: None,
            cursor,
            deadline: applied.deadline,
            start: applied.start,
            limit: Limit::Unarmed,
            last: None,
            records: Vec::new(),
            pending: None,
            spent: None,
        }
    }
}

impl<S: Service<Req>, Req, C, R, H, O> WalkFuture<S, Req, C, R, H, O> {
    /// The walk of a call, in `state`.
    pub(super) fn new(
        shared: Shared<Inner<S, C, R, H, O>>,
        st: CallState<S, Req>,
        state: State<S::Future, Answer<S, Req>>,
    ) -> Self {
        WalkFuture {
            state,
            timer: None,
            walk: Walk { shared, st },
        }
    }
}

/// What readying a hop's service came to.
pub(super) enum Readiness<T> {
    /// Ready, within the hop's limit: send the attempt.
    Send,
    /// Not sent: the service failed to get ready, or the hop's limit passed first.
    Ended(Step<T>),
}

/// Polls a hop's service until it is ready, fails to get ready (`NotSent`, with its error), or
/// the hop's limit passes first. Shared by the direct path and the walk.
pub(super) fn poll_ready<S: Service<Req>, Req>(
    service: &mut Option<S>,
    limit: &mut Limit,
    timer: Pin<&mut Option<Sleep>>,
    deadline: Deadline,
    timeout: Option<Duration>,
    cx: &mut Context<'_>,
) -> Poll<Readiness<Answer<S, Req>>> {
    let Some(service) = service.as_mut() else {
        unreachable!("readying an admitted endpoint's service")
    };
    Poll::Ready(match service.poll_ready(cx) {
        Poll::Ready(Ok(())) => match limit.passed(timer) {
            Some(cut) => Readiness::Ended(Step::Cut { cut, sent: false }),
            None => Readiness::Send,
        },
        Poll::Ready(Err(e)) => Readiness::Ended(Step::Finished(Outcome::not_sent(), Some(Err(e)))),
        Poll::Pending => Readiness::Ended(Step::Cut {
            cut: ready!(limit.poll(timer, deadline, timeout, cx)),
            sent: false,
        }),
    })
}

/// Polls an attempt in flight: its result, or the hop's limit cutting it.
pub(super) fn poll_sent<Fut: Future>(
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

/// Takes the request to send on `service`, keeping a copy through `replay` when `more`
/// attempts may follow.
pub(super) fn send<S: Service<Req>, Req>(
    replay: &impl Replay<Req>,
    request: &mut Option<Req>,
    service: &mut Option<S>,
    more: bool,
) -> S::Future {
    let Some(req) = request.take() else {
        unreachable!("an attempt is admitted only with a request to send")
    };
    if more {
        *request = replay.replay(&req);
    }
    let Some(mut service) = service.take() else {
        unreachable!("an attempt is sent on its endpoint's service")
    };
    service.call(req)
}

/// What ended a step: an outcome (with the result, if there is one), or a limit that fired.
pub(super) enum Step<T> {
    Finished(Outcome, Option<T>),
    /// The limit `cut` fired; `sent` tells whether the attempt had been sent.
    Cut {
        cut: Limit,
        sent: bool,
    },
}

/// The end of a finished attempt: return this result, or go on.
enum After<T> {
    Return(T),
    Go(Next),
}

impl<S, Req, C, R, H, O> Walk<S, Req, C, R, H, O>
where
    S: Service<Req> + Clone,
    S::Error: FailoverError,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    /// Chooses the call's first endpoint.
    fn route(&mut self) -> Next {
        let inner = &*self.shared;
        let st = &mut self.st;
        let mut now = LazyNow::new(now);
        if st.pinned {
            if st.candidates == 0 {
                return Next::Stop(GiveUpReason::NoEndpointAvailable);
            }
        } else if let Some((i, trickle)) = inner.router.head(st.candidates, &mut now) {
            st.head = Some(i);
            st.trickle = trickle.then_some(i);
        }
        self.in_pass(&mut now)
    }

    /// Decides what follows the failure just recorded.
    fn after_failure(&mut self, now: &mut LazyNow) -> Next {
        let inner = &*self.shared;
        let st = &mut self.st;
        if st.sent {
            let Some((outcome, _)) = &st.last else {
                unreachable!("a failure was recorded")
            };
            let allowed = match (&st.request, st.replay) {
                (None, _) | (_, Some(ReplayMarker::Once)) => false,
                (Some(_), Some(ReplayMarker::Always)) => true,
                (Some(copy), None) => inner.replay.may_replay(copy, outcome),
            };
            if !allowed {
                // No copy was kept when no further attempt was possible at all.
                let none_possible = st.replay != Some(ReplayMarker::Once)
                    && !inner.may_repeat(st.candidates, st.replay);
                return Next::Stop(if none_possible {
                    GiveUpReason::RetriesExhausted
                } else {
                    GiveUpReason::NotReplayable
                });
            }
        }
        let last = st.last.as_ref().map(|(o, _)| *o);
        let again = st.here < inner.settings.attempts_per_endpoint
            && last.is_some_and(|o| o.transient_kind() != Some(crate::TransientKind::Throttled));
        if again {
            let current = self.st.current;
            if let Some(next) = self.admit(current, now) {
                return next;
            }
        }
        self.in_pass(now)
    }

    /// The next endpoint of this pass, or what follows the pass.
    fn in_pass(&mut self, now: &mut LazyNow) -> Next {
        loop {
            let pick = self
                .shared
                .router
                .pick(self.st.candidates, self.st.tried, self.st.head);
            let Some(j) = pick else {
                return self.end_of_pass(now);
            };
            self.st.tried |= 1 << j;
            if let Some(next) = self.admit(j, now) {
                return next;
            }
        }
    }

    /// Every endpoint of the pass was tried or skipped: sleep before the next pass, or stop.
    fn end_of_pass(&mut self, now: &mut LazyNow) -> Next {
        let inner = &*self.shared;
        let st = &mut self.st;
        let nothing_admitted = st.admitted == 0;
        let Some(delay) = inner.settings.recover.next_delay(&mut st.cursor) else {
            return Next::Stop(if nothing_admitted {
                GiveUpReason::NoEndpointAvailable
            } else {
                GiveUpReason::RetriesExhausted
            });
        };
        let at = now.get();
        let sleep = if nothing_admitted {
            // Wait for the earliest endpoint if it comes within the delay and the deadline.
            match st.retry_in {
                Some(wait) if wait <= delay && st.deadline.fits_after(at, wait) => wait,
                _ => return Next::Stop(GiveUpReason::NoEndpointAvailable),
            }
        } else {
            if !st.deadline.fits_after(at, delay) {
                return Next::Stop(GiveUpReason::Deadline);
            }
            if let (Some((outcome, _)), Some(level)) = (&st.last, inner.budget.level()) {
                if st.sent && level < inner.budget.cost_after(outcome) {
                    return Next::Stop(GiveUpReason::BudgetExhausted);
                }
            }
            delay
        };
        let Some(until) = at.checked_add(sleep) else {
            return Next::Stop(GiveUpReason::DelayOutOfRange);
        };
        st.pass = st.pass.saturating_add(1);
        st.tried = 0;
        st.admitted = 0;
        st.here = 0;
        st.retry_in = None;
        inner.hook.on_event(&Event::RecoverPass {
            pass: st.pass,
            delay: sleep,
        });
        Next::Sleep(Instant::from_std(until))
    }

    /// Tries to admit the next attempt at endpoint `j`: `None` if it is unavailable (skipped),
    /// else the attempt, or a stop when the budget cannot pay for it.
    fn admit(&mut self, j: usize, now: &mut LazyNow) -> Option<Next> {
        let inner = &*self.shared;
        let router = &inner.router;
        let endpoint = &router.endpoints[j];
        // Never an attempt once the deadline has passed (the clock is read only with one).
        if self.st.deadline.is_some() && self.st.deadline.is_expired(now.get()) {
            return Some(Next::Stop(GiveUpReason::Deadline));
        }
        if let Some(why) = router.blocked(j) {
            self.st.skip(inner, j, why, None);
            return None;
        }
        if let Some(left) = router.pushed_back(j, now) {
            self.st.skip(inner, j, Unavailable::PushedBack, Some(left));
            return None;
        }
        let permit = match Permit::acquire(self.shared.breaker(j), Glue) {
            Ok(permit) => permit,
            Err(rejected) => {
                router.observe_breaker(j, endpoint.breaker.state());
                self.st
                    .skip(inner, j, Unavailable::BreakerOpen, rejected.retry_in);
                return None;
            }
        };
        let st = &mut self.st;
        if permit.is_probe() {
            router.observe_breaker(j, crate::breaker::BreakerState::HalfOpen);
        }
        if st.sent {
            let Some((outcome, _)) = &st.last else {
                unreachable!("a request is sent again only after a failure")
            };
            match inner.budget.try_withdraw(outcome) {
                Some(w) => st.pending = Some(w),
                None => return Some(Next::Stop(GiveUpReason::BudgetExhausted)),
            }
        }
        // A probe is not the endpoint taking traffic again: its breaker closing is.
        if !permit.is_probe() && router.mark_available(j) {
            inner.hook.on_event(&Event::EndpointAvailable {
                endpoint: &endpoint.name,
            });
        }
        let same = st.here > 0 && st.current == j;
        if st.here > 0 {
            let attempt = st.attempts.saturating_add(1);
            let budget_level = inner.budget.level();
            inner.hook.on_event(&if same {
                Event::Retry {
                    endpoint: Some(&endpoint.name),
                    attempt,
                    delay: Duration::ZERO,
                    budget_level,
                }
            } else {
                Event::Hop {
                    from: &router.endpoints[st.current].name,
                    to: &endpoint.name,
                    attempt,
                    budget_level,
                }
            });
        }
        // The first endpoint a call is admitted to, other than as a probe or the trickle, is the
        // one calls go to first: the serving endpoint.
        if st.attempts == 0 && !st.pinned && !permit.is_probe() && st.trickle != Some(j) {
            if let Some(old) = router.serve(j) {
                let from = &router.endpoints[old].name;
                inner.hook.on_event(&if j > old {
                    Event::FailedOver {
                        from,
                        to: &endpoint.name,
                        reason: st.serving_skipped,
                    }
                } else {
                    Event::FailedBack {
                        from,
                        to: &endpoint.name,
                    }
                });
            }
        }
        st.here = if same { st.here + 1 } else { 1 };
        st.current = j;
        st.admitted += 1;
        st.permit = Some(permit);
        st.in_flight = false;
        st.service = Some(inner.services[j].clone());
        st.limit = Limit::Unarmed;
        Some(Next::Attempt)
    }

    /// Sends the attempt on the (ready) service of the current endpoint.
    fn send(&mut self) -> S::Future {
        let inner = &*self.shared;
        let st = &mut self.st;
        let more = st.sent || inner.may_repeat(st.candidates, st.replay);
        st.sent = true;
        st.in_flight = true;
        if let Some(w) = st.pending.take() {
            st.spent = Some(w);
        }
        send(&inner.replay, &mut st.request, &mut st.service, more)
    }

    /// Records a finished attempt: `Return` the result, or go on.
    fn finish(
        &mut self,
        outcome: Outcome,
        result: Option<Result<S::Response, S::Error>>,
        now: &mut LazyNow,
    ) -> After<Result<S::Response, S::Error>> {
        let inner = &*self.shared;
        let router = &inner.router;
        let st = &mut self.st;
        let j = st.current;
        let endpoint = &router.endpoints[j];
        st.attempts = st.attempts.saturating_add(1);
        inner.hook.on_event(&Event::Attempt {
            endpoint: Some(&endpoint.name),
            attempt: st.attempts,
            outcome,
        });
        if let Some(permit) = st.permit.take() {
            permit.record(&outcome, Glue);
        }
        // The call's probe or trickle attempt is over: its later attempts route as any call's
        // (so a recover pass does not go back to the demoted endpoint first without the slot).
        if st.head == Some(j) {
            st.head = None;
        }
        if st.trickle == Some(j) {
            st.trickle = None;
            router.end_trickle(j);
        }
        if outcome.is_success() {
            inner.budget.on_success(st.spent.take());
            router.succeeded(j, now);
        }
        if !outcome.is_retryable() {
            let Some(result) = result else {
                unreachable!("a cut attempt is transient")
            };
            return After::Return(result);
        }
        if outcome.breaker_effect() == crate::classify::BreakerEffect::Failure {
            router.failed(j);
            router.observe_breaker(j, endpoint.breaker.state());
        }
        let at = now.get();
        if let Some(hint) = outcome.retry_after() {
            router.push_back(j, at, hint.min(inner.settings.retry_after_cap));
        }
        let start = *st.start.get_or_insert(at);
        st.records.push(AttemptRecord {
            endpoint: endpoint.name.clone(),
            outcome,
            elapsed: at.saturating_duration_since(start),
        });
        st.last = Some((outcome, result));
        After::Go(self.after_failure(now))
    }

    /// The end of a walk that makes no further attempt.
    fn stop(&mut self, reason: GiveUpReason) -> Result<S::Response, S::Error> {
        self.unsent();
        let inner = &*self.shared;
        let st = &mut self.st;
        st.permit = None;
        if let Some(i) = st.trickle.take() {
            inner.router.end_trickle(i);
        }
        inner.hook.on_event(&Event::GaveUp {
            endpoint: (st.attempts > 0).then(|| &*inner.router.endpoints[st.current].name),
            attempts: st.attempts,
            reason,
            budget_level: inner.budget.level(),
        });
        match st.last.take() {
            Some((_, Some(Ok(response)))) => Ok(response),
            Some((_, Some(Err(e)))) => Err(S::Error::all_endpoints_failed(
                std::mem::take(&mut st.records),
                e,
            )),
            Some((_, None)) => {
                let timeout = inner.settings.attempt_timeout.unwrap_or_default();
                let records = std::mem::take(&mut st.records);
                Err(S::Error::all_endpoints_timed_out(
                    records,
                    AttemptTimedOut::new(timeout),
                ))
            }
            None if reason == GiveUpReason::Deadline => Err(DeadlineExceeded::new().into()),
            None => Err(NoEndpointAvailable::new(st.retry_in).into()),
        }
    }
}

impl<S: Service<Req>, Req> CallState<S, Req> {
    /// Endpoint `j` was skipped as unavailable.
    fn skip<C, R, H: OnEvent, O>(
        &mut self,
        inner: &Inner<S, C, R, H, O>,
        j: usize,
        reason: Unavailable,
        retry_in: Option<Duration>,
    ) {
        if let Some(r) = retry_in {
            self.retry_in = Some(self.retry_in.map_or(r, |e| e.min(r)));
        }
        let router = &inner.router;
        if self.trickle == Some(j) {
            self.trickle = None;
            router.end_trickle(j);
        }
        if j == router.serving() {
            self.serving_skipped = Some(reason);
        }
        if router.mark_unavailable(j) {
            inner.hook.on_event(&Event::EndpointUnavailable {
                endpoint: &router.endpoints[j].name,
                reason,
            });
        }
    }
}

impl<S, Req, C, R, H, O> Future for WalkFuture<S, Req, C, R, H, O>
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
        let walk = this.walk;
        loop {
            let timeout = walk.shared.settings.attempt_timeout;
            let step = match this.state.as_mut().project() {
                StateProj::Resume { step } => {
                    let Some(step) = step.take() else {
                        unreachable!("a step is resumed once")
                    };
                    step
                }
                StateProj::Start => {
                    let next = walk.route();
                    match go(walk, next, this.state.as_mut(), this.timer.as_mut(), cx) {
                        Some(poll) => return poll,
                        None => continue,
                    }
                }
                StateProj::Readying => {
                    let st = &mut walk.st;
                    let timer = this.timer.as_mut();
                    match ready!(poll_ready(
                        &mut st.service,
                        &mut st.limit,
                        timer,
                        st.deadline,
                        timeout,
                        cx
                    )) {
                        Readiness::Ended(step) => step,
                        Readiness::Send => {
                            let fut = walk.send();
                            this.state.set(State::Calling { fut });
                            continue;
                        }
                    }
                }
                StateProj::Calling { fut } => {
                    let st = &mut walk.st;
                    let timer = this.timer.as_mut();
                    match ready!(poll_sent(
                        fut,
                        &mut st.limit,
                        timer,
                        st.deadline,
                        timeout,
                        cx
                    )) {
                        Ok(result) => {
                            let outcome = outcome_of(&walk.shared.classifier, &result);
                            Step::Finished(outcome, Some(result))
                        }
                        Err(cut) => Step::Cut { cut, sent: true },
                    }
                }
                StateProj::Sleeping => {
                    if let Some(sleep) = this.timer.as_mut().as_pin_mut() {
                        ready!(sleep.poll(cx));
                    }
                    let next = walk.in_pass(&mut LazyNow::new(now));
                    match go(walk, next, this.state.as_mut(), this.timer.as_mut(), cx) {
                        Some(poll) => return poll,
                        None => continue,
                    }
                }
                StateProj::Done => panic!("failover ResponseFuture polled after completion"),
            };
            let mut now = LazyNow::new(now);
            let (outcome, result) = match step {
                Step::Finished(outcome, result) => (outcome, result),
                Step::Cut { cut, sent } => {
                    let outcome = if sent {
                        Outcome::timeout()
                    } else {
                        Outcome::not_sent()
                    };
                    if cut == Limit::Deadline {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(walk.deadline_cut(outcome)));
                    }
                    (outcome, None)
                }
            };
            if matches!(this.state.as_ref().get_ref(), State::Readying) {
                // Its endpoint did not get ready: nothing was sent, nothing is paid for.
                walk.unsent();
            }
            this.state.set(State::Done);
            match walk.finish(outcome, result, &mut now) {
                After::Return(result) => return Poll::Ready(result),
                After::Go(next) => {
                    if let Some(poll) = go(walk, next, this.state.as_mut(), this.timer.as_mut(), cx)
                    {
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

/// Moves the future to what `next` says: `Some` when the poll returns now.
#[inline]
fn go<S, Req, C, R, H, O>(
    walk: &mut Walk<S, Req, C, R, H, O>,
    next: Next,
    mut state: Pin<&mut State<S::Future, Answer<S, Req>>>,
    timer: Pin<&mut Option<Sleep>>,
    cx: &mut Context<'_>,
) -> Option<Poll<Result<S::Response, S::Error>>>
where
    S: Service<Req> + Clone,
    S::Error: FailoverError,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    match next {
        Next::Attempt => {
            state.set(State::Readying);
            None
        }
        Next::Sleep(until) => {
            arm(timer, until);
            state.set(State::Sleeping);
            if until <= Instant::now() {
                // No sleep: yield first, so that endpoints failing at once with zero delays
                // cannot hold the thread.
                cx.waker().wake_by_ref();
                return Some(Poll::Pending);
            }
            None
        }
        Next::Stop(reason) => {
            state.set(State::Done);
            Some(Poll::Ready(walk.stop(reason)))
        }
    }
}

impl<S, Req, C, R, H, O> Walk<S, Req, C, R, H, O>
where
    S: Service<Req>,
    S::Error: From<DeadlineExceeded>,
    H: OnEvent,
{
    /// The deadline cut the current hop: records it for the endpoint, and ends the call.
    fn deadline_cut(&mut self, outcome: Outcome) -> S::Error {
        self.unsent();
        let inner = &*self.shared;
        let st = &mut self.st;
        st.attempts = st.attempts.saturating_add(1);
        let endpoint = &*inner.router.endpoints[st.current].name;
        if let Some(permit) = st.permit.take() {
            permit.record(&outcome, Glue);
        }
        inner.hook.on_event(&Event::Attempt {
            endpoint: Some(endpoint),
            attempt: st.attempts,
            outcome,
        });
        inner.hook.on_event(&Event::DeadlineExceeded {
            endpoint: Some(endpoint),
            attempt: st.attempts,
        });
        DeadlineExceeded::new().into()
    }
}

impl<S, Req, C, R, H, O> fmt::Debug for WalkFuture<S, Req, C, R, H, O>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start => "start",
            State::Resume { .. } => "resuming",
            State::Readying => "readying",
            State::Calling { .. } => "calling",
            State::Sleeping => "sleeping",
            State::Done => "done",
        };
        f.debug_struct("Walk")
            .field("state", &state)
            .field("attempts", &self.walk.st.attempts)
            .field("pass", &self.walk.st.pass)
            .field("deadline", &self.walk.st.deadline)
            .finish_non_exhaustive()
    }
}
