//! The HTTP classifier: statuses, `Retry-After` and transport errors as outcomes.

use std::fmt;

use ::http::{HeaderMap, StatusCode};

use super::retry_after::retry_after;
use super::transport::error_outcome;
use crate::classify::{Classify, Outcome};

/// What one status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Success,
    Rejected,
    /// `Transient { Failed }`.
    Failed,
    /// `Transient { Throttled }`, with the `Retry-After` hint if there is one.
    Throttled,
    /// `Throttled` with the hint when a valid `Retry-After` is present, `Failed` without.
    ThrottledWhenHinted,
}

/// The lowest and highest status codes (`http::StatusCode` holds 100 to 999).
const LOWEST: u16 = 100;
const STATUSES: usize = 900;

/// The default classifier, shared by the free functions.
pub(crate) static DEFAULT: HttpClassifier = HttpClassifier::new();

/// The ready HTTP classifier, for `Result<http::Response<B>, E>` and, with the `reqwest`
/// feature, `Result<reqwest::Response, E>`.
///
/// # Statuses
///
/// | status | outcome | reqwest-retry | tower-http | Polly (`HttpClientResiliencePredicates`) |
/// | --- | --- | --- | --- | --- |
/// | 1xx, 2xx, 3xx | `Success` | success | success | success |
/// | 408 Request Timeout | `Transient { Failed }` | transient | success | transient |
/// | 429 Too Many Requests | `Transient { Throttled }`, with the `Retry-After` hint | transient | success | transient |
/// | other 4xx | `Rejected` | fatal | success | success (not handled) |
/// | 500, 502, 504 | `Transient { Failed }` | transient | failure | transient |
/// | 503 Service Unavailable | `Transient { Failed }`; `Throttled` with the hint when it carries a valid `Retry-After` | transient | failure | transient |
/// | 501 Not Implemented, 505 HTTP Version Not Supported | `Rejected`: another try cannot succeed | transient | failure | transient |
/// | other 5xx (507, 508, 511, ...) | `Transient { Failed }` | transient | failure | transient |
/// | 600 to 999 (not standard) | `Rejected` | success | success | transient |
///
/// `Throttled` is push-back, not sickness: a breaker ignores it and a failover skips the
/// endpoint until the hint expires. Every status can be moved with [`transient`](Self::transient),
/// [`throttled`](Self::throttled), [`throttled_when_hinted`](Self::throttled_when_hinted),
/// [`rejected`](Self::rejected) and [`success`](Self::success).
///
/// # `Retry-After`
///
/// Read only for a status classed as throttled, both forms (see [`retry_after`](super::retry_after)):
/// the hint is relative to the instant of classification, which for the layers is when the
/// response arrived; an HTTP-date is measured against the system clock then. An invalid value is
/// no hint. The layers cap the hint as they always do (`retry_after_cap`).
///
/// # Errors of the client
///
/// An `Err` is read by its type (see [`transport_outcome`](super::transport_outcome)): a
/// `reqwest::Error`, hyper-util's legacy client error, a `hyper::Error`, a `std::io::Error`, or a
/// `BoxError` holding one of them. A connection that never opened is `NotSent`, a timeout
/// `Timeout`, a request that cannot be built `Local`, anything else `Failed`. This library's own
/// errors (an open breaker, an expired deadline) are `Local`. A [`CallError`](crate::CallError)
/// of one of these types (what a [regional](crate::regional) endpoint returns) is seen through:
/// [`Inner`](crate::CallError::Inner) by the client's own error, every verdict `Local`.
///
/// # Examples
///
/// ```
/// use http::{Response, StatusCode};
/// use steadfast::{Classify, Outcome};
/// use steadfast::http::HttpClassifier;
///
/// let classifier = HttpClassifier::new().transient(StatusCode::CONFLICT);
/// let answer = |status: u16| -> Result<Response<()>, std::io::Error> {
///     Ok(Response::builder().status(status).body(()).unwrap())
/// };
/// assert_eq!(classifier.classify(&answer(200)), Outcome::Success);
/// assert_eq!(classifier.classify(&answer(503)), Outcome::failed());
/// assert_eq!(classifier.classify(&answer(404)), Outcome::Rejected);
/// assert_eq!(classifier.classify(&answer(409)), Outcome::failed());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HttpClassifier {
    classes: [Class; STATUSES],
}

