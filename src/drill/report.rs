//! What a drill measured, and its verdict: text through `Display`, JSON through `serde`.

use std::fmt;
use std::time::Duration;

#[cfg(feature = "serde")]
use crate::health::ser;

use super::plan::{DrillKind, Objectives};
use crate::breaker::BreakerState;

/// The report of one drill. Instants (`at`) are from the drill's start (the start of its lead).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Report {
    /// The drill's name ([`DrillKind::name`]).
    pub drill: &'static str,
    /// The endpoint faulted.
    pub target: String,
    /// The normal traffic observed before the fault.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "lead_ms", serialize_with = "ser::ms")
    )]
    pub lead: Duration,
    /// How long the fault lasted (shorter if the drill was aborted).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "window_ms", serialize_with = "ser::ms")
    )]
    pub window: Duration,
    /// The traffic observed after the fault.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "settle_ms", serialize_with = "ser::ms")
    )]
    pub settle: Duration,
    /// From the fault's start to the first call served by another endpoint than the target;
    /// `None` if none was.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "time_to_fail_over_ms", serialize_with = "ser::opt_ms")
    )]
    pub time_to_fail_over: Option<Duration>,
    /// From the fault's end to the first call served by the target after which no call was
    /// served elsewhere; `None` if calls were still served elsewhere when the drill ended.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "time_to_fail_back_ms", serialize_with = "ser::opt_ms")
    )]
    pub time_to_fail_back: Option<Duration>,
    /// The calls of each phase: the lead, the fault, the recovery.
    pub phases: Vec<PhaseReport>,
    /// The retry budget.
    pub budget: BudgetReport,
    /// Every breaker transition, in order.
    pub breaker_transitions: Vec<BreakerChange>,
    /// Routing changes, failovers and failbacks, in order.
    pub timeline: Vec<Mark>,
    /// Why the drill stopped early, if it did.
    pub aborted: Option<Aborted>,
    /// The objectives, checked.
    pub verdict: Verdict,
}

/// A phase of a drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Phase {
    /// Before the fault: the baseline.
    Lead,
    /// From the fault's start to its end: the switch over.
    Fault,
    /// From the fault's end to the drill's end: the switch back.
    Recovery,
}

impl Phase {
    /// The three phases, in order.
    pub const ALL: [Phase; 3] = [Phase::Lead, Phase::Fault, Phase::Recovery];

    /// `lead`, `fault`, `recovery`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Lead => "lead",
            Phase::Fault => "fault",
            Phase::Recovery => "recovery",
        }
    }
}

/// The calls that ended in one phase of a drill.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PhaseReport {
    /// The phase, `None` only in a default value.
    pub phase: Option<Phase>,
    /// Calls through the failover that ended in it.
    pub calls: u64,
    /// Calls that failed: every outcome but a success or a rejection (an answer, such as a
    /// 404), and calls that made no attempt.
    pub failed: u64,
    /// Calls served (not failed) but slower than the objective's slow-call threshold.
    pub slowed: u64,
    /// `failed / calls` (0 without calls).
    pub failed_share: f64,
    /// `slowed / calls` (0 without calls).
    pub slowed_share: f64,
    /// Attempts made by these calls.
    pub attempts: u64,
    /// `attempts / calls` (0 without calls).
    pub attempts_per_call: f64,
    /// Hops to another endpoint.
    pub hops: u64,
    /// Retries at the same endpoint.
    pub retries: u64,
    /// Recover passes started.
    pub recover_passes: u64,
    /// The calls each endpoint served, in priority order.
    pub served: Vec<Served>,
}

impl PhaseReport {
    /// Fills the shares from the counts.
    pub(crate) fn finish(&mut self) {
        let per = |n: u64| {
            if self.calls == 0 {
                0.0
            } else {
                n as f64 / self.calls as f64
            }
        };
        self.failed_share = per(self.failed);
        self.slowed_share = per(self.slowed);
        self.attempts_per_call = per(self.attempts);
    }

    /// The calls endpoint `name` served.
    pub fn served_by(&self, name: &str) -> u64 {
        self.served
            .iter()
            .find(|s| s.endpoint == name)
            .map_or(0, |s| s.calls)
    }
}

