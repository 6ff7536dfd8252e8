//! A `reqwest::Client` over two regions, failing over and back, in the README's ten lines.
//!
//! Two local servers play the regions. `us-east-2` answers 503 for a while: calls are served by
//! `us-west-1`, the breaker of `us-east-2` opens after five failures in a row, and once
//! `us-east-2` recovers its breaker's probe closes it and traffic fails back.
//!
//! ```text
//! cargo run --example reqwest_failover --features reqwest
//! ```

use std::time::Duration;

use steadfast::regional::RegionalClient;
use steadfast::{BoxError, Failback, RetryBudget};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A region answering `status` to everything, named in its body.
async fn answer(server: &MockServer, status: u16, name: &str) {
    server.reset().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(status).set_body_string(name))
        .mount(server)
        .await;
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (east_server, west_server) = (MockServer::start().await, MockServer::start().await);
    answer(&east_server, 200, "us-east-2").await;
    answer(&west_server, 200, "us-west-1").await;
    let (east, west) = (east_server.uri(), west_server.uri());

    // The setup: a client, two base URLs, breakers, a budget, a deadline, an attempt timeout,
    // failback, and HTTP classification (a 503 is a failure, a 429 push-back, a 404 an answer).
    let client = reqwest::Client::builder().no_proxy().build()?;
    let regional = RegionalClient::builder(client, [("us-east-2", &east), ("us-west-1", &west)])?
        .breakers(|b| {
            b.consecutive_failures(5)
                .open_duration(Duration::from_millis(500))
        })
        .budget(RetryBudget::standard())
        .deadline(Duration::from_secs(10))
        .attempt_timeout(Duration::from_secs(2))
        .failback(Failback::After(Duration::from_millis(500)))
        .build_client()?;
    let handle = regional.handle();

    let call = async |act: &str| -> Result<(), BoxError> {
        let response = regional.execute(regional.get("/orders/7")).await?;
        let status = response.status();
        let body = response.text().await?;
        let serving = handle.serving();
        println!(
            "{act:<28} answered by {body} ({status}); serving: {}",
            serving.endpoint
        );
        Ok(())
    };

    call("both regions up").await?;

    answer(&east_server, 503, "us-east-2").await;
    for _ in 0..6 {
        call("us-east-2 answers 503").await?;
    }
    let east_breaker = handle.breaker("us-east-2").map(|b| b.state());
    println!("us-east-2's breaker: {east_breaker:?}");

    answer(&east_server, 200, "us-east-2").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..3 {
        call("us-east-2 recovered").await?;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    call("after the hold-down").await?;
    Ok(())
}
