//! The lease: extensions while the handler works, a killed consumer's message redelivered, and a
//! failed extension cancelling the handler.

use std::future::pending;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use steadfast::messaging::{Consumer, Message, WorkSignal};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};

use crate::fake::FakeQueue;
use crate::{Events, at, secs, shutdown};

#[tokio::test(start_paused = true)]
async fn a_slow_handler_keeps_its_message_across_three_extensions() {
    let start = Instant::now();
    let queue = FakeQueue::new();
    queue.send("slow");
    let calls = Arc::new(AtomicU32::new(0));
    let events = Events::default();
    let mut stops = Vec::new();
    // Two consumers: the second must never see the message while the first holds it.
    for _ in 0..2 {
        let calls = calls.clone();
        let consumer = Consumer::builder(queue.clone(), move |_m: Message, _s: WorkSignal| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                sleep(secs(35)).await;
                Ok::<(), std::io::Error>(())
            }
        })
        .visibility(secs(30))
        .on_event(events.hook())
        .build()
        .unwrap();
        let (stop, signal) = shutdown();
        stops.push(stop);
        tokio::spawn(async move { consumer.run(signal).await });
    }
    sleep(secs(120)).await;
    let extended: Vec<_> = queue.extends().iter().map(|e| at(start, e.2)).collect();
    assert_eq!(extended, [secs(10), secs(20), secs(30)]);
    assert!(queue.extends().iter().all(|e| e.1 == secs(30)));
    let deleted: Vec<_> = queue.deletes().iter().map(|d| at(start, d.1)).collect();
    assert_eq!(
        deleted,
        [secs(35)],
        "deleted the moment the handler finished"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(events.names(), ["extended", "extended", "extended"]);
}

#[tokio::test(start_paused = true)]
async fn a_killed_consumers_message_reappears_after_the_visibility_and_is_processed_once() {
    let start = Instant::now();
    let queue = FakeQueue::new();
    let id = queue.send("orphan");
    let (got, mut received) = mpsc::unbounded_channel();
    let doomed = Consumer::builder(queue.clone(), move |_m: Message, _s: WorkSignal| {
        let _ = got.send(());
        pending::<Result<(), std::io::Error>>()
    })
    .visibility(secs(30))
    .build()
    .unwrap();
    let (_stop_doomed, signal) = shutdown();
    let killed = tokio::spawn(async move { doomed.run(signal).await });
    received.recv().await.unwrap();
    assert_eq!(Instant::now(), start);

    let survivor_saw = Arc::new(Mutex::new(Vec::new()));
    let saw = survivor_saw.clone();
    let survivor = Consumer::builder(queue.clone(), move |m: Message, _s: WorkSignal| {
        saw.lock()
            .unwrap()
            .push((m.id, m.receive_count, Instant::now()));
        async { Ok::<(), std::io::Error>(()) }
    })
    .visibility(secs(30))
    .build()
    .unwrap();
    let (_stop_survivor, signal) = shutdown();
    tokio::spawn(async move { survivor.run(signal).await });

    sleep(secs(15)).await;
    killed.abort();
    sleep(secs(185)).await;

    // Extended once at 10 s, so visible again at 40 s, and not a moment before.
    assert_eq!(queue.extends().len(), 1);
    let saw = survivor_saw.lock().unwrap().clone();
    assert_eq!(saw.len(), 1, "processed once: {saw:?}");
    assert_eq!((saw[0].0.as_str(), saw[0].1), (id.as_str(), 2));
    assert_eq!(at(start, saw[0].2), secs(40));
    assert_eq!(queue.deletes().len(), 1);
    assert_eq!(queue.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_extension_cancels_the_handler_and_the_message_is_not_deleted() {
    let start = Instant::now();
    let queue = FakeQueue::new();
    let id = queue.send("contested");
    let cancelled_at = Arc::new(Mutex::new(Vec::new()));
    let record = cancelled_at.clone();
    let events = Events::default();
    let consumer = Consumer::builder(queue.clone(), move |m: Message, signal: WorkSignal| {
        let record = record.clone();
        async move {
            if m.receive_count == 1 {
                signal.cancelled().await;
                record.lock().unwrap().push(Instant::now());
            }
            // Claims success: the consumer must not delete a message it no longer owns.
            Ok::<(), std::io::Error>(())
        }
    })
    .visibility(secs(30))
    .on_event(events.hook())
    .build()
    .unwrap();
    let (_stop, signal) = shutdown();
    tokio::spawn(async move { consumer.run(signal).await });

    sleep(secs(5)).await;
    queue.set_unreachable(true);
    // Extensions fail at 10 s (retried: the visibility lasts past 20 s) and at 20 s (the next
    // try would be at 30 s, when the visibility runs out): the lease is lost at 20 s.
    sleep(secs(20)).await;
    let cancelled: Vec<_> = cancelled_at
        .lock()
        .unwrap()
        .iter()
        .map(|i| at(start, *i))
        .collect();
    assert_eq!(cancelled, [secs(20)]);
    assert!(queue.deletes().is_empty());
    assert_eq!(events.names(), ["lost"]);

    // The queue is back: the message reappears at 30 s and its second delivery completes.
    queue.set_unreachable(false);
    sleep(secs(60)).await;
    let deleted: Vec<_> = queue
        .deletes()
        .iter()
        .map(|d| (d.0.clone(), at(start, d.1)))
        .collect();
    assert_eq!(deleted, [(id, secs(30))]);
}
