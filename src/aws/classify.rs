//! The `SdkError` classifier: what an AWS SDK call's failure means, as an [`Outcome`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::{ErrorKind, ProvideErrorKind};

use super::error::AwsError;
use crate::classify::{Classify, Outcome, TransientKind};
use crate::error::CallError;
use crate::http::{MAX_RETRY_AFTER, parse_retry_after, transport_outcome};

/// The error codes the SDK's own retry classifier treats as throttling (the same list, in the
/// same order): `Transient { Throttled }` here.
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// The error codes the SDK's own retry classifier treats as transient (the same list):
/// `Transient { Failed }` here.
pub const TRANSIENT_CODES: &[&str] = &["RequestTimeout", "RequestTimeoutException"];

/// Credential and signature error codes: the caller's side, the same in every region, so
/// `Local` here (never retried, never failed over, never counted against a region). The SDK's
/// classifier has no such list: it simply does not retry them.
pub const LOCAL_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "AccessDenied",
    "AccessDeniedException",
];

/// The statuses the SDK's own retry classifier retries (the same list): `Transient { Failed }`
/// here when the error code says nothing more.
pub const TRANSIENT_STATUSES: &[u16] = &[500, 502, 503, 504];

/// The AWS SDK's millisecond push-back header.
const AMZ_RETRY_AFTER: &str = "x-amz-retry-after";

/// Classifies AWS SDK results: `Result<T, SdkError<E, HttpResponse>>` (for
/// [`RetryPolicy::run`](crate::RetryPolicy::run) over an SDK call), `Result<T, AwsError<E>>`,
/// and `Result<T, CallError<AwsError<E>>>` (a region of [`regions`](super::regions)).
///
/// # The rules
///
/// A service error (an error response the SDK parsed) is read by its error code first, then by
/// its status; every other `SdkError` by its variant:
///
/// | `SdkError` | outcome |
/// | --- | --- |
/// | `ServiceError`, code in a list given with [`throttling`](Self::throttling), [`transient`](Self::transient), [`local`](Self::local), [`rejected`](Self::rejected) | that list's outcome |
/// | `ServiceError`, code in [`THROTTLING_CODES`] | `Transient { Throttled }`, hinted by `x-amz-retry-after` (milliseconds) or `Retry-After` |
/// | `ServiceError`, code in [`TRANSIENT_CODES`] | `Transient { Failed }` |
/// | `ServiceError`, code in [`LOCAL_CODES`] (credentials, signatures) | `Local` |
/// | `ServiceError` the model calls retryable (`ProvideErrorKind`: DynamoDB's `ReplicatedWriteConflictException`) | throttling: `Throttled`; any other kind: `Transient { Failed }` |
/// | `ServiceError`, status 429 | `Transient { Throttled }`, hinted as above |
/// | `ServiceError`, status in [`TRANSIENT_STATUSES`] (500, 502, 503, 504) | `Transient { Failed }` |
/// | any other `ServiceError` (`ValidationException`, `ResourceNotFoundException`, `ConditionalCheckFailedException`, …) | `Rejected` |
/// | `ResponseError` (a response that could not be parsed: the server hung up mid-body) | `Transient { Failed }` |
/// | `TimeoutError` (the SDK's own operation or attempt timeout) | `Transient { Timeout }` |
/// | `DispatchFailure` whose connection never opened (refused; DNS and connect errors with the `hyper` feature) | `Transient { NotSent }` |
/// | `DispatchFailure`, connector timeout | `Transient { Timeout }` |
/// | `DispatchFailure`, user error (an invalid request) | `Local` |
/// | `DispatchFailure`, other I/O (a reset) | `Transient { Failed }` |
/// | `DispatchFailure` of another kind | the kind the connector gave (as for a modeled error), else `Failed` |
/// | `ConstructionFailure` (the request could not be built: a missing field, no credentials) | `Local` |
///
/// # Where it differs from the SDK's own classifiers, and why
///
/// | case | the SDK | here | why |
/// | --- | --- | --- | --- |
/// | throttling codes | retry with backoff | `Throttled`: hop at once, skip the region for its hint, not a breaker failure | push-back is not ill health: the same region serves again soon |
/// | credential and signature codes | not retried | `Local` rather than `Rejected` | the fault is the caller's, the same in every region: never counted at all |
/// | status 429 with an unknown code | not retried | `Throttled` | 429 means push-back whatever the code |
/// | dispatch failure, connection never opened | transient (`is_io`) | `NotSent` | provably not applied, so even a write may go to another region |
/// | dispatch failure, other I/O | transient | `Failed` | the request may have been applied: replayed only when marked |
/// | timeout (SDK's or connector's) | transient | `Timeout` | may have been applied, as above; counts against the region |
/// | other service errors | not retried | `Rejected` | the same answer: returned, not failed over |
///
/// # Examples
///
/// ```
/// use steadfast::aws::AwsClassifier;
///
/// // This service's own throttling code, and a code that should fail over.
/// let classifier = AwsClassifier::new()
///     .throttling("MyServiceBusy")
///     .transient("ReplicaLagging");
/// # let _ = classifier;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsClassifier {
    /// The codes given per call site, checked before the built-in lists; `None` (the default)
    /// allocates nothing.
    extra: Option<Arc<ExtraCodes>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ExtraCodes {
    codes: Vec<(String, Outcome)>,
}

impl AwsClassifier {
    /// The classifier with the built-in lists only.
    pub const fn new() -> Self {
        AwsClassifier { extra: None }
    }

    fn with(mut self, code: impl Into<String>, outcome: Outcome) -> Self {
        let code = code.into();
        let extra = Arc::make_mut(self.extra.get_or_insert_with(Default::default));
        extra.codes.retain(|(c, _)| *c != code);
        extra.codes.push((code, outcome));
        self
    }

