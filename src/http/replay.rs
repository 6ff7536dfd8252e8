//! The HTTP replay rule: which requests may be sent more than once.

use ::http::{Extensions, HeaderMap, HeaderName, Method};

use crate::classify::Outcome;
use crate::failover::ReplayMarker;
use crate::replay::Replay;

/// The `Idempotency-Key` request header: a request carrying it may be replayed whatever its
/// method, since the server recognises the repeat.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The HTTP replay rule, for `http::Request<B>` and, with the `reqwest` feature,
/// `reqwest::Request`.
///
/// # The rule
///
/// - **A copy** is kept of every request whose body can be copied ([`ReplayBody`];
///   `reqwest::Request::try_clone`). A body that cannot (a stream) is sent once, and so is a
///   request marked [`ReplayMarker::Once`].
/// - **The copy may be sent again** after a failure when any of these holds (see
///   [`may_send_again`]):
///   - the method is idempotent: GET, HEAD, OPTIONS, TRACE, PUT, DELETE;
///   - the request never reached the server (`Transient { NotSent }`: a refused connection);
///   - the request carries an `Idempotency-Key` header ([`IDEMPOTENCY_KEY`]);
///   - the request is marked [`ReplayMarker::Always`] (an `http::Request` extension).
///
///   So a POST or PATCH that timed out or got a 5xx is not replayed, here or in another region,
///   unless it says it is safe to.
///
/// `reqwest::Request` keeps its extensions private, so a `ReplayMarker` cannot be read from it:
/// there, use the `Idempotency-Key` header.
///
/// # Examples
///
/// ```
/// use http::Request;
/// use steadfast::Outcome;
/// use steadfast::failover::ReplayMarker;
/// use steadfast::http::HttpReplay;
/// use steadfast::replay::Replay;
///
/// let post = Request::post("/orders").body(String::from("{}")).unwrap();
/// let copy = HttpReplay.replay(&post).unwrap();
/// assert!(HttpReplay.may_replay(&copy, &Outcome::not_sent()));
/// assert!(!HttpReplay.may_replay(&copy, &Outcome::timeout()));
///
/// let mut marked = copy;
/// marked.extensions_mut().insert(ReplayMarker::Always);
/// assert!(HttpReplay.may_replay(&marked, &Outcome::timeout()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpReplay;

/// Whether a request with `method`, `headers` and `marker` may be sent again after a failure
/// with outcome `after`: the [rule](HttpReplay#the-rule) in one place, for a request type of
/// your own.
///
/// [`ReplayMarker::Once`] always answers no.
///
/// # Examples
///
/// ```
/// use http::{HeaderMap, Method};
/// use steadfast::Outcome;
/// use steadfast::http::may_send_again;
///
/// let none = HeaderMap::new();
/// assert!(may_send_again(&Method::PUT, &none, None, &Outcome::failed()));
/// assert!(!may_send_again(&Method::PATCH, &none, None, &Outcome::failed()));
/// ```
pub fn may_send_again(
    method: &Method,
    headers: &HeaderMap,
    marker: Option<ReplayMarker>,
    after: &Outcome,
) -> bool {
    match marker {
        Some(ReplayMarker::Once) => false,
        Some(ReplayMarker::Always) => true,
        None => {
            method.is_idempotent()
                || !after.may_have_been_applied()
                || headers.contains_key(IDEMPOTENCY_KEY)
        }
    }
}

fn marker(extensions: &Extensions) -> Option<ReplayMarker> {
    extensions.get::<ReplayMarker>().copied()
}

impl<B: ReplayBody> Replay<::http::Request<B>> for HttpReplay {
    fn replay(&self, req: &::http::Request<B>) -> Option<::http::Request<B>> {
        if marker(req.extensions()) == Some(ReplayMarker::Once) {
            return None;
        }
        let body = req.body().try_copy()?;
        let mut copy = ::http::Request::new(body);
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }

    fn may_replay(&self, req: &::http::Request<B>, after: &Outcome) -> bool {
        may_send_again(req.method(), req.headers(), marker(req.extensions()), after)
    }
}

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
impl Replay<reqwest::Request> for HttpReplay {
    fn replay(&self, req: &reqwest::Request) -> Option<reqwest::Request> {
        req.try_clone()
    }

    fn may_replay(&self, req: &reqwest::Request, after: &Outcome) -> bool {
        may_send_again(req.method(), req.headers(), None, after)
    }
}

/// A request body that [`HttpReplay`] can copy, or knows it cannot.
///
/// Implemented, copying, for `()`, `String`, `Vec<u8>`, `&'static str`, `&'static [u8]`,
/// `bytes::Bytes`, and with the `hyper` feature `http_body_util::Full` and `Empty`; and,
/// declining (the body is a stream: the request is sent once), for hyper's `Incoming` and
/// `http_body_util`'s `BoxBody`, `UnsyncBoxBody` and `StreamBody`. With the `reqwest` feature,
/// `reqwest::Body` is copied when it is in memory and declined when it is a stream. Implement
/// it for a body type of your own:
///
/// ```
/// use steadfast::http::ReplayBody;
///
/// #[derive(Clone)]
/// struct Json(String);
///
/// impl ReplayBody for Json {
///     fn try_copy(&self) -> Option<Self> {
///         Some(self.clone())
///     }
/// }
/// ```
pub trait ReplayBody: Sized {
    /// A copy of the body, or `None` if it cannot be copied (a stream).
    fn try_copy(&self) -> Option<Self>;
}

macro_rules! clone_bodies {
    ($($t:ty),* $(,)?) => {$(
        impl ReplayBody for $t {
            #[inline]
            fn try_copy(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

clone_bodies!(
    (),
    String,
    Vec<u8>,
    &'static str,
    &'static [u8],
    bytes::Bytes
);

#[cfg(feature = "hyper")]
impl<D: Clone> ReplayBody for http_body_util::Full<D> {
    #[inline]
    fn try_copy(&self) -> Option<Self> {
        Some(self.clone())
    }
}

#[cfg(feature = "hyper")]
impl<D> ReplayBody for http_body_util::Empty<D> {
    #[inline]
    fn try_copy(&self) -> Option<Self> {
        Some(http_body_util::Empty::new())
    }
}

macro_rules! stream_bodies {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {$(
        #[cfg(feature = "hyper")]
        impl<$($g)*> ReplayBody for $t {
            #[inline]
            fn try_copy(&self) -> Option<Self> {
                None
            }
        }
    )*};
}

stream_bodies!(
    [] hyper::body::Incoming,
    [D, E] http_body_util::combinators::BoxBody<D, E>,
    [D, E] http_body_util::combinators::UnsyncBoxBody<D, E>,
    [S] http_body_util::StreamBody<S>,
);

#[cfg(feature = "reqwest")]
impl ReplayBody for reqwest::Body {
    /// Copies the bytes of an in-memory body (one allocation); a stream declines.
    fn try_copy(&self) -> Option<Self> {
        self.as_bytes()
            .map(|bytes| reqwest::Body::from(bytes::Bytes::copy_from_slice(bytes)))
    }
}
