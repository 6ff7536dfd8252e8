//! The planner driven directly, without a runtime: fixed instants, no service, no future.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::backoff::{Backoff, Jitter};
use crate::breaker::CircuitBreaker;
use crate::failover::Failback;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every event, in a short form: its variant and the endpoint(s) it names.
#[derive(Default)]
struct Recorder(RefCell<Vec<String>>);

impl OnEvent for Recorder {
    fn on_event(&self, event: &Event<'_>) {
        let line = match event {
            Event::Attempt {
                endpoint, outcome, ..
            } => format!("attempt {} {outcome:?}", endpoint.unwrap_or("?")),
            Event::Hop { from, to, .. } => format!("hop {from}->{to}"),
            Event::Retry { endpoint, .. } => format!("retry {}", endpoint.unwrap_or("?")),
            Event::RecoverPass { pass, delay } => format!("pass {pass} after {delay:?}"),
            Event::GaveUp { reason, .. } => format!("gave up {reason:?}"),
            Event::FailedOver { from, to, reason } => {
                format!("failed over {from}->{to} {reason:?}")
            }
            Event::FailedBack { from, to } => format!("failed back {from}->{to}"),
            Event::EndpointUnavailable { endpoint, reason } => {
                format!("unavailable {endpoint} {reason:?}")
            }
            Event::EndpointAvailable { endpoint } => format!("available {endpoint}"),
            Event::DeadlineExceeded { .. } => "deadline".to_owned(),
            Event::CallFinished {
                endpoint, attempts, ..
            } => format!("finished {} after {attempts}", endpoint.unwrap_or("-")),
            other => format!("{other:?}"),
        };
        self.0.borrow_mut().push(line);
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

/// A failover's shared state, without services: two or three regions, a recover schedule of
/// one 100 ms pass without jitter.
struct World {
    router: Router,
    budget: RetryBudget,
    settings: Settings,
    hook: Recorder,
    t0: Instant,
}

impl World {
    fn new(names: &[&str]) -> Self {
        let t0 = Instant::now();
        World {
            router: Router::new(
                names
                    .iter()
                    .map(|n| (Arc::from(*n), CircuitBreaker::default())),
                Failback::Immediate,
                t0,
            ),
            budget: RetryBudget::standard(),
            settings: Settings {
                attempts_per_endpoint: 1,
                recover: Backoff::constant(ms(100), 1).with_jitter(Jitter::None),
                deadline: None,
                attempt_timeout: None,
                retry_after_cap: Duration::from_secs(20),
            },
            hook: Recorder::default(),
            t0,
        }
    }

    fn env(&self) -> PlanEnv<'_, Recorder> {
        PlanEnv {
            router: &self.router,
            budget: &self.budget,
            settings: &self.settings,
            hook: &self.hook,
        }
    }

    fn plan(&self) -> Plan {
        Plan::new(self.router.endpoints.len(), Some(self.t0), 7)
    }

    /// `now`: `at` after the world's start.
    fn at(&self, at: Duration) -> LazyNow {
        LazyNow::fixed(self.t0 + at)
    }
}

/// A copy of the request the replay hook lets go again after every outcome.
fn replayable() -> Option<impl FnOnce(&Outcome) -> bool> {
    Some(|_: &Outcome| true)
}

/// Sends the admitted attempt and finishes it with `outcome` at `at`.
fn attempt(w: &World, plan: &mut Plan, outcome: Outcome, at: Duration) -> Verdict {
    plan.sending(&w.env());
    plan.finish(&w.env(), outcome, Lap::default(), &mut w.at(at))
}

/// Sends the admitted attempt, fails it at `at` (a server failure), and asks what follows, the
/// copy replayable.
fn fail(w: &World, plan: &mut Plan, at: Duration) -> Action {
    assert_eq!(attempt(w, plan, Outcome::failed(), at), Verdict::Failed);
    plan.after_failure(&w.env(), replayable(), &mut w.at(at))
}

#[test]
fn a_healthy_primary_is_the_first_branch_sent_at_once() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    let action = plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    assert_eq!(action, Action::Send(0));
    assert!(plan.on_usual_route());
    assert!(
        plan.sending(&w.env()),
        "a copy is kept: another endpoint may follow"
    );
    let verdict = plan.finish(&w.env(), Outcome::Success, Lap::default(), &mut w.at(ms(3)));
    assert_eq!(verdict, Verdict::Final);
    assert_eq!(
        w.hook.take(),
        ["attempt east Success", "finished east after 1"]
    );
    assert_eq!(
        w.budget.level(),
        Some(500),
        "a first-try success deposits into a full bucket"
    );
}

