//! Policies compared the way code is benchmarked: criterion measuring a policy's *outcome*
//! under a scenario instead of wall time, with its statistics and its regression detection
//! across runs.
//!
//! Each iteration replays the scenario with the next seed, so criterion's samples spread over
//! seeds, and a change to a policy (or to the library's decisions) that moves the outcome shows
//! as a regression or an improvement, as a slower function would.
//!
//! ```sh
//! cargo bench --features lab --bench policies
//! ```
//!
//! - `contention/<jitter>/<clients>`: the simulated time until the last of `clients` optimistic
//!   writes lands, per jitter strategy ([`SimulatedTime`]).
//! - `regional-outage/<policy>`: attempts sent per request during a regional outage
//!   ([`AttemptsPerRequest`]).

use std::cell::Cell;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use steadfast::config::JitterConfig;
use steadfast::lab::{self, contention, shipped};

/// A measured outcome: a sum of per-iteration values, reported by the routine through
/// `iter_custom`; the measurement itself reads no clock.
struct Outcome {
    unit: &'static str,
}

impl Measurement for Outcome {
    type Intermediate = ();
    type Value = f64;

    fn start(&self) {}

    fn end(&self, _: ()) -> f64 {
        0.0
    }

    fn add(&self, a: &f64, b: &f64) -> f64 {
        a + b
    }

    fn zero(&self) -> f64 {
        0.0
    }

    fn to_f64(&self, value: &f64) -> f64 {
        *value
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self
    }
}

impl ValueFormatter for Outcome {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        self.unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        _t: &Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        self.unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        self.unit
    }
}

/// Simulated milliseconds.
const SIMULATED_TIME: Outcome = Outcome { unit: "sim ms" };
/// Attempts sent per request.
const ATTEMPTS_PER_REQUEST: Outcome = Outcome {
    unit: "attempts/request",
};

thread_local! {
    /// The next run's seed: every iteration replays with another.
    static SEED: Cell<u64> = const { Cell::new(0) };
}

fn next_seed() -> u64 {
    SEED.with(|s| {
        s.set(s.get() + 1);
        s.get()
    })
}

fn contention_bench(c: &mut Criterion<Outcome>) {
    let mut group = c.benchmark_group("contention");
    for clients in [20u32, 100] {
        for jitter in [
            JitterConfig::None,
            JitterConfig::Full,
            JitterConfig::Equal,
            JitterConfig::Decorrelated,
        ] {
            let id = BenchmarkId::new(format!("{jitter:?}").to_lowercase(), clients);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            contention::run(clients, jitter, next_seed())
                                .expect("a valid experiment")
                                .completion_ms
                        })
                        .sum()
                })
            });
        }
    }
    group.finish();
}

fn outage_bench(c: &mut Criterion<Outcome>) {
    let mut scenario = shipped::scenario("regional-outage").expect("shipped");
    scenario.clients = 10;
    let mut group = c.benchmark_group("regional-outage");
    for name in [
        "immediate-3",
        "exp-full-jitter",
        "preset-3x500ms",
        "preset-5x250ms",
        "failover-immediate",
    ] {
        let policy = shipped::policy_named(name).expect("shipped");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        lab::run(&scenario, &policy, next_seed())
                            .expect("a valid run")
                            .summary
                            .amplification
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

fn config(unit: Outcome) -> Criterion<Outcome> {
    Criterion::default()
        .with_measurement(unit)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = time;
    config = config(SIMULATED_TIME);
    targets = contention_bench
}

criterion_group! {
    name = load;
    config = config(ATTEMPTS_PER_REQUEST);
    targets = outage_bench
}

criterion_main!(time, load);
