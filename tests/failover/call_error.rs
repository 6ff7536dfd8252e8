//! `CallError<E>` as the endpoints' error type: a walk that fails everywhere keeps the last
//! error typed, with every attempt, under paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::backoff::Backoff;
use steadfast::failover::Failover;
use steadfast::{CallError, Outcome};
use tokio::time::Instant;
use tower::{ServiceExt, service_fn};

use super::support::{ms, secs};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sdk error")]
enum SdkError {
    Unavailable(&'static str),
}

/// A region failing after 100 ms with its own typed error, recording its call instants.
fn failing(
    name: &'static str,
    calls: Arc<Mutex<Vec<(&'static str, Duration)>>>,
    start: Instant,
) -> impl tower::Service<(), Response = (), Error = CallError<SdkError>, Future = impl Send + 'static>
+ Clone {
    service_fn(move |()| {
        calls.lock().unwrap().push((name, start.elapsed()));
        async move {
            tokio::time::sleep(ms(100)).await;
            Err(CallError::Inner(SdkError::Unavailable(name)))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_walk_failing_everywhere_keeps_the_last_error_typed() {
    let start = Instant::now();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let failover = Failover::builder()
        .endpoint("us-east-2", failing("us-east-2", calls.clone(), start))
        .endpoint("us-west-1", failing("us-west-1", calls.clone(), start))
        .recover(Backoff::constant(secs(1), 1))
        .build()
        .unwrap();
    let err = failover.oneshot(()).await.unwrap_err();
    assert!(err.is_all_endpoints_failed(), "{err:?}");
    // No downcast: the last attempt's own error.
    assert_eq!(err.inner(), Some(&SdkError::Unavailable("us-west-1")));
    let attempts: Vec<_> = err
        .attempts()
        .iter()
        .map(|a| (a.endpoint.to_string(), a.outcome, a.elapsed))
        .collect();
    let west = "us-west-1".to_owned();
    let east = "us-east-2".to_owned();
    assert_eq!(
        attempts,
        [
            (east.clone(), Outcome::failed(), ms(0)),
            (west.clone(), Outcome::failed(), ms(100)),
            (east, Outcome::failed(), ms(1200)),
            (west, Outcome::failed(), ms(1300)),
        ]
    );
    assert_eq!(
        *calls.lock().unwrap(),
        [
            ("us-east-2", ms(0)),
            ("us-west-1", ms(100)),
            ("us-east-2", ms(1200)),
            ("us-west-1", ms(1300)),
        ]
    );
    assert_eq!(start.elapsed(), ms(1400));
}

#[tokio::test(start_paused = true)]
async fn a_walk_ending_on_the_attempt_timeout_says_so_typed() {
    let start = Instant::now();
    let hanging = service_fn(|()| std::future::pending::<Result<(), CallError<SdkError>>>());
    let failover = Failover::builder()
        .endpoint("us-east-2", hanging)
        .endpoint("us-west-1", hanging)
        .recover(Backoff::none())
        .attempt_timeout(secs(2))
        .build()
        .unwrap();
    let err = failover.oneshot(()).await.unwrap_err();
    assert!(
        err.is_all_endpoints_failed() && err.is_attempt_timed_out(),
        "{err:?}"
    );
    assert_eq!(err.inner(), None);
    assert_eq!(err.attempts().len(), 2);
    assert_eq!(
        err.to_string(),
        "all endpoints failed after 2 attempts (us-east-2: timeout, us-west-1: timeout): \
         attempt timed out after 2s"
    );
    assert_eq!(start.elapsed(), secs(4));
}