#[test]
fn a_transient_failure_hops_at_once_and_pays_for_the_hop() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    assert_eq!(
        plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0))),
        Action::Send(0)
    );
    assert_eq!(
        attempt(&w, &mut plan, Outcome::failed(), ms(5)),
        Verdict::Failed
    );
    let action = plan.after_failure(&w.env(), replayable(), &mut w.at(ms(5)));
    assert_eq!(action, Action::Send(1));
    assert_eq!(w.budget.level(), Some(495), "the hop withdrew its cost");
    assert_eq!(
        attempt(&w, &mut plan, Outcome::Success, ms(8)),
        Verdict::Final
    );
    assert_eq!(w.budget.level(), Some(500), "the success gave it back");
    assert_eq!(
        w.hook.take(),
        [
            "attempt east Transient { kind: Failed, retry_after: None }",
            "hop east->west",
            "attempt west Success",
            "finished west after 2"
        ]
    );
}

#[test]
fn a_copy_the_replay_hook_refuses_stops_the_call() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    attempt(&w, &mut plan, Outcome::timeout(), ms(5));
    let refused = Some(|_: &Outcome| false);
    let action = plan.after_failure(&w.env(), refused, &mut w.at(ms(5)));
    assert_eq!(action, Action::Stop(GiveUpReason::NotReplayable));
    let stopped = plan.give_up(&w.env(), GiveUpReason::NotReplayable, None);
    assert_eq!(stopped.records.len(), 1);
    assert_eq!(&*stopped.records[0].endpoint, "east");
    assert_eq!(stopped.records[0].elapsed, ms(5));
}

#[test]
fn a_request_marked_once_is_never_copied_nor_sent_again() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    let options = CallOptions::new().replay(ReplayMarker::Once);
    plan.start(&w.env(), options, &mut w.at(ms(0)));
    assert!(!plan.sending(&w.env()), "no copy for a request sent once");
    plan.finish(
        &w.env(),
        Outcome::not_sent(),
        Lap::default(),
        &mut w.at(ms(1)),
    );
    let no_copy: Option<fn(&Outcome) -> bool> = None;
    let action = plan.after_failure(&w.env(), no_copy, &mut w.at(ms(1)));
    assert_eq!(action, Action::Stop(GiveUpReason::NotReplayable));
}

#[test]
fn a_switched_off_primary_is_skipped_and_the_call_fails_over() {
    let w = World::new(&["east", "west"]);
    w.router.switch(|_| Ok::<_, ()>(0b01)).unwrap();
    let mut plan = w.plan();
    let action = plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    assert_eq!(action, Action::Send(1));
    assert!(!plan.on_usual_route());
    assert_eq!(
        w.hook.take(),
        [
            "unavailable east SwitchedOff",
            "failed over east->west Some(SwitchedOff)"
        ]
    );
    assert_eq!(w.router.serving(), 1);
}

#[test]
fn a_failed_pass_sleeps_the_recover_delay_then_walks_again_then_stops() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    assert_eq!(fail(&w, &mut plan, ms(1)), Action::Send(1));
    let action = fail(&w, &mut plan, ms(2));
    assert_eq!(action, Action::Sleep(w.t0 + ms(102)));
    assert_eq!(plan.pass(), 2);
    assert_eq!(plan.resume(&w.env(), &mut w.at(ms(102))), Action::Send(0));
    assert_eq!(fail(&w, &mut plan, ms(103)), Action::Send(1));
    let action = fail(&w, &mut plan, ms(104));
    assert_eq!(action, Action::Stop(GiveUpReason::RetriesExhausted));
    let stopped = plan.give_up(&w.env(), GiveUpReason::RetriesExhausted, None);
    let elapsed: Vec<_> = stopped.records.iter().map(|r| r.elapsed).collect();
    assert_eq!(elapsed, [ms(1), ms(2), ms(103), ms(104)]);
    assert_eq!(plan.attempts(), 4);
}

