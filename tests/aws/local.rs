//! Local stand-ins for two AWS regions: the SDK configuration every test shares, and moto
//! servers (shared ones from `.ci/run`, or a test's own).
//!
//! The environment:
//! - `STEADFAST_MOTO_A`, `STEADFAST_MOTO_B`: the URLs of two running moto servers, for tests
//!   that leave them running.
//! - `STEADFAST_MOTO_SERVER`: the `moto_server` executable, for tests that stop, freeze and
//!   restart a server of their own.
//!
//! `.ci/run` sets all three. A test that needs one that is unset fails under `CI=true` (so it
//! never passes vacuously in CI), and is skipped with a notice on stderr otherwise.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// The configuration regions are built from: static test credentials, the SDK's plain-HTTP
/// client (no TLS), a default region the failover replaces.
pub fn sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "static",
        )))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build()
}

/// The value of `name`, or `None` after a notice when not in CI; in CI a missing value fails
/// the test.
pub fn required_env(name: &str, test: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{test}: {name} is not set under CI=true; .ci/run starts moto and sets it")
        }
        _ => {
            eprintln!(
                "skipping {test}: {name} is not set (run .ci/run, or start moto: see README)"
            );
            None
        }
    }
}

/// The two shared servers' URLs, checked to be reachable (a set variable whose server is down
/// fails the test with a clear message).
pub fn shared_servers(test: &str) -> Option<(String, String)> {
    let a = required_env("STEADFAST_MOTO_A", test)?;
    let b = required_env("STEADFAST_MOTO_B", test)?;
    for url in [&a, &b] {
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let reachable = addr
            .parse::<SocketAddr>()
            .is_ok_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_ok());
        assert!(reachable, "{test}: moto at {url} is unreachable");
    }
    Some((a, b))
}

/// A moto server of a test's own, on a free loopback port; killed when dropped.
pub struct Moto {
    exe: String,
    port: u16,
    child: Child,
}

impl Moto {
    /// Starts one and waits until it accepts connections.
    pub fn start(exe: &str) -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = spawn(exe, port);
        let moto = Moto {
            exe: exe.to_owned(),
            port,
            child,
        };
        moto.wait_ready();
        moto
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process and waits for it: its port refuses connections.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port (with empty state).
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(&self.exe, self.port);
        self.wait_ready();
    }

    /// Sends the process `signal` (`STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    fn wait_ready(&self) {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto on port {} did not start within 60 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.signal_quietly();
        self.stop();
    }
}

impl Moto {
    /// A frozen process is woken before it is killed, so no stopped process outlives a test.
    fn signal_quietly(&self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.pid().to_string())
            .stderr(Stdio::null())
            .status();
    }
}

fn spawn(exe: &str, port: u16) -> Child {
    Command::new(exe)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"))
}

/// Creates `table` (key `pk`, a string) in the region `client` talks to, with one item
/// `{pk: "7", served_by: region}`.
pub async fn table_with_item(client: &Client, table: &str, region: &str) {
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S("7".into()))
        .item("served_by", AttributeValue::S(region.into()))
        .send()
        .await
        .expect("put item");
}

/// A client of the region at `url`, retries off, for setting up a test.
pub fn client_at(url: &str, region: &str) -> Client {
    let config = sdk_config()
        .to_builder()
        .region(Region::new(region.to_owned()))
        .endpoint_url(url)
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .build();
    Client::new(&config)
}

/// Reads item `pk` of `table` through `client`: an operation closure's body.
pub fn get_item(
    client: Client,
    table: &'static str,
    pk: &'static str,
) -> impl Future<Output = Result<GetItemOutput, SdkError<GetItemError, HttpResponse>>> {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .send()
}

/// Writes item `pk` into `table` through `client`: an operation closure's body.
pub fn put_item(
    client: Client,
    table: &'static str,
    pk: &'static str,
) -> impl Future<Output = Result<PutItemOutput, SdkError<PutItemError, HttpResponse>>> {
    client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.into()))
        .send()
}
