//! The lab's one adapter to the library's decision code: every call a simulated client makes
//! goes through the real failover planner (with its router, breakers and budget) or the real
//! retry decision (with its backoff, budget and, optionally, a breaker's permits), driven with
//! virtual instants.
//!
//! # Virtual instants
//!
//! The library's decisions take `now` as a `std::time::Instant` ([`LazyNow::fixed`] for the
//! planner, an `Instant` for a breaker's permits, a closure for the retry decision). The lab
//! captures one base `Instant` per run and hands `base + t` for virtual time `t`. Every rule
//! driven here uses only differences between instants (the router and each breaker measure
//! from the first instant they are given), so a run's results do not depend on the base, and
//! nothing driven here reads a clock: the planner's breaker clock is
//! [`BreakerClock::At`](crate::clock::BreakerClock) for a fixed `LazyNow` (its cheap reading is
//! the fixed instant, never the coarse clock), and the permits of the retry path are given the
//! virtual instant itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backoff::{Backoff, Cursor};
use crate::breaker::{CircuitBreaker, Permit};
use crate::budget::{RetryBudget, Withdrawal};
use crate::classify::Outcome;
use crate::clock::LazyNow;
use crate::deadline::Deadline;
use crate::event::{GiveUpReason, OnEvent};
use crate::failover::options::CallOptions;
use crate::failover::plan::{Action, Plan, PlanEnv, Verdict};
use crate::failover::router::Router;
use crate::failover::service::Settings;
use crate::failover::{Failback, RoutingControl, Switch};
use crate::lab::model::RoutingAction;
use crate::retry::RetryPolicy;
use crate::retry::policy::{Decision, decide};
use crate::stopwatch::Lap;

/// The longest `Retry-After` a simulated client honours.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(20);

/// Virtual time: nanoseconds since the run's start, and the base instant they are added to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
}

impl Clock {
    /// A clock whose virtual zero is `base`.
    pub(crate) fn new(base: Instant) -> Self {
        Clock { base }
    }

    /// The instant of virtual time `t`.
    pub(crate) fn at(&self, t: u64) -> Instant {
        self.base + Duration::from_nanos(t)
    }

    /// The virtual time of `instant` (saturating at zero and at `u64::MAX`).
    pub(crate) fn of(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// What one simulated client's policy is made of: built once per client, as an application
/// builds its layers once per process.
// One per simulated client, built once: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Client<H> {
    /// Retries at one endpoint (the first region) by the retry policy's decision, each attempt
    /// through the breaker's permit when there is one.
    Single {
        policy: RetryPolicy,
        breaker: Option<CircuitBreaker>,
    },
    /// A failover over every region in order, by the planner.
    Failover {
        router: Arc<Router>,
        settings: Settings,
        budget: RetryBudget,
        hook: H,
    },
}

/// What the simulated call does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send an attempt to region `i`.
    Send(usize),
    /// Sleep until this virtual time, then [`Call::resume`].
    Sleep(u64),
    /// The call succeeded.
    Succeeded,
    /// The call failed: the last outcome was final (not retryable), or the policy gave up.
    Failed(Option<GiveUpReason>),
}

/// One call in flight.
pub(crate) enum Call {
    Single {
        cursor: Cursor,
        /// The withdrawal of the attempt in flight, given back on success.
        spent: Option<Withdrawal>,
        permit: Option<Permit<CircuitBreaker>>,
    },
    Failover(Box<Plan>),
}

/// The breaker settings of a client, built per region.
pub(crate) type BreakerFactory<'a> = &'a dyn Fn() -> CircuitBreaker;

impl<H: OnEvent> Client<H> {
    /// A client retrying at one endpoint with `backoff`, paying from `budget`.
    pub(crate) fn single(
        backoff: Backoff,
        budget: RetryBudget,
        breaker: Option<CircuitBreaker>,
    ) -> Self {
        let policy = RetryPolicy::builder()
            .backoff(backoff)
            .budget(budget)
            .retry_after_cap(RETRY_AFTER_CAP)
            .build()
            .expect("the lab's retry settings are within range");
        Client::Single { policy, breaker }
    }

    /// A failover over `regions` in priority order: one attempt per endpoint and pass, passes
    /// after `recover`'s delays.
    pub(crate) fn failover(
        regions: &[Arc<str>],
        breaker: BreakerFactory<'_>,
        failback: Failback,
        recover: Backoff,
        budget: RetryBudget,
        clock: Clock,
        hook: H,
    ) -> Self {
        Client::Failover {
            router: Arc::new(Router::new(
                regions.iter().map(|name| (name.clone(), breaker())),
                failback,
                clock.at(0),
            )),
            settings: Settings {
                attempts_per_endpoint: 1,
                recover,
                deadline: None,
                attempt_timeout: None,
                retry_after_cap: RETRY_AFTER_CAP,
            },
            budget,
            hook,
        }
    }

