//! A ready event hook that records what the layers do through the [`metrics`] facade:
//! [`MetricsEvents`].
//!
//! Install any `metrics` recorder (the Prometheus exporter, StatsD, OpenTelemetry's bridge…),
//! build one [`MetricsEvents`] per client with the names of its endpoints, and give clones of it
//! to the failover, its breakers, the retry layer, the health checks, the routing control and the
//! chaos layer. Every metric carries `steadfast.client`, the name given to
//! [`MetricsEvents::builder`].
//!
//! # Metrics
//!
//! Names follow the OpenTelemetry style (dotted namespaces, the unit as metadata rather than in
//! the name, `error.type` for the kind of failure); a Prometheus exporter turns the dots into
//! underscores (`steadfast_attempts`; with its recommended naming on, counters get `_total`).
//! Polly and
//! tower-resilience's names for the same measure are beside each row.
//!
//! | name | kind | labels (besides `steadfast.client`) | counts | Polly | tower-resilience |
//! | --- | --- | --- | --- | --- | --- |
//! | `steadfast.attempts` | counter | `steadfast.endpoint`, `steadfast.outcome`, `error.type` | [`Event::Attempt`]: finished attempts | `resilience.polly.strategy.attempt.duration` (its count; `attempt.handled`) | `retry_attempts_total` |
//! | `steadfast.attempt.duration` | histogram (s) | as `steadfast.attempts` | [`Event::Attempt`]'s `elapsed`: from when the attempt began (its service asked to be ready) to its outcome | `resilience.polly.strategy.attempt.duration` | — |
//! | `steadfast.calls` | counter | `steadfast.endpoint` (the last attempt's; empty when none), `steadfast.layer` (`retry`, `failover`), `steadfast.outcome` (`none` when no attempt settled the call), `error.type` | [`Event::CallFinished`]: calls ended | `resilience.polly.pipeline.duration` (its count) | `retry_calls_total` |
//! | `steadfast.call.duration` | histogram (s) | as `steadfast.calls` | [`Event::CallFinished`]'s `elapsed`: the whole call, retries, sleeps and hops included | `resilience.polly.pipeline.duration` | — |
//! | `steadfast.retries` | counter | `steadfast.endpoint` | [`Event::Retry`]: retries scheduled | `resilience.polly.strategy.events{event.name="OnRetry"}` | `retry_attempts_total` |
//! | `steadfast.retry.delay` | histogram (s) | `steadfast.endpoint` | [`Event::Retry`]: the sleep before each retry | — | — |
//! | `steadfast.hops` | counter | `steadfast.endpoint` (the one that failed) | [`Event::Hop`] | — | — |
//! | `steadfast.hedges` | counter | `steadfast.endpoint` (the one the hedge went to) | [`Event::Hedge`]: hedges sent | `resilience.polly.strategy.events{event.name="OnHedging"}` | — |
//! | `steadfast.hedge.wins` | counter | `steadfast.endpoint` (the hedge's) | [`Event::HedgeSettled`] whose hedge won | — | — |
//! | `steadfast.recover_passes` | counter | — | [`Event::RecoverPass`] | — | — |
//! | `steadfast.give_ups` | counter | `steadfast.reason` | [`Event::GaveUp`] | — | `retry_calls_total{result="exhausted"\|"budget_exhausted"}` |
//! | `steadfast.deadline_exceeded` | counter | `steadfast.endpoint` | [`Event::DeadlineExceeded`] | `resilience.polly.strategy.events{event.name="OnTimeout"}` | — |
//! | `steadfast.budget.tokens` | gauge | — | the budget level carried by retries, hops and give-ups | — | — |
//! | `steadfast.breaker.state` | gauge, 1 for the current state, 0 for the others | `steadfast.breaker`, `steadfast.breaker.state` | [`Event::BreakerTransition`] | — | `circuitbreaker_state` |
//! | `steadfast.breaker.transitions` | counter | `steadfast.breaker`, `steadfast.breaker.state` (the state entered) | [`Event::BreakerTransition`] | `resilience.polly.strategy.events{event.name="OnCircuitOpened"\|"OnCircuitHalfOpened"\|"OnCircuitClosed"}` | `circuitbreaker_transitions_total` |
//! | `steadfast.failover.unavailable` | counter | `steadfast.endpoint`, `steadfast.reason` | [`Event::EndpointUnavailable`]: an endpoint found unavailable (once until it is available again) | — | `circuitbreaker_calls_total{outcome="rejected"}` (per call) |
//! | `steadfast.failover.available` | gauge, 1 or 0 | `steadfast.endpoint` | [`Event::EndpointUnavailable`], [`Event::EndpointAvailable`] | — | — |
//! | `steadfast.failover.failovers` | counter | `steadfast.endpoint` (the one left) | [`Event::FailedOver`] | — | — |
//! | `steadfast.failover.failbacks` | counter | `steadfast.endpoint` (the one returned to) | [`Event::FailedBack`] | — | — |
//! | `steadfast.failover.serving` | gauge, 1 for the endpoint calls go to first | `steadfast.endpoint` | [`Event::FailedOver`], [`Event::FailedBack`]; the first endpoint named starts at 1 | — | — |
//! | `steadfast.health.healthy` | gauge, 1 or 0 | `steadfast.endpoint` | [`Event::HealthChanged`]; every endpoint starts at 1 | — | — |
//! | `steadfast.health.changes` | counter | `steadfast.endpoint`, `steadfast.health.healthy` (`true`, `false`) | [`Event::HealthChanged`] | — | — |
//! | `steadfast.routing.changes` | counter | `steadfast.endpoint`, `steadfast.routing.switch` (`on`, `off`), `steadfast.routing.source` | [`Event::RoutingChanged`] | — | — |
//! | `steadfast.routing.refusals` | counter | `steadfast.endpoint`, `steadfast.reason`, `steadfast.routing.source` | [`Event::RoutingRefused`] | — | — |
//! | `steadfast.chaos.faults` | counter | `steadfast.chaos`, `steadfast.fault` (`latency`, `error`, `hang`) | [`Event::Fault`] | `resilience.polly.strategy.events{event.name="Chaos.OnFault"\|"Chaos.OnLatency"…}` | `chaos.errors_injected`, `chaos.latency_injections` |
//! | `steadfast.fallbacks` | counter | `steadfast.fallback.trigger` (a verdict's name, or `not_sent`, `timeout`, `throttled`, `failed`), `steadfast.fallback.result` (`served`, `failed`) | [`Event::Fallback`]: failed calls a fallback answered | `resilience.polly.strategy.events{event.name="OnFallback"}` | — |
//! | `steadfast.fallback.age` | histogram (s) | — | [`Event::Fallback`]'s `age`: how old each stale response served was | — | — |
//! | `steadfast.messaging.messages` | counter | `steadfast.messaging.action` (`lease_extended`, `lease_lost`, `lease_released`, `restored`, `republished`, `dead_lettered`) | [`Event::LeaseExtended`], [`Event::LeaseLost`], [`Event::LeaseReleased`], [`Event::MessageRestored`], [`Event::MessageRepublished`], [`Event::MessageDeadLettered`] | — | — |
//!
//! Label values: `steadfast.outcome` is `success`, `rejected`, `transient` or `local`;
//! `error.type` is `not_sent`, `timeout`, `throttled` or `failed` for a transient outcome and
//! empty otherwise; `steadfast.breaker.state` is `closed`, `open`, `half_open`, `forced_open` or
//! `disabled`; reasons are the snake-case names of [`GiveUpReason`], [`Unavailable`] and
//! [`Refused`]; `steadfast.routing.source` is `operator`, `file` or `etcd`. An event without an endpoint
//! (the retry layer's, which knows none) is recorded with an empty `steadfast.endpoint`; an
//! endpoint, breaker or chaos layer not named to the builder is recorded as `_other`. Gauges
//! exist for the named endpoints and breakers only.
//!
//! `steadfast.budget.tokens` is the level the last retry, hop, hedge or give-up reported: deposits
//! after successes carry no event, so between failures the budget is fuller than it shows.
//!
//! # Durations
//!
//! The hook asks for durations ([`OnEvent::timed`]), so the retry layer and the failover read
//! the clock when a call is made, when each attempt begins and when it ends, and report them on
//! [`Event::Attempt`] and [`Event::CallFinished`]. That is three clock readings for a call
//! settled by one attempt (about 30 ns each on a typical machine);
//! [`MetricsEventsBuilder::durations`]`(false)` spares them and keeps every counter and gauge.
//! A lone circuit breaker reports no calls, so give the hook to a retry layer or a failover
//! around it to time calls.
//!
//! # What the events cannot give
//!
//! Not every call a breaker rejects is counted: the failover reports an endpoint
//! becoming unavailable once (`steadfast.failover.unavailable` with `steadfast.reason =
//! breaker_open`), and a lone breaker reports its transitions only.
//!
//! # Cost
//!
//! Every handle (counter, gauge, histogram) for every label set is registered when the hook is
//! built, for the names given to the builder. Recording an event then finds its endpoint by
//! comparing names (a few string comparisons for a few regions), and updates one or two
//! handles: no allocation, no lock taken by the hook itself (the recorder's handles are usually
//! atomics; a recorder may allocate to store histogram samples, as `metrics-util`'s debugging
//! recorder does). Without the `metrics` feature, none of this is compiled.
//!
//! # Examples
//!
//! ```
//! use steadfast::failover::Failover;
//! use steadfast::integrations::metrics::MetricsEvents;
//! use tower::service_fn;
//!
//! # fn main() -> Result<(), steadfast::BoxError> {
//! let metrics = MetricsEvents::builder("orders")
//!     .endpoints(["us-east-2", "us-west-1"])
//!     .build();
//! let region = service_fn(|x: u32| async move { Ok::<_, steadfast::BoxError>(x) });
//! let failover = Failover::builder()
//!     .endpoint("us-east-2", region)
//!     .endpoint("us-west-1", region)
//!     .breakers({
//!         let metrics = metrics.clone();
//!         move |b| b.on_event(metrics.clone())
//!     })
//!     .on_event(metrics.clone())
//!     .build()?;
//! let routing = failover.handle().routing().on_event(metrics);
//! # let _ = routing;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Label, Unit};

