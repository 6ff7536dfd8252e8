//! The operators' handle on a failover's routing state, and the status it reports.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::control::{ControlError, RoutingControl};
use super::router::{Router, Unavailable};
use super::switch::Switch;
use crate::breaker::{BreakerState, CircuitBreaker};

/// A cheap `Clone` handle on a failover's routing state, for operators and readiness checks.
#[derive(Clone)]
pub struct FailoverHandle {
    pub(super) router: Arc<Router>,
}

impl fmt::Debug for FailoverHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.router.fmt(f)
    }
}

/// One endpoint's state, as [`FailoverHandle::endpoint_status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStatus {
    /// The endpoint's name.
    pub endpoint: Arc<str>,
    /// Its breaker's state.
    pub breaker: BreakerState,
    /// Its routing switch.
    pub switch: Switch,
    /// Whether it is failing its health checks (it counts as unavailable for that only while
    /// another endpoint passes them).
    pub failing_checks: bool,
    /// Why a call would not be sent there now, if it would not.
    pub unavailable: Option<Unavailable>,
}

/// Which endpoint a failover's calls go to first, and why. See [`FailoverHandle::serving`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Serving {
    /// The endpoint calls go to first.
    pub endpoint: Arc<str>,
    /// Its place in the priority order: 0 is the primary.
    pub priority: usize,
    /// Why a higher-priority endpoint is not serving: `None` when the primary serves.
    pub failed_over: Option<FailedOver>,
}

/// Why calls are not going to a higher-priority endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedOver {
    /// The highest-priority endpoint that is not serving.
    pub from: Arc<str>,
    /// Why, now; `None` when it has just become available again and no call has gone back to it
    /// yet (the next call will).
    pub reason: Option<Unavailable>,
    /// Under `Failback::After`, how long until its hold-down ends, if it has started.
    pub hold_down_left: Option<Duration>,
}

/// One endpoint's share of a tiered failover's recent calls, as
/// [`FailoverHandle::call_shares`] reports it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallShare {
    /// The endpoint's name.
    pub endpoint: Arc<str>,
    /// Its tier: 0 is the first.
    pub tier: usize,
    /// Its configured weight.
    pub weight: u32,
    /// Attempts admitted there since the last report.
    pub calls: u64,
    /// Attempts there now, admitted and not over (what [`Spread::LeastLoaded`] weighs).
    ///
    /// [`Spread::LeastLoaded`]: super::Spread::LeastLoaded
    pub in_flight: u64,
    /// Its part of every endpoint's attempts since the last report, in `[0, 1]` (0 when there
    /// were none).
    pub share: f64,
}

impl FailoverHandle {
    /// Each endpoint's share of the attempts admitted since the last report (by any handle of
    /// this failover; the first report counts from the build), in priority order: how the
    /// spread, the weights, slow start and outages divided the calls. Reading it starts the
    /// next report, so one reader (a metrics scrape, a dashboard) should own it.
    ///
    /// Empty for a failover whose every tier holds one endpoint (active-passive): its calls
    /// go to the endpoint [`serving`](Self::serving) names, and are not counted per endpoint.
    pub fn call_shares(&self) -> Vec<CallShare> {
        let Some(tiers) = &self.router.tiers else {
            return Vec::new();
        };
        let calls = tiers.shares();
        let total: u64 = calls.iter().sum();
        self.router
            .endpoints
            .iter()
            .zip(calls)
            .enumerate()
            .map(|(i, (e, calls))| CallShare {
                endpoint: e.name.clone(),
                tier: tiers.tier_of(i),
                weight: tiers.weight(i),
                calls,
                in_flight: tiers.in_flight(i),
                share: if total == 0 {
                    0.0
                } else {
                    calls as f64 / total as f64
                },
            })
            .collect()
    }