    fn env<'a>(
        router: &'a Router,
        settings: &'a Settings,
        budget: &'a RetryBudget,
        hook: &'a H,
    ) -> PlanEnv<'a, H> {
        PlanEnv {
            router,
            budget,
            settings,
            hook,
        }
    }

    /// An operator's routing change, through the failover's routing control (a change it
    /// refuses changes nothing); nothing for a client without failover.
    pub(crate) fn route(&self, action: &RoutingAction) {
        let Client::Failover { router, .. } = self else {
            return;
        };
        match action {
            RoutingAction::SwitchOff(name) => {
                let _ = RoutingControl::new(router.clone()).set(name, Switch::Off);
            }
            RoutingAction::SwitchOn(name) => {
                let _ = RoutingControl::new(router.clone()).set(name, Switch::On);
            }
            RoutingAction::FailBack => router.fail_back(),
        }
    }

    /// Starts a call at `t`, its jitter drawn from `seed`.
    pub(crate) fn start(&self, clock: Clock, t: u64, seed: u64) -> (Call, Step) {
        match self {
            Client::Single { policy, .. } => {
                let mut call = Call::Single {
                    cursor: policy.backoff().cursor(seed),
                    spent: None,
                    permit: None,
                };
                let step = self.admit_single(&mut call, clock.at(t));
                (call, step)
            }
            Client::Failover {
                router,
                settings,
                budget,
                hook,
            } => {
                let env = Self::env(router, settings, budget, hook);
                let mut plan = Box::new(Plan::new(router.endpoints.len(), Some(clock.at(t)), seed));
                let action = plan.start(&env, CallOptions::new(), &mut LazyNow::fixed(clock.at(t)));
                let step = Self::carry_out(&env, &mut plan, action, clock);
                (Call::Failover(plan), step)
            }
        }
    }

    /// The one attempt of the single-endpoint path: through the breaker if there is one.
    fn admit_single(&self, call: &mut Call, now: Instant) -> Step {
        let (Client::Single { breaker, .. }, Call::Single { permit, .. }) = (self, call) else {
            unreachable!("a single-endpoint call of a single-endpoint client")
        };
        if let Some(breaker) = breaker {
            match Permit::acquire(breaker.clone(), now) {
                Ok(p) => *permit = Some(p),
                // Rejected: not retryable, so the retry decision returns it as it is.
                Err(_) => return Step::Failed(None),
            }
        }
        Step::Send(0)
    }

    /// The planner's action as a step: a send is sent at once.
    fn carry_out(env: &PlanEnv<'_, H>, plan: &mut Plan, action: Action, clock: Clock) -> Step {
        match action {
            Action::Send(i) => {
                plan.sending(env);
                Step::Send(i)
            }
            Action::Sleep(until) => Step::Sleep(clock.of(until)),
            Action::Stop(reason) => {
                plan.give_up(env, reason, None);
                Step::Failed(Some(reason))
            }
        }
    }

    /// The attempt in flight finished at `t` with `outcome`.
    pub(crate) fn finished(&self, call: &mut Call, outcome: Outcome, clock: Clock, t: u64) -> Step {
        let now = clock.at(t);
        match (self, call) {
            (
                Client::Single { policy, .. },
                Call::Single {
                    cursor,
                    spent,
                    permit,
                },
            ) => {
                if let Some(p) = permit.take() {
                    p.record(&outcome, now);
                }
                if outcome.is_success() {
                    policy.budget().on_success(spent.take());
                    return Step::Succeeded;
                }
                match decide(&outcome, policy, cursor, true, Deadline::none(), || now) {
                    Decision::Return => Step::Failed(None),
                    Decision::GiveUp(reason) => Step::Failed(Some(reason)),
                    Decision::Retry {
                        until, withdrawal, ..
                    } => {
                        *spent = Some(withdrawal);
                        Step::Sleep(clock.of(until))
                    }
                }
            }
            (
                Client::Failover {
                    router,
                    settings,
                    budget,
                    hook,
                },
                Call::Failover(plan),
            ) => {
                let env = Self::env(router, settings, budget, hook);
                let mut lazy = LazyNow::fixed(now);
                match plan.finish(&env, outcome, Lap::default(), &mut lazy) {
                    Verdict::Final if outcome.is_success() => Step::Succeeded,
                    Verdict::Final => Step::Failed(None),
                    Verdict::Failed => {
                        let action = plan.after_failure(&env, Some(|_: &Outcome| true), &mut lazy);
                        Self::carry_out(&env, plan, action, clock)
                    }
                }
            }
            _ => unreachable!("a call belongs to the client that started it"),
        }
    }

    /// The call's sleep ended at `t`.
    pub(crate) fn resume(&self, call: &mut Call, clock: Clock, t: u64) -> Step {
        match (self, call) {
            (Client::Single { .. }, call) => self.admit_single(call, clock.at(t)),
            (
                Client::Failover {
                    router,
                    settings,
                    budget,
                    hook,
                },
                Call::Failover(plan),
            ) => {
                let env = Self::env(router, settings, budget, hook);
                let action = plan.resume(&env, &mut LazyNow::fixed(clock.at(t)));
                Self::carry_out(&env, plan, action, clock)
            }
            _ => unreachable!("a call belongs to the client that started it"),
        }
    }
}

/// The retry decision alone, for the contention experiment: the delay before the next attempt
/// after a conflict, or `None` when the schedule (or the budget) is spent.
pub(crate) fn conflict_delay(
    policy: &RetryPolicy,
    cursor: &mut Cursor,
    clock: Clock,
    t: u64,
) -> Option<u64> {
    match decide(
        &Outcome::failed(),
        policy,
        cursor,
        true,
        Deadline::none(),
        || clock.at(t),
    ) {
        Decision::Retry { delay, .. } => Some(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX)),
        _ => None,
    }
}

/// A retry policy for the contention experiment: `backoff`, no budget.
pub(crate) fn retry_policy(backoff: Backoff) -> RetryPolicy {
    RetryPolicy::builder()
        .backoff(backoff)
        .budget(RetryBudget::unlimited())
        .build()
        .expect("the lab's retry settings are within range")
}

/// A cursor over `policy`'s schedule.
pub(crate) fn cursor(policy: &RetryPolicy, seed: u64) -> Cursor {
    policy.backoff().cursor(seed)
}