use crate::breaker::BreakerState;
use crate::chaos::FaultKind;
use crate::classify::{Outcome, TransientKind};
use crate::event::{Event, GiveUpReason, Layer, OnEvent};
use crate::failover::{Refused, RoutingSource, Switch, Unavailable};
use crate::fallback::{Trigger, Verdict};

const CLIENT: &str = "steadfast.client";
const ENDPOINT: &str = "steadfast.endpoint";
const REASON: &str = "steadfast.reason";
const OUTCOME: &str = "steadfast.outcome";
const ERROR: &str = "error.type";
const LAYER: &str = "steadfast.layer";
const MESSAGING_ACTION: &str = "steadfast.messaging.action";
/// The values of `steadfast.messaging.action`, in [`messaging_index`] order.
const MESSAGING_ACTIONS: [&str; 6] = [
    "lease_extended",
    "lease_lost",
    "lease_released",
    "restored",
    "republished",
    "dead_lettered",
];
const FALLBACK_TRIGGER: &str = "steadfast.fallback.trigger";
const FALLBACK_RESULT: &str = "steadfast.fallback.result";
/// The values of `steadfast.fallback.trigger`, in [`trigger_index`] order.
const TRIGGERS: [&str; 9] = [
    "deadline_exceeded",
    "attempt_timed_out",
    "breaker_open",
    "all_endpoints_failed",
    "no_endpoint_available",
    "not_sent",
    "timeout",
    "throttled",
    "failed",
];
/// The values of `steadfast.fallback.result`: served, failed.
const FALLBACK_RESULTS: [&str; 2] = ["served", "failed"];
const BREAKER: &str = "steadfast.breaker";
const BREAKER_STATE: &str = "steadfast.breaker.state";
const SOURCE: &str = "steadfast.routing.source";
/// The label value of an endpoint, breaker or chaos layer the builder was not told about.
const OTHER: &str = "_other";

