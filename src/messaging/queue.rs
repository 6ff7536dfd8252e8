//! What a consumer needs from a queue, and what it receives.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use crate::classify::Outcome;

/// A message as a queue delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The queue's id for the message: the same on every delivery.
    pub id: String,
    /// The handle of this delivery, for extending, releasing and deleting it (SQS's receipt
    /// handle). A later delivery of the same message has another.
    pub receipt: String,
    /// The payload.
    pub body: String,
    /// How many times the queue has delivered it, this delivery included (1 for the first).
    pub receive_count: u32,
    /// The publisher's deduplication id, if it set one: consumers that must not apply a message
    /// twice dedup on it.
    pub deduplication_id: Option<String>,
}

impl Message {
    /// A message with the given id, receipt and body, delivered once, without a deduplication
    /// id: for queue implementations and tests.
    pub fn new(id: impl Into<String>, receipt: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            receipt: receipt.into(),
            body: body.into(),
            receive_count: 1,
            deduplication_id: None,
        }
    }

    /// The same message, delivered `count` times.
    pub fn with_receive_count(mut self, count: u32) -> Self {
        self.receive_count = count;
        self
    }

    /// The same message, with the publisher's deduplication id.
    pub fn with_deduplication_id(mut self, id: impl Into<String>) -> Self {
        self.deduplication_id = Some(id.into());
        self
    }
}

/// A queue with visibility timeouts (SQS's model): a received message is invisible to other
/// consumers until its visibility runs out, then delivered again, unless it is deleted first.
///
/// The consumer calls each method once per use and never retries it through a user's retry
/// budget: the lease's own schedule is the retry.
pub trait Queue: Send + Sync {
    /// The queue's error.
    type Error: StdError + Send + Sync + 'static;

    /// Receives up to `max` messages, each invisible to others for `visibility`, waiting up to
    /// `wait` for one to arrive (a long poll). An empty batch is not an error.
    fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Message>, Self::Error>> + Send;

    /// Sets the visibility of the delivery `receipt` to `visibility` from now.
    fn extend(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Deletes the delivered message: it is done.
    fn delete(&self, receipt: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// What an error of this queue means for a failover across regions: `Transient` hops to
    /// the next region and counts against this one's breaker. By default every error is
    /// `Transient { Failed }`; an SDK-backed implementation classifies its errors exactly.
    fn outcome(error: &Self::Error) -> Outcome {
        let _ = error;
        Outcome::failed()
    }

    /// Makes the delivered message visible again at once, for another consumer: by default,
    /// [`extend`](Self::extend) with a visibility of zero.
    fn release(&self, receipt: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.extend(receipt, Duration::ZERO)
    }
}
