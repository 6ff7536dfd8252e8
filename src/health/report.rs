//! The readiness roll-up: dependencies registered as critical or optional, each judged up,
//! degraded or down, and one status for the service. See the [module docs](super#readiness).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::table::{EndpointHealth, HealthTable};
use crate::breaker::{BreakerState, CircuitBreaker};
use crate::error::ConfigError;
use crate::failover::{EndpointStatus, FailoverHandle, Switch, Unavailable};

/// What a service depends on, for a [`HealthReport`]: a failover, a circuit breaker, or an
/// endpoint checked by a [`HealthDriver`](super::HealthDriver). `From` a [`FailoverHandle`] and
/// a [`CircuitBreaker`]. What "down" means for each is in the [module docs](super#readiness).
#[derive(Debug, Clone)]
pub struct Dependency {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Failover {
        handle: FailoverHandle,
        checks: Option<HealthTable>,
    },
    Breaker(CircuitBreaker),
    Endpoint {
        table: HealthTable,
        name: Arc<str>,
        // Its place in the table, found by `build`.
        index: usize,
    },
}

impl Dependency {
    /// A failover: down when no endpoint can take a call, degraded when calls go to a
    /// secondary or every endpoint fails its checks.
    pub fn failover(handle: FailoverHandle) -> Self {
        Dependency {
            kind: Kind::Failover {
                handle,
                checks: None,
            },
        }
    }

    /// A failover whose endpoints are checked by the driver that keeps `checks`: as
    /// [`failover`](Self::failover), and each endpoint's entry also carries its checks' last
    /// error.
    pub fn checked_failover(handle: FailoverHandle, checks: &HealthTable) -> Self {
        Dependency {
            kind: Kind::Failover {
                handle,
                checks: Some(checks.clone()),
            },
        }
    }

    /// A circuit breaker: down while open or forced open, degraded while half-open.
    pub fn breaker(breaker: CircuitBreaker) -> Self {
        Dependency {
            kind: Kind::Breaker(breaker),
        }
    }

    /// Endpoint `name` of the table a [`HealthDriver`](super::HealthDriver) keeps: down while
    /// unhealthy. [`HealthReportBuilder::build`] fails if the table has no such endpoint.
    pub fn endpoint(checks: &HealthTable, name: &str) -> Self {
        Dependency {
            kind: Kind::Endpoint {
                table: checks.clone(),
                name: name.into(),
                index: usize::MAX,
            },
        }
    }
}

impl From<FailoverHandle> for Dependency {
    fn from(handle: FailoverHandle) -> Self {
        Dependency::failover(handle)
    }
}

impl From<CircuitBreaker> for Dependency {
    fn from(breaker: CircuitBreaker) -> Self {
        Dependency::breaker(breaker)
    }
}

/// One registered dependency.
#[derive(Debug, Clone)]
struct Registered {
    name: Arc<str>,
    critical: bool,
    dependency: Dependency,
}

/// The readiness roll-up of a service's dependencies: see the [module docs](super#readiness).
///
/// # Clone
///
/// A cheap handle: clones share the registered dependencies (themselves handles on live state).
#[derive(Debug, Clone)]
pub struct HealthReport {
    dependencies: Arc<[Registered]>,
}

/// Builds a [`HealthReport`].
#[derive(Debug, Default)]
pub struct HealthReportBuilder {
    dependencies: Vec<Registered>,
}

impl HealthReport {
    /// A builder with no dependency (a report with none is always `Ready`).
    pub fn builder() -> HealthReportBuilder {
        HealthReportBuilder::default()
    }

    /// Every dependency's state now (tokio's clock), and the service's readiness.
    pub fn readiness(&self) -> Readiness {
        let now = crate::clock::now();
        let dependencies: Vec<DependencyReport> =
            self.dependencies.iter().map(|d| d.report(now)).collect();
        Readiness {
            status: roll_up(dependencies.iter().map(|d| (d.critical, d.state))),
            dependencies,
        }
    }
}

impl HealthReportBuilder {
    /// Registers a dependency the service cannot serve without: when it is down, the service
    /// is `NotReady`.
    pub fn critical(self, name: impl Into<String>, dependency: impl Into<Dependency>) -> Self {
        self.register(name.into(), true, dependency.into())
    }

    /// Registers a dependency the service can serve without, worse: when it is down, the
    /// service is `Degraded`.
    pub fn optional(self, name: impl Into<String>, dependency: impl Into<Dependency>) -> Self {
        self.register(name.into(), false, dependency.into())
    }

    fn register(mut self, name: String, critical: bool, dependency: Dependency) -> Self {
        self.dependencies.push(Registered {
            name: name.into(),
            critical,
            dependency,
        });
        self
    }

