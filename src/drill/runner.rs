//! The drill runner: plays a drill on a running stack, restores it, reports.

use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use super::plan::{Drill, DrillKind, Objectives};
use super::report::{Phase, Report, Verdict};
use super::tap::{LogSetup, Recorder, Tap};
use crate::budget::RetryBudget;
use crate::chaos::{ChaosHandle, Script};
use crate::error::ConfigError;
use crate::failover::{ControlError, FailoverHandle, RoutingControl, Switch};

/// Why a drill did not run. Nothing was changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DrillError {
    /// Another drill is running on the same stack.
    #[error("another drill is running on this stack")]
    AlreadyRunning,
    /// The drill names no endpoint of the failover.
    #[error("no endpoint is named {0:?}")]
    UnknownEndpoint(String),
    /// The drill is played with chaos, and the target's chaos handle was not given
    /// ([`Drills::chaos`]).
    #[error("no chaos handle for endpoint {0:?}: a {1} drill needs one")]
    NoChaos(String, &'static str),
    /// The target is switched off already: a drill would measure nothing.
    #[error("endpoint {0:?} is switched off already")]
    TargetOff(String),
    /// The routing control refused the switch (switching off the last endpoint that is on).
    #[error(transparent)]
    Refused(#[from] ControlError),
    /// The drill's or the objectives' settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Plays drills on one running client stack: its failover's handle, the routing control, the
/// chaos handles of its endpoints, and the [`Tap`] whose hooks the stack carries. See the
/// [module docs](super).
#[derive(Clone)]
pub struct Drills {
    handle: FailoverHandle,
    routing: RoutingControl,
    chaos: Vec<(Arc<str>, ChaosHandle)>,
    budget: Option<RetryBudget>,
    tap: Tap,
}

impl fmt::Debug for Drills {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drills")
            .field("handle", &self.handle)
            .field("chaos", &self.chaos)
            .field("tap", &self.tap)
            .finish_non_exhaustive()
    }
}

impl Drills {
    /// A runner for the failover of `handle`, whose hooks include `tap`'s. Planned failovers
    /// switch endpoints through `handle.routing()`, reporting to the tap; give the stack's own
    /// routing control with [`routing`](Self::routing) to report to its hook too.
    pub fn new(handle: FailoverHandle, tap: &Tap) -> Self {
        Drills {
            routing: handle.routing().on_event(tap.hook(())),
            handle,
            chaos: Vec::new(),
            budget: None,
            tap: tap.clone(),
        }
    }

    /// The routing control planned failovers switch endpoints with (give it the tap's hook:
    /// `handle.routing().on_event(tap.hook(my_hook))`).
    pub fn routing(mut self, routing: RoutingControl) -> Self {
        self.routing = routing;
        self
    }

    /// The chaos handle of endpoint `name`'s chaos layer, for outage, brownout and hang drills.
    ///
    /// # Errors
    ///
    /// [`DrillError::UnknownEndpoint`].
    pub fn chaos(mut self, name: &str, chaos: ChaosHandle) -> Result<Self, DrillError> {
        let known = self
            .handle
            .endpoints()
            .find(|e| *e == name)
            .ok_or_else(|| DrillError::UnknownEndpoint(name.to_owned()))?;
        let known: Arc<str> = known.into();
        self.chaos.retain(|(n, _)| *n != known);
        self.chaos.push((known, chaos));
        Ok(self)
    }

    /// The failover's budget (`failover.budget().clone()`), so that reports say how many tokens
    /// a drill spent.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Plays `drill` while the stack serves its traffic, and reports against `objectives`.
    ///
    /// The timeline: the lead (normal traffic), the fault (the target switched off, or its
    /// chaos script running) for the drill's window, then the recovery (the target switched
    /// on, its chaos state restored) for the settle time. The routing switch and chaos state it
    /// changed are restored when it ends, when its abort rule trips (it returns the report at
    /// once, [`Report::aborted`] set), and when this future is dropped.
    ///
    /// # Errors
    ///
    /// [`DrillError::AlreadyRunning`] while another drill runs on this stack; an unknown
    /// target, a missing chaos handle, a target switched off, a refused switch (the target is
    /// the last endpoint on), or invalid settings. Nothing is changed then.
    pub async fn run(&self, drill: &Drill, objectives: &Objectives) -> Result<Report, DrillError> {
        drill.validate()?;
        objectives.validate()?;
        let names: Vec<Arc<str>> = self.handle.endpoints().map(Arc::from).collect();
        let target = match drill.target_name() {
            None => 0,
            Some(t) => names
                .iter()
                .position(|n| **n == *t)
                .ok_or_else(|| DrillError::UnknownEndpoint(t.to_owned()))?,
        };
        let name = names[target].clone();
        let kind = *drill.kind();
        let chaos = if kind.needs_chaos() {
            let chaos = self.chaos.iter().find(|(n, _)| *n == name).map(|(_, c)| c);
            Some(chaos.ok_or_else(|| DrillError::NoChaos(name.to_string(), kind.name()))?)
        } else {
            None
        };
        let mut session = Session::begin(self, name.clone(), chaos)?;
        if session.switch == Switch::Off {
            return Err(DrillError::TargetOff(name.to_string()));
        }
        let (abort_share, abort_min_calls) = drill.abort_rule();
        let recorder = &self.tap.shared;
        recorder.begin(LogSetup {
            endpoints: names,
            target,
            slow_call: objectives.slow_call,
            abort_share,
            abort_min_calls,
        });
        let budget_start = self.budget.as_ref().and_then(RetryBudget::level);

        let mut aborted = !pause(recorder, drill.lead_time()).await;
        let mut window = Duration::ZERO;
        if !aborted {
            session.fault(&kind, drill.chaos_seed())?;
            recorder.enter(Phase::Fault);
            let began = tokio::time::Instant::now();
            aborted = !pause(recorder, kind.window()).await;
            window = began.elapsed();
            session.restore();
            recorder.enter(Phase::Recovery);
        }
        if !aborted {
            aborted = !pause(recorder, drill.settle_time()).await;
        }
        let settle = if aborted {
            Duration::ZERO
        } else {
            drill.settle_time()
        };
        // The log is this drill's: the session holds the stack until it is dropped, below.
        let Some(log) = recorder.end() else {
            return Err(DrillError::AlreadyRunning);
        };
        drop(session);
        let mut report = Report {
            drill: kind.name(),
            target: name.to_string(),
            lead: drill.lead_time(),
            window,
            settle,
            time_to_fail_over: log.time_to_fail_over(),
            time_to_fail_back: log.time_to_fail_back(),
            phases: log.phases.to_vec(),
            budget: log.budget,
            breaker_transitions: log.transitions,
            timeline: log.timeline,
            aborted: log.aborted,
            verdict: Verdict::default(),
        };
        report.budget.start = budget_start;
        report.budget.end = self.budget.as_ref().and_then(RetryBudget::level);
        report.budget.spent =
            budget_start.map(|s| s.saturating_sub(report.budget.lowest.unwrap_or(s)));
        for p in &mut report.phases {
            p.finish();
        }
        report.judge(&kind, objectives);
        Ok(report)
    }

    /// Runs `drill` every `period` (the first after one period), handing each result to
    /// `on_report`, for ever: a future the caller spawns (and aborts to stop), as with the
    /// health checks' driver. A run refused because another drill runs is reported too.
    pub async fn every<F>(
        self,
        period: Duration,
        drill: Drill,
        objectives: Objectives,
        mut on_report: F,
    ) where
        F: FnMut(Result<Report, DrillError>),
    {
        let start = tokio::time::Instant::now() + period;
        let mut ticks = tokio::time::interval_at(start, period.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            on_report(self.run(&drill, &objectives).await);
        }
    }
}

/// Sleeps `duration`, or less if the abort rule trips; false if it did.
async fn pause(recorder: &Recorder, duration: Duration) -> bool {
    let mut sleep = pin!(tokio::time::sleep(duration));
    loop {
        if recorder.aborted() {
            return false;
        }
        let mut notified = pin!(recorder.abort.notified());
        let done = std::future::poll_fn(|cx| {
            if notified.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            sleep.as_mut().poll(cx).map(|()| true)
        })
        .await;
        if done {
            return !recorder.aborted();
        }
    }
}

/// A drill holding its stack: what it changed, restored when it ends or is dropped.
struct Session<'a> {
    drills: &'a Drills,
    target: Arc<str>,
    /// The target's switch before the drill.
    switch: Switch,
    /// The target's chaos handle and its state before the drill: enabled, script.
    chaos: Option<(&'a ChaosHandle, bool, Script)>,
    /// Whether the fault was started and not yet undone.
    faulted: bool,
}

impl<'a> Session<'a> {
    /// Takes the stack (refused while another drill holds it) and notes the state to restore.
    fn begin(
        drills: &'a Drills,
        target: Arc<str>,
        chaos: Option<&'a ChaosHandle>,
    ) -> Result<Self, DrillError> {
        let recorder = &drills.tap.shared;
        if recorder
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(DrillError::AlreadyRunning);
        }
        let switch = drills
            .routing
            .state()
            .into_iter()
            .find(|(n, _)| *n == target)
            .map_or(Switch::On, |(_, s)| s);
        Ok(Session {
            drills,
            target,
            switch,
            chaos: chaos.map(|c| (c, c.is_enabled(), c.script())),
            faulted: false,
        })
    }

    /// Starts the fault.
    fn fault(&mut self, kind: &DrillKind, seed: u64) -> Result<(), DrillError> {
        self.faulted = true;
        let window = Duration::ZERO..kind.window();
        let script = Script::builder().seed(seed);
        let script = match *kind {
            DrillKind::PlannedFailover { .. } => {
                self.drills.routing.set(&self.target, Switch::Off)?;
                return Ok(());
            }
            DrillKind::RegionalOutage { .. } => script.outage(window),
            DrillKind::Brownout { rate, .. } => script.brownout(window, rate),
            DrillKind::Hang { .. } => script.hangs(window),
        };
        if let Some((chaos, ..)) = &self.chaos {
            chaos.start(script.build()?);
        }
        Ok(())
    }

    /// Puts back the target's switch and chaos state as they were, once, if the fault began.
    fn restore(&mut self) {
        if !std::mem::take(&mut self.faulted) {
            return;
        }
        // Switching back on is never refused; back off only if it was off (the drill refuses
        // to start then), so this cannot fail.
        let _ = self.drills.routing.set(&self.target, self.switch);
        if let Some((chaos, enabled, script)) = &self.chaos {
            chaos.disable();
            chaos.replace(script.clone());
            if *enabled {
                chaos.enable();
            }
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.restore();
        let recorder = &self.drills.tap.shared;
        // A drill dropped midway records nothing more.
        recorder.end();
        recorder.running.store(false, Ordering::Release);
    }
}
