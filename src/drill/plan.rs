//! What a drill does ([`Drill`]) and what it must show ([`Objectives`]): plain data.

use std::time::Duration;

use crate::error::ConfigError;

/// The fault a drill plays on its target endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum DrillKind {
    /// A planned failover: the target's routing switch goes off for `hold`, then on again.
    PlannedFailover {
        /// How long the target stays switched off.
        hold: Duration,
    },
    /// An unplanned regional outage: every call to the target fails for `window` (a chaos
    /// outage on the target's chaos handle).
    RegionalOutage {
        /// How long the outage lasts.
        window: Duration,
    },
    /// A brownout: a share `rate` of the calls to the target fails for `window`.
    Brownout {
        /// How long the brownout lasts.
        window: Duration,
        /// The share of calls failed, in (0, 1].
        rate: f64,
    },
    /// The target hangs: every call to it never answers for `window` (only the attempt
    /// timeout or the deadline ends it).
    Hang {
        /// How long the target hangs.
        window: Duration,
    },
}

impl DrillKind {
    /// The drill's name: `planned failover`, `regional outage`, `brownout`, `hang`.
    pub fn name(&self) -> &'static str {
        match self {
            DrillKind::PlannedFailover { .. } => "planned failover",
            DrillKind::RegionalOutage { .. } => "regional outage",
            DrillKind::Brownout { .. } => "brownout",
            DrillKind::Hang { .. } => "hang",
        }
    }

    /// How long the fault lasts.
    pub fn window(&self) -> Duration {
        match *self {
            DrillKind::PlannedFailover { hold } => hold,
            DrillKind::RegionalOutage { window }
            | DrillKind::Brownout { window, .. }
            | DrillKind::Hang { window } => window,
        }
    }

    /// Whether the fault must move traffic off the target: every kind but a brownout, whose
    /// calls may still be served by the target.
    pub fn expects_failover(&self) -> bool {
        !matches!(self, DrillKind::Brownout { .. })
    }

    /// Whether it is played with chaos (every kind but a planned failover, which is played with
    /// the routing switch).
    pub(crate) fn needs_chaos(&self) -> bool {
        !matches!(self, DrillKind::PlannedFailover { .. })
    }
}

/// A named drill against one endpoint of a running stack: its fault, its timeline and its
/// abort rule. See the [module docs](super) for the timeline.
///
/// ```
/// use std::time::Duration;
/// use steadfast::drill::Drill;
///
/// let secs = Duration::from_secs;
/// let drill = Drill::regional_outage(secs(60)) // the primary fails for a minute
///     .lead(secs(10))                           // ten seconds of normal traffic first
///     .settle(secs(120))                        // then two minutes to fail back
///     .abort_above(0.01, 100);                  // stop if over 1 % of 100+ calls fail
/// assert_eq!(drill.kind().name(), "regional outage");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    kind: DrillKind,
    target: Option<String>,
    lead: Duration,
    settle: Duration,
    abort_share: f64,
    abort_min_calls: u64,
    seed: u64,
}

/// The default abort bound: 5 % of the drill's calls failed...
pub const DEFAULT_ABORT_SHARE: f64 = 0.05;
/// ...once it has seen at least 20 calls.
pub const DEFAULT_ABORT_MIN_CALLS: u64 = 20;
/// The default time observed before the fault: 1 s.
pub const DEFAULT_LEAD: Duration = Duration::from_secs(1);
/// The default time observed after the fault: 60 s, two default breaker open periods (30 s).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(60);

impl Drill {
    fn new(kind: DrillKind) -> Self {
        Drill {
            kind,
            target: None,
            lead: DEFAULT_LEAD,
            settle: DEFAULT_SETTLE,
            abort_share: DEFAULT_ABORT_SHARE,
            abort_min_calls: DEFAULT_ABORT_MIN_CALLS,
            seed: 1,
        }
    }

    /// Switch the target off for `hold`, then on again ([`DrillKind::PlannedFailover`]).
    pub fn planned_failover(hold: Duration) -> Self {
        Self::new(DrillKind::PlannedFailover { hold })
    }

    /// Fail every call to the target for `window` ([`DrillKind::RegionalOutage`]).
    pub fn regional_outage(window: Duration) -> Self {
        Self::new(DrillKind::RegionalOutage { window })
    }

    /// Fail a share `rate` of the calls to the target for `window` ([`DrillKind::Brownout`]).
    pub fn brownout(window: Duration, rate: f64) -> Self {
        Self::new(DrillKind::Brownout { window, rate })
    }

    /// Hang every call to the target for `window` ([`DrillKind::Hang`]).
    pub fn hang(window: Duration) -> Self {
        Self::new(DrillKind::Hang { window })
    }

    /// The endpoint to fault. Default: the primary (the first endpoint).
    pub fn target(mut self, endpoint: impl Into<String>) -> Self {
        self.target = Some(endpoint.into());
        self
    }

