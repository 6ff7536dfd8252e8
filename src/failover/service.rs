//! The failover service: what its calls share, and how a call starts.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use super::future::ResponseFuture;
use super::handle::FailoverHandle;
use super::plan;
use super::router::Router;
use super::{FailoverError, RequestOptions};
use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::classify::{Classify, DefaultClassifier};
use crate::event::OnEvent;
use crate::replay::{CloneReplay, Replay};
use crate::rng;
use crate::sharded_arc::ShardedArc;

/// Shared state held by a [`ShardedArc`], or leaked for the life of the process.
pub(super) enum Shared<T: 'static> {
    Owned(ShardedArc<T>),
    Static(&'static T),
}

impl<T> Shared<T> {
    /// What one call holds: a lease on the calling thread's shard, or the same reference.
    #[inline]
    fn for_call(&self) -> Self {
        match self {
            Shared::Owned(a) => Shared::Owned(a.lease()),
            Shared::Static(r) => Shared::Static(r),
        }
    }
}

impl<T> Clone for Shared<T> {
    #[inline]
    fn clone(&self) -> Self {
        match self {
            Shared::Owned(a) => Shared::Owned(a.clone()),
            Shared::Static(r) => Shared::Static(r),
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Shared::Owned(a) => a,
            Shared::Static(r) => r,
        }
    }
}

impl<S, C, R, H, O> Inner<S, C, R, H, O> {
    /// What a call's plan consults: the routing state, the budget, the settings, the hook.
    #[inline(always)]
    pub(super) fn env(&self) -> plan::PlanEnv<'_, H> {
        plan::PlanEnv {
            router: &self.router,
            budget: &self.budget,
            settings: &self.settings,
            hook: &self.hook,
        }
    }
}

/// The plain settings of a failover.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    pub(crate) attempts_per_endpoint: u32,
    pub(crate) recover: Backoff,
    pub(crate) deadline: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) retry_after_cap: Duration,
}

impl Settings {
    /// The most attempts one call makes at one endpoint: every pass, `attempts_per_endpoint`
    /// each.
    #[inline]
    pub(super) fn per_endpoint_bound(&self) -> u32 {
        self.recover
            .max_retries()
            .saturating_add(1)
            .saturating_mul(self.attempts_per_endpoint)
    }
}

/// What every call of one failover shares.
pub(super) struct Inner<S, C, R, H, O> {
    pub(super) router: Arc<Router>,
    pub(super) services: Box<[S]>,
    pub(super) settings: Settings,
    pub(super) budget: RetryBudget,
    pub(super) seeds: AtomicU64,
    pub(super) classifier: C,
    pub(super) replay: R,
    pub(super) hook: H,
    pub(super) options: O,
    /// Hedging's shared state, when it is configured.
    pub(super) hedging: Option<super::hedge::Hedging>,
}

/// A tower service over ordered regional endpoints, each behind its own breaker. See the
/// [module docs](super).
///
/// # Clone
///
/// Clones share everything (endpoints, breakers, budget, routing state); each gets its own
/// jitter stream.
pub struct Failover<S, C = DefaultClassifier, R = CloneReplay, H = (), O = ()>
where
    S: 'static,
    C: 'static,
    R: 'static,
    H: 'static,
    O: 'static,
{
    pub(super) shared: Shared<Inner<S, C, R, H, O>>,
    pub(super) seed: u64,
}

impl<S, C, R, H, O> Clone for Failover<S, C, R, H, O> {
    fn clone(&self) -> Self {
        Failover {
            seed: rng::mix(self.shared.seeds.fetch_add(rng::GOLDEN, Ordering::Relaxed)),
            shared: self.shared.clone(),
        }
    }
}

impl<S, C, R, H, O> fmt::Debug for Failover<S, C, R, H, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failover")
            .field("router", &self.shared.router)
            .field("settings", &self.shared.settings)
            .field("budget", &self.shared.budget)
            .finish_non_exhaustive()
    }
}

impl<S, C, R, H, O> Failover<S, C, R, H, O> {
    /// A handle on the routing state: which endpoint serves, the breakers, failback.
    pub fn handle(&self) -> FailoverHandle {
        FailoverHandle {
            router: self.shared.router.clone(),
        }
    }

    /// The budget the calls draw from.
    pub fn budget(&self) -> &RetryBudget {
        &self.shared.budget
    }

    /// Leaks the shared state, so that calls hold it by a `'static` reference and count no
    /// reference per call (an owned failover's call counts one, on a cache line of its
    /// thread's own: two atomic read-modify-writes, one when the call starts and one when its
    /// future is dropped; the endpoints' breakers are reached through it and count nothing).
    /// For a failover built once and used for the life of the process (the usual
    /// multi-region client); each call of `into_static` leaks one more copy, so call it once, at
    /// startup.
    ///
    /// It is kept because those two read-modify-writes are measurable: they cost about as much
    /// as the rest of a healthy primary's call in the breaker's case (43 ns with an owned
    /// breaker, 20 ns with a `&'static` one, CPU time on the README's 2-vCPU machine), and safe
    /// Rust has no cheaper way for a call that may outlive its service to keep the state
    /// alive. In instructions the difference is small (callgrind, healthy primary: 545 owned,
    /// 531 leaked).
    pub fn into_static(self) -> Self {
        match self.shared {
            Shared::Static(_) => self,
            Shared::Owned(arc) => {
                // The reference count is leaked with it: the state is never freed.
                let leaked: &'static ShardedArc<Inner<S, C, R, H, O>> = Box::leak(Box::new(arc));
                Failover {
                    shared: Shared::Static(leaked),
                    seed: self.seed,
                }
            }
        }
    }
}

impl<S, C, R, H, O, Req> Service<Req> for Failover<S, C, R, H, O>
where
    S: Service<Req> + Clone,
    S::Error: FailoverError,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
    H: OnEvent,
    O: RequestOptions<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C, R, H, O>;

    /// Always ready: each hop readies its endpoint's service.
    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        self.seed = self.seed.wrapping_add(1);
        ResponseFuture::new(self.shared.for_call(), req, self.seed)
    }
}

impl<S, C, R, H, O> Failover<S, C, R, H, O> {
    /// A call through a shared reference, with a jitter seed drawn from the shared stream (one
    /// atomic add), for clients that hold the failover behind `&self`.
    #[cfg(feature = "reqwest")]
    pub(crate) fn call_shared<Req>(&self, req: Req) -> ResponseFuture<S, Req, C, R, H, O>
    where
        S: Service<Req>,
        H: OnEvent,
        O: RequestOptions<Req>,
    {
        let seed = rng::mix(self.shared.seeds.fetch_add(rng::GOLDEN, Ordering::Relaxed));
        ResponseFuture::new(self.shared.for_call(), req, seed)
    }
}
