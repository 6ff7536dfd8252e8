//! The failover over the real DynamoDB client against moto servers standing for two regions
//! (real time, real sockets: the tests count, and wait only on the servers' own answers).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use steadfast::aws::{AwsClassifier, AwsFailover};
use steadfast::breaker::BreakerState;
use steadfast::{Backoff, RetryPolicy};

use crate::local::{
    Moto, client_at, get_item, put_item, required_env, sdk_config, shared_servers, table_with_item,
};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";

/// A failover over `a` (primary) and `b`, one pass, breakers opening after 2 failures for
/// `open`.
fn failover(
    a: &str,
    b: &str,
    attempt_timeout: Duration,
    open: Duration,
) -> AwsFailover<aws_sdk_dynamodb::Client> {
    steadfast::aws::regions(
        &sdk_config(),
        [(EAST, a), (WEST, b)],
        aws_sdk_dynamodb::Client::new,
    )
    .unwrap()
    .breakers(move |b| b.consecutive_failures(2).open_duration(open))
    .attempt_timeout(attempt_timeout)
    .recover(Backoff::none())
    .build()
    .unwrap()
}

/// Which region's copy of item `7` of `table` the failover read.
async fn served_by(
    failover: &AwsFailover<aws_sdk_dynamodb::Client>,
    table: &'static str,
) -> String {
    let out = failover
        .run_idempotent(|c| get_item(c, table, "7"))
        .await
        .unwrap_or_else(|e| panic!("get item: {e}"));
    let item = out.item().expect("the item");
    item["served_by"].as_s().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_region_is_served_by_the_next_in_the_same_call_then_fails_back() {
    let test = "a_stopped_region_is_served_by_the_next_in_the_same_call_then_fails_back";
    let Some(exe) = required_env("STEADFAST_MOTO_SERVER", test) else {
        return;
    };
    let mut a = Moto::start(&exe);
    let b = Moto::start(&exe);
    table_with_item(&client_at(&a.url(), EAST), "orders", EAST).await;
    table_with_item(&client_at(&b.url(), WEST), "orders", WEST).await;
    let dynamo = failover(
        &a.url(),
        &b.url(),
        Duration::from_secs(10),
        Duration::from_millis(300),
    );
    let handle = dynamo.handle();
    assert_eq!(served_by(&dynamo, "orders").await, EAST);

    a.stop();
    // Refused connections: each call is served by the secondary in the same call, and the
    // second failure opens the primary's breaker. A write that was provably not sent hops too,
    // unmarked.
    dynamo
        .run(|c| put_item(c, "orders", "8"))
        .await
        .unwrap_or_else(|e| panic!("put item: {e}"));
    let written = client_at(&b.url(), WEST)
        .get_item()
        .table_name("orders")
        .key("pk", AttributeValue::S("8".into()))
        .send()
        .await
        .unwrap();
    assert!(written.item().is_some());
    assert_eq!(handle.breaker_state(EAST), Some(BreakerState::Closed));
    assert_eq!(served_by(&dynamo, "orders").await, WEST);
    assert_eq!(
        handle.breaker_state(EAST),
        Some(BreakerState::Open),
        "{handle:?}"
    );
    assert_eq!(served_by(&dynamo, "orders").await, WEST);
    // A write pinned to the primary does not go elsewhere.
    let pinned = dynamo
        .run_in(EAST, |c| put_item(c, "orders", "9"))
        .await
        .unwrap_err();
    assert!(
        pinned.inner().is_none_or(|e| e.region() == Some(EAST)),
        "{pinned}"
    );

    a.restart();
    table_with_item(&client_at(&a.url(), EAST), "orders", EAST).await;
    // Once the open duration has passed, a call probes the primary and traffic returns to it.
    let start = Instant::now();
    loop {
        if served_by(&dynamo, "orders").await == EAST {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no failback: {handle:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The probes that follow succeed too, and close the breaker.
    for _ in 0..20 {
        if handle.breaker_state(EAST) == Some(BreakerState::Closed) {
            break;
        }
        assert_eq!(served_by(&dynamo, "orders").await, EAST);
    }
    assert_eq!(handle.breaker_state(EAST), Some(BreakerState::Closed));
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_region_is_cut_at_the_attempt_timeout_and_the_call_hops() {
    let test = "a_frozen_region_is_cut_at_the_attempt_timeout_and_the_call_hops";
    let Some(exe) = required_env("STEADFAST_MOTO_SERVER", test) else {
        return;
    };
    let a = Moto::start(&exe);
    let b = Moto::start(&exe);
    table_with_item(&client_at(&a.url(), EAST), "orders", EAST).await;
    table_with_item(&client_at(&b.url(), WEST), "orders", WEST).await;
    let timeout = Duration::from_secs(2); // room for a loaded machine's moto to answer
    let dynamo = failover(&a.url(), &b.url(), timeout, Duration::from_secs(60));
    let handle = dynamo.handle();
    // A connection to the primary is open and idle in the pool when it freezes.
    assert_eq!(served_by(&dynamo, "orders").await, EAST);

    a.signal("STOP");
    for _ in 0..2 {
        let start = Instant::now();
        assert_eq!(served_by(&dynamo, "orders").await, WEST);
        assert!(start.elapsed() >= timeout, "{:?}", start.elapsed());
    }
    // Two timeouts open the primary's breaker: the next call goes straight to the secondary.
    assert_eq!(
        handle.breaker_state(EAST),
        Some(BreakerState::Open),
        "{handle:?}"
    );
    assert_eq!(served_by(&dynamo, "orders").await, WEST);

    // Not marked idempotent, a call that timed out in the primary is not sent again.
    handle.breaker(EAST).unwrap().reset();
    let err = dynamo
        .run(|c| put_item(c, "orders", "8"))
        .await
        .unwrap_err();
    assert!(err.is_attempt_timed_out(), "{err:?}");
    assert_eq!(err.attempts().len(), 1, "{err}");
    a.signal("CONT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_exception_is_returned_from_the_primary_not_failed_over() {
    let test = "a_validation_exception_is_returned_from_the_primary_not_failed_over";
    let Some((a, b)) = shared_servers(test) else {
        return;
    };
    let dynamo = failover(&a, &b, Duration::from_secs(10), Duration::from_secs(60));
    let handle = dynamo.handle();
    // The table exists in the primary (a rerun against the same server finds it there).
    let setup = client_at(&a, EAST);
    if let Err(e) = setup
        .describe_table()
        .table_name("steadfast-validation")
        .send()
        .await
    {
        assert_eq!(e.code(), Some("ResourceNotFoundException"), "{e:?}");
        table_with_item(&setup, "steadfast-validation", EAST).await;
    }
    let calls = AtomicUsize::new(0);
    // A key that is not the table's.
    let err = dynamo
        .run_idempotent(|c| {
            calls.fetch_add(1, Ordering::Relaxed);
            c.get_item()
                .table_name("steadfast-validation")
                .key("other", AttributeValue::S("7".into()))
                .send()
        })
        .await
        .unwrap_err();
    let inner = err.inner().expect("the service's error");
    assert_eq!(calls.load(Ordering::Relaxed), 1, "{err}");
    assert!(!err.is_all_endpoints_failed(), "{err}");
    assert_eq!(inner.region(), Some(EAST));
    assert_eq!(inner.code(), Some("ValidationException"), "{err}");
    assert!(err.to_string().starts_with("us-east-1: "), "{err}");
    assert_eq!(handle.breaker_state(EAST), Some(BreakerState::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_not_found_through_the_closure_form_retry_is_not_retried() {
    let test = "resource_not_found_through_the_closure_form_retry_is_not_retried";
    let Some((a, _)) = shared_servers(test) else {
        return;
    };
    let client = client_at(&a, EAST);
    let policy = RetryPolicy::builder()
        .classifier(AwsClassifier::new())
        .build()
        .unwrap();
    let calls = AtomicUsize::new(0);
    let start = Instant::now();
    let err = policy
        .run(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            client
                .get_item()
                .table_name("steadfast-no-such-table")
                .key("pk", AttributeValue::S("7".into()))
                .send()
        })
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let inner = err.inner().expect("the service's error");
    assert_eq!(inner.code(), Some("ResourceNotFoundException"), "{inner:?}");
    // No backoff was slept: the answer came at once.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
