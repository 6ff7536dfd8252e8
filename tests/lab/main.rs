//! The policy lab: reproducibility, closed-form cases, bounded work on any input, and the
//! reports of the shipped scenarios.

use std::time::Duration;

use proptest::prelude::*;
use steadfast::config::{
    BackoffConfig, BreakerConfig, BudgetConfig, FailbackConfig, JitterConfig, ScriptConfig,
    Unlimited, WindowConfig,
};
use steadfast::lab::{
    self, Load, PolicyConfig, Region, RoutingAction, RoutingChange, Scenario, Throttle, shipped,
};

mod report;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A shipped scenario with a small fleet.
fn small(name: &str, clients: u32) -> Scenario {
    let mut scenario = shipped::scenario(name).expect("shipped");
    scenario.clients = clients;
    scenario
}

fn policy(name: &str) -> PolicyConfig {
    shipped::policy_named(name).expect("shipped")
}

fn json(result: &lab::RunResult) -> String {
    serde_json::to_string(result).expect("serializes")
}

#[test]
fn one_seed_gives_the_same_bytes_and_another_seed_differs() {
    let scenario = small("regional-outage", 4);
    for name in [
        "failover-after-30s",
        "exp-full-jitter",
        "preset-3x500ms-breaker",
    ] {
        let p = policy(name);
        let a = json(&lab::run(&scenario, &p, 7).unwrap());
        let b = json(&lab::run(&scenario, &p, 7).unwrap());
        assert_eq!(a, b, "{name}: same seed, same bytes");
        let c = json(&lab::run(&scenario, &p, 8).unwrap());
        assert_ne!(a, c, "{name}: another seed, another run");
    }
}

/// One client, one request at time zero, an endpoint that fails every call at once.
fn one_request_against_an_outage(backoff: BackoffConfig) -> lab::RunResult {
    let scenario = Scenario {
        name: "single".into(),
        description: String::new(),
        duration: ms(1),
        clients: 1,
        // No think time: the first request starts at zero; the next would start after the
        // first ends, past the duration.
        load: Load::Closed {
            think: Duration::ZERO,
        },
        attempt_timeout: s(1),
        regions: vec![Region {
            name: "only".into(),
            concurrency: 1,
            queue_limit: None,
            service_min: ms(5),
            service_max: ms(5),
            network: Duration::ZERO,
            faults: ScriptConfig {
                windows: vec![WindowConfig::Outage {
                    from: Duration::ZERO,
                    to: s(3600),
                }],
                ..ScriptConfig::default()
            },
            throttling: Vec::new(),
        }],
        routing: Vec::new(),
        bucket: ms(1),
    };
    let policy = PolicyConfig {
        name: "exponential".into(),
        backoff,
        budget: Some(BudgetConfig::Unlimited(Unlimited::Unlimited)),
        breaker: None,
        failover: None,
    };
    lab::run(&scenario, &policy, 1).unwrap()
}

#[test]
fn a_single_client_retries_at_the_exact_exponential_schedule() {
    let result = one_request_against_an_outage(BackoffConfig::Exponential {
        base: ms(100),
        factor: 2.0,
        cap: s(10),
        retries: 3,
        jitter: Some(JitterConfig::None),
    });
    let sent: Vec<usize> = result.series.attempts_per_region[0]
        .iter()
        .enumerate()
        .flat_map(|(ms, &n)| std::iter::repeat_n(ms, n as usize))
        .collect();
    assert_eq!(
        sent,
        [0, 100, 300, 700],
        "attempts at 0, +100, +200, +400 ms"
    );
    assert_eq!(result.summary.requests, 1);
    assert_eq!(result.summary.succeeded, 0);
    assert_eq!(
        result.summary.p50_ms, 700.0,
        "given up after the last attempt"
    );
    assert_eq!(result.summary.failures[0].what, "no retries left");
}

