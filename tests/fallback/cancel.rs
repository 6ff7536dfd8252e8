//! Dropping a call at any await point leaks nothing: not the inner call, not the request's
//! part, not the fallback's future; a dropped call reports no event and stores nothing.

use std::convert::Infallible;
use std::sync::Arc;

use steadfast::BoxError;
use steadfast::fallback::{Failure, FallbackLayer, StaleCache, from_fn};
use tower::{Layer, Service, ServiceExt};

use super::Seen;
use super::support::{Resp, Scripted, Step, ms, secs};

/// A part that counts itself: the `Arc`'s strong count is 1 once every copy is gone.
type Part = Arc<()>;

#[tokio::test(start_paused = true)]
async fn dropped_while_the_inner_call_runs() {
    let inner = Scripted::new([Step::Hang]);
    let part: Part = Arc::new(());
    let seen = Seen::default();
    let held = part.clone();
    let fallback = from_fn(
        move |_: &u32| held.clone(),
        |_: Part, _: Failure<Resp, BoxError>| async {
            Ok::<_, Infallible>(Resp {
                status: 203,
                retry_after: None,
            })
        },
    );
    let mut svc = FallbackLayer::new(fallback)
        .on_event(seen.hook())
        .layer(inner.clone());
    let call = svc.ready().await.unwrap().call(1);
    assert!(tokio::time::timeout(ms(50), call).await.is_err());
    assert_eq!(inner.live(), 0, "the inner call was dropped");
    drop(svc);
    assert_eq!(Arc::strong_count(&part), 1, "the part was dropped");
    assert!(seen.events().is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropped_while_the_fallback_runs() {
    let inner = Scripted::new([Step::Err("reset")]);
    let part: Part = Arc::new(());
    let seen = Seen::default();
    let held = part.clone();
    let fallback = from_fn(
        move |_: &u32| held.clone(),
        |part: Part, failure: Failure<Resp, BoxError>| async move {
            let _kept = (part, failure);
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Resp {
                status: 203,
                retry_after: None,
            })
        },
    );
    let mut svc = FallbackLayer::new(fallback)
        .on_event(seen.hook())
        .layer(inner.clone());
    let call = svc.ready().await.unwrap().call(1);
    assert!(tokio::time::timeout(secs(1), call).await.is_err());
    assert_eq!(inner.count(), 1);
    assert_eq!(inner.live(), 0);
    drop(svc);
    assert_eq!(
        Arc::strong_count(&part),
        1,
        "the fallback's future dropped its part"
    );
    assert!(seen.events().is_empty(), "no answer, no event");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_stores_nothing_in_the_stale_cache() {
    let inner = Scripted::new(
        std::iter::repeat_with(|| Step::After(ms(100), Box::new(Step::Status(200)))).take(101),
    );
    let cache = StaleCache::new(4, secs(10)).unwrap();
    let mut svc = FallbackLayer::new(cache.fallback(|req: &u32| *req)).layer(inner.clone());
    let call = svc.ready().await.unwrap().call(1);
    assert!(tokio::time::timeout(ms(99), call).await.is_err());
    tokio::time::advance(secs(1)).await;
    assert!(cache.is_empty());
    assert_eq!(inner.live(), 0);
    // Many calls aborted mid-flight, their responses about to come, leave nothing either.
    let mut tasks = Vec::new();
    for i in 0..100 {
        tasks.push(tokio::spawn(svc.ready().await.unwrap().call(i)));
    }
    tokio::task::yield_now().await;
    assert_eq!(inner.live(), 100, "every call is in flight");
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        assert!(task.await.unwrap_err().is_cancelled());
    }
    tokio::time::advance(secs(1)).await;
    assert!(cache.is_empty());
    assert_eq!(inner.live(), 0);
}