    /// Reads error `code` as throttling (`Transient { Throttled }`, hinted by the response's
    /// `x-amz-retry-after` or `Retry-After`), before every built-in list. Default: the
    /// built-in lists only.
    pub fn throttling(self, code: impl Into<String>) -> Self {
        self.with(code, Outcome::throttled(None))
    }

    /// Reads error `code` as a transient failure (`Transient { Failed }`: retried, failed over,
    /// counted by the breaker), before every built-in list. Default: the built-in lists only.
    pub fn transient(self, code: impl Into<String>) -> Self {
        self.with(code, Outcome::failed())
    }

    /// Reads error `code` as the caller's fault (`Local`), before every built-in list. Default:
    /// the built-in lists only.
    pub fn local(self, code: impl Into<String>) -> Self {
        self.with(code, Outcome::Local)
    }

    /// Reads error `code` as a refusal (`Rejected`: returned as it is), before every built-in
    /// list: to take a code out of [`THROTTLING_CODES`] for one service, say. Default: the
    /// built-in lists only.
    pub fn rejected(self, code: impl Into<String>) -> Self {
        self.with(code, Outcome::Rejected)
    }

    /// The outcome of an SDK error, by the [rules](Self#the-rules).
    pub fn sdk_outcome<E>(&self, err: &SdkError<E, HttpResponse>) -> Outcome
    where
        E: ProvideErrorMetadata + ProvideErrorKind,
    {
        match err {
            SdkError::ServiceError(e) => self.service_outcome(e.err(), e.raw()),
            SdkError::ResponseError(_) => Outcome::failed(),
            SdkError::TimeoutError(_) => Outcome::timeout(),
            SdkError::ConstructionFailure(_) => Outcome::Local,
            SdkError::DispatchFailure(e) => match e.as_connector_error() {
                Some(c) => connector_outcome(c),
                None => Outcome::failed(),
            },
            _ => Outcome::failed(),
        }
    }

    fn service_outcome<E>(&self, err: &E, raw: &HttpResponse) -> Outcome
    where
        E: ProvideErrorMetadata + ProvideErrorKind,
    {
        let hinted = |o: Outcome| match o.transient_kind() {
            Some(TransientKind::Throttled) => Outcome::throttled(hint(raw)),
            _ => o,
        };
        if let Some(code) = ProvideErrorMetadata::code(err) {
            if let Some(extra) = &self.extra {
                if let Some((_, outcome)) = extra.codes.iter().find(|(c, _)| c == code) {
                    return hinted(*outcome);
                }
            }
            if THROTTLING_CODES.contains(&code) {
                return Outcome::throttled(hint(raw));
            }
            if TRANSIENT_CODES.contains(&code) {
                return Outcome::failed();
            }
            if LOCAL_CODES.contains(&code) {
                return Outcome::Local;
            }
        }
        if let Some(kind) = err.retryable_error_kind() {
            return hinted(kind_outcome(kind));
        }
        match raw.status().as_u16() {
            429 => Outcome::throttled(hint(raw)),
            status if TRANSIENT_STATUSES.contains(&status) => Outcome::failed(),
            _ => Outcome::Rejected,
        }
    }
}

/// A retry kind the model or the connector gave: every kind means "retry" (a modeled
/// `ClientError` is a retryable client error, DynamoDB's `ReplicatedWriteConflictException`).
fn kind_outcome(kind: ErrorKind) -> Outcome {
    match kind {
        ErrorKind::ThrottlingError => Outcome::throttled(None),
        _ => Outcome::failed(),
    }
}

/// A dispatch failure's outcome: its source chain first (a connection never opened is
/// `NotSent` whatever kind the connector gave it), then the connector's kind.
fn connector_outcome(err: &ConnectorError) -> Outcome {
    let chain = transport_outcome(err);
    if matches!(chain, Outcome::Local) || chain == Outcome::not_sent() {
        return chain;
    }
    if err.is_timeout() {
        Outcome::timeout()
    } else if err.is_user() {
        Outcome::Local
    } else if err.is_io() {
        Outcome::failed()
    } else if let Some(kind) = err.as_other() {
        kind_outcome(kind)
    } else {
        chain
    }
}

/// The response's push-back hint: `x-amz-retry-after` in milliseconds, else `Retry-After`,
/// at most [`MAX_RETRY_AFTER`].
fn hint(raw: &HttpResponse) -> Option<Duration> {
    let headers = raw.headers();
    if let Some(ms) = headers
        .get(AMZ_RETRY_AFTER)
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_millis(ms).min(MAX_RETRY_AFTER));
    }
    headers
        .get("retry-after")
        .and_then(|v| parse_retry_after(v.as_bytes(), SystemTime::now()))
}

impl<T, E> Classify<T, SdkError<E, HttpResponse>> for AwsClassifier
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    #[inline]
    fn classify(&self, result: &Result<T, SdkError<E, HttpResponse>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) => self.sdk_outcome(e),
        }
    }
}

impl<T, E> Classify<T, AwsError<E>> for AwsClassifier
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    #[inline]
    fn classify(&self, result: &Result<T, AwsError<E>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) => self.sdk_outcome(e.sdk_error()),
        }
    }
}

impl<T, E> Classify<T, CallError<AwsError<E>>> for AwsClassifier
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    #[inline]
    fn classify(&self, result: &Result<T, CallError<AwsError<E>>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(CallError::Inner(e)) => self.sdk_outcome(e.sdk_error()),
            Err(_) => Outcome::Local,
        }
    }
}
