//! Receiving across regions: the consumer reads the other region's queue when the primary's is
//! down or switched off, settles each message in the region that delivered it, and returns to
//! the primary.

use std::sync::{Arc, Mutex};

use steadfast::breaker::BreakerState;
use steadfast::failover::Switch;
use steadfast::messaging::{Consumer, Message, RegionalQueue, WorkSignal};
use tokio::time::{Instant, sleep};

use crate::fake::FakeQueue;
use crate::{at, secs, shutdown};

type Seen = Arc<Mutex<Vec<(String, std::time::Duration)>>>;

fn consume(
    queue: RegionalQueue<FakeQueue>,
    seen: Seen,
    start: Instant,
) -> tokio::sync::oneshot::Sender<()> {
    let consumer = Consumer::builder(queue, move |m: Message, _s: WorkSignal| {
        seen.lock()
            .unwrap()
            .push((m.body, at(start, Instant::now())));
        async { Ok::<(), std::io::Error>(()) }
    })
    .visibility(secs(30))
    .wait(secs(5))
    .build()
    .unwrap();
    let (stop, signal) = shutdown();
    tokio::spawn(async move { consumer.run(signal).await });
    stop
}

fn regional(a: &FakeQueue, b: &FakeQueue) -> RegionalQueue<FakeQueue> {
    RegionalQueue::build([("a", a.clone()), ("b", b.clone())], |f| {
        f.attempt_timeout(secs(10)).breakers(|b| {
            b.consecutive_failures(2)
                .open_duration(secs(30))
                .required_successes(1)
        })
    })
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_consumer_reads_the_other_region_while_the_primary_is_down_then_returns() {
    let start = Instant::now();
    let (a, b) = (FakeQueue::new(), FakeQueue::new());
    let queue = regional(&a, &b);
    let handle = queue.handle();
    a.set_unreachable(true);
    b.send("from b");
    let seen = Seen::default();
    let _stop = consume(queue, seen.clone(), start);

    sleep(secs(1)).await;
    assert_eq!(*seen.lock().unwrap(), [("from b".to_owned(), secs(0))]);
    assert_eq!(
        b.deletes().len(),
        1,
        "settled in the region that delivered it"
    );
    assert_eq!(handle.breaker_state("a"), Some(BreakerState::Open));
    let a_receives = a.receives();
    sleep(secs(20)).await;
    assert_eq!(
        a.receives(),
        a_receives,
        "the open breaker keeps receives away from a"
    );

    // a recovers; its breaker half-opens at 30 s (plus the long poll in flight at b) and the
    // probe brings the consumer back.
    a.set_unreachable(false);
    a.send("from a");
    sleep(secs(20)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].0, "from a");
    assert!(seen[1].1 >= secs(30) && seen[1].1 <= secs(35), "{seen:?}");
    assert_eq!(a.deletes().len(), 1);
    assert_eq!(&*handle.serving().endpoint, "a");
}

#[tokio::test(start_paused = true)]
async fn a_routing_control_switched_off_moves_the_consumer_and_back() {
    let start = Instant::now();
    let (a, b) = (FakeQueue::new(), FakeQueue::new());
    let queue = regional(&a, &b);
    let handle = queue.handle();
    let seen = Seen::default();
    let _stop = consume(queue, seen.clone(), start);

    sleep(secs(1)).await;
    handle.routing().set("a", Switch::Off).unwrap();
    b.send("b while a is off");
    a.send("a while off");
    // The long poll in flight at a (from 0 s to 5 s) returns a's message first: it was
    // already asked for. From then on, only b is read.
    sleep(secs(10)).await;
    let first: Vec<_> = seen.lock().unwrap().iter().map(|s| s.0.clone()).collect();
    assert!(first.contains(&"b while a is off".to_owned()), "{first:?}");
    let a_receives = a.receives();
    sleep(secs(10)).await;
    assert_eq!(a.receives(), a_receives);

    handle.routing().set("a", Switch::On).unwrap();
    a.send("a is back");
    sleep(secs(10)).await;
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.0, "a is back");
    assert!(b.len() == 0 && a.len() == 0);
}

#[tokio::test(start_paused = true)]
async fn messages_left_in_the_other_region_are_swept_after_an_empty_long_poll() {
    let start = Instant::now();
    let (a, b) = (FakeQueue::new(), FakeQueue::new());
    // Published to b during an outage of a that is over: a serves, b is not being read.
    for n in 0..3 {
        b.send(&format!("stranded {n}"));
    }
    let seen = Seen::default();
    let _stop = consume(regional(&a, &b), seen.clone(), start);

    sleep(secs(6)).await;
    // a's long poll comes back empty at 5 s; then b is drained without waiting.
    let seen = seen.lock().unwrap().clone();
    let at: Vec<_> = seen.iter().map(|s| s.1).collect();
    assert_eq!(at, [secs(5), secs(5), secs(5)], "{seen:?}");
    assert_eq!((b.len(), b.deletes().len()), (0, 3));
}
