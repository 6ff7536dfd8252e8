//! The AWS SDK integration (feature `aws`): the `SdkError` classifier on constructed errors
//! (`classify.rs`), the region failover over the real DynamoDB client against two local moto
//! servers (`moto.rs`, real time, counts only), and the real SDK against loopback ports with
//! no AWS behind them (`loopback.rs`: a wiremock server answering as DynamoDB throttles, closed
//! ports, invalid configurations).
#![cfg(feature = "aws")]

mod classify;
mod local;
mod loopback;
mod moto;
