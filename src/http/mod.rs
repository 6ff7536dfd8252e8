//! HTTP, ready: the classifier, `Retry-After`, transport errors and the replay rule (features
//! `http`, `reqwest`, `hyper`).
//!
//! - [`HttpClassifier`] maps `Result<http::Response<B>, E>` (and, with `reqwest`,
//!   `Result<reqwest::Response, E>`) to an [`Outcome`](crate::Outcome): 2xx/3xx `Success`;
//!   408, 500, 502, 503, 504 `Transient { Failed }`; 429, and 503 with `Retry-After`,
//!   `Throttled` with the hint; other 4xx and 501/505 `Rejected`. Configurable per status.
//! - [`retry_after`] and [`parse_retry_after`] read the `Retry-After` header in both forms.
//! - [`transport_outcome`], [`io_outcome`], [`reqwest_outcome`] and [`hyper_outcome`] classify a
//!   client's errors: a connection never opened is `NotSent`, a timeout `Timeout`, a request
//!   that cannot be built `Local`, the rest `Failed`.
//! - [`HttpReplay`] is the replay rule: idempotent methods may be sent again; a POST or PATCH
//!   only after `NotSent`, with an `Idempotency-Key` header or with
//!   [`ReplayMarker::Always`](crate::failover::ReplayMarker); a streaming body goes once.
//!
//! # Examples
//!
//! A retry over any HTTP client service, classified as HTTP:
//!
//! ```
//! use std::time::Duration;
//! use steadfast::http::{HttpClassifier, HttpReplay};
//! use steadfast::{BoxError, RetryLayer, RetryPolicy};
//! use tower::ServiceBuilder;
//!
//! # fn wrap<S>(client: S) -> Result<(), BoxError>
//! # where S: tower::Service<http::Request<String>, Response = http::Response<String>, Error = BoxError> + Clone {
//! let policy = RetryPolicy::builder()
//!     .classifier(HttpClassifier::new())
//!     .replay(HttpReplay)
//!     .deadline(Duration::from_secs(10))
//!     .build()?;
//! let client = ServiceBuilder::new().layer(RetryLayer::new(policy)).service(client);
//! # let _ = client;
//! # Ok(())
//! # }
//! ```

mod classify;
mod options;
mod replay;
mod retry_after;
mod transport;

pub use self::classify::HttpClassifier;
pub use self::options::HttpOptions;
pub use self::replay::{HttpReplay, IDEMPOTENCY_KEY, ReplayBody, may_send_again};
pub use self::retry_after::{MAX_RETRY_AFTER, parse_retry_after, retry_after};
#[cfg(feature = "hyper")]
pub use self::transport::hyper_outcome;
#[cfg(feature = "reqwest")]
pub use self::transport::reqwest_outcome;
pub use self::transport::{io_outcome, transport_outcome};
