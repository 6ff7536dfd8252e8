//! `reqwest` as a region's endpoint, and the regional client that keeps reqwest's builder style.

use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};

use reqwest::{Method, Request, RequestBuilder, Response};
use tower_service::Service;

use super::{PLACEHOLDER_ORIGIN, Region, RegionClassifier, RegionFuture};
use crate::classify::Classify;
use crate::error::{CallError, ConfigError};
use crate::event::OnEvent;
use crate::failover::{Failover, FailoverBuilder, FailoverHandle, RequestOptions, ResponseFuture};
use crate::http::HttpReplay;
use crate::replay::Replay;

impl Service<Request> for Region<reqwest::Client> {
    type Response = Response;
    type Error = CallError<reqwest::Error>;
    type Future = RegionFuture<<reqwest::Client as Service<Request>>::Future>;

    /// Always ready: the client pools its connections.
    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        self.base.rebase_url(req.url_mut());
        RegionFuture {
            inner: self.client.call(req),
        }
    }
}

/// A `reqwest` client over regions: requests are built as with reqwest, on no region, and each
/// call fails over across the regions (see the [module docs](super)).
///
/// Built by [`RegionalClient::builder`] (the regions, with HTTP defaults), configured with the
/// [`FailoverBuilder`]'s setters, and ended with
/// [`build_client`](FailoverBuilder::build_client). Responses are `reqwest::Response`s (a 404
/// or a 503 that no other region could answer better is returned as a response); errors are
/// [`CallError<reqwest::Error>`](CallError).
///
/// # Clone
///
/// Clones share the client, the failover and its state.
///
/// # Examples
///
/// From a `reqwest::Client` and two base URLs to a failing-over, failing-back client with
/// breakers, a retry budget, a deadline and HTTP classification:
///
/// ```
/// use std::time::Duration;
/// use steadfast::regional::RegionalClient;
/// use steadfast::{Failback, RetryBudget};
///
/// # async fn demo(east: &str, west: &str) -> Result<(), steadfast::BoxError> {
/// let regional = RegionalClient::builder(reqwest::Client::new(), [("us-east-2", east), ("us-west-1", west)])?
///     .breakers(|b| b.consecutive_failures(5).open_duration(Duration::from_secs(30)))
///     .budget(RetryBudget::standard())
///     .deadline(Duration::from_secs(10))
///     .attempt_timeout(Duration::from_secs(2))
///     .failback(Failback::After(Duration::from_secs(60)))
///     .build_client()?;
/// let order = regional.execute(regional.get("/orders/7")).await?;
/// # let _ = order;
/// # Ok(())
/// # }
/// ```
pub struct RegionalClient<C = RegionClassifier, R = HttpReplay, H = (), O = ()>
where
    C: 'static,
    R: 'static,
    H: 'static,
    O: 'static,
{
    client: reqwest::Client,
    failover: Failover<Region<reqwest::Client>, C, R, H, O>,
}

impl RegionalClient {
    /// The failover's builder over `regions` (name, base URL; the first is the primary), all
    /// sending through `client`, with the HTTP defaults; end it with
    /// [`build_client`](FailoverBuilder::build_client). The same as
    /// [`regions`](super::regions).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when a base URL is invalid ([`BaseUrl::parse`](super::BaseUrl::parse)).
    pub fn builder<N, U>(
        client: reqwest::Client,
        regions: impl IntoIterator<Item = (N, U)>,
    ) -> Result<FailoverBuilder<Region<reqwest::Client>, RegionClassifier, HttpReplay>, ConfigError>
    where
        N: Into<String>,
        U: AsRef<str>,
    {
        super::regions(client, regions)
    }
}

impl<C, R, H, O> FailoverBuilder<Region<reqwest::Client>, C, R, H, O> {
    /// The validated failover as a [`RegionalClient`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`], as [`build`](Self::build).
    pub fn build_client(self) -> Result<RegionalClient<C, R, H, O>, ConfigError> {
        let client = self
            .endpoint_services()
            .next()
            .map(|region| region.client.clone());
        let failover = self.build()?;
        // `build` fails without an endpoint, so there is a client here.
        let client = client.unwrap_or_default();
        Ok(RegionalClient { client, failover })
    }
}

