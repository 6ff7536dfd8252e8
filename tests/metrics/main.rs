//! The metrics hook (feature `metrics`): exact values in the `metrics` debugging recorder
//! (installed for the test's thread only) after scripted scenarios under paused time; and the
//! Prometheus exporter's `/metrics`, scraped over loopback in real time (`prometheus.rs`).
#![cfg(feature = "metrics")]

#[path = "../support/mod.rs"]
mod support;

mod allocations;
mod prometheus;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use steadfast::backoff::Backoff;
use steadfast::chaos::{ChaosHandle, ChaosLayer, Script};
use steadfast::failover::{Failover, Hedge, Switch};
use steadfast::health::{HealthChecks, check_fn};
use steadfast::integrations::metrics::MetricsEvents;
use steadfast::retry::{RetryLayer, RetryPolicy};
use steadfast::{BoxError, Outcome, RetryBudget};
use support::{Resp, Scripted, Step, exact, ms, secs};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

type Classifier = fn(&Result<Resp, BoxError>) -> Outcome;

/// A debugging recorder and a hook registered with it (and only with it: nothing global).
struct Recorded {
    snapshotter: Snapshotter,
    hook: MetricsEvents,
}

fn recorded(build: impl FnOnce() -> MetricsEvents) -> Recorded {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let hook = metrics::with_local_recorder(&recorder, build);
    Recorded { snapshotter, hook }
}

impl Recorded {
    /// Every series now. The debugging recorder's snapshot resets what it reads, so a test reads
    /// once, at the end of its scenario.
    fn read(&self) -> Values {
        Values(
            self.snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| {
                    let key = key.key();
                    let mut labels: Vec<(String, String)> = key
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect();
                    labels.sort();
                    (key.name().to_owned(), labels, value)
                })
                .collect(),
        )
    }
}

/// A series' labels, sorted.
type Labels = Vec<(String, String)>;

/// One reading of every series: name, labels, value.
struct Values(Vec<(String, Labels, DebugValue)>);

