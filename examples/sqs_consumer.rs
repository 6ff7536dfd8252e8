//! An SQS consumer failing over between two regions, live: two local moto servers stand for
//! `us-east-1` and `us-west-2`. Start them first (see the README's AWS section):
//!
//! ```sh
//! moto_server -H 127.0.0.1 -p 5001 &   # us-east-1
//! moto_server -H 127.0.0.1 -p 5002 &   # us-west-2
//! cargo run --features sqs --example sqs_consumer
//! ```
//!
//! It publishes one message a second for 30 s through the regional publisher and consumes them
//! through the regional queue under a lease, printing what it does. Stop the first server
//! (`kill %1`) while it runs: publishing and consuming go on in `us-west-2`; start it again and
//! they return. `STEADFAST_MOTO_A` and `STEADFAST_MOTO_B` override the two URLs.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;
use steadfast::event::Event;
use steadfast::messaging::{
    Consumer, Message, Outgoing, Publisher, RegionalPublisher, RegionalQueue, SqsQueue, WorkSignal,
};

/// The queue `orders` of the region at `url`, created if missing.
async fn orders(config: &SdkConfig, region: &str, url: &str) -> SqsQueue {
    let sqs = aws_sdk_sqs::config::Builder::from(config)
        .region(Region::new(region.to_owned()))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build();
    let client = aws_sdk_sqs::Client::from_conf(sqs);
    let queue_url = match client.create_queue().queue_name("orders").send().await {
        Ok(out) => out.queue_url.unwrap_or_default(),
        Err(_) => format!("{url}/123456789012/orders"),
    };
    SqsQueue::new(client, queue_url)
}

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
    let regions = [
        ("us-east-1", orders(&config, "us-east-1", &east).await),
        ("us-west-2", orders(&config, "us-west-2", &west).await),
    ];
    let publisher = RegionalPublisher::build(regions.clone(), steadfast_failover)?;
    let queue = RegionalQueue::build(regions, steadfast_failover)?;
    let serving = queue.handle();

    let consumer = Consumer::builder(queue, |message: Message, signal: WorkSignal| async move {
        tokio::time::sleep(Duration::from_millis(200)).await; // the work
        if signal.is_cancelled() {
            return Err(std::io::Error::other("lease lost"));
        }
        println!(
            "handled {} (delivery {})",
            message.body, message.receive_count
        );
        Ok(())
    })
    .visibility(Duration::from_secs(6))
    .wait(Duration::from_secs(1))
    .on_event(|event: &Event<'_>| match event {
        Event::LeaseLost { .. } | Event::MessageRestored { .. } => println!("{event:?}"),
        _ => {}
    })
    .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consuming = tokio::spawn(async move {
        consumer
            .run(async {
                let _ = stopped.await;
            })
            .await
    });

    for n in 0..30 {
        // A deduplication id: a publish that timed out may go to the other region too.
        let message =
            Outgoing::new(format!("order {n}")).with_deduplication_id(format!("order-{n}"));
        match publisher.publish(&message).await {
            Ok(()) => println!(
                "published order {n}; consuming from {}",
                serving.serving().endpoint
            ),
            Err(e) => println!("order {n} not published: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let _ = stop.send(());
    consuming.await?;
    Ok(())
}

/// One pass, a 3 s attempt timeout (over the 1 s long poll), breakers opening after 2
/// failures for 3 s.
fn steadfast_failover<S, C, R>(
    f: steadfast::failover::FailoverBuilder<S, C, R>,
) -> steadfast::failover::FailoverBuilder<S, C, R> {
    f.attempt_timeout(Duration::from_secs(3))
        .recover(steadfast::Backoff::none())
        .breakers(|b| {
            b.consecutive_failures(2)
                .open_duration(Duration::from_secs(3))
        })
}
