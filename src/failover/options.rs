//! Per-request overrides of a failover's configuration: a deadline, a replay marker, a pinned
//! endpoint.

use std::borrow::Cow;
use std::time::Duration;

/// What one request asks of the failover beyond its configuration. Read once per call, before
/// the first attempt, by the failover's [`RequestOptions`] hook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions<'a> {
    /// This request's deadline, measured from the call; the earlier of it and the configured
    /// deadline applies.
    pub deadline: Option<Duration>,
    /// Overrides the replay hook's verdict for this request.
    pub replay: Option<ReplayMarker>,
    /// Send only to this endpoint (for example writes that must go to the single writer region):
    /// no hop; the endpoint's breaker, push-back and the recover passes still apply. An unknown
    /// name ends the call with [`NoEndpointAvailable`](crate::error::NoEndpointAvailable).
    pub endpoint: Option<&'a str>,
    /// The request's key for a failover that spreads calls by key
    /// ([`Spread::ByKey`](super::Spread::ByKey)): a hash of the user, the tenant, the
    /// partition whose calls should stay in one region. Other spreads ignore it.
    pub key: Option<u64>,
}

impl<'a> CallOptions<'a> {
    /// No override.
    pub const fn new() -> Self {
        CallOptions {
            deadline: None,
            replay: None,
            endpoint: None,
            key: None,
        }
    }

    /// With a deadline.
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// With a replay marker.
    pub const fn replay(mut self, marker: ReplayMarker) -> Self {
        self.replay = Some(marker);
        self
    }

    /// Pinned to an endpoint.
    pub const fn endpoint(mut self, name: &'a str) -> Self {
        self.endpoint = Some(name);
        self
    }

    /// With a key, for a spread by key.
    pub const fn key(mut self, key: u64) -> Self {
        self.key = Some(key);
        self
    }
}

/// A request's own word on being sent more than once, over the replay hook's.
///
/// As an HTTP request extension (read by `HttpOptions` and by the HTTP replay rule
/// `http::HttpReplay`, with the `http` feature), it is the explicit marker a request that may
/// have been applied (a POST that timed out or got a 5xx) needs before it is sent again, here or
/// in another region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplayMarker {
    /// The request is safe to send again after any transient failure, here or in another
    /// region (it carries an idempotency key, say). A copy is still needed: the replay hook
    /// must make one.
    Always,
    /// Send the request once: to the first available endpoint, never again — not even after
    /// `NotSent` (a connection refused), which the replay hook would allow: the marker is the
    /// request's own, stronger word. (A request never sent, its endpoint not ready, may still go
    /// elsewhere.)
    Once,
}

/// Reads a request's [`CallOptions`]. `()`, the default, reads none.
pub trait RequestOptions<Req> {
    /// Whether these options may set a deadline. When they may, each call reads the clock when
    /// it is made, so that the request's deadline counts from the call; `()` sets none and saves
    /// that clock read.
    const DEADLINES: bool = true;

    /// The options of `req`.
    fn options<'r>(&self, req: &'r Req) -> CallOptions<'r>;
}

impl<Req> RequestOptions<Req> for () {
    const DEADLINES: bool = false;

    #[inline(always)]
    fn options<'r>(&self, _: &'r Req) -> CallOptions<'r> {
        CallOptions::new()
    }
}

/// Options that give each request a key, `F(&request)`, and nothing else: the options hook of a
/// failover spreading calls by key ([`Spread::ByKey`](super::Spread::ByKey)).
///
/// ```
/// use steadfast::failover::{Failover, RequestKey, Spread};
/// # let region = tower::service_fn(|_: (u64, &'static str)| async { Ok::<_, steadfast::BoxError>(()) });
/// let failover = Failover::builder()
///     .tier(|t| t.endpoint("us-east-1", region.clone()).endpoint("us-west-2", region.clone()))
///     .spread(Spread::ByKey)
///     // The request is `(user id, path)`: one user's calls stay in one region.
///     .options(RequestKey(|req: &(u64, &'static str)| req.0))
///     .build()?;
/// # Ok::<(), steadfast::error::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestKey<F>(pub F);

impl<Req, F: Fn(&Req) -> u64> RequestOptions<Req> for RequestKey<F> {
    const DEADLINES: bool = false;

    #[inline]
    fn options<'r>(&self, req: &'r Req) -> CallOptions<'r> {
        CallOptions::new().key((self.0)(req))
    }
}

/// A request's deadline as an HTTP request extension, read by `HttpOptions` (`http` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallDeadline(pub Duration);

/// A request's key for a spread by key ([`CallOptions::key`]) as an HTTP request extension,
/// read by `HttpOptions` (`http` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpreadKey(pub u64);

/// A pinned endpoint as an HTTP request extension, read by `HttpOptions` (`http` feature).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PinnedEndpoint(pub Cow<'static, str>);
