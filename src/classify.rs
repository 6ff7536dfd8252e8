//! What a finished attempt means: one [`Outcome`] that retry, breaker, failover and health all
//! read, so that "failure" is defined once.
//!
//! # Why one vocabulary
//!
//! A retry layer, a circuit breaker and a failover each need to know whether a call failed, but
//! they need different answers from the same fact. A `404` is a correct answer: retrying it is
//! waste and counting it against the breaker would open the circuit on a healthy dependency. A
//! `429` is push-back: worth another try after the server's hint, elsewhere at once, but not a
//! sign that the dependency is sick. A timeout is a failure, and the request may still have been
//! applied, so a non-idempotent request may not blindly hop to another region. An error this
//! library produced itself (an open breaker, an expired deadline) is not the dependency's fault
//! at all.
//!
//! So a classifier maps every result to one [`Outcome`], and the rules that turn an outcome into
//! a decision live here, as methods on it:
//!
//! | outcome | [`is_retryable`](Outcome::is_retryable) / [`may_hop`](Outcome::may_hop) | [`breaker_effect`](Outcome::breaker_effect) | [`may_have_been_applied`](Outcome::may_have_been_applied) |
//! | --- | --- | --- | --- |
//! | `Success` | no | success | yes |
//! | `Rejected` (400, 404, 409, 412) | no | ignored | no |
//! | `Transient { NotSent }` (refused, DNS) | yes | failure | no |
//! | `Transient { Timeout }` | yes | failure | yes |
//! | `Transient { Throttled }` (429) | yes | ignored | no |
//! | `Transient { Failed }` (5xx, reset) | yes | failure | yes |
//! | `Local` (caller's side, this library's own errors) | no | ignored | no |
//!
//! # Classifiers
//!
//! Anything implementing [`Classify`] is a classifier, including closures
//! `Fn(&Result<T, E>) -> Outcome`. [`DefaultClassifier`] maps `Ok` to `Success` and `Err` to
//! `Transient { Failed }`.
//!
//! Every layer of this crate classifies through [`outcome_of`], which recognises this library's
//! own errors as [`Outcome::Local`] *before* asking the classifier. A closure therefore never
//! has to remember them, and a retry stacked over a failover can never retry the failover's
//! verdict.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::classify::{outcome_of, Outcome, TransientKind};
//!
//! // An HTTP-ish classifier over status codes.
//! let classify = |r: &Result<u16, std::io::Error>| match r {
//!     Ok(200..=299) => Outcome::Success,
//!     Ok(429) => Outcome::throttled(Some(Duration::from_secs(1))),
//!     Ok(500..=599) => Outcome::failed(),
//!     Ok(_) => Outcome::Rejected,
//!     Err(_) => Outcome::not_sent(),
//! };
//! assert_eq!(outcome_of(&classify, &Ok(503)), Outcome::failed());
//! assert!(outcome_of(&classify, &Ok(404)).breaker_effect().is_ignored());
//!
//! // This library's own errors are `Local` whatever the closure says.
//! let own: Result<u16, std::io::Error> = Err(steadfast::DeadlineExceeded::new().into());
//! assert_eq!(outcome_of(&classify, &own), Outcome::Local);
//! ```

use std::any::Any;
use std::error::Error;
use std::time::Duration;

use crate::error::{
    AllEndpointsFailed, AttemptTimedOut, BoxError, BreakerOpen, CallError, DeadlineExceeded,
    NoEndpointAvailable, Verdict,
};

/// The one list of this library's own error types, and the verdict each is; `$e` is a
/// `&dyn Any` or a `&dyn Error`.
macro_rules! own_verdict {
    ($e:expr) => {{
        let e = $e;
        if e.is::<DeadlineExceeded>() {
            Some(Verdict::DeadlineExceeded)
        } else if e.is::<AttemptTimedOut>() {
            Some(Verdict::AttemptTimedOut)
        } else if e.is::<BreakerOpen>() {
            Some(Verdict::BreakerOpen)
        } else if e.is::<AllEndpointsFailed>() {
            Some(Verdict::AllEndpointsFailed)
        } else if e.is::<NoEndpointAvailable>() {
            Some(Verdict::NoEndpointAvailable)
        } else {
            None
        }
    }};
}

