//! The error of a call through a [`FallbackLayer`](super::FallbackLayer).

use std::convert::Infallible;
use std::fmt;

use super::trigger::Trigger;

/// The error of a call through a [`FallbackLayer`](super::FallbackLayer): the call's own error,
/// when the fallback did not answer it, or the fallback's own error, typed.
#[derive(Debug)]
#[non_exhaustive]
pub enum FallbackError<E, F> {
    /// The inner service's error, as it was: a failure the fallback does not answer (not
    /// selected, a rejection or a local error), or a `poll_ready` error (no request to answer
    /// for). Its message and source are the inner error's.
    Inner(E),
    /// The call failed for `trigger`, and the fallback failed too.
    Fallback {
        /// Why the fallback ran.
        trigger: Trigger,
        /// The fallback's error.
        error: F,
    },
}

impl<E, F> FallbackError<E, F> {
    /// The inner service's error, for [`Inner`](Self::Inner).
    pub fn inner(&self) -> Option<&E> {
        match self {
            FallbackError::Inner(e) => Some(e),
            FallbackError::Fallback { .. } => None,
        }
    }

    /// The fallback's error, for [`Fallback`](Self::Fallback).
    pub fn fallback_error(&self) -> Option<&F> {
        match self {
            FallbackError::Inner(_) => None,
            FallbackError::Fallback { error, .. } => Some(error),
        }
    }

    /// Why the fallback ran, for [`Fallback`](Self::Fallback).
    pub fn trigger(&self) -> Option<Trigger> {
        match self {
            FallbackError::Inner(_) => None,
            FallbackError::Fallback { trigger, .. } => Some(*trigger),
        }
    }
}

impl<E> FallbackError<E, Infallible> {
    /// The inner service's error: a fallback that cannot fail leaves no other.
    pub fn into_inner(self) -> E {
        match self {
            FallbackError::Inner(e) => e,
            FallbackError::Fallback { error, .. } => match error {},
        }
    }
}

impl<E: fmt::Display, F: fmt::Display> fmt::Display for FallbackError<E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FallbackError::Inner(e) => e.fmt(f),
            FallbackError::Fallback { trigger, error } => {
                write!(f, "fallback ({trigger}) failed: {error}")
            }
        }
    }
}

/// The inner error's message is its own; its source is not repeated, so that the stacks of
/// this library, whose error is a [`BoxError`](crate::BoxError) (not itself an `Error`), have an
/// `Error` too (`?` into a `BoxError`): read the inner error with [`inner`](Self::inner). The
/// fallback's error is the source of [`Fallback`](Self::Fallback).
impl<E, F> std::error::Error for FallbackError<E, F>
where
    E: fmt::Debug + fmt::Display,
    F: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FallbackError::Inner(_) => None,
            FallbackError::Fallback { error, .. } => Some(error),
        }
    }
}
