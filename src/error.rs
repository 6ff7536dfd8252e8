//! Errors: the typed configuration error, and the small public errors this library returns.
//!
//! Configuration is validated once, when a policy or layer is built, into a [`ConfigError`];
//! nothing in this crate panics on a configuration value.
//!
//! At run time the layers add failure modes of their own (a deadline that expired, later an open
//! breaker or no endpoint left). Each is a small public struct that callers downcast from the
//! boxed error, or match on when the layer keeps the inner error type. Every built-in classifier
//! recognises these errors as [`Outcome::Local`](crate::classify::Outcome::Local), so a retry
//! stacked over another layer never retries the other layer's verdict.

use std::fmt;
use std::time::Duration;

/// A boxed error, as tower layers that add failure modes return them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An invalid configuration value, returned when a policy is built.
///
/// The message names the setting, the value given and what was expected, in lowercase, for
/// example `backoff factor is 0.5, expected a finite number of at least 1`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting has a value outside its valid range.
    #[error("{setting} is {value}, expected {expected}")]
    Invalid {
        /// The setting, for example `backoff factor`.
        setting: &'static str,
        /// The value given, formatted.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// A configuration document does not describe settings (feature `serde`): a value of the
    /// wrong type, an unknown field, a malformed duration.
    #[error("{path}: {message}")]
    Malformed {
        /// Where, as `failover.breaker.failure_rate` (`.` for the whole document).
        path: String,
        /// What is wrong, as the format's parser put it.
        message: String,
    },
    /// A setting of a configuration document is invalid (feature `serde`): its key in the
    /// document, and the error its builder gave.
    #[error("{path}: {error}")]
    At {
        /// The key of the bad setting, as `failover.breaker.failure_rate` or
        /// `chaos.windows[2].rate`; its section (`failover.breaker`) when the rule broken
        /// relates two settings of it.
        path: String,
        /// The builder's error.
        error: Box<ConfigError>,
    },
}

/// The longest duration any setting of this crate accepts: 365 days. A longer one is taken for
/// a unit mistake (milliseconds given as seconds, a `Duration::MAX` meaning "forever") and
/// refused with a [`ConfigError`] when the policy or layer is built, whatever the order of its
/// setters.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The longest `retry_after_cap` any builder accepts: 1 hour. A server's push-back longer than
/// that is an outage, better handled by the breaker and the operator than by honouring it; and
/// a cap of years would make one answer keep an endpoint out of service for good.
pub const MAX_RETRY_AFTER_CAP: Duration = Duration::from_secs(60 * 60);

impl ConfigError {
    /// Checks a duration setting against [`MAX_DURATION`]: the one rule of every builder.
    pub(crate) fn check_duration(setting: &'static str, value: Duration) -> Result<(), Self> {
        if value > MAX_DURATION {
            Err(ConfigError::invalid(setting, value, "at most 365 days"))
        } else {
            Ok(())
        }
    }

    /// Checks a name (an endpoint's, a breaker's, a dependency's): not empty, and without
    /// leading or trailing whitespace (`"east "` is a typo of `"east"`, not another name).
    pub(crate) fn check_name(setting: &'static str, name: &str) -> Result<(), Self> {
        if name.is_empty() || name.trim() != name {
            Err(ConfigError::invalid(
                setting,
                name,
                "a non-empty name without leading or trailing whitespace",
            ))
        } else {
            Ok(())
        }
    }

    /// Checks an optional limit (a deadline, an attempt timeout): more than zero, and at most
    /// [`MAX_DURATION`].
    pub(crate) fn check_limit(setting: &'static str, value: Option<Duration>) -> Result<(), Self> {
        match value {
            Some(zero) if zero.is_zero() => {
                Err(ConfigError::invalid(setting, zero, "more than zero"))
            }
            Some(d) => Self::check_duration(setting, d),
            None => Ok(()),
        }
    }

    /// Checks a `retry_after_cap`: at most [`MAX_RETRY_AFTER_CAP`].
    pub(crate) fn check_retry_after_cap(setting: &'static str, cap: Duration) -> Result<(), Self> {
        if cap > MAX_RETRY_AFTER_CAP {
            Err(ConfigError::invalid(setting, cap, "at most 1 hour"))
        } else {
            Ok(())
        }
    }

