use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::{BreakerOpen, BreakerRef, CircuitBreaker, Permit, Rejected};
use crate::classify::{Classify, DefaultClassifier};
use crate::clock::{self, TokioClock};
use crate::error::BoxError;

/// Guards services with one [`CircuitBreaker`] (or a reference to one: see [`BreakerRef`]),
/// classifying their results with `C`; the services' error type is `E`.
///
/// # Errors
///
/// The guarded service's error type is `E`, [`BoxError`] unless chosen with
/// [`error`](Self::error): the inner service's errors are converted into it, and so is
/// [`BreakerOpen`] for a rejected call. Boxing `BreakerOpen` allocates; an error type of your
/// own with a `From<BreakerOpen>` variant (or the inner service's own error type, if it has
/// one) makes a rejection allocation-free.
///
/// # Clone
///
/// Clones share the breaker, like the services they build.
pub struct CircuitBreakerLayer<B = CircuitBreaker, C = DefaultClassifier, E = BoxError> {
    breaker: B,
    classifier: C,
    error: PhantomData<fn() -> E>,
}

impl<B: Clone, C: Clone, E> Clone for CircuitBreakerLayer<B, C, E> {
    fn clone(&self) -> Self {
        CircuitBreakerLayer {
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            error: PhantomData,
        }
    }
}

impl<B: BreakerRef> CircuitBreakerLayer<B> {
    /// A layer guarding services with `breaker`, classifying with [`DefaultClassifier`], with
    /// [`BoxError`] errors.
    ///
    /// # The default classifier counts every `Ok` as a success
    ///
    /// Unless [`classifier`](Self::classifier) is given,
    /// [`DefaultClassifier`](crate::classify::DefaultClassifier) judges each attempt: every `Err`
    /// is a transient failure, and **every `Ok` is a success — including an HTTP response with
    /// status 503, 500 or 429**, which HTTP clients return as `Ok`. Over an HTTP client such a
    /// breaker never opens on a status: it never sees a failing server fail. Give it a classifier
    /// that reads the status: the ready HTTP classifier of the `steadfast::http` module (feature
    /// `http`), or a closure of your own returning an [`Outcome`](crate::classify::Outcome).
    pub fn new(breaker: B) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier: DefaultClassifier,
            error: PhantomData,
        }
    }
}

impl<B, C, E> CircuitBreakerLayer<B, C, E> {
    /// The same layer with another classifier. Default: [`DefaultClassifier`], which counts
    /// every `Ok` as a success, an HTTP 503 response included (see [`CircuitBreakerLayer::new`]):
    /// over an HTTP client, give a classifier that reads the status. Whatever it is, this
    /// library's own errors are `Local` and never count against the breaker.
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<B, C2, E> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
            error: PhantomData,
        }
    }

    /// The same layer with `E2` as the services' error type: the inner service's errors must
    /// convert into it (`Into<E2>`), and so must [`BreakerOpen`] (`E2: From<BreakerOpen>`).
    ///
    /// The classifier still sees the inner service's own result. A retry stacked over the
    /// layer recognises a rejection as the library's own error (never retried) only inside a
    /// [`BoxError`] or an `io::Error`; with an error type of your own, classify its
    /// `BreakerOpen` variant as [`Outcome::Local`](crate::Outcome::Local).
    ///
    /// # Examples
    ///
    /// ```
    /// use steadfast::breaker::{CircuitBreaker, CircuitBreakerLayer};
    /// use steadfast::BreakerOpen;
    /// use tower::{service_fn, Layer};
    ///
    /// #[derive(Debug)]
    /// enum CallError {
    ///     Open(BreakerOpen),
    ///     Io(std::io::Error),
    /// }
    /// impl From<BreakerOpen> for CallError {
    ///     fn from(e: BreakerOpen) -> Self {
    ///         CallError::Open(e)
    ///     }
    /// }
    /// impl From<std::io::Error> for CallError {
    ///     fn from(e: std::io::Error) -> Self {
    ///         CallError::Io(e)
    ///     }
    /// }
    ///
    /// let svc = CircuitBreakerLayer::new(CircuitBreaker::default())
    ///     .error::<CallError>()
    ///     .layer(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
    /// # let _ = svc;
    /// ```
    pub fn error<E2>(self) -> CircuitBreakerLayer<B, C, E2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier: self.classifier,
            error: PhantomData,
        }
    }
}

impl<B: BreakerRef, C, E> fmt::Debug for CircuitBreakerLayer<B, C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", self.breaker.breaker())
            .field("classifier", &std::any::type_name::<C>())
            .field("error", &std::any::type_name::<E>())
            .finish()
    }
}

impl<S, B: BreakerRef + Clone, C: Clone, E> Layer<S> for CircuitBreakerLayer<B, C, E> {
    type Service = CircuitBreakerService<S, B, C, E>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            admission: None,
            error: PhantomData,
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
/// Errors are `E` ([`BoxError`] unless chosen with [`CircuitBreakerLayer::error`]): the inner
/// service's, or [`BreakerOpen`].
///
/// With slow-call tracking on, a call is timed from `call` to its response (one clock read at
/// each end); a response future dropped before the response, after running longer than the
/// slow-call threshold, counts as a slow call ([`Permit::abandon`]).
///
/// Rejecting while open reads no exact clock: a cheap reading decides while the end of the
/// open period is more than a few milliseconds away (see the [module docs](super#cost)).
///
/// # Clone
///
/// Clones share the breaker; a clone is not ready (it holds no admission of its own).
pub struct CircuitBreakerService<
    S,
    B: BreakerRef = CircuitBreaker,
    C = DefaultClassifier,
    E = BoxError,
> {
    inner: S,
    breaker: B,
    classifier: C,
    admission: Option<Result<Permit<B>, Rejected>>,
    error: PhantomData<fn() -> E>,
}

impl<S: Clone, B: BreakerRef + Clone, C: Clone, E> Clone for CircuitBreakerService<S, B, C, E> {
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            admission: None,
            error: PhantomData,
        }
    }
}

impl<S: fmt::Debug, B: BreakerRef, C, E> fmt::Debug for CircuitBreakerService<S, B, C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", self.breaker.breaker())
            .field("admission", &self.admission)
            .finish()
    }
}

impl<S, B: BreakerRef, C, E> CircuitBreakerService<S, B, C, E> {
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

impl<S, Req, B, C, E> Service<Req> for CircuitBreakerService<S, B, C, E>
where
    S: Service<Req>,
    S::Error: Into<E> + 'static,
    E: From<BreakerOpen>,
    B: BreakerRef + Clone,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = E;
    type Future = ResponseFuture<S::Future, B, C, E>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        let admission = self
            .admission
            .get_or_insert_with(|| Permit::admit_call(&self.breaker, TokioClock, false));
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

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let admission = self
            .admission
            .take()
            .unwrap_or_else(|| Permit::admit_call(&self.breaker, TokioClock, false));
        match admission {
            Ok(mut permit) => {
                // A timed call starts here, not at admission: waiting for the inner service to
                // become ready is not the dependency being slow.
                permit.begin(clock::now);
                ResponseFuture::called(self.inner.call(req), permit, self.classifier.clone())
            }
            Err(rejected) => ResponseFuture::rejected(BreakerOpen::new(rejected.retry_in)),
        }
    }
}
