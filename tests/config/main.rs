//! Policies from configuration (feature `serde`): every setting round-trips through JSON and
//! TOML and reaches its builder; malformed and invalid settings give a `ConfigError` naming
//! their place; any document builds or gives a `ConfigError`, never a panic (`props.rs`).
#![cfg(feature = "serde")]

#[path = "../support/seeds.rs"]
mod seeds;

mod props;

use std::time::Duration;

use steadfast::ConfigError;
use steadfast::config::{
    BackoffConfig, BreakerConfig, BucketConfig, BudgetConfig, ClientConfig, ConsecutiveFailures,
    FailbackConfig, FailoverConfig, HealthConfig, HedgeConfig, JitterConfig, LatencyConfig,
    OpenGrowth, RetryConfig, ScriptConfig, TailConfig, Unlimited, WindowConfig,
};
use steadfast::failover::Failback;

fn json(text: &str) -> Result<ClientConfig, ConfigError> {
    ClientConfig::from_deserializer(&mut serde_json::Deserializer::from_str(text))
}

fn toml(text: &str) -> Result<ClientConfig, ConfigError> {
    ClientConfig::from_deserializer(toml::Deserializer::parse(text).expect("valid TOML syntax"))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A configuration with every setting given, each with a value other than its default.
fn every_setting() -> ClientConfig {
    let latency = LatencyConfig {
        min: ms(5),
        max: ms(20),
        tail: Some(TailConfig {
            share: 0.01,
            min: secs(1),
            max: secs(2),
        }),
    };
    ClientConfig {
        retry: Some(RetryConfig {
            backoff: Some(BackoffConfig::Exponential {
                base: ms(100),
                factor: 3.0,
                cap: secs(5),
                retries: 4,
                jitter: Some(JitterConfig::Full),
            }),
            budget: Some(BudgetConfig::Bucket(BucketConfig {
                capacity: Some(100),
                retry_cost: Some(2),
                timeout_cost: Some(4),
                success_deposit: Some(3),
            })),
            deadline: Some(secs(10)),
            attempt_timeout: Some(ms(1_500)),
            retry_after_cap: Some(secs(30)),
            seed: Some(7),
        }),
        failover: Some(FailoverConfig {
            endpoints: vec!["us-east-2".into(), "us-west-1".into()],
            attempts_per_endpoint: Some(2),
            recover: Some(BackoffConfig::List {
                delays: vec![ms(250).into(), secs(1).into()],
                jitter: Some(JitterConfig::Decorrelated),
            }),
            deadline: Some(secs(20)),
            attempt_timeout: Some(secs(2)),
            retry_after_cap: Some(secs(40)),
            failback: Some(FailbackConfig::After(secs(60))),
            hedge: Some(HedgeConfig {
                percentile: Some(0.95),
                floor: Some(ms(20)),
                max_ratio: Some(0.05),
                ..HedgeConfig::default()
            }),
            budget: Some(BudgetConfig::Unlimited(Unlimited::Unlimited)),
            breaker: Some(BreakerConfig {
                failure_rate: Some(0.25),
                window: None,
                time_window: Some(secs(30)),
                buckets: Some(6),
                slow_call_duration: Some(secs(3)),
                slow_call_rate: Some(0.75),
                minimum_calls: Some(10),
                consecutive_failures: Some(ConsecutiveFailures::After(4)),
                open_duration: Some(secs(15)),
                open_growth: Some(OpenGrowth {
                    factor: 2.0,
                    max: secs(120),
                }),
                probes: Some(2),
                required_successes: Some(2),
                half_open_max_wait: Some(secs(20)),
                rejected_counts_as_success: Some(true),
                name: Some("orders".into()),
            }),
            seed: Some(9),
        }),
        health: Some(HealthConfig {
            interval: Some(secs(5)),
            timeout: Some(secs(1)),
            unhealthy_after: Some(2),
            healthy_after: Some(4),
        }),
        chaos: Some(ScriptConfig {
            seed: Some(42),
            error_rate: Some(0.01),
            hang_rate: Some(0.001),
            latency: Some(latency),
            windows: vec![
                WindowConfig::Outage {
                    from: secs(60),
                    to: secs(120),
                },
                WindowConfig::Hangs {
                    from: secs(130),
                    to: secs(140),
                },
                WindowConfig::Brownout {
                    from: secs(180),
                    to: secs(240),
                    rate: 0.5,
                },
                WindowConfig::Slowdown {
                    from: secs(300),
                    to: secs(360),
                    latency,
                },
            ],
        }),
    }
}

/// Every other shape of the enums: the other schedules, failbacks, a count window and the
/// consecutive-failure rule off.
fn every_other_shape() -> Vec<ClientConfig> {
    let with_failover = |f: fn(&mut FailoverConfig)| {
        let mut c = every_setting();
        f(c.failover.as_mut().unwrap());
        c
    };
    vec![
        with_failover(|f| f.recover = Some(BackoffConfig::Standard { jitter: None })),
        with_failover(|f| {
            f.recover = Some(BackoffConfig::Extended {
                jitter: Some(JitterConfig::None),
            })
        }),
        with_failover(|f| f.recover = Some(BackoffConfig::None {})),
        with_failover(|f| {
            f.recover = Some(BackoffConfig::Constant {
                delay: ms(300),
                retries: 2,
                jitter: Some(JitterConfig::Equal),
            })
        }),
        with_failover(|f| f.failback = Some(FailbackConfig::Immediate)),
        with_failover(|f| f.failback = Some(FailbackConfig::Manual)),
        with_failover(|f| {
            let b = f.breaker.as_mut().unwrap();
            b.time_window = None;
            b.buckets = None;
            b.window = Some(50);
            b.consecutive_failures = Some(ConsecutiveFailures::Enabled(false));
        }),
        with_failover(|f| f.budget = Some(BudgetConfig::Bucket(BucketConfig::default()))),
        ClientConfig::default(),
    ]
}

#[test]
fn every_setting_round_trips_through_json_and_toml() {
    for config in [every_setting()].into_iter().chain(every_other_shape()) {
        let text = serde_json::to_string(&config).unwrap();
        assert_eq!(json(&text).unwrap(), config, "{text}");
        let text = ::toml::to_string(&config).unwrap();
        assert_eq!(toml(&text).unwrap(), config, "{text}");
        config.validate().unwrap();
    }
}

#[test]
fn a_hand_written_toml_file_reads_as_the_same_settings() {
    let text = r#"
        [retry]
        deadline = "10s"
        attempt_timeout = "1s 500ms"
        retry_after_cap = "30s"
        seed = 7
        backoff = { kind = "exponential", base = "100ms", factor = 3.0, cap = "5s", retries = 4, jitter = "full" }
        budget = { capacity = 100, retry_cost = 2, timeout_cost = 4, success_deposit = 3 }

        [failover]
        endpoints = ["us-east-2", "us-west-1"]
        attempts_per_endpoint = 2
        recover = { kind = "list", delays = ["250ms", "1s"], jitter = "decorrelated" }
        deadline = "20s"
        attempt_timeout = "2s"
        retry_after_cap = "40s"
        failback = { after = "1m" }
        budget = "unlimited"
        seed = 9
        hedge = { percentile = 0.95, floor = "20ms", max_ratio = 0.05 }

        [failover.breaker]
        failure_rate = 0.25
        time_window = "30s"
        buckets = 6
        slow_call_duration = "3s"
        slow_call_rate = 0.75
        minimum_calls = 10
        consecutive_failures = 4
        open_duration = "15s"
        open_growth = { factor = 2.0, max = "2m" }
        probes = 2
        required_successes = 2
        half_open_max_wait = "20s"
        rejected_counts_as_success = true
        name = "orders"

        [health]
        interval = "5s"
        timeout = "1s"
        unhealthy_after = 2
        healthy_after = 4

        [chaos]
        seed = 42
        error_rate = 0.01
        hang_rate = 0.001
        latency = { min = "5ms", max = "20ms", tail = { share = 0.01, min = "1s", max = "2s" } }
        windows = [
            { kind = "outage", from = "1m", to = "2m" },
            { kind = "hangs", from = "130s", to = "140s" },
            { kind = "brownout", from = "3m", to = "4m", rate = 0.5 },
            { kind = "slowdown", from = "5m", to = "6m", latency = { min = "5ms", max = "20ms", tail = { share = 0.01, min = "1s", max = "2s" } } },
        ]
    "#;
    assert_eq!(toml(text).unwrap(), every_setting());
}

#[test]
fn the_settings_reach_the_builders() {
    let config = every_setting();
    let policy = config.retry.as_ref().unwrap().build("retry").unwrap();
    assert_eq!(policy.deadline(), Some(secs(10)));
    assert_eq!(policy.attempt_timeout(), Some(ms(1_500)));
    assert_eq!(policy.retry_after_cap(), secs(30));
    assert_eq!(policy.backoff().max_retries(), 4);
    assert_eq!(policy.backoff().jitter(), steadfast::Jitter::Full);
    assert_eq!(policy.backoff().nominal_delay(2), Some(ms(300)));
    assert_eq!(policy.budget().capacity(), Some(100));

    let failover = config.failover.as_ref().unwrap();
    let built = failover
        .builder("failover", |name| {
            let name = name.to_owned();
            Some(tower::service_fn(move |_: ()| {
                let name = name.clone();
                async move { Ok::<_, steadfast::BoxError>(name) }
            }))
        })
        .unwrap()
        .build()
        .unwrap();
    let handle = built.handle();
    assert_eq!(
        handle.endpoints().collect::<Vec<_>>(),
        ["us-east-2", "us-west-1"]
    );
    assert_eq!(built.budget().capacity(), None, "the unlimited budget");
    let breaker = handle.breaker("us-west-1").unwrap();
    assert_eq!(breaker.name(), Some("orders/us-west-1"));
    assert_eq!(
        Failback::from(FailbackConfig::After(secs(60))),
        Failback::After(secs(60))
    );

    let script = config.chaos.as_ref().unwrap().build().unwrap();
    assert_eq!(script.seed(), 42);
    assert!(script.has_windows());
}

#[test]
fn a_malformed_value_names_its_path() {
    let cases = [
        (
            r#"{ "failover": { "endpoints": ["a"], "deadline": "5 parsecs" } }"#,
            "failover.deadline",
        ),
        (
            r#"{ "failover": { "endpoints": ["a"], "breaker": { "open_duraton": "5s" } } }"#,
            "failover.breaker.open_duraton",
        ),
        (
            r#"{ "retry": { "backoff": { "kind": "exponential", "base": "1s", "factor": "two", "cap": "2s", "retries": 1 } } }"#,
            "retry.backoff",
        ),
        (
            r#"{ "chaos": { "windows": [{ "kind": "outage", "from": "1s", "to": "2s" }, { "kind": "eclipse" }] } }"#,
            "chaos.windows[1].kind",
        ),
        (r#"{ "health": { "interval": -5 } }"#, "health.interval"),
        (r#"{ "retries": {} }"#, "retries"),
        (r#""a string""#, "."),
    ];
    for (text, path) in cases {
        match json(text) {
            Err(ConfigError::Malformed { path: got, message }) => {
                assert_eq!(got, path, "{text}: {message}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn a_malformed_toml_value_names_its_path_too() {
    let err =
        toml("[failover]\nendpoints = [\"a\"]\nfailback = { after = \"soon\" }\n").unwrap_err();
    assert!(err.to_string().starts_with("failover.failback"), "{err}");
}

#[test]
fn an_invalid_setting_names_its_exact_key_and_the_builders_error() {
    // One bad value per setting the builders check: the error names the key to edit.
    let ep = r#""endpoints": ["a"]"#;
    let cases = [
        (
            r#"{ "retry": { "backoff": { "kind": "exponential", "base": "1s", "factor": 0.5, "cap": "2s", "retries": 1 } } }"#,
            "retry.backoff.factor: backoff factor is 0.5, expected a finite number of at least 1",
        ),
        (
            r#"{ "retry": { "backoff": { "kind": "exponential", "base": "2s", "factor": 2.0, "cap": "1s", "retries": 1 } } }"#,
            "retry.backoff.cap: ",
        ),
        (
            r#"{ "retry": { "backoff": { "kind": "list", "delays": ["1s","1s","1s","1s","1s","1s","1s","1s","1s"] } } }"#,
            "retry.backoff.delays: backoff delay list length is 9",
        ),
        (
            r#"{ "retry": { "backoff": { "kind": "constant", "delay": "400d", "retries": 1 } } }"#,
            "retry.backoff: retry backoff delay is ",
        ),
        (
            r#"{ "retry": { "deadline": "0s" } }"#,
            "retry.deadline: retry deadline is 0ns, expected more than zero",
        ),
        (
            r#"{ "retry": { "attempt_timeout": "0s" } }"#,
            "retry.attempt_timeout: ",
        ),
        (
            r#"{ "retry": { "retry_after_cap": "2h" } }"#,
            "retry.retry_after_cap: ",
        ),
        (
            r#"{ "retry": { "budget": { "capacity": 0 } } }"#,
            "retry.budget.capacity: budget capacity is 0",
        ),
        (
            r#"{ "failover": { "endpoints": [] } }"#,
            "failover.endpoints: failover endpoint count is 0, expected at least 1 and at most 32",
        ),
        (
            r#"{ "failover": { "endpoints": [" a"] } }"#,
            "failover.endpoints: failover endpoint name is",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "attempts_per_endpoint": 0 }} }}"#),
            "failover.attempts_per_endpoint: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "deadline": "0s" }} }}"#),
            "failover.deadline: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "attempt_timeout": "0s" }} }}"#),
            "failover.attempt_timeout: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "retry_after_cap": "2h" }} }}"#),
            "failover.retry_after_cap: ",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "recover": {{ "kind": "constant", "delay": "400d", "retries": 1 }} }} }}"#
            ),
            "failover.recover: failover recover delay is ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "budget": {{ "capacity": 0 }} }} }}"#),
            "failover.budget.capacity: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "hedge": {{ "after": "0s" }} }} }}"#),
            "failover.hedge.after: failover hedge delay is 0ns",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "attempt_timeout": "1s", "hedge": {{ "percentile": 0.9, "floor": "2s" }} }} }}"#
            ),
            "failover.hedge.floor: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "hedge": {{ "percentile": 2.0 }} }} }}"#),
            "failover.hedge.percentile: ",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "hedge": {{ "after": "5ms", "max_ratio": 0 }} }} }}"#
            ),
            "failover.hedge.max_ratio: ",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "hedge": {{ "after": "5ms", "percentile": 0.5 }} }} }}"#
            ),
            "failover.hedge: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "breaker": {{ "failure_rate": 1.5 }} }} }}"#),
            "failover.breaker.failure_rate: breaker failure rate is 1.5",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "breaker": {{ "window": 0 }} }} }}"#),
            "failover.breaker.window: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "breaker": {{ "time_window": "400d" }} }} }}"#),
            "failover.breaker.time_window: ",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "breaker": {{ "time_window": "10s", "buckets": 0 }} }} }}"#
            ),
            "failover.breaker.buckets: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "breaker": {{ "buckets": 4 }} }} }}"#),
            "failover.breaker.buckets: breaker buckets is 4, expected a time_window beside them",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "breaker": {{ "slow_call_duration": "0s" }} }} }}"#
            ),
            "failover.breaker.slow_call_duration: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "breaker": {{ "slow_call_rate": 2.0 }} }} }}"#),
            "failover.breaker.slow_call_rate: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "breaker": {{ "minimum_calls": 0 }} }} }}"#),
            "failover.breaker.minimum_calls: ",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "breaker": {{ "consecutive_failures": true }} }} }}"#
            ),
            "failover.breaker.consecutive_failures: consecutive failures is true, expected a number of failures, or false to turn the rule off",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "breaker": {{ "consecutive_failures": 0 }} }} }}"#),
            "failover.breaker.consecutive_failures: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "breaker": {{ "open_duration": "400d" }} }} }}"#),
            "failover.breaker.open_duration: ",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "breaker": {{ "open_growth": {{ "factor": 0.5, "max": "1m" }} }} }} }}"#
            ),
            "failover.breaker.open_growth.factor: ",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "breaker": {{ "open_growth": {{ "factor": 2.0, "max": "400d" }} }} }} }}"#
            ),
            "failover.breaker.open_growth.max: ",
        ),
        (
            // A rule over two settings is reported at its section.
            &format!(
                r#"{{ "failover": {{ {ep}, "breaker": {{ "probes": 1, "required_successes": 2 }} }} }}"#
            ),
            "failover.breaker: breaker probes and required successes is (1, 2)",
        ),
        (
            &format!(
                r#"{{ "failover": {{ {ep}, "breaker": {{ "half_open_max_wait": "0s" }} }} }}"#
            ),
            "failover.breaker.half_open_max_wait: ",
        ),
        (
            &format!(r#"{{ "failover": {{ {ep}, "breaker": {{ "name": "" }} }} }}"#),
            "failover.breaker.name: ",
        ),
        (r#"{ "health": { "interval": "0s" } }"#, "health.interval: "),
        (r#"{ "health": { "timeout": "400d" } }"#, "health.timeout: "),
        (
            r#"{ "health": { "unhealthy_after": 0 } }"#,
            "health.unhealthy_after: health check unhealthy_after is 0, expected at least 1",
        ),
        (
            r#"{ "health": { "healthy_after": 0 } }"#,
            "health.healthy_after: ",
        ),
        (
            r#"{ "chaos": { "error_rate": 2.0 } }"#,
            "chaos.error_rate: chaos error rate is 2.0, expected a number in [0, 1]",
        ),
        (r#"{ "chaos": { "hang_rate": -1.0 } }"#, "chaos.hang_rate: "),
        (
            r#"{ "chaos": { "latency": { "min": "2s", "max": "1s" } } }"#,
            "chaos.latency: ",
        ),
        (
            r#"{ "chaos": { "latency": { "min": "1s", "max": "2s", "tail": { "share": 1.5, "min": "1s", "max": "2s" } } } }"#,
            "chaos.latency.tail.share: ",
        ),
        (
            r#"{ "chaos": { "latency": { "min": "1s", "max": "2s", "tail": { "share": 0.5, "min": "3s", "max": "2s" } } } }"#,
            "chaos.latency.tail: ",
        ),
        (
            r#"{ "chaos": { "windows": [
                { "kind": "outage", "from": "0s", "to": "1s" },
                { "kind": "hangs", "from": "5s", "to": "2s" } ] } }"#,
            "chaos.windows[1]: chaos window is ",
        ),
        (
            r#"{ "chaos": { "windows": [
                { "kind": "outage", "from": "0s", "to": "1s" },
                { "kind": "outage", "from": "1s", "to": "2s" },
                { "kind": "brownout", "from": "2s", "to": "3s", "rate": 1.5 } ] } }"#,
            "chaos.windows[2].rate: chaos brownout rate is 1.5",
        ),
        (
            r#"{ "chaos": { "windows": [
                { "kind": "slowdown", "from": "0s", "to": "1s", "latency": { "min": "2s", "max": "1s" } } ] } }"#,
            "chaos.windows[0].latency: chaos latency is ",
        ),
    ];
    for (text, message) in cases {
        let config = json(text).unwrap();
        match config.validate() {
            Err(e @ ConfigError::At { .. }) => {
                assert!(e.to_string().starts_with(message), "{text}: {e}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn an_endpoint_without_a_service_names_its_place_in_the_list() {
    let config = json(r#"{ "failover": { "endpoints": ["a", "b"] } }"#).unwrap();
    let failover = config.failover.unwrap();
    let err = failover
        .builder("failover", |name| (name == "a").then_some(()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "failover.endpoints[1]: failover endpoint is \"b\", expected a name the caller has a service for"
    );
}