/// What a finished attempt means. See the [module docs](self) for the rules each variant implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The dependency answered that the request itself is wrong or refused (HTTP 400, 404, 409,
    /// 412; a failed condition). Returned at once: not retried, not failed over; the breaker
    /// ignores it unless configured to count it as a success.
    Rejected,
    /// This endpoint failed, and another attempt, later or elsewhere, may succeed.
    Transient {
        /// How it failed.
        kind: TransientKind,
        /// The server's hint of when to try again (`Retry-After`), if it gave one.
        retry_after: Option<Duration>,
    },
    /// The fault is on the caller's side: a request that cannot be built, missing credentials,
    /// and every error this library itself produces. Never retried, never failed over, never
    /// counted against a dependency.
    Local,
}

/// How a [`Outcome::Transient`] attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransientKind {
    /// The request provably never reached the server (connection refused, DNS failure). Any
    /// request may be replayed after it.
    NotSent,
    /// The attempt timed out; the request may have been applied.
    Timeout,
    /// Push-back: the server refused for now (429, a throttling code). Not a health failure.
    Throttled,
    /// The server failed (5xx, reset mid-response); the request may have been applied.
    Failed,
}

/// What an outcome does to a circuit breaker's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerEffect {
    /// Counts as a success.
    Success,
    /// Counts as a failure.
    Failure,
    /// Counts neither way.
    Ignored,
}

impl BreakerEffect {
    /// Whether the outcome counts neither way.
    pub const fn is_ignored(self) -> bool {
        matches!(self, BreakerEffect::Ignored)
    }
}

impl Outcome {
    /// `Transient` of the given kind, with no `Retry-After` hint.
    pub const fn transient(kind: TransientKind) -> Self {
        Outcome::Transient {
            kind,
            retry_after: None,
        }
    }

    /// `Transient { Failed }` with no hint: a 5xx, a reset.
    pub const fn failed() -> Self {
        Self::transient(TransientKind::Failed)
    }

    /// `Transient { Timeout }`.
    pub const fn timeout() -> Self {
        Self::transient(TransientKind::Timeout)
    }

    /// `Transient { NotSent }`: the request never reached the server.
    pub const fn not_sent() -> Self {
        Self::transient(TransientKind::NotSent)
    }

    /// `Transient { Throttled }` with the server's hint, if any.
    pub const fn throttled(retry_after: Option<Duration>) -> Self {
        Outcome::Transient {
            kind: TransientKind::Throttled,
            retry_after,
        }
    }

    /// Whether the call succeeded.
    pub const fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }

    /// The kind of a transient failure, or `None` for any other outcome.
    pub const fn transient_kind(&self) -> Option<TransientKind> {
        match self {
            Outcome::Transient { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether the attempt timed out.
    pub const fn is_timeout(&self) -> bool {
        matches!(
            self,
            Outcome::Transient {
                kind: TransientKind::Timeout,
                ..
            }
        )
    }

    /// The server's `Retry-After` hint, for a transient outcome that carries one.
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            Outcome::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether another attempt at the same endpoint, later, may succeed: only `Transient`.
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Outcome::Transient { .. })
    }

    /// Whether another endpoint may succeed where this one failed: only `Transient`. Whether the
    /// *request* may be replayed there is a separate question: see
    /// [`may_have_been_applied`](Self::may_have_been_applied).
    pub const fn may_hop(&self) -> bool {
        self.is_retryable()
    }

    /// Whether the request may have taken effect at the server: after a success, a timeout or a
    /// server failure. A request that may have been applied is replayed only when it is
    /// idempotent or explicitly marked as safe to replay.
    pub const fn may_have_been_applied(&self) -> bool {
        matches!(
            self,
            Outcome::Success
                | Outcome::Transient {
                    kind: TransientKind::Timeout | TransientKind::Failed,
                    ..
                }
        )
    }

    /// What this outcome does to a circuit breaker by default: `NotSent`, `Timeout` and `Failed`
    /// count as failures, `Success` as a success, and `Rejected`, `Throttled` and `Local` are
    /// ignored (push-back sets an endpoint's "not before" time instead).
    pub const fn breaker_effect(&self) -> BreakerEffect {
        match self {
            Outcome::Success => BreakerEffect::Success,
            Outcome::Transient {
                kind: TransientKind::Throttled,
                ..
            }
            | Outcome::Rejected
            | Outcome::Local => BreakerEffect::Ignored,
            Outcome::Transient { .. } => BreakerEffect::Failure,
        }
    }

    /// Whether the outcome counts against the dependency's health: the same rule as the breaker's
    /// failures.
    pub const fn is_health_failure(&self) -> bool {
        matches!(self.breaker_effect(), BreakerEffect::Failure)
    }
}

