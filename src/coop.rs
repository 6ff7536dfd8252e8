//! Cooperative yielding: a loop that can run many immediate iterations within one poll (attempts
//! failing at once, with no sleep between them) spends tokio's per-task budget, and yields to the
//! runtime when the budget is spent, as tokio's own resources do.

use std::task::{Context, Poll};

/// Spends one unit of the current task's cooperative budget: `Ready` to go on; `Pending` (the
/// task is woken at once) when the budget is spent, so that the runtime runs other tasks and
/// timers first. Outside a tokio runtime there is no budget and it is always `Ready`.
#[inline]
pub(crate) fn proceed(cx: &mut Context<'_>) -> Poll<()> {
    match tokio::task::coop::poll_proceed(cx) {
        Poll::Ready(restore) => {
            restore.made_progress();
            Poll::Ready(())
        }
        Poll::Pending => Poll::Pending,
    }
}
