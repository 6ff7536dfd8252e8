//! After the handler: a transient failure restores the message at once, a permanent one too, a
//! message delivered `max_receives` times is left to the redrive, and a republisher takes a
//! transiently failed message (with a deduplication id) instead of the queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use steadfast::Outcome;
use steadfast::messaging::{Consumer, Message, WorkSignal};
use tokio::time::{Instant, sleep};

use crate::fake::{FakePublisher, FakeQueue};
use crate::{Events, at, secs, shutdown};

#[derive(Debug)]
struct DependencyDown;

#[tokio::test(start_paused = true)]
async fn a_failing_message_is_restored_until_max_receives_then_left_to_the_redrive() {
    let start = Instant::now();
    let queue = FakeQueue::new();
    let id = queue.send("poison");
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let events = Events::default();
    let consumer = Consumer::builder(queue.clone(), move |_m: Message, _s: WorkSignal| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>(DependencyDown) }
    })
    .visibility(secs(30))
    .max_receives(3)
    .on_event(events.hook())
    .build()
    .unwrap();
    let (_stop, signal) = shutdown();
    tokio::spawn(async move { consumer.run(signal).await });

    sleep(secs(1)).await;
    // Released twice at once, then the third delivery is left alone until its visibility ends.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(events.names(), ["restored", "restored", "dead-lettered"]);
    assert_eq!(queue.releases().len(), 2);
    assert_eq!(queue.visible_at(&id), Some(start + secs(30)));
    assert_eq!(at(start, queue.releases()[1].1), secs(0));
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_republishes_to_the_other_region_with_a_deduplication_id() {
    let queue = FakeQueue::new();
    let id = queue.send("order 42");
    let other_region = FakePublisher::default();
    let events = Events::default();
    let consumer = Consumer::builder(queue.clone(), |_m: Message, _s: WorkSignal| async {
        Err::<(), _>(DependencyDown)
    })
    .republish_to(other_region.clone())
    .on_event(events.hook())
    .build()
    .unwrap();
    let (_stop, signal) = shutdown();
    tokio::spawn(async move { consumer.run(signal).await });
    sleep(secs(1)).await;

    let published = other_region.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].body, "order 42");
    assert_eq!(published[0].deduplication_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        queue.deletes().len(),
        1,
        "deleted here once published there"
    );
    assert_eq!(events.names(), ["republished"]);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_restored_not_republished() {
    let queue = FakeQueue::new();
    queue.send("malformed");
    let other_region = FakePublisher::default();
    let events = Events::default();
    let consumer = Consumer::builder(queue.clone(), |_m: Message, _s: WorkSignal| async {
        Err::<(), _>(DependencyDown)
    })
    .classifier(|_: &Result<(), DependencyDown>| Outcome::Rejected)
    .republish_to(other_region.clone())
    .max_receives(1)
    .on_event(events.hook())
    .build()
    .unwrap();
    let (_stop, signal) = shutdown();
    tokio::spawn(async move { consumer.run(signal).await });
    sleep(secs(1)).await;
    assert!(other_region.published().is_empty());
    assert_eq!(events.names(), ["dead-lettered"]);
}
