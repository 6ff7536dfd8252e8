//! An AWS SDK error that says which region answered and what it answered.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::{ErrorMetadata, ProvideErrorMetadata};

use crate::error::{NAME_LIMIT, clip};

/// The longest service error message repeated in a [`Display`](fmt::Display), in bytes.
const MESSAGE_LIMIT: usize = 512;

/// An AWS SDK operation's error (`SdkError<E, HttpResponse>`), with the region that returned
/// it: the error type of the calls of [`regions`](super::regions), inside
/// [`CallError`](crate::CallError).
///
/// Its message names the region and, for an error response, the service's error code and
/// message (`us-east-1: ValidationException: One or more parameter values were invalid`);
/// for any other failure, the SDK's error and its causes (`us-east-1: dispatch failure: io
/// error: ...: Connection refused`). The SDK error itself reads only `service error`.
///
/// # Examples
///
/// ```
/// use aws_smithy_runtime_api::client::result::SdkError;
/// use aws_smithy_types::error::ErrorMetadata;
/// use steadfast::aws::AwsError;
///
/// let sdk: SdkError<ErrorMetadata, _> = SdkError::construction_failure("no region");
/// let err = AwsError::new("us-east-1", sdk);
/// assert_eq!(err.region(), Some("us-east-1"));
/// assert_eq!(err.to_string(), "us-east-1: failed to construct request: no region");
/// ```
#[derive(Debug)]
pub struct AwsError<E> {
    region: Option<Arc<str>>,
    error: SdkError<E, HttpResponse>,
}

impl<E> AwsError<E> {
    /// `error`, returned by `region`.
    pub fn new(region: impl Into<Arc<str>>, error: SdkError<E, HttpResponse>) -> Self {
        AwsError {
            region: Some(region.into()),
            error,
        }
    }

    pub(crate) fn with_region(region: Option<Arc<str>>, error: SdkError<E, HttpResponse>) -> Self {
        AwsError { region, error }
    }

    /// The region that returned it, when known.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The SDK's error.
    pub fn sdk_error(&self) -> &SdkError<E, HttpResponse> {
        &self.error
    }

    /// The SDK's error, by value.
    pub fn into_sdk_error(self) -> SdkError<E, HttpResponse> {
        self.error
    }

    /// The operation's own error (`PutItemError`, …), for an error response.
    pub fn as_service_error(&self) -> Option<&E> {
        self.error.as_service_error()
    }
}

impl<E> From<SdkError<E, HttpResponse>> for AwsError<E> {
    /// The error, its region unknown.
    fn from(error: SdkError<E, HttpResponse>) -> Self {
        AwsError {
            region: None,
            error,
        }
    }
}

impl<E> ProvideErrorMetadata for AwsError<E>
where
    E: ProvideErrorMetadata,
{
    fn meta(&self) -> &ErrorMetadata {
        self.error.meta()
    }
}

impl<E> fmt::Display for AwsError<E>
where
    E: ProvideErrorMetadata + Error + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(region) = &self.region {
            write!(f, "{}: ", clip(region, NAME_LIMIT))?;
        }
        match (self.error.code(), self.error.message()) {
            (Some(code), Some(message)) => {
                write!(f, "{code}: {}", clip(message, MESSAGE_LIMIT))
            }
            (Some(code), None) => write!(f, "{code}"),
            _ => write_chain(f, &self.error),
        }
    }
}

/// `err` and its causes, `: `-separated (8 at most: a chain that loops must not hang).
fn write_chain(f: &mut fmt::Formatter<'_>, err: &(dyn Error + 'static)) -> fmt::Result {
    write!(f, "{err}")?;
    let mut cur = err.source();
    for _ in 0..8 {
        let Some(e) = cur else { break };
        write!(f, ": {e}")?;
        cur = e.source();
    }
    Ok(())
}

impl<E> Error for AwsError<E>
where
    E: ProvideErrorMetadata + Error + 'static,
{
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}
