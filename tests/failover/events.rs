//! Events: the exact sequence of a hop, of a recover pass, and of an outage and a failback.

use steadfast::event::GiveUpReason;
use steadfast::failover::Unavailable;

use super::support::{Scripted, Step, ms, secs};
use super::*;

#[tokio::test(start_paused = true)]
async fn a_hop_reports_the_attempt_the_hop_and_the_next_attempt() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .on_event(rec.clone())
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(
        rec.take(),
        [
            attempt("east", 1, Outcome::failed()),
            hop("east", "west", 2, Some(495)),
            attempt("west", 2, Outcome::Success),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_recover_pass_reports_its_number_and_delay() {
    let east = Scripted::new([Step::Status(503), Step::Status(503)]);
    let west = Scripted::new([Step::Err("reset")]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .on_event(rec.clone())
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!(
        rec.take(),
        [
            attempt("east", 1, Outcome::failed()),
            hop("east", "west", 2, Some(495)),
            attempt("west", 2, Outcome::failed()),
            Ev::Pass(2, ms(500)),
            attempt("east", 3, Outcome::failed()),
            hop("east", "west", 4, Some(485)),
            attempt("west", 4, Outcome::Success),
        ],
        "the first attempt of a recover pass is paid for (490) but is no hop"
    );
}

#[tokio::test(start_paused = true)]
async fn giving_up_reports_the_last_endpoint_and_the_attempts() {
    let east = Scripted::new(std::iter::repeat_n(Step::Status(503), 2));
    let west = Scripted::new(std::iter::repeat_n(Step::Status(503), 2));
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(never_trip)
        .recover(Backoff::constant(secs(1), 1))
        .on_event(rec.clone())
        .build()
        .unwrap();
    assert_eq!(status(call(&f, 1).await), 503);
    let events = rec.take();
    // 4 attempts, 2 hops, 1 recover pass, and giving up.
    assert_eq!(events.len(), 8, "{events:?}");
    assert_eq!(events[3], Ev::Pass(2, secs(1)));
    assert_eq!(
        events[7],
        Ev::GaveUp(Some("west".into()), 4, GiveUpReason::RetriesExhausted)
    );
}

#[tokio::test(start_paused = true)]
async fn an_outage_and_a_failback_in_order() {
    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let rec = Recorder::default();
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(one_probe)
        .on_event(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    for at in [0, 1, 2, 10, 11] {
        tokio::time::sleep_until(t0 + secs(at)).await;
        assert_eq!(status(call(&f, 1).await), 200);
    }
    let s = |x: &str| x.to_owned();
    assert_eq!(
        rec.take(),
        [
            // 0 s: east fails and opens; the call hops.
            attempt("east", 1, Outcome::failed()),
            hop("east", "west", 2, Some(495)),
            attempt("west", 2, Outcome::Success),
            // 1 s: east is skipped; calls now start at west.
            Ev::Unavailable(s("east"), Unavailable::BreakerOpen),
            Ev::Over(s("east"), s("west"), Some(Unavailable::BreakerOpen)),
            attempt("west", 1, Outcome::Success),
            // 2 s: reported once only.
            attempt("west", 1, Outcome::Success),
            // 10 s: a probe to east closes its breaker (a probe is not traffic yet).
            attempt("east", 1, Outcome::Success),
            // 11 s: east takes calls again.
            Ev::Available(s("east")),
            Ev::Back(s("west"), s("east")),
            attempt("east", 1, Outcome::Success),
        ]
    );
}
