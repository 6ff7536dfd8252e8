//! The AWS SDK for Rust as an endpoint (feature `aws`): the `SdkError` classifier, one SDK
//! client per region, and a failover that runs an operation closure against the chosen
//! region's client.
//!
//! The module depends on the SDK's runtime and shared types (`aws-smithy-runtime-api`,
//! `aws-smithy-types`, `aws-types`), never on a service crate: it works with every service's
//! `Client`.
//!
//! # From a configuration and region names to a failing-over client
//!
//! ```
//! # use aws_sdk_dynamodb::types::AttributeValue;
//! # async fn demo(config: &aws_types::SdkConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let dynamo = steadfast::aws::regions(config, ["us-east-1", "us-west-2"], aws_sdk_dynamodb::Client::new)?
//!     .build()?;
//! let order = dynamo
//!     .run_idempotent(|c| c.get_item().table_name("orders").key("pk", AttributeValue::S("7".into())).send())
//!     .await?;
//! # let _ = order;
//! # Ok(())
//! # }
//! ```
//!
//! [`regions`] builds one client per region from the configuration (the region, and the SDK's
//! own retries disabled), and returns the failover's builder with the AWS defaults: the
//! [`AwsClassifier`], the [`AwsReplay`] rule and an attempt timeout. Everything else (breakers,
//! budget, deadline, recover passes, failback, the event hook) is the
//! [`FailoverBuilder`]'s, with its defaults.
//!
//! # Running operations
//!
//! The failover's `run` methods take a closure that sends one operation through the client it
//! is given, `|client| client.put_item().table_name("t").item(..).send()`; it is called once
//! per attempt, with that attempt's region's client. The call returns the operation's own
//! output, or a [`CallError<AwsError<E>>`](CallError) with `E` the operation's own error
//! (`PutItemError`): the SDK's error and the region that returned it
//! ([`CallError::inner`]), or the library's verdict.
//!
//! - [`run`](Failover::run): the [replay rule](AwsReplay) decides whether a failed attempt is
//!   sent again, here or in another region: after a refused connection or throttling, yes;
//!   after a timeout or a 5xx (the write may have been applied), no.
//! - [`run_idempotent`](Failover::run_idempotent): marked safe to send again after any
//!   transient failure ([`ReplayMarker::Always`]): reads, and writes that carry an idempotency
//!   token set outside the closure.
//! - [`run_in`](Failover::run_in): pinned to one region (writes that must stay in their home
//!   region): no hop; that region's breaker and the recover passes still apply.
//! - [`run_with`](Failover::run_with): any [`CallOptions`] (a marker, a pin, a deadline).
//!
//! # Why the SDK's own retries are off
//!
//! The failover owns the retry loop. Left on, the SDK's standard retries (3 attempts, with
//! backoff) would run inside every attempt of the failover's walk, and the attempts multiply:
//! with the failover's defaults (4 passes over 2 regions, 8 attempts) a call that fails
//! everywhere would make up to 8 × 3 = 24 requests; a dead region would hold each call for the
//! SDK's backoff (two jittered delays of up to 1 s and 2 s) before it hops; and one failover
//! budget token would pay for three requests, so the budget would no longer cap the load that
//! retries add. A region's client is therefore built with `RetryConfig::disabled()`: one
//! failover attempt is one request.
//!
//! # Errors
//!
//! A call's error says which region answered, how the walk went and what the service said:
//! `all endpoints failed after 2 attempts (us-east-1: not sent, us-west-2: throttled): us-west-2:
//! ProvisionedThroughputExceededException: Rate of requests exceeds the allowed throughput`.
//! A service error that is returned at once (a `ValidationException`) reads
//! `us-east-1: ValidationException: ...`.

mod classify;
mod error;
mod region;

use std::future::Future;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::{ProvideErrorKind, RetryConfig};
use aws_types::SdkConfig;
use aws_types::region::Region;
use tower_service::Service;

