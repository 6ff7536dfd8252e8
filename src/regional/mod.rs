//! Regional endpoints by base URL: one [failover](crate::failover) over named base URLs sharing
//! one HTTP client (one connection pool), for `reqwest` (feature `reqwest`) and hyper-util's
//! legacy client (feature `hyper`).
//!
//! # What it builds
//!
//! [`regions`] takes the client and the regions' names and base URLs in priority order, checks
//! every base URL, and returns the failover's builder with HTTP defaults: the
//! [`RegionClassifier`] (a 503 is a failure, never a success; 429 and `Retry-After` are
//! push-back; a 404 is returned as is) and the HTTP replay rule
//! ([`HttpReplay`]: idempotent methods, or an `Idempotency-Key`
//! header, may be sent again; any request that was provably not sent; a streaming body never).
//! It also bounds time, as an HTTP client's calls must be: an attempt timeout of
//! [`DEFAULT_ATTEMPT_TIMEOUT`] (10 s, per hop) and a deadline of [`DEFAULT_DEADLINE`] (30 s, the
//! whole call), Polly's standard HTTP resilience values, so a region that hangs is cut and
//! hopped rather than holding the call forever (the generic builder has neither by default);
//! [`attempt_timeout`](FailoverBuilder::attempt_timeout) and
//! [`deadline`](FailoverBuilder::deadline) change them,
//! [`no_attempt_timeout`](FailoverBuilder::no_attempt_timeout) and
//! [`no_deadline`](FailoverBuilder::no_deadline) remove them. Everything else (breakers, budget,
//! failback, the event hook) is the [`FailoverBuilder`]'s, with its defaults. With `reqwest`,
//! [`build_client`](FailoverBuilder::build_client) ends it with a [`RegionalClient`], which
//! keeps reqwest's builder style; with hyper, [`build`](FailoverBuilder::build) ends it with the
//! failover, a tower service of `http::Request`s.
//!
//! To move statuses, pass the failover builder
//! `.classifier(HttpClassifier::new().transient(StatusCode::CONFLICT))`: the
//! [`HttpClassifier`] sees through the regions' [`CallError`] (a refused connection stays
//! `NotSent`, so even a POST hops), as [`RegionClassifier`] does.
//!
//! One region gives the single-endpoint stack: a breaker and retries on the recover schedule.
//!
//! # Region-neutral requests
//!
//! A request names no region: it is a path and query (`/orders/7?full=1`), or an absolute URL
//! whose origin is replaced. Each attempt gives it the origin of its region and that region's
//! path prefix ([`BaseUrl`]); everything else (method, headers, body) is sent as it is.
//!
//! # Errors
//!
//! Calls fail with [`CallError<E>`](crate::CallError), `E` the client's own error
//! (`reqwest::Error`, `hyper_util::client::legacy::Error`), typed: after a failover walk its
//! [`inner`](crate::CallError::inner) is the last attempt's error.

mod base_url;
#[cfg(feature = "hyper")]
mod hyper_client;
#[cfg(feature = "reqwest")]
mod reqwest_client;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;

pub use self::base_url::{BaseUrl, PLACEHOLDER_ORIGIN};
#[cfg(feature = "reqwest")]
pub use self::reqwest_client::RegionalClient;
use crate::classify::{Classify, Outcome};
use crate::error::{CallError, ConfigError};
use crate::failover::{Failover, FailoverBuilder};
use crate::http::{HttpClassifier, HttpReplay};

/// One region's endpoint: the shared client, and the region's base URL. A tower service whose
/// error is [`CallError<E>`](crate::CallError) of the client's error `E`, as a failover's
/// endpoint needs.
///
/// It is also the single-endpoint retry stack's service: a base URL behind the
/// [`Retry`](crate::Retry) layer, with the HTTP defaults.
///
/// ```
/// # #[cfg(feature = "reqwest")] fn main() -> Result<(), steadfast::BoxError> {
/// use std::time::Duration;
/// use steadfast::http::HttpReplay;
/// use steadfast::regional::{BaseUrl, Region, RegionClassifier};
/// use steadfast::{RetryLayer, RetryPolicy};
/// use tower::Layer;
///
/// let policy = RetryPolicy::builder()
///     .classifier(RegionClassifier::default())
///     .replay(HttpReplay)
///     .deadline(Duration::from_secs(10))
///     .build()?;
/// let base = BaseUrl::parse("https://orders.example.com")?;
/// let orders = RetryLayer::new(policy).layer(Region::new(reqwest::Client::new(), base));
/// // `orders` is a tower service of `reqwest::Request`s: path and query on no origin.
/// # let _ = orders;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "reqwest"))] fn main() {}
/// ```
#[derive(Clone, Debug)]
pub struct Region<Client> {
    client: Client,
    base: Arc<BaseUrl>,
}