impl HttpClassifier {
    /// The defaults of the [table](Self#statuses).
    pub const fn new() -> Self {
        let mut classes = [Class::Rejected; STATUSES];
        let mut status = LOWEST;
        while status < LOWEST + STATUSES as u16 {
            classes[(status - LOWEST) as usize] = match status {
                100..=399 => Class::Success,
                408 => Class::Failed,
                429 => Class::Throttled,
                503 => Class::ThrottledWhenHinted,
                501 | 505 => Class::Rejected,
                500..=599 => Class::Failed,
                _ => Class::Rejected,
            };
            status += 1;
        }
        HttpClassifier { classes }
    }

    const fn set(mut self, status: StatusCode, class: Class) -> Self {
        self.classes[(status.as_u16() - LOWEST) as usize] = class;
        self
    }

    /// `status` is `Transient { Failed }`: retried, failed over, counted by breakers, whatever
    /// its headers.
    pub const fn transient(self, status: StatusCode) -> Self {
        self.set(status, Class::Failed)
    }

    /// `status` is `Transient { Throttled }` with the `Retry-After` hint if one is valid:
    /// push-back (default: 429).
    pub const fn throttled(self, status: StatusCode) -> Self {
        self.set(status, Class::Throttled)
    }

    /// `status` is `Transient { Throttled }` with the hint when it carries a valid
    /// `Retry-After`, and `Transient { Failed }` without (default: 503).
    pub const fn throttled_when_hinted(self, status: StatusCode) -> Self {
        self.set(status, Class::ThrottledWhenHinted)
    }

    /// `status` is `Rejected`: returned at once, not retried, ignored by breakers.
    pub const fn rejected(self, status: StatusCode) -> Self {
        self.set(status, Class::Rejected)
    }

    /// `status` is `Success`.
    pub const fn success(self, status: StatusCode) -> Self {
        self.set(status, Class::Success)
    }

    /// The outcome of a response with `status` and `headers`. `headers` are read only for a
    /// throttled status.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::{HeaderMap, HeaderValue, StatusCode, header::RETRY_AFTER};
    /// use steadfast::Outcome;
    /// use steadfast::http::HttpClassifier;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
    /// let hinted = Outcome::throttled(Some(Duration::from_secs(2)));
    /// let c = HttpClassifier::new();
    /// assert_eq!(c.status_outcome(StatusCode::SERVICE_UNAVAILABLE, &headers), hinted);
    /// assert_eq!(c.status_outcome(StatusCode::TOO_MANY_REQUESTS, &headers), hinted);
    /// assert_eq!(c.status_outcome(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new()), Outcome::failed());
    /// ```
    #[inline]
    pub fn status_outcome(&self, status: StatusCode, headers: &HeaderMap) -> Outcome {
        match self.class(status) {
            Class::Success => Outcome::Success,
            Class::Rejected => Outcome::Rejected,
            Class::Failed => Outcome::failed(),
            Class::Throttled => Outcome::throttled(retry_after(headers)),
            Class::ThrottledWhenHinted => match retry_after(headers) {
                Some(hint) => Outcome::throttled(Some(hint)),
                None => Outcome::failed(),
            },
        }
    }

    /// The outcome of an `http::Response`.
    #[inline]
    pub fn response_outcome<B>(&self, response: &::http::Response<B>) -> Outcome {
        self.status_outcome(response.status(), response.headers())
    }

    /// The outcome of a client's error (see [the rules](Self#errors-of-the-client)); a
    /// `reqwest` status error is read with this classifier's table.
    pub fn error_outcome<E: 'static>(&self, err: &E) -> Outcome {
        error_outcome(err, self)
    }

    #[inline]
    fn class(&self, status: StatusCode) -> Class {
        // `StatusCode` holds 100 to 999: always in the table.
        self.classes
            .get(usize::from(status.as_u16().wrapping_sub(LOWEST)))
            .copied()
            .unwrap_or(Class::Rejected)
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HttpClassifier {
    /// The statuses that differ from the defaults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed = (0..STATUSES)
            .filter(|&i| self.classes[i] != DEFAULT.classes[i])
            .map(|i| (LOWEST + i as u16, self.classes[i]));
        f.debug_struct("HttpClassifier")
            .field("changed", &DebugMap(changed))
            .finish()
    }
}

struct DebugMap<I>(I);

impl<I: Iterator<Item = (u16, Class)> + Clone> fmt::Debug for DebugMap<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.clone()).finish()
    }
}

impl<B, E: 'static> Classify<::http::Response<B>, E> for HttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<::http::Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => self.response_outcome(response),
            Err(err) => self.error_outcome(err),
        }
    }
}

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
impl<E: 'static> Classify<reqwest::Response, E> for HttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<reqwest::Response, E>) -> Outcome {
        match result {
            Ok(response) => self.status_outcome(response.status(), response.headers()),
            Err(err) => self.error_outcome(err),
        }
    }
}