#[test]
fn a_recover_sleep_that_leaves_no_room_before_the_deadline_is_not_started() {
    let mut w = World::new(&["east"]);
    w.settings.deadline = Some(ms(50));
    let mut plan = w.plan();
    plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    let action = fail(&w, &mut plan, ms(1));
    assert_eq!(action, Action::Stop(GiveUpReason::Deadline));
}

#[test]
fn a_request_whose_own_deadline_is_zero_is_not_admitted() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    let options = CallOptions::new().deadline(Duration::ZERO);
    let action = plan.start(&w.env(), options, &mut w.at(ms(0)));
    assert_eq!(action, Action::Stop(GiveUpReason::Deadline));
}

#[test]
fn an_unknown_pinned_endpoint_stops_with_none_available() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    let options = CallOptions::new().endpoint("north");
    let action = plan.start(&w.env(), options, &mut w.at(ms(0)));
    assert_eq!(action, Action::Stop(GiveUpReason::NoEndpointAvailable));
    let stopped = plan.give_up(&w.env(), GiveUpReason::NoEndpointAvailable, None);
    assert!(stopped.records.is_empty());
}

#[test]
fn a_pinned_request_retries_its_endpoint_on_the_recover_schedule_only() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    let options = CallOptions::new().endpoint("west");
    assert_eq!(
        plan.start(&w.env(), options, &mut w.at(ms(0))),
        Action::Send(1)
    );
    let action = fail(&w, &mut plan, ms(1));
    assert_eq!(action, Action::Sleep(w.t0 + ms(101)));
    assert_eq!(
        w.router.serving(),
        0,
        "a pinned call does not move the serving endpoint"
    );
}

#[test]
fn push_back_skips_the_endpoint_for_its_hint_and_no_same_endpoint_retry_follows() {
    let mut w = World::new(&["east", "west"]);
    w.settings.attempts_per_endpoint = 2;
    let mut plan = w.plan();
    plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    attempt(&w, &mut plan, Outcome::throttled(Some(ms(300))), ms(0));
    let action = plan.after_failure(&w.env(), replayable(), &mut w.at(ms(0)));
    assert_eq!(action, Action::Send(1), "throttled: hop, not retry");
    // The next call skips east until the hint expires, and knows when it does.
    let mut next = w.plan();
    assert_eq!(
        next.start(&w.env(), CallOptions::new(), &mut w.at(ms(100))),
        Action::Send(1)
    );
    let mut later = w.plan();
    assert_eq!(
        later.start(&w.env(), CallOptions::new(), &mut w.at(ms(300))),
        Action::Send(0)
    );
}

#[test]
fn a_second_attempt_at_one_endpoint_is_a_retry_before_the_hop() {
    let mut w = World::new(&["east", "west"]);
    w.settings.attempts_per_endpoint = 2;
    let mut plan = w.plan();
    plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    assert_eq!(fail(&w, &mut plan, ms(1)), Action::Send(0));
    assert_eq!(fail(&w, &mut plan, ms(2)), Action::Send(1));
    let events = w.hook.take();
    assert_eq!(events[1], "retry east");
    assert_eq!(events[3], "hop east->west");
}

#[test]
fn an_empty_budget_ends_the_walk_before_the_hop_and_release_refunds_nothing_twice() {
    let mut w = World::new(&["east", "west"]);
    w.budget = RetryBudget::builder()
        .capacity(7)
        .retry_cost(5)
        .build()
        .unwrap();
    let mut plan = w.plan();
    plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    assert_eq!(fail(&w, &mut plan, ms(1)), Action::Send(1));
    assert_eq!(w.budget.level(), Some(2));
    // Dropped before sending the hop: its tokens go back, once.
    plan.release(&w.env(), &w.at(ms(2)));
    plan.release(&w.env(), &w.at(ms(2)));
    assert_eq!(w.budget.level(), Some(7));
    let mut plan = w.plan();
    plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(2)));
    assert_eq!(fail(&w, &mut plan, ms(3)), Action::Send(1));
    let action = fail(&w, &mut plan, ms(4));
    assert_eq!(action, Action::Stop(GiveUpReason::BudgetExhausted));
}

#[test]
fn nothing_available_waits_for_the_earliest_endpoint_within_the_delay() {
    let w = World::new(&["east"]);
    w.router.push_back(0, w.t0, ms(60));
    let mut plan = w.plan();
    let action = plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    assert_eq!(action, Action::Sleep(w.t0 + ms(60)));
    assert_eq!(plan.resume(&w.env(), &mut w.at(ms(60))), Action::Send(0));
}