    /// The setting an [`Invalid`](ConfigError::Invalid) error names, wherever it was placed.
    pub(crate) fn setting(&self) -> Option<&'static str> {
        match self {
            ConfigError::Invalid { setting, .. } => Some(setting),
            ConfigError::At { error, .. } => error.setting(),
            ConfigError::Malformed { .. } => None,
        }
    }

    pub(crate) fn invalid(
        setting: &'static str,
        value: impl fmt::Debug,
        expected: &'static str,
    ) -> Self {
        ConfigError::Invalid {
            setting,
            value: format!("{value:?}"),
            expected,
        }
    }
}

/// The request's deadline passed before an attempt produced a result.
///
/// Returned when the deadline cuts an attempt that is still in flight. When the deadline merely
/// leaves no room for another attempt, the caller gets the last error instead, which says more.
///
/// The retry layer keeps the inner service's error type, so that type must be able to hold this
/// error: `E: From<DeadlineExceeded>`. [`BoxError`] and [`std::io::Error`] (as
/// [`TimedOut`](std::io::ErrorKind::TimedOut)) can.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("deadline exceeded")]
#[non_exhaustive]
pub struct DeadlineExceeded;

impl DeadlineExceeded {
    /// The error. (The struct is `#[non_exhaustive]` so that it can carry detail later.)
    pub const fn new() -> Self {
        DeadlineExceeded
    }
}

impl From<DeadlineExceeded> for std::io::Error {
    fn from(e: DeadlineExceeded) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// The last attempt was cut by the per-attempt timeout (or its service did not become ready
/// within it), and no further attempt was allowed.
///
/// There is no error from the dependency to return in that case (the attempt was abandoned, or
/// never sent), so the layer returns this one. Like [`DeadlineExceeded`], the caller's error type must be able to
/// hold it: `E: From<AttemptTimedOut>`; [`BoxError`] and [`std::io::Error`] can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("attempt timed out after {timeout:?}")]
#[non_exhaustive]
pub struct AttemptTimedOut {
    /// How long the attempt was allowed to run.
    pub timeout: std::time::Duration,
}

impl AttemptTimedOut {
    /// The error for an attempt cut after `timeout`.
    pub const fn new(timeout: std::time::Duration) -> Self {
        AttemptTimedOut { timeout }
    }
}

/// A circuit breaker rejected the call without sending it: the dependency is considered down.
///
/// Returned at once by the [breaker layer](crate::breaker), converted into its error type:
/// [`BoxError`] by default (downcast to read [`retry_in`](Self::retry_in)), or an error type of
/// the caller's that implements `From<BreakerOpen>` (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker open")]
#[non_exhaustive]
pub struct BreakerOpen {
    /// How long until the breaker admits a call, when it is known: not while it is forced open,
    /// nor while it is half-open with every probe slot taken, unless a probe renewal or a
    /// maximum wait that closes it will admit one (see
    /// [`Rejected::retry_in`](crate::breaker::Rejected::retry_in)).
    pub retry_in: Option<std::time::Duration>,
}

impl BreakerOpen {
    /// The error, with the time until the breaker admits probes if known.
    pub const fn new(retry_in: Option<std::time::Duration>) -> Self {
        BreakerOpen { retry_in }
    }
}

/// One attempt of a [failover](crate::failover) walk, as [`AllEndpointsFailed`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// The endpoint's name.
    pub endpoint: std::sync::Arc<str>,
    /// What the attempt meant.
    pub outcome: crate::classify::Outcome,
    /// When the attempt ended, counted from the start of the call. A call with neither a deadline
    /// nor an attempt timeout reads no clock before its first failure, so it counts from the end
    /// of its first attempt instead (that attempt's `elapsed` is then zero).
    pub elapsed: std::time::Duration,
}

/// Every endpoint a [failover](crate::failover) walk tried failed, and no further attempt was
/// allowed (the recover schedule is spent, the budget is empty, the deadline leaves no room,
/// or the request may not be replayed).
///
/// It carries every attempt, in order, and the last error as its
/// [`source`](std::error::Error::source): the dependency's error, or [`AttemptTimedOut`] when
/// the last attempt was cut by the attempt timeout (or its endpoint was not ready within it).
/// When the last attempt ended with a failing *response* (an HTTP 503), the failover returns that
/// response instead, as the retry layer does.
#[derive(Debug, thiserror::Error)]
#[error("all endpoints failed after {} attempts", attempts.len())]
#[non_exhaustive]
pub struct AllEndpointsFailed {
    /// Every attempt, in order.
    pub attempts: Vec<AttemptRecord>,
    /// The last attempt's error.
    #[source]
    pub last: BoxError,
}

