//! `RetryPolicy::run` around SDK-style calls: the closure keeps its own error type, the
//! classifier sees it, and the call returns `CallError<E>`. Exact counts and instants under
//! paused time.

use std::sync::Mutex;
use std::time::Duration;

use steadfast::backoff::Backoff;
use steadfast::retry::RetryPolicy;
use steadfast::{CallError, Outcome};
use tokio::time::Instant;

use super::support::{ms, secs};

/// An SDK's own error type: not `From` any of the library's errors, not boxed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sdk error")]
enum SdkError {
    Throttling { retry_after_ms: u64 },
    ServiceUnavailable,
    ValidationException,
}

/// An SDK-style client: a fluent builder whose `send()` fails with the SDK's own error, per a
/// script, recording the instant of every call.
struct Client {
    script: Mutex<Vec<Result<u32, SdkError>>>,
    calls: Mutex<Vec<Duration>>,
    start: Instant,
}

struct GetItem<'a>(&'a Client);

impl Client {
    fn new(script: Vec<Result<u32, SdkError>>) -> Self {
        Client {
            script: Mutex::new(script.into_iter().rev().collect()),
            calls: Mutex::new(Vec::new()),
            start: Instant::now(),
        }
    }

    fn get_item(&self) -> GetItem<'_> {
        GetItem(self)
    }

    fn calls(&self) -> Vec<Duration> {
        self.calls.lock().unwrap().clone()
    }
}

impl GetItem<'_> {
    async fn send(self) -> Result<u32, SdkError> {
        self.0.calls.lock().unwrap().push(self.0.start.elapsed());
        let next = self.0.script.lock().unwrap().pop();
        next.expect("called more often than scripted")
    }
}

/// The classifier of the SDK's own results, written against its own error type.
fn classify_sdk(result: &Result<u32, SdkError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(SdkError::Throttling { retry_after_ms }) => {
            Outcome::throttled(Some(Duration::from_millis(*retry_after_ms)))
        }
        Err(SdkError::ServiceUnavailable) => Outcome::failed(),
        Err(SdkError::ValidationException) => Outcome::Rejected,
    }
}

/// The standard schedule without jitter: exact instants.
fn standard() -> RetryPolicy {
    RetryPolicy::builder()
        .backoff(Backoff::standard().with_jitter(steadfast::Jitter::None))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_closure_form_compiles_as_written_with_the_default_classifier() {
    let client = Client::new(vec![Err(SdkError::ServiceUnavailable), Ok(7)]);
    let policy = standard();
    // As written in the README: no error mapping.
    let item = policy
        .run(|| async { client.get_item().send().await })
        .await;
    assert_eq!(item.unwrap(), 7);
    assert_eq!(client.calls(), [ms(0), ms(500)]);
}

#[tokio::test(start_paused = true)]
async fn the_last_error_is_the_operations_own_typed_error() {
    let client = Client::new(vec![Err(SdkError::ServiceUnavailable); 4]);
    let policy = standard();
    let err = policy
        .run(|| async { client.get_item().send().await })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        CallError::Inner(SdkError::ServiceUnavailable)
    ));
    assert_eq!(err.inner(), Some(&SdkError::ServiceUnavailable));
    assert_eq!(client.calls(), [ms(0), ms(500), ms(1500), ms(3500)]);
}

#[tokio::test(start_paused = true)]
async fn a_non_default_classifier_sees_the_operations_own_result() {
    let client = Client::new(vec![
        Err(SdkError::Throttling {
            retry_after_ms: 1200,
        }),
        Err(SdkError::ServiceUnavailable),
        Ok(42),
    ]);
    let seen = Mutex::new(Vec::new());
    let policy = RetryPolicy::builder()
        .backoff(Backoff::standard().with_jitter(steadfast::Jitter::None))
        .classifier(|r: &Result<u32, SdkError>| {
            seen.lock().unwrap().push(r.clone());
            classify_sdk(r)
        })
        .build()
        .unwrap();
    let item = policy
        .run(|| async { client.get_item().send().await })
        .await;
    assert_eq!(item.unwrap(), 42);
    // The throttling hint (1.2 s) outweighs the first delay (500 ms); then 1 s.
    assert_eq!(client.calls(), [ms(0), ms(1200), ms(2200)]);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Err(SdkError::Throttling {
                retry_after_ms: 1200
            }),
            Err(SdkError::ServiceUnavailable),
            Ok(42)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_rejected_error_is_returned_at_once_as_is() {
    let client = Client::new(vec![Err(SdkError::ValidationException)]);
    let policy = RetryPolicy::builder()
        .backoff(Backoff::standard().with_jitter(steadfast::Jitter::None))
        .classifier(classify_sdk)
        .build()
        .unwrap();
    let err = policy
        .run(|| async { client.get_item().send().await })
        .await
        .unwrap_err();
    assert_eq!(err.into_inner(), Some(SdkError::ValidationException));
    assert_eq!(client.calls(), [ms(0)]);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_cut_by_the_timeout_ends_as_the_policys_verdict() {
    let policy = RetryPolicy::builder()
        .backoff(
            Backoff::standard()
                .with_max_retries(1)
                .with_jitter(steadfast::Jitter::None),
        )
        .attempt_timeout(secs(2))
        .build()
        .unwrap();
    let start = Instant::now();
    let calls = Mutex::new(Vec::new());
    let err = policy
        .run(|| {
            calls.lock().unwrap().push(start.elapsed());
            std::future::pending::<Result<u32, SdkError>>()
        })
        .await
        .unwrap_err();
    assert!(err.is_attempt_timed_out() && err.is_local(), "{err:?}");
    assert_eq!(err.inner(), None);
    // Attempt 1 cut at 2 s, retried after 500 ms, attempt 2 cut at 4.5 s.
    assert_eq!(*calls.lock().unwrap(), [ms(0), ms(2500)]);
    assert_eq!(start.elapsed(), ms(4500));
    assert_eq!(err.to_string(), "attempt timed out after 2s");
}