#[test]
fn a_budget_caps_retries_at_its_capacity_under_a_total_outage() {
    let mut scenario = small("regional-outage", 6);
    scenario.regions[0].faults.windows = vec![WindowConfig::Outage {
        from: Duration::ZERO,
        // Past the end, so that the retries of the last requests fail too.
        to: scenario.duration * 2,
    }];
    let mut p = policy("exp-no-jitter");
    p.budget = Some(BudgetConfig::Bucket(Default::default()));
    let result = lab::run(&scenario, &p, 3).unwrap();
    let s = &result.summary;
    // Capacity 500, 5 tokens a retry after a failure, nothing earned without a success: each
    // client retries exactly 100 times, then gives up at once.
    assert_eq!(s.attempts - s.requests, 6 * 100);
    assert_eq!(s.succeeded, 0);
    // Once empty, every request gives up on its first failure for want of tokens.
    assert!(s.budget_exhausted > s.requests * 9 / 10, "{s:?}");
    let unlimited = lab::run(&scenario, &policy("exp-no-jitter"), 3).unwrap();
    assert_eq!(
        unlimited.summary.attempts,
        4 * unlimited.summary.requests,
        "without a budget every request makes its 4 attempts"
    );
}

#[test]
fn failback_immediate_returns_within_one_open_period_of_recovery() {
    let mut scenario = small("regional-outage", 8);
    scenario.load = Load::Open { rate: 10.0 };
    let mut p = policy("failover-immediate");
    let open = s(5);
    p.breaker = Some(BreakerConfig {
        open_duration: Some(open),
        probes: Some(1),
        required_successes: Some(1),
        ..BreakerConfig::default()
    });
    let result = lab::run(&scenario, &p, 11).unwrap();
    let sm = &result.summary;
    assert_eq!(sm.clients_failed_over, 8, "{sm:?}");
    assert_eq!(sm.clients_failed_back, 8, "{sm:?}");
    // The open period, then the probe and the next call: each at most one gap (200 ms at
    // 10 requests a second) plus the round trip.
    let bound = open + ms(2 * 200 + 2 * 80);
    let back = sm.time_to_failback_max_ms.unwrap();
    assert!(
        back <= bound.as_millis() as f64,
        "failed back after {back} ms"
    );
    assert!(sm.success_rate > 0.999, "{sm:?}");
}

#[test]
fn without_failover_an_outage_of_the_primary_loses_its_requests() {
    let scenario = small("regional-outage", 5);
    let none = lab::run(&scenario, &policy("no-retry"), 1).unwrap();
    // 5 of 12 minutes down.
    let lost = 1.0 - none.summary.success_rate;
    assert!((0.38..0.46).contains(&lost), "lost {lost}");
    assert_eq!(none.summary.amplification, 1.0);
    let failover = lab::run(&scenario, &policy("failover-immediate"), 1).unwrap();
    assert!(failover.summary.success_rate > 0.999);
    assert!(failover.summary.attempts_per_region[1].attempts > 0);
}

#[test]
fn overload_makes_a_retry_storm_that_a_budget_contains() {
    let mut scenario = small("overload", 300);
    // Scale the primary with the fleet: 300 clients, 30 at once.
    scenario.regions[0].concurrency = 30;
    let storm = lab::run(&scenario, &policy("immediate-3"), 5).unwrap();
    let budgeted = lab::run(&scenario, &policy("exp-full-budget"), 5).unwrap();
    let peak = |r: &lab::RunResult| r.series.amplification.iter().copied().fold(0.0, f64::max);
    assert!(peak(&storm) > 2.0, "storm peak {}", peak(&storm));
    assert!(peak(&budgeted) < peak(&storm));
}

#[test]
fn contention_jitter_finishes_sooner_with_fewer_calls_than_no_jitter() {
    let none = lab::contention::run(100, JitterConfig::None, 1).unwrap();
    let full = lab::contention::run(100, JitterConfig::Full, 1).unwrap();
    assert!(full.calls < none.calls, "{full:?} vs {none:?}");
    assert_eq!(none.gave_up + full.gave_up, 0);
    let one = lab::contention::run(1, JitterConfig::None, 1).unwrap();
    assert_eq!((one.calls, one.completion_ms), (1, 10.0));
}