impl AllEndpointsFailed {
    /// The error for a walk that made `attempts` and ended with `last`.
    pub fn new(attempts: Vec<AttemptRecord>, last: impl Into<BoxError>) -> Self {
        AllEndpointsFailed {
            attempts,
            last: last.into(),
        }
    }
}

/// No endpoint of a [failover](crate::failover) could take the call (every breaker open, every
/// endpoint pushed back or switched off), and none becomes available soon enough to wait for.
/// Nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no endpoint available")]
#[non_exhaustive]
pub struct NoEndpointAvailable {
    /// How long until the earliest endpoint may become available, when that is known (not when
    /// every endpoint is forced open or switched off).
    pub retry_in: Option<std::time::Duration>,
}

impl NoEndpointAvailable {
    /// The error, with the time until an endpoint may become available if known.
    pub const fn new(retry_in: Option<std::time::Duration>) -> Self {
        NoEndpointAvailable { retry_in }
    }
}

impl From<AllEndpointsFailed> for std::io::Error {
    fn from(e: AllEndpointsFailed) -> Self {
        std::io::Error::other(e)
    }
}

impl From<NoEndpointAvailable> for std::io::Error {
    fn from(e: NoEndpointAvailable) -> Self {
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e)
    }
}

impl From<AttemptTimedOut> for std::io::Error {
    fn from(e: AttemptTimedOut) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Which of this library's own errors a call ended with: the verdicts of its layers, read from
/// an error by [`verdict_of`](crate::classify::verdict_of) or [`CallError::verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// [`DeadlineExceeded`]: the call's deadline cut an attempt in flight.
    DeadlineExceeded,
    /// [`AttemptTimedOut`]: the last attempt was cut by the attempt timeout.
    AttemptTimedOut,
    /// [`BreakerOpen`]: a circuit breaker rejected the call.
    BreakerOpen,
    /// [`AllEndpointsFailed`]: every endpoint a failover walk tried failed.
    AllEndpointsFailed,
    /// [`NoEndpointAvailable`]: no endpoint of a failover could take the call.
    NoEndpointAvailable,
}

impl Verdict {
    /// Its name in snake case: `deadline_exceeded`, `attempt_timed_out`, `breaker_open`,
    /// `all_endpoints_failed`, `no_endpoint_available`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::DeadlineExceeded => "deadline_exceeded",
            Verdict::AttemptTimedOut => "attempt_timed_out",
            Verdict::BreakerOpen => "breaker_open",
            Verdict::AllEndpointsFailed => "all_endpoints_failed",
            Verdict::NoEndpointAvailable => "no_endpoint_available",
        }
    }
}

