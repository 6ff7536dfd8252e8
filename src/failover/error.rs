//! The error types a failover can return.

use crate::error::{
    AllEndpointsFailed, AttemptRecord, AttemptTimedOut, BoxError, CallError, DeadlineExceeded,
    NoEndpointAvailable,
};

/// The error types a failover can return: the endpoints' own error type, able to hold this
/// module's errors and to build the error of a walk whose every attempt failed.
///
/// Implemented by every type that holds [`AllEndpointsFailed`] (with its last error boxed):
/// [`BoxError`] and [`std::io::Error`]; and by [`CallError<E>`](crate::CallError), which keeps
/// the last error typed.
pub trait FailoverError:
    From<NoEndpointAvailable> + From<DeadlineExceeded> + Sized + 'static
{
    /// The error of a walk that made `attempts` and whose last attempt failed with `last`.
    fn all_endpoints_failed(attempts: Vec<AttemptRecord>, last: Self) -> Self;

    /// The error of a walk that made `attempts` and whose last attempt was cut by the attempt
    /// timeout (or its endpoint was not ready within it).
    fn all_endpoints_timed_out(attempts: Vec<AttemptRecord>, last: AttemptTimedOut) -> Self;
}

impl<E> FailoverError for E
where
    E: From<AllEndpointsFailed>
        + From<NoEndpointAvailable>
        + From<DeadlineExceeded>
        + Into<BoxError>
        + 'static,
{
    fn all_endpoints_failed(attempts: Vec<AttemptRecord>, last: Self) -> Self {
        AllEndpointsFailed::new(attempts, last).into()
    }

    fn all_endpoints_timed_out(attempts: Vec<AttemptRecord>, last: AttemptTimedOut) -> Self {
        AllEndpointsFailed::new(attempts, last).into()
    }
}

impl<E: 'static> FailoverError for CallError<E> {
    fn all_endpoints_failed(attempts: Vec<AttemptRecord>, last: Self) -> Self {
        CallError::AllEndpointsFailed {
            attempts,
            last: Box::new(last),
        }
    }

    fn all_endpoints_timed_out(attempts: Vec<AttemptRecord>, last: AttemptTimedOut) -> Self {
        Self::all_endpoints_failed(attempts, CallError::AttemptTimedOut(last))
    }
}