/// Maps a finished attempt to an [`Outcome`].
///
/// Closures `Fn(&Result<T, E>) -> Outcome` implement it. Layers call it through [`outcome_of`],
/// so a classifier never sees this library's own errors.
pub trait Classify<T, E> {
    /// The outcome of one attempt.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<F, T, E> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: `Ok` is [`Outcome::Success`], `Err` is `Transient { Failed }`, and
/// this library's own errors are [`Outcome::Local`].
///
/// It knows nothing of the response: an HTTP client's `Ok` response with status 503, 500 or 429
/// is a `Success` here, so a retry, breaker or failover over HTTP left with this classifier
/// never reacts to a failing server. Over HTTP, use the ready HTTP classifier of the
/// `steadfast::http` module (feature `http`) or a closure that reads the status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<T, E: 'static> Classify<T, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) if is_own_error(e) => Outcome::Local,
            Err(_) => Outcome::failed(),
        }
    }
}

/// Classifies `result`, recognising this library's own errors as [`Outcome::Local`] first.
///
/// This is how every layer of the crate classifies; use it too when composing your own.
#[inline]
pub fn outcome_of<C, T, E>(classifier: &C, result: &Result<T, E>) -> Outcome
where
    C: Classify<T, E> + ?Sized,
    E: 'static,
{
    match result {
        Err(e) if is_own_error(e) => Outcome::Local,
        _ => classifier.classify(result),
    }
}

/// Whether `err` is, or wraps, an error this library produced ([`DeadlineExceeded`],
/// [`AttemptTimedOut`], [`BreakerOpen`], [`AllEndpointsFailed`], [`NoEndpointAvailable`]).
///
/// It recognises the error types themselves, and [`BoxError`], `Box<dyn Error>`,
/// `Box<dyn Error + Send>` and [`std::io::Error`] that are, wrap, or have in their source chain
/// one of them (a boxed [`CallError`] exposes its verdict struct as its source, except for its
/// `AllEndpointsFailed` variant, which has none); it looks at 32 errors of a chain at most, so a
/// chain that loops cannot hang it. An unboxed [`CallError`] is recognised for the error types
/// it commonly holds ([`BoxError`], [`std::io::Error`], and with features `reqwest` and `hyper`
/// their clients' errors); for another `CallError<E>`, and for a caller's own error type (an
/// enum with a variant holding `DeadlineExceeded`), classify [`CallError::is_local`] (or that
/// variant) as [`Outcome::Local`] in your classifier.
pub fn is_own_error<E: 'static>(err: &E) -> bool {
    verdict_of(err).is_some()
}