#[test]
fn scenarios_and_policies_read_from_json() {
    let scenario = small("throttling", 3);
    let text = serde_json::to_string(&scenario).unwrap();
    assert_eq!(lab::scenario_from_json(&text).unwrap(), scenario);
    let policies = shipped::policies();
    let text = serde_json::to_string(&policies).unwrap();
    assert_eq!(lab::policies_from_json(&text).unwrap(), policies);
    let one = r#"{"name": "mine", "backoff": {"kind": "standard"}, "failover": {"after": "10s"}}"#;
    let parsed = lab::policies_from_json(one).unwrap();
    assert_eq!(parsed[0].failover, Some(FailbackConfig::After(s(10))));
    let err = lab::policies_from_json(r#"{"name": "x", "backoff": {"kind": "nope"}}"#);
    assert!(err.is_err());
    let mut bad = scenario;
    bad.clients = 0;
    let text = serde_json::to_string(&bad).unwrap();
    assert!(lab::scenario_from_json(&text).is_err());
}

#[test]
fn every_shipped_scenario_and_policy_reads_back_from_toml() {
    for name in shipped::SCENARIOS {
        let scenario = shipped::scenario(name).unwrap();
        let text = toml::to_string(&scenario).unwrap();
        assert_eq!(lab::scenario_from_toml(&text).unwrap(), scenario, "{name}");
    }
    #[derive(serde::Serialize)]
    struct Document<'a> {
        policies: &'a [lab::PolicyConfig],
    }
    let policies = shipped::policies();
    let text = toml::to_string(&Document {
        policies: &policies,
    })
    .unwrap();
    assert_eq!(lab::policies_from_toml(&text).unwrap(), policies);
    let one =
        "name = \"mine\"\nbackoff = { kind = \"standard\" }\nfailover = { after = \"10s\" }\n";
    let parsed = lab::policies_from_toml(one).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].failover, Some(FailbackConfig::After(s(10))));
    let mut bad = small("throttling", 3);
    bad.clients = 0;
    let err = lab::scenario_from_toml(&toml::to_string(&bad).unwrap()).unwrap_err();
    assert!(matches!(err, lab::LabError::Config(_)), "{err}");
    let err = lab::scenario_from_toml("clients = \"many\"").unwrap_err();
    assert!(matches!(err, lab::LabError::File(_)), "{err}");
    assert!(lab::scenario_from_toml("clients = ").is_err(), "not TOML");
}

#[test]
fn an_operator_switches_the_primary_off_and_on_through_the_routing_control() {
    let mut scenario = small("regional-outage", 4);
    scenario.regions[0].faults = ScriptConfig::default();
    scenario.duration = s(180);
    scenario.routing = vec![
        RoutingChange {
            at: s(60),
            action: RoutingAction::SwitchOff("primary".into()),
        },
        // Refused: the last region on stays on.
        RoutingChange {
            at: s(70),
            action: RoutingAction::SwitchOff("secondary".into()),
        },
        RoutingChange {
            at: s(120),
            action: RoutingAction::SwitchOn("primary".into()),
        },
    ];
    let result = lab::run(&scenario, &policy("failover-immediate"), 2).unwrap();
    let [primary, secondary] = &result.series.attempts_per_region[..] else {
        panic!("two regions")
    };
    // Buckets of 10 s: the primary before 60 s and from 120 s, the secondary in between.
    assert!(primary[..6].iter().all(|&n| n > 0) && secondary[..6].iter().all(|&n| n == 0));
    assert!(primary[6..12].iter().all(|&n| n == 0), "{primary:?}");
    assert!(secondary[6..12].iter().all(|&n| n > 0), "{secondary:?}");
    assert!(primary[12..18].iter().all(|&n| n > 0) && secondary[12..18].iter().all(|&n| n == 0));
    assert_eq!(result.summary.success_rate, 1.0);
    // Without failover, the switch means nothing.
    let single = lab::run(&scenario, &policy("preset-3x500ms"), 2).unwrap();
    assert!(
        single.series.attempts_per_region[0][6..12]
            .iter()
            .all(|&n| n > 0)
    );
    let mut unknown = scenario.clone();
    unknown.routing[0].action = RoutingAction::SwitchOff("nowhere".into());
    assert!(lab::run(&unknown, &policy("failover-immediate"), 2).is_err());
}

