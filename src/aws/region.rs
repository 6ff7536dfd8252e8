//! One region's SDK client as a failover endpoint, and the operation closures sent to it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::error::AwsError;
use crate::classify::Outcome;
use crate::error::CallError;
use crate::failover::{CallOptions, RequestOptions};
use crate::replay::Replay;

/// One region's endpoint: its name and its SDK client (any service's `Client`). A tower
/// service of [`Operation`]s, whose error is [`CallError<AwsError<E>>`](CallError) naming the
/// region. Built by [`regions`](super::regions).
#[derive(Clone)]
pub struct AwsRegion<Client> {
    name: Arc<str>,
    client: Client,
}

impl<Client> AwsRegion<Client> {
    /// The endpoint of region `name`, sending through `client`.
    pub fn new(name: impl Into<Arc<str>>, client: Client) -> Self {
        AwsRegion {
            name: name.into(),
            client,
        }
    }

    /// The region's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The region's SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl<Client> fmt::Debug for AwsRegion<Client> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsRegion")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// One call's operation: a closure that sends the operation through the client it is given
/// (`|client| client.get_item().table_name("orders").key(..).send()`), called once per attempt
/// with the attempt's region's client, and the call's [`CallOptions`] (a replay marker, a
/// pinned region, a deadline).
///
/// Built by the `run` methods of the failover [`regions`](super::regions) builds; copying it
/// for another attempt copies a reference.
pub struct Operation<'a, F> {
    f: &'a F,
    options: CallOptions<'a>,
}

impl<'a, F> Operation<'a, F> {
    /// The operation `f`, with `options`.
    pub fn new(f: &'a F, options: CallOptions<'a>) -> Self {
        Operation { f, options }
    }
}

impl<F> Clone for Operation<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for Operation<'_, F> {}

impl<F> fmt::Debug for Operation<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'a, Client, F, Fut, T, E> Service<Operation<'a, F>> for AwsRegion<Client>
where
    Client: Clone,
    F: Fn(Client) -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    type Response = T;
    type Error = CallError<AwsError<E>>;
    type Future = AwsFuture<Fut>;

    /// Always ready: the SDK client pools its connections.
    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, op: Operation<'a, F>) -> Self::Future {
        AwsFuture {
            inner: (op.f)(self.client.clone()),
            region: Some(self.name.clone()),
        }
    }
}

pin_project! {
    /// An operation's future, its error as [`CallError::Inner`] naming the region.
    pub struct AwsFuture<Fut> {
        #[pin]
        inner: Fut,
        region: Option<Arc<str>>,
    }
}

impl<Fut> fmt::Debug for AwsFuture<Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsFuture")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl<Fut, T, E> Future for AwsFuture<Fut>
where
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    type Output = Result<T, CallError<AwsError<E>>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        Poll::Ready(
            result.map_err(|e| CallError::Inner(AwsError::with_region(this.region.take(), e))),
        )
    }
}

/// The replay rule for SDK operations, the same as HTTP's for a request whose method says
/// nothing: an operation may be sent again (here or in another region) after a failure that
/// proves it was not applied (`NotSent`, `Throttled`), and after one that may have been applied
/// (a timeout, a 5xx, a reset) only when the call is marked
/// [`ReplayMarker::Always`](crate::failover::ReplayMarker::Always) (`run_idempotent`):
/// a read, a write keyed to overwrite the same item, or a write carrying an idempotency token
/// (a `client_request_token` set *outside* the closure, so that every attempt sends the same
/// one; a token the SDK fills in is new on every attempt).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AwsReplay;

impl<'a, F> Replay<Operation<'a, F>> for AwsReplay {
    #[inline]
    fn replay(&self, op: &Operation<'a, F>) -> Option<Operation<'a, F>> {
        Some(*op)
    }

    #[inline]
    fn may_replay(&self, _: &Operation<'a, F>, after: &Outcome) -> bool {
        !after.may_have_been_applied()
    }
}

/// Reads an [`Operation`]'s [`CallOptions`] for the failover.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AwsOptions;

impl<'a, F> RequestOptions<Operation<'a, F>> for AwsOptions {
    #[inline]
    fn options<'r>(&self, op: &'r Operation<'a, F>) -> CallOptions<'r> {
        op.options
    }
}
