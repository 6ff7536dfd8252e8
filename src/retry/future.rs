//! The future of a call through [`Retry`](super::Retry).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::policy::{Decision, PolicyRef, decide};
use crate::backoff::Cursor;
use crate::budget::Withdrawal;
use crate::classify::{Classify, Outcome, outcome_of};
use crate::clock::now;
use crate::deadline::Deadline;
use crate::error::{AttemptTimedOut, CallError, DeadlineExceeded};
use crate::event::{Event, GiveUpReason, Layer, OnEvent};
use crate::limit::{Limit, arm};
use crate::replay::Replay;
use crate::stopwatch::Stopwatch;

/// The error a retried call returns when its attempts fail with `E`: `E` itself when it can hold
/// this library's timeout errors (the [`Retry`](super::Retry) layer's case), or
/// [`CallError<E>`] (what [`RetryPolicy::run`](super::RetryPolicy::run) returns).
pub trait RetryError<E>: From<DeadlineExceeded> + From<AttemptTimedOut> {
    /// The error for an attempt that failed with `error`.
    fn from_attempt(error: E) -> Self;
}

impl<E: From<DeadlineExceeded> + From<AttemptTimedOut>> RetryError<E> for E {
    #[inline]
    fn from_attempt(error: E) -> Self {
        error
    }
}

impl<E> RetryError<E> for CallError<E> {
    #[inline]
    fn from_attempt(error: E) -> Self {
        CallError::Inner(error)
    }
}

