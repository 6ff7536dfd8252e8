//! An in-memory queue with exact visibility timeouts (SQS's model) under tokio's clock, and a
//! publisher that records what it takes.

use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::messaging::{Message, Outgoing, Publisher, Queue};
use steadfast::{Outcome, TransientKind};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

/// What the fake queue refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FakeError {
    #[error("queue unreachable")]
    Unreachable,
    #[error("receipt is not the message's current delivery")]
    StaleReceipt,
}

#[derive(Debug)]
struct Entry {
    id: String,
    body: String,
    visible_at: Instant,
    receipt: Option<String>,
    receive_count: u32,
}

#[derive(Debug, Default)]
struct State {
    entries: Vec<Entry>,
    sent: u32,
    deliveries: u32,
    unreachable: bool,
    receives: u32,
    extends: Vec<(String, Duration, Instant)>,
    releases: Vec<(String, Instant)>,
    deletes: Vec<(String, Instant)>,
}

/// A queue: a message received is invisible until its visibility runs out, exactly.
#[derive(Debug, Clone, Default)]
pub struct FakeQueue {
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
}

impl FakeQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a message, visible at once; returns its id.
    pub fn send(&self, body: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.sent += 1;
        let id = format!("m{}", s.sent);
        s.entries.push(Entry {
            id: id.clone(),
            body: body.to_owned(),
            visible_at: Instant::now(),
            receipt: None,
            receive_count: 0,
        });
        drop(s);
        self.arrived.notify_waiters();
        id
    }

    /// Every call fails with `Unreachable` while set.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.state.lock().unwrap().unreachable = unreachable;
    }

    /// The successful extensions: message id, visibility, when.
    pub fn extends(&self) -> Vec<(String, Duration, Instant)> {
        self.state.lock().unwrap().extends.clone()
    }

    /// The successful releases: message id, when.
    pub fn releases(&self) -> Vec<(String, Instant)> {
        self.state.lock().unwrap().releases.clone()
    }

    /// The deletions: message id, when.
    pub fn deletes(&self) -> Vec<(String, Instant)> {
        self.state.lock().unwrap().deletes.clone()
    }

    /// How many receive calls (and long-poll wake-ups) reached it.
    pub fn receives(&self) -> u32 {
        self.state.lock().unwrap().receives
    }

    /// Messages not deleted.
    pub fn len(&self) -> usize {
        self.state.lock().unwrap().entries.len()
    }

    /// When message `id` becomes visible next (`None`: deleted).
    pub fn visible_at(&self, id: &str) -> Option<Instant> {
        let s = self.state.lock().unwrap();
        s.entries.iter().find(|e| e.id == id).map(|e| e.visible_at)
    }

    fn current<'s>(s: &'s mut State, receipt: &str) -> Result<&'s mut Entry, FakeError> {
        if s.unreachable {
            return Err(FakeError::Unreachable);
        }
        s.entries
            .iter_mut()
            .find(|e| e.receipt.as_deref() == Some(receipt) && e.visible_at > Instant::now())
            .ok_or(FakeError::StaleReceipt)
    }
}

impl Queue for FakeQueue {
    type Error = FakeError;

    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Message>, FakeError> {
        let deadline = Instant::now() + wait;
        loop {
            let mut arrived = pin!(self.arrived.notified());
            arrived.as_mut().enable();
            let next_visible = {
                let mut s = self.state.lock().unwrap();
                s.receives += 1;
                if s.unreachable {
                    return Err(FakeError::Unreachable);
                }
                let now = Instant::now();
                let mut batch = Vec::new();
                let mut deliveries = s.deliveries;
                for e in s.entries.iter_mut() {
                    if batch.len() as u32 == max {
                        break;
                    }
                    if e.visible_at <= now {
                        deliveries += 1;
                        e.visible_at = now + visibility;
                        e.receive_count += 1;
                        let receipt = format!("{}#{}", e.id, deliveries);
                        e.receipt = Some(receipt.clone());
                        batch.push(
                            Message::new(e.id.clone(), receipt, e.body.clone())
                                .with_receive_count(e.receive_count),
                        );
                    }
                }
                s.deliveries = deliveries;
                if !batch.is_empty() || now >= deadline {
                    return Ok(batch);
                }
                s.entries.iter().map(|e| e.visible_at).min()
            };
            let until = next_visible.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                _ = sleep_until(until) => {}
                _ = &mut arrived => {}
            }
        }
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        let entry = Self::current(&mut s, receipt)?;
        entry.visible_at = now + visibility;
        let id = entry.id.clone();
        if visibility.is_zero() {
            s.releases.push((id, now));
            drop(s);
            self.arrived.notify_waiters();
        } else {
            s.extends.push((id, visibility, now));
        }
        Ok(())
    }

    async fn delete(&self, receipt: &str) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        let id = Self::current(&mut s, receipt)?.id.clone();
        s.entries.retain(|e| e.id != id);
        s.deletes.push((id, Instant::now()));
        Ok(())
    }
}

/// How a fake publisher answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Answer {
    #[default]
    Accept,
    /// Fails at once: the region is down.
    Fail,
    /// Never answers: the publish may have been applied when it times out.
    Hang,
}

/// A publisher that records what it publishes, or fails, or hangs.
#[derive(Debug, Clone, Default)]
pub struct FakePublisher {
    published: Arc<Mutex<Vec<Outgoing>>>,
    answer: Arc<Mutex<Answer>>,
    calls: Arc<Mutex<u32>>,
}

impl FakePublisher {
    pub fn published(&self) -> Vec<Outgoing> {
        self.published.lock().unwrap().clone()
    }

    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

impl Publisher for FakePublisher {
    type Error = FakeError;

    /// Unreachable is a refused connection: the message was provably not sent.
    fn outcome(_: &FakeError) -> Outcome {
        Outcome::transient(TransientKind::NotSent)
    }

    async fn publish(&self, message: &Outgoing) -> Result<(), FakeError> {
        *self.calls.lock().unwrap() += 1;
        let answer = *self.answer.lock().unwrap();
        match answer {
            Answer::Accept => {
                self.published.lock().unwrap().push(message.clone());
                Ok(())
            }
            Answer::Fail => Err(FakeError::Unreachable),
            Answer::Hang => std::future::pending().await,
        }
    }
}