impl<Client> Region<Client> {
    /// The endpoint sending through `client` to `base`.
    pub fn new(client: Client, base: BaseUrl) -> Self {
        Region {
            client,
            base: Arc::new(base),
        }
    }

    /// The region's base URL.
    pub fn base_url(&self) -> &BaseUrl {
        &self.base
    }
}

/// The attempt timeout [`regions`] starts with: 10 s per hop.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The deadline [`regions`] starts with: 30 s for the whole call.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// The failover's builder over `regions` (name, base URL; the first is the primary), all sending
/// through `client`, with the HTTP defaults: [`RegionClassifier`], [`HttpReplay`], an attempt
/// timeout of [`DEFAULT_ATTEMPT_TIMEOUT`] and a deadline of [`DEFAULT_DEADLINE`]. See the
/// [module docs](self).
///
/// # Errors
///
/// [`ConfigError`] when a base URL is invalid ([`BaseUrl::parse`]). The failover's own checks
/// (at least one region, distinct names) are [`build`](FailoverBuilder::build)'s.
///
/// # Examples
///
/// See [`RegionalClient`] for reqwest. With hyper-util's legacy client:
///
/// ```
/// # #[cfg(feature = "hyper")] fn main() -> Result<(), steadfast::BoxError> {
/// use http_body_util::Empty;
/// use hyper::body::Bytes;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
///
/// let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
/// let failover = steadfast::regional::regions(client, [
///     ("us-east-2", "http://127.0.0.1:8081"),
///     ("us-west-1", "http://127.0.0.1:8082"),
/// ])?
/// .build()?;
/// // `failover` is a tower service of `http::Request<Empty<Bytes>>`s such as
/// // `Request::get("/orders/7").body(Empty::new())`.
/// # let _ = failover;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "hyper"))] fn main() {}
/// ```
pub fn regions<Client, N, U>(
    client: Client,
    regions: impl IntoIterator<Item = (N, U)>,
) -> Result<FailoverBuilder<Region<Client>, RegionClassifier, HttpReplay>, ConfigError>
where
    Client: Clone,
    N: Into<String>,
    U: AsRef<str>,
{
    let mut builder = Failover::builder()
        .classifier(RegionClassifier::default())
        .replay(HttpReplay)
        .attempt_timeout(DEFAULT_ATTEMPT_TIMEOUT)
        .deadline(DEFAULT_DEADLINE);
    for (name, url) in regions {
        let base = BaseUrl::parse(url.as_ref())?;
        builder = builder.endpoint(name, Region::new(client.clone(), base));
    }
    Ok(builder)
}

/// The [`HttpClassifier`] for a region's results, whose errors are
/// [`CallError`]s: a response by its status and `Retry-After`, the client's
/// own error ([`CallError::Inner`]) by its kind (refused: `NotSent`, timeout: `Timeout`, ...),
/// and the library's verdicts as `Local`.
///
/// A bare [`HttpClassifier`] reads a region's results the same way (it sees through a
/// `CallError` of `reqwest::Error`, hyper-util's legacy client error, `std::io::Error` or
/// `BoxError`); this one also reads the inner error of a `CallError` of any other type, and is
/// the regional builders' default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionClassifier {
    http: HttpClassifier,
}

impl RegionClassifier {
    /// Classifies with `http` (for example with other statuses transient).
    pub fn new(http: HttpClassifier) -> Self {
        RegionClassifier { http }
    }

    fn error_outcome<E: 'static>(&self, err: &CallError<E>) -> Outcome {
        match err {
            CallError::Inner(e) => self.http.error_outcome(e),
            _ => Outcome::Local,
        }
    }
}

impl From<HttpClassifier> for RegionClassifier {
    fn from(http: HttpClassifier) -> Self {
        RegionClassifier::new(http)
    }
}

impl<B, E: 'static> Classify<http::Response<B>, CallError<E>> for RegionClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, CallError<E>>) -> Outcome {
        match result {
            Ok(response) => self.http.response_outcome(response),
            Err(e) => self.error_outcome(e),
        }
    }
}

#[cfg(feature = "reqwest")]
impl<E: 'static> Classify<reqwest::Response, CallError<E>> for RegionClassifier {
    #[inline]
    fn classify(&self, result: &Result<reqwest::Response, CallError<E>>) -> Outcome {
        match result {
            Ok(response) => self
                .http
                .status_outcome(response.status(), response.headers()),
            Err(e) => self.error_outcome(e),
        }
    }
}

pin_project! {
    /// A client's response future, its error as [`CallError::Inner`].
    #[derive(Debug)]
    pub struct RegionFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, T, E> Future for RegionFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, CallError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().inner.poll(cx)).map_err(CallError::Inner))
    }
}
