//! An SNS topic as a [`Publisher`] (feature `sqs`).

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use super::publish::{Dedup, Outgoing, Publisher};
use super::sdk_error::MessagingSdkError;
use super::sqs::DEDUPLICATION_ATTRIBUTE;
use crate::classify::Outcome;

/// One region's SNS topic. A message with a group id is published as a FIFO message with its
/// `MessageDeduplicationId`; without one, its deduplication id goes in the
/// [`DEDUPLICATION_ATTRIBUTE`] message attribute (delivered to SQS subscribers with raw message
/// delivery).
#[derive(Debug, Clone)]
pub struct SnsTopic {
    client: Client,
    arn: String,
}

impl SnsTopic {
    /// The topic `arn`, through `client` (the region's SDK client).
    pub fn new(client: Client, arn: impl Into<String>) -> Self {
        Self {
            client,
            arn: arn.into(),
        }
    }
}

impl Publisher for SnsTopic {
    type Error = MessagingSdkError;

    fn outcome(error: &MessagingSdkError) -> Outcome {
        error.outcome()
    }

    async fn publish(&self, message: &Outgoing) -> Result<(), MessagingSdkError> {
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.arn)
            .message(&message.body);
        match message.dedup() {
            Dedup::Fifo { group, id } => {
                publish = publish
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
                    publish = publish.message_attributes(DEDUPLICATION_ATTRIBUTE, value);
                }
            }
            Dedup::None => {}
        }
        publish
            .send()
            .await
            .map_err(|e| MessagingSdkError::new("Publish", e))?;
        Ok(())
    }
}
