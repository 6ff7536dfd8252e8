//! The consumer loop: receive, hold the lease while the handler works, then delete, restore,
//! republish or leave the message to the redrive.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{sleep, timeout};

use super::lease::{Held, Shutdown, Terms, hold};
use super::publish::{Outgoing, Publisher};
use super::queue::{Message, Queue};
use super::signal::WorkSignal;
use crate::classify::{Classify, DefaultClassifier, Outcome, outcome_of};
use crate::error::ConfigError;
use crate::event::{Event, OnEvent};

/// Processes one message. Closures `Fn(Message, WorkSignal) -> impl Future<Output = Result<(), E>>`
/// are handlers.
pub trait Handler: Send + Sync {
    /// The handler's error, classified by the consumer's classifier.
    type Error: Send + 'static;

    /// Processes `message`; `signal` is cancelled when the message is no longer this handler's.
    fn handle(
        &self,
        message: Message,
        signal: WorkSignal,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

impl<F, Fut, E> Handler for F
where
    F: Fn(Message, WorkSignal) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Send + 'static,
{
    type Error = E;

    fn handle(
        &self,
        message: Message,
        signal: WorkSignal,
    ) -> impl Future<Output = Result<(), E>> + Send {
        self(message, signal)
    }
}

/// The publisher of a consumer that republishes nothing (the default).
#[derive(Debug, Clone, Copy)]
pub enum NoRepublish {}

impl Publisher for NoRepublish {
    type Error = Infallible;

    async fn publish(&self, _: &Outgoing) -> Result<(), Infallible> {
        match *self {}
    }
}

/// A queue consumer: a loop, run by [`Consumer::run`], that receives one message at a time and
/// processes it under a lease.
///
/// # The lease
///
/// While the handler works, the consumer extends the message's visibility to `visibility` every
/// `extend_every` (default: a third of it), and stops the moment the handler finishes. Extending
/// is a direct call to the queue, outside any retry budget of the application's calls. A failed
/// extension is tried again at the next tick; when the visibility would run out before then, the
/// lease is **lost**: the handler's [`WorkSignal`] is cancelled (another consumer may receive the
/// message now), the handler gets `shutdown_grace` to return, and the message is neither deleted
/// nor released. If the process dies, the lease simply expires and the message is delivered
/// again.
///
/// # After the handler
///
/// - `Ok`: the message is deleted.
/// - An error, when the message has been delivered `max_receives` times or more: nothing is
///   done, so the queue's dead-letter redrive takes it when its visibility runs out
///   ([`Event::MessageDeadLettered`]).
/// - An error the classifier calls transient, with a republisher configured: the message is
///   published there (with its deduplication id, or its id as one) and deleted here
///   ([`Event::MessageRepublished`]); if that publish fails, it is released instead.
/// - Any other error: the message is released (visibility 0) for another consumer
///   ([`Event::MessageRestored`]).
///
/// Each delete, release and republish is one call, bounded by the visibility timeout (past it
/// the message is visible again anyway); a failed delete means the message comes again.
///
/// # Shutdown
///
/// When the `shutdown` future given to [`run`](Consumer::run) completes, the loop stops
/// receiving (a long poll in flight is dropped: a message it had delivered becomes visible again
/// after `visibility`); a handler at work gets `shutdown_grace` to finish, still under its lease;
/// then its signal is cancelled, its message released ([`Event::LeaseReleased`]) and `run`
/// returns.
///
/// # Examples
///
/// See the [module docs](super).
pub struct Consumer<Q, H, C = DefaultClassifier, P = NoRepublish, E = ()> {
    queue: Q,
    handler: H,
    classifier: C,
    republish: Option<P>,
    on_event: E,
    terms: Terms,
    wait: Duration,
    max_receives: u32,
    receive_error_delay: Duration,
}

impl<Q, H, C, P, E> fmt::Debug for Consumer<Q, H, C, P, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("terms", &self.terms)
            .field("wait", &self.wait)
            .field("max_receives", &self.max_receives)
            .finish_non_exhaustive()
    }
}

impl<Q, H> ConsumerBuilder<Q, H, (), NoRepublish, ()> {
    /// The same settings with these typed parts.
    fn rebuild<C, P, E>(
        self,
        classifier: C,
        republish: Option<P>,
        on_event: E,
    ) -> ConsumerBuilder<Q, H, C, P, E> {
        ConsumerBuilder {
            queue: self.queue,
            handler: self.handler,
            classifier,
            republish,
            on_event,
            visibility: self.visibility,
            extend_every: self.extend_every,
            wait: self.wait,
            max_receives: self.max_receives,
            shutdown_grace: self.shutdown_grace,
            receive_error_delay: self.receive_error_delay,
        }
    }
}

/// A builder's settings without its typed parts (classifier, republisher, hook).
type Untyped<Q, H> = ConsumerBuilder<Q, H, (), NoRepublish, ()>;

