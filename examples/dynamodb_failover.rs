//! DynamoDB failing over between two regions, live: two local moto servers stand for
//! `us-east-1` and `us-west-2`. Start them first (see the README's AWS section):
//!
//! ```sh
//! moto_server -H 127.0.0.1 -p 5001 &   # us-east-1
//! moto_server -H 127.0.0.1 -p 5002 &   # us-west-2
//! cargo run --features aws --example dynamodb_failover
//! ```
//!
//! It reads one item every second for 30 s and prints which region served it. Stop the first
//! server (`kill %1`) while it runs: the reads go on from `us-west-2` in the same call and the
//! primary's breaker opens; start it again and the reads fail back (the example writes the item
//! again in each region every round, so a restarted server has it). `STEADFAST_MOTO_A` and
//! `STEADFAST_MOTO_B` override the two URLs.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_types::retry::RetryConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use steadfast::Failback;

const TABLE: &str = "orders";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let east = std::env::var("STEADFAST_MOTO_A").unwrap_or_else(|_| "http://127.0.0.1:5001".into());
    let west = std::env::var("STEADFAST_MOTO_B").unwrap_or_else(|_| "http://127.0.0.1:5002".into());
    // Static credentials and the SDK's plain-HTTP client: what a local server needs.
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "example",
        )))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();

    // The failing-over client: one DynamoDB client per region, the SDK's retries off.
    let dynamo = steadfast::aws::regions(
        &config,
        [("us-east-1", east.as_str()), ("us-west-2", west.as_str())],
        Client::new,
    )?
    .breakers(|b| {
        b.consecutive_failures(2)
            .open_duration(Duration::from_secs(3))
    })
    .attempt_timeout(Duration::from_secs(1))
    .failback(Failback::Immediate)
    .build()?;
    let handle = dynamo.handle();

    for round in 1..=30 {
        for (region, url) in [("us-east-1", &east), ("us-west-2", &west)] {
            seed(&config, region, url).await;
        }
        let read = dynamo
            .run_idempotent(|c| {
                c.get_item()
                    .table_name(TABLE)
                    .key("pk", AttributeValue::S("7".into()))
                    .send()
            })
            .await;
        let served = match &read {
            Ok(out) => out
                .item()
                .and_then(|item| item.get("region"))
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_else(|| "no item".into()),
            Err(e) => format!("error: {e}"),
        };
        println!(
            "round {round:2}: served by {served}; us-east-1's breaker: {:?}",
            handle.breaker_state("us-east-1").expect("a region")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

/// Creates the table in the region at `url` if needed and writes item `7` there, naming the
/// region; quietly does nothing when that server is down.
async fn seed(config: &SdkConfig, region: &str, url: &str) {
    let client = Client::new(
        &config
            .to_builder()
            .region(Region::new(region.to_owned()))
            .endpoint_url(url)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let _ = client
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("name and type are set"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    let _ = client
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S("7".into()))
        .item("region", AttributeValue::S(region.into()))
        .send()
        .await;
}
