//! Failover drills: each drill under paused time against scripted regions with exact figures;
//! the abort path, dropping a drill and a second drill refused, each restoring the stack exactly;
//! a drill against real loopback servers in `loopback.rs`.

mod loopback;
mod props;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::task::{Context, Poll};
use steadfast::breaker::BreakerState;
use steadfast::chaos::{Chaos, ChaosHandle, ChaosLayer, Script};
use steadfast::drill::{Drill, DrillError, Drills, Objectives, Phase, Report, Tap, TapHook};
use steadfast::failover::{ControlError, Failback, Failover, Switch};
use steadfast::replay::CloneReplay;
use steadfast::{Backoff, BoxError, DefaultClassifier};
use tower::{Layer, ServiceExt};

const REGIONS: [&str; 3] = ["us-east-2", "us-west-1", "eu-west-1"];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

type Stack = Failover<Chaos<Region>, DefaultClassifier, CloneReplay, TapHook>;

/// A scripted region: answers its name at once, counting the calls it receives.
#[derive(Clone)]
struct Region {
    name: &'static str,
    received: Arc<AtomicU64>,
}

impl tower::Service<u32> for Region {
    type Response = &'static str;
    type Error = BoxError;
    type Future = std::future::Ready<Result<&'static str, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u32) -> Self::Future {
        self.received.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok(self.name))
    }
}

/// Three scripted regions answering their name at once, each behind a chaos layer, under a
/// failover with breakers that open after 3 failures for 10 s, a 500 ms attempt timeout, no
/// recover pass and immediate failback; the tap on the failover, its breakers and the routing.
struct Rig {
    failover: Stack,
    chaos: Vec<ChaosHandle>,
    /// Calls each region's service received.
    received: Vec<Arc<AtomicU64>>,
    tap: Tap,
    drills: Drills,
}

fn rig() -> Rig {
    let tap = Tap::new();
    let chaos: Vec<ChaosHandle> = REGIONS.iter().map(|_| ChaosHandle::disabled()).collect();
    let received: Vec<Arc<AtomicU64>> = REGIONS.iter().map(|_| Arc::default()).collect();
    let mut builder = Failover::builder();
    for (i, name) in REGIONS.into_iter().enumerate() {
        let region = Region {
            name,
            received: received[i].clone(),
        };
        builder = builder.endpoint(name, ChaosLayer::new(chaos[i].clone()).layer(region));
    }
    let hook = tap.clone();
    let failover = builder
        .breakers(move |b| {
            b.consecutive_failures(3)
                .open_duration(secs(10))
                .probes(1)
                .required_successes(1)
                .on_event(hook.hook(()))
        })
        .attempt_timeout(ms(500))
        .recover(Backoff::none())
        .failback(Failback::Immediate)
        .seed(7)
        .on_event(tap.hook(()))
        .build()
        .expect("valid");
    let mut drills = Drills::new(failover.handle(), &tap).budget(failover.budget().clone());
    for (i, name) in REGIONS.into_iter().enumerate() {
        drills = drills.chaos(name, chaos[i].clone()).expect("known");
    }
    Rig {
        failover,
        chaos,
        received,
        tap,
        drills,
    }
}

impl Rig {
    /// The service's traffic: one call at a time, 100 ms after the previous one ended, the
    /// first at 50 ms (so that no call starts at the drill's instants, which are whole
    /// seconds), for ever.
    async fn traffic(&self) {
        tokio::time::sleep(ms(50)).await;
        loop {
            let _ = self.failover.clone().oneshot(7).await;
            tokio::time::sleep(ms(100)).await;
        }
    }

    /// Runs `drill` against `objectives` while the traffic flows.
    async fn drill(&self, drill: &Drill, objectives: &Objectives) -> Result<Report, DrillError> {
        tokio::select! {
            report = self.drills.run(drill, objectives) => report,
            () = self.traffic() => unreachable!("the traffic never ends"),
        }
    }

    fn routing(&self) -> Vec<(Arc<str>, Switch)> {
        self.failover.handle().routing().state()
    }

    /// Each chaos handle's switch and script.
    fn chaos_state(&self) -> Vec<(bool, Script)> {
        self.chaos
            .iter()
            .map(|c| (c.is_enabled(), c.script()))
            .collect()
    }
}

/// The calls each region served in `phase`, in priority order.
fn served(report: &Report, phase: Phase) -> Vec<u64> {
    REGIONS
        .iter()
        .map(|r| report.phase(phase).served_by(r))
        .collect()
}

