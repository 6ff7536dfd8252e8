use tower_layer::Layer;

use super::{PolicyRef, Retry, RetryPolicy};

/// Wraps services in [`Retry`] with one policy: a [`RetryPolicy`], or a `&'static` one (see
/// [`PolicyRef`]).
///
/// # Clone
///
/// Clones share the policy (its budget and seed stream), like the services they build.
#[derive(Debug, Clone)]
pub struct RetryLayer<P = RetryPolicy> {
    policy: P,
}

impl<P: PolicyRef> RetryLayer<P> {
    /// A layer applying `policy`.
    pub fn new(policy: P) -> Self {
        RetryLayer { policy }
    }
}

impl<C, R, H> From<RetryPolicy<C, R, H>> for RetryLayer<RetryPolicy<C, R, H>> {
    fn from(policy: RetryPolicy<C, R, H>) -> Self {
        RetryLayer::new(policy)
    }
}

impl<S, P: PolicyRef> Layer<S> for RetryLayer<P> {
    type Service = Retry<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(inner, self.policy.clone())
    }
}
