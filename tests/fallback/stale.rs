//! The stale cache as a fallback, at exact instants (paused time): served up to and not at its
//! maximum age, its age reported and marked; the size bound evicting expired entries first,
//! then the entry stored longest ago; a miss returning the failure as it was.

use std::time::Duration;

use steadfast::fallback::{FallbackError, FallbackLayer, StaleCache, StaleEntry, Trigger};
use steadfast::{BoxError, ConfigError, Outcome};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use super::Seen;
use super::support::{self, Resp, Scripted, Step, ms, secs};

const NS: Duration = Duration::from_nanos(1);

type Classifier = fn(&Result<Resp, BoxError>) -> Outcome;

fn ok(status: u16) -> Resp {
    Resp {
        status,
        retry_after: None,
    }
}

#[tokio::test(start_paused = true)]
async fn served_until_exactly_its_max_age_with_its_age() {
    // 200 (kept), then failures.
    let inner = Scripted::new([Step::Status(201), Step::Status(500), Step::Status(500)]);
    let cache = StaleCache::new(8, secs(10)).unwrap();
    let seen = Seen::default();
    let mut svc = FallbackLayer::new(cache.fallback(|req: &u32| *req % 10).mark(
        |resp: Resp, age: Duration| Resp {
            retry_after: Some(age),
            ..resp
        },
    ))
    .classifier(support::classify as Classifier)
    .on_event(seen.hook())
    .layer(inner.clone());
    let start = Instant::now();
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), ok(201));
    tokio::time::advance(secs(10) - NS).await;
    let stale = svc.ready().await.unwrap().call(11).await.unwrap();
    assert_eq!(
        stale,
        Resp {
            status: 201,
            retry_after: Some(secs(10) - NS)
        },
        "same key, 1 ns before"
    );
    tokio::time::advance(NS).await;
    assert_eq!(start.elapsed(), secs(10));
    let err = svc.ready().await.unwrap().call(21).await.unwrap_err();
    let FallbackError::Fallback { trigger, error } = err else {
        panic!("the fallback's miss")
    };
    assert_eq!(trigger, Trigger::Failed(Outcome::failed()));
    assert_eq!(
        error.failure.result.as_ref().unwrap(),
        &ok(500),
        "the failure, as it was"
    );
    assert_eq!(error.to_string(), "no stale response to serve (failed)");
    assert!(cache.is_empty(), "the expired entry was dropped when found");
    let failed = Trigger::Failed(Outcome::failed());
    assert_eq!(
        seen.events(),
        [(failed, true, Some(secs(10) - NS)), (failed, false, None)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_newer_success_refreshes_the_entry_and_failures_do_not_store() {
    let inner = Scripted::new([
        Step::Status(200),
        Step::Status(202),
        Step::Status(503),
        Step::Status(404),
    ]);
    let cache = StaleCache::new(8, secs(10)).unwrap();
    let mut svc = FallbackLayer::new(cache.fallback(|_: &u32| "key"))
        .classifier(support::classify as Classifier)
        .layer(inner);
    svc.ready().await.unwrap().call(1).await.unwrap();
    tokio::time::advance(secs(6)).await;
    svc.ready().await.unwrap().call(2).await.unwrap();
    tokio::time::advance(secs(6)).await;
    // 12 s after the first 200, 6 s after the 202: the 202 is served.
    assert_eq!(svc.ready().await.unwrap().call(3).await.unwrap(), ok(202));
    // A rejection is returned and not kept.
    assert_eq!(svc.ready().await.unwrap().call(4).await.unwrap(), ok(404));
    let entry = cache.get(&"key").unwrap();
    assert_eq!(entry, cache.get(&"key").unwrap());
    assert_eq!((entry.value, entry.age), (ok(202), secs(6)));
}

#[test]
fn the_size_bound_drops_expired_entries_then_the_oldest() {
    let cache = StaleCache::new(3, secs(10)).unwrap();
    let t = std::time::Instant::now();
    cache.store_at(1, "a", t);
    cache.store_at(2, "b", t + secs(1));
    cache.store_at(3, "c", t + secs(2));
    // Full, nothing expired: the entry stored longest ago goes.
    cache.store_at(4, "d", t + secs(3));
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.get_at(&1, t + secs(3)), None);
    // Storing a key held refreshes it: 2 becomes the newest, 3 the oldest.
    cache.store_at(2, "b2", t + secs(4));
    cache.store_at(5, "e", t + secs(5));
    assert_eq!(cache.get_at(&3, t + secs(5)), None);
    let at = |k: u32| cache.get_at(&k, t + secs(5)).map(|e| e.value);
    assert_eq!([at(2), at(4), at(5)], [Some("b2"), Some("d"), Some("e")]);
    // Reading changes no order: 4 (stored at 3 s) is still the oldest.
    cache.store_at(6, "f", t + secs(6));
    assert_eq!(cache.get_at(&4, t + secs(6)), None);
    // At 14.5 s, 2 (4 s) has expired and 5 (5 s) has not: both expired ones go first, so the
    // new key costs no live entry.
    cache.store_at(7, "g", t + ms(14_500));
    assert_eq!(cache.len(), 3);
    let entry: StaleEntry<&str> = cache.get_at(&5, t + ms(14_500)).unwrap();
    assert_eq!((entry.value, entry.age), ("e", ms(9_500)));
    assert_eq!(cache.get_at(&2, t + ms(14_500)), None);
}

#[test]
fn a_cache_without_room_or_time_is_refused() {
    let err = StaleCache::<u32, u32>::new(0, secs(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stale cache max_entries is 0, expected at least 1"
    );
    let err = StaleCache::<u32, u32>::new(1, Duration::ZERO).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Invalid {
            setting: "stale cache max_age",
            ..
        }
    ));
    assert!(StaleCache::<u32, u32>::new(1, steadfast::MAX_DURATION + NS).is_err());
}

#[tokio::test(start_paused = true)]
async fn each_key_serves_its_own_response() {
    let inner = Scripted::new([
        Step::Status(201),
        Step::Status(202),
        Step::Err("reset"),
        Step::Err("reset"),
        Step::Err("reset"),
    ]);
    let cache = StaleCache::new(8, secs(60)).unwrap();
    let mut svc = FallbackLayer::new(cache.fallback(|req: &u32| *req))
        .classifier(support::classify as Classifier)
        .layer(inner);
    svc.ready().await.unwrap().call(1).await.unwrap();
    svc.ready().await.unwrap().call(2).await.unwrap();
    assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), ok(202));
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), ok(201));
    let miss = svc.ready().await.unwrap().call(3).await.unwrap_err();
    let error = miss.fallback_error().unwrap();
    assert_eq!(
        error.failure.result.as_ref().unwrap_err().to_string(),
        "reset"
    );
    // An error, so that `?` boxes it.
    let boxed: BoxError = miss.into();
    assert_eq!(
        boxed.to_string(),
        "fallback (failed) failed: no stale response to serve (failed)"
    );
}
