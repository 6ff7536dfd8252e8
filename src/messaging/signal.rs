//! The work signal a handler watches: cancelled when its message is no longer its own.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Tells a handler that its message is no longer its own: the lease failed to extend (the queue
/// was unreachable until the visibility ran out), or the consumer is shutting down and the
/// handler did not finish within the grace period.
///
/// A handler passes it to the work it starts and checks it before any effect that completes the
/// message (a write, a reply): another consumer may already be processing the same message.
/// Cheap to clone; every clone sees the same cancellation.
///
/// # Examples
///
/// ```
/// use steadfast::messaging::WorkSignal;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let signal = WorkSignal::new();
/// let watcher = signal.clone();
/// assert!(!watcher.is_cancelled());
/// signal.cancel();
/// watcher.cancelled().await; // returns at once
/// assert!(watcher.is_cancelled());
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct WorkSignal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    notify: Notify,
}

impl WorkSignal {
    /// A signal not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels it: every clone's [`cancelled`](Self::cancelled) returns. Idempotent.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// Whether it has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// Waits until it is cancelled (returns at once if it already is).
    pub async fn cancelled(&self) {
        let mut notified = pin!(self.inner.notify.notified());
        notified.as_mut().enable();
        if self.is_cancelled() {
            return;
        }
        notified.await;
    }
}
