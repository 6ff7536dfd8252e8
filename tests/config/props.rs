//! Any document either reads and builds, or gives a `ConfigError`: never a panic. Documents are
//! drawn from the configuration's own shape, with values from the edges (zero, huge durations,
//! out-of-range rates, wrong types, unknown fields).

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use steadfast::ConfigError;

use super::json;

fn duration() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("0s")),
        Just(json!("1ns")),
        Just(json!("1ms")),
        Just(json!("500ms")),
        Just(json!("2s")),
        Just(json!("1h")),
        Just(json!("366days")),
        Just(json!("584942417355years")),
        Just(json!("soon")),
        Just(json!(5)),
    ]
}

fn count() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(3)),
        Just(json!(100)),
        Just(json!(u32::MAX)),
        Just(json!(-1)),
        Just(json!(false)),
        Just(json!(1.5)),
    ]
}

fn rate() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0.0)),
        Just(json!(0.5)),
        Just(json!(1.0)),
        Just(json!(1.5)),
        Just(json!(-0.1)),
        Just(json!(1e308)),
        Just(json!("half")),
    ]
}

/// An object holding a random subset of `fields`, each with a value from its strategy, and
/// sometimes an unknown field.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let n = fields.len();
    let (names, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
    (
        proptest::collection::vec(any::<bool>(), n),
        values,
        proptest::bool::weighted(0.05),
    )
        .prop_map(move |(keep, values, unknown)| {
            let mut map = Map::new();
            for ((name, value), keep) in names.iter().zip(values).zip(keep) {
                if keep {
                    map.insert((*name).to_owned(), value);
                }
            }
            if unknown {
                map.insert("unknown".to_owned(), json!(1));
            }
            Value::Object(map)
        })
        .boxed()
}

fn jitter() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!("none")),
        Just(json!("full")),
        Just(json!("equal")),
        Just(json!("decorrelated")),
        Just(json!("some")),
    ]
    .boxed()
}

fn backoff() -> BoxedStrategy<Value> {
    let kind = prop_oneof![
        Just("standard"),
        Just("extended"),
        Just("none"),
        Just("constant"),
        Just("exponential"),
        Just("list"),
        Just("fibonacci"),
    ];
    (
        kind,
        object(vec![
            ("delay", duration().boxed()),
            ("retries", count().boxed()),
            ("base", duration().boxed()),
            ("factor", rate().boxed()),
            ("cap", duration().boxed()),
            (
                "delays",
                proptest::collection::vec(duration(), 0..4)
                    .prop_map(Value::from)
                    .boxed(),
            ),
            ("jitter", jitter()),
        ]),
    )
        .prop_map(|(kind, mut fields)| {
            fields["kind"] = json!(kind);
            fields
        })
        .boxed()
}

fn budget() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!("unlimited")),
        object(vec![
            ("capacity", count().boxed()),
            ("retry_cost", count().boxed()),
            ("timeout_cost", count().boxed()),
            ("success_deposit", count().boxed()),
        ]),
    ]
    .boxed()
}

fn breaker() -> BoxedStrategy<Value> {
    object(vec![
        ("failure_rate", rate().boxed()),
        ("window", count().boxed()),
        ("time_window", duration().boxed()),
        ("buckets", count().boxed()),
        ("slow_call_duration", duration().boxed()),
        ("slow_call_rate", rate().boxed()),
        ("minimum_calls", count().boxed()),
        (
            "consecutive_failures",
            prop_oneof![count(), Just(json!(true))].boxed(),
        ),
        ("open_duration", duration().boxed()),
        (
            "open_growth",
            object(vec![
                ("factor", rate().boxed()),
                ("max", duration().boxed()),
            ]),
        ),
        ("probes", count().boxed()),
        ("required_successes", count().boxed()),
        ("half_open_max_wait", duration().boxed()),
        (
            "rejected_counts_as_success",
            any::<bool>().prop_map(Value::from).boxed(),
        ),
        (
            "name",
            prop_oneof![Just(json!("orders")), Just(json!("")), Just(json!(" x"))].boxed(),
        ),
    ])
}

