//! Receiving across regions: one [`Queue`] per region behind the failover, the receipts of
//! each delivery routed back to the region that made it.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use super::queue::{Message, Queue};
use crate::classify::{Classify, Outcome};
use crate::error::{CallError, ConfigError};
use crate::event::OnEvent;
use crate::failover::{Failover, FailoverBuilder, FailoverHandle};
use crate::replay::CloneReplay;

/// A receive, as the failover sends it to one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receive {
    /// At most this many messages.
    pub max: u32,
    /// Their visibility.
    pub visibility: Duration,
    /// The long poll.
    pub wait: Duration,
}

/// One region's queue as a failover endpoint: its receipts are tagged with the region's place
/// in the priority order (`"1:<receipt>"`).
#[derive(Debug)]
pub struct ReceiveService<Q> {
    region: usize,
    queue: Arc<Q>,
}

impl<Q> Clone for ReceiveService<Q> {
    fn clone(&self) -> Self {
        Self {
            region: self.region,
            queue: self.queue.clone(),
        }
    }
}

impl<Q: Queue + 'static> Service<Receive> for ReceiveService<Q> {
    type Response = Vec<Message>;
    type Error = CallError<Q::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<Vec<Message>, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, receive: Receive) -> Self::Future {
        let ReceiveService { region, queue } = self.clone();
        Box::pin(async move {
            let batch = queue
                .receive(receive.max, receive.visibility, receive.wait)
                .await
                .map_err(CallError::Inner)?;
            Ok(tagged(region, batch))
        })
    }
}

/// The batch with its receipts tagged with the region's place: `"1:<receipt>"`.
fn tagged(region: usize, mut batch: Vec<Message>) -> Vec<Message> {
    for message in &mut batch {
        message.receipt = format!("{region}:{}", message.receipt);
    }
    batch
}

/// The bound of one look (a receive that does not wait) at a region the failover is not
/// serving.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(5);

/// The failover's classifier for a queue's errors: [`Queue::outcome`].
pub struct ReceiveOutcome<Q>(PhantomData<fn() -> Q>);

impl<Q> fmt::Debug for ReceiveOutcome<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiveOutcome")
    }
}

impl<Q> Clone for ReceiveOutcome<Q> {
    fn clone(&self) -> Self {
        Self(PhantomData)
    }
}

impl<Q: Queue> Classify<Vec<Message>, CallError<Q::Error>> for ReceiveOutcome<Q> {
    fn classify(&self, result: &Result<Vec<Message>, CallError<Q::Error>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(CallError::Inner(error)) => Q::outcome(error),
            Err(_) => Outcome::Local,
        }
    }
}

/// The failover builder a [`RegionalQueue`] is configured with.
pub type QueueFailoverBuilder<Q, H = (), O = ()> =
    FailoverBuilder<ReceiveService<Q>, ReceiveOutcome<Q>, CloneReplay, H, O>;

/// Why a [`RegionalQueue`] refused a call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegionalQueueError<E: std::error::Error + 'static> {
    /// The region's queue, or the failover's walk, failed.
    #[error(transparent)]
    Call(#[from] CallError<E>),
    /// The receipt was not made by this regional queue.
    #[error("receipt is not tagged with a region of this queue")]
    UnknownReceipt,
}

/// A queue over one [`Queue`] per region, in priority order: receives go through the
/// [`Failover`](crate::failover) (the primary's queue while it is available; the next region's
/// when the primary's breaker opens, its routing control is off or its health checks fail; back
/// by the failback policy), and each delivery's extensions, release and delete go to the region
/// that delivered it.
///
/// **No message is stranded.** Messages published to a region while it was not being read
/// (the secondary's, after failback) are swept: when a receive from the serving region comes
/// back empty, the queue looks once, without waiting, at each other available region (bounded
/// by 5 s); a region that has messages is then drained first, without waiting, until it is
/// empty. With empty queues this costs one extra receive per other region per long poll.
///
/// Give the failover an attempt timeout longer than the consumer's long poll (`wait`), or a
/// hanging region holds the receive forever.
pub struct RegionalQueue<Q: 'static, H: 'static = (), O: 'static = ()> {
    failover: Failover<ReceiveService<Q>, ReceiveOutcome<Q>, CloneReplay, H, O>,
    queues: Vec<Arc<Q>>,
    /// The region being drained, `usize::MAX` for none.
    draining: Arc<AtomicUsize>,
}

impl<Q: 'static, H: 'static, O: 'static> fmt::Debug for RegionalQueue<Q, H, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegionalQueue")
            .field("failover", &self.failover.handle())
            .finish_non_exhaustive()
    }
}