/// The breaker transitions, as (instant, breaker, to).
fn transitions(report: &Report) -> Vec<(Duration, &str, BreakerState)> {
    report
        .breaker_transitions
        .iter()
        .map(|t| (t.at, &*t.breaker, t.to))
        .collect()
}

fn timeline(report: &Report) -> Vec<(Duration, &str)> {
    report.timeline.iter().map(|m| (m.at, &*m.what)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_planned_failover_moves_every_call_with_none_failed() {
    let rig = rig();
    let drill = Drill::planned_failover(secs(5))
        .lead(secs(1))
        .settle(secs(4));
    let report = rig.drill(&drill, &Objectives::default()).await.unwrap();

    // Calls at 0.05, 0.15, ... 9.95 s: 10 in the lead, 50 switched off, 40 after.
    assert_eq!(served(&report, Phase::Lead), [10, 0, 0]);
    assert_eq!(served(&report, Phase::Fault), [0, 50, 0]);
    assert_eq!(served(&report, Phase::Recovery), [40, 0, 0]);
    // The first call after the switch (1.05 s) went to us-west-1; the first after the switch
    // back (6.05 s) to the primary again.
    assert_eq!(report.time_to_fail_over, Some(ms(50)));
    assert_eq!(report.time_to_fail_back, Some(ms(50)));
    let disturbed = report.disturbed();
    assert_eq!(
        (disturbed.calls, disturbed.failed, disturbed.attempts),
        (90, 0, 90)
    );
    assert_eq!(disturbed.hops, 0);
    assert!(transitions(&report).is_empty());
    assert_eq!(
        timeline(&report),
        [
            (secs(1), "routing switch us-east-2 off"),
            (ms(1050), "failed over us-east-2 -> us-west-1"),
            (secs(6), "routing switch us-east-2 on"),
            (ms(6050), "failed back us-west-1 -> us-east-2"),
        ]
    );
    assert_eq!((report.window, report.settle), (secs(5), secs(4)));
    assert_eq!(report.budget.spent, Some(0));
    assert!(report.verdict.passed, "{report}");
    assert!(rig.routing().iter().all(|(_, s)| *s == Switch::On));
}

#[tokio::test(start_paused = true)]
async fn a_regional_outage_costs_three_hops_and_fails_back_after_the_open_period() {
    let rig = rig();
    let drill = Drill::regional_outage(secs(5))
        .lead(secs(1))
        .settle(secs(20));
    let objectives = Objectives::default().failback_within(secs(6));
    let report = rig.drill(&drill, &objectives).await.unwrap();
    // The runbook shows this very report.
    let runbook = include_str!("../../docs/runbook.md");
    let sample = runbook
        .split("```text\n")
        .find(|block| block.starts_with("drill: regional outage"))
        .and_then(|block| block.split("```").next())
        .unwrap();
    assert_eq!(report.to_string(), sample);

    // The calls at 1.05, 1.15 and 1.25 s fail at the primary and hop to us-west-1 in the same
    // call; the third failure opens the primary's breaker (10 s), so the calls from 1.35 s start
    // at us-west-1. None fails.
    assert_eq!(report.time_to_fail_over, Some(ms(50)));
    assert_eq!(served(&report, Phase::Lead), [10, 0, 0]);
    assert_eq!(served(&report, Phase::Fault), [0, 50, 0]);
    let fault = report.phase(Phase::Fault);
    assert_eq!(
        (fault.calls, fault.failed, fault.attempts, fault.hops),
        (50, 0, 53, 3)
    );
    assert_eq!(fault.attempts_per_call, 1.06);
    // The outage ends at 6 s, the breaker stays open until 11.25 s; the call then is its probe,
    // which closes it and is served by the primary: failback 5.25 s after the recovery. The
    // next call starts at the primary: the failover's own failback (a probe does not move it).
    assert_eq!(report.time_to_fail_back, Some(ms(5250)));
    assert_eq!(served(&report, Phase::Recovery), [148, 52, 0]);
    assert_eq!(
        transitions(&report),
        [
            (ms(1250), "us-east-2", BreakerState::Open),
            (ms(11250), "us-east-2", BreakerState::HalfOpen),
            (ms(11250), "us-east-2", BreakerState::Closed),
        ]
    );
    assert_eq!(
        timeline(&report),
        [
            (ms(1350), "failed over us-east-2 -> us-west-1"),
            (ms(11350), "failed back us-west-1 -> us-east-2"),
        ]
    );
    // Each hop withdrew 5 tokens; the success after it gave them back.
    assert_eq!(
        (report.budget.start, report.budget.lowest, report.budget.end),
        (Some(500), Some(495), Some(500))
    );
    assert_eq!(report.budget.spent, Some(5));
    assert!(report.verdict.passed, "{report}");
    // The drill put the chaos state back: switched off, the empty script.
    assert_eq!(rig.chaos_state()[0], (false, Script::default()));
    // The primary's service saw the lead's calls and the recovery's, never the outage's.
    assert_eq!(rig.received[0].load(Ordering::Relaxed), 10 + 148);
}

#[tokio::test(start_paused = true)]
async fn a_hang_is_cut_at_the_attempt_timeout_each_time_until_the_breaker_opens() {
    let rig = rig();
    let drill = Drill::hang(secs(5)).lead(secs(1)).settle(secs(1));
    let objectives = Objectives::default()
        .rto(ms(500))
        .slow_call(ms(400))
        .max_slowed_share(0.1);
    let report = rig.drill(&drill, &objectives).await.unwrap();

    // The call at 1.05 s hangs at the primary, is cut at 1.55 s and served by us-west-1: the
    // time to fail over is 550 ms, over the 500 ms objective. The next calls (1.65, 2.25 s)
    // hang and hop the same way; the third timeout opens the breaker at 2.75 s.
    assert_eq!(report.time_to_fail_over, Some(ms(550)));
    let fault = report.phase(Phase::Fault);
    assert_eq!((fault.failed, fault.slowed, fault.hops), (0, 3, 3));
    // 2.85 .. 5.95 s: 32 calls straight to us-west-1, after the three slow ones.
    assert_eq!(fault.calls, 35);
    assert_eq!(
        transitions(&report),
        [(ms(2750), "us-east-2", BreakerState::Open)]
    );
    // The hang window has ended, but the breaker is still open when the drill ends.
    assert_eq!(report.time_to_fail_back, None);
    assert!(!report.verdict.passed);
    let failed: Vec<&str> = report
        .verdict
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| &*c.objective)
        .collect();
    assert_eq!(failed, ["time to fail over <= 500ms"]);
    // 3 slowed of 45 calls (35 + 10 in the recovery) is under the 10 % allowed.
    assert_eq!(report.disturbed().calls, 45);
}

#[tokio::test(start_paused = true)]
async fn a_brownout_fails_the_script_s_calls_over_and_loses_none() {
    let rig = rig();
    let seed = 11;
    let drill = Drill::brownout(secs(5), 0.5)
        .seed(seed)
        .lead(secs(1))
        .settle(secs(1));
    let report = rig.drill(&drill, &Objectives::default()).await.unwrap();

    // The script decides which calls fail, call by call (numbered from 0 at the primary),
    // known in advance: the first one it fails is served by us-west-1.
    let script = Script::builder()
        .seed(seed)
        .brownout(Duration::ZERO..secs(5), 0.5)
        .build()
        .unwrap();
    let first = (0..50u64)
        .find(|&n| script.decide(n, ms(50 + 100 * n)).is_some())
        .unwrap();
    assert_eq!(report.time_to_fail_over, Some(ms(50 + 100 * first)));
    assert!(report.verdict.passed, "{report}");
    assert_eq!(report.disturbed().failed, 0);
    // A brownout does not require a failover: no objective on the time to fail over.
    assert!(
        report
            .verdict
            .checks
            .iter()
            .all(|c| !c.objective.starts_with("time to fail over"))
    );
}

/// The failover with us-west-1 and eu-west-1 down (chaos outages the drill does not own): a
/// drill on the primary fails every call.
fn doomed() -> Rig {
    let rig = rig();
    for c in &rig.chaos[1..] {
        c.start(Script::builder().outage(..).build().unwrap());
    }
    rig
}

#[tokio::test(start_paused = true)]
async fn the_abort_rule_stops_the_drill_at_the_call_that_trips_it_and_restores_the_stack() {
    let rig = doomed();
    let (routing, chaos) = (rig.routing(), rig.chaos_state());
    let drill = Drill::planned_failover(secs(60))
        .lead(secs(1))
        .abort_above(0.5, 3);
    let report = rig.drill(&drill, &Objectives::default()).await.unwrap();

    // The calls at 1.05, 1.15 and 1.25 s fail everywhere: 3 of 3 failed trips the rule at once.
    let aborted = report.aborted.clone().unwrap();
    assert_eq!(
        (aborted.at, aborted.calls, aborted.failed),
        (ms(1250), 3, 3)
    );
    assert_eq!(report.window, ms(250));
    assert_eq!(report.settle, Duration::ZERO);
    assert!(!report.verdict.passed);
    // The primary is switched on again, the other chaos handles untouched.
    assert_eq!(rig.routing(), routing);
    assert_eq!(rig.chaos_state(), chaos);
    assert!(!rig.tap.drill_running());
    assert_eq!(rig.failover.clone().oneshot(7).await.unwrap(), "us-east-2");
}

#[tokio::test(start_paused = true)]
async fn an_aborted_outage_drill_restores_the_chaos_state_exactly() {
    let rig = doomed();
    let before = rig.chaos_state();
    let drill = Drill::regional_outage(secs(60))
        .lead(secs(1))
        .abort_above(0.5, 3);
    let report = rig.drill(&drill, &Objectives::default()).await.unwrap();
    assert_eq!(report.aborted.map(|a| a.at), Some(ms(1250)));
    assert_eq!(rig.chaos_state(), before);
    assert!(!rig.tap.drill_running());
}

#[tokio::test(start_paused = true)]
async fn dropping_a_drill_restores_the_routing_and_the_chaos_state() {
    let rig = rig();
    // An experiment of the operator's own on the primary: enabled, a script with no fault now.
    let own = Script::builder()
        .seed(3)
        .outage(secs(3600)..secs(7200))
        .build()
        .unwrap();
    rig.chaos[0].start(own.clone());
    let routing = rig.routing();

    for drill in [
        Drill::planned_failover(secs(60)),
        Drill::regional_outage(secs(60)),
        Drill::hang(secs(60)),
    ] {
        let o = Objectives::default();
        let run = tokio::time::timeout(secs(3), rig.drill(&drill, &o));
        assert!(run.await.is_err(), "cut mid-fault");
        assert_eq!(rig.routing(), routing);
        assert_eq!(rig.chaos_state()[0], (true, own.clone()));
        assert!(!rig.tap.drill_running());
    }
    // A drill puts back what it changed, not what the stack learned: the hangs opened the
    // primary's breaker, so the stack serves from us-west-1 until it closes again.
    let handle = rig.failover.handle();
    assert_eq!(handle.breaker_state("us-east-2"), Some(BreakerState::Open));
    assert_eq!(rig.failover.clone().oneshot(7).await.unwrap(), "us-west-1");
}

#[tokio::test(start_paused = true)]
async fn a_second_drill_on_the_same_stack_is_refused_and_changes_nothing() {
    let rig = rig();
    let first = Drill::planned_failover(secs(5))
        .lead(secs(1))
        .settle(secs(1));
    let second = Drill::regional_outage(secs(5)).target("us-west-1");
    let refused = async {
        tokio::time::sleep(secs(2)).await;
        let chaos = rig.chaos_state();
        let refused = rig.drills.run(&second, &Objectives::default()).await;
        assert_eq!(rig.chaos_state(), chaos);
        refused
    };
    let o = Objectives::default();
    let (report, refused) = tokio::join!(rig.drill(&first, &o), refused);
    assert_eq!(refused.unwrap_err(), DrillError::AlreadyRunning);
    assert!(report.unwrap().verdict.passed);
    // Once the first has ended, the second runs.
    let second = second.lead(Duration::ZERO).settle(Duration::ZERO);
    assert!(rig.drill(&second, &Objectives::default()).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_planned_failover_of_the_last_endpoint_on_is_refused_by_the_routing_rule() {
    let rig = rig();
    let routing = rig.failover.handle().routing();
    routing
        .apply([("us-west-1", Switch::Off), ("eu-west-1", Switch::Off)])
        .unwrap();
    let before = rig.routing();
    let drill = Drill::planned_failover(secs(5)).lead(Duration::ZERO);
    let err = rig.drill(&drill, &Objectives::default()).await.unwrap_err();
    assert_eq!(
        err,
        DrillError::Refused(ControlError::LastEndpointOn("us-east-2".into()))
    );
    assert_eq!(rig.routing(), before);
    assert!(!rig.tap.drill_running());
    // A target already off is refused as well.
    let drill = Drill::planned_failover(secs(5)).target("us-west-1");
    assert_eq!(
        rig.drill(&drill, &Objectives::default()).await.unwrap_err(),
        DrillError::TargetOff("us-west-1".into())
    );
}

#[tokio::test(start_paused = true)]
async fn bad_drills_are_refused_with_typed_errors() {
    let rig = rig();
    let o = Objectives::default();
    let unknown = Drill::hang(secs(1)).target("mars-1");
    assert_eq!(
        rig.drills.run(&unknown, &o).await.unwrap_err(),
        DrillError::UnknownEndpoint("mars-1".into())
    );
    let no_chaos = Drills::new(rig.failover.handle(), &rig.tap);
    assert_eq!(
        no_chaos.run(&Drill::hang(secs(1)), &o).await.unwrap_err(),
        DrillError::NoChaos("us-east-2".into(), "hang")
    );
    for bad in [
        Drill::brownout(secs(1), 1.5),
        Drill::hang(Duration::ZERO),
        Drill::hang(secs(1)).abort_above(-0.1, 1),
    ] {
        assert!(matches!(
            rig.drills.run(&bad, &o).await,
            Err(DrillError::Config(_))
        ));
    }
    let bad = Objectives::default().max_failed_share(2.0);
    assert!(matches!(
        rig.drills.run(&Drill::hang(secs(1)), &bad).await,
        Err(DrillError::Config(_))
    ));
    assert!(!rig.tap.drill_running());
}

#[tokio::test(start_paused = true)]
async fn drills_run_on_a_schedule_from_a_future_the_caller_spawns() {
    let rig = rig();
    let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reports.clone();
    let drill = Drill::planned_failover(secs(1))
        .lead(Duration::ZERO)
        .settle(secs(1));
    let schedule = rig
        .drills
        .clone()
        .every(secs(60), drill, Objectives::default(), move |r| {
            seen.lock().unwrap().push(r.map(|r| r.verdict.passed));
        });
    tokio::select! {
        () = schedule => unreachable!("runs for ever"),
        () = rig.traffic() => unreachable!("the traffic never ends"),
        () = tokio::time::sleep(secs(185)) => {}
    }
    // Drills at 60, 120 and 180 s, each 2 s long.
    assert_eq!(*reports.lock().unwrap(), [Ok(true), Ok(true), Ok(true)]);
    assert!(!rig.tap.drill_running());
}

#[tokio::test(start_paused = true)]
async fn the_report_reads_as_text() {
    let rig = rig();
    let drill = Drill::planned_failover(secs(1))
        .lead(secs(1))
        .settle(secs(1));
    let report = rig.drill(&drill, &Objectives::default()).await.unwrap();
    let text = report.to_string();
    assert!(
        text.starts_with("drill: planned failover of us-east-2 (PASS)\n"),
        "{text}"
    );
    assert!(text.contains("time to fail over: 50ms"), "{text}");
    assert!(
        text.contains("[ok] failed calls <= 0.100 %: 0.000 % (0 of 20)"),
        "{text}"
    );
}

#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn the_report_serializes_to_json_in_milliseconds() {
    let rig = rig();
    let drill = Drill::regional_outage(secs(5))
        .lead(secs(1))
        .settle(secs(20));
    let report = rig.drill(&drill, &Objectives::default()).await.unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["drill"], "regional outage");
    assert_eq!(json["target"], "us-east-2");
    assert_eq!(json["time_to_fail_over_ms"], 50);
    assert_eq!(json["time_to_fail_back_ms"], 5250);
    assert_eq!(json["window_ms"], 5000);
    assert_eq!(json["phases"][1]["phase"], "fault");
    assert_eq!(json["phases"][1]["hops"], 3);
    assert_eq!(json["phases"][1]["attempts_per_call"], 1.06);
    assert_eq!(json["phases"][1]["served"][1]["endpoint"], "us-west-1");
    assert_eq!(json["phases"][1]["served"][1]["calls"], 50);
    assert_eq!(json["breaker_transitions"][0]["at_ms"], 1250);
    assert_eq!(json["breaker_transitions"][0]["to"], "open");
    assert_eq!(json["breaker_transitions"][1]["to"], "half_open");
    assert_eq!(json["budget"]["spent"], 5);
    assert_eq!(json["aborted"], serde_json::Value::Null);
    assert_eq!(json["verdict"]["passed"], true);
}

#[test]
fn a_drill_and_a_schedule_are_futures_a_multi_threaded_runtime_can_spawn() {
    fn send<T: Send + 'static>(_: T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let rig = rig();
    let drills = rig.drills.clone();
    send(async move {
        let _ = drills
            .run(&Drill::hang(secs(1)), &Objectives::default())
            .await;
    });
    send(rig.drills.clone().every(
        secs(60),
        Drill::hang(secs(1)),
        Objectives::default(),
        |_| {},
    ));
}
