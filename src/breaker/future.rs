//! The future of a call through a [`CircuitBreakerService`](super::CircuitBreakerService).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{BreakerOpen, BreakerRef, Permit};
use crate::classify::{Classify, Outcome, outcome_of};
use crate::clock::{self, TokioClock};
use crate::error::BoxError;

pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService): the
    /// inner call, whose outcome it records through its permit, or an immediate
    /// [`BreakerOpen`].
    ///
    /// # Cancellation
    ///
    /// Dropped before the inner call finishes, it records nothing, and a probe's slot goes back
    /// to the breaker; with slow-call tracking on, a call dropped after running longer than
    /// the slow-call threshold counts as a slow call ([`Permit::abandon`]).
    pub struct ResponseFuture<F, B, C, E = BoxError>
    where
        B: BreakerRef,
    {
        #[pin]
        kind: Kind<F, B, C>,
        error: PhantomData<fn() -> E>,
    }

    impl<F, B, C, E> PinnedDrop for ResponseFuture<F, B, C, E>
    where
        B: BreakerRef,
    {
        fn drop(this: Pin<&mut Self>) {
            if let KindProj::Called { permit, .. } = this.project().kind.project() {
                if let Some(permit) = permit.take() {
                    permit.abandon(clock::now);
                }
            }
        }
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, C>
    where
        B: BreakerRef,
    {
        Called { #[pin] fut: F, permit: Option<Permit<B>>, classifier: C },
        Rejected { error: BreakerOpen },
    }
}

impl<F, B: BreakerRef, C, E> ResponseFuture<F, B, C, E> {
    pub(crate) fn called(fut: F, permit: Permit<B>, classifier: C) -> Self {
        ResponseFuture {
            kind: Kind::Called {
                fut,
                permit: Some(permit),
                classifier,
            },
            error: PhantomData,
        }
    }

    pub(crate) fn rejected(error: BreakerOpen) -> Self {
        ResponseFuture {
            kind: Kind::Rejected { error },
            error: PhantomData,
        }
    }
}

/// Records `outcome`: a timed call reads the exact clock (it needs the call's duration), an
/// untimed one only a cheap reading, if any.
#[inline]
fn record<B: BreakerRef>(permit: Permit<B>, outcome: &Outcome) {
    if permit.is_timed() {
        permit.record(outcome, clock::now);
    } else {
        permit.record(outcome, TokioClock);
    }
}

impl<F, T, S, B, C, E> Future for ResponseFuture<F, B, C, E>
where
    F: Future<Output = Result<T, S>>,
    S: Into<E> + 'static,
    E: From<BreakerOpen>,
    B: BreakerRef,
    C: Classify<T, S>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                fut,
                permit,
                classifier,
            } => {
                let result = ready!(fut.poll(cx));
                if let Some(permit) = permit.take() {
                    record(permit, &outcome_of(classifier, &result));
                }
                Poll::Ready(result.map_err(Into::into))
            }
            KindProj::Rejected { error } => Poll::Ready(Err(E::from(*error))),
        }
    }
}

impl<F, B: BreakerRef, C, E> fmt::Debug for ResponseFuture<F, B, C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Called { permit, .. } => f
                .debug_struct("ResponseFuture")
                .field("permit", permit)
                .finish_non_exhaustive(),
            Kind::Rejected { error } => f
                .debug_struct("ResponseFuture")
                .field("rejected", error)
                .finish(),
        }
    }
}
