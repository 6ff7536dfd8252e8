//! The Retry layer: exact call counts and instants under paused time, the budget, deadlines,
//! attempt timeouts, push-back, cancellation, events, `run`, and a model-based property test.
//! Loopback HTTP tests (real time, counts only) are in `http.rs`.

#[path = "../support/seeds.rs"]
mod seeds;
#[path = "../support/mod.rs"]
mod support;

mod http;
// `RetryPolicy::run` with the operation's own error type.
mod run;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use steadfast::backoff::Backoff;
use steadfast::budget::RetryBudget;
use steadfast::event::{Event, GiveUpReason, OnEvent};
use steadfast::retry::{Retry, RetryLayer, RetryPolicy, RetryPolicyBuilder};
use steadfast::{AttemptTimedOut, BoxError, CallError, DeadlineExceeded, Outcome};
use support::{Resp, Scripted, Step, exact, ms, secs};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

type Classifier = fn(&Result<Resp, BoxError>) -> Outcome;

/// What the tests record of each event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rec {
    Attempt(u32, Outcome),
    Retry(u32, Duration, Option<u32>),
    GaveUp(u32, GiveUpReason),
    Deadline(u32),
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Rec>>>);

impl Recorder {
    fn take(&self) -> Vec<Rec> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl OnEvent for Recorder {
    fn on_event(&self, event: &Event<'_>) {
        let rec = match *event {
            Event::Attempt {
                attempt, outcome, ..
            } => Rec::Attempt(attempt, outcome),
            Event::Retry {
                attempt,
                delay,
                budget_level,
                ..
            } => Rec::Retry(attempt, delay, budget_level),
            Event::GaveUp {
                attempts, reason, ..
            } => Rec::GaveUp(attempts, reason),
            Event::DeadlineExceeded { attempt, .. } => Rec::Deadline(attempt),
            _ => return,
        };
        self.0.lock().unwrap().push(rec);
    }
}

/// A policy builder with the scripted classifier and an exact schedule.
fn builder(backoff: Backoff) -> RetryPolicyBuilder<Classifier> {
    RetryPolicy::builder()
        .backoff(backoff)
        .classifier(support::classify as Classifier)
}

fn layered<R, H>(
    b: RetryPolicyBuilder<Classifier, R, H>,
    svc: &Scripted,
) -> Retry<Scripted, RetryPolicy<Classifier, R, H>> {
    RetryLayer::new(b.build().unwrap()).layer(svc.clone())
}

async fn call<S: Service<u32>>(svc: &mut S) -> Result<S::Response, S::Error> {
    svc.ready().await?.call(7).await
}

fn status(r: Result<Resp, BoxError>) -> u16 {
    r.expect("a response").status
}

// ---------------------------------------------------------------- schedule, exact instants

#[tokio::test(start_paused = true)]
async fn standard_schedule_calls_at_exact_instants() {
    let svc = Scripted::failing(3);
    let mut retry = layered(builder(exact(Backoff::standard())), &svc);
    assert_eq!(status(call(&mut retry).await), 200);
    assert_eq!(svc.instants(), [ms(0), ms(500), ms(1500), ms(3500)]);
    assert_eq!(
        svc.requests(),
        [7, 7, 7, 7],
        "every attempt sends the request"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fourth_failure_is_returned_after_exactly_four_calls() {
    let svc = Scripted::new(vec![Step::Err("reset"); 4]);
    let mut retry = layered(builder(exact(Backoff::standard())), &svc);
    let err = call(&mut retry).await.unwrap_err();
    assert_eq!(err.to_string(), "reset");
    assert_eq!(svc.instants(), [ms(0), ms(500), ms(1500), ms(3500)]);

    let svc = Scripted::failing(4);
    let mut retry = layered(builder(exact(Backoff::standard())), &svc);
    let start = Instant::now();
    assert_eq!(
        status(call(&mut retry).await),
        500,
        "the last failure, as it is"
    );
    assert_eq!(svc.count(), 4);
    assert_eq!(
        start.elapsed(),
        ms(3500),
        "returned as soon as the last attempt failed"
    );
}

#[tokio::test(start_paused = true)]
async fn extended_schedule_calls_at_exact_instants() {
    let svc = Scripted::failing(5);
    let mut retry = layered(builder(exact(Backoff::extended())), &svc);
    assert_eq!(status(call(&mut retry).await), 200);
    assert_eq!(svc.instants(), [0, 250, 750, 1750, 3750, 5750].map(ms));
}

#[tokio::test(start_paused = true)]
async fn the_default_schedule_is_jittered_within_equal_bounds() {
    let svc = Scripted::failing(3);
    let mut retry = RetryLayer::new(
        RetryPolicy::builder()
            .classifier(support::classify as Classifier)
            .seed(11)
            .build()
            .unwrap(),
    )
    .layer(svc.clone());
    assert_eq!(status(call(&mut retry).await), 200);
    let t = svc.instants();
    let gaps: Vec<_> = t.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, nominal) in gaps.iter().zip([500, 1000, 2000]) {
        assert!(*gap >= ms(nominal / 2) && *gap <= ms(nominal), "{gaps:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn passing_the_standard_preset_explicitly_keeps_the_default_jitter() {
    // Regression: `.backoff(Backoff::standard())` used to switch jitter off (exactly 0.5, 1 and
    // 2 s) while the default schedule was jittered. The same seed must now give the same
    // instants either way, and they are not the nominal ones.
    async fn instants(explicit: bool) -> Vec<Duration> {
        let svc = Scripted::failing(3);
        let b = RetryPolicy::builder()
            .classifier(support::classify as Classifier)
            .seed(11);
        let b = if explicit {
            b.backoff(Backoff::standard())
        } else {
            b
        };
        let mut retry = RetryLayer::new(b.build().unwrap()).layer(svc.clone());
        assert_eq!(status(call(&mut retry).await), 200);
        svc.instants()
    }
    let default = instants(false).await;
    assert_eq!(instants(true).await, default);
    assert_ne!(default, [0, 500, 1500, 3500].map(ms), "jittered");
}

// ---------------------------------------------------------------- outcomes that return at once

#[tokio::test(start_paused = true)]
async fn rejected_is_returned_after_one_call() {
    let svc = Scripted::new([Step::Status(404)]);
    let mut retry = layered(builder(exact(Backoff::standard())), &svc);
    assert_eq!(status(call(&mut retry).await), 404);
    assert_eq!(svc.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn local_is_returned_after_one_call() {
    // A classifier's verdict of Local...
    let local: Classifier = |r| match r {
        Err(e) if e.to_string() == "bad credentials" => Outcome::Local,
        other => support::classify(other),
    };
    let svc = Scripted::new([Step::Err("bad credentials")]);
    let mut retry = RetryLayer::new(
        RetryPolicy::builder()
            .backoff(exact(Backoff::standard()))
            .classifier(local)
            .build()
            .unwrap(),
    )
    .layer(svc.clone());
    assert!(call(&mut retry).await.is_err());
    assert_eq!(svc.count(), 1);
}

/// A service that fails with one of this library's own errors.
#[derive(Clone)]
struct Own(Arc<Mutex<usize>>);

impl Service<u32> for Own {
    type Response = Resp;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Resp, BoxError>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: u32) -> Self::Future {
        *self.0.lock().unwrap() += 1;
        std::future::ready(Err(DeadlineExceeded::new().into()))
    }
}

#[tokio::test(start_paused = true)]
async fn the_librarys_own_errors_are_never_retried_even_by_a_naive_classifier() {
    let naive: Classifier = |r| {
        if r.is_ok() {
            Outcome::Success
        } else {
            Outcome::failed()
        }
    };
    let count = Arc::new(Mutex::new(0));
    let budget = RetryBudget::standard();
    let policy = RetryPolicy::builder()
        .classifier(naive)
        .budget(budget.clone())
        .build()
        .unwrap();
    let mut retry = RetryLayer::new(policy).layer(Own(count.clone()));
    let err = call(&mut retry).await.unwrap_err();
    assert!(err.is::<DeadlineExceeded>());
    assert_eq!(*count.lock().unwrap(), 1);
    assert_eq!(budget.level(), Some(500));
}

// ---------------------------------------------------------------- budget

#[tokio::test(start_paused = true)]
async fn a_budget_holding_two_retries_lets_the_third_failing_request_through_unretried() {
    let budget = RetryBudget::builder().capacity(10).build().unwrap();
    let local: Classifier = |r| match r {
        Ok(Resp { status: 401, .. }) => Outcome::Local,
        other => support::classify(other),
    };
    // A Local answer first: it costs nothing.
    let mut script = vec![Step::Status(401)];
    script.extend(vec![Step::Status(503); 5]);
    let svc = Scripted::new(script);
    let policy = RetryPolicy::builder()
        .backoff(Backoff::constant(ms(100), 1))
        .budget(budget.clone())
        .classifier(local)
        .build()
        .unwrap();
    let mut retry = RetryLayer::new(policy).layer(svc.clone());
    assert_eq!(status(call(&mut retry).await), 401);
    assert_eq!(
        (svc.count(), budget.level()),
        (1, Some(10)),
        "Local costs nothing"
    );
    assert_eq!(status(call(&mut retry).await), 503);
    assert_eq!((svc.count(), budget.level()), (3, Some(5)));
    assert_eq!(status(call(&mut retry).await), 503);
    assert_eq!((svc.count(), budget.level()), (5, Some(0)));
    assert_eq!(status(call(&mut retry).await), 503);
    assert_eq!(
        (svc.count(), budget.level()),
        (6, Some(0)),
        "third request: one call, no retry"
    );
}

#[tokio::test(start_paused = true)]
async fn success_after_a_retry_gives_the_last_cost_back_and_first_try_success_adds_one() {
    let budget = RetryBudget::standard();
    let svc = Scripted::new([Step::Status(500), Step::Status(500)]);
    let mut retry = layered(
        builder(exact(Backoff::standard())).budget(budget.clone()),
        &svc,
    );
    assert_eq!(status(call(&mut retry).await), 200);
    assert_eq!(
        budget.level(),
        Some(495),
        "two retries (-10), the last given back (+5)"
    );
    assert_eq!(status(call(&mut retry).await), 200);
    assert_eq!(budget.level(), Some(496), "a first-try success deposits 1");
}

#[tokio::test(start_paused = true)]
async fn clones_of_a_layer_share_its_budget() {
    let layer = RetryLayer::new(builder(Backoff::constant(ms(10), 1)).build().unwrap());
    let (a, b) = (Scripted::failing(1), Scripted::failing(1));
    let mut one = layer.clone().layer(a.clone());
    let mut two = layer.layer(b.clone());
    call(&mut one).await.unwrap();
    call(&mut two).await.unwrap();
    // Each success after one retry gives its cost back: the shared bucket is full again...
    assert_eq!(one.policy().budget().level(), Some(500));
    // ...and both services see the same bucket.
    let w = one
        .policy()
        .budget()
        .try_withdraw(&Outcome::failed())
        .unwrap();
    assert_eq!(two.policy().budget().level(), Some(495));
    one.policy().budget().refund(w);
}

// ---------------------------------------------------------------- deadline and attempt timeout

#[tokio::test(start_paused = true)]
async fn an_attempt_that_never_completes_gets_deadline_exceeded_at_exactly_the_deadline() {
    let svc = Scripted::new([Step::Hang]);
    let rec = Recorder::default();
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .deadline(secs(2))
            .on_event(rec.clone()),
        &svc,
    );
    let start = Instant::now();
    let err = call(&mut retry).await.unwrap_err();
    assert!(err.is::<DeadlineExceeded>(), "{err}");
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(svc.count(), 1);
    assert_eq!(svc.live(), 0, "the hanging attempt was dropped");
    assert_eq!(
        rec.take(),
        [Rec::Attempt(1, Outcome::timeout()), Rec::Deadline(1)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_delay_that_would_cross_the_deadline_returns_the_last_error_before_it() {
    let svc = Scripted::failing(3);
    let rec = Recorder::default();
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .deadline(ms(1200))
            .on_event(rec.clone()),
        &svc,
    );
    let start = Instant::now();
    assert_eq!(status(call(&mut retry).await), 500);
    assert_eq!(
        start.elapsed(),
        ms(500),
        "no sleep that leaves no room for an attempt"
    );
    assert_eq!(svc.instants(), [ms(0), ms(500)]);
    assert_eq!(
        rec.take().last(),
        Some(&Rec::GaveUp(2, GiveUpReason::Deadline))
    );
}

#[tokio::test(start_paused = true)]
async fn a_sleep_ending_exactly_at_the_deadline_is_not_started() {
    let svc = Scripted::failing(1);
    let mut retry = layered(builder(exact(Backoff::standard())).deadline(ms(500)), &svc);
    assert_eq!(status(call(&mut retry).await), 500);
    assert_eq!(svc.count(), 1);
    let svc = Scripted::failing(1);
    let mut retry = layered(builder(exact(Backoff::standard())).deadline(ms(501)), &svc);
    assert_eq!(status(call(&mut retry).await), 200);
    assert_eq!(svc.instants(), [ms(0), ms(500)]);
}

#[tokio::test(start_paused = true)]
async fn the_attempt_timeout_fires_at_exactly_its_value_and_the_attempt_is_retried() {
    let svc = Scripted::new([Step::Hang]);
    let budget = RetryBudget::standard();
    let rec = Recorder::default();
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .attempt_timeout(ms(300))
            .budget(budget.clone())
            .on_event(rec.clone()),
        &svc,
    );
    assert_eq!(status(call(&mut retry).await), 200);
    assert_eq!(
        svc.instants(),
        [ms(0), ms(800)],
        "cut at 300 ms, then the 500 ms sleep"
    );
    assert_eq!(svc.live(), 0);
    assert_eq!(
        rec.take(),
        [
            Rec::Attempt(1, Outcome::timeout()),
            Rec::Retry(2, ms(500), Some(490)),
            Rec::Attempt(2, Outcome::Success),
        ],
        "a retry after a timeout costs 10"
    );
    assert_eq!(
        budget.level(),
        Some(500),
        "and the success gives the 10 back"
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_that_all_time_out_end_with_attempt_timed_out() {
    let svc = Scripted::new(vec![Step::Hang; 4]);
    let mut retry = layered(
        builder(exact(Backoff::standard())).attempt_timeout(ms(300)),
        &svc,
    );
    let start = Instant::now();
    let err = call(&mut retry).await.unwrap_err();
    let timed_out = err
        .downcast_ref::<AttemptTimedOut>()
        .expect("AttemptTimedOut");
    assert_eq!(timed_out.timeout, ms(300));
    assert_eq!(svc.instants(), [0, 800, 2100, 4400].map(ms));
    assert_eq!(start.elapsed(), ms(4700));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_wins_over_a_longer_attempt_timeout() {
    let svc = Scripted::new([Step::Hang]);
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .deadline(secs(1))
            .attempt_timeout(secs(5)),
        &svc,
    );
    let start = Instant::now();
    assert!(call(&mut retry).await.unwrap_err().is::<DeadlineExceeded>());
    assert_eq!(start.elapsed(), secs(1));
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_then_deadline_cuts_the_retry() {
    // Attempt 1 cut at 1 s; retry at 1.5 s; the deadline at 2 s cuts attempt 2.
    let svc = Scripted::new([Step::Hang, Step::Hang]);
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .deadline(secs(2))
            .attempt_timeout(secs(1)),
        &svc,
    );
    let start = Instant::now();
    assert!(call(&mut retry).await.unwrap_err().is::<DeadlineExceeded>());
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(svc.instants(), [ms(0), ms(1500)]);
}

#[tokio::test(start_paused = true)]
async fn a_slow_answer_within_the_attempt_timeout_is_not_cut() {
    let svc = Scripted::new([Step::After(ms(299), Box::new(Step::Status(200)))]);
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .attempt_timeout(ms(300))
            .deadline(secs(1)),
        &svc,
    );
    let start = Instant::now();
    assert_eq!(status(call(&mut retry).await), 200);
    assert_eq!(start.elapsed(), ms(299));
    assert_eq!(svc.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn readiness_for_a_retry_is_bounded_by_the_attempt_timeout() {
    let svc = Scripted::failing(1);
    let budget = RetryBudget::standard();
    let mut retry = layered(
        builder(Backoff::constant(ms(100), 1))
            .attempt_timeout(ms(300))
            .budget(budget.clone()),
        &svc,
    );
    let probe = svc.clone();
    // Not ready by the time the retry would be sent.
    let flip = tokio::spawn(async move {
        tokio::time::sleep(ms(50)).await;
        probe.set_not_ready(true);
    });
    let start = Instant::now();
    let err = call(&mut retry).await.unwrap_err();
    flip.await.unwrap();
    assert!(err.is::<AttemptTimedOut>(), "{err}");
    assert_eq!(
        start.elapsed(),
        ms(400),
        "100 ms sleep, then 300 ms waiting for readiness"
    );
    assert_eq!(svc.count(), 1, "the retry was never sent");
    assert_eq!(budget.level(), Some(500), "so its tokens came back");
}

#[tokio::test(start_paused = true)]
async fn readiness_near_the_limit_sends_with_a_fresh_attempt_timeout() {
    // Retry sleeps until 100 ms; the service is ready at 390 ms, within the 300 ms readiness
    // limit; the attempt then gets its own 300 ms and answers after 50 ms.
    let svc = Scripted::new([
        Step::Status(500),
        Step::After(ms(50), Box::new(Step::Status(200))),
    ]);
    let mut retry = layered(
        builder(Backoff::constant(ms(100), 1)).attempt_timeout(ms(300)),
        &svc,
    );
    let fut = retry.ready().await.unwrap().call(1);
    tokio::time::sleep(ms(1)).await; // let nothing run yet: the call is not polled
    svc.not_ready_for(ms(389));
    let start = Instant::now();
    assert_eq!(status(fut.await), 200);
    assert_eq!(svc.instants(), [ms(0), ms(390)]);
    assert_eq!(start.elapsed(), ms(439));
}

#[tokio::test(start_paused = true)]
async fn a_retry_is_never_sent_once_the_deadline_has_passed() {
    let svc = Scripted::failing(1);
    let rec = Recorder::default();
    let budget = RetryBudget::standard();
    let mut retry = layered(
        builder(Backoff::constant(ms(100), 1))
            .deadline(ms(400))
            .budget(budget.clone())
            .on_event(rec.clone()),
        &svc,
    );
    let start = Instant::now();
    let fut = retry.ready().await.unwrap().call(1);
    // Ready exactly at the deadline, in the very poll that the deadline's timer causes.
    svc.ready_from(start + ms(400));
    let err = fut.await.unwrap_err();
    assert!(err.is::<DeadlineExceeded>(), "{err}");
    assert_eq!(start.elapsed(), ms(400));
    assert_eq!(svc.count(), 1, "the retry was not sent at the deadline");
    assert_eq!(budget.level(), Some(500), "its tokens came back");
    assert_eq!(
        rec.take(),
        [
            Rec::Attempt(1, Outcome::failed()),
            Rec::Retry(2, ms(100), Some(495)),
            Rec::Attempt(2, Outcome::not_sent()),
            Rec::Deadline(2),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_not_ready_in_time_is_numbered_and_retried_for_free() {
    let svc = Scripted::failing(1);
    let rec = Recorder::default();
    let budget = RetryBudget::standard();
    let mut retry = layered(
        builder(Backoff::constant(ms(100), 2))
            .attempt_timeout(ms(300))
            .budget(budget.clone())
            .on_event(rec.clone()),
        &svc,
    );
    let fut = retry.ready().await.unwrap().call(1);
    svc.not_ready_for(ms(550));
    assert_eq!(status(fut.await), 200);
    assert_eq!(svc.instants(), [ms(0), ms(550)]);
    assert_eq!(
        rec.take(),
        [
            Rec::Attempt(1, Outcome::failed()),
            Rec::Retry(2, ms(100), Some(495)),
            Rec::Attempt(2, Outcome::not_sent()),
            Rec::Retry(3, ms(100), Some(495)),
            Rec::Attempt(3, Outcome::Success),
        ]
    );
    assert_eq!(budget.level(), Some(500));
}

#[tokio::test(start_paused = true)]
async fn a_poll_ready_error_ends_the_call_with_it() {
    let svc = Scripted::failing(1);
    let rec = Recorder::default();
    let budget = RetryBudget::standard();
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .budget(budget.clone())
            .on_event(rec.clone()),
        &svc,
    );
    let fut = retry.ready().await.unwrap().call(1);
    svc.fail_ready("connection pool closed");
    assert_eq!(fut.await.unwrap_err().to_string(), "connection pool closed");
    assert_eq!(svc.count(), 1);
    assert_eq!(budget.level(), Some(500));
    assert_eq!(
        rec.take().last(),
        Some(&Rec::GaveUp(1, GiveUpReason::NotReady))
    );
}

#[tokio::test(start_paused = true)]
async fn absurd_durations_never_panic() {
    // The longest attempt timeout accepted.
    let svc = Scripted::new([Step::Hang]);
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .attempt_timeout(steadfast::MAX_DURATION)
            .deadline(secs(1)),
        &svc,
    );
    assert!(call(&mut retry).await.unwrap_err().is::<DeadlineExceeded>());
    let svc = Scripted::new([Step::After(secs(3), Box::new(Step::Status(200)))]);
    let mut retry = layered(
        builder(exact(Backoff::standard())).attempt_timeout(steadfast::MAX_DURATION),
        &svc,
    );
    assert_eq!(status(call(&mut retry).await), 200);
    // A hint beyond the largest cap gives up with the server's answer.
    let svc = Scripted::new([Step::Hint(429, Duration::MAX)]);
    let rec = Recorder::default();
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .retry_after_cap(steadfast::MAX_RETRY_AFTER_CAP)
            .on_event(rec.clone()),
        &svc,
    );
    assert_eq!(status(call(&mut retry).await), 429);
    assert_eq!(
        rec.take().last(),
        Some(&Rec::GaveUp(1, GiveUpReason::RetryAfterTooLong))
    );
    // Huge schedules and retry counts.
    let max = steadfast::MAX_DURATION;
    let huge = Backoff::exponential(max, 1e300, max, u32::MAX).unwrap();
    let svc = Scripted::failing(1);
    let mut retry = layered(builder(huge).deadline(secs(5)), &svc);
    assert_eq!(
        status(call(&mut retry).await),
        500,
        "the sleep does not fit the deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn zero_delay_retries_yield_to_other_tasks() {
    let svc = Scripted::failing(1000);
    let mut retry = layered(
        builder(Backoff::constant(Duration::ZERO, 1000)).budget(RetryBudget::unlimited()),
        &svc,
    );
    let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let t = ticks.clone();
    let other = tokio::spawn(async move {
        loop {
            t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::task::yield_now().await;
        }
    });
    tokio::task::yield_now().await;
    assert_eq!(status(call(&mut retry).await), 200);
    other.abort();
    assert_eq!(svc.count(), 1001);
    assert!(
        ticks.load(std::sync::atomic::Ordering::Relaxed) > 100,
        "the other task ran meanwhile"
    );
}

#[tokio::test(start_paused = true)]
async fn decorrelated_jitter_through_the_layer_stays_within_base_and_cap() {
    let b = Backoff::exponential(ms(100), 2.0, ms(1000), 6)
        .unwrap()
        .with_jitter(steadfast::Jitter::Decorrelated);
    let svc = Scripted::failing(6);
    let mut retry = layered(builder(b).seed(3), &svc);
    assert_eq!(status(call(&mut retry).await), 200);
    let t = svc.instants();
    for gap in t.windows(2).map(|w| w[1] - w[0]) {
        assert!(gap >= ms(100) && gap <= ms(1000), "{t:?}");
    }
}

// ---------------------------------------------------------------- push-back

async fn second_call_after_hint(hint: Duration) -> Vec<Duration> {
    let svc = Scripted::new([Step::Hint(429, hint)]);
    let mut retry = layered(builder(exact(Backoff::standard())), &svc);
    assert_eq!(status(call(&mut retry).await), 200);
    svc.instants()
}

#[tokio::test(start_paused = true)]
async fn a_hint_shorter_than_the_schedule_loses() {
    assert_eq!(second_call_after_hint(ms(100)).await, [ms(0), ms(500)]);
}

#[tokio::test(start_paused = true)]
async fn a_hint_longer_than_the_schedule_wins() {
    assert_eq!(second_call_after_hint(secs(3)).await, [ms(0), secs(3)]);
}

#[tokio::test(start_paused = true)]
async fn a_zero_hint_keeps_the_schedule() {
    assert_eq!(
        second_call_after_hint(Duration::ZERO).await,
        [ms(0), ms(500)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_hint_beyond_the_cap_gives_up_at_once() {
    let svc = Scripted::new([Step::Hint(503, secs(10))]);
    let rec = Recorder::default();
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .retry_after_cap(secs(5))
            .on_event(rec.clone()),
        &svc,
    );
    let start = Instant::now();
    let resp = call(&mut retry).await.unwrap();
    assert_eq!(
        resp,
        Resp {
            status: 503,
            retry_after: Some(secs(10))
        },
        "the server's answer"
    );
    assert_eq!((svc.count(), start.elapsed()), (1, Duration::ZERO));
    assert_eq!(
        rec.take().last(),
        Some(&Rec::GaveUp(1, GiveUpReason::RetryAfterTooLong))
    );
}

#[tokio::test(start_paused = true)]
async fn a_hint_beyond_the_deadline_gives_up_at_once() {
    let svc = Scripted::new([Step::Hint(429, secs(3))]);
    let mut retry = layered(builder(exact(Backoff::standard())).deadline(secs(2)), &svc);
    let start = Instant::now();
    assert_eq!(status(call(&mut retry).await), 429);
    assert_eq!((svc.count(), start.elapsed()), (1, Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn a_hint_after_the_last_retry_adds_no_retry() {
    let svc = Scripted::new([Step::Status(500), Step::Hint(429, ms(50))]);
    let mut retry = layered(builder(Backoff::constant(ms(100), 1)), &svc);
    assert_eq!(status(call(&mut retry).await), 429);
    assert_eq!(svc.instants(), [ms(0), ms(100)]);
}

// ---------------------------------------------------------------- replay

#[tokio::test(start_paused = true)]
async fn a_request_the_replay_hook_declines_is_sent_once() {
    let svc = Scripted::failing(1);
    let odd_only = |r: &u32| (r % 2 == 1).then_some(*r);
    let mut retry = layered(builder(exact(Backoff::standard())).replay(odd_only), &svc);
    assert_eq!(status(retry.ready().await.unwrap().call(8).await), 500);
    assert_eq!(svc.count(), 1);
    let svc = Scripted::failing(1);
    let mut retry = layered(builder(exact(Backoff::standard())).replay(odd_only), &svc);
    assert_eq!(status(retry.ready().await.unwrap().call(9).await), 200);
    assert_eq!(svc.requests(), [9, 9]);
}

#[tokio::test(start_paused = true)]
async fn a_copy_may_be_declined_after_an_outcome_that_may_have_been_applied() {
    /// Copies every request, but sends the copy only if the first never reached the server.
    #[derive(Clone)]
    struct OnlyIfNotSent;
    impl steadfast::replay::Replay<u32> for OnlyIfNotSent {
        fn replay(&self, r: &u32) -> Option<u32> {
            Some(*r)
        }
        fn may_replay(&self, _: &u32, after: &Outcome) -> bool {
            !after.may_have_been_applied()
        }
    }
    let refused: Classifier = |r| match r {
        Err(e) if e.to_string() == "refused" => Outcome::not_sent(),
        other => support::classify(other),
    };
    let svc = Scripted::new([Step::Status(503)]);
    let mut retry = RetryLayer::new(
        RetryPolicy::builder()
            .classifier(refused)
            .replay(OnlyIfNotSent)
            .build()
            .unwrap(),
    )
    .layer(svc.clone());
    assert_eq!(status(call(&mut retry).await), 503);
    assert_eq!(svc.count(), 1, "a 503 may have been applied: not replayed");
    let svc = Scripted::new([Step::Err("refused")]);
    let mut retry = RetryLayer::new(
        RetryPolicy::builder()
            .classifier(refused)
            .replay(OnlyIfNotSent)
            .build()
            .unwrap(),
    )
    .layer(svc.clone());
    assert_eq!(status(call(&mut retry).await), 200);
    assert_eq!(svc.count(), 2, "never sent: replayed");
}

// ---------------------------------------------------------------- cancellation

#[tokio::test(start_paused = true)]
async fn dropped_mid_sleep_refunds_the_retry_it_never_sent() {
    let svc = Scripted::failing(1);
    let budget = RetryBudget::standard();
    let mut retry = layered(
        builder(exact(Backoff::standard())).budget(budget.clone()),
        &svc,
    );
    let fut = retry.ready().await.unwrap().call(1);
    assert!(
        tokio::time::timeout(ms(200), fut).await.is_err(),
        "still sleeping at 200 ms"
    );
    assert_eq!(svc.count(), 1);
    assert_eq!(
        budget.level(),
        Some(500),
        "the withdrawal for the unsent retry came back"
    );
    tokio::time::sleep(secs(10)).await;
    assert_eq!(svc.count(), 1, "nothing runs after the drop");
}

#[tokio::test(start_paused = true)]
async fn dropped_mid_attempt_keeps_the_cost_of_the_retry_it_sent() {
    let svc = Scripted::new([Step::Status(500), Step::Hang]);
    let budget = RetryBudget::standard();
    let mut retry = layered(
        builder(exact(Backoff::standard())).budget(budget.clone()),
        &svc,
    );
    let fut = retry.ready().await.unwrap().call(1);
    assert!(tokio::time::timeout(secs(1), fut).await.is_err());
    assert_eq!(svc.count(), 2);
    assert_eq!(svc.live(), 0, "the attempt in flight was dropped");
    assert_eq!(
        budget.level(),
        Some(495),
        "the retry was sent: its cost is spent"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_while_waiting_for_readiness_refunds() {
    let svc = Scripted::failing(1);
    let budget = RetryBudget::standard();
    let mut retry = layered(
        builder(exact(Backoff::standard())).budget(budget.clone()),
        &svc,
    );
    let fut = retry.ready().await.unwrap().call(1);
    svc.set_not_ready(true);
    assert!(tokio::time::timeout(secs(5), fut).await.is_err());
    assert_eq!(svc.count(), 1);
    assert_eq!(budget.level(), Some(500));
}

#[tokio::test(start_paused = true)]
async fn dropped_before_completion_of_the_first_attempt_costs_nothing() {
    let svc = Scripted::new([Step::Hang]);
    let budget = RetryBudget::standard();
    let mut retry = layered(
        builder(exact(Backoff::standard())).budget(budget.clone()),
        &svc,
    );
    let fut = retry.ready().await.unwrap().call(1);
    assert!(tokio::time::timeout(secs(1), fut).await.is_err());
    assert_eq!((svc.count(), svc.live(), budget.level()), (1, 0, Some(500)));
}

#[tokio::test(start_paused = true)]
async fn a_call_outliving_every_handle_still_retries_and_counts() {
    // `oneshot` drops the service right after `call`, and the layer and policy are temporaries:
    // the call alone keeps the policy, and so the budget, alive.
    let svc = Scripted::failing(3);
    let rec = Recorder::default();
    let resp = RetryLayer::new(
        builder(exact(Backoff::standard()))
            .on_event(rec.clone())
            .build()
            .unwrap(),
    )
    .layer(svc.clone())
    .oneshot(1)
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(svc.instants(), [ms(0), ms(500), ms(1500), ms(3500)]);
    assert_eq!(
        rec.take()[1..4],
        [
            Rec::Retry(2, ms(500), Some(495)),
            Rec::Attempt(2, Outcome::failed()),
            Rec::Retry(3, ms(1000), Some(490)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_static_policy_retries_exactly_like_an_owned_one() {
    let policy: &'static RetryPolicy<Classifier> = Box::leak(Box::new(
        builder(exact(Backoff::standard())).build().unwrap(),
    ));
    let svc = Scripted::failing(2);
    let mut retry = RetryLayer::new(policy).layer(svc.clone());
    assert_eq!(status(call(&mut retry).await), 200);
    assert_eq!(svc.instants(), [ms(0), ms(500), ms(1500)]);
    assert_eq!(policy.budget().level(), Some(495));
}

// ---------------------------------------------------------------- events

#[tokio::test(start_paused = true)]
async fn events_for_every_attempt_retry_and_refusal() {
    let rec = Recorder::default();
    let budget = RetryBudget::builder().capacity(7).build().unwrap();
    let svc = Scripted::failing(2);
    let mut retry = layered(
        builder(exact(Backoff::standard()))
            .budget(budget)
            .on_event(rec.clone()),
        &svc,
    );
    assert_eq!(status(call(&mut retry).await), 500);
    assert_eq!(
        rec.take(),
        [
            Rec::Attempt(1, Outcome::failed()),
            Rec::Retry(2, ms(500), Some(2)),
            Rec::Attempt(2, Outcome::failed()),
            Rec::GaveUp(2, GiveUpReason::BudgetExhausted),
        ]
    );
    let svc = Scripted::failing(9);
    let mut retry = layered(
        builder(Backoff::constant(ms(1), 1)).on_event(rec.clone()),
        &svc,
    );
    call(&mut retry).await.unwrap();
    assert_eq!(
        rec.take().last(),
        Some(&Rec::GaveUp(2, GiveUpReason::RetriesExhausted))
    );
}

// ---------------------------------------------------------------- run

#[tokio::test(start_paused = true)]
async fn run_retries_an_async_closure_on_the_same_schedule() {
    let policy = RetryPolicy::builder()
        .backoff(exact(Backoff::standard()))
        .build()
        .unwrap();
    let start = Instant::now();
    let calls = Mutex::new(Vec::new());
    let answer = policy
        .run(|| {
            let n = {
                let mut c = calls.lock().unwrap();
                c.push(start.elapsed());
                c.len()
            };
            async move {
                if n < 3 {
                    Err(BoxError::from("throttled"))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(answer, 3);
    assert_eq!(*calls.lock().unwrap(), [ms(0), ms(500), ms(1500)]);
    assert_eq!(policy.budget().level(), Some(495));
}

#[tokio::test(start_paused = true)]
async fn run_calls_nothing_until_polled() {
    let policy = RetryPolicy::default();
    let calls = std::sync::atomic::AtomicU32::new(0);
    let fut = policy.run(|| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async { Ok::<_, BoxError>(()) }
    });
    tokio::time::sleep(secs(1)).await;
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 0);
    fut.await.unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn run_honours_the_deadline() {
    let policy = RetryPolicy::builder().deadline(secs(1)).build().unwrap();
    let start = Instant::now();
    let r: Result<(), CallError<std::io::Error>> = policy.run(std::future::pending).await;
    let err = r.unwrap_err();
    assert!(matches!(err, CallError::DeadlineExceeded(_)), "{err:?}");
    assert_eq!(start.elapsed(), secs(1));
}

// ---------------------------------------------------------------- contracts

#[test]
fn auto_traits_are_preserved() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    type Recorded = RetryPolicy<Classifier, steadfast::replay::CloneReplay, Recorder>;
    send_sync::<Retry<Scripted>>();
    send_sync::<Retry<Scripted, Recorded>>();
    send_sync::<Retry<Scripted, &'static Recorded>>();
    send_sync::<RetryLayer<RetryPolicy<Classifier>>>();
    send::<<Retry<Scripted, RetryPolicy<Classifier>> as Service<u32>>::Future>();
    send::<<Retry<Scripted, &'static RetryPolicy<Classifier>> as Service<u32>>::Future>();
    send_sync::<RetryPolicy>();
}

#[tokio::test(start_paused = true)]
async fn poll_ready_is_the_inner_services() {
    let svc = Scripted::failing(0);
    svc.set_not_ready(true);
    let mut retry = layered(builder(exact(Backoff::standard())), &svc);
    let ready = tokio::time::timeout(secs(1), retry.ready()).await;
    assert!(ready.is_err(), "not ready while the inner service is not");
    svc.set_not_ready(false);
    assert_eq!(status(call(&mut retry).await), 200);
}

// ---------------------------------------------------------------- property: a reference model

#[derive(Debug, Clone, Copy)]
enum Answer {
    Ok,
    NotFound,
    Unavailable,
    Throttled,
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::with_cases(300)))]

    /// Sequential requests on one budget, against a model written from the rules: the calls
    /// made and the budget level after each request agree exactly.
    #[test]
    fn calls_and_budget_follow_the_model(
        answers in prop::collection::vec(
            prop_oneof![Just(Answer::Ok), Just(Answer::NotFound), Just(Answer::Unavailable), Just(Answer::Throttled)],
            0..40,
        ),
        retries in 0u32..5,
        capacity in 5u32..40,
        requests in 1usize..8,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let steps = answers.iter().map(|a| match a {
                Answer::Ok => Step::Status(200),
                Answer::NotFound => Step::Status(404),
                Answer::Unavailable => Step::Status(503),
                Answer::Throttled => Step::Status(429),
            });
            let svc = Scripted::new(steps);
            let budget = RetryBudget::builder().capacity(capacity).build().unwrap();
            let mut retry = layered(builder(Backoff::constant(ms(10), retries)).budget(budget.clone()), &svc);

            let mut model_level = capacity;
            let mut next = 0usize;
            for _ in 0..requests {
                let mut last: Option<u32> = None;
                let mut attempts = 0;
                loop {
                    let a = answers.get(next).copied().unwrap_or(Answer::Ok);
                    next += 1;
                    attempts += 1;
                    match a {
                        Answer::Ok => { model_level = (model_level + last.unwrap_or(1)).min(capacity); break; }
                        Answer::NotFound => break,
                        Answer::Unavailable | Answer::Throttled => {
                            if attempts > retries || model_level < 5 { break; }
                            model_level -= 5;
                            last = Some(5);
                        }
                    }
                }
                let _ = call(&mut retry).await;
                prop_assert_eq!(svc.count(), next);
                prop_assert_eq!(budget.level(), Some(model_level));
            }
            Ok(())
        })?;
    }
}