/// Which of this library's verdicts `err` is, or wraps: the same rule as [`is_own_error`] (the
/// same error types are recognised, the same source chains read), naming the verdict. The
/// first verdict found wins: a [`CallError`]'s own variant, or the outermost verdict of a
/// chain. `None` for any other error.
///
/// ```
/// use steadfast::classify::verdict_of;
/// use steadfast::error::{BoxError, BreakerOpen, Verdict};
///
/// let boxed: BoxError = BreakerOpen::new(None).into();
/// assert_eq!(verdict_of(&boxed), Some(Verdict::BreakerOpen));
/// assert_eq!(verdict_of(&std::io::Error::other("reset")), None);
/// ```
pub fn verdict_of<E: 'static>(err: &E) -> Option<Verdict> {
    let any: &dyn Any = err;
    if let Some(b) = any.downcast_ref::<BoxError>() {
        return chain_verdict(&**b);
    }
    if let Some(b) = any.downcast_ref::<Box<dyn Error + Send>>() {
        return chain_verdict(&**b);
    }
    if let Some(b) = any.downcast_ref::<Box<dyn Error>>() {
        return chain_verdict(&**b);
    }
    if let Some(io) = any.downcast_ref::<std::io::Error>() {
        return io.get_ref().and_then(|inner| chain_verdict(inner));
    }
    call_error_verdict(any).unwrap_or_else(|| own_verdict!(any))
}

/// The verdict of `any` if it is a [`CallError`] of one of the error types a `CallError`
/// commonly holds; `None` when it is none of those types.
fn call_error_verdict(any: &dyn Any) -> Option<Option<Verdict>> {
    macro_rules! try_types {
        ($($t:ty),* $(,)?) => {
            $(if let Some(e) = any.downcast_ref::<CallError<$t>>() {
                return Some(e.verdict());
            })*
        };
    }
    try_types!(BoxError, std::io::Error);
    #[cfg(feature = "reqwest")]
    try_types!(reqwest::Error);
    #[cfg(feature = "hyper")]
    try_types!(hyper_util::client::legacy::Error);
    None
}

/// How many errors of a source chain [`is_own_error`] looks at: chains are short, and a chain
/// that loops (an error that is its own source) must not hang a classifier.
const MAX_CHAIN_VISITS: u32 = 32;

/// Whether `err` or an error in its source chain (at most 32 errors looked at) is one of this
/// library's own.
#[cfg(feature = "http")]
pub(crate) fn chain_has_own(err: &(dyn Error + 'static)) -> bool {
    chain_verdict(err).is_some()
}

/// The first of this library's verdicts in `err`'s source chain (at most 32 errors looked at).
fn chain_verdict(err: &(dyn Error + 'static)) -> Option<Verdict> {
    verdict_within(err, &mut { MAX_CHAIN_VISITS })
}

fn verdict_within(err: &(dyn Error + 'static), budget: &mut u32) -> Option<Verdict> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        *budget = budget.checked_sub(1)?;
        if let Some(verdict) = own_verdict!(e) {
            return Some(verdict);
        }
        // `io::Error::source` skips the error it wraps (it returns *that* error's source), so
        // look inside explicitly.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(verdict) = verdict_within(inner, budget) {
                return Some(verdict);
            }
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_table() {
        use BreakerEffect as B;
        let cases = [
            (Outcome::Success, false, B::Success, true),
            (Outcome::Rejected, false, B::Ignored, false),
            (Outcome::not_sent(), true, B::Failure, false),
            (Outcome::timeout(), true, B::Failure, true),
            (Outcome::throttled(None), true, B::Ignored, false),
            (Outcome::failed(), true, B::Failure, true),
            (Outcome::Local, false, B::Ignored, false),
        ];
        for (o, retry, breaker, applied) in cases {
            assert_eq!(o.is_retryable(), retry, "{o:?}");
            assert_eq!(o.may_hop(), retry, "{o:?}");
            assert_eq!(o.breaker_effect(), breaker, "{o:?}");
            assert_eq!(o.may_have_been_applied(), applied, "{o:?}");
            assert_eq!(o.is_health_failure(), breaker == B::Failure, "{o:?}");
        }
    }

    #[test]
    fn retry_after_only_on_transient() {
        let d = Duration::from_secs(3);
        assert_eq!(Outcome::throttled(Some(d)).retry_after(), Some(d));
        assert_eq!(Outcome::Success.retry_after(), None);
        assert!(Outcome::timeout().is_timeout());
        assert!(!Outcome::failed().is_timeout());
    }
}