#[test]
fn a_deadline_cut_records_the_attempt_and_says_so() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    plan.sending(&w.env());
    plan.cut_by_deadline(
        &w.env(),
        Outcome::timeout(),
        Lap::default(),
        &mut w.at(ms(9)),
    );
    assert_eq!(
        w.hook.take(),
        [
            "attempt east Transient { kind: Timeout, retry_after: None }",
            "deadline",
            "finished east after 1"
        ]
    );
    assert_eq!(plan.attempts(), 1);
}

#[test]
fn a_primary_switched_on_again_takes_the_next_call_back() {
    let w = World::new(&["east", "west"]);
    w.router.switch(|_| Ok::<_, ()>(0b01)).unwrap();
    let mut plan = w.plan();
    assert_eq!(
        plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0))),
        Action::Send(1)
    );
    attempt(&w, &mut plan, Outcome::Success, ms(1));
    w.hook.take();
    w.router.switch(|_| Ok::<_, ()>(0)).unwrap();
    let mut plan = w.plan();
    assert_eq!(
        plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(2))),
        Action::Send(0)
    );
    assert!(plan.on_usual_route(), "nothing skipped, nothing demoted");
    assert_eq!(w.hook.take(), ["available east", "failed back west->east"]);
    assert_eq!(w.router.serving(), 0);
}

#[test]
fn a_recovered_primary_gets_one_trickle_call_which_moves_no_traffic() {
    let mut w = World::new(&["east", "west"]);
    w.router = Router::new(
        ["east", "west"]
            .iter()
            .map(|n| (Arc::from(*n), CircuitBreaker::default())),
        Failback::After(ms(500)),
        w.t0,
    );
    w.router.endpoints[0].breaker.force_open();
    let mut plan = w.plan();
    assert_eq!(
        plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0))),
        Action::Send(1)
    );
    attempt(&w, &mut plan, Outcome::Success, ms(1));
    assert_eq!(w.router.serving(), 1);
    assert_eq!(w.router.demoted(), 0b01, "an open breaker demotes east");
    w.router.endpoints[0].breaker.reset();
    w.hook.take();
    // East's breaker closed again: one call at a time goes there first, as its trickle.
    let mut trickle = w.plan();
    assert_eq!(
        trickle.start(&w.env(), CallOptions::new(), &mut w.at(ms(10))),
        Action::Send(0)
    );
    assert!(!trickle.on_usual_route());
    let mut other = w.plan();
    assert_eq!(
        other.start(&w.env(), CallOptions::new(), &mut w.at(ms(11))),
        Action::Send(1),
        "the slot is taken: the others go where traffic is served"
    );
    attempt(&w, &mut trickle, Outcome::Success, ms(12));
    assert_eq!(w.router.serving(), 1, "a trickle call moves no traffic");
    assert!(w.hook.take().iter().all(|e| !e.starts_with("failed")));
    // Its slot is free again; once the hold-down has passed, all traffic returns.
    let mut next = w.plan();
    assert_eq!(
        next.start(&w.env(), CallOptions::new(), &mut w.at(ms(20))),
        Action::Send(0)
    );
    next.release(&w.env(), &w.at(ms(20)));
    let mut back = w.plan();
    assert_eq!(
        back.start(&w.env(), CallOptions::new(), &mut w.at(ms(600))),
        Action::Send(0)
    );
    assert!(back.on_usual_route(), "restored: no failback head any more");
    assert_eq!(w.router.serving(), 0);
}

#[test]
fn a_call_dropped_in_flight_gives_its_permit_back_and_records_nothing() {
    let w = World::new(&["east", "west"]);
    let mut plan = w.plan();
    plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0)));
    assert!(plan.holds_anything(), "the primary's permit");
    plan.sending(&w.env());
    plan.release(&w.env(), &w.at(ms(5)));
    assert!(!plan.holds_anything());
    assert_eq!(w.hook.take(), Vec::<String>::new(), "nothing recorded");
}

/// The walk's reference model, shared with the property test through the whole stack.
#[path = "../../../tests/failover/walk_model/model.rs"]
mod model;

mod walk_model {
    use proptest::prelude::*;

    use super::model::{Answer, Model, Result_, answer};
    use super::*;