/// The calls one endpoint served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Served {
    /// The endpoint.
    pub endpoint: String,
    /// How many calls it served.
    pub calls: u64,
}

/// The retry budget during a drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BudgetReport {
    /// Tokens when the drill started, if the runner was given the budget.
    pub start: Option<u32>,
    /// The lowest level events reported (after a withdrawal), if any did.
    pub lowest: Option<u32>,
    /// Tokens when the drill ended, if the runner was given the budget.
    pub end: Option<u32>,
    /// Tokens spent at the worst moment: `start - lowest` (0 when no event reported a level).
    pub spent: Option<u32>,
    /// Calls that gave up because the budget was empty.
    pub exhausted: u64,
}

/// A breaker's transition during a drill.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BreakerChange {
    /// When, from the drill's start.
    #[cfg_attr(feature = "serde", serde(rename = "at_ms", serialize_with = "ser::ms"))]
    pub at: Duration,
    /// The breaker's name (the endpoint's, in a failover).
    pub breaker: String,
    /// The state it left.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::breaker_state"))]
    pub from: BreakerState,
    /// The state it entered.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::breaker_state"))]
    pub to: BreakerState,
}

/// Something that happened to the routing during a drill: a switch changed, calls failed over
/// or back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Mark {
    /// When, from the drill's start.
    #[cfg_attr(feature = "serde", serde(rename = "at_ms", serialize_with = "ser::ms"))]
    pub at: Duration,
    /// What, in words: `failed over us-east-2 -> us-west-1`.
    pub what: String,
}

/// Why and when a drill stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Aborted {
    /// When, from the drill's start.
    #[cfg_attr(feature = "serde", serde(rename = "at_ms", serialize_with = "ser::ms"))]
    pub at: Duration,
    /// The drill's calls (from the fault on) when it stopped.
    pub calls: u64,
    /// How many of them had failed.
    pub failed: u64,
}

/// The objectives, checked: passed when every check passed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Verdict {
    /// Whether every check passed.
    pub passed: bool,
    /// Each objective with what was measured.
    pub checks: Vec<Check>,
}

/// One objective checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Check {
    /// The objective: `time to fail over <= 5s`.
    pub objective: String,
    /// What was measured: `1.2s`.
    pub measured: String,
    /// Whether it held.
    pub passed: bool,
}

impl Report {
    /// The calls of `phase`.
    pub fn phase(&self, phase: Phase) -> &PhaseReport {
        let i = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0);
        &self.phases[i]
    }

    /// The fault and recovery phases together: the calls the drill may have disturbed.
    pub fn disturbed(&self) -> PhaseReport {
        let mut sum = PhaseReport::default();
        for p in &self.phases[1..] {
            sum.calls += p.calls;
            sum.failed += p.failed;
            sum.slowed += p.slowed;
            sum.attempts += p.attempts;
            sum.hops += p.hops;
            sum.retries += p.retries;
            sum.recover_passes += p.recover_passes;
            for s in &p.served {
                match sum.served.iter_mut().find(|t| t.endpoint == s.endpoint) {
                    Some(t) => t.calls += s.calls,
                    None => sum.served.push(s.clone()),
                }
            }
        }
        sum.finish();
        sum
    }

    /// Checks `objectives` against the measures, filling [`verdict`](Self::verdict).
    pub(crate) fn judge(&mut self, kind: &DrillKind, objectives: &Objectives) {
        let mut checks = Vec::new();
        let mut check = |objective: String, measured: String, passed: bool| {
            checks.push(Check {
                objective,
                measured,
                passed,
            })
        };
        check(
            "not aborted".into(),
            match &self.aborted {
                None => "ran to the end".into(),
                Some(a) => format!(
                    "aborted at {:?}: {} of {} calls failed",
                    a.at, a.failed, a.calls
                ),
            },
            self.aborted.is_none(),
        );
        if kind.expects_failover() {
            check(
                format!("time to fail over <= {:?}", objectives.rto),
                opt(self.time_to_fail_over),
                self.time_to_fail_over.is_some_and(|t| t <= objectives.rto),
            );
        }
        if let Some(limit) = objectives.failback {
            check(
                format!("time to fail back <= {limit:?}"),
                opt(self.time_to_fail_back),
                self.time_to_fail_back.is_some_and(|t| t <= limit),
            );
        }
        let disturbed = self.disturbed();
        check(
            format!("failed calls <= {}", percent(objectives.max_failed_share)),
            format!(
                "{} ({} of {})",
                percent(disturbed.failed_share),
                disturbed.failed,
                disturbed.calls
            ),
            disturbed.failed_share <= objectives.max_failed_share,
        );
        if let Some(max) = objectives.max_slowed_share {
            check(
                format!(
                    "calls slower than {:?} <= {}",
                    objectives.slow_call,
                    percent(max)
                ),
                format!(
                    "{} ({} of {})",
                    percent(disturbed.slowed_share),
                    disturbed.slowed,
                    disturbed.calls
                ),
                disturbed.slowed_share <= max,
            );
        }
        self.verdict = Verdict {
            passed: checks.iter().all(|c| c.passed),
            checks,
        };
    }
}