pin_project! {
    /// The response future of [`Retry`](super::Retry), and of
    /// [`RetryPolicy::run`](super::RetryPolicy::run).
    ///
    /// It owns what its retries need: the service, a copy of the request, its place in the
    /// schedule, and its handle on the policy. Creating one allocates nothing.
    ///
    /// `O` is the error it returns: the service's own for [`Retry`](super::Retry), a
    /// [`CallError`](crate::CallError) of the closure's error for `run`.
    ///
    /// # Cancellation
    ///
    /// Dropping it at any point is safe and leaks nothing: an attempt in flight is dropped, and
    /// tokens withdrawn for an attempt that was not sent yet (during the backoff sleep, or while
    /// waiting for the service to be ready) go back to the budget.
    pub struct ResponseFuture<S, Req, P, O>
    where
        S: Service<Req>,
        P: PolicyRef,
    {
        #[pin]
        state: State<S::Future>,
        // One timer, created on first need and reset after: an attempt's limit, the backoff
        // sleep, the next attempt's limit.
        #[pin]
        timer: Option<Sleep>,
        call: Call<S, Req, P>,
        error: PhantomData<fn() -> O>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // Attempt `call.attempt` is in flight.
        Calling { #[pin] fut: F },
        // Sleeping before the next attempt, on the timer.
        Sleeping,
        // Waiting for the service to be ready for attempt `call.attempt + 1`.
        Readying,
        Done,
    }
}

/// The unpinned state of one call.
struct Call<S, Req, P: PolicyRef> {
    service: S,
    /// The copy the next attempt sends, if the request may be replayed.
    request: Option<Req>,
    policy: P,
    cursor: Cursor,
    deadline: Deadline,
    /// The number of the last attempt sent (or given up on while getting ready); 0 before any.
    attempt: u32,
    /// What the timer is armed for in the current phase (readiness, or the attempt in flight).
    limit: Limit,
    tokens: Tokens,
    /// When the call was made and its attempt began, for a hook that asks for durations.
    watch: Stopwatch,
}

/// What ended a step: a result to classify, or a limit that fired.
enum Step<T> {
    Finished(T),
    /// The limit `cut` fired; `sent` tells whether the attempt had been sent.
    Cut {
        cut: Limit,
        sent: bool,
    },
}

/// The call's withdrawals: one for an attempt not sent yet (refunded if the call ends or is
/// dropped before sending it), and the last one spent (given back on success).
#[derive(Default)]
struct Tokens {
    pending: Option<Withdrawal>,
    spent: Option<Withdrawal>,
}

impl<S, Req, P: PolicyRef> Call<S, Req, P> {
    fn refund_pending(&mut self) {
        if let Some(w) = self.tokens.pending.take() {
            self.policy.policy().budget().refund(w);
        }
    }
}

impl<S, Req, P: PolicyRef> Drop for Call<S, Req, P> {
    fn drop(&mut self) {
        self.refund_pending();
    }
}

impl<S, Req, P, O> ResponseFuture<S, Req, P, O>
where
    S: Service<Req>,
    P: PolicyRef,
    P::Replay: Replay<Req>,
    P::Hook: OnEvent,
{
    /// Sends the first attempt on `service`, which must be ready.
    pub(crate) fn start(service: S, req: Req, handle: P, seed: u64) -> Self {
        let mut call = Call::new(service, handle, seed);
        let fut = call.send(req);
        ResponseFuture {
            state: State::Calling { fut },
            timer: None,
            call,
            error: PhantomData,
        }
    }

    /// Sends the first attempt when first polled, once `service` is ready.
    pub(crate) fn lazy(service: S, req: Req, handle: P, seed: u64) -> Self {
        let mut call = Call::new(service, handle, seed);
        call.request = Some(req);
        ResponseFuture {
            state: State::Readying,
            timer: None,
            call,
            error: PhantomData,
        }
    }
}

impl<S, Req, P> Call<S, Req, P>
where
    S: Service<Req>,
    P: PolicyRef,
{
    fn new(service: S, handle: P, seed: u64) -> Self
    where
        P::Hook: OnEvent,
    {
        let policy = handle.policy();
        let deadline = match policy.deadline() {
            Some(d) => Deadline::after(now(), d),
            None => Deadline::none(),
        };
        let cursor = policy.backoff().cursor(seed);
        let watch = Stopwatch::start(policy.hook());
        Call {
            service,
            request: None,
            policy: handle,
            cursor,
            deadline,
            attempt: 0,
            limit: Limit::Unarmed,
            tokens: Tokens::default(),
            watch,
        }
    }

    /// Sends the next attempt on the (ready) service, keeping a copy of the request if another
    /// attempt may follow. Its pending tokens are now spent.
    fn send(&mut self, req: Req) -> S::Future
    where
        P::Replay: Replay<Req>,
    {
        let policy = self.policy.policy();
        if policy.backoff().remaining(&self.cursor) > 0 {
            self.request = policy.replay().replay(&req);
        }
        if let Some(w) = self.tokens.pending.take() {
            self.tokens.spent = Some(w);
        }
        self.attempt = self.attempt.saturating_add(1);
        self.limit = Limit::Unarmed;
        self.service.call(req)
    }

    /// Polls the limit of the current phase (see [`Limit::poll`]).
    fn poll_limit(&mut self, timer: Pin<&mut Option<Sleep>>, cx: &mut Context<'_>) -> Poll<Limit> {
        let timeout = self.policy.policy().attempt_timeout();
        self.limit.poll(timer, self.deadline, timeout, cx)
    }

    /// Records the outcome of the current attempt and decides what follows: `Some(instant)` to
    /// sleep until before the next attempt (its tokens are pending), `None` to return.
    fn after(&mut self, outcome: Outcome) -> Option<Instant>
    where
        P::Replay: Replay<Req>,
        P::Hook: OnEvent,
    {
        let attempt = self.attempt;
        let policy = self.policy.policy();
        let budget = policy.budget();
        let lap = self.watch.lap();
        policy.hook().on_event(&Event::Attempt {
            endpoint: None,
            attempt,
            outcome,
            elapsed: lap.attempt,
        });
        if outcome.is_success() {
            budget.on_success(self.tokens.spent.take());
            self.finished(Some(outcome), lap.call);
            return None;
        }
        let can_replay = self
            .request
            .as_ref()
            .is_some_and(|r| policy.replay().may_replay(r, &outcome));
        match decide(
            &outcome,
            policy,
            &mut self.cursor,
            can_replay,
            self.deadline,
            now,
        ) {
            Decision::Return => {
                self.finished(Some(outcome), lap.call);
                None
            }
            Decision::GiveUp(reason) => {
                policy.hook().on_event(&Event::GaveUp {
                    endpoint: None,
                    attempts: attempt,
                    reason,
                    budget_level: budget.level(),
                });
                self.finished(Some(outcome), lap.call);
                None
            }
            Decision::Retry {
                delay,
                until,
                withdrawal,
            } => {
                self.tokens.pending = Some(withdrawal);
                policy.hook().on_event(&Event::Retry {
                    endpoint: None,
                    attempt: attempt.saturating_add(1),
                    delay,
                    budget_level: budget.level(),
                });
                Some(Instant::from_std(until))
            }
        }
    }

    /// Reports the end of the call: `outcome` settled it (`None`: no attempt did), after
    /// `elapsed`.
    fn finished(&self, outcome: Option<Outcome>, elapsed: Option<std::time::Duration>)
    where
        P::Hook: OnEvent,
    {
        self.policy.policy().hook().on_event(&Event::CallFinished {
            layer: Layer::Retry,
            endpoint: None,
            attempts: self.attempt,
            outcome,
            elapsed,
        });
    }

    /// The error for an attempt cut by its timeout (or not ready within it), when no retry
    /// follows.
    fn timed_out<O: From<AttemptTimedOut>>(&self) -> O {
        let timeout = self.policy.policy().attempt_timeout().unwrap_or_default();
        AttemptTimedOut::new(timeout).into()
    }
}

impl<S, Req, P, O> Future for ResponseFuture<S, Req, P, O>
where
    S: Service<Req>,
    S::Error: 'static,
    O: RetryError<S::Error>,
    P: PolicyRef,
    P::Classifier: Classify<S::Response, S::Error>,
    P::Replay: Replay<Req>,
    P::Hook: OnEvent,
{
    type Output = Result<S::Response, O>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let call = this.call;
        loop {
            let step = match this.state.as_mut().project() {
                StateProj::Calling { fut } => match fut.poll(cx) {
                    Poll::Ready(result) => Step::Finished(result),
                    Poll::Pending => Step::Cut {
                        cut: ready!(call.poll_limit(this.timer.as_mut(), cx)),
                        sent: true,
                    },
                },
                StateProj::Sleeping => {
                    if let Some(sleep) = this.timer.as_mut().as_pin_mut() {
                        ready!(sleep.poll(cx));
                    }
                    call.limit = Limit::Unarmed;
                    call.watch.attempt();
                    this.state.set(State::Readying);
                    continue;
                }
                StateProj::Readying => match call.service.poll_ready(cx) {
                    Poll::Ready(Ok(())) => match call.limit.passed(this.timer.as_mut()) {
                        Some(cut) => Step::Cut { cut, sent: false },
                        None => {
                            let Some(req) = call.request.take() else {
                                unreachable!("an attempt is only scheduled with a request")
                            };
                            let fut = call.send(req);
                            this.state.set(State::Calling { fut });
                            continue;
                        }
                    },
                    Poll::Ready(Err(e)) => {
                        call.refund_pending();
                        let policy = call.policy.policy();
                        policy.hook().on_event(&Event::GaveUp {
                            endpoint: None,
                            attempts: call.attempt,
                            reason: GiveUpReason::NotReady,
                            budget_level: policy.budget().level(),
                        });
                        call.finished(None, call.watch.lap().call);
                        this.state.set(State::Done);
                        return Poll::Ready(Err(O::from_attempt(e)));
                    }
                    Poll::Pending => Step::Cut {
                        cut: ready!(call.poll_limit(this.timer.as_mut(), cx)),
                        sent: false,
                    },
                },
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            };
            let (outcome, result) = match step {
                Step::Finished(result) => {
                    let outcome = outcome_of(call.policy.policy().classifier(), &result);
                    (outcome, Some(result))
                }
                Step::Cut { cut, sent } => {
                    let outcome = if sent {
                        Outcome::timeout()
                    } else {
                        // The attempt never got its service ready: it was not sent, and its
                        // tokens go back; it still counts as an attempt of the schedule.
                        call.refund_pending();
                        call.attempt = call.attempt.saturating_add(1);
                        Outcome::not_sent()
                    };
                    if cut == Limit::Deadline {
                        let hook = call.policy.policy().hook();
                        let attempt = call.attempt;
                        let lap = call.watch.lap();
                        hook.on_event(&Event::Attempt {
                            endpoint: None,
                            attempt,
                            outcome,
                            elapsed: lap.attempt,
                        });
                        hook.on_event(&Event::DeadlineExceeded {
                            endpoint: None,
                            attempt,
                        });
                        call.finished(Some(outcome), lap.call);
                        this.state.set(State::Done);
                        return Poll::Ready(Err(DeadlineExceeded::new().into()));
                    }
                    (outcome, None)
                }
            };
            match call.after(outcome) {
                None => {
                    this.state.set(State::Done);
                    return Poll::Ready(match result {
                        Some(result) => result.map_err(O::from_attempt),
                        None => Err(call.timed_out()),
                    });
                }
                Some(until) => {
                    drop(result);
                    if until <= Instant::now() {
                        // No sleep: go straight to readiness, but yield first so that a service
                        // failing at once with zero delays cannot hold the thread.
                        call.limit = Limit::Unarmed;
                        call.watch.attempt();
                        this.state.set(State::Readying);
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    arm(this.timer.as_mut(), until);
                    this.state.set(State::Sleeping);
                }
            }
        }
    }
}

impl<S, Req, P, O> fmt::Debug for ResponseFuture<S, Req, P, O>
where
    S: Service<Req>,
    P: PolicyRef,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Calling { .. } => "calling",
            State::Sleeping => "sleeping",
            State::Readying => "readying",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("attempt", &self.call.attempt)
            .field("deadline", &self.call.deadline)
            .finish_non_exhaustive()
    }
}
