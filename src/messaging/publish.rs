//! What a publisher sends, and the trait a topic or queue implements to take it.

use std::error::Error as StdError;
use std::future::Future;

use crate::classify::Outcome;

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outgoing {
    /// The payload.
    pub body: String,
    /// The deduplication id: with one, a publish that timed out (it may have been applied) is
    /// sent again, to the same or another region; without one, it is not. See the
    /// [module docs](super#duplicates).
    pub deduplication_id: Option<String>,
    /// The FIFO message group, for FIFO queues and topics.
    pub group_id: Option<String>,
}

/// Where a publish to an SQS queue or SNS topic carries a message's deduplication id: FIFO
/// queues and topics take a group and their own deduplication field; standard ones take the
/// id as a message attribute that the consumer deduplicates on.
#[cfg(feature = "sqs")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dedup<'a> {
    /// A FIFO message: its group, and its deduplication id if it has one.
    Fifo { group: &'a str, id: Option<&'a str> },
    /// A standard message with a deduplication id: sent as a message attribute.
    Attribute(&'a str),
    /// A standard message without one.
    None,
}

impl Outgoing {
    /// Where a publish to SQS or SNS carries this message's deduplication id.
    #[cfg(feature = "sqs")]
    pub(crate) fn dedup(&self) -> Dedup<'_> {
        match (&self.group_id, &self.deduplication_id) {
            (Some(group), id) => Dedup::Fifo {
                group,
                id: id.as_deref(),
            },
            (None, Some(id)) => Dedup::Attribute(id),
            (None, None) => Dedup::None,
        }
    }

    /// A message with this body, no deduplication id and no group.
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            deduplication_id: None,
            group_id: None,
        }
    }

    /// The same message with a deduplication id (default: none).
    pub fn with_deduplication_id(mut self, id: impl Into<String>) -> Self {
        self.deduplication_id = Some(id.into());
        self
    }

    /// The same message in a FIFO group (default: none).
    pub fn with_group_id(mut self, id: impl Into<String>) -> Self {
        self.group_id = Some(id.into());
        self
    }
}

/// A topic or queue of one region that takes messages.
pub trait Publisher: Send + Sync {
    /// The publisher's error.
    type Error: StdError + Send + Sync + 'static;

    /// What an error of this publisher means for a failover across regions: `Transient` hops to
    /// the next region and counts against this one's breaker. By default every error is
    /// `Transient { Failed }`; an SDK-backed implementation classifies its errors exactly.
    fn outcome(error: &Self::Error) -> Outcome {
        let _ = error;
        Outcome::failed()
    }

    /// Publishes one message; `Ok` once the service has accepted it.
    fn publish(&self, message: &Outgoing) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
