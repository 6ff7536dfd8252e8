//! The builder: every invalid setting is a `ConfigError` with a clear message, at build time.

use steadfast::ConfigError;
use steadfast::failover::MAX_ENDPOINTS;

use super::support::{Scripted, ms};
use super::*;

fn error<C: 'static, R: 'static, H: 'static, O: 'static>(
    b: FailoverBuilder<Scripted, C, R, H, O>,
) -> String {
    match b.build() {
        Ok(_) => panic!("the configuration is invalid"),
        Err(e @ ConfigError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("unexpected {e:?}"),
    }
}

fn two() -> FailoverBuilder<Scripted, Classifier> {
    let s = Scripted::new([]);
    regions(&[("east", &s), ("west", &s)])
}

#[test]
fn an_empty_list_is_an_error() {
    let b = Failover::builder::<Scripted>();
    assert_eq!(
        error(b),
        "failover endpoint count is 0, expected at least 1 and at most 32"
    );
}

#[test]
fn more_than_32_endpoints_is_an_error() {
    let s = Scripted::new([]);
    let many = |n: usize| {
        (0..n).fold(Failover::builder(), |b, i| {
            b.endpoint(format!("region-{i}"), s.clone())
        })
    };
    assert!(many(MAX_ENDPOINTS).build().is_ok(), "32 is fine");
    assert_eq!(
        error(many(MAX_ENDPOINTS + 1)),
        "failover endpoint count is 33, expected at least 1 and at most 32"
    );
}

#[test]
fn duplicate_names_are_an_error() {
    let s = Scripted::new([]);
    let b = regions(&[("east", &s), ("west", &s), ("east", &s)]);
    assert_eq!(
        error(b),
        r#"failover endpoint name is "east", expected a name given to one endpoint only (ignoring ASCII case)"#
    );
}

#[test]
fn zero_attempts_per_endpoint_is_an_error() {
    assert_eq!(
        error(two().attempts_per_endpoint(0)),
        "failover attempts per endpoint is 0, expected at least 1"
    );
}

#[test]
fn zero_deadline_or_attempt_timeout_is_an_error() {
    let deadline = error(two().deadline(Duration::ZERO));
    assert!(
        deadline.starts_with("failover deadline is ")
            && deadline.ends_with(", expected more than zero"),
        "{deadline}"
    );
    let timeout = error(two().attempt_timeout(Duration::ZERO));
    assert!(
        timeout.starts_with("failover attempt timeout is ")
            && timeout.ends_with(", expected more than zero"),
        "{timeout}"
    );
    assert!(two().deadline(ms(1)).attempt_timeout(ms(1)).build().is_ok());
}

/// The value in the message is the one the caller gave, as for every other setting.
#[test]
fn zero_duration_messages_show_the_value_given() {
    assert_eq!(
        error(two().deadline(Duration::ZERO)),
        "failover deadline is 0ns, expected more than zero"
    );
    assert_eq!(
        error(two().attempt_timeout(Duration::ZERO)),
        "failover attempt timeout is 0ns, expected more than zero"
    );
}

#[test]
fn an_invalid_breaker_configuration_is_an_error() {
    assert_eq!(
        error(two().breakers(|b| b.probes(1))),
        "breaker probes and required successes is (1, 3), expected probes >= required \
         successes >= 1, probes at most 65535"
    );
    assert_eq!(
        error(two().breakers(|b| b.failure_rate(f64::NAN))),
        "breaker failure rate is NaN, expected a share in (0, 1] of at least one basis point \
         (0.0001)"
    );
}

#[test]
fn a_valid_configuration_builds_with_closed_breakers_named_after_their_endpoints() {
    let f = two().build().unwrap();
    let handle = f.handle();
    assert_eq!(handle.endpoints().collect::<Vec<_>>(), ["east", "west"]);
    for name in ["east", "west"] {
        assert_eq!(handle.breaker_state(name), Some(BreakerState::Closed));
        assert_eq!(handle.breaker(name).unwrap().name(), Some(name));
    }
    assert!(handle.breaker("north").is_none());
    assert_eq!(
        f.budget().level(),
        Some(500),
        "a standard budget by default"
    );
}

#[test]
fn empty_padded_and_case_twin_names_are_errors() {
    let s = Scripted::new([]);
    let named = |names: &[&str]| {
        names
            .iter()
            .fold(Failover::builder(), |b, n| b.endpoint(*n, s.clone()))
    };
    let padded = "a non-empty name without leading or trailing whitespace";
    assert_eq!(
        error(named(&["east", ""])),
        format!(r#"failover endpoint name is "", expected {padded}"#)
    );
    assert_eq!(
        error(named(&["east", "west "])),
        format!(r#"failover endpoint name is "west ", expected {padded}"#)
    );
    assert_eq!(
        error(named(&["\teast", "west"])),
        format!(r#"failover endpoint name is "\teast", expected {padded}"#)
    );
    assert_eq!(
        error(named(&["east", "West", "EAST"])),
        r#"failover endpoint name is "EAST", expected a name given to one endpoint only (ignoring ASCII case)"#
    );
    assert!(named(&["us-east-2", "us east 2"]).build().is_ok());
}

#[test]
fn a_breaker_name_given_to_every_region_becomes_a_prefix() {
    let s = Scripted::new([]);
    let f = regions(&[("east", &s), ("west", &s)])
        .breakers(|b| b.name("orders"))
        .build()
        .unwrap();
    let handle = f.handle();
    assert_eq!(handle.breaker("east").unwrap().name(), Some("orders/east"));
    assert_eq!(handle.breaker("west").unwrap().name(), Some("orders/west"));
    // A prefix that is not a valid name is refused.
    assert_eq!(
        error(two().breakers(|b| b.name(" "))),
        r#"breaker name is " ", expected a non-empty name without leading or trailing whitespace"#
    );
}