pub use self::classify::{
    AwsClassifier, LOCAL_CODES, THROTTLING_CODES, TRANSIENT_CODES, TRANSIENT_STATUSES,
};
pub use self::error::AwsError;
pub use self::region::{AwsFuture, AwsOptions, AwsRegion, AwsReplay, Operation};
use crate::classify::Classify;
use crate::error::{CallError, ConfigError};
use crate::event::OnEvent;
use crate::failover::{CallOptions, Failover, FailoverBuilder, ReplayMarker};

/// The attempt timeout [`regions`] sets when the configuration gives none
/// (`TimeoutConfig::operation_attempt_timeout`): 3 s. A region that hangs costs the call this
/// long before it hops. Raise it for large uploads, which are one attempt.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A failover over per-region SDK clients, as [`regions`] builds it.
pub type AwsFailover<Client, C = AwsClassifier, H = ()> =
    Failover<AwsRegion<Client>, C, AwsReplay, H, AwsOptions>;

/// The builder [`regions`] returns.
pub type AwsFailoverBuilder<Client, C = AwsClassifier, H = ()> =
    FailoverBuilder<AwsRegion<Client>, C, AwsReplay, H, AwsOptions>;

/// A region to build a client for: its name, and optionally an endpoint URL that replaces the
/// service's (a local server in tests, a VPC endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionSpec {
    name: String,
    endpoint_url: Option<String>,
}

impl RegionSpec {
    /// Region `name`, at the service's own endpoint.
    pub fn new(name: impl Into<String>) -> Self {
        RegionSpec {
            name: name.into(),
            endpoint_url: None,
        }
    }

    /// Region `name`, at `endpoint_url`.
    pub fn at(name: impl Into<String>, endpoint_url: impl Into<String>) -> Self {
        RegionSpec {
            name: name.into(),
            endpoint_url: Some(endpoint_url.into()),
        }
    }
}

impl From<&str> for RegionSpec {
    fn from(name: &str) -> Self {
        RegionSpec::new(name)
    }
}

impl From<String> for RegionSpec {
    fn from(name: String) -> Self {
        RegionSpec::new(name)
    }
}

impl<N: Into<String>, U: Into<String>> From<(N, U)> for RegionSpec {
    /// `(name, endpoint_url)`.
    fn from((name, url): (N, U)) -> Self {
        RegionSpec::at(name, url)
    }
}

const EXPECTED_URL: &str = "an absolute http or https url with a host";

/// The failover's builder over one SDK client per region of `regions` (in priority order: the
/// first is the primary), each built by `client` (a service's `Client::new`) from `config`
/// with that region, the region's endpoint URL if one is given, and the SDK's retries
/// disabled ([why](self#why-the-sdks-own-retries-are-off)). The builder has the AWS defaults:
/// the [`AwsClassifier`], the [`AwsReplay`] rule, and the attempt timeout of `config`
/// (`operation_attempt_timeout`) or [`DEFAULT_ATTEMPT_TIMEOUT`]; end it with
/// [`build`](FailoverBuilder::build).
///
/// # Errors
///
/// [`ConfigError`] when a region's name is empty or padded with whitespace, or its endpoint URL
/// is not an absolute `http` or `https` URL. The failover's own checks (at least one region,
/// distinct names) are [`build`](FailoverBuilder::build)'s.
///
/// # Examples
///
/// See the [module docs](self).
pub fn regions<Client, N>(
    config: &SdkConfig,
    regions: impl IntoIterator<Item = N>,
    client: impl Fn(&SdkConfig) -> Client,
) -> Result<AwsFailoverBuilder<Client>, ConfigError>
where
    N: Into<RegionSpec>,
{
    let attempt_timeout = config
        .timeout_config()
        .and_then(|t| t.operation_attempt_timeout())
        .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
    let mut builder = Failover::builder()
        .classifier(AwsClassifier::new())
        .replay(AwsReplay)
        .options(AwsOptions)
        .attempt_timeout(attempt_timeout);
    for spec in regions {
        let RegionSpec { name, endpoint_url } = spec.into();
        ConfigError::check_name("region name", &name)?;
        let mut regional = config
            .to_builder()
            .region(Region::new(name.clone()))
            .retry_config(RetryConfig::disabled());
        if let Some(url) = endpoint_url {
            check_endpoint_url(&url)?;
            regional = regional.endpoint_url(url);
        }
        let service = AwsRegion::new(name.as_str(), client(&regional.build()));
        builder = builder.endpoint(name, service);
    }
    Ok(builder)
}