/// The longest name (an endpoint's, say) an error or event repeats, in bytes: a longer one is
/// cut there, so a hostile name never becomes a huge message.
pub(crate) const NAME_LIMIT: usize = 128;

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary: how
/// texts from outside (a name, a file's content) are bounded before an error or event repeats
/// them.
pub(crate) fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The error of a call that keeps the dependency's own error type `E`: either that error, typed,
/// or one of this library's verdicts.
///
/// [`RetryPolicy::run`](crate::RetryPolicy::run) returns it, and so does a regional client
/// (feature `reqwest`). It fits every layer's error bounds (`From` each verdict, and
/// [`FailoverError`](crate::FailoverError)), so a layer over a service whose error is
/// `CallError<E>` returns it too. Unlike a [`BoxError`], the dependency's error is read without
/// downcasting: [`inner`](Self::inner) returns it, also when it ended a failover walk.
///
/// Every variant but [`Inner`](Self::Inner) is this library's verdict and classifies as
/// [`Outcome::Local`](crate::Outcome::Local) ([`is_local`](Self::is_local); see
/// [`is_own_error`](crate::classify::is_own_error) for the types recognised). The verdicts that
/// wrap a struct expose it as their [`source`](std::error::Error::source), so those are
/// recognised when boxed too; a boxed `AllEndpointsFailed` over another error type is not.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast::{CallError, DeadlineExceeded};
///
/// let verdict: CallError<std::num::ParseIntError> = DeadlineExceeded::new().into();
/// assert!(verdict.is_deadline_exceeded() && verdict.is_local());
/// let own = CallError::Inner("x".parse::<u32>().unwrap_err());
/// assert_eq!(own.inner().map(|e| e.to_string()).as_deref(), Some("invalid digit found in string"));
/// ```
// Display and Error are written out: a derive would bound `Error` on itself through the boxed
// `last` error, which the trait solver cannot prove.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError<E> {
    /// The dependency's own error, from the call's only or last attempt. Its message and source
    /// are the dependency's.
    Inner(E),
    /// The call's deadline passed while an attempt was in flight.
    DeadlineExceeded(DeadlineExceeded),
    /// The last attempt was cut by the attempt timeout and no further attempt was allowed.
    AttemptTimedOut(AttemptTimedOut),
    /// A circuit breaker rejected the call without sending it.
    BreakerOpen(BreakerOpen),
    /// No endpoint of a failover could take the call; nothing was sent.
    NoEndpointAvailable(NoEndpointAvailable),
    /// Every endpoint a failover walk tried failed, and no further attempt was allowed. `last`
    /// is the last attempt's error (its source): [`Inner`](Self::Inner) with the dependency's
    /// error, or [`AttemptTimedOut`](Self::AttemptTimedOut).
    AllEndpointsFailed {
        /// Every attempt, in order.
        attempts: Vec<AttemptRecord>,
        /// The last attempt's error.
        last: Box<CallError<E>>,
    },
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Inner(e) => e.fmt(f),
            CallError::DeadlineExceeded(e) => e.fmt(f),
            CallError::AttemptTimedOut(e) => e.fmt(f),
            CallError::BreakerOpen(e) => e.fmt(f),
            CallError::NoEndpointAvailable(e) => e.fmt(f),
            CallError::AllEndpointsFailed { attempts, last } => {
                write!(f, "all endpoints failed after {} attempts", attempts.len())?;
                write_attempts(f, attempts)?;
                write!(f, ": {last}")
            }
        }
    }
}

/// How many attempts a walk's message lists; the rest are counted.
const LISTED_ATTEMPTS: usize = 8;

/// ` (us-east-2: not sent, us-west-1: timeout)`: each attempt's endpoint and outcome, the first
/// [`LISTED_ATTEMPTS`] of them.
fn write_attempts(f: &mut fmt::Formatter<'_>, attempts: &[AttemptRecord]) -> fmt::Result {
    use crate::classify::{Outcome, TransientKind};
    for (i, a) in attempts.iter().take(LISTED_ATTEMPTS).enumerate() {
        let outcome = match a.outcome {
            Outcome::Success => "success",
            Outcome::Rejected => "rejected",
            Outcome::Local => "local",
            Outcome::Transient { kind, .. } => match kind {
                TransientKind::NotSent => "not sent",
                TransientKind::Timeout => "timeout",
                TransientKind::Throttled => "throttled",
                TransientKind::Failed => "failed",
            },
        };
        let sep = if i == 0 { " (" } else { ", " };
        write!(f, "{sep}{}: {outcome}", clip(&a.endpoint, NAME_LIMIT))?;
    }
    match attempts.len() {
        0 => Ok(()),
        n if n > LISTED_ATTEMPTS => write!(f, ", {} more)", n - LISTED_ATTEMPTS),
        _ => f.write_str(")"),
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Inner(e) => e.source(),
            CallError::DeadlineExceeded(e) => Some(e),
            CallError::AttemptTimedOut(e) => Some(e),
            CallError::BreakerOpen(e) => Some(e),
            CallError::NoEndpointAvailable(e) => Some(e),
            CallError::AllEndpointsFailed { last, .. } => Some(&**last),
        }
    }
}

impl<E> CallError<E> {
    /// The dependency's own error: this one's, or the last attempt's of a failover walk that
    /// ended with it. `None` for the library's other verdicts.
    pub fn inner(&self) -> Option<&E> {
        match self {
            CallError::Inner(e) => Some(e),
            CallError::AllEndpointsFailed { last, .. } => last.inner(),
            _ => None,
        }
    }

    /// The dependency's own error, as [`inner`](Self::inner), by value.
    pub fn into_inner(self) -> Option<E> {
        match self {
            CallError::Inner(e) => Some(e),
            CallError::AllEndpointsFailed { last, .. } => last.into_inner(),
            _ => None,
        }
    }

    /// The attempts of a failover walk that failed ([`AllEndpointsFailed`](Self::AllEndpointsFailed)),
    /// in order; empty for every other error.
    pub fn attempts(&self) -> &[AttemptRecord] {
        match self {
            CallError::AllEndpointsFailed { attempts, .. } => attempts,
            _ => &[],
        }
    }