/// Builds a [`Consumer`]; see [`Consumer::builder`].
pub struct ConsumerBuilder<Q, H, C = DefaultClassifier, P = NoRepublish, E = ()> {
    queue: Q,
    handler: H,
    classifier: C,
    republish: Option<P>,
    on_event: E,
    visibility: Duration,
    extend_every: Option<Duration>,
    wait: Duration,
    max_receives: u32,
    shutdown_grace: Duration,
    receive_error_delay: Duration,
}

impl<Q, H, C, P, E> fmt::Debug for ConsumerBuilder<Q, H, C, P, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerBuilder")
            .field("visibility", &self.visibility)
            .field("extend_every", &self.extend_every)
            .finish_non_exhaustive()
    }
}

impl<Q: Queue, H: Handler> Consumer<Q, H> {
    /// A builder of a consumer of `queue` that gives each message to `handler`.
    pub fn builder(queue: Q, handler: H) -> ConsumerBuilder<Q, H> {
        ConsumerBuilder {
            queue,
            handler,
            classifier: DefaultClassifier,
            republish: None,
            on_event: (),
            visibility: Duration::from_secs(30),
            extend_every: None,
            wait: Duration::from_secs(20),
            max_receives: 5,
            shutdown_grace: Duration::from_secs(10),
            receive_error_delay: Duration::from_secs(1),
        }
    }
}

impl<Q, H, C, P, E> ConsumerBuilder<Q, H, C, P, E> {
    /// How long a received message stays invisible to other consumers without an extension, and
    /// what each extension sets it to. Default: 30 s.
    pub fn visibility(mut self, visibility: Duration) -> Self {
        self.visibility = visibility;
        self
    }

    /// How often the lease extends the visibility. Default: a third of the visibility. It must
    /// be shorter than the visibility.
    pub fn extend_every(mut self, every: Duration) -> Self {
        self.extend_every = Some(every);
        self
    }

    /// How long a receive waits for a message (the long poll). Default: 20 s (SQS's maximum).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// From how many deliveries on a failing message is left to the queue's dead-letter redrive
    /// rather than released: set it to the queue's `maxReceiveCount`. Default: 5.
    pub fn max_receives(mut self, receives: u32) -> Self {
        self.max_receives = receives;
        self
    }

    /// How long a handler at work at shutdown, or whose lease was lost, gets to return. Default:
    /// 10 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// How long the loop waits after a failed receive. Default: 1 s.
    pub fn receive_error_delay(mut self, delay: Duration) -> Self {
        self.receive_error_delay = delay;
        self
    }

    /// How handler errors are classified (transient or not). Default: [`DefaultClassifier`],
    /// every error transient.
    pub fn classifier<C2>(self, classifier: C2) -> ConsumerBuilder<Q, H, C2, P, E> {
        let (_, republish, on_event, rest) = self.into_parts();
        rest.rebuild(classifier, republish, on_event)
    }

    /// Where a message whose handler failed transiently goes (another region's topic or queue),
    /// instead of back to this queue. Default: none.
    pub fn republish_to<P2: Publisher>(self, publisher: P2) -> ConsumerBuilder<Q, H, C, P2, E> {
        let (classifier, _, on_event, rest) = self.into_parts();
        rest.rebuild(classifier, Some(publisher), on_event)
    }

    /// The hook that receives the lease's and the messages' events. Default: none.
    pub fn on_event<E2: OnEvent>(self, hook: E2) -> ConsumerBuilder<Q, H, C, P, E2> {
        let (classifier, republish, _, rest) = self.into_parts();
        rest.rebuild(classifier, republish, hook)
    }

    /// The builder's typed parts, and the rest with placeholders in their place.
    fn into_parts(self) -> (C, Option<P>, E, Untyped<Q, H>) {
        let rest = ConsumerBuilder {
            queue: self.queue,
            handler: self.handler,
            classifier: (),
            republish: None,
            on_event: (),
            visibility: self.visibility,
            extend_every: self.extend_every,
            wait: self.wait,
            max_receives: self.max_receives,
            shutdown_grace: self.shutdown_grace,
            receive_error_delay: self.receive_error_delay,
        };
        (self.classifier, self.republish, self.on_event, rest)
    }

    /// The consumer.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the visibility is zero or over 12 hours, when `extend_every` is zero
    /// or not shorter than the visibility, when `max_receives` is zero, or when a duration is
    /// over [`MAX_DURATION`](crate::error::MAX_DURATION).
    pub fn build(self) -> Result<Consumer<Q, H, C, P, E>, ConfigError> {
        const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
        if self.visibility.is_zero() || self.visibility > MAX_VISIBILITY {
            return Err(ConfigError::invalid(
                "visibility",
                self.visibility,
                "more than zero and at most 12 hours",
            ));
        }
        let every = self.extend_every.unwrap_or(self.visibility / 3);
        if every.is_zero() || every >= self.visibility {
            return Err(ConfigError::invalid(
                "extend_every",
                every,
                "more than zero and shorter than the visibility",
            ));
        }
        if self.max_receives == 0 {
            return Err(ConfigError::invalid("max_receives", 0, "at least 1"));
        }
        ConfigError::check_duration("wait", self.wait)?;
        ConfigError::check_duration("shutdown_grace", self.shutdown_grace)?;
        ConfigError::check_duration("receive_error_delay", self.receive_error_delay)?;
        Ok(Consumer {
            queue: self.queue,
            handler: self.handler,
            classifier: self.classifier,
            republish: self.republish,
            on_event: self.on_event,
            terms: Terms {
                visibility: self.visibility,
                every,
                grace: self.shutdown_grace,
            },
            wait: self.wait,
            max_receives: self.max_receives,
            receive_error_delay: self.receive_error_delay,
        })
    }
}