    /// How long normal traffic is observed before the fault (the baseline). Default
    /// [`DEFAULT_LEAD`].
    pub fn lead(mut self, lead: Duration) -> Self {
        self.lead = lead;
        self
    }

    /// How long traffic is observed after the fault ends, for failback. Default
    /// [`DEFAULT_SETTLE`]: leave room for the breaker's open duration and the failback
    /// hold-down.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Abort (and restore) as soon as more than `share` of the drill's calls (from the fault
    /// on) have failed, once it has seen at least `min_calls`. Default [`DEFAULT_ABORT_SHARE`]
    /// of [`DEFAULT_ABORT_MIN_CALLS`].
    pub fn abort_above(mut self, share: f64, min_calls: u64) -> Self {
        self.abort_share = share;
        self.abort_min_calls = min_calls;
        self
    }

    /// The seed of the chaos script (which calls a brownout fails). Default 1.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The fault.
    pub fn kind(&self) -> &DrillKind {
        &self.kind
    }

    /// The target endpoint, if one was named.
    pub fn target_name(&self) -> Option<&str> {
        self.target.as_deref()
    }

    pub(crate) fn lead_time(&self) -> Duration {
        self.lead
    }

    pub(crate) fn settle_time(&self) -> Duration {
        self.settle
    }

    /// The abort rule: the share of failed calls above which the drill stops, and the calls it
    /// must have seen first.
    pub fn abort_rule(&self) -> (f64, u64) {
        (self.abort_share, self.abort_min_calls)
    }

    pub(crate) fn chaos_seed(&self) -> u64 {
        self.seed
    }

    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (setting, d) in [
            ("drill window", self.kind.window()),
            ("drill lead", self.lead),
            ("drill settle", self.settle),
        ] {
            ConfigError::check_duration(setting, d)?;
        }
        if self.kind.window().is_zero() {
            return Err(ConfigError::invalid(
                "drill window",
                self.kind.window(),
                "more than zero",
            ));
        }
        if let DrillKind::Brownout { rate, .. } = self.kind {
            check_share("drill brownout rate", rate)?;
        }
        check_share("drill abort share", self.abort_share)
    }
}

/// `share` is in [0, 1].
fn check_share(setting: &'static str, share: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&share) {
        Ok(())
    } else {
        Err(ConfigError::invalid(setting, share, "a share in [0, 1]"))
    }
}

/// What a drill must show to pass: its recovery time, and how many calls may fail or be slowed.
///
/// ```
/// use std::time::Duration;
/// use steadfast::drill::Objectives;
///
/// let objectives = Objectives::default()            // RTO 5 s, at most 0.1 % failed
///     .rto(Duration::from_secs(2))
///     .failback_within(Duration::from_secs(90))
///     .slow_call(Duration::from_millis(500))
///     .max_slowed_share(0.05);
/// # let _ = objectives;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objectives {
    pub(crate) rto: Duration,
    pub(crate) failback: Option<Duration>,
    pub(crate) max_failed_share: f64,
    pub(crate) slow_call: Duration,
    pub(crate) max_slowed_share: Option<f64>,
}

impl Default for Objectives {
    /// RTO 5 s, at most 0.1 % of the calls failed, a call over 1 s slowed (counted, not
    /// checked), failback not checked.
    fn default() -> Self {
        Objectives {
            rto: Duration::from_secs(5),
            failback: None,
            max_failed_share: 0.001,
            slow_call: Duration::from_secs(1),
            max_slowed_share: None,
        }
    }
}

impl Objectives {
    /// The longest time to fail over: from the fault's start to the first call served by
    /// another endpoint. Checked for every kind but a brownout (where it is reported).
    pub fn rto(mut self, rto: Duration) -> Self {
        self.rto = rto;
        self
    }

    /// The longest time to fail back: from the fault's end until calls are served by the target
    /// again. Default: not checked.
    pub fn failback_within(mut self, limit: Duration) -> Self {
        self.failback = Some(limit);
        self
    }

    /// The largest share of the drill's calls (from the fault on) that may fail.
    pub fn max_failed_share(mut self, share: f64) -> Self {
        self.max_failed_share = share;
        self
    }

    /// A served call taking longer than this is counted as slowed. Default 1 s.
    pub fn slow_call(mut self, threshold: Duration) -> Self {
        self.slow_call = threshold;
        self
    }

    /// The largest share of the drill's calls that may be slowed. Default: not checked.
    pub fn max_slowed_share(mut self, share: f64) -> Self {
        self.max_slowed_share = Some(share);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_share("drill objective failed share", self.max_failed_share)?;
        if let Some(s) = self.max_slowed_share {
            check_share("drill objective slowed share", s)?;
        }
        Ok(())
    }
}