/// Label values, indexed as the `*_index` functions below index them.
const OUTCOMES: [(&str, &str); 7] = [
    ("success", ""),
    ("rejected", ""),
    ("local", ""),
    ("transient", "not_sent"),
    ("transient", "timeout"),
    ("transient", "throttled"),
    ("transient", "failed"),
];
/// The values of `steadfast.layer`, in [`layer_index`] order.
const LAYERS: [&str; 2] = ["retry", "failover"];
/// The `steadfast.outcome` of a call that no attempt settled.
const NO_OUTCOME: (&str, &str) = ("none", "");
const STATES: [&str; 5] = ["closed", "open", "half_open", "forced_open", "disabled"];
const GIVE_UPS: [&str; 8] = [
    "retries_exhausted",
    "budget_exhausted",
    "deadline",
    "retry_after_too_long",
    "not_replayable",
    "delay_out_of_range",
    "not_ready",
    "no_endpoint_available",
];
const UNAVAILABLE: [&str; 5] = [
    "breaker_open",
    "pushed_back",
    "failback_pending",
    "switched_off",
    "unhealthy",
];
const REFUSED: [&str; 5] = [
    "unknown_endpoint",
    "last_endpoint_on",
    "unreadable",
    "too_large",
    "malformed",
];
const SOURCES: [&str; 3] = ["operator", "file", "etcd"];
const SWITCHES: [&str; 2] = ["on", "off"];
const FAULTS: [&str; 3] = ["latency", "error", "hang"];

fn outcome_index(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Success => 0,
        Outcome::Rejected => 1,
        Outcome::Local => 2,
        Outcome::Transient { kind, .. } => match kind {
            TransientKind::NotSent => 3,
            TransientKind::Timeout => 4,
            TransientKind::Throttled => 5,
            TransientKind::Failed => 6,
        },
    }
}

fn layer_index(layer: Layer) -> usize {
    match layer {
        Layer::Retry => 0,
        Layer::Failover => 1,
    }
}

/// The index of a call's outcome among [`OUTCOMES`], then [`NO_OUTCOME`].
fn call_outcome_index(outcome: Option<&Outcome>) -> usize {
    outcome.map_or(OUTCOMES.len(), outcome_index)
}

fn trigger_index(trigger: Trigger) -> usize {
    match trigger {
        Trigger::Verdict(verdict) => match verdict {
            Verdict::DeadlineExceeded => 0,
            Verdict::AttemptTimedOut => 1,
            Verdict::BreakerOpen => 2,
            Verdict::AllEndpointsFailed => 3,
            Verdict::NoEndpointAvailable => 4,
        },
        Trigger::Failed(outcome) => match outcome.transient_kind() {
            Some(TransientKind::NotSent) => 5,
            Some(TransientKind::Timeout) => 6,
            Some(TransientKind::Throttled) => 7,
            Some(TransientKind::Failed) | None => 8,
        },
    }
}

fn state_index(state: BreakerState) -> usize {
    match state {
        BreakerState::Closed => 0,
        BreakerState::Open => 1,
        BreakerState::HalfOpen => 2,
        BreakerState::ForcedOpen => 3,
        BreakerState::Disabled => 4,
    }
}

fn give_up_index(reason: GiveUpReason) -> usize {
    match reason {
        GiveUpReason::RetriesExhausted => 0,
        GiveUpReason::BudgetExhausted => 1,
        GiveUpReason::Deadline => 2,
        GiveUpReason::RetryAfterTooLong => 3,
        GiveUpReason::NotReplayable => 4,
        GiveUpReason::DelayOutOfRange => 5,
        GiveUpReason::NotReady => 6,
        GiveUpReason::NoEndpointAvailable => 7,
    }
}

fn unavailable_index(reason: Unavailable) -> usize {
    match reason {
        Unavailable::BreakerOpen => 0,
        Unavailable::PushedBack => 1,
        Unavailable::FailbackPending => 2,
        Unavailable::SwitchedOff => 3,
        Unavailable::Unhealthy => 4,
    }
}