    /// The report.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when a dependency's name is empty or padded with whitespace, two
    /// dependencies share a name, or a checked endpoint is not in its table.
    pub fn build(mut self) -> Result<HealthReport, ConfigError> {
        let deps = &mut self.dependencies;
        for i in 0..deps.len() {
            let (before, rest) = deps.split_at_mut(i);
            let d = &mut rest[0];
            ConfigError::check_name("health report dependency name", &d.name)?;
            if before.iter().any(|other| other.name == d.name) {
                return Err(ConfigError::invalid(
                    "health report dependency name",
                    &d.name,
                    "a name given to one dependency only",
                ));
            }
            if let Kind::Endpoint { table, name, index } = &mut d.dependency.kind {
                *index = table.index(name).ok_or_else(|| {
                    ConfigError::invalid(
                        "health report endpoint",
                        &name,
                        "an endpoint of its health table",
                    )
                })?;
            }
        }
        Ok(HealthReport {
            dependencies: self.dependencies.into(),
        })
    }
}

/// The worst status of `(critical, state)` pairs: a critical dependency down makes the service
/// `NotReady`; any other dependency not up makes it `Degraded`.
pub(crate) fn roll_up(entries: impl IntoIterator<Item = (bool, DependencyState)>) -> Status {
    entries
        .into_iter()
        .map(|(critical, state)| match state {
            DependencyState::Up => Status::Ready,
            DependencyState::Degraded => Status::Degraded,
            DependencyState::Down if critical => Status::NotReady,
            DependencyState::Down => Status::Degraded,
        })
        .max()
        .unwrap_or(Status::Ready)
}

impl Registered {
    fn report(&self, now: Instant) -> DependencyReport {
        let (state, reason, detail) = match &self.dependency.kind {
            Kind::Failover { handle, checks } => failover(handle, checks.as_ref(), now),
            Kind::Breaker(breaker) => self::breaker(breaker, now),
            Kind::Endpoint { table, name, index } => endpoint(table, name, *index, now),
        };
        DependencyReport {
            name: self.name.to_string(),
            critical: self.critical,
            state,
            reason,
            detail,
        }
    }
}

/// Whether a call could be sent to an endpoint in this state: available, or kept away only by
/// the failback policy (it still takes calls when nothing else does).
fn could_take_calls(e: &EndpointStatus) -> bool {
    matches!(e.unavailable, None | Some(Unavailable::FailbackPending))
}

fn failover(
    handle: &FailoverHandle,
    checks: Option<&HealthTable>,
    now: Instant,
) -> (DependencyState, Option<String>, Detail) {
    let status = handle.endpoint_status();
    // Where the next call goes: the first available endpoint, else a demoted one.
    let serving = status
        .iter()
        .position(|e| e.unavailable.is_none())
        .or_else(|| status.iter().position(could_take_calls));
    let fail_open = status.iter().all(|e| e.failing_checks);
    let mut reasons = Vec::new();
    let state = match serving {
        None => {
            let why: Vec<String> = status
                .iter()
                .map(|e| match e.unavailable {
                    Some(why) => format!("{} {why}", e.endpoint),
                    None => e.endpoint.to_string(),
                })
                .collect();
            reasons.push(format!("no endpoint available: {}", why.join(", ")));
            DependencyState::Down
        }
        Some(i) => {
            if i > 0 {
                let primary = &status[0];
                let why = primary
                    .unavailable
                    .map_or_else(|| "unavailable".to_owned(), |u| u.to_string());
                reasons.push(format!(
                    "serving from {}: {} {why}",
                    status[i].endpoint, primary.endpoint
                ));
            }
            if fail_open {
                reasons.push("every endpoint is failing its health checks (fail open)".into());
            }
            if let Some(table) = checks {
                for h in table.entries() {
                    if let Some(silent) = table.stale_for(&h, now) {
                        reasons.push(format!("{}: {}", h.endpoint, stale_reason(table, silent)));
                    }
                }
            }
            if reasons.is_empty() {
                DependencyState::Up
            } else {
                DependencyState::Degraded
            }
        }
    };
    let checked = checks.map(HealthTable::entries).unwrap_or_default();
    let endpoints = status
        .iter()
        .map(|e| EndpointReport {
            endpoint: e.endpoint.to_string(),
            available: e.unavailable.is_none(),
            unavailable: e.unavailable,
            breaker: e.breaker,
            switch: e.switch,
            failing_checks: e.failing_checks,
            last_error: checked
                .iter()
                .find(|h| h.endpoint == e.endpoint)
                .and_then(|h| h.last_error.clone()),
        })
        .collect();
    let reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    let detail = Detail::Failover {
        serving: serving.map(|i| status[i].endpoint.to_string()),
        endpoints,
    };
    (state, reason, detail)
}