/// `d` in words, to the microsecond (real clocks measure nanoseconds no drill needs).
fn opt(d: Option<Duration>) -> String {
    d.map_or_else(
        || "never".to_owned(),
        |d| {
            format!(
                "{:?}",
                Duration::from_micros(d.as_micros().try_into().unwrap_or(u64::MAX))
            )
        },
    )
}

fn percent(share: f64) -> String {
    format!("{:.3} %", share * 100.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "drill: {} of {} ({})",
            self.drill,
            self.target,
            if self.verdict.passed { "PASS" } else { "FAIL" }
        )?;
        writeln!(
            f,
            "  lead {}, fault {}, settle {}",
            opt(Some(self.lead)),
            opt(Some(self.window)),
            opt(Some(self.settle))
        )?;
        writeln!(f, "  time to fail over: {}", opt(self.time_to_fail_over))?;
        writeln!(f, "  time to fail back: {}", opt(self.time_to_fail_back))?;
        writeln!(
            f,
            "  {:<9} {:>7} {:>7} {:>9} {:>7} {:>9} {:>8} {:>5} {:>7}  served by",
            "phase",
            "calls",
            "failed",
            "failed %",
            "slowed",
            "slowed %",
            "att/call",
            "hops",
            "retries"
        )?;
        for p in &self.phases {
            let served: Vec<String> = p
                .served
                .iter()
                .map(|s| format!("{} {}", s.endpoint, s.calls))
                .collect();
            writeln!(
                f,
                "  {:<9} {:>7} {:>7} {:>9.3} {:>7} {:>9.3} {:>8.2} {:>5} {:>7}  {}",
                p.phase.map_or("", Phase::as_str),
                p.calls,
                p.failed,
                p.failed_share * 100.0,
                p.slowed,
                p.slowed_share * 100.0,
                p.attempts_per_call,
                p.hops,
                p.retries,
                served.join(", ")
            )?;
        }
        let b = &self.budget;
        let tokens = |t: Option<u32>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
        writeln!(
            f,
            "  budget: start {}, lowest {}, end {}, spent {}, calls out of budget {}",
            tokens(b.start),
            tokens(b.lowest),
            tokens(b.end),
            tokens(b.spent),
            b.exhausted
        )?;
        // Breaker transitions and routing marks, in one chronological list.
        let mut lines: Vec<(Duration, String)> = self
            .breaker_transitions
            .iter()
            .map(|t| {
                (
                    t.at,
                    format!("breaker {}: {} -> {}", t.breaker, t.from, t.to),
                )
            })
            .chain(self.timeline.iter().map(|m| (m.at, m.what.clone())))
            .collect();
        lines.sort_by_key(|(at, _)| *at);
        for (at, what) in lines {
            writeln!(f, "  {:>10.3}s {what}", at.as_secs_f64())?;
        }
        if let Some(a) = &self.aborted {
            writeln!(
                f,
                "  ABORTED at {:.3}s: {} of {} calls failed",
                a.at.as_secs_f64(),
                a.failed,
                a.calls
            )?;
        }
        for c in &self.verdict.checks {
            writeln!(
                f,
                "  [{}] {}: {}",
                if c.passed { "ok" } else { "FAILED" },
                c.objective,
                c.measured
            )?;
        }
        Ok(())
    }
}