#[test]
fn the_example_files_read_and_run() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lab/");
    let read = |name: &str| std::fs::read_to_string(format!("{dir}{name}")).unwrap();
    let mut scenario = lab::scenario_from_json(&read("incident.json")).unwrap();
    assert_eq!(scenario.regions[1].throttling[0].retry_after, s(1));
    let policies = lab::policies_from_json(&read("policies.json")).unwrap();
    assert_eq!(policies.len(), 3);
    assert_eq!(policies[2].failover, Some(FailbackConfig::After(s(30))));
    scenario.clients = 3;
    for p in &policies {
        let result = lab::run(&scenario, p, 1).unwrap();
        assert!(result.summary.requests > 0, "{}", p.name);
    }
}

fn window() -> impl Strategy<Value = WindowConfig> {
    (0u64..30_000, 0u64..30_000, 0u8..4, 0.0f64..=1.0).prop_map(|(a, b, kind, rate)| {
        // A window ends after it starts (an empty one is refused when the scenario is built).
        let (from, to) = (ms(a.min(b)), ms(a.max(b) + 1));
        match kind {
            0 => WindowConfig::Outage { from, to },
            1 => WindowConfig::Hangs { from, to },
            2 => WindowConfig::Brownout { from, to, rate },
            _ => WindowConfig::Slowdown {
                from,
                to,
                latency: steadfast::config::LatencyConfig {
                    min: ms(0),
                    max: ms(a % 500),
                    tail: None,
                },
            },
        }
    })
}

fn region() -> impl Strategy<Value = Region> {
    (
        1u32..5,
        proptest::option::of(0u32..5),
        0u64..100,
        0u64..100,
        0u64..50,
        proptest::collection::vec(window(), 0..3),
        proptest::option::of((0u64..30_000, 0.0f64..=1.0, 0u64..5_000)),
    )
        .prop_map(
            |(concurrency, queue_limit, a, b, network, windows, throttle)| Region {
                name: "r".into(),
                concurrency,
                queue_limit,
                service_min: ms(a.min(b)),
                service_max: ms(a.max(b)),
                network: ms(network),
                faults: ScriptConfig {
                    windows,
                    ..ScriptConfig::default()
                },
                throttling: throttle
                    .map(|(from, rate, after)| Throttle {
                        from: ms(from),
                        to: ms(from + 5_000),
                        rate,
                        retry_after: ms(after),
                    })
                    .into_iter()
                    .collect(),
            },
        )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1u32..5,
        1u64..30,
        prop_oneof![
            (0.1f64..5.0).prop_map(|rate| Load::Open { rate }),
            (0u64..2_000).prop_map(|t| Load::Closed { think: ms(t) }),
        ],
        10u64..2_000,
        proptest::collection::vec(region(), 1..4),
        proptest::collection::vec((0u64..30_000, 0u8..3), 0..3),
    )
        .prop_map(
            |(clients, secs, load, timeout, regions, changes)| Scenario {
                name: "any".into(),
                description: String::new(),
                duration: s(secs),
                clients,
                load,
                attempt_timeout: ms(timeout),
                regions,
                // Every drawn region is named "r": a switch acts on the first.
                routing: changes
                    .into_iter()
                    .map(|(at, kind)| RoutingChange {
                        at: ms(at),
                        action: match kind {
                            0 => RoutingAction::SwitchOff("r".into()),
                            1 => RoutingAction::SwitchOn("r".into()),
                            _ => RoutingAction::FailBack,
                        },
                    })
                    .collect(),
                bucket: s(1),
            },
        )
}

