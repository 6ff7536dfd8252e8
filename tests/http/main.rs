//! The `http` module: the status table for every status code, `Retry-After` in both forms (with
//! property tests), transport errors from real `reqwest` and hyper-util clients against
//! loopback servers, and the replay rule, alone and under a real retry. Tests with sockets run
//! in real time and assert counts and outcomes, never timings.
#![cfg(all(feature = "reqwest", feature = "hyper"))]

#[path = "../support/seeds.rs"]
mod seeds;

mod replay;
mod retry_after;
mod status;
mod transport;

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A `reqwest` client that never goes through a proxy set in the environment.
fn reqwest_client(timeout: Option<Duration>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().no_proxy();
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().expect("the client builds")
}

/// hyper-util's legacy client over plain HTTP, for bodies of type `B`.
fn hyper_client<B>() -> Client<HttpConnector, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    Client::builder(TokioExecutor::new()).build_http()
}

/// An empty in-memory body.
fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

#[path = "../support/refused.rs"]
mod refused;
pub(crate) use refused::RefusedPort;