    /// The endpoints' names, in priority order.
    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.router.endpoints.iter().map(|e| &*e.name)
    }

    /// The breaker of endpoint `name`, for inspection or manual control (`force_open`,
    /// `reset`).
    pub fn breaker(&self, name: &str) -> Option<&CircuitBreaker> {
        self.index(name).map(|i| self.endpoint_breaker(i))
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.router.index(name)
    }

    /// Reports endpoint `name`'s health from a source of your own (an orchestrator's view, a
    /// check this crate does not run): a failing endpoint is unavailable while another passes
    /// (see the [module docs](super)); true if its health changed. The crate's health checks
    /// report through the same switch (so a running driver overrides it at its next verdict
    /// change). It sets the health flag only: not the breaker, a push-back, a demotion or a
    /// switch.
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownEndpoint`].
    pub fn set_health(&self, name: &str, healthy: bool) -> Result<bool, ControlError> {
        let i = self
            .index(name)
            .ok_or_else(|| ControlError::UnknownEndpoint(name.to_owned()))?;
        Ok(self.set_endpoint_health(i, healthy))
    }

    /// Which endpoint calls go to first (the one the last call that was not a probe started
    /// at), and why the ones before it are passed over, as of now (tokio's clock).
    pub fn serving(&self) -> Serving {
        let now = crate::clock::now();
        let i = self.router.serving();
        let endpoint = &self.router.endpoints[i];
        let failed_over = (i > 0).then(|| {
            let from = &self.router.endpoints[0];
            let reason = self.router.why_unavailable(0, now);
            FailedOver {
                from: from.name.clone(),
                reason,
                hold_down_left: (reason == Some(Unavailable::FailbackPending))
                    .then(|| self.router.hold_down_left(0, now))
                    .flatten(),
            }
        });
        Serving {
            endpoint: endpoint.name.clone(),
            priority: i,
            failed_over,
        }
    }

    /// Ends a failback hold-down now (the only way back under [`Failback::Manual`](super::Failback::Manual)): the next
    /// call goes to the highest-priority available endpoint again. It clears every endpoint's
    /// demotion and hold-down, and nothing else: not a breaker, a push-back, a health verdict
    /// or a switch (see the [module docs](super#operator-actions)).
    pub fn fail_back(&self) {
        self.router.fail_back();
    }

    /// Ends endpoint `name`'s push-back now: the `Retry-After` it answered no longer keeps calls
    /// away (they go there again as soon as nothing else does). True if it was pushed back. It
    /// clears the push-back only: not the breaker, a demotion, a health verdict or a switch.
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownEndpoint`].
    pub fn clear_push_back(&self, name: &str) -> Result<bool, ControlError> {
        let i = self
            .index(name)
            .ok_or_else(|| ControlError::UnknownEndpoint(name.to_owned()))?;
        Ok(self.router.clear_push_back(i, crate::clock::now()))
    }

    /// The routing switches: an operator's on/off per endpoint, which wins over breakers and
    /// health checks.
    pub fn routing(&self) -> RoutingControl {
        RoutingControl::new(self.router.clone())
    }

    /// Every endpoint's state now (tokio's clock), in priority order: for operators and
    /// readiness reports.
    pub fn endpoint_status(&self) -> Vec<EndpointStatus> {
        let now = crate::clock::now();
        let off = self.router.switched_off();
        self.router
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| EndpointStatus {
                endpoint: e.name.clone(),
                breaker: e.breaker.state_at(now),
                switch: Router::switch_in(off, i),
                failing_checks: self.router.is_unhealthy(i),
                unavailable: self.router.why_unavailable(i, now),
            })
            .collect()
    }

    /// Records endpoint `i`'s health from its checks; true if it changed. Health checks call
    /// this.
    pub(crate) fn set_endpoint_health(&self, i: usize, healthy: bool) -> bool {
        self.router.set_healthy(i, healthy)
    }

    /// Endpoint `i`'s breaker.
    pub(crate) fn endpoint_breaker(&self, i: usize) -> &CircuitBreaker {
        &self.router.endpoints[i].breaker
    }

    /// The state of endpoint `name`'s breaker.
    pub fn breaker_state(&self, name: &str) -> Option<BreakerState> {
        self.breaker(name).map(CircuitBreaker::state)
    }
}
