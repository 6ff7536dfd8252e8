//! Flip a region off and on for a whole fleet through etcd.
//!
//! As an operator's tool, it writes one region's switch under the fleet's prefix:
//!
//! ```text
//! cargo run --features etcd --example routing_etcd -- set us-east-2 off
//! cargo run --features etcd --example routing_etcd -- set us-east-2 on
//! ```
//!
//! As a fleet instance (`watch`), it runs a failover over `us-east-2` and `us-west-1` whose
//! switches follow etcd, and prints every change and every refused change as it happens, and
//! which region a call goes to. Run several, then flip a region with `set`:
//!
//! ```text
//! cargo run --features etcd --example routing_etcd -- watch
//! ```
//!
//! The etcd URL comes from `STEADFAST_ETCD` (default `http://127.0.0.1:2379`), the prefix is
//! `/steadfast/example/`. For a real fleet, connect with TLS and a user that may only read the
//! prefix (see the `routing_etcd` module's docs); the operator's tool needs write permission.

use std::time::Duration;

use etcd_client::Client;
use steadfast::BoxError;
use steadfast::event::Event;
use steadfast::failover::Failover;
use steadfast::integrations::routing_etcd::EtcdRouting;
use tower::{ServiceExt, service_fn};

const PREFIX: &str = "/steadfast/example/";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("STEADFAST_ETCD").unwrap_or_else(|_| "http://127.0.0.1:2379".into());
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["set", region, switch @ ("on" | "off")] => {
            let mut client = Client::connect([url.as_str()], None).await?;
            client
                .put(format!("{PREFIX}{region}"), switch, None)
                .await?;
            println!("{region} {switch} for every instance watching {PREFIX}");
            Ok(())
        }
        ["watch"] => watch(&url).await,
        _ => Err("usage: routing_etcd set <region> on|off | routing_etcd watch".into()),
    }
}

async fn watch(url: &str) -> Result<(), BoxError> {
    let region =
        |name: &'static str| service_fn(move |_: ()| async move { Ok::<_, BoxError>(name) });
    let failover = Failover::builder()
        .endpoint("us-east-2", region("us-east-2"))
        .endpoint("us-west-1", region("us-west-1"))
        .build()?;
    let report = |event: &Event<'_>| match event {
        Event::RoutingChanged {
            endpoint, switch, ..
        } => println!("switch: {endpoint} {switch}"),
        Event::RoutingRefused {
            endpoint, reason, ..
        } => println!("refused: {reason:?} {}", endpoint.unwrap_or("")),
        _ => {}
    };
    let routing = failover.handle().routing().on_event(report);
    tokio::spawn(EtcdRouting::new([url], PREFIX, routing).run());
    let mut last = "";
    loop {
        let served = failover.clone().oneshot(()).await?;
        if served != last {
            println!("calls go to {served}");
            last = served;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