    /// The outcome the failover's tests classify an answer as.
    fn outcome(a: Answer) -> Outcome {
        match a {
            Answer::Ok => Outcome::Success,
            Answer::NotFound => Outcome::Rejected,
            Answer::Unavailable | Answer::Reset => Outcome::failed(),
        }
    }

    fn result(a: Answer) -> Result_ {
        match a {
            Answer::Ok => Result_::Status(200),
            Answer::NotFound => Result_::Status(404),
            Answer::Unavailable => Result_::Status(503),
            Answer::Reset => Result_::Reset,
        }
    }

    /// Breakers that never trip, as in the test through the whole stack.
    fn never_trip(name: &str) -> CircuitBreaker {
        CircuitBreaker::builder()
            .name(name)
            .consecutive_failures(None)
            .window(100_000)
            .minimum_calls(100_000)
            .build()
            .unwrap()
    }

    /// One request driven through the plan, at `clock` (advanced by its sleeps): its result,
    /// the attempts it sent and its recover sleeps.
    fn request(
        w: &World,
        scripts: &[Vec<Answer>],
        next: &mut [usize],
        clock: &mut Instant,
    ) -> (Result_, usize, u32) {
        let start = *clock;
        let mut plan = Plan::new(scripts.len(), Some(start), 7);
        let mut action = plan.start(&w.env(), CallOptions::new(), &mut LazyNow::fixed(start));
        let (mut sent, mut sleeps, mut last) = (0, 0, None);
        loop {
            match action {
                Action::Send(j) => {
                    plan.sending(&w.env());
                    let a = scripts[j].get(next[j]).copied().unwrap_or(Answer::Ok);
                    next[j] += 1;
                    sent += 1;
                    let mut now = LazyNow::fixed(*clock);
                    if plan.finish(&w.env(), outcome(a), Lap::default(), &mut now) == Verdict::Final
                    {
                        return (result(a), sent, sleeps);
                    }
                    last = Some(a);
                    action = plan.after_failure(&w.env(), Some(|_: &Outcome| true), &mut now);
                }
                Action::Sleep(until) => {
                    sleeps += 1;
                    *clock = until;
                    action = plan.resume(&w.env(), &mut LazyNow::fixed(until));
                }
                Action::Stop(reason) => {
                    plan.give_up(&w.env(), reason, None);
                    let last = last.expect("every stop here follows a failure");
                    return (result(last), sent, sleeps);
                }
            }
        }
    }

    proptest! {
        // Failures are kept beside this file, one regression file per test binary's file.
        #![proptest_config(ProptestConfig {
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
            )),
            ..ProptestConfig::with_cases(2000)
        })]

        /// The plan alone, with no runtime and no service, follows the walk's reference model:
        /// the same results, calls per region, recover sleeps and budget level, request after
        /// request.
        #[test]
        fn the_plan_follows_the_walk_model(
            scripts in prop::collection::vec(prop::collection::vec(answer(), 0..12), 1..=4),
            retries in 0u32..=3,
            per_endpoint in 1u32..=3,
            capacity in 1u32..60,
            requests in 1usize..6,
        ) {
            let names = ["east", "west", "north", "south"];
            let mut w = World::new(&names[..scripts.len()]);
            w.router = Router::new(
                names[..scripts.len()].iter().map(|n| (Arc::from(*n), never_trip(n))),
                Failback::Immediate,
                w.t0,
            );
            w.budget = RetryBudget::builder().capacity(capacity).build().unwrap();
            w.settings.recover = Backoff::constant(ms(10), retries);
            w.settings.attempts_per_endpoint = per_endpoint;
            let mut model = Model::new(&scripts, capacity, retries, per_endpoint);
            let mut next = vec![0; scripts.len()];
            let mut clock = w.t0;
            for _ in 0..requests {
                let t0 = clock;
                let got = request(&w, &scripts, &mut next, &mut clock);
                let (want, calls, sleeps) = model.request();
                prop_assert_eq!(&got.0, &want);
                prop_assert_eq!(got.1, calls);
                prop_assert_eq!(got.2, sleeps);
                prop_assert_eq!(clock - t0, ms(10) * sleeps);
                prop_assert_eq!(&next, &model.calls);
                prop_assert_eq!(w.budget.level(), Some(model.level));
            }
        }
    }
}
