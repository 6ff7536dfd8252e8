//! Graceful shutdown: a handler that finishes within the grace period completes its message;
//! one that does not is cancelled and its message released; an idle consumer stops at once.

use std::future::pending;
use std::sync::{Arc, Mutex};

use steadfast::messaging::{Consumer, Message, WorkSignal};
use tokio::time::{Instant, sleep};

use crate::fake::FakeQueue;
use crate::{Events, at, secs, shutdown};

#[tokio::test(start_paused = true)]
async fn shutdown_releases_an_in_flight_message_after_the_grace_period() {
    let start = Instant::now();
    let queue = FakeQueue::new();
    let id = queue.send("in flight");
    let cancelled_at = Arc::new(Mutex::new(None));
    let record = cancelled_at.clone();
    let events = Events::default();
    let consumer = Consumer::builder(queue.clone(), move |_m: Message, signal: WorkSignal| {
        let record = record.clone();
        async move {
            let watcher = signal.clone();
            tokio::spawn(async move {
                watcher.cancelled().await;
                *record.lock().unwrap() = Some(Instant::now());
            });
            pending::<Result<(), std::io::Error>>().await
        }
    })
    .visibility(secs(30))
    .shutdown_grace(secs(5))
    .on_event(events.hook())
    .build()
    .unwrap();
    let (stop, signal) = shutdown();
    let running = tokio::spawn(async move { consumer.run(signal).await });

    sleep(secs(12)).await;
    stop.send(()).unwrap();
    running.await.unwrap();
    assert_eq!(
        at(start, Instant::now()),
        secs(17),
        "run returns after the grace period"
    );
    tokio::task::yield_now().await;
    assert_eq!(*cancelled_at.lock().unwrap(), Some(start + secs(17)));
    let released: Vec<_> = queue
        .releases()
        .iter()
        .map(|r| (r.0.clone(), at(start, r.1)))
        .collect();
    assert_eq!(released, [(id.clone(), secs(17))]);
    assert_eq!(
        queue.visible_at(&id),
        Some(start + secs(17)),
        "visible again at once"
    );
    assert!(queue.deletes().is_empty());
    assert_eq!(events.names(), ["extended", "released"]);
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_finishes_within_the_grace_period_completes_its_message() {
    let start = Instant::now();
    let queue = FakeQueue::new();
    queue.send("almost done");
    queue.send("never started");
    let consumer = Consumer::builder(queue.clone(), |_m: Message, _s: WorkSignal| async {
        sleep(secs(14)).await;
        Ok::<(), std::io::Error>(())
    })
    .visibility(secs(30))
    .shutdown_grace(secs(5))
    .build()
    .unwrap();
    let (stop, signal) = shutdown();
    let running = tokio::spawn(async move { consumer.run(signal).await });

    sleep(secs(12)).await;
    stop.send(()).unwrap();
    running.await.unwrap();
    assert_eq!(at(start, Instant::now()), secs(14));
    assert_eq!(queue.deletes().len(), 1);
    assert!(queue.releases().is_empty());
    assert_eq!(queue.len(), 1, "the second message was never received");
}

#[tokio::test(start_paused = true)]
async fn an_idle_consumer_stops_at_once_in_its_long_poll() {
    let start = Instant::now();
    let queue = FakeQueue::new();
    let consumer = Consumer::builder(queue.clone(), |_m: Message, _s: WorkSignal| async {
        Ok::<(), std::io::Error>(())
    })
    .build()
    .unwrap();
    let (stop, signal) = shutdown();
    let running = tokio::spawn(async move { consumer.run(signal).await });
    sleep(secs(3)).await;
    stop.send(()).unwrap();
    running.await.unwrap();
    assert_eq!(at(start, Instant::now()), secs(3));
}
