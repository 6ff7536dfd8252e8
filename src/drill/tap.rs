//! The event tap: a hook the stack carries always, recording only while a drill runs.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::report::{Aborted, BreakerChange, BudgetReport, Mark, Phase, PhaseReport, Served};
use crate::classify::Outcome;
use crate::event::{Event, GiveUpReason, Layer, OnEvent};

/// At most this many breaker transitions and timeline marks are kept per drill (the rest are
/// counted, not kept), so that a flapping breaker cannot grow a report without bound.
pub const MAX_MARKS: usize = 1024;

/// The drill recorder of one client stack: install its [`hook`](Tap::hook)s on the stack
/// (the failover, its breakers, the routing control), and give it to [`Drills`](super::Drills).
///
/// While no drill runs, a hook passes each event to the hook it wraps and does one relaxed
/// atomic load more: no clock reading, no lock, no allocation. While a drill runs, it also
/// asks for durations ([`OnEvent::timed`]) and records the events a report needs, under a lock
/// held for the recording only.
///
/// # Clone
///
/// A cheap handle: clones share one recorder.
#[derive(Clone, Default)]
pub struct Tap {
    pub(crate) shared: Arc<Recorder>,
}

impl fmt::Debug for Tap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tap")
            .field(
                "drill_running",
                &self.shared.running.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

impl Tap {
    /// A recorder for one stack, recording nothing until a drill starts.
    pub fn new() -> Self {
        Tap::default()
    }

    /// A hook passing every event to `hook` (`()` for none) and, while a drill runs, to the
    /// recorder. Give one to the failover (`.on_event(tap.hook(my_hook))`), one to its breakers
    /// (`.breakers(move |b| b.on_event(tap.hook(())))`) for their transitions, and one to the
    /// routing control the drills use ([`RoutingControl::on_event`]).
    ///
    /// [`RoutingControl::on_event`]: crate::failover::RoutingControl::on_event
    pub fn hook<H>(&self, hook: H) -> TapHook<H> {
        TapHook {
            hook,
            shared: self.shared.clone(),
        }
    }

    /// Whether a drill is running on this stack.
    pub fn drill_running(&self) -> bool {
        self.shared.running.load(Ordering::Acquire)
    }
}

/// The hook made by [`Tap::hook`]: the caller's hook, and the drill recorder.
#[derive(Clone)]
pub struct TapHook<H = ()> {
    hook: H,
    shared: Arc<Recorder>,
}

impl<H: fmt::Debug> fmt::Debug for TapHook<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapHook")
            .field("hook", &self.hook)
            .finish_non_exhaustive()
    }
}

impl<H: OnEvent> OnEvent for TapHook<H> {
    #[inline]
    fn on_event(&self, event: &Event<'_>) {
        self.hook.on_event(event);
        if self.shared.recording.load(Ordering::Relaxed) {
            self.shared.record(event);
        }
    }

    #[inline]
    fn timed(&self) -> bool {
        self.hook.timed() || self.shared.recording.load(Ordering::Relaxed)
    }
}

/// The state a tap's hooks share.
#[derive(Default)]
pub(crate) struct Recorder {
    /// A drill holds this stack (set by the runner, compare-and-swap).
    pub(crate) running: AtomicBool,
    /// Events are recorded: the one load of a hook while no drill runs.
    recording: AtomicBool,
    log: Mutex<Option<Log>>,
    /// Woken when the abort rule trips.
    pub(crate) abort: Notify,
}

/// What one drill has recorded so far.
pub(crate) struct Log {
    origin: Instant,
    endpoints: Vec<Arc<str>>,
    target: usize,
    phase: Phase,
    slow_call: Duration,
    abort_share: f64,
    abort_min_calls: u64,
    pub(crate) fault_at: Option<Duration>,
    pub(crate) recovered_at: Option<Duration>,
    pub(crate) phases: [PhaseReport; 3],
    first_elsewhere: Option<Duration>,
    back_at: Option<Duration>,
    pub(crate) budget: BudgetReport,
    pub(crate) transitions: Vec<BreakerChange>,
    pub(crate) timeline: Vec<Mark>,
    pub(crate) aborted: Option<Aborted>,
}

/// How a drill sets up its log.
pub(crate) struct LogSetup {
    pub(crate) endpoints: Vec<Arc<str>>,
    pub(crate) target: usize,
    pub(crate) slow_call: Duration,
    pub(crate) abort_share: f64,
    pub(crate) abort_min_calls: u64,
}

impl Log {
    fn new(setup: LogSetup, origin: Instant) -> Self {
        let phases = Phase::ALL.map(|phase| PhaseReport {
            phase: Some(phase),
            served: setup
                .endpoints
                .iter()
                .map(|e| Served {
                    endpoint: e.to_string(),
                    calls: 0,
                })
                .collect(),
            ..PhaseReport::default()
        });
        Log {
            origin,
            endpoints: setup.endpoints,
            target: setup.target,
            phase: Phase::Lead,
            slow_call: setup.slow_call,
            abort_share: setup.abort_share,
            abort_min_calls: setup.abort_min_calls,
            fault_at: None,
            recovered_at: None,
            phases,
            first_elsewhere: None,
            back_at: None,
            budget: BudgetReport::default(),
            transitions: Vec::new(),
            timeline: Vec::new(),
            aborted: None,
        }
    }

    fn stats(&mut self) -> &mut PhaseReport {
        let i = Phase::ALL
            .iter()
            .position(|p| *p == self.phase)
            .unwrap_or(0);
        &mut self.phases[i]
    }

    fn mark(&mut self, at: Duration, what: String) {
        if self.timeline.len() < MAX_MARKS {
            self.timeline.push(Mark { at, what });
        }
    }