fn check_endpoint_url(url: &str) -> Result<(), ConfigError> {
    let valid = url.parse::<http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some_and(|h| !h.is_empty())
    });
    if valid {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "region endpoint url",
            url,
            EXPECTED_URL,
        ))
    }
}

impl<Client, C, H> Failover<AwsRegion<Client>, C, AwsReplay, H, AwsOptions> {
    /// Runs the operation `f` (`|client| client.put_item()…send()`) against the chosen
    /// region's client, failing over per the [replay rule](AwsReplay): after a refused
    /// connection or throttling the operation goes to the next region; after a timeout or a
    /// 5xx (it may have been applied) it is not sent again. See the [module docs](super::aws).
    ///
    /// # Errors
    ///
    /// The last attempt's SDK error with its region ([`CallError::Inner`], or inside
    /// [`CallError::AllEndpointsFailed`] with every attempt), or the failover's verdicts
    /// ([`CallError::NoEndpointAvailable`], [`CallError::DeadlineExceeded`],
    /// [`CallError::AttemptTimedOut`]).
    pub fn run<F, Fut, T, E>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<T, CallError<AwsError<E>>>> + use<Client, C, H, F, Fut, T, E>
    where
        Client: Clone + 'static,
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + ProvideErrorKind + 'static,
        C: Classify<T, CallError<AwsError<E>>>,
        H: OnEvent,
    {
        self.run_with(CallOptions::new(), f)
    }

    /// Runs `f` as [`run`](Self::run), marked safe to send again after any transient failure
    /// ([`ReplayMarker::Always`]): for reads, and for writes that carry an idempotency token
    /// set outside the closure.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub fn run_idempotent<F, Fut, T, E>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<T, CallError<AwsError<E>>>> + use<Client, C, H, F, Fut, T, E>
    where
        Client: Clone + 'static,
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + ProvideErrorKind + 'static,
        C: Classify<T, CallError<AwsError<E>>>,
        H: OnEvent,
    {
        self.run_with(CallOptions::new().replay(ReplayMarker::Always), f)
    }

    /// Runs `f` as [`run`](Self::run), pinned to `region`: no hop (writes that must stay in
    /// one region); the region's breaker and the recover passes still apply. An unknown region
    /// ends the call with [`CallError::NoEndpointAvailable`].
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub fn run_in<'o, F, Fut, T, E>(
        &self,
        region: &'o str,
        f: F,
    ) -> impl Future<Output = Result<T, CallError<AwsError<E>>>> + use<'o, Client, C, H, F, Fut, T, E>
    where
        Client: Clone + 'static,
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + ProvideErrorKind + 'static,
        C: Classify<T, CallError<AwsError<E>>>,
        H: OnEvent,
    {
        self.run_with(CallOptions::new().endpoint(region), f)
    }

    /// Runs `f` with `options`: a replay marker, a pinned region, a deadline (the earlier of it
    /// and the configured one applies).
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub fn run_with<'o, F, Fut, T, E>(
        &self,
        options: CallOptions<'o>,
        f: F,
    ) -> impl Future<Output = Result<T, CallError<AwsError<E>>>> + use<'o, Client, C, H, F, Fut, T, E>
    where
        Client: Clone + 'static,
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + ProvideErrorKind + 'static,
        C: Classify<T, CallError<AwsError<E>>>,
        H: OnEvent,
    {
        // The clone draws this call's jitter seed; `call` then needs no other atomic.
        let mut failover = self.clone();
        async move {
            let f = f;
            Service::call(&mut failover, Operation::new(&f, options)).await
        }
    }
}
