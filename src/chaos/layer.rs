use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::{ChaosHandle, Fault, FaultKind, FaultResponse, InjectError, MakeFault, Run};
use crate::clock::now;
use crate::event::{Event, OnEvent};
use tokio::time::Instant;

/// Injects the faults of a [`ChaosHandle`]'s script into the services it wraps.
///
/// `M` makes the injected failure ([`InjectError`] by default: an
/// [`InjectedFault`](super::InjectedFault) error); `H` receives an
/// [`Event::Fault`] for every injected fault.
///
/// # Clone
///
/// Clones share the handle, like the services they build.
#[derive(Clone)]
pub struct ChaosLayer<M = InjectError, H = ()> {
    handle: ChaosHandle,
    make: M,
    hook: H,
    name: Option<Arc<str>>,
}

impl ChaosLayer {
    /// A layer injecting `handle`'s faults, failing calls with an
    /// [`InjectedFault`](super::InjectedFault) error, which the inner service's error type must
    /// be able to hold (`E: From<InjectedFault>`, as [`BoxError`](crate::BoxError) and
    /// [`std::io::Error`] can). Use [`fault`](Self::fault) to fail calls with something else.
    pub fn new(handle: ChaosHandle) -> Self {
        ChaosLayer {
            handle,
            make: InjectError,
            hook: (),
            name: None,
        }
    }
}

impl<M, H> ChaosLayer<M, H> {
    /// The same layer, making each injected failure with `make`: a closure given the
    /// [`Fault`] that returns the call's result, an `Err` or a failing response such as a 503.
    ///
    /// A closure returning `Ok(..)` leaves the error type to be inferred from the wrapped
    /// client's calls: name it (`Ok::<_, MyError>(..)`) or, for a failing response, use
    /// [`fault_response`](Self::fault_response), which needs none.
    ///
    /// ```
    /// use std::io;
    /// use steadfast::chaos::{ChaosHandle, ChaosLayer};
    ///
    /// let layer = ChaosLayer::new(ChaosHandle::disabled())
    ///     .fault(|_| Ok::<_, io::Error>(503u16)); // an HTTP-like service answering statuses
    /// # let _ = layer;
    /// ```
    pub fn fault<M2, R>(self, make: M2) -> ChaosLayer<M2, H>
    where
        M2: Fn(&Fault) -> R,
    {
        ChaosLayer {
            handle: self.handle,
            make,
            hook: self.hook,
            name: self.name,
        }
    }

    /// The same layer, answering each injected failure with `Ok` of the response `respond`
    /// makes from the [`Fault`], such as a 503, whatever the client's error type. Default (with
    /// neither this nor [`fault`](Self::fault)): an [`InjectedFault`](super::InjectedFault)
    /// error.
    ///
    /// Unlike a closure given to [`fault`](Self::fault) that returns `Ok(..)`, this leaves no
    /// error type to infer, so the layer compiles as written, before it wraps a client or a call
    /// is made.
    ///
    /// ```
    /// use steadfast::chaos::{ChaosHandle, ChaosLayer};
    ///
    /// fn service_unavailable() -> http::Response<String> {
    ///     let mut response = http::Response::new(String::new());
    ///     *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    ///     response
    /// }
    ///
    /// let layer = ChaosLayer::new(ChaosHandle::disabled()).fault_response(|_| service_unavailable());
    /// # let _ = layer;
    /// ```
    pub fn fault_response<F, T>(self, respond: F) -> ChaosLayer<FaultResponse<F>, H>
    where
        F: Fn(&Fault) -> T,
    {
        ChaosLayer {
            handle: self.handle,
            make: FaultResponse(respond),
            hook: self.hook,
            name: self.name,
        }
    }

    /// The same layer, reporting every injected fault to `hook` as an [`Event::Fault`].
    /// Default: `()`, which ignores them.
    pub fn on_event<H2>(self, hook: H2) -> ChaosLayer<M, H2> {
        ChaosLayer {
            handle: self.handle,
            make: self.make,
            hook,
            name: self.name,
        }
    }

    /// A name for events, such as the dependency's. Default: none.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The handle switching the layer's faults.
    pub fn handle(&self) -> &ChaosHandle {
        &self.handle
    }
}

impl<M, H> fmt::Debug for ChaosLayer<M, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("handle", &self.handle)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<S, M: Clone, H: Clone> Layer<S> for ChaosLayer<M, H> {
    type Service = Chaos<S, M, H>;

    fn layer(&self, inner: S) -> Self::Service {
        Chaos {
            inner,
            handle: self.handle.clone(),
            make: self.make.clone(),
            hook: self.hook.clone(),
            name: self.name.clone(),
            cache: None,
        }
    }
}

