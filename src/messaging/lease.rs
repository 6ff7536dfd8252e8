//! The lease: extends a message's visibility while its handler works, and says how the work
//! ended (finished, the lease lost, or abandoned at shutdown).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep_until, timeout};

use super::queue::Queue;
use crate::event::{Event, OnEvent};

/// How a lease ended.
#[derive(Debug)]
pub(crate) enum Held<T> {
    /// The handler finished, with this result, while the message was still its own.
    Finished(T),
    /// An extension failed and the visibility would run out before the next try.
    Lost,
    /// Shutdown came and the handler did not finish within the grace period.
    Abandoned,
}

/// The caller's shutdown future, remembered once it has fired.
#[derive(Debug)]
pub(crate) struct Shutdown<S> {
    signal: Pin<Box<S>>,
    fired: bool,
}

impl<S: Future> Shutdown<S> {
    pub(crate) fn new(signal: S) -> Self {
        Self {
            signal: Box::pin(signal),
            fired: false,
        }
    }

    /// Whether shutdown has been asked for, polling the signal if not yet.
    pub(crate) fn poll_fired(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.fired && self.signal.as_mut().poll(cx).is_ready() {
            self.fired = true;
        }
        self.fired
    }

    /// Whether shutdown has been asked for, without waiting.
    pub(crate) fn fired(&mut self) -> bool {
        let waker = std::task::Waker::noop();
        self.poll_fired(&mut Context::from_waker(waker))
    }
}

/// One message's lease settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terms {
    pub(crate) visibility: Duration,
    pub(crate) every: Duration,
    pub(crate) grace: Duration,
}

/// An extension in flight: it resolves to when it was sent and whether it succeeded.
type Extension<'q> = Pin<Box<dyn Future<Output = (Instant, bool)> + Send + 'q>>;

/// Polls `work` until it finishes, extending the delivery `receipt` to `terms.visibility` every
/// `terms.every`. An extension is one call, bounded by the time to the next one; a failed one is
/// tried again at the next tick if the visibility lasts until then, else the lease is lost. On
/// shutdown the work gets `terms.grace` more (still extended), then is abandoned.
pub(crate) async fn hold<Q, W, S, H>(
    queue: &Q,
    message_id: &str,
    receipt: &str,
    terms: Terms,
    mut work: Pin<&mut W>,
    shutdown: &mut Shutdown<S>,
    hook: &H,
) -> Held<W::Output>
where
    Q: Queue,
    W: Future,
    S: Future,
    H: OnEvent,
{
    let start = Instant::now();
    let mut expires = start + terms.visibility;
    let mut tick = pin!(sleep_until(start + terms.every));
    let mut grace: Option<Pin<Box<Sleep>>> = None;
    // The extension in flight: when it was sent, and whether it succeeded.
    let mut extension: Option<Extension<'_>> = None;
    poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Held::Finished(out));
        }
        if grace.is_none() && shutdown.poll_fired(cx) {
            grace = Some(Box::pin(sleep_until(Instant::now() + terms.grace)));
        }
        if let Some(end) = grace.as_mut() {
            if end.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Held::Abandoned);
            }
        }
        loop {
            if let Some(pending) = extension.as_mut() {
                let Poll::Ready((sent, extended)) = pending.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                extension = None;
                let now = Instant::now();
                match extended {
                    true => {
                        expires = sent + terms.visibility;
                        hook.on_event(&Event::LeaseExtended {
                            message_id,
                            visibility: terms.visibility,
                        });
                    }
                    false if now + terms.every >= expires => return Poll::Ready(Held::Lost),
                    false => {}
                }
                tick.as_mut().reset(now + terms.every);
            }
            if tick.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let sent = Instant::now();
            let bound = terms.every.min(expires.saturating_duration_since(sent));
            let call = timeout(bound, queue.extend(receipt, terms.visibility));
            extension = Some(Box::pin(
                async move { (sent, matches!(call.await, Ok(Ok(())))) },
            ));
        }
    })
    .await
}
