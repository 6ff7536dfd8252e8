//! The messaging module over real SQS clients against moto servers standing for two regions
//! (feature `sqs`; real time, real sockets: the tests count, and wait on channels and on the
//! servers' own answers).

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use steadfast::Backoff;
use steadfast::event::Event;
use steadfast::failover::FailoverBuilder;
use steadfast::messaging::{
    Consumer, Message, Outgoing, Publisher, RegionalPublisher, RegionalQueue, SqsQueue, WorkSignal,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use crate::local::{Moto, required_env, sdk_config};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
/// The longest any step may take on a loaded machine before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

fn sqs_at(url: &str, region: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::from(&sdk_config())
        .endpoint_url(url)
        .region(aws_types::region::Region::new(region.to_owned()))
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// Creates queue `name` at the moto server `url`; its handle.
async fn queue_at(url: &str, region: &str, name: &str) -> SqsQueue {
    let client = sqs_at(url, region);
    let out = client.create_queue().queue_name(name).send().await.unwrap();
    SqsQueue::new(client, out.queue_url.unwrap())
}

/// Visible and in-flight messages of `queue`, as SQS counts them.
async fn counts(client: &aws_sdk_sqs::Client, url: &str) -> (u32, u32) {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes.unwrap_or_default();
    let get = |name: QueueAttributeName| attrs.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// One pass, a 10 s attempt timeout, breakers opening after 2 failures for 500 ms.
fn breakers<S, C, R>(f: FailoverBuilder<S, C, R>) -> FailoverBuilder<S, C, R> {
    f.attempt_timeout(Duration::from_secs(10))
        .recover(Backoff::none())
        .breakers(|b| {
            b.consecutive_failures(2)
                .open_duration(Duration::from_millis(500))
                .required_successes(1)
        })
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    timeout(PATIENCE, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} within {PATIENCE:?}"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_receive_fail_over_when_a_region_stops_and_return_when_it_is_back() {
    let test = "publish_and_receive_fail_over_when_a_region_stops_and_return_when_it_is_back";
    let Some(exe) = required_env("STEADFAST_MOTO_SERVER", test) else {
        return;
    };
    let mut a = Moto::start(&exe);
    let b = Moto::start(&exe);
    let east = queue_at(&a.url(), EAST, "orders").await;
    let west = queue_at(&b.url(), WEST, "orders").await;
    let publisher =
        RegionalPublisher::build([(EAST, east.clone()), (WEST, west.clone())], breakers).unwrap();
    let queue =
        RegionalQueue::build([(EAST, east.clone()), (WEST, west.clone())], breakers).unwrap();

    let (seen, mut received) = mpsc::unbounded_channel();
    let consumer = Consumer::builder(queue, move |m: Message, _s: WorkSignal| {
        let _ = seen.send(m.body);
        async { Ok::<(), std::io::Error>(()) }
    })
    .wait(Duration::from_secs(1))
    .receive_error_delay(Duration::from_millis(50))
    .build()
    .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        consumer
            .run(async {
                let _ = stopped.await;
            })
            .await
    });

    publisher.publish(&Outgoing::new("east 1")).await.unwrap();
    assert_eq!(next(&mut received, "message from east").await, "east 1");

    a.stop();
    // Refused connections: nothing was sent, so every publish hops to west at once, and the
    // consumer, failing over too, reads them there.
    for n in 0..3 {
        publisher
            .publish(&Outgoing::new(format!("west {n}")))
            .await
            .unwrap();
    }
    let mut from_west = Vec::new();
    for _ in 0..3 {
        from_west.push(next(&mut received, "message from west").await);
    }
    from_west.sort();
    assert_eq!(from_west, ["west 0", "west 1", "west 2"]);

    a.restart();
    let east = queue_at(&a.url(), EAST, "orders").await;
    east.publish(&Outgoing::new("east again")).await.unwrap();
    assert_eq!(
        next(&mut received, "message from east again").await,
        "east again"
    );

    let _ = stop.send(());
    timeout(PATIENCE, running).await.unwrap().unwrap();
    let west_client = sqs_at(&b.url(), WEST);
    assert_eq!(
        counts(&west_client, west.url()).await,
        (0, 0),
        "all deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_keeps_a_slow_message_invisible_past_its_visibility_then_deletes_it() {
    let test = "the_lease_keeps_a_slow_message_invisible_past_its_visibility_then_deletes_it";
    let Some(exe) = required_env("STEADFAST_MOTO_SERVER", test) else {
        return;
    };
    let moto = Moto::start(&exe);
    let queue = queue_at(&moto.url(), EAST, "slow").await;
    let client = sqs_at(&moto.url(), EAST);
    let url = queue.url().to_owned();
    queue.publish(&Outgoing::new("slow")).await.unwrap();

    let (extended, mut extensions) = mpsc::unbounded_channel();
    let (started, mut handling) = mpsc::unbounded_channel();
    let (finish, finished) = oneshot::channel::<()>();
    let finished = std::sync::Mutex::new(Some(finished));
    let consumer = Consumer::builder(queue, move |m: Message, _s: WorkSignal| {
        let _ = started.send(m.receive_count);
        let finished = finished.lock().unwrap().take();
        async move {
            if let Some(finished) = finished {
                let _ = finished.await;
            }
            Ok::<(), std::io::Error>(())
        }
    })
    .visibility(Duration::from_secs(3))
    .extend_every(Duration::from_secs(1))
    .wait(Duration::from_secs(1))
    .on_event(move |e: &Event<'_>| {
        if let Event::LeaseExtended { .. } = e {
            let _ = extended.send(());
        }
    })
    .build()
    .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        consumer
            .run(async {
                let _ = stopped.await;
            })
            .await
    });

    assert_eq!(next(&mut handling, "first delivery").await, 1);
    // Four extensions a second apart: more than the 3 s visibility has passed since the
    // receive, and the message is still in flight, never delivered again.
    for _ in 0..4 {
        next(&mut extensions, "extension").await;
    }
    assert_eq!(counts(&client, &url).await, (0, 1));
    assert!(handling.try_recv().is_err(), "delivered again while leased");

    finish.send(()).unwrap();
    let start = tokio::time::Instant::now();
    while counts(&client, &url).await != (0, 0) {
        assert!(start.elapsed() < PATIENCE, "never deleted");
        tokio::task::yield_now().await;
    }
    let _ = stop.send(());
    timeout(PATIENCE, running).await.unwrap().unwrap();
    assert!(handling.try_recv().is_err(), "processed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_of_500_messages_through_an_outage_of_the_primary_loses_none_and_applies_each_once()
{
    let test =
        "a_soak_of_500_messages_through_an_outage_of_the_primary_loses_none_and_applies_each_once";
    let Some(exe) = required_env("STEADFAST_MOTO_SERVER", test) else {
        return;
    };
    const MESSAGES: usize = 500;
    let a = Moto::start(&exe);
    let b = Moto::start(&exe);
    let east = queue_at(&a.url(), EAST, "soak").await;
    let west = queue_at(&b.url(), WEST, "soak").await;
    let tuned = |f| breakers(f).attempt_timeout(Duration::from_secs(2));
    let publisher =
        RegionalPublisher::build([(EAST, east.clone()), (WEST, west.clone())], tuned).unwrap();
    let queue = RegionalQueue::build([(EAST, east.clone()), (WEST, west.clone())], |f| {
        breakers(f).attempt_timeout(Duration::from_secs(3))
    })
    .unwrap();

    // The handler applies a message's effect once per deduplication id, as the docs ask of a
    // consumer; deliveries counts every delivery.
    let applied = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let (effect, mut effects) = mpsc::unbounded_channel();
    let mut stops = Vec::new();
    let mut running = Vec::new();
    for _ in 0..3 {
        let (applied, effect) = (applied.clone(), effect.clone());
        let consumer = Consumer::builder(queue.clone(), move |m: Message, _s: WorkSignal| {
            let id = m
                .deduplication_id
                .clone()
                .expect("every soak message has one");
            let deliveries = {
                let mut applied = applied.lock().unwrap();
                let n: &mut u32 = applied.entry(id.clone()).or_default();
                *n += 1;
                *n
            };
            if deliveries == 1 {
                let _ = effect.send(id);
            }
            async { Ok::<(), std::io::Error>(()) }
        })
        .visibility(Duration::from_secs(5))
        .wait(Duration::from_secs(1))
        .receive_error_delay(Duration::from_millis(50))
        .build()
        .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        running.push(tokio::spawn(async move {
            consumer
                .run(async {
                    let _ = stopped.await;
                })
                .await
        }));
    }

    for n in 0..MESSAGES {
        if n == MESSAGES / 4 {
            a.signal("STOP"); // the primary hangs: attempts time out, and publishes hop
        }
        if n == MESSAGES * 3 / 4 {
            a.signal("CONT");
        }
        let message = Outgoing::new(format!("body {n}")).with_deduplication_id(format!("m{n}"));
        publisher
            .publish(&message)
            .await
            .unwrap_or_else(|e| panic!("publish {n}: {e}"));
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < MESSAGES {
        let id = timeout(Duration::from_secs(120), effects.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {MESSAGES} applied", seen.len()))
            .unwrap();
        assert!(seen.insert(id), "an effect applied twice");
    }
    for stop in stops {
        let _ = stop.send(());
    }
    for run in running {
        timeout(PATIENCE, run).await.unwrap().unwrap();
    }
    let applied = applied.lock().unwrap();
    assert_eq!(applied.len(), MESSAGES);
    let redelivered = applied.values().filter(|n| **n > 1).count();
    eprintln!("{test}: {MESSAGES} applied once each; {redelivered} delivered more than once");
}