impl Values {
    /// The value of metric `name` whose labels are exactly `steadfast.client="orders"` and
    /// `labels`; panics if there is no such series.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> &DebugValue {
        let mut want: Vec<(String, String)> = labels
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .chain([("steadfast.client".to_owned(), "orders".to_owned())])
            .collect();
        want.sort();
        self.0
            .iter()
            .find(|(n, l, _)| n == name && *l == want)
            .map(|(.., value)| value)
            .unwrap_or_else(|| panic!("no series {name} {labels:?}"))
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.value(name, labels) {
            DebugValue::Counter(n) => *n,
            other => panic!("{name} is not a counter: {other:?}"),
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.value(name, labels) {
            DebugValue::Gauge(x) => x.into_inner(),
            other => panic!("{name} is not a gauge: {other:?}"),
        }
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.value(name, labels) {
            DebugValue::Histogram(xs) => xs.iter().map(|x| x.into_inner()).collect(),
            other => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    /// The sum of every series of counter `name`: what a test expects to have been counted at
    /// all, so that a count in the wrong series shows.
    fn total(&self, name: &str) -> u64 {
        self.0
            .iter()
            .filter(|(n, ..)| n == name)
            .map(|(.., value)| match value {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }
}

const EAST: (&str, &str) = ("steadfast.endpoint", "east");
const WEST: (&str, &str) = ("steadfast.endpoint", "west");

fn attempts(
    endpoint: (&'static str, &'static str),
    outcome: &'static str,
    error: &'static str,
) -> [(&'static str, &'static str); 3] {
    [
        endpoint,
        ("steadfast.outcome", outcome),
        ("error.type", error),
    ]
}

/// Two scripted regions, their breakers opening on the first failure for 10 s and closing on one
/// good probe, every hook the metrics hook.
fn failover(
    m: &MetricsEvents,
    east: &Scripted,
    west: &Scripted,
) -> Failover<Scripted, Classifier, steadfast::replay::CloneReplay, MetricsEvents> {
    let breakers = m.clone();
    Failover::builder()
        .classifier(support::classify as Classifier)
        .recover(exact(Backoff::standard()))
        .endpoint("east", east.clone())
        .endpoint("west", west.clone())
        .breakers(move |b| {
            b.consecutive_failures(1)
                .open_duration(secs(10))
                .probes(1)
                .required_successes(1)
                .on_event(breakers.clone())
        })
        .on_event(m.clone())
        .build()
        .unwrap()
}

async fn call<S: Service<u32> + Clone>(s: &S, req: u32) -> Result<S::Response, S::Error> {
    s.clone().oneshot(req).await
}

#[test]
fn before_any_call_the_first_endpoint_serves_and_every_breaker_is_closed() {
    let m = recorded(|| {
        MetricsEvents::builder("orders")
            .endpoints(["east", "west"])
            .build()
    });
    let m = m.read();
    assert_eq!(m.gauge("steadfast.failover.serving", &[EAST]), 1.0);
    assert_eq!(m.gauge("steadfast.failover.serving", &[WEST]), 0.0);
    for endpoint in ["east", "west"] {
        let state = |s| {
            [
                ("steadfast.breaker", endpoint),
                ("steadfast.breaker.state", s),
            ]
        };
        assert_eq!(m.gauge("steadfast.breaker.state", &state("closed")), 1.0);
        assert_eq!(m.gauge("steadfast.breaker.state", &state("open")), 0.0);
        let e = ("steadfast.endpoint", endpoint);
        assert_eq!(m.gauge("steadfast.failover.available", &[e]), 1.0);
        assert_eq!(m.gauge("steadfast.health.healthy", &[e]), 1.0);
    }
    // Every series is registered up front, at zero.
    assert_eq!(m.total("steadfast.attempts"), 0);
    assert_eq!(
        m.counter(
            "steadfast.give_ups",
            &[("steadfast.reason", "no_endpoint_available")]
        ),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn an_outage_and_a_failback_count_exactly() {
    let m = recorded(|| {
        MetricsEvents::builder("orders")
            .endpoints(["east", "west"])
            .build()
    });

    let east = Scripted::new([Step::Status(503)]);
    let west = Scripted::new([]);
    let f = failover(&m.hook, &east, &west);
    let t0 = Instant::now();
    // 0 s: east fails (its breaker opens), the call hops to west. 1 s, 2 s: west serves.
    // 10 s: a probe closes east's breaker. 11 s: east serves again.
    for at in [0, 1, 2, 10, 11] {
        tokio::time::sleep_until(t0 + secs(at)).await;
        assert_eq!(call(&f, 1).await.unwrap().status, 200);
    }

    let v = m.read();
    assert_eq!(
        v.counter("steadfast.attempts", &attempts(EAST, "transient", "failed")),
        1
    );
    assert_eq!(
        v.counter("steadfast.attempts", &attempts(EAST, "success", "")),
        2
    );
    assert_eq!(
        v.counter("steadfast.attempts", &attempts(WEST, "success", "")),
        3
    );
    assert_eq!(v.total("steadfast.attempts"), 6);
    assert_eq!(v.counter("steadfast.hops", &[EAST]), 1);
    assert_eq!(v.total("steadfast.hops"), 1);
    assert_eq!(v.gauge("steadfast.budget.tokens", &[]), 495.0);
    assert_eq!(
        v.counter(
            "steadfast.failover.unavailable",
            &[EAST, ("steadfast.reason", "breaker_open")]
        ),
        1
    );
    assert_eq!(v.total("steadfast.failover.unavailable"), 1);
    assert_eq!(v.gauge("steadfast.failover.available", &[EAST]), 1.0);
    assert_eq!(v.counter("steadfast.failover.failovers", &[EAST]), 1);
    assert_eq!(v.counter("steadfast.failover.failbacks", &[EAST]), 1);
    assert_eq!(v.total("steadfast.failover.failovers"), 1);
    assert_eq!(v.total("steadfast.failover.failbacks"), 1);
    assert_eq!(v.gauge("steadfast.failover.serving", &[EAST]), 1.0);
    assert_eq!(v.gauge("steadfast.failover.serving", &[WEST]), 0.0);
    let state = |s| {
        [
            ("steadfast.breaker", "east"),
            ("steadfast.breaker.state", s),
        ]
    };
    for (s, transitions, now) in [("open", 1, 0.0), ("half_open", 1, 0.0), ("closed", 1, 1.0)] {
        assert_eq!(
            v.counter("steadfast.breaker.transitions", &state(s)),
            transitions,
            "{s}"
        );
        assert_eq!(v.gauge("steadfast.breaker.state", &state(s)), now, "{s}");
    }
    assert_eq!(v.total("steadfast.breaker.transitions"), 3);
    assert_eq!(v.total("steadfast.give_ups"), 0);
}

#[tokio::test(start_paused = true)]
async fn the_serving_gauge_follows_a_failover_while_the_primary_is_out() {
    let m = recorded(|| {
        MetricsEvents::builder("orders")
            .endpoints(["east", "west"])
            .build()
    });
    let east = Scripted::new([Step::Status(503)]);
    let f = failover(&m.hook, &east, &Scripted::new([]));
    call(&f, 1).await.unwrap();
    tokio::time::sleep(secs(1)).await;
    call(&f, 1).await.unwrap();
    let v = m.read();
    assert_eq!(v.gauge("steadfast.failover.serving", &[EAST]), 0.0);
    assert_eq!(v.gauge("steadfast.failover.serving", &[WEST]), 1.0);
    assert_eq!(v.gauge("steadfast.failover.available", &[EAST]), 0.0);
    let open = [
        ("steadfast.breaker", "east"),
        ("steadfast.breaker.state", "open"),
    ];
    assert_eq!(v.gauge("steadfast.breaker.state", &open), 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_retry_layer_counts_retries_delays_and_the_give_up_reason() {
    let m = recorded(|| MetricsEvents::builder("orders").build());
    let policy = RetryPolicy::builder()
        .backoff(Backoff::exponential(ms(100), 2.0, secs(10), 2).unwrap())
        .classifier(support::classify as Classifier)
        .on_event(m.hook.clone())
        .build()
        .unwrap();
    // Three failures: the first attempt and two retries, then no retries left.
    let inner = Scripted::new(std::iter::repeat_n(Step::Status(503), 3));
    let svc = RetryLayer::new(policy).layer(inner.clone());
    assert_eq!(call(&svc, 1).await.unwrap().status, 503);
    let none = ("steadfast.endpoint", "");
    let v = m.read();
    assert_eq!(
        v.counter("steadfast.attempts", &attempts(none, "transient", "failed")),
        3
    );
    assert_eq!(v.total("steadfast.attempts"), 3);
    assert_eq!(v.counter("steadfast.retries", &[none]), 2);
    assert_eq!(v.histogram("steadfast.retry.delay", &[none]), [0.1, 0.2]);
    let reason = |r| [("steadfast.reason", r)];
    assert_eq!(
        v.counter("steadfast.give_ups", &reason("retries_exhausted")),
        1
    );
    assert_eq!(v.total("steadfast.give_ups"), 1);
    // The standard budget: 500 tokens, 5 per retry.
    assert_eq!(v.gauge("steadfast.budget.tokens", &[]), 490.0);
    assert_eq!(inner.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_is_a_give_up_by_its_reason() {
    let m = recorded(|| MetricsEvents::builder("orders").build());
    let policy = RetryPolicy::builder()
        .backoff(Backoff::exponential(ms(100), 2.0, secs(10), 2).unwrap())
        .budget(
            RetryBudget::builder()
                .capacity(15)
                .retry_cost(10)
                .build()
                .unwrap(),
        )
        .classifier(support::classify as Classifier)
        .on_event(m.hook.clone())
        .build()
        .unwrap();
    let svc = RetryLayer::new(policy).layer(Scripted::failing(10));
    assert_eq!(call(&svc, 1).await.unwrap().status, 500);
    let v = m.read();
    assert_eq!(
        v.counter(
            "steadfast.give_ups",
            &[("steadfast.reason", "budget_exhausted")]
        ),
        1
    );
    assert_eq!(
        v.counter("steadfast.retries", &[("steadfast.endpoint", "")]),
        1
    );
    assert_eq!(v.gauge("steadfast.budget.tokens", &[]), 5.0);
}

#[tokio::test(start_paused = true)]
async fn routing_changes_and_the_refused_last_switch_are_counted() {
    let m = recorded(|| {
        MetricsEvents::builder("orders")
            .endpoints(["east", "west"])
            .build()
    });
    let f = failover(&m.hook, &Scripted::new([]), &Scripted::new([]));
    let routing = f.handle().routing().on_event(m.hook.clone());
    routing.set("east", Switch::Off).unwrap();
    routing.set("west", Switch::Off).unwrap_err();
    routing.set("nowhere", Switch::Off).unwrap_err();
    routing.set("east", Switch::On).unwrap();
    let v = m.read();
    let change = |e, s| {
        [
            e,
            ("steadfast.routing.switch", s),
            ("steadfast.routing.source", "operator"),
        ]
    };
    assert_eq!(
        v.counter("steadfast.routing.changes", &change(EAST, "off")),
        1
    );
    assert_eq!(
        v.counter("steadfast.routing.changes", &change(EAST, "on")),
        1
    );
    assert_eq!(v.total("steadfast.routing.changes"), 2);
    let refusal = |e, r| {
        [
            e,
            ("steadfast.reason", r),
            ("steadfast.routing.source", "operator"),
        ]
    };
    assert_eq!(
        v.counter(
            "steadfast.routing.refusals",
            &refusal(WEST, "last_endpoint_on")
        ),
        1
    );
    assert_eq!(
        v.counter(
            "steadfast.routing.refusals",
            &refusal(("steadfast.endpoint", "_other"), "unknown_endpoint")
        ),
        1
    );
    assert_eq!(v.total("steadfast.routing.refusals"), 2);
}

#[tokio::test(start_paused = true)]
async fn health_verdicts_set_the_gauge_and_count_changes() {
    let m = recorded(|| MetricsEvents::builder("orders").endpoints(["db"]).build());
    let db = ("steadfast.endpoint", "db");
    // Three failures (at 0, 10 and 20 s) make it unhealthy; three passes (30, 40, 50 s) healthy.
    let checks = Arc::new(AtomicU32::new(0));
    let check = check_fn(move |_: &str| {
        let n = checks.fetch_add(1, Ordering::SeqCst);
        async move { if n < 3 { Err("refused") } else { Ok(()) } }
    });
    let driver = HealthChecks::endpoints(["db"], check)
        .on_event(m.hook.clone())
        .build()
        .unwrap();
    let driver = tokio::spawn(driver);
    let t0 = Instant::now();
    let changed = |h| [db, ("steadfast.health.healthy", h)];
    tokio::time::sleep_until(t0 + ms(20_001)).await;
    let v = m.read();
    assert_eq!(v.gauge("steadfast.health.healthy", &[db]), 0.0);
    assert_eq!(v.counter("steadfast.health.changes", &changed("false")), 1);
    assert_eq!(v.total("steadfast.health.changes"), 1);
    // The second reading counts from the first.
    tokio::time::sleep_until(t0 + ms(50_001)).await;
    let v = m.read();
    assert_eq!(v.gauge("steadfast.health.healthy", &[db]), 1.0);
    assert_eq!(v.counter("steadfast.health.changes", &changed("true")), 1);
    assert_eq!(v.total("steadfast.health.changes"), 1);
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn injected_faults_are_counted_by_layer_and_kind() {
    let m = recorded(|| MetricsEvents::builder("orders").chaos(["db"]).build());
    let script = Script::builder()
        .seed(42)
        .outage(secs(0)..secs(10))
        .build()
        .unwrap();
    let svc = ChaosLayer::new(ChaosHandle::new(script))
        .name("db")
        .on_event(m.hook.clone())
        .layer(Scripted::new([]));
    for _ in 0..3 {
        call(&svc, 1).await.unwrap_err();
    }
    let fault = |k| [("steadfast.chaos", "db"), ("steadfast.fault", k)];
    let v = m.read();
    assert_eq!(v.counter("steadfast.chaos.faults", &fault("error")), 3);
    assert_eq!(v.total("steadfast.chaos.faults"), 3);
}

#[tokio::test(start_paused = true)]
async fn a_recover_pass_and_its_hops_are_counted() {
    let m = recorded(|| {
        MetricsEvents::builder("orders")
            .endpoints(["east", "west"])
            .build()
    });
    // East fails twice, west once: east, west, (500 ms) east, west serves.
    let east = Scripted::new([Step::Status(503), Step::Status(503)]);
    let west = Scripted::new([Step::Err("reset")]);
    let f = Failover::builder()
        .classifier(support::classify as Classifier)
        .recover(exact(Backoff::standard()))
        .endpoint("east", east.clone())
        .endpoint("west", west.clone())
        .breakers(|b| {
            b.consecutive_failures(None)
                .window(1_000)
                .minimum_calls(1_000)
        })
        .on_event(m.hook.clone())
        .build()
        .unwrap();
    assert_eq!(call(&f, 1).await.unwrap().status, 200);
    let v = m.read();
    assert_eq!(v.counter("steadfast.recover_passes", &[]), 1);
    assert_eq!(v.counter("steadfast.hops", &[EAST]), 2);
    assert_eq!(v.total("steadfast.hops"), 2);
    assert_eq!(
        v.counter("steadfast.attempts", &attempts(EAST, "transient", "failed")),
        2
    );
    assert_eq!(
        v.counter("steadfast.attempts", &attempts(WEST, "transient", "failed")),
        1
    );
    assert_eq!(
        v.counter("steadfast.attempts", &attempts(WEST, "success", "")),
        1
    );
    assert_eq!(v.total("steadfast.attempts"), 4);
    // Two hops and the recover pass's first attempt paid 5 tokens each: 485 at the last hop.
    assert_eq!(v.gauge("steadfast.budget.tokens", &[]), 485.0);
    assert_eq!(v.total("steadfast.give_ups"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_retry_layer_records_each_attempts_and_the_calls_duration() {
    let m = recorded(|| MetricsEvents::builder("orders").build());
    let policy = RetryPolicy::builder()
        .backoff(exact(Backoff::constant(ms(100), 2)))
        .classifier(support::classify as Classifier)
        .on_event(m.hook.clone())
        .build()
        .unwrap();
    // 503 after 30 ms, a 100 ms sleep, then 200 after 50 ms: the call takes 180 ms.
    let inner = Scripted::new([
        Step::After(ms(30), Box::new(Step::Status(503))),
        Step::After(ms(50), Box::new(Step::Status(200))),
    ]);
    let svc = RetryLayer::new(policy).layer(inner.clone());
    let started = Instant::now();
    assert_eq!(call(&svc, 1).await.unwrap().status, 200);
    assert_eq!(started.elapsed(), ms(180));
    let none = ("steadfast.endpoint", "");
    let v = m.read();
    assert_eq!(
        v.histogram(
            "steadfast.attempt.duration",
            &attempts(none, "transient", "failed")
        ),
        [0.03]
    );
    assert_eq!(
        v.histogram("steadfast.attempt.duration", &attempts(none, "success", "")),
        [0.05]
    );
    let call_labels = [
        none,
        ("steadfast.layer", "retry"),
        ("steadfast.outcome", "success"),
        ("error.type", ""),
    ];
    assert_eq!(v.counter("steadfast.calls", &call_labels), 1);
    assert_eq!(v.total("steadfast.calls"), 1);
    assert_eq!(v.histogram("steadfast.call.duration", &call_labels), [0.18]);
}

#[tokio::test(start_paused = true)]
async fn a_failover_records_durations_per_endpoint_and_a_call_that_no_attempt_settled() {
    let m = recorded(|| {
        MetricsEvents::builder("orders")
            .endpoints(["east", "west"])
            .build()
    });
    let east = Scripted::new([Step::After(ms(40), Box::new(Step::Status(503)))]);
    let west = Scripted::new([Step::After(ms(25), Box::new(Step::Status(200)))]);
    let f = failover(&m.hook, &east, &west);
    let started = Instant::now();
    assert_eq!(call(&f, 1).await.unwrap().status, 200);
    assert_eq!(started.elapsed(), ms(65));
    // Both endpoints switched off is refused, so make every endpoint unavailable another way:
    // the east breaker is open; switch west off.
    f.handle().routing().set("west", Switch::Off).unwrap();
    assert!(call(&f, 2).await.is_err());
    let v = m.read();
    assert_eq!(
        v.histogram(
            "steadfast.attempt.duration",
            &attempts(EAST, "transient", "failed")
        ),
        [0.04]
    );
    assert_eq!(
        v.histogram("steadfast.attempt.duration", &attempts(WEST, "success", "")),
        [0.025]
    );
    let finished = |endpoint, outcome| {
        [
            endpoint,
            ("steadfast.layer", "failover"),
            ("steadfast.outcome", outcome),
            ("error.type", ""),
        ]
    };
    assert_eq!(
        v.histogram("steadfast.call.duration", &finished(WEST, "success")),
        [0.065]
    );
    // The second call found no endpoint: no attempt, no endpoint, outcome `none`, at once.
    let unsettled = finished(("steadfast.endpoint", ""), "none");
    assert_eq!(v.counter("steadfast.calls", &unsettled), 1);
    assert_eq!(v.histogram("steadfast.call.duration", &unsettled), [0.0]);
    assert_eq!(v.total("steadfast.calls"), 2);
}

#[tokio::test(start_paused = true)]
async fn without_durations_the_counters_are_kept_and_no_histogram_is_recorded() {
    let m = recorded(|| MetricsEvents::builder("orders").durations(false).build());
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .classifier(support::classify as Classifier)
        .on_event(m.hook.clone())
        .build()
        .unwrap();
    let inner = Scripted::new([Step::After(ms(30), Box::new(Step::Status(200)))]);
    let svc = RetryLayer::new(policy).layer(inner);
    assert_eq!(call(&svc, 1).await.unwrap().status, 200);
    let none = ("steadfast.endpoint", "");
    let v = m.read();
    assert_eq!(
        v.counter("steadfast.attempts", &attempts(none, "success", "")),
        1
    );
    assert_eq!(v.total("steadfast.calls"), 1);
    assert!(
        v.histogram("steadfast.attempt.duration", &attempts(none, "success", ""))
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn hedges_and_the_hedges_that_win_are_counted_by_the_hedges_endpoint() {
    let m = recorded(|| {
        MetricsEvents::builder("orders")
            .endpoints(["east", "west"])
            .build()
    });
    let after = |d, status| Step::After(d, Box::new(Step::Status(status)));
    // First call: east hangs, the hedge to west answers and wins. Second call: east answers
    // at 80 ms, before the hedge sent to west at 50 ms (which hangs): the first attempt wins.
    let east = Scripted::new([Step::Hang, after(ms(80), 200)]);
    let west = Scripted::new([after(ms(10), 201), Step::Hang]);
    let f = Failover::builder()
        .classifier(support::classify as Classifier)
        .endpoint("east", east.clone())
        .endpoint("west", west.clone())
        .budget(RetryBudget::unlimited())
        .hedge(Hedge::after(ms(50)))
        .on_event(m.hook.clone())
        .build()
        .unwrap();
    assert_eq!(call(&f, 1).await.unwrap().status, 201);
    assert_eq!(call(&f, 2).await.unwrap().status, 200);
    let v = m.read();
    assert_eq!(v.counter("steadfast.hedges", &[WEST]), 2);
    assert_eq!(v.total("steadfast.hedges"), 2);
    assert_eq!(v.counter("steadfast.hedge.wins", &[WEST]), 1);
    assert_eq!(v.total("steadfast.hedge.wins"), 1);
}