/// Why checks that stopped reporting are not trusted.
fn stale_reason(table: &HealthTable, silent: Duration) -> String {
    format!(
        "health checks stale: no result for {silent:?} (stale after {:?})",
        table.stale_after()
    )
}

fn breaker(breaker: &CircuitBreaker, now: Instant) -> (DependencyState, Option<String>, Detail) {
    let snapshot = breaker.snapshot(now);
    let state = match snapshot.state {
        BreakerState::Open | BreakerState::ForcedOpen => DependencyState::Down,
        BreakerState::HalfOpen => DependencyState::Degraded,
        BreakerState::Closed | BreakerState::Disabled => DependencyState::Up,
    };
    let reason = (state != DependencyState::Up).then(|| format!("breaker {}", snapshot.state));
    let detail = Detail::Breaker {
        breaker: snapshot.state,
        half_open_in: snapshot.half_open_in,
    };
    (state, reason, detail)
}

fn endpoint(
    table: &HealthTable,
    name: &Arc<str>,
    index: usize,
    now: Instant,
) -> (DependencyState, Option<String>, Detail) {
    // `build` found it in the table, and tables never lose endpoints: the fallback (a fresh
    // entry) is never used.
    let h = table
        .entry(index)
        .unwrap_or_else(|| EndpointHealth::new(name.clone(), now));
    let stale = table
        .stale_for(&h, now)
        .map(|silent| stale_reason(table, silent));
    let (state, reason) = if h.healthy {
        match stale {
            // The last verdict was healthy, but nothing has confirmed it for a while.
            Some(why) => (DependencyState::Degraded, Some(why)),
            None => (DependencyState::Up, None),
        }
    } else {
        let mut why = match &h.last_error {
            Some(e) => format!("failing its health checks: {e}"),
            None => "failing its health checks".to_owned(),
        };
        if let Some(stale) = stale {
            why = format!("{why}; {stale}");
        }
        (DependencyState::Down, Some(why))
    };
    let detail = Detail::Endpoint {
        endpoint: h.endpoint.to_string(),
        healthy: h.healthy,
        since: h.since,
        in_state_for: now.saturating_duration_since(h.since),
        last_error: h.last_error,
        consecutive_passes: h.consecutive_passes,
        consecutive_failures: h.consecutive_failures,
    };
    (state, reason, detail)
}

/// A service's readiness: its status and every dependency's state, from
/// [`HealthReport::readiness`]. `serde::Serialize` with the `serde` feature: see the
/// [module docs](super#json) for the shape.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Readiness {
    /// The roll-up.
    pub status: Status,
    /// Every dependency, in the order they were registered.
    pub dependencies: Vec<DependencyReport>,
}

/// A service's readiness status. Ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Status {
    /// Every dependency is up.
    Ready,
    /// Serving, worse: an optional dependency is down, or a dependency is degraded (a failover
    /// serving from a secondary).
    Degraded,
    /// A critical dependency is down: take the instance out of the load balancer's rotation.
    NotReady,
}

impl Status {
    /// Whether the service should receive traffic (`Ready` or `Degraded`): a readiness endpoint
    /// answers 200 then, and 503 otherwise.
    pub const fn is_ready(self) -> bool {
        !matches!(self, Status::NotReady)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ready => "ready",
            Status::Degraded => "degraded",
            Status::NotReady => "not ready",
        })
    }
}

/// One dependency's state. Ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DependencyState {
    /// Working as intended.
    Up,
    /// Working, worse (a failover serving from a secondary, a breaker half-open).
    Degraded,
    /// Not working: no call to it can succeed now.
    Down,
}

/// One dependency in a [`Readiness`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DependencyReport {
    /// The name it was registered under.
    pub name: String,
    /// Whether it was registered as critical.
    pub critical: bool,
    /// Its state.
    pub state: DependencyState,
    /// Why it is not up (`None` when it is).
    pub reason: Option<String>,
    /// What it is, and what was read from it.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub detail: Detail,
}