    /// Whether this is one of the library's verdicts rather than the dependency's error
    /// (every variant but [`Inner`](Self::Inner)): such an error classifies as
    /// [`Outcome::Local`](crate::Outcome::Local).
    pub fn is_local(&self) -> bool {
        !matches!(self, CallError::Inner(_))
    }

    /// Whether this is the dependency's own error ([`Inner`](Self::Inner)).
    pub fn is_inner(&self) -> bool {
        matches!(self, CallError::Inner(_))
    }

    /// Whether the call's deadline passed with an attempt in flight.
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self, CallError::DeadlineExceeded(_))
    }

    /// Whether the call's last attempt was cut by the attempt timeout, directly or as the last
    /// attempt of a failover walk.
    pub fn is_attempt_timed_out(&self) -> bool {
        match self {
            CallError::AttemptTimedOut(_) => true,
            CallError::AllEndpointsFailed { last, .. } => last.is_attempt_timed_out(),
            _ => false,
        }
    }

    /// Whether a circuit breaker rejected the call.
    pub fn is_breaker_open(&self) -> bool {
        matches!(self, CallError::BreakerOpen(_))
    }

    /// Whether no endpoint of a failover could take the call.
    pub fn is_no_endpoint_available(&self) -> bool {
        matches!(self, CallError::NoEndpointAvailable(_))
    }

    /// Whether every endpoint a failover walk tried failed.
    pub fn is_all_endpoints_failed(&self) -> bool {
        matches!(self, CallError::AllEndpointsFailed { .. })
    }

    /// When the library suggests trying again: an open breaker's or the earliest endpoint's
    /// `retry_in`, when known.
    pub fn retry_in(&self) -> Option<std::time::Duration> {
        match self {
            CallError::BreakerOpen(e) => e.retry_in,
            CallError::NoEndpointAvailable(e) => e.retry_in,
            _ => None,
        }
    }

    /// Which of the library's verdicts this is; `None` for the dependency's own error
    /// ([`Inner`](Self::Inner)). Unlike [`verdict_of`](crate::classify::verdict_of), it reads a
    /// `CallError` over any error type.
    pub fn verdict(&self) -> Option<Verdict> {
        Some(match self {
            CallError::Inner(_) => return None,
            CallError::DeadlineExceeded(_) => Verdict::DeadlineExceeded,
            CallError::AttemptTimedOut(_) => Verdict::AttemptTimedOut,
            CallError::BreakerOpen(_) => Verdict::BreakerOpen,
            CallError::NoEndpointAvailable(_) => Verdict::NoEndpointAvailable,
            CallError::AllEndpointsFailed { .. } => Verdict::AllEndpointsFailed,
        })
    }

    /// Maps the dependency's error, keeping the library's verdicts.
    pub fn map_inner<F>(self, f: impl FnOnce(E) -> F) -> CallError<F> {
        match self {
            CallError::Inner(e) => CallError::Inner(f(e)),
            CallError::DeadlineExceeded(e) => CallError::DeadlineExceeded(e),
            CallError::AttemptTimedOut(e) => CallError::AttemptTimedOut(e),
            CallError::BreakerOpen(e) => CallError::BreakerOpen(e),
            CallError::NoEndpointAvailable(e) => CallError::NoEndpointAvailable(e),
            CallError::AllEndpointsFailed { attempts, last } => CallError::AllEndpointsFailed {
                attempts,
                last: Box::new(last.map_inner(f)),
            },
        }
    }
}

impl<E> From<DeadlineExceeded> for CallError<E> {
    fn from(e: DeadlineExceeded) -> Self {
        CallError::DeadlineExceeded(e)
    }
}

impl<E> From<AttemptTimedOut> for CallError<E> {
    fn from(e: AttemptTimedOut) -> Self {
        CallError::AttemptTimedOut(e)
    }
}

impl<E> From<BreakerOpen> for CallError<E> {
    fn from(e: BreakerOpen) -> Self {
        CallError::BreakerOpen(e)
    }
}