fn endpoints() -> BoxedStrategy<Value> {
    let name = prop_oneof![
        Just("us-east-2"),
        Just("us-west-1"),
        Just("US-EAST-2"),
        Just(""),
        Just(" padded"),
    ];
    proptest::collection::vec(name, 0..4)
        .prop_map(Value::from)
        .boxed()
}

fn failover() -> BoxedStrategy<Value> {
    object(vec![
        ("endpoints", endpoints()),
        ("attempts_per_endpoint", count().boxed()),
        ("recover", backoff()),
        ("deadline", duration().boxed()),
        ("attempt_timeout", duration().boxed()),
        ("retry_after_cap", duration().boxed()),
        (
            "failback",
            prop_oneof![
                Just(json!("immediate")),
                Just(json!("manual")),
                duration().prop_map(|d| json!({ "after": d })),
                Just(json!("later")),
            ]
            .boxed(),
        ),
        ("budget", budget()),
        ("breaker", breaker()),
        ("seed", any::<u64>().prop_map(Value::from).boxed()),
    ])
}

fn latency() -> BoxedStrategy<Value> {
    object(vec![
        ("min", duration().boxed()),
        ("max", duration().boxed()),
        (
            "tail",
            object(vec![
                ("share", rate().boxed()),
                ("min", duration().boxed()),
                ("max", duration().boxed()),
            ]),
        ),
    ])
}

fn window() -> BoxedStrategy<Value> {
    let kind = prop_oneof![
        Just("outage"),
        Just("hangs"),
        Just("brownout"),
        Just("slowdown"),
        Just("eclipse"),
    ];
    (
        kind,
        object(vec![
            ("from", duration().boxed()),
            ("to", duration().boxed()),
            ("rate", rate().boxed()),
            ("latency", latency()),
        ]),
    )
        .prop_map(|(kind, mut fields)| {
            fields["kind"] = json!(kind);
            fields
        })
        .boxed()
}

fn document() -> BoxedStrategy<Value> {
    object(vec![
        (
            "retry",
            object(vec![
                ("backoff", backoff()),
                ("budget", budget()),
                ("deadline", duration().boxed()),
                ("attempt_timeout", duration().boxed()),
                ("retry_after_cap", duration().boxed()),
                ("seed", any::<u64>().prop_map(Value::from).boxed()),
            ]),
        ),
        ("failover", failover()),
        (
            "health",
            object(vec![
                ("interval", duration().boxed()),
                ("timeout", duration().boxed()),
                ("unhealthy_after", count().boxed()),
                ("healthy_after", count().boxed()),
            ]),
        ),
        (
            "chaos",
            object(vec![
                ("seed", any::<u64>().prop_map(Value::from).boxed()),
                ("error_rate", rate().boxed()),
                ("hang_rate", rate().boxed()),
                ("latency", latency()),
                (
                    "windows",
                    proptest::collection::vec(window(), 0..3)
                        .prop_map(Value::from)
                        .boxed(),
                ),
            ]),
        ),
    ])
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::with_cases(256)))]

    #[test]
    fn any_document_builds_or_gives_a_config_error(doc in document()) {
        let text = doc.to_string();
        match json(&text) {
            Ok(config) => match config.validate() {
                Ok(()) => {
                    // What validates builds the failover, with services for its names.
                    if let Some(failover) = &config.failover {
                        failover.builder("failover", |_| Some(())).unwrap().build().unwrap();
                    }
                }
                Err(ConfigError::At { path, error }) => {
                    prop_assert!(!path.is_empty());
                    prop_assert!(!matches!(*error, ConfigError::At { .. }), "{}", error);
                }
                Err(other) => prop_assert!(false, "not placed: {other}"),
            },
            Err(ConfigError::Malformed { path, .. }) => prop_assert!(!path.is_empty()),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}
