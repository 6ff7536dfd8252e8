//! The future of a call through [`Failover`](super::Failover).
//!
//! A call starts on the *direct path*: routing as usual (nothing demoted, the primary — or the
//! pinned endpoint — not found unavailable), it goes to one endpoint, and if that attempt
//! succeeds (or fails in a way that is not retried), the call is done. That path is small and
//! allocates nothing. Anything else — a hop, a recover pass, an endpoint to skip — continues in
//! the general walk ([`super::walk`]), whose state is allocated once for the call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::router::{LazyNow, all};
use super::walk::{
    Answer, Applied, CallState, First, Readiness, State, Step, WalkFuture, poll_ready, poll_sent,
    send,
};
use super::{EndpointBreaker, FailoverError, Inner, RequestOptions, Shared, drop_permit};
use crate::breaker::Permit;
use crate::classify::{Classify, outcome_of};
use crate::clock::{Glue, now};
use crate::deadline::Deadline;
use crate::event::{Event, OnEvent};
use crate::limit::Limit;
use crate::replay::Replay;

pin_project! {
    /// The response future of [`Failover`](super::Failover).
    ///
    /// A call whose first attempt settles it (the usual case: a healthy primary) runs in this
    /// future alone, which allocates nothing. A call that hops, recovers or finds routing out of
    /// the ordinary continues in the general walk, whose state (a few hundred bytes) is
    /// allocated once for the call; its failed attempts are recorded in a list that allocates
    /// too.
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
        kind: Kind<S, Req, C, R, H, O>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, Req, C, R, H, O>
    where
        S: Service<Req>,
        S: 'static,
        C: 'static,
        R: 'static,
        H: 'static,
        O: 'static,
    {
        Direct {
            #[pin]
            state: DirectState<S::Future>,
            #[pin]
            timer: Option<Sleep>,
            call: Direct<S, Req, C, R, H, O>,
        },
        Walk { walk: Boxed<S, Req, C, R, H, O> },
    }
}

pin_project! {
    #[project = DirectProj]
    enum DirectState<F> {
        // Reading the request's options and admitting the first endpoint (on first poll).
        Route,
        // Waiting for the endpoint's service to be ready.
        Readying,
        // The attempt is in flight.
        Calling { #[pin] fut: F },
        Done,
    }
}

/// The walk, once a call needs it.
type Boxed<S, Req, C, R, H, O> = Pin<Box<WalkFuture<S, Req, C, R, H, O>>>;

/// The direct path's own state.
struct Direct<S, Req, C, R, H, O>
where
    S: 'static,
    C: 'static,
    R: 'static,
    H: 'static,
    O: 'static,
{
    shared: Shared<Inner<S, C, R, H, O>>,
    /// The request until it is sent; then its copy, if another attempt may follow.
    request: Option<Req>,
    sent: bool,
    seed: u64,
    endpoint: usize,
    service: Option<S>,
    permit: Option<Permit<EndpointBreaker>>,
    applied: Applied,
    limit: Limit,
}

impl<S, Req, C, R, H, O> Drop for Direct<S, Req, C, R, H, O> {
    fn drop(&mut self) {
        drop_permit(self.permit.take(), self.sent);
    }
}

impl<S, Req, C, R, H, O> ResponseFuture<S, Req, C, R, H, O>
where
    S: Service<Req>,
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
        let candidates = all(shared.services.len());
        ResponseFuture {
            kind: Kind::Direct {
                state: DirectState::Route,
                timer: None,
                call: Direct {
                    shared,
                    request: Some(req),
                    sent: false,
                    seed,
                    endpoint: 0,
                    service: None,
                    permit: None,
                    applied: Applied {
                        replay: None,
                        deadline: Deadline::none(),
                        start,
                        candidates,
                        pinned: false,
                    },
                    limit: Limit::Unarmed,
                },
            },
        }
    }
}