impl<Q, H, C, P, E> Consumer<Q, H, C, P, E>
where
    Q: Queue,
    H: Handler,
    C: Classify<(), H::Error>,
    P: Publisher,
    E: OnEvent,
{
    /// Receives and processes messages until `shutdown` completes; see the
    /// [type's docs](Consumer#shutdown) for what happens to a message at work then. Spawn it;
    /// run several (on clones of the queue and handler) for concurrency.
    pub async fn run<S: Future<Output = ()>>(&self, shutdown: S) {
        let mut shutdown = Shutdown::new(shutdown);
        loop {
            tokio::task::yield_now().await;
            if shutdown.fired() {
                return;
            }
            let received = {
                let mut receive = pin!(self.queue.receive(1, self.terms.visibility, self.wait));
                poll_fn(|cx| {
                    if shutdown.poll_fired(cx) {
                        return Poll::Ready(None);
                    }
                    receive.as_mut().poll(cx).map(Some)
                })
                .await
            };
            match received {
                None => return,
                Some(Err(_)) => {
                    let mut pause = pin!(sleep(self.receive_error_delay));
                    let stopped = poll_fn(|cx| {
                        if shutdown.poll_fired(cx) {
                            return Poll::Ready(true);
                        }
                        pause.as_mut().poll(cx).map(|()| false)
                    })
                    .await;
                    if stopped {
                        return;
                    }
                }
                Some(Ok(batch)) => {
                    for message in batch {
                        if shutdown.fired() {
                            self.release(&message.id, &message.receipt).await;
                        } else {
                            self.process(message, &mut shutdown).await;
                        }
                    }
                }
            }
        }
    }

    async fn process<S: Future<Output = ()>>(&self, message: Message, shutdown: &mut Shutdown<S>) {
        let id = message.id.clone();
        let receipt = message.receipt.clone();
        let receive_count = message.receive_count;
        let again = self.republish.as_ref().map(|_| Outgoing {
            body: message.body.clone(),
            deduplication_id: Some(
                message
                    .deduplication_id
                    .clone()
                    .unwrap_or_else(|| id.clone()),
            ),
            group_id: None,
        });
        let signal = WorkSignal::new();
        let mut work = pin!(self.handler.handle(message, signal.clone()));
        let held = hold(
            &self.queue,
            &id,
            &receipt,
            self.terms,
            work.as_mut(),
            shutdown,
            &self.on_event,
        )
        .await;
        match held {
            Held::Finished(Ok(())) => {
                let _ = self.settle(self.queue.delete(&receipt)).await;
            }
            Held::Finished(Err(error)) => {
                let outcome = outcome_of(&self.classifier, &Err::<(), _>(error));
                self.after_failure(&id, &receipt, receive_count, outcome, again)
                    .await;
            }
            Held::Lost => {
                signal.cancel();
                self.on_event
                    .on_event(&Event::LeaseLost { message_id: &id });
                let _ = timeout(self.terms.grace, work).await;
            }
            Held::Abandoned => {
                signal.cancel();
                self.release(&id, &receipt).await;
            }
        }
    }

    async fn after_failure(
        &self,
        id: &str,
        receipt: &str,
        receive_count: u32,
        outcome: Outcome,
        again: Option<Outgoing>,
    ) {
        if receive_count >= self.max_receives {
            self.on_event.on_event(&Event::MessageDeadLettered {
                message_id: id,
                receive_count,
            });
            return;
        }
        if let (true, Some(publisher), Some(again)) =
            (outcome.is_retryable(), self.republish.as_ref(), again)
        {
            if let Some(Ok(())) = self.settle(publisher.publish(&again)).await {
                self.on_event
                    .on_event(&Event::MessageRepublished { message_id: id });
                let _ = self.settle(self.queue.delete(receipt)).await;
                return;
            }
        }
        let _ = self.settle(self.queue.release(receipt)).await;
        self.on_event.on_event(&Event::MessageRestored {
            message_id: id,
            receive_count,
        });
    }

    /// A delete or release, bounded by the visibility: past it the message is visible again
    /// anyway, and a queue that hangs must not hold the loop.
    async fn settle<F: Future>(&self, call: F) -> Option<F::Output> {
        timeout(self.terms.visibility, call).await.ok()
    }

    async fn release(&self, id: &str, receipt: &str) {
        let _ = self.settle(self.queue.release(receipt)).await;
        self.on_event
            .on_event(&Event::LeaseReleased { message_id: id });
    }
}