impl<E> From<NoEndpointAvailable> for CallError<E> {
    fn from(e: NoEndpointAvailable) -> Self {
        CallError::NoEndpointAvailable(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_without_period() {
        let e = ConfigError::invalid("backoff factor", 0.5, "a finite number of at least 1");
        assert_eq!(
            e.to_string(),
            "backoff factor is 0.5, expected a finite number of at least 1"
        );
        assert_eq!(DeadlineExceeded.to_string(), "deadline exceeded");
        assert_eq!(
            AttemptTimedOut::new(std::time::Duration::from_millis(250)).to_string(),
            "attempt timed out after 250ms"
        );
    }

    #[test]
    fn io_error_keeps_the_source() {
        let e: std::io::Error = DeadlineExceeded.into();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(e.get_ref().unwrap().is::<DeadlineExceeded>());
    }

    #[test]
    fn call_error_verdicts_classify_as_local_and_the_inner_error_does_not() {
        use crate::classify::{DefaultClassifier, Outcome, outcome_of};
        let verdicts: [CallError<std::io::Error>; 5] = [
            DeadlineExceeded::new().into(),
            AttemptTimedOut::new(std::time::Duration::from_secs(1)).into(),
            BreakerOpen::new(None).into(),
            NoEndpointAvailable::new(None).into(),
            CallError::AllEndpointsFailed {
                attempts: Vec::new(),
                last: Box::new(CallError::Inner(std::io::Error::other("reset"))),
            },
        ];
        for v in verdicts {
            assert!(v.is_local(), "{v:?}");
            let r: Result<std::convert::Infallible, _> = Err(v);
            assert_eq!(outcome_of(&DefaultClassifier, &r), Outcome::Local);
            let Err(v) = r;
            // Boxed, whatever the inner type: the verdict is the source (but a walk's own
            // verdict carries no verdict struct to find).
            let v = v.map_inner(|_| Custom);
            let walk = v.is_all_endpoints_failed();
            let boxed: Result<(), BoxError> = Err(v.into());
            let expected = if walk {
                Outcome::failed()
            } else {
                Outcome::Local
            };
            assert_eq!(outcome_of(&DefaultClassifier, &boxed), expected);
        }
        let inner: Result<(), CallError<std::io::Error>> =
            Err(CallError::Inner(std::io::Error::other("reset")));
        assert_eq!(outcome_of(&DefaultClassifier, &inner), Outcome::failed());
        let boxed: Result<(), BoxError> = Err(Box::new(CallError::Inner(Custom)));
        assert_eq!(outcome_of(&DefaultClassifier, &boxed), Outcome::failed());
    }

    #[test]
    fn a_walk_message_lists_eight_attempts_and_counts_the_rest() {
        use crate::classify::Outcome;
        let record = |i: usize| AttemptRecord {
            endpoint: if i % 2 == 0 { "east" } else { "west" }.into(),
            outcome: if i == 0 {
                Outcome::not_sent()
            } else {
                Outcome::throttled(None)
            },
            elapsed: std::time::Duration::ZERO,
        };
        let walk = |n: usize| CallError::AllEndpointsFailed {
            attempts: (0..n).map(record).collect(),
            last: Box::new(CallError::Inner(Custom)),
        };
        assert_eq!(
            walk(2).to_string(),
            "all endpoints failed after 2 attempts (east: not sent, west: throttled): custom"
        );
        let long = walk(10).to_string();
        assert!(
            long.ends_with("east: throttled, west: throttled, 2 more): custom"),
            "{long}"
        );
        assert_eq!(long.matches(": throttled").count(), 7);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("custom")]
    struct Custom;

    #[test]
    fn call_error_reads_the_last_error_of_a_walk() {
        let e: CallError<Custom> = CallError::AllEndpointsFailed {
            attempts: Vec::new(),
            last: Box::new(CallError::Inner(Custom)),
        };
        assert!(e.inner().is_some() && e.is_all_endpoints_failed() && !e.is_attempt_timed_out());
        assert_eq!(
            e.to_string(),
            "all endpoints failed after 0 attempts: custom"
        );
        assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "custom");
        let t: CallError<Custom> = CallError::AllEndpointsFailed {
            attempts: Vec::new(),
            last: Box::new(AttemptTimedOut::new(std::time::Duration::from_secs(2)).into()),
        };
        assert!(t.inner().is_none() && t.is_attempt_timed_out());
        let b: CallError<Custom> = BreakerOpen::new(Some(std::time::Duration::from_secs(3))).into();
        assert_eq!(b.retry_in(), Some(std::time::Duration::from_secs(3)));
        assert_eq!(b.to_string(), "circuit breaker open");
    }
}