impl<C, R, H, O> RegionalClient<C, R, H, O> {
    /// A request to `path` (and query), on no region yet: `/orders/7?full=1`. An absolute URL
    /// is accepted too; its origin is replaced by each region's. Finish it with reqwest's
    /// builder methods and send it with [`execute`](Self::execute).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        if path.starts_with('/') {
            self.client
                .request(method, format!("{PLACEHOLDER_ORIGIN}{path}"))
        } else if has_scheme(path) {
            self.client.request(method, path)
        } else {
            self.client
                .request(method, format!("{PLACEHOLDER_ORIGIN}/{path}"))
        }
    }

    /// A `GET` of `path`: see [`request`](Self::request).
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A `POST` to `path`: see [`request`](Self::request). Sent again after it may have been
    /// applied only with an `Idempotency-Key` header.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A `PUT` to `path`: see [`request`](Self::request).
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` to `path`: see [`request`](Self::request). Sent again after it may have been
    /// applied only with an `Idempotency-Key` header.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` of `path`: see [`request`](Self::request).
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// A `HEAD` of `path`: see [`request`](Self::request).
    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::HEAD, path)
    }

    /// The shared `reqwest` client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The failover (a tower service of `reqwest::Request`s).
    pub fn failover(&self) -> &Failover<Region<reqwest::Client>, C, R, H, O> {
        &self.failover
    }

    /// A handle on the routing state: which region serves, the breakers, failback, switches.
    pub fn handle(&self) -> FailoverHandle {
        self.failover.handle()
    }
}

/// Whether `url` starts with a scheme and `://` (`https://...`), rather than being a path whose
/// query holds a URL (`orders?back=http://...`): a scheme is a letter, then letters, digits,
/// `+`, `-` or `.`.
fn has_scheme(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, _)| {
        let mut chars = scheme.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

impl<C, R, H, O> RegionalClient<C, R, H, O>
where
    C: Classify<Response, CallError<reqwest::Error>>,
    R: Replay<Request>,
    H: OnEvent,
    O: RequestOptions<Request>,
{
    /// Builds `request` (from [`get`](Self::get) and the like, or any reqwest builder whose URL
    /// is a path on [`PLACEHOLDER_ORIGIN`] or an absolute URL) and sends it through the
    /// failover. The future owns what it needs (`'static`).
    ///
    /// # Errors
    ///
    /// [`CallError::Inner`] with reqwest's builder error when the request cannot be built (sent
    /// nowhere), and the failover's errors: [`CallError::AllEndpointsFailed`] (its
    /// [`inner`](CallError::inner) is the last `reqwest::Error`), [`CallError::NoEndpointAvailable`],
    /// [`CallError::DeadlineExceeded`], or the only attempt's error.
    pub fn execute(
        &self,
        request: RequestBuilder,
    ) -> impl Future<Output = Result<Response, CallError<reqwest::Error>>> + 'static {
        let call = request.build().map(|req| self.execute_request(req));
        async move { call.map_err(CallError::Inner)?.await }
    }

    /// Sends a built `reqwest::Request` through the failover.
    pub fn execute_request(
        &self,
        request: Request,
    ) -> ResponseFuture<Region<reqwest::Client>, Request, C, R, H, O> {
        self.failover.call_shared(request)
    }
}

impl<C, R, H, O> Clone for RegionalClient<C, R, H, O> {
    fn clone(&self) -> Self {
        RegionalClient {
            client: self.client.clone(),
            failover: self.failover.clone(),
        }
    }
}

impl<C, R, H, O> fmt::Debug for RegionalClient<C, R, H, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegionalClient")
            .field("failover", &self.failover)
            .finish_non_exhaustive()
    }
}

impl<C, R, H, O> Service<Request> for RegionalClient<C, R, H, O>
where
    C: Classify<Response, CallError<reqwest::Error>>,
    R: Replay<Request>,
    H: OnEvent,
    O: RequestOptions<Request>,
{
    type Response = Response;
    type Error = CallError<reqwest::Error>;
    type Future = ResponseFuture<Region<reqwest::Client>, Request, C, R, H, O>;

    /// Always ready, as the failover.
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.failover.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request) -> Self::Future {
        self.failover.call(req)
    }
}