fn refused_index(reason: Refused) -> usize {
    match reason {
        Refused::UnknownEndpoint => 0,
        Refused::LastEndpointOn => 1,
        Refused::Unreadable => 2,
        Refused::TooLarge => 3,
        Refused::Malformed => 4,
    }
}

fn source_index(source: RoutingSource) -> usize {
    match source {
        RoutingSource::Operator => 0,
        RoutingSource::File => 1,
        RoutingSource::Etcd => 2,
    }
}

fn switch_index(switch: Switch) -> usize {
    match switch {
        Switch::On => 0,
        Switch::Off => 1,
    }
}

fn fault_index(kind: FaultKind) -> usize {
    match kind {
        FaultKind::Latency => 0,
        FaultKind::Error => 1,
        FaultKind::Hang => 2,
    }
}

/// Registers handles under one client's labels.
struct Registrar {
    client: Label,
}

impl Registrar {
    fn labels(&self, extra: &[(&'static str, &str)]) -> Vec<Label> {
        let mut labels = Vec::with_capacity(extra.len() + 1);
        labels.push(self.client.clone());
        labels.extend(
            extra
                .iter()
                .map(|&(key, value)| Label::new(key, value.to_owned())),
        );
        labels
    }

    fn counter(&self, name: &'static str, extra: &[(&'static str, &str)]) -> Counter {
        metrics::counter!(name, self.labels(extra))
    }

    fn gauge(&self, name: &'static str, extra: &[(&'static str, &str)]) -> Gauge {
        metrics::gauge!(name, self.labels(extra))
    }

    fn histogram(&self, name: &'static str, extra: &[(&'static str, &str)]) -> Histogram {
        metrics::histogram!(name, self.labels(extra))
    }

    fn counters<const N: usize>(
        &self,
        name: &'static str,
        extra: &[(&'static str, &str)],
        key: &'static str,
        values: [&str; N],
    ) -> [Counter; N] {
        values.map(|value| {
            let mut labels = extra.to_vec();
            labels.push((key, value));
            self.counter(name, &labels)
        })
    }
}

/// One endpoint's handles (also the handles of events without an endpoint, and of unknown ones).
struct EndpointMetrics {
    name: Box<str>,
    attempts: [Counter; OUTCOMES.len()],
    attempt_duration: [Histogram; OUTCOMES.len()],
    /// By layer, then by outcome ([`call_outcome_index`]).
    calls: [[Counter; OUTCOMES.len() + 1]; LAYERS.len()],
    call_duration: [[Histogram; OUTCOMES.len() + 1]; LAYERS.len()],
    retries: Counter,
    retry_delay: Histogram,
    hops: Counter,
    hedges: Counter,
    hedge_wins: Counter,
    deadline_exceeded: Counter,
    unavailable: [Counter; UNAVAILABLE.len()],
    available: Gauge,
    failovers: Counter,
    failbacks: Counter,
    serving: Gauge,
    healthy: Gauge,
    health_changes: [Counter; 2],
    routing_changes: [[Counter; SWITCHES.len()]; SOURCES.len()],
    routing_refusals: [[Counter; REFUSED.len()]; SOURCES.len()],
}

impl EndpointMetrics {
    /// Gauges only for a `named` endpoint: the unnamed and `_other` slots have no state to show.
    fn register(r: &Registrar, name: &str, named: bool) -> Self {
        let endpoint = [(ENDPOINT, name)];
        let gauge = |metric| {
            if named {
                r.gauge(metric, &endpoint)
            } else {
                Gauge::noop()
            }
        };
        let per_source = |metric: &'static str, key: &'static str, values| {
            SOURCES.map(|source| {
                r.counters(metric, &[(ENDPOINT, name), (SOURCE, source)], key, values)
            })
        };
        let changes = per_source(
            "steadfast.routing.changes",
            "steadfast.routing.switch",
            SWITCHES,
        );
        let by_outcome = |(outcome, error)| [(ENDPOINT, name), (OUTCOME, outcome), (ERROR, error)];
        let by_call = |layer, (outcome, error)| {
            [
                (ENDPOINT, name),
                (LAYER, layer),
                (OUTCOME, outcome),
                (ERROR, error),
            ]
        };
        let call_outcomes = || {
            let mut all = [NO_OUTCOME; OUTCOMES.len() + 1];
            all[..OUTCOMES.len()].copy_from_slice(&OUTCOMES);
            all
        };
        EndpointMetrics {
            name: name.into(),
            attempts: OUTCOMES.map(|o| r.counter("steadfast.attempts", &by_outcome(o))),
            attempt_duration: OUTCOMES
                .map(|o| r.histogram("steadfast.attempt.duration", &by_outcome(o))),
            calls: LAYERS.map(|layer| {
                call_outcomes().map(|o| r.counter("steadfast.calls", &by_call(layer, o)))
            }),
            call_duration: LAYERS.map(|layer| {
                call_outcomes().map(|o| r.histogram("steadfast.call.duration", &by_call(layer, o)))
            }),
            retries: r.counter("steadfast.retries", &endpoint),
            retry_delay: r.histogram("steadfast.retry.delay", &endpoint),
            hops: r.counter("steadfast.hops", &endpoint),
            hedges: r.counter("steadfast.hedges", &endpoint),
            hedge_wins: r.counter("steadfast.hedge.wins", &endpoint),
            deadline_exceeded: r.counter("steadfast.deadline_exceeded", &endpoint),
            unavailable: r.counters(
                "steadfast.failover.unavailable",
                &endpoint,
                REASON,
                UNAVAILABLE,
            ),
            available: gauge("steadfast.failover.available"),
            failovers: r.counter("steadfast.failover.failovers", &endpoint),
            failbacks: r.counter("steadfast.failover.failbacks", &endpoint),
            serving: gauge("steadfast.failover.serving"),
            healthy: gauge("steadfast.health.healthy"),
            health_changes: r.counters(
                "steadfast.health.changes",
                &endpoint,
                "steadfast.health.healthy",
                ["true", "false"],
            ),
            routing_changes: changes,
            routing_refusals: SOURCES.map(|source| {
                r.counters(
                    "steadfast.routing.refusals",
                    &[(ENDPOINT, name), (SOURCE, source)],
                    REASON,
                    REFUSED,
                )
            }),
        }
    }
}

struct BreakerMetrics {
    name: Box<str>,
    state: [Gauge; STATES.len()],
    transitions: [Counter; STATES.len()],
}

impl BreakerMetrics {
    /// Gauges only for a `named` breaker, as for endpoints.
    fn register(r: &Registrar, name: &str, named: bool) -> Self {
        let breaker = [(BREAKER, name)];
        let state = STATES.map(|state| {
            if named {
                r.gauge(
                    "steadfast.breaker.state",
                    &[(BREAKER, name), (BREAKER_STATE, state)],
                )
            } else {
                Gauge::noop()
            }
        });
        // A breaker starts closed.
        state[0].set(1.0);
        BreakerMetrics {
            name: name.into(),
            state,
            transitions: r.counters(
                "steadfast.breaker.transitions",
                &breaker,
                BREAKER_STATE,
                STATES,
            ),
        }
    }
}

struct ChaosMetrics {
    name: Box<str>,
    faults: [Counter; FAULTS.len()],
}

impl ChaosMetrics {
    fn register(r: &Registrar, name: &str) -> Self {
        ChaosMetrics {
            name: name.into(),
            faults: r.counters(
                "steadfast.chaos.faults",
                &[("steadfast.chaos", name)],
                "steadfast.fault",
                FAULTS,
            ),
        }
    }
}

struct Handles {
    /// The named endpoints in the builder's order, then the unnamed one (`""`), then `_other`.
    endpoints: Vec<EndpointMetrics>,
    /// The named breakers, then the unnamed one (`""`), then `_other`.
    breakers: Vec<BreakerMetrics>,
    /// The named chaos layers, then the unnamed one (`""`), then `_other`.
    chaos: Vec<ChaosMetrics>,
    give_ups: [Counter; GIVE_UPS.len()],
    recover_passes: Counter,
    budget_tokens: Gauge,
    messaging: [Counter; MESSAGING_ACTIONS.len()],
    /// By trigger ([`trigger_index`]), then served or failed.
    fallbacks: [[Counter; FALLBACK_RESULTS.len()]; TRIGGERS.len()],
    fallback_age: Histogram,
}

/// Finds `name` among the named entries, or falls back on the unnamed one (for `None`) and the
/// last one, `_other`.
fn find<'h, T>(entries: &'h [T], name: Option<&str>, key: impl Fn(&T) -> &str) -> &'h T {
    let named = entries.len() - 2;
    match name {
        None => &entries[named],
        Some(name) => entries[..named]
            .iter()
            .find(|entry| key(entry) == name)
            .unwrap_or(&entries[named + 1]),
    }
}

