//! The future of a call through a [`Chaos`](super::Chaos) service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};

pin_project! {
    /// The response future of [`Chaos`](super::Chaos): the inner call untouched; or delayed by
    /// an injected latency; or an injected failure, after its latency; or a hang.
    ///
    /// A call left alone (chaos disabled, or no fault drawn) is the inner future and a tag, so
    /// that chaos switched off costs next to nothing. A delayed or failed call keeps its timer
    /// and its result in one allocation of its own; a hang holds nothing.
    ///
    /// # Cancellation
    ///
    /// Dropping it drops what it holds: the inner call's future (a delayed call never reaches
    /// a lazy inner future, such as a `reqwest` or `hyper` client's, before its delay is over),
    /// the timer, or the injected result. A hang registers no wake-up.
    pub struct ResponseFuture<F>
    where
        F: Future,
    {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F>
    where
        F: Future,
    {
        Pass { #[pin] fut: F },
        Hang,
        Faulted { state: Pin<Box<Faulted<F>>> },
    }
}

pin_project! {
    /// A delayed or failed call: the delay first, then the inner future or the injected result.
    struct Faulted<F>
    where
        F: Future,
    {
        // `None` once the delay is over (or when there is none).
        until: Option<Instant>,
        // Created when first polled, so that making the future needs no runtime.
        #[pin]
        sleep: Option<Sleep>,
        // The delayed call's, or `None` for a failure.
        #[pin]
        fut: Option<F>,
        // The failure's, taken when returned.
        out: Option<F::Output>,
    }
}

impl<F: Future> Faulted<F> {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        if let Some(until) = *this.until {
            if this.sleep.is_none() {
                this.sleep.set(Some(sleep_until(until)));
            }
            if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                ready!(sleep.poll(cx));
            }
            *this.until = None;
            this.sleep.set(None);
        }
        match this.fut.as_pin_mut() {
            Some(fut) => fut.poll(cx),
            // Polled again after completing: never ready again (no panic).
            None => this.out.take().map_or(Poll::Pending, Poll::Ready),
        }
    }
}

impl<F: Future> ResponseFuture<F> {
    #[inline]
    pub(super) fn pass(fut: F) -> Self {
        ResponseFuture {
            kind: Kind::Pass { fut },
        }
    }

    pub(super) fn delayed(until: Instant, fut: F) -> Self {
        Self::faulted(Some(until), Some(fut), None)
    }

    /// `until`: `None` to fail at once.
    pub(super) fn failed(until: Option<Instant>, out: F::Output) -> Self {
        Self::faulted(until, None, Some(out))
    }

    fn faulted(until: Option<Instant>, fut: Option<F>, out: Option<F::Output>) -> Self {
        ResponseFuture {
            kind: Kind::Faulted {
                state: Box::pin(Faulted {
                    until,
                    sleep: None,
                    fut,
                    out,
                }),
            },
        }
    }

    pub(super) fn hang() -> Self {
        ResponseFuture { kind: Kind::Hang }
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project().kind.project() {
            KindProj::Pass { fut } => fut.poll(cx),
            KindProj::Faulted { state } => state.as_mut().poll(cx),
            // Never completes, and needs no wake-up: only dropping it ends it.
            KindProj::Hang => Poll::Pending,
        }
    }
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (state, until) = match &self.kind {
            Kind::Pass { .. } => ("pass", None),
            Kind::Faulted { state } if state.fut.is_some() => ("delayed", state.until),
            Kind::Faulted { state } => ("failed", state.until),
            Kind::Hang => ("hang", None),
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("until", &until)
            .finish()
    }
}