/// A service with faults injected by a [`ChaosHandle`]'s script. Built by [`ChaosLayer`].
///
/// Readiness is the inner service's. Each call is decided in `call`: while the handle is
/// disabled, the call goes to the inner service untouched (the cost is one relaxed atomic
/// load). While it is enabled, the script decides, and a call
///
/// - left alone goes to the inner service;
/// - slowed ([`FaultKind::Latency`]) goes to the inner service at once, and its future is first
///   polled once the delay is over: a lazy client (`reqwest`, `hyper`) sends the request then;
/// - failed ([`FaultKind::Error`]) gets the fault maker's result after the delay, and the inner
///   service is not called;
/// - hung ([`FaultKind::Hang`]) never completes, and the inner service is not called.
///
/// The error type is the inner service's: the fault maker makes it.
///
/// # Clone
///
/// Clones share the handle (and so its script, its switch and its call counter).
pub struct Chaos<S, M = InjectError, H = ()> {
    inner: S,
    handle: ChaosHandle,
    make: M,
    hook: H,
    name: Option<Arc<str>>,
    /// The run last seen, with its epoch: refreshed under the handle's lock only when a switch
    /// installed another script.
    cache: Option<(u64, Arc<Run>)>,
}

impl<S: Clone, M: Clone, H: Clone> Clone for Chaos<S, M, H> {
    fn clone(&self) -> Self {
        Chaos {
            inner: self.inner.clone(),
            handle: self.handle.clone(),
            make: self.make.clone(),
            hook: self.hook.clone(),
            name: self.name.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl<S: fmt::Debug, M, H> fmt::Debug for Chaos<S, M, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("inner", &self.inner)
            .field("handle", &self.handle)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<S, M, H> Chaos<S, M, H> {
    /// The handle switching this service's faults.
    pub fn handle(&self) -> &ChaosHandle {
        &self.handle
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Decides the next call (reporting a fault to the hook), reading the clock only if the
    /// script has windows or the call is delayed.
    ///
    /// Out of line, and returning no future, so that `call` builds its future in place: the
    /// disabled path then costs what an enum around the inner future costs.
    #[inline(never)]
    fn decide(&mut self) -> Injection
    where
        H: OnEvent,
    {
        let shared = &self.handle.shared;
        let epoch = shared.epoch.load(Ordering::Acquire);
        let run = match &mut self.cache {
            Some((seen, run)) if *seen == epoch => run,
            cache => &cache.insert(shared.current()).1,
        };
        let call = run.calls.fetch_add(1, Ordering::Relaxed);
        let (clock, elapsed) = if run.script.has_windows() {
            let t = now();
            (Some(t), t.saturating_duration_since(run.start))
        } else {
            (None, Duration::ZERO)
        };
        let Some(fault) = run.script.decide(call, elapsed) else {
            return Injection::Pass;
        };
        self.hook.on_event(&Event::Fault {
            chaos: self.name.as_deref(),
            fault,
        });
        let until = if fault.delay.is_zero() || fault.kind == FaultKind::Hang {
            None
        } else {
            match Instant::from_std(clock.unwrap_or_else(now)).checked_add(fault.delay) {
                Some(until) => Some(until),
                // Beyond any clock (impossible with a delay of at most MAX_DURATION): never.
                None => return Injection::Hang,
            }
        };
        match (fault.kind, until) {
            (FaultKind::Hang, _) => Injection::Hang,
            (FaultKind::Latency, Some(until)) => Injection::Delay(until),
            (FaultKind::Latency, None) => Injection::Pass,
            (FaultKind::Error, until) => Injection::Fail(until, fault),
        }
    }
}

/// What `call` does, as decided.
enum Injection {
    Pass,
    Delay(Instant),
    /// Fail, after the delay if any.
    Fail(Option<Instant>, Fault),
    Hang,
}

impl<S, Req, M, H> Service<Req> for Chaos<S, M, H>
where
    S: Service<Req>,
    M: MakeFault<S::Response, S::Error>,
    H: OnEvent,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        if !self.handle.is_enabled() {
            return ResponseFuture::pass(self.inner.call(req));
        }
        match self.decide() {
            Injection::Pass => ResponseFuture::pass(self.inner.call(req)),
            Injection::Delay(until) => ResponseFuture::delayed(until, self.inner.call(req)),
            Injection::Fail(until, fault) => ResponseFuture::failed(until, self.make.make(&fault)),
            Injection::Hang => ResponseFuture::hang(),
        }
    }
}
