//! Transport errors as outcomes: whether the request reached the server, timed out, or failed
//! on the caller's side.

use std::error::Error;
use std::io;

use crate::classify::{Outcome, chain_has_own, is_own_error};
use crate::error::CallError;

/// How many errors of a source chain are looked at before giving up: chains are short, and a
/// cycle must not hang the classifier.
const MAX_CHAIN: usize = 16;

/// The outcome of a transport error of any type: walks `err`'s source chain (at most 16
/// errors), and reads the first error it recognises ([`reqwest::Error`] with the `reqwest`
/// feature, hyper-util's legacy client error and [`hyper::Error`] with the `hyper` feature,
/// [`std::io::Error`], this library's own errors). An error it recognises nothing in is
/// `Transient { Failed }`.
///
/// The rules, for every client:
///
/// | error | outcome |
/// | --- | --- |
/// | connection refused, unreachable host or network, address not available, DNS failure | `Transient { NotSent }` |
/// | timed out (`io::ErrorKind::TimedOut`, a client's own timeout) | `Transient { Timeout }` |
/// | a request that cannot be built or sent (bad URL, invalid input, unsupported) | `Local` |
/// | a `reqwest` status error (`error_for_status`) | its status, as the HTTP classifier reads it |
/// | anything else (reset, broken pipe, a body cut short) | `Transient { Failed }` |
/// | this library's own errors | `Local` |
///
/// A connect timeout is `NotSent`: the connection never opened, so the request never left.
///
/// # Examples
///
/// ```
/// use std::io;
/// use steadfast::Outcome;
/// use steadfast::http::transport_outcome;
///
/// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
/// assert_eq!(transport_outcome(&refused), Outcome::not_sent());
/// let timed_out = io::Error::from(io::ErrorKind::TimedOut);
/// assert_eq!(transport_outcome(&timed_out), Outcome::timeout());
/// ```
pub fn transport_outcome(err: &(dyn Error + 'static)) -> Outcome {
    if chain_has_own(err) {
        return Outcome::Local;
    }
    chain_outcome(err, MAX_CHAIN).unwrap_or_else(Outcome::failed)
}

/// The outcome of a [`std::io::Error`]: `ConnectionRefused`, `AddrNotAvailable`,
/// `HostUnreachable`, `NetworkUnreachable` and `NetworkDown` are `NotSent`; `TimedOut` is
/// `Timeout`; `InvalidInput`, `PermissionDenied` and `Unsupported` are `Local` (the caller's
/// side); an error wrapping another is read through it; the rest is `Failed`.
///
/// # Examples
///
/// ```
/// use std::io;
/// use steadfast::Outcome;
/// use steadfast::http::io_outcome;
///
/// assert_eq!(io_outcome(&io::ErrorKind::ConnectionReset.into()), Outcome::failed());
/// assert_eq!(io_outcome(&io::ErrorKind::InvalidInput.into()), Outcome::Local);
/// ```
pub fn io_outcome(err: &io::Error) -> Outcome {
    if is_own_error(err) {
        return Outcome::Local;
    }
    io_error(err, MAX_CHAIN).unwrap_or_else(Outcome::failed)
}

/// The outcome of a [`reqwest::Error`]: a builder error is `Local`; a connect error (refused,
/// DNS, a connect timeout) is `NotSent`; a timeout is `Timeout`; a status error
/// (`error_for_status`) is its status as [`HttpClassifier::new`](super::HttpClassifier::new)
/// reads it; otherwise its source chain decides, and `Failed` if nothing in it is recognised.
///
/// # Examples
///
/// ```
/// # async fn demo() {
/// use steadfast::http::reqwest_outcome;
///
/// // Nothing listens on port 9 of the loopback address.
/// let err = reqwest::get("http://127.0.0.1:9/").await.unwrap_err();
/// assert_eq!(reqwest_outcome(&err), steadfast::Outcome::not_sent());
/// # }
/// ```
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub fn reqwest_outcome(err: &reqwest::Error) -> Outcome {
    reqwest_error(err, MAX_CHAIN, &super::classify::DEFAULT)
}

/// The outcome of an error of hyper-util's legacy client: a connect error (refused, DNS, a
/// connect timeout) is `NotSent`; a request the client refuses to send (a relative URI, an
/// unsupported method or version) is `Local`; otherwise its source chain decides (a
/// [`hyper::Error`] timeout is `Timeout`, a hyper user error `Local`), and `Failed` if nothing
/// in it is recognised.
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub fn hyper_outcome(err: &hyper_util::client::legacy::Error) -> Outcome {
    if chain_has_own(err) {
        return Outcome::Local;
    }
    hyper_util_error(err, MAX_CHAIN).unwrap_or_else(Outcome::failed)
}

/// A [`CallError`] of a client error this module reads (`reqwest::Error`, hyper-util's legacy
/// client error, `std::io::Error`; and `BoxError`, which only a `&dyn Any` can hold: a
/// `CallError<BoxError>` is no `Error`), seen through: its inner error by its kind, the
/// library's verdicts `Local`. `None` when `$err` is no such `CallError`.
macro_rules! call_error_outcome {
    ($err:expr, $classifier:expr $(, $extra:ty)?) => {{
        let (err, classifier) = ($err, $classifier);
        let mut found = None;
        $(if let Some(e) = err.downcast_ref::<CallError<$extra>>() {
            found = Some(call_error_inner(e, classifier));
        })?
        if let Some(e) = err.downcast_ref::<CallError<io::Error>>() {
            found = Some(call_error_inner(e, classifier));
        }
        #[cfg(feature = "reqwest")]
        if let Some(e) = err.downcast_ref::<CallError<reqwest::Error>>() {
            found = Some(call_error_inner(e, classifier));
        }
        #[cfg(feature = "hyper")]
        if let Some(e) = err.downcast_ref::<CallError<hyper_util::client::legacy::Error>>() {
            found = Some(call_error_inner(e, classifier));
        }
        found
    }};
}

/// A `CallError`'s outcome: [`CallError::Inner`] by its own error's kind, every verdict `Local`.
fn call_error_inner<E: 'static>(err: &CallError<E>, classifier: &super::HttpClassifier) -> Outcome {
    match err {
        CallError::Inner(inner) => error_outcome(inner, classifier),
        _ => Outcome::Local,
    }
}

