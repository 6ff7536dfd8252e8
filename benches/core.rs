//! The core's hot operations: budget deposits and withdrawals (one thread and two sharing one
//! budget, bucket full and not full) beside tower's `TpsBudget`, and one jittered delay per
//! jitter kind.
//!
//! `cargo bench --bench core`

mod support;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion};
use steadfast::backoff::{Backoff, Jitter};
use steadfast::budget::RetryBudget;
use steadfast::classify::Outcome;
use tower::retry::budget::{Budget as _, TpsBudget};

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

/// A budget that is never full during the benchmark: half of a huge bucket is withdrawn.
fn half_full() -> RetryBudget {
    let b = RetryBudget::builder()
        .capacity(1 << 31)
        .retry_cost(1 << 30)
        .build()
        .unwrap();
    let _kept = b.try_withdraw(&Outcome::failed()).unwrap();
    b
}

fn budget(c: &mut Criterion) {
    let mut g = c.benchmark_group("budget");
    let full = RetryBudget::standard();
    g.bench_function("first-try success, full (steadfast)", |b| {
        b.iter(|| black_box(&full).on_success(None))
    });
    let not_full = half_full();
    g.bench_function("first-try success, not full (steadfast)", |b| {
        b.iter(|| black_box(&not_full).on_success(None))
    });
    let tps = TpsBudget::default();
    g.bench_function("deposit (tower TpsBudget)", |b| {
        b.iter(|| black_box(&tps).deposit())
    });
    let pairs = RetryBudget::standard();
    g.bench_function("withdraw + refund (steadfast)", |b| {
        b.iter(|| {
            let w = black_box(&pairs).try_withdraw(&Outcome::failed()).unwrap();
            pairs.refund(w)
        })
    });
    g.bench_function("withdraw (tower TpsBudget)", |b| {
        b.iter(|| black_box(black_box(&tps).withdraw()))
    });
    g.bench_function("2 threads, first-try success, full (steadfast)", |b| {
        b.iter_custom(|iters| {
            support::on_two_threads(iters, || {
                let full = full.clone();
                move || black_box(&full).on_success(None)
            })
        })
    });
    g.bench_function("2 threads, first-try success, not full (steadfast)", |b| {
        b.iter_custom(|iters| {
            support::on_two_threads(iters, || {
                let nf = not_full.clone();
                move || black_box(&nf).on_success(None)
            })
        })
    });
    let tps = std::sync::Arc::new(TpsBudget::default());
    g.bench_function("2 threads, deposit (tower TpsBudget)", |b| {
        b.iter_custom(|iters| {
            support::on_two_threads(iters, || {
                let tps = tps.clone();
                move || black_box(&tps).deposit()
            })
        })
    });
    g.finish();
}

fn delays(c: &mut Criterion) {
    let mut g = c.benchmark_group("delay");
    for (name, jitter) in [
        ("none", Jitter::None),
        ("full", Jitter::Full),
        ("equal", Jitter::Equal),
        ("decorrelated", Jitter::Decorrelated),
    ] {
        let schedule = Backoff::standard().with_jitter(jitter);
        g.bench_with_input(BenchmarkId::new("three delays", name), &schedule, |b, s| {
            let mut seed = 0u64;
            b.iter(|| {
                seed += 1;
                for d in black_box(s).delays(seed) {
                    black_box(d);
                }
            })
        });
    }
    g.finish();
}

fn report_allocations() {
    let full = RetryBudget::standard();
    let nf = half_full();
    let schedule = Backoff::default();
    println!("allocations per call:");
    for (name, per_call) in [
        (
            "budget success, full",
            support::allocations_per_call(10_000, || full.on_success(None)),
        ),
        (
            "budget success, not full",
            support::allocations_per_call(10_000, || nf.on_success(None)),
        ),
        (
            "three jittered delays",
            support::allocations_per_call(10_000, || schedule.delays(7).for_each(drop)),
        ),
    ] {
        println!("  {name}: {per_call}");
    }
}

fn main() {
    report_allocations();
    let mut c = support::criterion();
    budget(&mut c);
    delays(&mut c);
    c.final_summary();
}
