//! The limit of one phase of a call (a hop, or an attempt and its readiness): the earlier of the
//! deadline and the attempt timeout, on one reusable tokio timer. Shared by the retry and
//! failover futures.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep_until};

use crate::deadline::Deadline;

/// What the timer is armed for in the current phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// Not armed in this phase yet (or no limit is configured).
    Unarmed,
    /// Armed at the deadline: the call ends when it fires.
    Deadline,
    /// Armed at the attempt timeout: the attempt ends when it fires.
    Attempt,
}

/// Arms the timer at `at`, creating it the first time.
pub(crate) fn arm(mut timer: Pin<&mut Option<Sleep>>, at: Instant) {
    match timer.as_mut().as_pin_mut() {
        Some(sleep) => sleep.reset(at),
        None => timer.set(Some(sleep_until(at))),
    }
}

/// The end of a phase starting now: the earlier of the deadline and the attempt timeout from
/// now. `None` when neither is configured (or the timeout is too long to represent).
fn end(deadline: Deadline, attempt_timeout: Option<Duration>) -> Option<(Instant, Limit)> {
    let deadline = deadline.instant().map(Instant::from_std);
    let attempt_end = attempt_timeout.and_then(|t| Instant::now().checked_add(t));
    match (deadline, attempt_end) {
        (None, None) => None,
        (Some(d), Some(a)) if a < d => Some((a, Limit::Attempt)),
        (Some(d), _) => Some((d, Limit::Deadline)),
        (None, Some(a)) => Some((a, Limit::Attempt)),
    }
}

impl Limit {
    /// Polls the limit of the current phase, arming the timer the first time the phase is
    /// pending. Pending forever when no limit applies.
    pub(crate) fn poll(
        &mut self,
        mut timer: Pin<&mut Option<Sleep>>,
        deadline: Deadline,
        attempt_timeout: Option<Duration>,
        cx: &mut Context<'_>,
    ) -> Poll<Limit> {
        if *self == Limit::Unarmed {
            let Some((at, limit)) = end(deadline, attempt_timeout) else {
                return Poll::Pending;
            };
            arm(timer.as_mut(), at);
            *self = limit;
        }
        match timer.as_pin_mut() {
            Some(sleep) => sleep.poll(cx).map(|()| *self),
            None => Poll::Pending,
        }
    }

    /// The limit of the current phase if it has already passed (checked before sending, so that
    /// an attempt is never sent once its time is up).
    #[inline]
    pub(crate) fn passed(self, timer: Pin<&mut Option<Sleep>>) -> Option<Limit> {
        let sleep = timer.as_pin_mut()?;
        (self != Limit::Unarmed && Instant::now() >= sleep.deadline()).then_some(self)
    }
}
