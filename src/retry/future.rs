//! The future of a call through [`Retry`](super::Retry).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower_service::Service;

use super::policy::{Decision, PolicyRef, decide};
use crate::backoff::Cursor;
use crate::budget::Withdrawal;
use crate::classify::{Classify, Outcome, outcome_of};
use crate::deadline::Deadline;
use crate::error::{AttemptTimedOut, DeadlineExceeded};
use crate::event::{Event, OnEvent};
use crate::replay::Replay;

pin_project! {
    /// The response future of [`Retry`](super::Retry), and of
    /// [`RetryPolicy::run`](super::RetryPolicy::run).
    ///
    /// It owns what its retries need: the service, a copy of the request, its place in the
    /// schedule, and a clone of the policy (one reference-count increment). Creating one
    /// allocates nothing.
    ///
    /// # Cancellation
    ///
    /// Dropping it at any point is safe and leaks nothing: an attempt in flight is dropped, and
    /// tokens withdrawn for an attempt that was not sent yet (during the backoff sleep, or while
    /// waiting for the service to be ready) go back to the budget.
    pub struct ResponseFuture<S, Req, P>
    where
        S: Service<Req>,
        P: PolicyRef,
    {
        #[pin]
        state: State<S::Future>,
        // One timer, created on first need and reset after: the attempt's limit, then the
        // backoff sleep, then the next attempt's limit.
        #[pin]
        timer: Option<Sleep>,
        call: Call<S, Req, P>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // An attempt is in flight.
        Calling { #[pin] fut: F },
        // Sleeping before the next attempt, on the timer.
        Sleeping,
        // Waiting for the service to be ready for the next attempt.
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
    /// The number of the current attempt: 1 for the first.
    attempt: u32,
    /// What the timer is armed for during the current attempt.
    limit: Limit,
    tokens: Tokens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// Not armed for this attempt yet (or no limit is configured).
    Unarmed,
    /// Armed at the deadline: the call ends when it fires.
    Deadline,
    /// Armed at the attempt timeout: the attempt ends when it fires.
    Attempt,
}

/// How an attempt was cut by the timer.
enum Cut {
    Deadline,
    Attempt,
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

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Arms the timer at `at`, creating it the first time.
fn arm(mut timer: Pin<&mut Option<Sleep>>, at: Instant) {
    match timer.as_mut().as_pin_mut() {
        Some(sleep) => sleep.reset(at),
        None => timer.set(Some(sleep_until(at))),
    }
}

impl<S, Req, P> ResponseFuture<S, Req, P>
where
    S: Service<Req>,
    P: PolicyRef,
    P::Replay: Replay<Req>,
{
    /// Sends the first attempt on `service`, which must be ready.
    pub(crate) fn start(mut service: S, req: Req, handle: P, seed: u64) -> Self {
        let policy = handle.policy();
        let deadline = match policy.deadline() {
            Some(d) => Deadline::after(now(), d),
            None => Deadline::none(),
        };
        let backoff = policy.backoff();
        let request = if backoff.max_retries() > 0 {
            policy.replay().replay(&req)
        } else {
            None
        };
        let cursor = backoff.cursor(seed);
        let fut = service.call(req);
        ResponseFuture {
            state: State::Calling { fut },
            timer: None,
            call: Call {
                service,
                request,
                policy: handle,
                cursor,
                deadline,
                attempt: 1,
                limit: Limit::Unarmed,
                tokens: Tokens::default(),
            },
        }
    }
}

impl<S, Req, P> Call<S, Req, P>
where
    S: Service<Req>,
    P: PolicyRef,
    P::Hook: OnEvent,
{
    /// Polls the limit on the current attempt (or readiness for it), arming the timer the first
    /// time the attempt is pending. Pending when no limit is configured.
    fn poll_limit(
        &mut self,
        mut timer: Pin<&mut Option<Sleep>>,
        cx: &mut Context<'_>,
    ) -> Poll<Cut> {
        if self.limit == Limit::Unarmed {
            let deadline = self.deadline.instant().map(Instant::from_std);
            let attempt_end = self
                .policy
                .policy()
                .attempt_timeout()
                .map(|t| Instant::now() + t);
            let (at, limit) = match (deadline, attempt_end) {
                (None, None) => return Poll::Pending,
                (Some(d), Some(a)) if a < d => (a, Limit::Attempt),
                (Some(d), _) => (d, Limit::Deadline),
                (None, Some(a)) => (a, Limit::Attempt),
            };
            arm(timer.as_mut(), at);
            self.limit = limit;
        }
        let Some(sleep) = timer.as_pin_mut() else {
            return Poll::Pending;
        };
        ready!(sleep.poll(cx));
        Poll::Ready(match self.limit {
            Limit::Deadline => Cut::Deadline,
            _ => Cut::Attempt,
        })
    }

    /// Records the outcome of the current attempt and decides what follows. On `Some(delay)` a
    /// retry is scheduled (its tokens are pending); on `None` the call returns.
    fn after(&mut self, outcome: Outcome) -> Option<Duration> {
        let attempt = self.attempt;
        let policy = self.policy.policy();
        let budget = policy.budget();
        policy.hook().on_event(&Event::Attempt {
            endpoint: None,
            attempt,
            outcome,
        });
        if outcome.is_success() {
            budget.on_success(self.tokens.spent.take());
            return None;
        }
        let can_replay = self.request.is_some();
        match decide(
            &outcome,
            policy,
            &mut self.cursor,
            can_replay,
            self.deadline,
            now,
        ) {
            Decision::Return => None,
            Decision::GiveUp(reason) => {
                policy.hook().on_event(&Event::GaveUp {
                    endpoint: None,
                    attempts: attempt,
                    reason,
                    budget_level: budget.level(),
                });
                None
            }
            Decision::Retry { delay, withdrawal } => {
                self.tokens.pending = Some(withdrawal);
                policy.hook().on_event(&Event::Retry {
                    endpoint: None,
                    attempt: attempt + 1,
                    delay,
                    budget_level: budget.level(),
                });
                Some(delay)
            }
        }
    }

    /// The error for an attempt cut by the timer, when no retry follows.
    fn cut_error(&self, cut: &Cut) -> S::Error
    where
        S::Error: From<DeadlineExceeded> + From<AttemptTimedOut>,
    {
        match cut {
            Cut::Deadline => DeadlineExceeded::new().into(),
            Cut::Attempt => {
                AttemptTimedOut::new(self.policy.policy().attempt_timeout().unwrap_or_default())
                    .into()
            }
        }
    }
}

impl<S, Req, P> Future for ResponseFuture<S, Req, P>
where
    S: Service<Req>,
    S::Error: From<DeadlineExceeded> + From<AttemptTimedOut> + 'static,
    P: PolicyRef,
    P::Classifier: Classify<S::Response, S::Error>,
    P::Replay: Replay<Req>,
    P::Hook: OnEvent,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let call = this.call;
        loop {
            // What ended the current step: a result to classify, or a cut with the outcome it
            // stands for.
            let (outcome, result, cut) = match this.state.as_mut().project() {
                StateProj::Calling { fut } => match fut.poll(cx) {
                    Poll::Ready(result) => {
                        let classifier = call.policy.policy().classifier();
                        (outcome_of(classifier, &result), Some(result), None)
                    }
                    Poll::Pending => {
                        let cut = ready!(call.poll_limit(this.timer.as_mut(), cx));
                        (Outcome::timeout(), None, Some(cut))
                    }
                },
                StateProj::Sleeping => {
                    if let Some(sleep) = this.timer.as_mut().as_pin_mut() {
                        ready!(sleep.poll(cx));
                    }
                    call.limit = Limit::Unarmed;
                    this.state.set(State::Readying);
                    continue;
                }
                StateProj::Readying => match call.service.poll_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        let Some(req) = call.request.take() else {
                            unreachable!("a retry is only scheduled with a copy of the request")
                        };
                        let policy = call.policy.policy();
                        if policy.backoff().remaining(&call.cursor) > 0 {
                            call.request = policy.replay().replay(&req);
                        }
                        call.tokens.spent = call.tokens.pending.take();
                        call.attempt += 1;
                        let fut = call.service.call(req);
                        this.state.set(State::Calling { fut });
                        continue;
                    }
                    Poll::Ready(Err(e)) => {
                        call.refund_pending();
                        this.state.set(State::Done);
                        return Poll::Ready(Err(e));
                    }
                    Poll::Pending => {
                        let cut = ready!(call.poll_limit(this.timer.as_mut(), cx));
                        // The attempt was never sent: its tokens go back.
                        call.refund_pending();
                        (Outcome::not_sent(), None, Some(cut))
                    }
                },
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            };
            if let Some(Cut::Deadline) = cut {
                let hook = call.policy.policy().hook();
                hook.on_event(&Event::Attempt {
                    endpoint: None,
                    attempt: call.attempt,
                    outcome,
                });
                hook.on_event(&Event::DeadlineExceeded {
                    endpoint: None,
                    attempt: call.attempt,
                });
                this.state.set(State::Done);
                return Poll::Ready(Err(DeadlineExceeded::new().into()));
            }
            match call.after(outcome) {
                None => {
                    this.state.set(State::Done);
                    return Poll::Ready(match (result, cut) {
                        (Some(result), _) => result,
                        (None, cut) => Err(call.cut_error(&cut.unwrap_or(Cut::Attempt))),
                    });
                }
                Some(delay) => {
                    drop(result);
                    if delay.is_zero() {
                        call.limit = Limit::Unarmed;
                        this.state.set(State::Readying);
                    } else {
                        arm(this.timer.as_mut(), Instant::now() + delay);
                        this.state.set(State::Sleeping);
                    }
                }
            }
        }
    }
}

impl<S, Req, P> fmt::Debug for ResponseFuture<S, Req, P>
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
