//! Which field of a configuration document each builder setting is, so that an invalid value
//! is reported at its exact place (`failover.breaker.failure_rate`), not only in its section.
//!
//! The builders name a bad setting in words (`breaker failure rate`): that is what a caller of
//! the builder reads. A configuration file's reader needs the key to edit instead. Each entry
//! maps a builder's setting name to its key *relative to the section the builder ran for*
//! (the breaker section, the chaos script, one of its windows…). A setting not listed here is
//! reported at its section, which stays correct, only less precise: so is a rule that
//! relates two settings (`probes` and `required_successes`), where either may be the one to fix.

/// The key, relative to its section, of the builder setting named `setting`.
pub(super) fn field_of(setting: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .find(|(name, _)| *name == setting)
        .map(|(_, field)| *field)
}

/// `(builder setting, key relative to its section)`.
const FIELDS: &[(&str, &str)] = &[
    // A schedule (`retry.backoff`, `failover.recover`).
    ("backoff factor", "factor"),
    ("backoff cap", "cap"),
    ("backoff delay list length", "delays"),
    // A budget (`retry.budget`, `failover.budget`).
    ("budget capacity", "capacity"),
    // The retry section.
    ("retry deadline", "deadline"),
    ("retry attempt timeout", "attempt_timeout"),
    ("retry retry_after_cap", "retry_after_cap"),
    ("retry backoff delay", "backoff"),
    // The failover section.
    ("failover endpoint count", "endpoints"),
    ("failover endpoint name", "endpoints"),
    ("failover attempts per endpoint", "attempts_per_endpoint"),
    ("failover deadline", "deadline"),
    ("failover attempt timeout", "attempt_timeout"),
    ("failover retry_after_cap", "retry_after_cap"),
    ("failover recover delay", "recover"),
    ("failover hedge delay", "hedge.after"),
    ("failover hedge floor", "hedge.floor"),
    ("failover hedge percentile", "hedge.percentile"),
    ("failover hedge max_ratio", "hedge.max_ratio"),
    // A breaker section.
    ("breaker failure rate", "failure_rate"),
    ("breaker window", "window"),
    ("breaker time window", "time_window"),
    ("breaker time window buckets", "buckets"),
    ("breaker buckets", "buckets"),
    ("breaker slow-call duration", "slow_call_duration"),
    ("breaker slow-call rate", "slow_call_rate"),
    ("breaker minimum calls", "minimum_calls"),
    ("consecutive failures", "consecutive_failures"),
    ("breaker consecutive failures", "consecutive_failures"),
    ("breaker open duration", "open_duration"),
    ("breaker open duration growth", "open_growth.factor"),
    ("breaker maximum open duration", "open_growth.max"),
    ("breaker half-open maximum wait", "half_open_max_wait"),
    ("breaker name", "name"),
    // The health section.
    ("health check interval", "interval"),
    ("health check timeout", "timeout"),
    ("health check unhealthy_after", "unhealthy_after"),
    ("health check healthy_after", "healthy_after"),
    // A chaos script, and each of its windows (`chaos.windows[i]`).
    ("chaos error rate", "error_rate"),
    ("chaos hang rate", "hang_rate"),
    ("chaos latency", "latency"),
    ("chaos latency tail", "latency.tail"),
    ("chaos latency tail share", "latency.tail.share"),
    ("chaos brownout rate", "rate"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_listed_once() {
        for (i, (name, _)) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[..i].iter().all(|(other, _)| other != name),
                "{name} is listed twice"
            );
        }
    }
}