impl<S, Req, C, R, H, O> Direct<S, Req, C, R, H, O>
where
    S: Service<Req> + Clone,
    R: Replay<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    /// Reads the request's options and sets the deadline, from the call.
    #[inline]
    fn options(&mut self) {
        let inner = &*self.shared;
        let Some(req) = self.request.as_ref() else {
            unreachable!("a call starts with its request")
        };
        let options = inner.options.options(req);
        let applied = &mut self.applied;
        applied.replay = options.replay;
        if inner.settings.deadline.is_some() || options.deadline.is_some() {
            let start = *applied.start.get_or_insert_with(now);
            let after =
                |d: Option<Duration>| d.map_or(Deadline::none(), |d| Deadline::after(start, d));
            applied.deadline = after(inner.settings.deadline).min(after(options.deadline));
        }
        if let Some(name) = options.endpoint {
            applied.pinned = true;
            applied.candidates = inner.router.index(name).map_or(0, |i| 1 << i);
        }
    }

    /// Admits the call's first attempt when routing is as usual: to the primary while it serves,
    /// or to the pinned endpoint. False: the walk routes the call.
    #[inline]
    fn route(&mut self) -> bool {
        self.options();
        let inner = &*self.shared;
        let router = &inner.router;
        if !router.quiet() {
            return false;
        }
        let j = if self.applied.pinned {
            match self.applied.candidates {
                0 => return false,
                c => c.trailing_zeros() as usize,
            }
        } else if router.serving() == 0 {
            0
        } else {
            return false;
        };
        // Blocked by routing control or health, pushed back, or out of time already (a
        // request's own zero deadline): the walk decides, and says why.
        if router.blocked(j).is_some() || self.applied.expired_at_start() {
            return false;
        }
        let mut now = LazyNow::new(now);
        if router.pushed_back(j, &mut now).is_some() {
            return false;
        }
        match Permit::acquire(self.shared.breaker(j), Glue) {
            // A probe (or an endpoint coming back) is the walk's business: it reports it.
            Ok(permit) if !permit.is_probe() && !router.is_flagged(j) => {
                self.endpoint = j;
                self.permit = Some(permit);
                self.service = Some(inner.services[j].clone());
                true
            }
            // Dropping a probe's permit gives its slot back; the walk takes it again.
            _ => false,
        }
    }

    /// Sends the attempt on the (ready) service, keeping a copy of the request if another
    /// attempt may follow.
    #[inline]
    fn send(&mut self) -> S::Future {
        let inner = &*self.shared;
        let more = inner.may_repeat(self.applied.candidates, self.applied.replay);
        self.sent = true;
        send(&inner.replay, &mut self.request, &mut self.service, more)
    }

    /// The walk that takes over, in `state`.
    fn hand_over(
        &mut self,
        state: State<S::Future, Answer<S, Req>>,
        started: bool,
    ) -> Boxed<S, Req, C, R, H, O> {
        let inner = &*self.shared;
        let applied = self.applied;
        let first = First {
            endpoint: self.endpoint,
            permit: self.permit.take(),
            request: self.request.take(),
            sent: self.sent,
            service: self.service.take(),
        };
        let cursor = inner.settings.recover.cursor(self.seed);
        let st = CallState::new(applied, cursor, first, !started);
        Box::pin(WalkFuture::new(self.shared.clone(), st, state))
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
        let mut kind = self.project().kind;
        let (walk_state, started) = match kind.as_mut().project() {
            KindProj::Walk { walk } => return walk.as_mut().poll(cx),
            KindProj::Direct {
                mut state,
                mut timer,
                call,
            } => loop {
                let timeout = call.shared.settings.attempt_timeout;
                let step = match state.as_mut().project() {
                    DirectProj::Route => {
                        if call.route() {
                            state.set(DirectState::Readying);
                            continue;
                        }
                        break (State::Start, false);
                    }
                    DirectProj::Readying => {
                        let deadline = call.applied.deadline;
                        let limit = &mut call.limit;
                        match ready!(poll_ready(
                            &mut call.service,
                            limit,
                            timer.as_mut(),
                            deadline,
                            timeout,
                            cx
                        )) {
                            Readiness::Ended(step) => step,
                            Readiness::Send => {
                                let fut = call.send();
                                state.set(DirectState::Calling { fut });
                                continue;
                            }
                        }
                    }
                    DirectProj::Calling { fut } => {
                        let deadline = call.applied.deadline;
                        match ready!(poll_sent(
                            fut,
                            &mut call.limit,
                            timer.as_mut(),
                            deadline,
                            timeout,
                            cx
                        )) {
                            Err(cut) => Step::Cut { cut, sent: true },
                            Ok(result) => {
                                let inner = &*call.shared;
                                let outcome = outcome_of(&inner.classifier, &result);
                                if outcome.is_retryable() {
                                    Step::Finished(outcome, Some(result))
                                } else {
                                    // Settled by its first attempt: the direct path's whole point.
                                    state.set(DirectState::Done);
                                    inner.hook.on_event(&Event::Attempt {
                                        endpoint: Some(&inner.router.endpoints[call.endpoint].name),
                                        attempt: 1,
                                        outcome,
                                    });
                                    if let Some(permit) = call.permit.take() {
                                        permit.record(&outcome, Glue);
                                    }
                                    if outcome.is_success() {
                                        inner.budget.on_success(None);
                                    }
                                    return Poll::Ready(result);
                                }
                            }
                        }
                    }
                    DirectProj::Done => panic!("failover ResponseFuture polled after completion"),
                };
                state.set(DirectState::Done);
                break (State::Resume { step: Some(step) }, true);
            },
        };
        let KindProj::Direct { call, .. } = kind.as_mut().project() else {
            unreachable!("only the direct path hands over")
        };
        let walk = call.hand_over(walk_state, started);
        kind.set(Kind::Walk { walk });
        let KindProj::Walk { walk } = kind.project() else {
            unreachable!("just set")
        };
        walk.as_mut().poll(cx)
    }
}

impl<S, Req, C, R, H, O> fmt::Debug for ResponseFuture<S, Req, C, R, H, O>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Direct { state, .. } => {
                let state = match state {
                    DirectState::Route => "routing",
                    DirectState::Readying => "readying",
                    DirectState::Calling { .. } => "calling",
                    DirectState::Done => "done",
                };
                f.debug_struct("ResponseFuture")
                    .field("direct", &state)
                    .finish_non_exhaustive()
            }
            Kind::Walk { walk } => f.debug_tuple("ResponseFuture").field(walk).finish(),
        }
    }
}