impl Handles {
    fn endpoint(&self, name: Option<&str>) -> &EndpointMetrics {
        find(&self.endpoints, name, |e| &e.name)
    }

    fn breaker(&self, name: Option<&str>) -> &BreakerMetrics {
        find(&self.breakers, name, |b| &b.name)
    }

    fn chaos(&self, name: Option<&str>) -> &ChaosMetrics {
        find(&self.chaos, name, |c| &c.name)
    }

    fn budget(&self, level: Option<u32>) {
        if let Some(level) = level {
            self.budget_tokens.set(level);
        }
    }
}

/// An event hook ([`OnEvent`]) recording every event as `metrics` counters, gauges and a
/// histogram: see the [module docs](self) for the names. A cheap `Clone`: clones share their
/// handles.
#[derive(Clone)]
pub struct MetricsEvents {
    handles: Arc<Handles>,
    durations: bool,
}

impl fmt::Debug for MetricsEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsEvents")
            .field("endpoints", &self.handles.endpoints.len().saturating_sub(2))
            .field("breakers", &self.handles.breakers.len().saturating_sub(2))
            .finish_non_exhaustive()
    }
}

impl MetricsEvents {
    /// A builder for the hook of the client named `client` (the `steadfast.client` label of
    /// every metric).
    pub fn builder(client: impl Into<String>) -> MetricsEventsBuilder {
        MetricsEventsBuilder {
            client: client.into(),
            endpoints: Vec::new(),
            breakers: Vec::new(),
            chaos: Vec::new(),
            durations: true,
        }
    }
}

impl OnEvent for MetricsEvents {
    #[inline]
    fn timed(&self) -> bool {
        self.durations
    }

