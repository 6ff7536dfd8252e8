//! Which failures make a fallback answer: the [`Trigger`] of a failed call, the rule that
//! selects them ([`When`]), and how a verdict is read from an error ([`ReadVerdict`]).

use std::fmt;

use crate::classify::{Classify, Outcome, TransientKind, outcome_of, verdict_of};
use crate::error::Verdict;

/// Why a call's result is handed to the fallback: one of this library's verdicts, or a failure
/// by the classifier's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Trigger {
    /// The call ended with one of this library's verdicts (a deadline, a timed-out attempt, an
    /// open breaker, a failover walk that failed everywhere or found no endpoint).
    Verdict(Verdict),
    /// The classifier called the result a transient failure (`Outcome::Transient`): the
    /// dependency's error, or a failing response such as an HTTP 503 under the HTTP classifier.
    Failed(Outcome),
}

impl Trigger {
    /// The verdict, for [`Trigger::Verdict`].
    pub fn verdict(&self) -> Option<Verdict> {
        match self {
            Trigger::Verdict(v) => Some(*v),
            Trigger::Failed(_) => None,
        }
    }

    /// Whether this is one of the library's verdicts.
    pub fn is_verdict(&self) -> bool {
        matches!(self, Trigger::Verdict(_))
    }

    /// Its name in snake case: the verdict's ([`Verdict::as_str`]), or the transient
    /// failure's kind (`not_sent`, `timeout`, `throttled`, `failed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Trigger::Verdict(v) => v.as_str(),
            Trigger::Failed(outcome) => match outcome.transient_kind() {
                Some(TransientKind::NotSent) => "not_sent",
                Some(TransientKind::Timeout) => "timeout",
                Some(TransientKind::Throttled) => "throttled",
                Some(TransientKind::Failed) | None => "failed",
            },
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Selects the triggers a [fallback layer](super::FallbackLayer) answers. [`Every`] (the
/// default) selects all of them; a closure `Fn(&Trigger) -> bool` narrows them.
pub trait When {
    /// Whether the fallback answers a call failed for `trigger`.
    fn fires(&self, trigger: &Trigger) -> bool;
}

/// Every trigger: every verdict of this library and every transient failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Every;

impl When for Every {
    #[inline(always)]
    fn fires(&self, _: &Trigger) -> bool {
        true
    }
}

impl<F: Fn(&Trigger) -> bool> When for F {
    #[inline]
    fn fires(&self, trigger: &Trigger) -> bool {
        self(trigger)
    }
}

/// Reads which of this library's verdicts an error `E` is. [`AnyVerdict`] (the default) reads
/// the error types [`verdict_of`] knows; a function `Fn(&E) -> Option<Verdict>` reads others,
/// such as [`CallError::verdict`](crate::CallError::verdict) for a `CallError` over any error
/// type, or a caller's own error enum with a variant per verdict.
pub trait ReadVerdict<E> {
    /// The verdict `error` is, if any.
    fn verdict(&self, error: &E) -> Option<Verdict>;
}

/// Reads verdicts with [`verdict_of`]: the verdict structs themselves, and [`BoxError`],
/// `std::io::Error` and the common `CallError`s that are or wrap one.
///
/// [`BoxError`]: crate::BoxError
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnyVerdict;

impl<E: 'static> ReadVerdict<E> for AnyVerdict {
    #[inline]
    fn verdict(&self, error: &E) -> Option<Verdict> {
        verdict_of(error)
    }
}

impl<E, F: Fn(&E) -> Option<Verdict>> ReadVerdict<E> for F {
    #[inline]
    fn verdict(&self, error: &E) -> Option<Verdict> {
        self(error)
    }
}

/// What a finished call means to the fallback.
pub(crate) enum Settled {
    /// A success (the classifier's `Success`): the stale helper keeps it.
    Success,
    /// An answer that is neither a success nor a failure the fallback may answer (a rejection, a
    /// `Local` error that is no verdict): returned as it is.
    Answer,
    /// A failure the fallback may answer.
    Failed(Trigger),
}

impl Settled {
    /// The verdict first (an error the reader recognises), then the classifier's outcome.
    #[inline]
    pub(crate) fn of<T, E: 'static>(
        result: &Result<T, E>,
        classifier: &impl Classify<T, E>,
        verdicts: &impl ReadVerdict<E>,
    ) -> Self {
        if let Err(e) = result {
            if let Some(v) = verdicts.verdict(e) {
                return Settled::Failed(Trigger::Verdict(v));
            }
        }
        match outcome_of(classifier, result) {
            Outcome::Success => Settled::Success,
            failed @ Outcome::Transient { .. } => Settled::Failed(Trigger::Failed(failed)),
            Outcome::Rejected | Outcome::Local => Settled::Answer,
        }
    }
}
