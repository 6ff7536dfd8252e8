//! The error of the SQS and SNS implementations: the SDK's error with its outcome, read once.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ProvideErrorKind;

use crate::aws::AwsClassifier;
use crate::classify::Outcome;
use crate::error::BoxError;

/// An SQS or SNS call failed: the operation, what the [`AwsClassifier`] made of the error, and
/// the SDK's error as the source.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed")]
pub struct MessagingSdkError {
    operation: &'static str,
    outcome: Outcome,
    #[source]
    source: BoxError,
}

impl MessagingSdkError {
    pub(crate) fn new<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
    {
        Self {
            operation,
            outcome: AwsClassifier::new().sdk_outcome(&error),
            source: Box::new(error),
        }
    }

    /// The operation that failed (`ReceiveMessage`, `Publish`, ...).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// What the failure means: the [`AwsClassifier`]'s outcome of the SDK's error.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
}

/// Whole seconds for the services' integer settings, rounded up (a visibility is never cut
/// short) and capped at `max`.
pub(crate) fn whole_seconds(duration: std::time::Duration, max: i32) -> i32 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX).min(max)
}
