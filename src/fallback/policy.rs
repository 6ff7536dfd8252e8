//! What a fallback answers: the [`Fallback`] trait, the [`Failure`] it is handed, the
//! [`Degraded`] answer it gives, and [`from_fn`], a fallback from two functions.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::trigger::Trigger;

/// A degraded answer for calls that fail: what a [`FallbackLayer`](super::FallbackLayer) runs.
///
/// The request is moved into the inner service by the call, so a fallback cannot have it when
/// the call fails. Instead it takes what it needs from the request *before* the call, its
/// [`Part`](Self::Part) (an id, a cache key, or `()`): [`part`](Self::part) runs on every call,
/// the success path included, so keep it cheap. The part then goes either to
/// [`succeeded`](Self::succeeded) (the call succeeded) or to [`fallback`](Self::fallback) (the
/// call failed with a selected [`Trigger`]), never to both.
///
/// [`from_fn`] builds one from two functions; [`StaleCache::fallback`](super::StaleCache::fallback)
/// serves the last good response.
pub trait Fallback<Req, T, E> {
    /// What is kept of the request for the fallback.
    type Part;
    /// The fallback's own error: returned as
    /// [`FallbackError::Fallback`](super::FallbackError::Fallback).
    type Error;
    /// The fallback's answer.
    type Future: Future<Output = Result<Degraded<T>, Self::Error>>;

    /// What to keep of `request`, before it is sent.
    fn part(&self, request: &Req) -> Self::Part;

    /// The call succeeded (the classifier called `response` a success). Nothing by default.
    #[inline(always)]
    fn succeeded(&self, part: Self::Part, response: &T) {
        let _ = (part, response);
    }

    /// The answer for a call that failed.
    fn fallback(&self, part: Self::Part, failure: Failure<T, E>) -> Self::Future;
}

/// A call that failed, as a fallback receives it: why, and the result itself (the error, or the
/// failing response such as an HTTP 503).
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure<T, E> {
    /// Why the fallback answers.
    pub trigger: Trigger,
    /// What the call returned: `Err` with its error, or `Ok` with a response the classifier
    /// called a failure.
    pub result: Result<T, E>,
}

impl<T, E> Failure<T, E> {
    /// The failure of a call that returned `result`, for `trigger`.
    pub fn new(trigger: Trigger, result: Result<T, E>) -> Self {
        Failure { trigger, result }
    }
}

/// A fallback's answer: the response the caller gets, and how old it is when it is a response
/// kept from an earlier call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Degraded<T> {
    /// What the caller gets.
    pub response: T,
    /// How long ago the response was received, for one kept from an earlier call; `None` for
    /// an answer made now (a default).
    pub age: Option<Duration>,
}

impl<T> Degraded<T> {
    /// An answer made now.
    pub fn new(response: T) -> Self {
        Degraded {
            response,
            age: None,
        }
    }

    /// A response received `age` ago.
    pub fn aged(response: T, age: Duration) -> Self {
        Degraded {
            response,
            age: Some(age),
        }
    }
}

/// A fallback from two functions: `part` keeps what the fallback needs of each request, and
/// `fallback` makes the answer from it and the [`Failure`], asynchronously, with an error type
/// of its own (`Infallible` for a default that cannot fail).
///
/// ```
/// use std::convert::Infallible;
/// use steadfast::fallback::{Failure, from_fn};
///
/// // A price from the request's product id; the list price when the pricing service fails.
/// struct PriceRequest { product: u32 }
/// let list_price = from_fn(
///     |req: &PriceRequest| req.product,
///     |product: u32, _failure: Failure<u64, steadfast::BoxError>| async move {
///         Ok::<_, Infallible>(u64::from(product) * 100)
///     },
/// );
/// # let _ = list_price;
/// ```
pub fn from_fn<Req, P, T, E, Fut, FE, X, F>(part: X, fallback: F) -> FromFn<X, F>
where
    X: Fn(&Req) -> P,
    F: Fn(P, Failure<T, E>) -> Fut,
    Fut: Future<Output = Result<T, FE>>,
{
    FromFn { part, fallback }
}

/// A fallback from two functions: see [`from_fn`].
#[derive(Clone, Copy)]
pub struct FromFn<X, F> {
    part: X,
    fallback: F,
}

impl<X, F> fmt::Debug for FromFn<X, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFn")
            .field("part", &std::any::type_name::<X>())
            .field("fallback", &std::any::type_name::<F>())
            .finish()
    }
}

impl<Req, P, T, E, Fut, FE, X, F> Fallback<Req, T, E> for FromFn<X, F>
where
    X: Fn(&Req) -> P,
    F: Fn(P, Failure<T, E>) -> Fut,
    Fut: Future<Output = Result<T, FE>>,
{
    type Part = P;
    type Error = FE;
    type Future = FromFnFuture<Fut>;

    #[inline]
    fn part(&self, request: &Req) -> P {
        (self.part)(request)
    }

    fn fallback(&self, part: P, failure: Failure<T, E>) -> Self::Future {
        FromFnFuture {
            fut: (self.fallback)(part, failure),
        }
    }
}

pin_project! {
    /// The future of a [`from_fn`] fallback: the function's, its answer made now.
    #[derive(Debug)]
    pub struct FromFnFuture<Fut> {
        #[pin]
        fut: Fut,
    }
}

impl<Fut, T, FE> Future for FromFnFuture<Fut>
where
    Fut: Future<Output = Result<T, FE>>,
{
    type Output = Result<Degraded<T>, FE>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().fut.poll(cx)).map(Degraded::new))
    }
}