    fn on_event(&self, event: &Event<'_>) {
        let h = &*self.handles;
        match *event {
            Event::Attempt {
                endpoint,
                outcome,
                elapsed,
                ..
            } => {
                let e = h.endpoint(endpoint);
                let i = outcome_index(&outcome);
                e.attempts[i].increment(1);
                if let Some(elapsed) = elapsed {
                    e.attempt_duration[i].record(elapsed.as_secs_f64());
                }
            }
            Event::CallFinished {
                layer,
                endpoint,
                outcome,
                elapsed,
                ..
            } => {
                let e = h.endpoint(endpoint);
                let (l, i) = (layer_index(layer), call_outcome_index(outcome.as_ref()));
                e.calls[l][i].increment(1);
                if let Some(elapsed) = elapsed {
                    e.call_duration[l][i].record(elapsed.as_secs_f64());
                }
            }
            Event::Retry {
                endpoint,
                delay,
                budget_level,
                ..
            } => {
                let e = h.endpoint(endpoint);
                e.retries.increment(1);
                e.retry_delay.record(delay.as_secs_f64());
                h.budget(budget_level);
            }
            Event::GaveUp {
                reason,
                budget_level,
                ..
            } => {
                h.give_ups[give_up_index(reason)].increment(1);
                h.budget(budget_level);
            }
            Event::BreakerTransition {
                breaker, from, to, ..
            } => {
                let b = h.breaker(breaker);
                b.state[state_index(from)].set(0.0);
                b.state[state_index(to)].set(1.0);
                b.transitions[state_index(to)].increment(1);
            }
            Event::DeadlineExceeded { endpoint, .. } => {
                h.endpoint(endpoint).deadline_exceeded.increment(1)
            }
            Event::Hop {
                from, budget_level, ..
            } => {
                h.endpoint(Some(from)).hops.increment(1);
                h.budget(budget_level);
            }
            Event::Hedge {
                to, budget_level, ..
            } => {
                h.endpoint(Some(to)).hedges.increment(1);
                h.budget(budget_level);
            }
            Event::HedgeSettled {
                winner, hedge_won, ..
            } => {
                if hedge_won {
                    h.endpoint(Some(winner)).hedge_wins.increment(1);
                }
            }
            Event::RecoverPass { .. } => h.recover_passes.increment(1),
            Event::FailedOver { from, to, .. } => {
                let left = h.endpoint(Some(from));
                left.failovers.increment(1);
                left.serving.set(0.0);
                h.endpoint(Some(to)).serving.set(1.0);
            }
            Event::FailedBack { from, to } => {
                let back = h.endpoint(Some(to));
                back.failbacks.increment(1);
                h.endpoint(Some(from)).serving.set(0.0);
                back.serving.set(1.0);
            }
            Event::EndpointUnavailable { endpoint, reason } => {
                let e = h.endpoint(Some(endpoint));
                e.unavailable[unavailable_index(reason)].increment(1);
                e.available.set(0.0);
            }
            Event::EndpointAvailable { endpoint } => h.endpoint(Some(endpoint)).available.set(1.0),
            Event::Fault { chaos, fault } => {
                h.chaos(chaos).faults[fault_index(fault.kind)].increment(1)
            }
            Event::RoutingChanged {
                endpoint,
                switch,
                source,
            } => h.endpoint(Some(endpoint)).routing_changes[source_index(source)]
                [switch_index(switch)]
            .increment(1),
            Event::RoutingRefused {
                endpoint,
                reason,
                source,
            } => h.endpoint(endpoint).routing_refusals[source_index(source)][refused_index(reason)]
                .increment(1),
            Event::HealthChanged { endpoint, healthy } => {
                let e = h.endpoint(Some(endpoint));
                e.healthy.set(if healthy { 1.0 } else { 0.0 });
                e.health_changes[usize::from(!healthy)].increment(1);
            }
            Event::Fallback {
                trigger,
                served,
                age,
            } => {
                h.fallbacks[trigger_index(trigger)][usize::from(!served)].increment(1);
                if let Some(age) = age {
                    h.fallback_age.record(age.as_secs_f64());
                }
            }
            Event::LeaseExtended { .. }
            | Event::LeaseLost { .. }
            | Event::LeaseReleased { .. }
            | Event::MessageRestored { .. }
            | Event::MessageRepublished { .. }
            | Event::MessageDeadLettered { .. } => {
                if let Some(i) = messaging_index(event) {
                    h.messaging[i].increment(1);
                }
            }
        }
    }
}

/// Builds a [`MetricsEvents`]: the names it registers handles for.
#[derive(Debug, Clone)]
pub struct MetricsEventsBuilder {
    client: String,
    endpoints: Vec<String>,
    breakers: Vec<String>,
    chaos: Vec<String>,
    durations: bool,
}

impl MetricsEventsBuilder {
    /// Whether to record `steadfast.attempt.duration` and `steadfast.call.duration`. Default:
    /// yes. Measuring them makes the retry layer and the failover read the clock when a call is
    /// made, when each attempt begins and when it ends (about 30 ns a reading); `false` spares
    /// those readings, and every counter and gauge is still recorded.
    pub fn durations(mut self, record: bool) -> Self {
        self.durations = record;
        self
    }

