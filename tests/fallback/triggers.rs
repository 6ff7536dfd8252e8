//! Which results the layer answers: every verdict of the library, every classified failure,
//! never a success or a rejection; the predicate narrows them; the fallback's own error comes
//! back typed.

use std::convert::Infallible;

use steadfast::fallback::{Failure, FallbackError, FallbackLayer, Trigger, Verdict, from_fn};
use steadfast::{
    AllEndpointsFailed, AttemptTimedOut, BoxError, BreakerOpen, CallError, DeadlineExceeded,
    NoEndpointAvailable, Outcome,
};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::support::{self, Resp, Scripted, Step, secs};
use super::{Answered, DEFAULT, Seen};

/// Each verdict boxed into a `BoxError`, as the layers return them over `BoxError` services.
fn verdicts() -> Vec<(Verdict, BoxError)> {
    vec![
        (Verdict::DeadlineExceeded, DeadlineExceeded::new().into()),
        (
            Verdict::AttemptTimedOut,
            AttemptTimedOut::new(secs(2)).into(),
        ),
        (
            Verdict::BreakerOpen,
            BreakerOpen::new(Some(secs(30))).into(),
        ),
        (
            Verdict::AllEndpointsFailed,
            AllEndpointsFailed::new(Vec::new(), "reset").into(),
        ),
        (
            Verdict::NoEndpointAvailable,
            NoEndpointAvailable::new(None).into(),
        ),
    ]
}

#[tokio::test]
async fn every_verdict_is_answered_with_the_request_and_reported() {
    for (i, (verdict, error)) in verdicts().into_iter().enumerate() {
        let answered = Answered::default();
        let seen = Seen::default();
        let error = std::sync::Mutex::new(Some(error));
        let inner = service_fn(|_: u32| {
            let e = error.lock().unwrap().take().unwrap();
            async move { Err::<Resp, BoxError>(e) }
        });
        let svc = FallbackLayer::new(answered.fallback())
            .on_event(seen.hook())
            .layer(inner);
        let req = 40 + i as u32;
        assert_eq!(svc.oneshot(req).await.unwrap(), DEFAULT, "{verdict:?}");
        let trigger = Trigger::Verdict(verdict);
        assert_eq!(answered.calls(), [(req, trigger)]);
        assert_eq!(seen.events(), [(trigger, true, None)]);
    }
}

#[tokio::test]
async fn a_verdict_inside_an_io_error_is_read_too() {
    let answered = Answered::default();
    let inner = service_fn(|_: u32| async {
        Err::<Resp, BoxError>(std::io::Error::from(DeadlineExceeded::new()).into())
    });
    let svc = FallbackLayer::new(answered.fallback()).layer(inner);
    assert_eq!(svc.oneshot(1).await.unwrap(), DEFAULT);
    assert_eq!(
        answered.calls(),
        [(1, Trigger::Verdict(Verdict::DeadlineExceeded))]
    );
}

#[derive(Debug, PartialEq)]
struct Custom;

#[tokio::test]
async fn a_call_error_over_any_type_is_read_by_its_own_verdict() {
    let cases: Vec<(Option<Verdict>, CallError<Custom>)> = vec![
        (
            Some(Verdict::DeadlineExceeded),
            DeadlineExceeded::new().into(),
        ),
        (
            Some(Verdict::AttemptTimedOut),
            AttemptTimedOut::new(secs(1)).into(),
        ),
        (Some(Verdict::BreakerOpen), BreakerOpen::new(None).into()),
        (
            Some(Verdict::NoEndpointAvailable),
            NoEndpointAvailable::new(None).into(),
        ),
        (
            Some(Verdict::AllEndpointsFailed),
            CallError::AllEndpointsFailed {
                attempts: Vec::new(),
                last: Box::new(CallError::Inner(Custom)),
            },
        ),
        // The dependency's own error: a classified failure (the default classifier).
        (None, CallError::Inner(Custom)),
    ];
    for (verdict, error) in cases {
        let triggers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = triggers.clone();
        let error = std::sync::Mutex::new(Some(error));
        let inner = service_fn(|_: u32| {
            let e = error.lock().unwrap().take().unwrap();
            async move { Err::<u32, CallError<Custom>>(e) }
        });
        let fallback = from_fn(
            |_: &u32| (),
            move |(), failure: Failure<u32, CallError<Custom>>| {
                seen.lock().unwrap().push(failure.trigger);
                async { Ok::<_, Infallible>(7) }
            },
        );
        let svc = FallbackLayer::new(fallback)
            .verdicts(CallError::<Custom>::verdict)
            .layer(inner);
        assert_eq!(svc.oneshot(1).await.unwrap(), 7);
        let want = verdict.map_or(Trigger::Failed(Outcome::failed()), Trigger::Verdict);
        assert_eq!(*triggers.lock().unwrap(), [want]);
    }
}

#[tokio::test]
async fn success_is_never_answered() {
    let inner = Scripted::new([]);
    let answered = Answered::default();
    let seen = Seen::default();
    let mut svc = FallbackLayer::new(answered.fallback())
        .classifier(support::classify)
        .on_event(seen.hook())
        .layer(inner.clone());
    for i in 0..100 {
        let resp = svc.ready().await.unwrap().call(i).await.unwrap();
        assert_eq!(resp.status, 200);
    }
    assert_eq!(inner.count(), 100);
    assert!(answered.calls().is_empty());
    assert!(seen.events().is_empty());
}

