//! The scenarios and policies the lab ships, by name.

use std::time::Duration;

use super::model::{Load, PolicyConfig, Region, Scenario, Throttle};
use crate::config::{
    BackoffConfig, BreakerConfig, BudgetConfig, FailbackConfig, JitterConfig, LatencyConfig,
    ScriptConfig, Unlimited, WindowConfig,
};

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The names of the shipped scenarios, in the order the command line lists them.
pub const SCENARIOS: [&str; 6] = [
    "regional-outage",
    "brownout",
    "hanging-region",
    "overload",
    "flapping-primary",
    "throttling",
];

/// A region serving 1,000 requests a second with room to spare: 100 at once, 20 to 60 ms each.
fn region(name: &str, network: Duration, faults: ScriptConfig) -> Region {
    Region {
        name: name.to_owned(),
        concurrency: 100,
        queue_limit: None,
        service_min: ms(20),
        service_max: ms(60),
        network,
        faults,
        throttling: Vec::new(),
    }
}

fn windows(windows: Vec<WindowConfig>) -> ScriptConfig {
    ScriptConfig {
        windows,
        ..ScriptConfig::default()
    }
}

/// A shipped scenario by name: 1,000 clients, one request a second each, a primary region
/// (5 ms away) and a secondary (20 ms away), 1 s attempt timeouts, twelve minutes with the
/// incident from minute 2.
pub fn scenario(name: &str) -> Option<Scenario> {
    let (from, to) = (s(120), s(420));
    let (description, primary) = match name {
        "regional-outage" => (
            "The primary region fails every call for 5 minutes, then recovers.",
            region(
                "primary",
                ms(5),
                windows(vec![WindowConfig::Outage { from, to }]),
            ),
        ),
        "brownout" => (
            "The primary region fails 30 % of calls for 5 minutes.",
            region(
                "primary",
                ms(5),
                windows(vec![WindowConfig::Brownout {
                    from,
                    to,
                    rate: 0.3,
                }]),
            ),
        ),
        "hanging-region" => (
            "The primary region accepts calls and never answers for 5 minutes.",
            region(
                "primary",
                ms(5),
                windows(vec![WindowConfig::Hangs { from, to }]),
            ),
        ),
        "overload" => (
            "The primary slows down for 3 minutes (+80 to 120 ms a call), so that its capacity \
             falls below demand: queues grow, calls time out, and retries add load.",
            region(
                "primary",
                ms(5),
                windows(vec![WindowConfig::Slowdown {
                    from,
                    to: s(300),
                    latency: LatencyConfig {
                        min: ms(80),
                        max: ms(120),
                        tail: None,
                    },
                }]),
            ),
        ),
        "flapping-primary" => (
            "The primary fails every call for 30 s out of every minute, for 6 minutes.",
            region(
                "primary",
                ms(5),
                windows(
                    (0..6)
                        .map(|k| WindowConfig::Outage {
                            from: s(120 + 60 * k),
                            to: s(150 + 60 * k),
                        })
                        .collect(),
                ),
            ),
        ),
        "throttling" => (
            "The primary refuses half of the calls with Retry-After: 2 s for 3 minutes.",
            Region {
                throttling: vec![Throttle {
                    from,
                    to: s(300),
                    rate: 0.5,
                    retry_after: s(2),
                }],
                ..region("primary", ms(5), ScriptConfig::default())
            },
        ),
        _ => return None,
    };
    Some(Scenario {
        name: name.to_owned(),
        description: description.to_owned(),
        duration: s(720),
        clients: 1000,
        load: Load::Open { rate: 1.0 },
        attempt_timeout: s(1),
        regions: vec![
            primary,
            region("secondary", ms(20), ScriptConfig::default()),
        ],
        routing: Vec::new(),
        bucket: s(10),
    })
}

fn policy(
    name: &str,
    backoff: BackoffConfig,
    budget: Option<BudgetConfig>,
    breaker: Option<BreakerConfig>,
    failover: Option<FailbackConfig>,
) -> PolicyConfig {
    PolicyConfig {
        name: name.to_owned(),
        backoff,
        budget,
        breaker,
        failover,
    }
}

const UNLIMITED: Option<BudgetConfig> = Some(BudgetConfig::Unlimited(Unlimited::Unlimited));

/// Exponential backoff from 100 ms, doubling, capped at 2 s, 3 retries, with `jitter`.
fn exponential(jitter: JitterConfig) -> BackoffConfig {
    BackoffConfig::Exponential {
        base: ms(100),
        factor: 2.0,
        cap: s(2),
        retries: 3,
        jitter: Some(jitter),
    }
}

/// The standard budget (capacity 500, 5 a retry, 10 after a timeout, 1 back per first-try
/// success).
fn standard_budget() -> Option<BudgetConfig> {
    Some(BudgetConfig::Bucket(Default::default()))
}

/// A breaker that trips after 5 failures in a row (or half the calls of its last 20), open 5 s.
fn breaker() -> Option<BreakerConfig> {
    Some(BreakerConfig {
        window: Some(20),
        minimum_calls: Some(10),
        open_duration: Some(s(5)),
        ..BreakerConfig::default()
    })
}

/// The shipped policies, in the order tables list them.
pub fn policies() -> Vec<PolicyConfig> {
    let standard = BackoffConfig::Standard { jitter: None };
    vec![
        policy("no-retry", BackoffConfig::None {}, UNLIMITED, None, None),
        policy(
            "immediate-3",
            BackoffConfig::Constant {
                delay: Duration::ZERO,
                retries: 3,
                jitter: None,
            },
            UNLIMITED,
            None,
            None,
        ),
        policy(
            "exp-no-jitter",
            exponential(JitterConfig::None),
            UNLIMITED,
            None,
            None,
        ),
        policy(
            "exp-full-jitter",
            exponential(JitterConfig::Full),
            UNLIMITED,
            None,
            None,
        ),
        policy(
            "exp-equal-jitter",
            exponential(JitterConfig::Equal),
            UNLIMITED,
            None,
            None,
        ),
        policy(
            "exp-decorrelated",
            exponential(JitterConfig::Decorrelated),
            UNLIMITED,
            None,
            None,
        ),
        policy(
            "exp-full-budget",
            exponential(JitterConfig::Full),
            standard_budget(),
            None,
            None,
        ),
        policy(
            "preset-3x500ms",
            standard.clone(),
            standard_budget(),
            None,
            None,
        ),
        policy(
            "preset-5x250ms",
            BackoffConfig::Extended { jitter: None },
            standard_budget(),
            None,
            None,
        ),
        policy(
            "preset-3x500ms-no-budget",
            standard.clone(),
            UNLIMITED,
            None,
            None,
        ),
        policy(
            "preset-3x500ms-breaker",
            standard.clone(),
            standard_budget(),
            breaker(),
            None,
        ),
        policy(
            "failover-immediate",
            standard.clone(),
            standard_budget(),
            breaker(),
            Some(FailbackConfig::Immediate),
        ),
        policy(
            "failover-after-30s",
            standard.clone(),
            standard_budget(),
            breaker(),
            Some(FailbackConfig::After(s(30))),
        ),
        policy(
            "failover-manual",
            standard,
            standard_budget(),
            breaker(),
            Some(FailbackConfig::Manual),
        ),
    ]
}

/// A shipped policy by name.
pub fn policy_named(name: &str) -> Option<PolicyConfig> {
    policies().into_iter().find(|p| p.name == name)
}