    fn budget_level(&mut self, level: Option<u32>) {
        if let Some(level) = level {
            self.budget.lowest = Some(self.budget.lowest.map_or(level, |l| l.min(level)));
        }
    }

    /// From the fault's start to the first call served elsewhere.
    pub(crate) fn time_to_fail_over(&self) -> Option<Duration> {
        Some(self.first_elsewhere? - self.fault_at?)
    }

    /// From the fault's end to the call from which the target served every call.
    pub(crate) fn time_to_fail_back(&self) -> Option<Duration> {
        Some(self.back_at? - self.recovered_at?)
    }

    /// Records `event` at `at`; true if it trips the abort rule.
    fn record(&mut self, event: &Event<'_>, at: Duration) -> bool {
        match *event {
            Event::CallFinished {
                layer: Layer::Failover,
                endpoint,
                attempts,
                outcome,
                elapsed,
            } => return self.call(at, endpoint, attempts, outcome, elapsed),
            Event::Hop { budget_level, .. } => {
                self.stats().hops += 1;
                self.budget_level(budget_level);
            }
            Event::Retry { budget_level, .. } => {
                self.stats().retries += 1;
                self.budget_level(budget_level);
            }
            Event::RecoverPass { .. } => self.stats().recover_passes += 1,
            Event::GaveUp {
                reason,
                budget_level,
                ..
            } => {
                if reason == GiveUpReason::BudgetExhausted {
                    self.budget.exhausted += 1;
                }
                self.budget_level(budget_level);
            }
            Event::BreakerTransition {
                breaker, from, to, ..
            } if self.transitions.len() < MAX_MARKS => {
                self.transitions.push(BreakerChange {
                    at,
                    breaker: breaker.unwrap_or_default().to_owned(),
                    from,
                    to,
                });
            }
            Event::FailedOver { from, to, .. } => {
                self.mark(at, format!("failed over {from} -> {to}"));
            }
            Event::FailedBack { from, to } => self.mark(at, format!("failed back {from} -> {to}")),
            Event::RoutingChanged {
                endpoint, switch, ..
            } => self.mark(at, format!("routing switch {endpoint} {switch}")),
            _ => {}
        }
        false
    }

    /// A call through the failover ended at `at`.
    fn call(
        &mut self,
        at: Duration,
        endpoint: Option<&str>,
        attempts: u32,
        outcome: Option<Outcome>,
        elapsed: Option<Duration>,
    ) -> bool {
        let served = matches!(outcome, Some(Outcome::Success | Outcome::Rejected));
        let slow_call = self.slow_call;
        let index = endpoint.and_then(|e| self.endpoints.iter().position(|n| **n == *e));
        let stats = self.stats();
        stats.calls += 1;
        stats.attempts += u64::from(attempts);
        if !served {
            stats.failed += 1;
        } else if elapsed.is_some_and(|e| e > slow_call) {
            stats.slowed += 1;
        }
        if let (true, Some(i)) = (served, index) {
            stats.served[i].calls += 1;
            let elsewhere = i != self.target;
            match self.phase {
                Phase::Lead => {}
                Phase::Fault | Phase::Recovery if elsewhere => {
                    self.first_elsewhere.get_or_insert(at);
                    self.back_at = None;
                }
                Phase::Fault => {}
                Phase::Recovery => {
                    self.back_at.get_or_insert(at);
                }
            }
        }
        if self.phase == Phase::Lead || self.aborted.is_some() {
            return false;
        }
        let (calls, failed) = self.phases[1..]
            .iter()
            .fold((0, 0), |(c, f), p| (c + p.calls, f + p.failed));
        if calls >= self.abort_min_calls && failed as f64 > self.abort_share * calls as f64 {
            self.aborted = Some(Aborted { at, calls, failed });
            return true;
        }
        false
    }
}

impl Recorder {
    /// Records one event of a running drill.
    fn record(&self, event: &Event<'_>) {
        if !matches!(
            event,
            Event::CallFinished { .. }
                | Event::Hop { .. }
                | Event::Retry { .. }
                | Event::RecoverPass { .. }
                | Event::GaveUp { .. }
                | Event::BreakerTransition { .. }
                | Event::FailedOver { .. }
                | Event::FailedBack { .. }
                | Event::RoutingChanged { .. }
        ) {
            return;
        }
        let now = crate::clock::now();
        let tripped = match self.lock().as_mut() {
            Some(log) => {
                let at = now.saturating_duration_since(log.origin);
                log.record(event, at)
            }
            None => false,
        };
        if tripped {
            self.abort.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Log>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts recording a drill now; returns its origin.
    pub(crate) fn begin(&self, setup: LogSetup) -> Instant {
        let origin = crate::clock::now();
        *self.lock() = Some(Log::new(setup, origin));
        self.recording.store(true, Ordering::Relaxed);
        origin
    }

    /// Moves the drill into `phase` now (the fault or the recovery begins).
    pub(crate) fn enter(&self, phase: Phase) {
        let now = crate::clock::now();
        if let Some(log) = self.lock().as_mut() {
            let at = now.saturating_duration_since(log.origin);
            log.phase = phase;
            match phase {
                Phase::Fault => log.fault_at = Some(at),
                Phase::Recovery => log.recovered_at = Some(at),
                Phase::Lead => {}
            }
        }
    }

    /// Whether the running drill's abort rule has tripped.
    pub(crate) fn aborted(&self) -> bool {
        self.lock().as_ref().is_some_and(|l| l.aborted.is_some())
    }

    /// Stops recording and hands the log over.
    pub(crate) fn end(&self) -> Option<Log> {
        self.recording.store(false, Ordering::Relaxed);
        self.lock().take()
    }
}
