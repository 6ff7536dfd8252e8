//! The real SDK against loopback ports: a throttling answer as DynamoDB sends it, from a
//! wiremock server; ports where nothing listens; configurations `regions` refuses.

use std::time::Duration;

use steadfast::aws::AwsClassifier;
use steadfast::breaker::BreakerState;
use steadfast::{Backoff, Classify, Outcome};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::local::{client_at, get_item, put_item, sdk_config};

/// DynamoDB's throttling answer: status 400, the code in `x-amzn-ErrorType` and in the JSON
/// body, and a push-back of 5 s.
fn throttling() -> ResponseTemplate {
    ResponseTemplate::new(400)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .insert_header(
            "x-amzn-ErrorType",
            "ProvisionedThroughputExceededException:http://internal.amazon.com/coral/com.amazonaws.dynamodb.v20120810/",
        )
        .insert_header("x-amz-retry-after", "5000")
        .set_body_string(
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"Rate of requests exceeds the allowed throughput"}"#,
        )
}

/// An empty `GetItem` answer: no item.
fn no_item() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .set_body_string("{}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_parses_throttling_and_the_classifier_reads_it_with_its_hint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(throttling())
        .expect(1)
        .mount(&server)
        .await;
    let err = get_item(client_at(&server.uri(), "us-east-1"), "orders", "7")
        .await
        .unwrap_err();
    let outcome = AwsClassifier::new().classify(&Result::<(), _>::Err(err));
    assert_eq!(outcome, Outcome::throttled(Some(Duration::from_secs(5))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_region_is_skipped_for_its_hint_and_its_breaker_counts_nothing() {
    let throttled = MockServer::start().await;
    let healthy = MockServer::start().await;
    // One request only: the second call skips the region while its push-back lasts.
    Mock::given(method("POST"))
        .respond_with(throttling())
        .expect(1)
        .mount(&throttled)
        .await;
    Mock::given(method("POST"))
        .respond_with(no_item())
        .expect(2)
        .mount(&healthy)
        .await;
    let dynamo = steadfast::aws::regions(
        &sdk_config(),
        [("us-east-1", throttled.uri()), ("us-west-2", healthy.uri())],
        aws_sdk_dynamodb::Client::new,
    )
    .unwrap()
    .breakers(|b| b.consecutive_failures(1))
    .recover(Backoff::none())
    .build()
    .unwrap();
    for _ in 0..2 {
        let out = dynamo
            .run(|c| get_item(c, "orders", "7"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.item().is_none());
    }
    assert_eq!(
        dynamo.handle().breaker_state("us-east-1"),
        Some(BreakerState::Closed)
    );
}

/// A port on the loopback address where nothing listens.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_failing_everywhere_names_each_region_and_the_last_error() {
    let dynamo = steadfast::aws::regions(
        &sdk_config(),
        [("us-east-1", closed_port()), ("us-west-2", closed_port())],
        aws_sdk_dynamodb::Client::new,
    )
    .unwrap()
    .recover(Backoff::none())
    .build()
    .unwrap();
    let err = dynamo
        .run(|c| put_item(c, "orders", "7"))
        .await
        .unwrap_err();
    assert!(err.is_all_endpoints_failed(), "{err:?}");
    assert_eq!(err.inner().unwrap().region(), Some("us-west-2"));
    let message = err.to_string();
    let expected = "all endpoints failed after 2 attempts (us-east-1: not sent, us-west-2: not sent): \
                    us-west-2: dispatch failure: io error: ";
    assert!(message.starts_with(expected), "{message}");
}

#[test]
fn regions_refuses_a_bad_name_or_endpoint_url() {
    let build = |name: &str, url: &str| {
        steadfast::aws::regions(&sdk_config(), [(name, url)], aws_sdk_dynamodb::Client::new)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        build(" us-east-1", "http://127.0.0.1:1"),
        Err("region name is \" us-east-1\", expected a non-empty name without leading or trailing whitespace".into())
    );
    assert_eq!(
        build("us-east-1", "127.0.0.1:1"),
        Err("region endpoint url is \"127.0.0.1:1\", expected an absolute http or https url with a host".into())
    );
    assert_eq!(
        build("us-east-1", "https://dynamodb.us-east-1.amazonaws.com"),
        Ok(())
    );
}

#[test]
fn the_attempt_timeout_comes_from_the_configuration_or_the_default() {
    use aws_smithy_types::timeout::TimeoutConfig;
    let debug = |config: &aws_types::SdkConfig| {
        let builder =
            steadfast::aws::regions(config, ["us-east-1"], aws_sdk_dynamodb::Client::new).unwrap();
        format!("{builder:?}")
    };
    assert!(
        debug(&sdk_config()).contains("attempt_timeout: Some(3s)"),
        "{}",
        debug(&sdk_config())
    );
    let configured = sdk_config()
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(750))
                .build(),
        )
        .build();
    assert!(debug(&configured).contains("attempt_timeout: Some(750ms)"));
}