/// What a dependency is, and what was read from it. In JSON its fields sit beside the entry's,
/// with `"kind"` naming the variant (`"failover"`, `"breaker"`, `"endpoint"`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Detail {
    /// A failover.
    #[non_exhaustive]
    Failover {
        /// Where the next call goes first: the first available endpoint in priority order (an
        /// endpoint kept away only by the failback policy, if none is); `None` when none can
        /// take a call.
        serving: Option<String>,
        /// Every endpoint, in priority order.
        endpoints: Vec<EndpointReport>,
    },
    /// A circuit breaker.
    #[non_exhaustive]
    Breaker {
        /// Its state (JSON: `"closed"`, `"open"`, `"half_open"`, `"forced_open"`,
        /// `"disabled"`).
        #[cfg_attr(feature = "serde", serde(serialize_with = "ser::breaker_state"))]
        breaker: BreakerState,
        /// While open: how long until it admits probes (JSON: `half_open_in_ms`).
        #[cfg_attr(
            feature = "serde",
            serde(rename = "half_open_in_ms", serialize_with = "ser::opt_ms")
        )]
        half_open_in: Option<Duration>,
    },
    /// A health-checked endpoint.
    #[non_exhaustive]
    Endpoint {
        /// The endpoint's name in its table.
        endpoint: String,
        /// Its verdict.
        healthy: bool,
        /// When the verdict last changed (or the checks started). Not serialized: an instant
        /// means nothing outside the process; `in_state_for` says the same.
        #[cfg_attr(feature = "serde", serde(skip))]
        since: Instant,
        /// How long it has had this verdict (JSON: `in_state_for_ms`, whole milliseconds).
        #[cfg_attr(
            feature = "serde",
            serde(rename = "in_state_for_ms", serialize_with = "ser::ms")
        )]
        in_state_for: Duration,
        /// The latest failed check's error since it last became healthy.
        last_error: Option<String>,
        /// Checks passed in a row.
        consecutive_passes: u32,
        /// Checks failed in a row.
        consecutive_failures: u32,
    },
}

/// One endpoint of a failover, in a [`Detail::Failover`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct EndpointReport {
    /// Its name.
    pub endpoint: String,
    /// Whether a call could go there now.
    pub available: bool,
    /// Why not, if not (JSON: `"breaker_open"`, `"pushed_back"`, `"failback_pending"`,
    /// `"switched_off"`, `"unhealthy"`).
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::unavailable"))]
    pub unavailable: Option<Unavailable>,
    /// Its breaker's state (JSON as in [`Detail::Breaker`]).
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::breaker_state"))]
    pub breaker: BreakerState,
    /// Its routing switch (JSON: `"on"`, `"off"`).
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::switch"))]
    pub switch: Switch,
    /// Whether it is failing its health checks.
    pub failing_checks: bool,
    /// Its checks' latest error since it last became healthy, when the failover was registered
    /// with [`Dependency::checked_failover`].
    pub last_error: Option<String>,
}

/// JSON forms of the types of other modules, and of durations (whole milliseconds).
#[cfg(feature = "serde")]
pub(crate) mod ser {
    use std::time::Duration;

    use serde::Serializer;

    use crate::breaker::BreakerState;
    use crate::failover::{Switch, Unavailable};

    pub(crate) fn breaker_state<S: Serializer>(
        s: &BreakerState,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        ser.serialize_str(match s {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::ForcedOpen => "forced_open",
            BreakerState::Disabled => "disabled",
        })
    }

    pub(crate) fn unavailable<S: Serializer>(
        u: &Option<Unavailable>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        match u {
            None => ser.serialize_none(),
            Some(u) => ser.serialize_str(match u {
                Unavailable::BreakerOpen => "breaker_open",
                Unavailable::PushedBack => "pushed_back",
                Unavailable::FailbackPending => "failback_pending",
                Unavailable::SwitchedOff => "switched_off",
                Unavailable::Unhealthy => "unhealthy",
            }),
        }
    }

    pub(crate) fn switch<S: Serializer>(s: &Switch, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(match s {
            Switch::On => "on",
            Switch::Off => "off",
        })
    }

    fn millis(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn ms<S: Serializer>(d: &Duration, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_u64(millis(*d))
    }

    pub(crate) fn opt_ms<S: Serializer>(d: &Option<Duration>, ser: S) -> Result<S::Ok, S::Error> {
        match d {
            None => ser.serialize_none(),
            Some(d) => ser.serialize_u64(millis(*d)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_entry_wins() {
        use DependencyState::{Degraded, Down, Up};
        assert_eq!(roll_up([]), Status::Ready);
        assert_eq!(roll_up([(true, Up), (false, Up)]), Status::Ready);
        assert_eq!(roll_up([(true, Up), (false, Down)]), Status::Degraded);
        assert_eq!(roll_up([(false, Degraded)]), Status::Degraded);
        assert_eq!(roll_up([(false, Down), (true, Down)]), Status::NotReady);
        assert_eq!(roll_up([(true, Degraded), (false, Down)]), Status::Degraded);
    }
}
