//! The fallback layer and its service.

use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::error::FallbackError;
use super::future::ResponseFuture;
use super::policy::Fallback;
use super::trigger::{AnyVerdict, Every, ReadVerdict, When};
use crate::classify::{Classify, DefaultClassifier};
use crate::event::OnEvent;

/// The settings of a [`FallbackLayer`] beside its fallback: its classifier `C`, its selection
/// of triggers `W`, its reader of verdicts `V` and its event hook `H`. Each call clones them
/// (with the fallback): keep them cheap to clone (closures, `Arc`s).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules<C = DefaultClassifier, W = Every, V = AnyVerdict, H = ()> {
    pub(crate) classifier: C,
    pub(crate) when: W,
    pub(crate) verdicts: V,
    pub(crate) hook: H,
}

/// Answers calls that fail with a fallback's degraded answer: a default, or the last good
/// response ([`StaleCache`](super::StaleCache)). See the [module docs](super).
///
/// # Clone
///
/// Clones share what the fallback shares (a stale cache).
#[derive(Clone)]
pub struct FallbackLayer<P, C = DefaultClassifier, W = Every, V = AnyVerdict, H = ()> {
    fallback: P,
    rules: Rules<C, W, V, H>,
}

impl<P> FallbackLayer<P> {
    /// A layer answering with `fallback` every call that fails with one of this library's
    /// verdicts, or with an error [`DefaultClassifier`] calls a failure (every `Err` that is no
    /// verdict).
    ///
    /// # The default classifier calls every `Ok` a success
    ///
    /// An HTTP client's `Ok` response with status 503 is then a success: it is returned, never
    /// answered by the fallback (and the stale cache keeps it). Over HTTP, give the HTTP
    /// classifier of the `steadfast::http` module (feature `http`) to
    /// [`classifier`](Self::classifier).
    pub fn new(fallback: P) -> Self {
        FallbackLayer {
            fallback,
            rules: Rules::default(),
        }
    }
}

impl<P, C, W, V, H> FallbackLayer<P, C, W, V, H> {
    /// The same layer with another classifier, which says which results are failures (its
    /// `Transient` outcomes), and which successes (a stale cache keeps only those). This
    /// library's verdicts are read before it asks the classifier.
    pub fn classifier<C2>(self, classifier: C2) -> FallbackLayer<P, C2, W, V, H> {
        self.with_rules(|r| Rules {
            classifier,
            when: r.when,
            verdicts: r.verdicts,
            hook: r.hook,
        })
    }

    /// The same layer answering only the triggers `when` selects (default: [`Every`]), for
    /// example `|t: &Trigger| t.is_verdict()` for the library's verdicts only. A failure not
    /// selected is returned as it is: an error as [`FallbackError::Inner`], a failing response
    /// as the response.
    ///
    /// [`Trigger`]: super::Trigger
    pub fn when<W2: When>(self, when: W2) -> FallbackLayer<P, C, W2, V, H> {
        self.with_rules(|r| Rules {
            classifier: r.classifier,
            when,
            verdicts: r.verdicts,
            hook: r.hook,
        })
    }

    /// The same layer reading the library's verdicts from the inner error with `verdicts`
    /// (default: [`AnyVerdict`]): [`CallError::verdict`](crate::CallError::verdict) for a
    /// `CallError` over an error type [`verdict_of`](crate::classify::verdict_of) does not know,
    /// or a function of a caller's own error type.
    pub fn verdicts<V2>(self, verdicts: V2) -> FallbackLayer<P, C, W, V2, H> {
        self.with_rules(|r| Rules {
            classifier: r.classifier,
            when: r.when,
            verdicts,
            hook: r.hook,
        })
    }

    /// The same layer reporting each answer of the fallback to `hook`
    /// ([`Event::Fallback`](crate::Event::Fallback)).
    pub fn on_event<H2: OnEvent>(self, hook: H2) -> FallbackLayer<P, C, W, V, H2> {
        self.with_rules(|r| Rules {
            classifier: r.classifier,
            when: r.when,
            verdicts: r.verdicts,
            hook,
        })
    }

    /// The same layer with its rules changed by `change`: what each typed setter shares.
    fn with_rules<C2, W2, V2, H2>(
        self,
        change: impl FnOnce(Rules<C, W, V, H>) -> Rules<C2, W2, V2, H2>,
    ) -> FallbackLayer<P, C2, W2, V2, H2> {
        FallbackLayer {
            fallback: self.fallback,
            rules: change(self.rules),
        }
    }
}

impl<P, C, W, V, H> fmt::Debug for FallbackLayer<P, C, W, V, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("fallback", &std::any::type_name::<P>())
            .field("classifier", &std::any::type_name::<C>())
            .finish_non_exhaustive()
    }
}

impl<S, P: Clone, C: Clone, W: Clone, V: Clone, H: Clone> Layer<S>
    for FallbackLayer<P, C, W, V, H>
{
    type Service = FallbackService<S, P, C, W, V, H>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService {
            inner,
            fallback: self.fallback.clone(),
            rules: self.rules.clone(),
        }
    }
}

/// A service whose failed calls are answered by a fallback: see [`FallbackLayer`].
///
/// Its response type is the inner service's; its error is [`FallbackError`]: the inner error
/// when the fallback does not answer, the fallback's own error when it fails.
#[derive(Clone)]
pub struct FallbackService<S, P, C = DefaultClassifier, W = Every, V = AnyVerdict, H = ()> {
    inner: S,
    fallback: P,
    rules: Rules<C, W, V, H>,
}

impl<S: fmt::Debug, P, C, W, V, H> fmt::Debug for FallbackService<S, P, C, W, V, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackService")
            .field("inner", &self.inner)
            .field("fallback", &std::any::type_name::<P>())
            .finish_non_exhaustive()
    }
}

impl<S, P, C, W, V, H> FallbackService<S, P, C, W, V, H> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, P, C, W, V, H> Service<Req> for FallbackService<S, P, C, W, V, H>
where
    S: Service<Req>,
    S::Error: 'static,
    P: Fallback<Req, S::Response, S::Error> + Clone,
    C: Classify<S::Response, S::Error> + Clone,
    W: When + Clone,
    V: ReadVerdict<S::Error> + Clone,
    H: OnEvent + Clone,
{
    type Response = S::Response;
    type Error = FallbackError<S::Error, P::Error>;
    type Future = ResponseFuture<S::Future, P::Future, P::Part, P, Req, C, W, V, H>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(FallbackError::Inner)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let part = self.fallback.part(&req);
        ResponseFuture::new(
            self.inner.call(req),
            part,
            self.fallback.clone(),
            self.rules.clone(),
            PhantomData,
        )
    }
}
