//! The future of a call through a [`Chaos`](super::Chaos) service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};

pin_project! {
    /// The response future of [`Chaos`](super::Chaos): the inner call untouched; or delayed by
    /// an injected latency; or an injected error, after its latency; or a hang.
    ///
    /// # Cancellation
    ///
    /// Dropping it drops what it holds: the inner call's future (a delayed call never reaches
    /// a lazy inner future, such as a `reqwest` or `hyper` client's, before its delay is over),
    /// the timer, or the injected error. A hang holds nothing and registers no wake-up.
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
        Delayed { #[pin] pause: Pause, #[pin] fut: F },
        Failed { #[pin] pause: Pause, out: Option<F::Output> },
        Hang,
    }
}

pin_project! {
    /// Waits until an instant, creating its timer only when first polled (so that making the
    /// future needs no runtime).
    struct Pause {
        // `None` once the pause is over (or when there is none).
        until: Option<Instant>,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl Pause {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(until) = *this.until else {
            return Poll::Ready(());
        };
        if this.sleep.is_none() {
            this.sleep.set(Some(sleep_until(until)));
        }
        if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
            ready!(sleep.poll(cx));
        }
        *this.until = None;
        this.sleep.set(None);
        Poll::Ready(())
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
        ResponseFuture {
            kind: Kind::Delayed {
                pause: Pause {
                    until: Some(until),
                    sleep: None,
                },
                fut,
            },
        }
    }

    /// `until`: `None` to fail at once.
    pub(super) fn failed(until: Option<Instant>, out: F::Output) -> Self {
        ResponseFuture {
            kind: Kind::Failed {
                pause: Pause { until, sleep: None },
                out: Some(out),
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
            KindProj::Delayed { pause, fut } => {
                ready!(pause.poll(cx));
                fut.poll(cx)
            }
            KindProj::Failed { pause, out } => {
                ready!(pause.poll(cx));
                // Polled again after completing: never ready again (no panic).
                out.take().map_or(Poll::Pending, Poll::Ready)
            }
            // Never completes, and needs no wake-up: only dropping it ends it.
            KindProj::Hang => Poll::Pending,
        }
    }
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (state, until) = match &self.kind {
            Kind::Pass { .. } => ("pass", None),
            Kind::Delayed { pause, .. } => ("delayed", pause.until),
            Kind::Failed { pause, .. } => ("failed", pause.until),
            Kind::Hang => ("hang", None),
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("until", &until)
            .finish()
    }
}
