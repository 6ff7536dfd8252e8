//! The future of a call through a [`CircuitBreakerService`](super::CircuitBreakerService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{BreakerOpen, BreakerRef, Permit};
use crate::classify::{Classify, outcome_of};
use crate::clock::now;
use crate::error::BoxError;

pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService): the
    /// inner call, whose outcome it records through its permit, or an immediate
    /// [`BreakerOpen`].
    ///
    /// # Cancellation
    ///
    /// Dropped before the inner call finishes, it records nothing, and a probe's slot goes back
    /// to the breaker.
    pub struct ResponseFuture<F, B, C>
    where
        B: BreakerRef,
    {
        #[pin]
        kind: Kind<F, B, C>,
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

impl<F, B: BreakerRef, C> ResponseFuture<F, B, C> {
    pub(crate) fn called(fut: F, permit: Permit<B>, classifier: C) -> Self {
        ResponseFuture {
            kind: Kind::Called {
                fut,
                permit: Some(permit),
                classifier,
            },
        }
    }

    pub(crate) fn rejected(error: BreakerOpen) -> Self {
        ResponseFuture {
            kind: Kind::Rejected { error },
        }
    }
}

impl<F, T, E, B, C> Future for ResponseFuture<F, B, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError> + 'static,
    B: BreakerRef,
    C: Classify<T, E>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                fut,
                permit,
                classifier,
            } => {
                let result = ready!(fut.poll(cx));
                if let Some(permit) = permit.take() {
                    permit.record(&outcome_of(classifier, &result), now);
                }
                Poll::Ready(result.map_err(Into::into))
            }
            KindProj::Rejected { error } => Poll::Ready(Err(Box::new(*error))),
        }
    }
}

impl<F, B: BreakerRef, C> fmt::Debug for ResponseFuture<F, B, C> {
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