    /// The endpoints (regions) of the client, in priority order: the first starts as the
    /// serving one. Each is also a breaker name, as a failover names its endpoints' breakers
    /// unless told otherwise. Default: none.
    pub fn endpoints<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.endpoints.extend(names.into_iter().map(Into::into));
        self
    }

    /// More breaker names: a lone breaker's, or a failover's breakers named with a prefix
    /// (`orders/us-east-2`). Default: none besides the endpoints.
    pub fn breakers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.breakers.extend(names.into_iter().map(Into::into));
        self
    }

    /// The names of chaos layers. Default: none (an unnamed layer's faults are recorded with
    /// an empty `steadfast.chaos`).
    pub fn chaos<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.chaos.extend(names.into_iter().map(Into::into));
        self
    }

    /// Registers every handle with the recorder installed now (the global one, or the one
    /// [`metrics::with_local_recorder`] set on this thread), and describes the metrics to it.
    pub fn build(self) -> MetricsEvents {
        describe();
        let r = Registrar {
            client: Label::new(CLIENT, self.client),
        };
        let endpoint_names = names(&self.endpoints);
        let named = endpoint_names.len() - 2;
        let endpoints: Vec<EndpointMetrics> = endpoint_names
            .into_iter()
            .enumerate()
            .map(|(i, name)| EndpointMetrics::register(&r, name, i < named))
            .collect();
        // Every endpoint starts available and healthy; the first serves. (The unnamed and
        // `_other` slots' gauges are no-ops.)
        for (i, endpoint) in endpoints.iter().enumerate() {
            endpoint.available.set(1.0);
            endpoint.healthy.set(1.0);
            endpoint.serving.set(if i == 0 { 1.0 } else { 0.0 });
        }
        let mut breaker_names = self.endpoints.clone();
        breaker_names.extend(self.breakers);
        let breaker_names = names(&breaker_names);
        let named = breaker_names.len() - 2;
        let breakers = breaker_names
            .into_iter()
            .enumerate()
            .map(|(i, name)| BreakerMetrics::register(&r, name, i < named))
            .collect();
        let chaos = names(&self.chaos)
            .into_iter()
            .map(|name| ChaosMetrics::register(&r, name))
            .collect();
        MetricsEvents {
            handles: Arc::new(Handles {
                endpoints,
                breakers,
                chaos,
                give_ups: r.counters("steadfast.give_ups", &[], REASON, GIVE_UPS),
                recover_passes: r.counter("steadfast.recover_passes", &[]),
                budget_tokens: r.gauge("steadfast.budget.tokens", &[]),
                messaging: r.counters(
                    "steadfast.messaging.messages",
                    &[],
                    MESSAGING_ACTION,
                    MESSAGING_ACTIONS,
                ),
                fallbacks: TRIGGERS.map(|trigger| {
                    r.counters(
                        "steadfast.fallbacks",
                        &[(FALLBACK_TRIGGER, trigger)],
                        FALLBACK_RESULT,
                        FALLBACK_RESULTS,
                    )
                }),
                fallback_age: r.histogram("steadfast.fallback.age", &[]),
            }),
            durations: self.durations,
        }
    }
}

/// The `steadfast.messaging.action` of a messaging event, as an index into
/// [`MESSAGING_ACTIONS`].
fn messaging_index(event: &Event<'_>) -> Option<usize> {
    Some(match event {
        Event::LeaseExtended { .. } => 0,
        Event::LeaseLost { .. } => 1,
        Event::LeaseReleased { .. } => 2,
        Event::MessageRestored { .. } => 3,
        Event::MessageRepublished { .. } => 4,
        Event::MessageDeadLettered { .. } => 5,
        _ => return None,
    })
}

/// Tells the recorder each metric's unit and meaning.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "steadfast.attempts",
        Unit::Count,
        "Attempts finished, by outcome"
    );
    describe_histogram!(
        "steadfast.attempt.duration",
        Unit::Seconds,
        "How long each attempt took, by outcome"
    );
    describe_counter!(
        "steadfast.calls",
        Unit::Count,
        "Calls ended, by layer and the outcome that settled them"
    );
    describe_histogram!(
        "steadfast.call.duration",
        Unit::Seconds,
        "How long each call took, retries and hops included, by layer and outcome"
    );
    describe_counter!("steadfast.retries", Unit::Count, "Retries scheduled");
    describe_histogram!(
        "steadfast.retry.delay",
        Unit::Seconds,
        "The sleep before a retry"
    );
    describe_counter!(
        "steadfast.hops",
        Unit::Count,
        "Hops from a failed endpoint to another"
    );
    describe_counter!(
        "steadfast.hedges",
        Unit::Count,
        "Hedges sent: copies of a slow first attempt's request to another endpoint"
    );
    describe_counter!(
        "steadfast.hedge.wins",
        Unit::Count,
        "Hedged calls settled by the hedge rather than the first attempt"
    );
    describe_counter!(
        "steadfast.messaging.messages",
        Unit::Count,
        "Messages whose lease was extended, lost or released, or that were restored, republished or left to the dead-letter redrive"
    );
    describe_counter!(
        "steadfast.recover_passes",
        Unit::Count,
        "Passes over every endpoint after each of them failed"
    );
    describe_counter!(
        "steadfast.give_ups",
        Unit::Count,
        "Calls that stopped retrying, by reason"
    );
    describe_counter!(
        "steadfast.deadline_exceeded",
        Unit::Count,
        "Attempts cut by the call's deadline"
    );
    describe_gauge!(
        "steadfast.budget.tokens",
        Unit::Count,
        "Tokens left in the retry budget"
    );
    describe_gauge!(
        "steadfast.breaker.state",
        "1 for a circuit breaker's current state, 0 for the others"
    );
    describe_counter!(
        "steadfast.breaker.transitions",
        Unit::Count,
        "Circuit breaker transitions, by the state entered"
    );
    describe_counter!(
        "steadfast.failover.unavailable",
        Unit::Count,
        "Endpoints found unavailable, by reason"
    );
    describe_gauge!(
        "steadfast.failover.available",
        "1 while an endpoint takes calls"
    );
    describe_counter!(
        "steadfast.failover.failovers",
        Unit::Count,
        "Failovers away from an endpoint"
    );
    describe_counter!(
        "steadfast.failover.failbacks",
        Unit::Count,
        "Failbacks to an endpoint"
    );
    describe_gauge!(
        "steadfast.failover.serving",
        "1 for the endpoint calls go to first"
    );
    describe_gauge!(
        "steadfast.health.healthy",
        "1 while an endpoint passes its health checks"
    );
    describe_counter!(
        "steadfast.health.changes",
        Unit::Count,
        "Changes of health verdict"
    );
    describe_counter!(
        "steadfast.routing.changes",
        Unit::Count,
        "Routing switches changed"
    );
    describe_counter!(
        "steadfast.routing.refusals",
        Unit::Count,
        "Routing changes refused"
    );
    describe_counter!(
        "steadfast.fallbacks",
        Unit::Count,
        "Failed calls a fallback answered, served or failed"
    );
    describe_histogram!(
        "steadfast.fallback.age",
        Unit::Seconds,
        "Age of the stale responses fallbacks served"
    );
    describe_counter!(
        "steadfast.chaos.faults",
        Unit::Count,
        "Faults injected by chaos layers"
    );
}

