//! The messaging core under paused time, over an in-memory queue that implements visibility
//! exactly (`fake.rs`): the lease (`lease.rs`), what happens after the handler (`outcome.rs`),
//! shutdown (`shutdown.rs`), readiness (`health.rs`), publishing and receiving across regions (`publish.rs`,
//! `receive.rs`) and the builder's refusals (`config.rs`).

mod config;
mod fake;
mod health;
mod lease;
mod outcome;
mod publish;
mod receive;
mod shutdown;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::event::Event;
use tokio::sync::oneshot;
use tokio::time::Instant;

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The events a consumer emitted, by name and message id.
#[derive(Debug, Clone, Default)]
pub struct Events(Arc<Mutex<Vec<(&'static str, String)>>>);

impl Events {
    pub fn hook(&self) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
        let events = self.0.clone();
        move |event: &Event<'_>| {
            let entry = match *event {
                Event::LeaseExtended { message_id, .. } => ("extended", message_id),
                Event::LeaseLost { message_id, .. } => ("lost", message_id),
                Event::LeaseReleased { message_id, .. } => ("released", message_id),
                Event::MessageRestored { message_id, .. } => ("restored", message_id),
                Event::MessageRepublished { message_id, .. } => ("republished", message_id),
                Event::MessageDeadLettered { message_id, .. } => ("dead-lettered", message_id),
                _ => return,
            };
            events.lock().unwrap().push((entry.0, entry.1.to_owned()));
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().iter().map(|(n, _)| *n).collect()
    }
}

/// A shutdown trigger and the future `run` takes.
pub fn shutdown() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

/// Seconds since `start`, exact under paused time.
pub fn at(start: Instant, instant: Instant) -> Duration {
    instant - start
}
