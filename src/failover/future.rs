//! The future of a call through [`Failover`](super::Failover): the executor of the call's
//! [`Plan`].
//!
//! It holds what the plan does not: the request (and its copy), the service of the endpoint
//! admitted, the last result, and one timer (a hop's limit, or a recover sleep). It alone reads
//! the clock, clones an endpoint's service, asks the replay hook and classifies results; every
//! decision is the plan's, and this future carries it out.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::plan::{Action, Plan, PlanEnv, Stopped, Verdict};
use super::{FailoverError, Inner, RequestOptions, Shared};
use crate::classify::{Classify, Outcome, outcome_of};
use crate::clock::{LazyNow, now};
use crate::deadline::Deadline;
use crate::error::{AttemptTimedOut, DeadlineExceeded, NoEndpointAvailable};
use crate::event::{GiveUpReason, OnEvent};
use crate::limit::{Limit, arm};
use crate::replay::Replay;
use crate::stopwatch::Stopwatch;

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
}

impl<S, Req, C, R, H, O> Drop for Call<S, Req, C, R, H, O>
where
    S: Service<Req>,
{
    #[inline]
    fn drop(&mut self) {
        if self.executor.plan.holds_anything() {
            self.executor
                .plan
                .release(&self.shared.env(), &LazyNow::live());
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
                            continue;
                        }
                    }
                }
                PhaseProj::Calling { fut } => {
                    let deadline = executor.plan.deadline();
                    let timer = this.timer.as_mut();
                    match ready!(poll_sent(
                        fut,
                        &mut executor.limit,
                        timer,
                        deadline,
                        timeout,
                        cx
                    )) {
                        Ok(result) => {
                            let outcome = outcome_of(&view.inner.classifier, &result);
                            AttemptEnd::Finished(outcome, Some(result))
                        }
                        Err(cut) => AttemptEnd::Cut { cut, sent: true },
                    }
                }
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
                        executor
                            .plan
                            .cut_by_deadline(env, outcome, executor.watch.lap(), &mut now);
                        return Poll::Ready(Err(DeadlineExceeded::new().into()));
                    }
                    (outcome, None)
                }
            };
            this.phase.set(Phase::Done);
            match executor
                .plan
                .finish(env, outcome, executor.watch.lap(), &mut now)
            {
                Verdict::Final => {
                    let Some(result) = result else {
                        unreachable!("a cut attempt is transient")
                    };
                    return Poll::Ready(result);
                }
                Verdict::Failed => {
                    executor.last = Some(result);
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