/// The outcome of a transport error `E` of any type (`Failed` when the type is not one this
/// module reads): the HTTP classifier's `Err` arm, which reads a status error with its own table.
pub(crate) fn error_outcome<E: 'static>(err: &E, classifier: &super::HttpClassifier) -> Outcome {
    use std::any::Any;
    if is_own_error(err) {
        return Outcome::Local;
    }
    let any: &dyn Any = err;
    if let Some(outcome) = call_error_outcome!(any, classifier, crate::BoxError) {
        return outcome;
    }
    #[cfg(feature = "reqwest")]
    if let Some(e) = any.downcast_ref::<reqwest::Error>() {
        return reqwest_error(e, MAX_CHAIN, classifier);
    }
    #[cfg(not(feature = "reqwest"))]
    let _ = classifier;
    #[cfg(feature = "hyper")]
    if let Some(e) = any.downcast_ref::<hyper_util::client::legacy::Error>() {
        return hyper_util_error(e, MAX_CHAIN).unwrap_or_else(Outcome::failed);
    }
    #[cfg(feature = "hyper")]
    if let Some(e) = any.downcast_ref::<hyper::Error>() {
        return hyper_error(e, MAX_CHAIN).unwrap_or_else(Outcome::failed);
    }
    if let Some(e) = any.downcast_ref::<io::Error>() {
        return io_outcome(e);
    }
    if let Some(e) = any.downcast_ref::<crate::BoxError>() {
        return transport_outcome(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn Error + Send>>() {
        return transport_outcome(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn Error>>() {
        return transport_outcome(&**e);
    }
    Outcome::failed()
}

/// The first recognised error of the chain starting at `err`, looking at most `depth` errors.
fn chain_outcome(err: &(dyn Error + 'static), depth: usize) -> Option<Outcome> {
    let mut cur = Some(err);
    let mut left = depth;
    while let Some(e) = cur {
        if left == 0 {
            return None;
        }
        left -= 1;
        if let Some(outcome) = one_error(e, left) {
            return Some(outcome);
        }
        cur = e.source();
    }
    None
}

/// `err` itself, if its type is one this module reads; `depth` bounds any walk inside it.
fn one_error(err: &(dyn Error + 'static), depth: usize) -> Option<Outcome> {
    if let Some(outcome) = call_error_outcome!(err, &super::classify::DEFAULT) {
        return Some(outcome);
    }
    #[cfg(feature = "reqwest")]
    if let Some(e) = err.downcast_ref::<reqwest::Error>() {
        return Some(reqwest_error(e, depth, &super::classify::DEFAULT));
    }
    #[cfg(feature = "hyper")]
    if let Some(e) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
        return hyper_util_error(e, depth);
    }
    #[cfg(feature = "hyper")]
    if let Some(e) = err.downcast_ref::<hyper::Error>() {
        return hyper_error(e, depth);
    }
    if let Some(e) = err.downcast_ref::<io::Error>() {
        return io_error(e, depth);
    }
    None
}

fn io_error(err: &io::Error, depth: usize) -> Option<Outcome> {
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused
        | K::AddrNotAvailable
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown => Some(Outcome::not_sent()),
        K::TimedOut => Some(Outcome::timeout()),
        K::InvalidInput | K::PermissionDenied | K::Unsupported => Some(Outcome::Local),
        _ => match err.get_ref() {
            Some(inner) if depth > 0 => chain_outcome(inner, depth - 1),
            _ => None,
        },
    }
}

#[cfg(feature = "reqwest")]
fn reqwest_error(
    err: &reqwest::Error,
    depth: usize,
    classifier: &super::HttpClassifier,
) -> Outcome {
    if err.is_builder() {
        return Outcome::Local;
    }
    if err.is_connect() {
        return Outcome::not_sent();
    }
    if err.is_timeout() {
        return Outcome::timeout();
    }
    if let Some(status) = err.status() {
        return classifier.status_outcome(status, &::http::HeaderMap::new());
    }
    match err.source() {
        Some(source) if depth > 0 => chain_outcome(source, depth - 1),
        _ => None,
    }
    .unwrap_or_else(Outcome::failed)
}

#[cfg(feature = "hyper")]
fn hyper_util_error(err: &hyper_util::client::legacy::Error, depth: usize) -> Option<Outcome> {
    if err.is_connect() {
        return Some(Outcome::not_sent());
    }
    match err.source() {
        Some(source) if depth > 0 => chain_outcome(source, depth - 1),
        Some(_) => None,
        // Only the errors for a request the client refuses to send carry no source, and
        // hyper-util names them `User…` in its message.
        None if refused_by_client(err) => Some(Outcome::Local),
        None => None,
    }
}

/// Whether hyper-util's message names a request it refused to send
/// (`client error (UserAbsoluteUriRequired)` and the like). Written into a stack buffer: no
/// allocation.
#[cfg(feature = "hyper")]
fn refused_by_client(err: &hyper_util::client::legacy::Error) -> bool {
    use std::fmt::Write;

    struct Prefix {
        buf: [u8; 32],
        len: usize,
    }
    impl Write for Prefix {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let n = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            Ok(())
        }
    }
    let mut prefix = Prefix {
        buf: [0; 32],
        len: 0,
    };
    let _ = write!(prefix, "{err}");
    prefix.buf[..prefix.len].starts_with(b"client error (User")
}

#[cfg(feature = "hyper")]
fn hyper_error(err: &hyper::Error, depth: usize) -> Option<Outcome> {
    if err.is_timeout() {
        return Some(Outcome::timeout());
    }
    if err.is_user() {
        return Some(Outcome::Local);
    }
    match err.source() {
        Some(source) if depth > 0 => chain_outcome(source, depth - 1),
        _ => None,
    }
}
