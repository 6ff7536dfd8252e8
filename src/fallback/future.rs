//! The future of a call through a [`FallbackService`](super::FallbackService).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::error::FallbackError;
use super::layer::Rules;
use super::policy::{Degraded, Failure, Fallback};
use super::trigger::{ReadVerdict, Settled, Trigger, When};
use crate::classify::Classify;
use crate::event::{Event, OnEvent};

pin_project! {
    /// The response future of [`FallbackService`](super::FallbackService): the inner call,
    /// then, when it failed with a selected trigger, the fallback's.
    ///
    /// # Panics
    ///
    /// Polled again after it returned its result, as futures may.
    ///
    /// # Cancellation
    ///
    /// Dropped at any point, it drops what it holds (the inner call or the fallback's future,
    /// and the request's part) and reports nothing: a fallback that never answered is no
    /// [`Event::Fallback`].
    pub struct ResponseFuture<F, G, Part, P, Req, C, W, V, H> {
        #[pin]
        state: State<F, G>,
        part: Option<Part>,
        fallback: P,
        rules: Rules<C, W, V, H>,
        request: PhantomData<fn(Req)>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, G> {
        Calling { #[pin] fut: F },
        Falling { #[pin] fut: G, trigger: Trigger },
        Done,
    }
}

impl<F, G, Part, P, Req, C, W, V, H> ResponseFuture<F, G, Part, P, Req, C, W, V, H> {
    #[inline]
    pub(crate) fn new(
        fut: F,
        part: Part,
        fallback: P,
        rules: Rules<C, W, V, H>,
        request: PhantomData<fn(Req)>,
    ) -> Self {
        ResponseFuture {
            state: State::Calling { fut },
            part: Some(part),
            fallback,
            rules,
            request,
        }
    }
}

impl<F, G, Part, P, Req, C, W, V, H, T, E> Future for ResponseFuture<F, G, Part, P, Req, C, W, V, H>
where
    F: Future<Output = Result<T, E>>,
    E: 'static,
    P: Fallback<Req, T, E, Part = Part, Future = G>,
    G: Future<Output = Result<Degraded<T>, P::Error>>,
    C: Classify<T, E>,
    W: When,
    V: ReadVerdict<E>,
    H: OnEvent,
{
    type Output = Result<T, FallbackError<E, P::Error>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { fut } => {
                    let result = ready!(fut.poll(cx));
                    let rules = &*this.rules;
                    let trigger = match Settled::of(&result, &rules.classifier, &rules.verdicts) {
                        Settled::Success => {
                            if let (Some(part), Ok(response)) = (this.part.take(), &result) {
                                this.fallback.succeeded(part, response);
                            }
                            None
                        }
                        Settled::Answer => None,
                        Settled::Failed(trigger) => Some(trigger).filter(|t| rules.when.fires(t)),
                    };
                    let (Some(trigger), Some(part)) = (trigger, this.part.take()) else {
                        this.state.set(State::Done);
                        return Poll::Ready(result.map_err(FallbackError::Inner));
                    };
                    let fut = this.fallback.fallback(part, Failure::new(trigger, result));
                    this.state.set(State::Falling { fut, trigger });
                }
                StateProj::Falling { fut, trigger } => {
                    let answer = ready!(fut.poll(cx));
                    let trigger = *trigger;
                    this.state.set(State::Done);
                    this.rules.hook.on_event(&Event::Fallback {
                        trigger,
                        served: answer.is_ok(),
                        age: answer.as_ref().ok().and_then(|d| d.age),
                    });
                    return Poll::Ready(match answer {
                        Ok(degraded) => Ok(degraded.response),
                        Err(error) => Err(FallbackError::Fallback { trigger, error }),
                    });
                }
                StateProj::Done => panic!("fallback ResponseFuture polled after completion"),
            }
        }
    }
}

impl<F, G, Part, P, Req, C, W, V, H> fmt::Debug for ResponseFuture<F, G, Part, P, Req, C, W, V, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Calling { .. } => "calling",
            State::Falling { .. } => "falling back",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
