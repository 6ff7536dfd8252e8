//! Publishing across regions: one [`Publisher`] per region behind the failover.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::publish::{Outgoing, Publisher};
use crate::classify::{Classify, Outcome};
use crate::error::{CallError, ConfigError};
use crate::event::OnEvent;
use crate::failover::{Failover, FailoverBuilder, FailoverHandle};
use crate::replay::Replay;

/// One region's publisher as a failover endpoint.
#[derive(Debug)]
pub struct PublishService<P>(Arc<P>);

impl<P> Clone for PublishService<P> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<P: Publisher + 'static> Service<Outgoing> for PublishService<P> {
    type Response = ();
    type Error = CallError<P::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<(), Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, message: Outgoing) -> Self::Future {
        let publisher = self.0.clone();
        Box::pin(async move { publisher.publish(&message).await.map_err(CallError::Inner) })
    }
}

/// The failover's classifier for a publisher's errors: [`Publisher::outcome`].
pub struct PublishOutcome<P>(PhantomData<fn() -> P>);

impl<P> fmt::Debug for PublishOutcome<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublishOutcome")
    }
}

impl<P> Clone for PublishOutcome<P> {
    fn clone(&self) -> Self {
        Self(PhantomData)
    }
}

impl<P: Publisher> Classify<(), CallError<P::Error>> for PublishOutcome<P> {
    fn classify(&self, result: &Result<(), CallError<P::Error>>) -> Outcome {
        match result {
            Ok(()) => Outcome::Success,
            Err(CallError::Inner(error)) => P::outcome(error),
            Err(_) => Outcome::Local,
        }
    }
}

/// The duplicate rule of publishing: a message is sent again (to the same region or another)
/// after a failure that proves it was not applied (`NotSent`, a throttle), and after one that
/// may have been applied (a timeout, a server failure) only when it carries a deduplication id.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishReplay;

impl Replay<Outgoing> for PublishReplay {
    fn replay(&self, message: &Outgoing) -> Option<Outgoing> {
        Some(message.clone())
    }

    fn may_replay(&self, message: &Outgoing, after: &Outcome) -> bool {
        !after.may_have_been_applied() || message.deduplication_id.is_some()
    }
}

/// The failover builder a [`RegionalPublisher`] is configured with.
pub type PublisherFailoverBuilder<P, H = (), O = ()> =
    FailoverBuilder<PublishService<P>, PublishOutcome<P>, PublishReplay, H, O>;

/// A publisher over one [`Publisher`] per region, in priority order, behind the
/// [`Failover`](crate::failover): the primary first, a hop at once on a transient failure,
/// breakers per region, failback by the failover's policy. At least once: see
/// [`PublishReplay`] for when a message is sent again.
pub struct RegionalPublisher<P: 'static, H: 'static = (), O: 'static = ()> {
    failover: Failover<PublishService<P>, PublishOutcome<P>, PublishReplay, H, O>,
}

impl<P: 'static, H: 'static, O: 'static> fmt::Debug for RegionalPublisher<P, H, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegionalPublisher")
            .field("failover", &self.failover.handle())
            .finish()
    }
}

impl<P: 'static, H: 'static, O: 'static> Clone for RegionalPublisher<P, H, O> {
    fn clone(&self) -> Self {
        Self {
            failover: self.failover.clone(),
        }
    }
}

impl<P: Publisher + 'static> RegionalPublisher<P> {
    /// A publisher over `regions` (name, publisher), the first the primary; `configure` sets the
    /// failover's breakers, timeouts, failback and hook (pass `|b| b` for the defaults).
    ///
    /// # Errors
    ///
    /// The failover builder's [`ConfigError`] (no region, a duplicate name, ...).
    pub fn build<N, H: 'static, O: 'static>(
        regions: impl IntoIterator<Item = (N, P)>,
        configure: impl FnOnce(PublisherFailoverBuilder<P>) -> PublisherFailoverBuilder<P, H, O>,
    ) -> Result<RegionalPublisher<P, H, O>, ConfigError>
    where
        N: Into<String>,
    {
        let mut builder = Failover::builder()
            .classifier(PublishOutcome(PhantomData))
            .replay(PublishReplay);
        for (name, publisher) in regions {
            builder = builder.endpoint(name, PublishService(Arc::new(publisher)));
        }
        Ok(RegionalPublisher {
            failover: configure(builder).build()?,
        })
    }
}

impl<P: 'static, H: 'static, O: 'static> RegionalPublisher<P, H, O> {
    /// The failover's handle: which region serves, breakers, routing controls.
    pub fn handle(&self) -> FailoverHandle {
        self.failover.handle()
    }
}

impl<P, H, O> Publisher for RegionalPublisher<P, H, O>
where
    P: Publisher + 'static,
    H: OnEvent + Send + Sync + 'static,
    O: crate::failover::RequestOptions<Outgoing> + Send + Sync + 'static,
{
    type Error = CallError<P::Error>;

    async fn publish(&self, message: &Outgoing) -> Result<(), Self::Error> {
        let mut failover = self.failover.clone();
        failover.call(message.clone()).await
    }
}
