//! Every branch of the `SdkError` classifier, on errors built as the SDK builds them.

use std::io;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::error::ReplicatedWriteConflictException;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::ErrorKind;
use steadfast::aws::{AwsClassifier, AwsError, LOCAL_CODES, THROTTLING_CODES, TRANSIENT_CODES};
use steadfast::{CallError, Classify, DeadlineExceeded, Outcome};

type Err = SdkError<PutItemError, HttpResponse>;

fn response(status: u16, headers: &[(&'static str, &'static str)]) -> HttpResponse {
    let mut raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
    for (name, value) in headers {
        raw.headers_mut().insert(*name, *value);
    }
    raw
}

fn service(code: &str, status: u16) -> Err {
    service_with(code, status, &[])
}

fn service_with(code: &str, status: u16, headers: &[(&'static str, &'static str)]) -> Err {
    let meta = ErrorMetadata::builder()
        .code(code)
        .message("the message")
        .build();
    SdkError::service_error(PutItemError::generic(meta), response(status, headers))
}

fn outcome(err: Err) -> Outcome {
    AwsClassifier::new().classify(&Result::<(), _>::Err(err))
}

#[test]
fn every_throttling_code_is_throttled_and_hinted_by_the_amz_header_or_retry_after() {
    assert_eq!(THROTTLING_CODES.len(), 14);
    for code in THROTTLING_CODES {
        assert_eq!(
            outcome(service(code, 400)),
            Outcome::throttled(None),
            "{code}"
        );
    }
    let amz = service_with("ThrottlingException", 400, &[("x-amz-retry-after", "1500")]);
    assert_eq!(
        outcome(amz),
        Outcome::throttled(Some(Duration::from_millis(1500)))
    );
    let std = service_with("SlowDown", 503, &[("retry-after", "3")]);
    assert_eq!(
        outcome(std),
        Outcome::throttled(Some(Duration::from_secs(3)))
    );
    let garbage = service_with("Throttling", 400, &[("x-amz-retry-after", "soon")]);
    assert_eq!(outcome(garbage), Outcome::throttled(None));
}

#[test]
fn transient_codes_and_5xx_statuses_are_failed() {
    for code in TRANSIENT_CODES {
        assert_eq!(outcome(service(code, 400)), Outcome::failed(), "{code}");
    }
    for status in [500, 502, 503, 504] {
        assert_eq!(
            outcome(service("InternalServerError", status)),
            Outcome::failed()
        );
    }
    // 501 and 505 are not transient: the same answer elsewhere.
    assert_eq!(outcome(service("NotImplemented", 501)), Outcome::Rejected);
    // 429 is push-back whatever the code.
    assert_eq!(outcome(service("Unknown", 429)), Outcome::throttled(None));
}

#[test]
fn credential_and_signature_codes_are_local() {
    for code in LOCAL_CODES {
        assert_eq!(outcome(service(code, 400)), Outcome::Local, "{code}");
    }
    // Even with a 5xx status: the code decides first.
    assert_eq!(outcome(service("ExpiredToken", 500)), Outcome::Local);
}

#[test]
fn other_service_errors_are_rejected() {
    for code in [
        "ValidationException",
        "ResourceNotFoundException",
        "ConditionalCheckFailedException",
    ] {
        assert_eq!(outcome(service(code, 400)), Outcome::Rejected, "{code}");
    }
}

#[test]
fn a_modeled_retryable_error_is_failed() {
    let modeled = PutItemError::ReplicatedWriteConflictException(
        ReplicatedWriteConflictException::builder()
            .message("conflict")
            .build(),
    );
    let err = SdkError::service_error(modeled, response(400, &[]));
    assert_eq!(outcome(err), Outcome::failed());
}

