//! Readiness: a consumer's regional queue as a critical dependency of the readiness roll-up —
//! degraded while it reads the other region, not ready when no region's queue can be read.

use steadfast::health::{Dependency, HealthReport, Status};
use steadfast::messaging::{Consumer, Message, RegionalQueue, WorkSignal};
use tokio::time::sleep;

use crate::fake::FakeQueue;
use crate::{secs, shutdown};

#[tokio::test(start_paused = true)]
async fn a_consumer_whose_queues_are_down_reports_not_ready() {
    let (a, b) = (FakeQueue::new(), FakeQueue::new());
    let queue = RegionalQueue::build([("a", a.clone()), ("b", b.clone())], |f| {
        f.attempt_timeout(secs(10)).breakers(|b| {
            b.consecutive_failures(2)
                .open_duration(secs(30))
                .required_successes(1)
        })
    })
    .unwrap();
    let report = HealthReport::builder()
        .critical("orders queue", Dependency::failover(queue.handle()))
        .build()
        .unwrap();
    let consumer = Consumer::builder(queue, |_m: Message, _s: WorkSignal| async {
        Ok::<(), std::io::Error>(())
    })
    .wait(secs(5))
    .build()
    .unwrap();
    let (_stop, signal) = shutdown();
    tokio::spawn(async move { consumer.run(signal).await });

    sleep(secs(1)).await;
    assert_eq!(report.readiness().status, Status::Ready);

    a.set_unreachable(true);
    sleep(secs(11)).await;
    assert_eq!(report.readiness().status, Status::Degraded, "reading b");

    b.set_unreachable(true);
    sleep(secs(8)).await;
    let readiness = report.readiness();
    assert_eq!(readiness.status, Status::NotReady, "{readiness:?}");
    assert!(!readiness.status.is_ready());

    a.set_unreachable(false);
    b.set_unreachable(false);
    sleep(secs(60)).await;
    assert!(report.readiness().status.is_ready());
}
