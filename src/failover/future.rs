//! The future of a call through [`Failover`](super::Failover): the walk.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::router::{LazyNow, Unavailable, all};
use super::{EndpointBreaker, Inner, ReplayMarker, RequestOptions, Shared};
use crate::backoff::Cursor;
use crate::breaker::Permit;
use crate::budget::Withdrawal;
use crate::classify::{Classify, Outcome, outcome_of};
use crate::clock::now;
use crate::deadline::Deadline;
use crate::error::{
    AllEndpointsFailed, AttemptRecord, AttemptTimedOut, BoxError, DeadlineExceeded,
    NoEndpointAvailable,
};
use crate::event::{Event, GiveUpReason, OnEvent};
use crate::limit::{Limit, arm};
use crate::replay::Replay;

pin_project! {
    /// The response future of [`Failover`](super::Failover).
    ///
    /// It owns the walk: the request (or its copy), the service of the endpoint being tried,
    /// that endpoint's breaker permit, its place in the recover schedule. Creating one allocates
    /// nothing; a failed attempt is recorded in a list that allocates on the first failure.
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
        state: State<S::Future>,
        // One timer, created on first need and reset after: a hop's limit, a recover sleep.
        #[pin]
        timer: Option<Sleep>,
        walk: Walk<S, Req, C, R, H, O>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // Choosing the first endpoint (on first poll).
        Start,
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
type Answer<S, Req> = Result<<S as Service<Req>>::Response, <S as Service<Req>>::Error>;

/// Where a walk is.
struct CallState<S: Service<Req>, Req> {
    /// The request until it is first sent; then the copy further attempts send, if any.
    request: Option<Req>,
    /// Whether the request has been sent (so further attempts need the replay hook's leave).
    sent: bool,
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

impl<S, Req, C, R, H, O> Drop for Walk<S, Req, C, R, H, O>
where
    S: Service<Req>,
{
    fn drop(&mut self) {
        if let Some(w) = self.st.pending.take() {
            self.shared.budget.refund(w);
        }
        if let Some(i) = self.st.trickle.take() {
            self.shared.router.end_trickle(i);
        }
    }
}

impl<S, Req, C, R, H, O> ResponseFuture<S, Req, C, R, H, O>
where
    S: Service<Req> + Clone,
    S::Error: From<AllEndpointsFailed> + From<NoEndpointAvailable> + From<DeadlineExceeded>,
    S::Error: Into<BoxError> + 'static,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    /// A call of `req`: reads its options at once, so that its deadline counts from the call;
    /// the first poll routes it.
    #[inline]
    pub(super) fn new(shared: Shared<Inner<S, C, R, H, O>>, req: Req, seed: u64) -> Self {
        let cursor = shared.settings.recover.cursor(seed);
        let candidates = all(shared.services.len());
        let mut fut = ResponseFuture {
            state: State::Start,
            timer: None,
            walk: Walk {
                shared,
                st: CallState {
                    request: Some(req),
                    sent: false,
                    replay: None,
                    service: None,
                    permit: None,
                    current: 0,
                    candidates,
                    pinned: false,
                    tried: 0,
                    head: None,
                    trickle: None,
                    here: 0,
                    attempts: 0,
                    admitted: 0,
                    pass: 1,
                    retry_in: None,
                    serving_skipped: None,
                    cursor,
                    deadline: Deadline::none(),
                    start: None,
                    limit: Limit::Unarmed,
                    last: None,
                    records: Vec::new(),
                    pending: None,
                    spent: None,
                },
            },
        };
        let settings = &fut.walk.shared.settings;
        if settings.deadline.is_some() || settings.attempt_timeout.is_some() {
            fut.walk.st.start = Some(now());
        }
        fut
    }
}

/// What ended a step: an outcome (with the result, if there is one), or a limit that fired.
enum Step<T> {
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
    S::Error: From<AllEndpointsFailed> + From<NoEndpointAvailable> + From<DeadlineExceeded>,
    S::Error: Into<BoxError> + 'static,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    /// Reads the request's options, and sets the deadline: from the call when a deadline or an
    /// attempt timeout is configured (the clock was read then), else from now.
    fn options(&mut self) {
        let inner = &*self.shared;
        let st = &mut self.st;
        let Some(req) = st.request.as_ref() else {
            unreachable!("a call starts with its request")
        };
        let options = inner.options.options(req);
        st.replay = options.replay;
        let deadline = match (inner.settings.deadline, options.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(d) = deadline {
            let start = *st.start.get_or_insert_with(now);
            st.deadline = Deadline::after(start, d);
        }
        if let Some(name) = options.endpoint {
            st.pinned = true;
            st.candidates = match inner.router.endpoints.iter().position(|e| &*e.name == name) {
                Some(i) => 1 << i,
                None => 0,
            };
        }
    }

    /// Reads the request's options and chooses the call's first endpoint (on first poll).
    fn route(&mut self) -> Next {
        self.options();
        let inner = &*self.shared;
        let st = &mut self.st;
        let mut now = LazyNow::new(now);
        if st.pinned {
            if st.candidates == 0 {
                return Next::Stop(GiveUpReason::NoEndpointAvailable);
            }
        } else if !inner.router.quiet() {
            if let Some((i, trickle)) = inner.router.head(st.candidates, &mut now) {
                st.head = Some(i);
                st.trickle = trickle.then_some(i);
            }
        } else if inner.router.serving() == 0 && self.admit_primary(&mut now) {
            return Next::Attempt;
        }
        self.in_pass(&mut now)
    }

    /// Endpoint `j`'s breaker, as a permit holds it.
    #[inline]
    fn breaker(&self, j: usize) -> EndpointBreaker {
        match &self.shared {
            Shared::Static(inner) => EndpointBreaker::Static(&inner.router.endpoints[j].breaker),
            Shared::Owned(inner) => {
                EndpointBreaker::Owned(inner.router.endpoints[j].breaker.clone())
            }
        }
    }

    /// The common case, in short: nothing is out of the ordinary (no endpoint unavailable or
    /// demoted, the primary serving), so the call goes to the primary if it is not pushed back
    /// and its breaker admits it as a closed breaker does. Nothing changes that a call would
    /// report: no event, no serving change. False: take the walk's general path.
    #[inline]
    fn admit_primary(&mut self, now: &mut LazyNow) -> bool {
        let inner = &*self.shared;
        if inner.router.pushed_back(0, now).is_some() {
            return false;
        }
        match Permit::acquire(self.breaker(0), || now.get()) {
            Ok(permit) if !permit.is_probe() => {
                let st = &mut self.st;
                st.tried = 1;
                st.here = 1;
                st.admitted = 1;
                st.permit = Some(permit);
                st.service = Some(inner.services[0].clone());
                true
            }
            // Dropping a probe permit gives its slot back; the general path takes it again.
            _ => false,
        }
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
                return Next::Stop(GiveUpReason::NotReplayable);
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
        if let Some(left) = router.pushed_back(j, now) {
            self.st.skip(inner, j, Unavailable::PushedBack, Some(left));
            return None;
        }
        let breaker = match &self.shared {
            Shared::Static(inner) => EndpointBreaker::Static(&inner.router.endpoints[j].breaker),
            Shared::Owned(inner) => {
                EndpointBreaker::Owned(inner.router.endpoints[j].breaker.clone())
            }
        };
        let permit = match Permit::acquire(breaker, || now.get()) {
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
        if router.mark_available(j) {
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
        if st.attempts == 0 && !st.pinned && st.head.is_none() && !permit.is_probe() {
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
        st.service = Some(inner.services[j].clone());
        st.limit = Limit::Unarmed;
        Some(Next::Attempt)
    }

    /// Sends the attempt on the (ready) service of the current endpoint.
    fn send(&mut self) -> S::Future {
        let inner = &*self.shared;
        let st = &mut self.st;
        let Some(req) = st.request.take() else {
            unreachable!("an attempt is admitted only with a request to send")
        };
        let more = if st.sent {
            true
        } else {
            let passes = inner.settings.recover.max_retries().saturating_add(1);
            let bound = passes
                .saturating_mul(st.candidates.count_ones())
                .saturating_mul(inner.settings.attempts_per_endpoint);
            bound > 1 && st.replay != Some(ReplayMarker::Once)
        };
        if more {
            st.request = inner.replay.replay(&req);
        }
        st.sent = true;
        if let Some(w) = st.pending.take() {
            st.spent = Some(w);
        }
        let Some(mut service) = st.service.take() else {
            unreachable!("an attempt is sent on its endpoint's service")
        };
        service.call(req)
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
            permit.record(&outcome, || now.get());
        }
        if st.trickle == Some(j) {
            st.trickle = None;
            router.end_trickle(j);
        }
        if outcome.is_success() {
            inner.budget.on_success(st.spent.take());
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
        let inner = &*self.shared;
        let st = &mut self.st;
        if let Some(w) = st.pending.take() {
            inner.budget.refund(w);
        }
        st.permit = None;
        inner.hook.on_event(&Event::GaveUp {
            endpoint: (st.attempts > 0).then(|| &*inner.router.endpoints[st.current].name),
            attempts: st.attempts,
            reason,
            budget_level: inner.budget.level(),
        });
        match st.last.take() {
            Some((_, Some(Ok(response)))) => Ok(response),
            Some((_, Some(Err(e)))) => {
                Err(AllEndpointsFailed::new(std::mem::take(&mut st.records), e).into())
            }
            Some((_, None)) => {
                let timeout = inner.settings.attempt_timeout.unwrap_or_default();
                let records = std::mem::take(&mut st.records);
                Err(AllEndpointsFailed::new(records, AttemptTimedOut::new(timeout)).into())
            }
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

impl<S, Req, C, R, H, O> Future for ResponseFuture<S, Req, C, R, H, O>
where
    S: Service<Req> + Clone,
    S::Error: From<AllEndpointsFailed> + From<NoEndpointAvailable> + From<DeadlineExceeded>,
    S::Error: Into<BoxError> + 'static,
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
                StateProj::Start => {
                    let next = walk.route();
                    match go(walk, next, this.state.as_mut(), this.timer.as_mut(), cx) {
                        Some(poll) => return poll,
                        None => continue,
                    }
                }
                StateProj::Readying => {
                    let st = &mut walk.st;
                    let Some(service) = st.service.as_mut() else {
                        unreachable!("readying an admitted endpoint's service")
                    };
                    match service.poll_ready(cx) {
                        Poll::Ready(Ok(())) => match st.limit.passed(this.timer.as_mut()) {
                            Some(cut) => Step::Cut { cut, sent: false },
                            None => {
                                let fut = walk.send();
                                this.state.set(State::Calling { fut });
                                continue;
                            }
                        },
                        Poll::Ready(Err(e)) => Step::Finished(Outcome::not_sent(), Some(Err(e))),
                        Poll::Pending => Step::Cut {
                            cut: ready!(st.limit.poll(
                                this.timer.as_mut(),
                                st.deadline,
                                timeout,
                                cx
                            )),
                            sent: false,
                        },
                    }
                }
                StateProj::Calling { fut } => match fut.poll(cx) {
                    Poll::Ready(result) => {
                        let outcome = outcome_of(&walk.shared.classifier, &result);
                        Step::Finished(outcome, Some(result))
                    }
                    Poll::Pending => {
                        let st = &mut walk.st;
                        Step::Cut {
                            cut: ready!(st.limit.poll(
                                this.timer.as_mut(),
                                st.deadline,
                                timeout,
                                cx
                            )),
                            sent: true,
                        }
                    }
                },
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
                StateProj::Done => panic!("ResponseFuture polled after completion"),
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
                        return Poll::Ready(Err(walk.deadline_cut(outcome, &mut now)));
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
    mut state: Pin<&mut State<S::Future>>,
    timer: Pin<&mut Option<Sleep>>,
    cx: &mut Context<'_>,
) -> Option<Poll<Result<S::Response, S::Error>>>
where
    S: Service<Req> + Clone,
    S::Error: From<AllEndpointsFailed> + From<NoEndpointAvailable> + From<DeadlineExceeded>,
    S::Error: Into<BoxError> + 'static,
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
    /// The attempt of the current hop was not sent: its tokens go back.
    fn unsent(&mut self) {
        if let Some(w) = self.st.pending.take() {
            self.shared.budget.refund(w);
        }
    }

    /// The deadline cut the current hop: records it for the endpoint, and ends the call.
    fn deadline_cut(&mut self, outcome: Outcome, now: &mut LazyNow) -> S::Error {
        self.unsent();
        let inner = &*self.shared;
        let st = &mut self.st;
        st.attempts = st.attempts.saturating_add(1);
        let endpoint = &*inner.router.endpoints[st.current].name;
        if let Some(permit) = st.permit.take() {
            permit.record(&outcome, || now.get());
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

impl<S, Req, C, R, H, O> fmt::Debug for ResponseFuture<S, Req, C, R, H, O>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start => "start",
            State::Readying => "readying",
            State::Calling { .. } => "calling",
            State::Sleeping => "sleeping",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("attempts", &self.walk.st.attempts)
            .field("pass", &self.walk.st.pass)
            .field("deadline", &self.walk.st.deadline)
            .finish_non_exhaustive()
    }
}