#[test]
fn codes_given_per_call_site_come_before_the_built_in_lists() {
    let classifier = AwsClassifier::new()
        .throttling("MyServiceBusy")
        .transient("ValidationException")
        .rejected("LimitExceededException")
        .local("OptInRequired");
    let classify = |err: Err| classifier.classify(&Result::<(), _>::Err(err));
    let busy = service_with("MyServiceBusy", 400, &[("retry-after", "2")]);
    assert_eq!(
        classify(busy),
        Outcome::throttled(Some(Duration::from_secs(2)))
    );
    assert_eq!(
        classify(service("ValidationException", 400)),
        Outcome::failed()
    );
    assert_eq!(
        classify(service("LimitExceededException", 400)),
        Outcome::Rejected
    );
    assert_eq!(classify(service("OptInRequired", 403)), Outcome::Local);
    // The same code given twice: the last word wins.
    let moved = AwsClassifier::new().local("X").transient("X");
    assert_eq!(
        moved.classify(&Result::<(), _>::Err(service("X", 400))),
        Outcome::failed()
    );
    // The defaults are untouched.
    assert_eq!(
        outcome(service("ValidationException", 400)),
        Outcome::Rejected
    );
}

fn dispatch(err: ConnectorError) -> Err {
    SdkError::dispatch_failure(err)
}

fn io(kind: io::ErrorKind) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(io::Error::from(kind))
}

#[test]
fn dispatch_failures_by_what_the_connection_saw() {
    let refused = dispatch(ConnectorError::io(io(io::ErrorKind::ConnectionRefused)));
    assert_eq!(outcome(refused), Outcome::not_sent());
    let reset = dispatch(ConnectorError::io(io(io::ErrorKind::ConnectionReset)));
    assert_eq!(outcome(reset), Outcome::failed());
    let timeout = dispatch(ConnectorError::timeout("read timed out".into()));
    assert_eq!(outcome(timeout), Outcome::timeout());
    let user = dispatch(ConnectorError::user("invalid header".into()));
    assert_eq!(outcome(user), Outcome::Local);
    let throttled = dispatch(ConnectorError::other(
        "slow down".into(),
        Some(ErrorKind::ThrottlingError),
    ));
    assert_eq!(outcome(throttled), Outcome::throttled(None));
    let unknown = dispatch(ConnectorError::other("?".into(), None));
    assert_eq!(outcome(unknown), Outcome::failed());
}

#[test]
fn timeouts_response_errors_and_construction_failures() {
    assert_eq!(
        outcome(SdkError::timeout_error("attempt timeout")),
        Outcome::timeout()
    );
    let cut = SdkError::response_error("connection closed mid-body", response(200, &[]));
    assert_eq!(outcome(cut), Outcome::failed());
    let unbuilt = SdkError::construction_failure("missing field `table_name`");
    assert_eq!(outcome(unbuilt), Outcome::Local);
}

#[test]
fn the_failover_error_type_is_read_through_and_verdicts_are_local() {
    let classifier = AwsClassifier::new();
    let inner: Result<(), CallError<AwsError<PutItemError>>> = Err(CallError::Inner(
        AwsError::new("us-east-1", service("ThrottlingException", 400)),
    ));
    assert_eq!(classifier.classify(&inner), Outcome::throttled(None));
    let verdict: Result<(), CallError<AwsError<PutItemError>>> =
        Err(DeadlineExceeded::new().into());
    assert_eq!(classifier.classify(&verdict), Outcome::Local);
    let bare: Result<(), AwsError<PutItemError>> = Err(service("ValidationException", 400).into());
    assert_eq!(classifier.classify(&bare), Outcome::Rejected);
}

#[test]
fn the_error_names_the_region_the_code_and_the_message() {
    let err = AwsError::new("us-east-1", service("ValidationException", 400));
    assert_eq!(
        err.to_string(),
        "us-east-1: ValidationException: the message"
    );
    assert_eq!(err.region(), Some("us-east-1"));
    let refused = AwsError::new(
        "us-west-2",
        dispatch(ConnectorError::io(io(io::ErrorKind::ConnectionRefused))),
    );
    assert_eq!(
        refused.to_string(),
        "us-west-2: dispatch failure: io error: connection refused"
    );
    let walk: CallError<AwsError<PutItemError>> = CallError::AllEndpointsFailed {
        attempts: Vec::new(),
        last: Box::new(CallError::Inner(err)),
    };
    assert!(walk.inner().unwrap().as_service_error().is_some());
}
