//! An SQS queue as a [`Queue`] and a [`Publisher`] (feature `sqs`).

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};

use super::publish::{Dedup, Outgoing, Publisher};
use super::queue::{Message, Queue};
use super::sdk_error::{MessagingSdkError, whole_seconds};
use crate::classify::Outcome;

/// The message attribute that carries a deduplication id on a standard (not FIFO) queue or
/// topic, for the consumer to dedup on.
pub const DEDUPLICATION_ATTRIBUTE: &str = "steadfast-deduplication-id";

/// One region's SQS queue: receives (with `ApproximateReceiveCount` and the deduplication id),
/// visibility changes and deletes, and sends.
///
/// Durations are sent in whole seconds, rounded up; a visibility is capped at 12 hours and a
/// long poll at 20 s, SQS's limits. A message with a group id is sent as a FIFO message with
/// its `MessageDeduplicationId`; without one, its deduplication id goes in the
/// [`DEDUPLICATION_ATTRIBUTE`] message attribute.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`, through `client` (the region's SDK client; turn its own retries off
    /// when it sits behind the failover, as `steadfast::aws::regions` does).
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Queue for SqsQueue {
    type Error = MessagingSdkError;

    fn outcome(error: &MessagingSdkError) -> Outcome {
        error.outcome()
    }

    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Message>, MessagingSdkError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .visibility_timeout(whole_seconds(visibility, 12 * 60 * 60))
            .wait_time_seconds(whole_seconds(wait, 20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageDeduplicationId)
            .message_attribute_names(DEDUPLICATION_ATTRIBUTE)
            .send()
            .await
            .map_err(|e| MessagingSdkError::new("ReceiveMessage", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let attributes = m.attributes.unwrap_or_default();
                let count = attributes
                    .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                let dedup = attributes
                    .get(&MessageSystemAttributeName::MessageDeduplicationId)
                    .cloned()
                    .or_else(|| {
                        m.message_attributes
                            .and_then(|mut a| a.remove(DEDUPLICATION_ATTRIBUTE))
                            .and_then(|v| v.string_value)
                    });
                let message =
                    Message::new(m.message_id?, m.receipt_handle?, m.body.unwrap_or_default())
                        .with_receive_count(count);
                Some(match dedup {
                    Some(id) => message.with_deduplication_id(id),
                    None => message,
                })
            })
            .collect())
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), MessagingSdkError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(whole_seconds(visibility, 12 * 60 * 60))
            .send()
            .await
            .map_err(|e| MessagingSdkError::new("ChangeMessageVisibility", e))?;
        Ok(())
    }

    async fn delete(&self, receipt: &str) -> Result<(), MessagingSdkError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| MessagingSdkError::new("DeleteMessage", e))?;
        Ok(())
    }
}

impl Publisher for SqsQueue {
    type Error = MessagingSdkError;

    fn outcome(error: &MessagingSdkError) -> Outcome {
        error.outcome()
    }

    async fn publish(&self, message: &Outgoing) -> Result<(), MessagingSdkError> {
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(&message.body);
        match message.dedup() {
            Dedup::Fifo { group, id } => {
                send = send
                    .message_group_id(group)
                    .set_message_deduplication_id(id.map(str::to_owned));
            }
            Dedup::Attribute(id) => {
                // Building fails only without a data type, which is set.
                if let Ok(value) = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(id)
                    .build()
                {
                    send = send.message_attributes(DEDUPLICATION_ATTRIBUTE, value);
                }
            }
            Dedup::None => {}
        }
        send.send()
            .await
            .map_err(|e| MessagingSdkError::new("SendMessage", e))?;
        Ok(())
    }
}
