use std::fmt;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::{BreakerOpen, BreakerRef, CircuitBreaker, Permit, Rejected};
use crate::classify::{Classify, DefaultClassifier};
use crate::clock::now;
use crate::error::BoxError;

/// Guards services with one [`CircuitBreaker`] (or a reference to one: see [`BreakerRef`]),
/// classifying their results with `C`.
///
/// # Clone
///
/// Clones share the breaker, like the services they build.
#[derive(Clone)]
pub struct CircuitBreakerLayer<B = CircuitBreaker, C = DefaultClassifier> {
    breaker: B,
    classifier: C,
}

impl<B: BreakerRef> CircuitBreakerLayer<B> {
    /// A layer guarding services with `breaker`, classifying with [`DefaultClassifier`].
    pub fn new(breaker: B) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier: DefaultClassifier,
        }
    }
}

impl<B, C> CircuitBreakerLayer<B, C> {
    /// The same layer with another classifier. Whatever it is, this library's own errors are
    /// `Local` and never count against the breaker.
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<B, C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }
}

impl<B: BreakerRef, C> fmt::Debug for CircuitBreakerLayer<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", self.breaker.breaker())
            .field("classifier", &std::any::type_name::<C>())
            .finish()
    }
}

impl<S, B: BreakerRef + Clone, C: Clone> Layer<S> for CircuitBreakerLayer<B, C> {
    type Service = CircuitBreakerService<S, B, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            admission: None,
        }
    }
}

/// A service guarded by a circuit breaker.
///
/// Readiness takes the admission decision: `poll_ready` acquires a [`Permit`] (and only then
/// readies the inner service). When the breaker rejects, `poll_ready` is ready at once and `call`
/// returns an immediate [`BreakerOpen`] error without touching the inner service: the caller is
/// never left waiting on an open breaker. A probe admitted in `poll_ready` whose `call` never
/// comes is given back when the service is dropped.
///
/// Errors are boxed ([`BoxError`]): the inner service's, or [`BreakerOpen`].
///
/// # Clone
///
/// Clones share the breaker; a clone is not ready (it holds no admission of its own).
pub struct CircuitBreakerService<S, B: BreakerRef = CircuitBreaker, C = DefaultClassifier> {
    inner: S,
    breaker: B,
    classifier: C,
    admission: Option<Result<Permit<B>, Rejected>>,
}

impl<S: Clone, B: BreakerRef + Clone, C: Clone> Clone for CircuitBreakerService<S, B, C> {
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            admission: None,
        }
    }
}

impl<S: fmt::Debug, B: BreakerRef, C> fmt::Debug for CircuitBreakerService<S, B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", self.breaker.breaker())
            .field("admission", &self.admission)
            .finish()
    }
}

impl<S, B: BreakerRef, C> CircuitBreakerService<S, B, C> {
    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.breaker()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, B, C> Service<Req> for CircuitBreakerService<S, B, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError> + 'static,
    B: BreakerRef + Clone,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, B, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let admission = self
            .admission
            .get_or_insert_with(|| Permit::acquire(self.breaker.clone(), now));
        if admission.is_err() {
            // Rejected: `call` fails at once, without the inner service.
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(e)) => {
                // Gives a probe slot back.
                self.admission = None;
                Poll::Ready(Err(e.into()))
            }
            other => other.map_err(Into::into),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let admission = self
            .admission
            .take()
            .unwrap_or_else(|| Permit::acquire(self.breaker.clone(), now));
        match admission {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(req), permit, self.classifier.clone())
            }
            Err(rejected) => ResponseFuture::rejected(BreakerOpen::new(rejected.retry_in)),
        }
    }
}