impl<Q: 'static, H: 'static, O: 'static> Clone for RegionalQueue<Q, H, O> {
    fn clone(&self) -> Self {
        Self {
            failover: self.failover.clone(),
            queues: self.queues.clone(),
            draining: self.draining.clone(),
        }
    }
}

impl<Q: Queue + 'static> RegionalQueue<Q> {
    /// A queue over `regions` (name, queue), the first the primary; `configure` sets the
    /// failover's breakers, timeouts, failback and hook (pass `|b| b` for the defaults).
    ///
    /// # Errors
    ///
    /// The failover builder's [`ConfigError`] (no region, a duplicate name, ...).
    pub fn build<N, H: 'static, O: 'static>(
        regions: impl IntoIterator<Item = (N, Q)>,
        configure: impl FnOnce(QueueFailoverBuilder<Q>) -> QueueFailoverBuilder<Q, H, O>,
    ) -> Result<RegionalQueue<Q, H, O>, ConfigError>
    where
        N: Into<String>,
    {
        let mut builder = Failover::builder().classifier(ReceiveOutcome(PhantomData));
        let mut queues = Vec::new();
        for (region, (name, queue)) in regions.into_iter().enumerate() {
            let queue = Arc::new(queue);
            queues.push(queue.clone());
            builder = builder.endpoint(name, ReceiveService { region, queue });
        }
        Ok(RegionalQueue {
            failover: configure(builder).build()?,
            queues,
            draining: Arc::new(AtomicUsize::new(usize::MAX)),
        })
    }
}

impl<Q: 'static, H: 'static, O: 'static> RegionalQueue<Q, H, O> {
    /// The failover's handle: which region serves, breakers, routing controls.
    pub fn handle(&self) -> FailoverHandle {
        self.failover.handle()
    }

    /// One receive from a region outside the failover, without waiting: `None` if it failed.
    async fn look(&self, queue: &Q, max: u32, visibility: Duration) -> Option<Vec<Message>>
    where
        Q: Queue,
    {
        let call = queue.receive(max, visibility, Duration::ZERO);
        tokio::time::timeout(SWEEP_TIMEOUT, call).await.ok()?.ok()
    }

    /// The region's queue and its own receipt, from a tagged receipt.
    fn route<'r>(&self, receipt: &'r str) -> Option<(&Q, &'r str)> {
        let (region, own) = receipt.split_once(':')?;
        let queue = self.queues.get(region.parse::<usize>().ok()?)?;
        Some((queue, own))
    }
}

impl<Q, H, O> Queue for RegionalQueue<Q, H, O>
where
    Q: Queue + 'static,
    H: OnEvent + Send + Sync + 'static,
    O: crate::failover::RequestOptions<Receive> + Send + Sync + 'static,
{
    type Error = RegionalQueueError<Q::Error>;

    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Message>, Self::Error> {
        let draining = self.draining.load(Ordering::Relaxed);
        if let Some(queue) = self.queues.get(draining) {
            match self.look(queue, max, visibility).await {
                Some(batch) if !batch.is_empty() => return Ok(tagged(draining, batch)),
                _ => self.draining.store(usize::MAX, Ordering::Relaxed),
            }
        }
        let mut failover = self.failover.clone();
        let receive = Receive {
            max,
            visibility,
            wait,
        };
        let batch = failover.call(receive).await?;
        if !batch.is_empty() {
            return Ok(batch);
        }
        let handle = self.failover.handle();
        let serving = handle.serving().priority;
        for (region, status) in handle.endpoint_status().into_iter().enumerate() {
            if region == serving || status.unavailable.is_some() {
                continue;
            }
            if let Some(batch) = self.look(&self.queues[region], max, visibility).await {
                if !batch.is_empty() {
                    self.draining.store(region, Ordering::Relaxed);
                    return Ok(tagged(region, batch));
                }
            }
        }
        Ok(batch)
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), Self::Error> {
        let (queue, own) = self
            .route(receipt)
            .ok_or(RegionalQueueError::UnknownReceipt)?;
        queue
            .extend(own, visibility)
            .await
            .map_err(|e| CallError::Inner(e).into())
    }

    async fn delete(&self, receipt: &str) -> Result<(), Self::Error> {
        let (queue, own) = self
            .route(receipt)
            .ok_or(RegionalQueueError::UnknownReceipt)?;
        queue
            .delete(own)
            .await
            .map_err(|e| CallError::Inner(e).into())
    }

    async fn release(&self, receipt: &str) -> Result<(), Self::Error> {
        let (queue, own) = self
            .route(receipt)
            .ok_or(RegionalQueueError::UnknownReceipt)?;
        queue
            .release(own)
            .await
            .map_err(|e| CallError::Inner(e).into())
    }
}