/// `given` without repeats, then the unnamed entry (`""`) and `_other`: the order [`find`] reads.
fn names(given: &[String]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::with_capacity(given.len() + 2);
    for name in given {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names.extend(["", OTHER]);
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use std::time::Duration;

    /// Each messaging event counts once under its action, and only there.
    #[test]
    fn messaging_events_count_under_their_action() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let hook = metrics::with_local_recorder(&recorder, || MetricsEvents::builder("c").build());
        let id = "m-1";
        let events = [
            Event::LeaseExtended {
                message_id: id,
                visibility: Duration::from_secs(30),
            },
            Event::LeaseExtended {
                message_id: id,
                visibility: Duration::from_secs(30),
            },
            Event::LeaseLost { message_id: id },
            Event::LeaseReleased { message_id: id },
            Event::MessageRestored {
                message_id: id,
                receive_count: 2,
            },
            Event::MessageRepublished { message_id: id },
            Event::MessageDeadLettered {
                message_id: id,
                receive_count: 5,
            },
        ];
        for event in &events {
            hook.on_event(event);
        }
        let mut counts: Vec<(String, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == "steadfast.messaging.messages")
            .map(|(key, _, _, value)| {
                let action = key
                    .key()
                    .labels()
                    .find(|l| l.key() == MESSAGING_ACTION)
                    .map(|l| l.value().to_owned())
                    .unwrap();
                let DebugValue::Counter(n) = value else {
                    panic!("a counter")
                };
                (action, n)
            })
            .collect();
        counts.sort();
        assert_eq!(
            counts,
            [
                ("dead_lettered".to_owned(), 1),
                ("lease_extended".to_owned(), 2),
                ("lease_lost".to_owned(), 1),
                ("lease_released".to_owned(), 1),
                ("republished".to_owned(), 1),
                ("restored".to_owned(), 1),
            ]
        );
    }

    /// Each fallback counts once under its trigger and result; the label names are the
    /// triggers' own.
    #[test]
    fn fallbacks_count_under_their_trigger_and_result() {
        use crate::classify::Outcome;
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let hook = metrics::with_local_recorder(&recorder, || MetricsEvents::builder("c").build());
        let triggers = [
            Trigger::Verdict(Verdict::DeadlineExceeded),
            Trigger::Verdict(Verdict::AttemptTimedOut),
            Trigger::Verdict(Verdict::BreakerOpen),
            Trigger::Verdict(Verdict::AllEndpointsFailed),
            Trigger::Verdict(Verdict::NoEndpointAvailable),
            Trigger::Failed(Outcome::not_sent()),
            Trigger::Failed(Outcome::timeout()),
            Trigger::Failed(Outcome::throttled(None)),
            Trigger::Failed(Outcome::failed()),
        ];
        for (i, trigger) in triggers.into_iter().enumerate() {
            assert_eq!(TRIGGERS[trigger_index(trigger)], trigger.as_str());
            assert_eq!(trigger_index(trigger), i);
        }
        hook.on_event(&Event::Fallback {
            trigger: triggers[2],
            served: true,
            age: Some(Duration::from_millis(1500)),
        });
        hook.on_event(&Event::Fallback {
            trigger: triggers[8],
            served: false,
            age: None,
        });
        let mut seen: Vec<(String, String, u64)> = Vec::new();
        let mut ages = Vec::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let label = |name: &str| {
                key.key()
                    .labels()
                    .find(|l| l.key() == name)
                    .map(|l| l.value().to_owned())
                    .unwrap_or_default()
            };
            match (key.key().name(), value) {
                ("steadfast.fallbacks", DebugValue::Counter(n)) if n > 0 => {
                    seen.push((label(FALLBACK_TRIGGER), label(FALLBACK_RESULT), n))
                }
                ("steadfast.fallback.age", DebugValue::Histogram(values)) => {
                    ages.extend(values.into_iter().map(|v| v.into_inner()))
                }
                _ => {}
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                ("breaker_open".into(), "served".into(), 1),
                ("failed".into(), "failed".into(), 1),
            ]
        );
        assert_eq!(ages, [1.5]);
    }
}