#[tokio::test]
async fn a_classified_failure_is_answered_and_a_rejection_is_returned() {
    let inner = Scripted::new([
        Step::Status(503),
        Step::Status(404),
        Step::Err("reset"),
        Step::Hint(429, secs(1)),
        Step::Status(200),
    ]);
    let answered = Answered::default();
    let mut svc = FallbackLayer::new(answered.fallback())
        .classifier(support::classify)
        .layer(inner.clone());
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(svc.ready().await.unwrap().call(i).await.unwrap().status);
    }
    assert_eq!(statuses, [203, 404, 203, 203, 200]);
    assert_eq!(
        answered.calls(),
        [
            (0, Trigger::Failed(Outcome::failed())),
            (2, Trigger::Failed(Outcome::failed())),
            (3, Trigger::Failed(Outcome::throttled(Some(secs(1))))),
        ]
    );
}

#[tokio::test]
async fn the_default_classifier_returns_a_failing_response_as_it_is() {
    let inner = Scripted::new([Step::Status(503), Step::Err("reset")]);
    let answered = Answered::default();
    let mut svc = FallbackLayer::new(answered.fallback()).layer(inner.clone());
    assert_eq!(
        svc.ready().await.unwrap().call(1).await.unwrap().status,
        503
    );
    assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), DEFAULT);
    assert_eq!(answered.calls(), [(2, Trigger::Failed(Outcome::failed()))]);
}

#[tokio::test]
async fn the_failure_reaches_the_fallback_whole() {
    let inner = Scripted::new([Step::Status(503), Step::Err("reset")]);
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    let fallback = from_fn(
        |req: &u32| *req,
        move |req: u32, failure: Failure<Resp, BoxError>| {
            let result = failure.result.map_err(|e| e.to_string());
            keep.lock().unwrap().push((req, failure.trigger, result));
            async { Ok::<_, Infallible>(DEFAULT) }
        },
    );
    let mut svc = FallbackLayer::new(fallback)
        .classifier(support::classify)
        .layer(inner);
    svc.ready().await.unwrap().call(5).await.unwrap();
    svc.ready().await.unwrap().call(6).await.unwrap();
    assert_eq!(
        *got.lock().unwrap(),
        [
            (
                5,
                Trigger::Failed(Outcome::failed()),
                Ok(Resp {
                    status: 503,
                    retry_after: None
                })
            ),
            (6, Trigger::Failed(Outcome::failed()), Err("reset".into())),
        ]
    );
}

#[tokio::test]
async fn the_predicate_narrows_the_triggers() {
    let inner = Scripted::new([Step::Err("reset"), Step::Status(503)]);
    let answered = Answered::default();
    let mut svc = FallbackLayer::new(answered.fallback())
        .classifier(support::classify)
        .when(|t: &Trigger| t.is_verdict())
        .layer(inner.clone());
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(matches!(&err, FallbackError::Inner(e) if e.to_string() == "reset"));
    assert_eq!(err.to_string(), "reset");
    let resp = svc.ready().await.unwrap().call(2).await.unwrap();
    assert_eq!(
        resp.status, 503,
        "a failing response not selected is returned"
    );
    assert!(answered.calls().is_empty());
    // A verdict is still answered.
    let open = service_fn(|_: u32| async { Err::<Resp, BoxError>(BreakerOpen::new(None).into()) });
    let svc = FallbackLayer::new(answered.fallback())
        .when(|t: &Trigger| t.is_verdict())
        .layer(open);
    assert_eq!(svc.oneshot(3).await.unwrap(), DEFAULT);
    assert_eq!(
        answered.calls(),
        [(3, Trigger::Verdict(Verdict::BreakerOpen))]
    );
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("no default either")]
struct NoDefault;

#[tokio::test]
async fn the_fallbacks_own_failure_is_returned_typed() {
    let inner = service_fn(|_: u32| async { Err::<Resp, BoxError>(BreakerOpen::new(None).into()) });
    let seen = Seen::default();
    let fallback = from_fn(
        |_: &u32| (),
        |(), _: Failure<Resp, BoxError>| async { Err::<Resp, _>(NoDefault) },
    );
    let svc = FallbackLayer::new(fallback)
        .on_event(seen.hook())
        .layer(inner);
    let err = svc.oneshot(1).await.unwrap_err();
    let trigger = Trigger::Verdict(Verdict::BreakerOpen);
    assert_eq!(err.trigger(), Some(trigger));
    assert_eq!(err.fallback_error(), Some(&NoDefault));
    assert!(err.inner().is_none());
    assert_eq!(
        err.to_string(),
        "fallback (breaker_open) failed: no default either"
    );
    assert!(matches!(
        err,
        FallbackError::Fallback {
            error: NoDefault,
            ..
        }
    ));
    assert_eq!(seen.events(), [(trigger, false, None)]);
}

#[tokio::test]
async fn a_readiness_error_is_returned_as_the_inner_error() {
    let inner = Scripted::new([]);
    inner.fail_ready("not ready");
    let answered = Answered::default();
    let svc = FallbackLayer::new(answered.fallback()).layer(inner.clone());
    let err = svc.oneshot(1).await.unwrap_err().into_inner();
    assert_eq!(err.to_string(), "not ready");
    assert_eq!(inner.count(), 0);
    assert!(answered.calls().is_empty());
}
