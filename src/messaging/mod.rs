//! Asynchronous messaging: a queue consumer that holds each message under a lease while its
//! handler works, over any queue with visibility timeouts.
//!
//! The core knows no cloud: a [`Queue`] (receive with a visibility, extend, delete, release) and
//! a [`Publisher`] are traits, and [`Consumer`] runs the loop over them. A message has three
//! fates:
//!
//! - the handler succeeds: it is deleted;
//! - the handler fails: it is released for another consumer (or republished to another region,
//!   or, after `max_receives` deliveries, left to the queue's dead-letter redrive);
//! - the consumer dies or loses its lease: its visibility runs out and the queue delivers it
//!   again. A handler whose lease is lost is told through its [`WorkSignal`].
//!
//! # Duplicates
//!
//! Delivery is at least once. A message is delivered again when a handler's lease is lost
//! (the queue was unreachable for a whole visibility timeout), when a delete fails, and when the
//! process dies after the handler's effects but before the delete; a republished message
//! carries its deduplication id (or its id as one) so the consumer on the other side can
//! recognise it. Handlers whose effects must not happen twice dedup on
//! [`Message::deduplication_id`] or make their effects idempotent.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use steadfast::messaging::{Consumer, Message, Queue, WorkSignal};
//!
//! # #[derive(Debug, thiserror::Error)] #[error("down")] struct Down;
//! # struct MyQueue;
//! # impl Queue for MyQueue {
//! #     type Error = Down;
//! #     async fn receive(&self, _: u32, _: Duration, _: Duration) -> Result<Vec<Message>, Down> { Ok(vec![]) }
//! #     async fn extend(&self, _: &str, _: Duration) -> Result<(), Down> { Ok(()) }
//! #     async fn delete(&self, _: &str) -> Result<(), Down> { Ok(()) }
//! # }
//! # async fn demo() -> Result<(), steadfast::ConfigError> {
//! let consumer = Consumer::builder(MyQueue, |message: Message, signal: WorkSignal| async move {
//!     if signal.is_cancelled() {
//!         return Err(std::io::Error::other("lease lost"));
//!     }
//!     println!("{}", message.body);
//!     Ok(())
//! })
//! .visibility(Duration::from_secs(30)) // extended every 10 s while the handler works
//! .build()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn(async move {
//!     consumer.run(async { let _ = stopped.await; }).await
//! });
//! // … on SIGTERM:
//! let _ = stop.send(());
//! let _ = running.await;
//! # Ok(())
//! # }
//! ```

mod consumer;
mod lease;
mod publish;
mod queue;
mod regional_publisher;
mod regional_queue;
#[cfg(feature = "sqs")]
mod sdk_error;
mod signal;
#[cfg(feature = "sqs")]
mod sns;
#[cfg(feature = "sqs")]
mod sqs;

pub use consumer::{Consumer, ConsumerBuilder, Handler, NoRepublish};
pub use publish::{Outgoing, Publisher};
pub use queue::{Message, Queue};
pub use regional_publisher::{
    PublishOutcome, PublishReplay, PublishService, PublisherFailoverBuilder, RegionalPublisher,
};
pub use regional_queue::{
    QueueFailoverBuilder, Receive, ReceiveOutcome, ReceiveService, RegionalQueue,
    RegionalQueueError,
};
#[cfg(feature = "sqs")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqs")))]
pub use sdk_error::MessagingSdkError;
pub use signal::WorkSignal;
#[cfg(feature = "sqs")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqs")))]
pub use sns::SnsTopic;
#[cfg(feature = "sqs")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqs")))]
pub use sqs::{DEDUPLICATION_ATTRIBUTE, SqsQueue};
