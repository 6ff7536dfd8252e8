//! The tracing hook (feature `tracing`): every event as a `tracing` event.

use crate::event::{Event, OnEvent};

/// Emits every event as a `tracing` event with structured fields, under the target
/// `steadfast`: attempts at `DEBUG` (`WARN` for a failure), the end of each call at `DEBUG`,
/// retries, injected faults and fallbacks served at `INFO`, fallbacks failed, giving up,
/// deadline cuts and breaker transitions at `WARN`. It asks for no durations; wrap it in [`timed`](crate::event::timed) to log how long
/// attempts and calls took.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingEvents;

impl OnEvent for TracingEvents {
    fn on_event(&self, event: &Event<'_>) {
        use tracing::{debug, info, warn};
        match *event {
            Event::Attempt {
                endpoint,
                attempt,
                outcome,
                elapsed,
            } => {
                if outcome.is_retryable() {
                    warn!(target: "steadfast", endpoint, attempt, ?outcome, ?elapsed, "attempt failed");
                } else {
                    debug!(target: "steadfast", endpoint, attempt, ?outcome, ?elapsed, "attempt finished");
                }
            }
            Event::CallFinished {
                layer,
                endpoint,
                attempts,
                outcome,
                elapsed,
            } => {
                debug!(target: "steadfast", layer = layer.as_str(), endpoint, attempts, ?outcome, ?elapsed, "call finished");
            }
            Event::Retry {
                endpoint,
                attempt,
                delay,
                budget_level,
            } => {
                info!(target: "steadfast", endpoint, attempt, ?delay, budget_level, "retrying");
            }
            Event::GaveUp {
                endpoint,
                attempts,
                reason,
                budget_level,
            } => {
                warn!(target: "steadfast", endpoint, attempts, ?reason, budget_level, "giving up");
            }
            Event::DeadlineExceeded { endpoint, attempt } => {
                warn!(target: "steadfast", endpoint, attempt, "deadline exceeded");
            }
            Event::BreakerTransition {
                breaker,
                from,
                to,
                reason,
                generation,
            } => {
                warn!(target: "steadfast", breaker, %from, %to, ?reason, generation, "circuit breaker transition");
            }
            Event::Hop {
                from,
                to,
                attempt,
                budget_level,
            } => {
                info!(target: "steadfast", from, to, attempt, budget_level, "hopping to another endpoint");
            }
            Event::RecoverPass { pass, delay } => {
                info!(target: "steadfast", pass, ?delay, "every endpoint failed; walking them again");
            }
            Event::FailedOver { from, to, reason } => {
                warn!(target: "steadfast", from, to, ?reason, "failed over");
            }
            Event::Hedge {
                from,
                to,
                delay,
                budget_level,
            } => {
                info!(target: "steadfast", from, to, ?delay, budget_level, "hedging a slow attempt");
            }
            Event::HedgeSettled {
                winner,
                hedge_won,
                cancelled,
            } => {
                debug!(target: "steadfast", winner, hedge_won, cancelled, "hedged call settled");
            }
            Event::FailedBack { from, to } => {
                info!(target: "steadfast", from, to, "failed back");
            }
            Event::EndpointUnavailable { endpoint, reason } => {
                warn!(target: "steadfast", endpoint, %reason, "endpoint unavailable");
            }
            Event::EndpointAvailable { endpoint } => {
                info!(target: "steadfast", endpoint, "endpoint available");
            }
            Event::RoutingChanged {
                endpoint,
                switch,
                source,
            } => {
                warn!(target: "steadfast", endpoint, %switch, ?source, "routing control changed");
            }
            Event::RoutingRefused {
                endpoint,
                reason,
                source,
            } => {
                warn!(target: "steadfast", endpoint, ?reason, ?source, "routing change refused");
            }
            Event::HealthChanged { endpoint, healthy } => {
                warn!(target: "steadfast", endpoint, healthy, "endpoint health changed");
            }
            Event::LeaseExtended {
                message_id,
                visibility,
            } => {
                debug!(target: "steadfast", message_id, ?visibility, "lease extended");
            }
            Event::LeaseLost { message_id } => {
                warn!(target: "steadfast", message_id, "lease lost");
            }
            Event::LeaseReleased { message_id } => {
                info!(target: "steadfast", message_id, "lease released");
            }
            Event::MessageRestored {
                message_id,
                receive_count,
            } => {
                warn!(target: "steadfast", message_id, receive_count, "message restored");
            }
            Event::MessageRepublished { message_id } => {
                warn!(target: "steadfast", message_id, "message republished");
            }
            Event::MessageDeadLettered {
                message_id,
                receive_count,
            } => {
                warn!(target: "steadfast", message_id, receive_count, "message left to redrive");
            }
            Event::Fallback {
                trigger,
                served,
                age,
            } => {
                if served {
                    info!(target: "steadfast", %trigger, ?age, "fallback served");
                } else {
                    warn!(target: "steadfast", %trigger, "fallback failed");
                }
            }
            Event::Fault { chaos, fault } => {
                info!(
                    target: "steadfast",
                    chaos,
                    kind = %fault.kind,
                    delay = ?fault.delay,
                    call = fault.call,
                    window = fault.window,
                    "injected fault"
                );
            }
        }
    }
}