/// Attempts one request may make under a shipped policy over `regions` regions.
fn attempt_bound(p: &PolicyConfig, regions: usize) -> u64 {
    let retries = u64::from(p.backoff.build().unwrap().max_retries());
    match p.failover {
        Some(_) => (retries + 1) * regions as u64,
        None => retries + 1,
    }
}

fn jitter() -> impl Strategy<Value = JitterConfig> {
    prop_oneof![
        Just(JitterConfig::None),
        Just(JitterConfig::Full),
        Just(JitterConfig::Equal),
        Just(JitterConfig::Decorrelated),
    ]
}

/// Any policy within the settings' ranges: a shipped one, or one drawn setting by setting.
fn any_policy() -> impl Strategy<Value = PolicyConfig> {
    let drawn = (
        (0u64..500, 1.0f64..3.0, 0u64..3_000, 0u32..6, jitter()),
        proptest::option::of((1u32..600, 1u32..20, 1u32..20)),
        proptest::option::of((1u32..10, 0u64..10_000)),
        proptest::option::of(prop_oneof![
            Just(FailbackConfig::Immediate),
            Just(FailbackConfig::Manual),
            (0u64..60_000).prop_map(|h| FailbackConfig::After(ms(h))),
        ]),
    )
        .prop_map(
            |((base, factor, extra, retries, jitter), budget, breaker, failover)| PolicyConfig {
                name: "drawn".into(),
                backoff: BackoffConfig::Exponential {
                    base: ms(base),
                    factor,
                    cap: ms(base + extra),
                    retries,
                    jitter: Some(jitter),
                },
                budget: Some(match budget {
                    None => BudgetConfig::Unlimited(Unlimited::Unlimited),
                    Some((capacity, retry_cost, timeout_cost)) => {
                        BudgetConfig::Bucket(steadfast::config::BucketConfig {
                            capacity: Some(capacity),
                            retry_cost: Some(retry_cost),
                            timeout_cost: Some(timeout_cost),
                            success_deposit: None,
                        })
                    }
                }),
                breaker: breaker.map(|(failures, open)| BreakerConfig {
                    consecutive_failures: Some(steadfast::config::ConsecutiveFailures::After(
                        failures,
                    )),
                    open_duration: Some(ms(open)),
                    ..BreakerConfig::default()
                }),
                failover,
            },
        );
    let policies = shipped::policies();
    prop_oneof![
        (0..policies.len()).prop_map(move |i| policies[i].clone()),
        drawn,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_scenario_and_policy_runs_to_completion_with_bounded_events(
        scenario in scenario(),
        p in any_policy(),
        seed in any::<u64>(),
    ) {
        let result = lab::run(&scenario, &p, seed).unwrap();
        let sm = &result.summary;
        prop_assert!(sm.succeeded <= sm.requests);
        let per_request = attempt_bound(&p, scenario.regions.len());
        prop_assert!(sm.attempts <= sm.requests * per_request);
        // Per request: its arrival; per attempt, its arrival at the region, its service, its
        // reply, its timeout and the wake before it. Per client, one arrival more: the one
        // that falls after the end and starts no request (a think time longer than the run).
        // And each of the scenario's routing changes, which happen whether or not any request
        // came.
        let clients = u64::from(scenario.clients);
        let routing = scenario.routing.len() as u64;
        prop_assert!(
            sm.events <= clients + routing + sm.requests * (1 + 5 * per_request),
            "{sm:?}"
        );
        let sent: u64 = result.series.attempts_per_region.iter().flatten().sum();
        prop_assert_eq!(sent, sm.attempts);
        let started: u64 = result.series.requests.iter().sum();
        prop_assert_eq!(started, sm.requests);
    }
}
