//! The AWS SDK integration (feature `aws`): the `SdkError` classifier on constructed errors
//! (`classify.rs`), the region failover over the real DynamoDB client against two local moto
//! servers (`moto.rs`, real time, counts only), and a throttling answer from a wiremock server
//! parsed by the real SDK (`throttle.rs`).
#![cfg(feature = "aws")]

mod classify;
mod local;
mod moto;
mod throttle;
