use std::sync::Barrier;
use std::thread;

use steadfast::budget::RetryBudget;
use steadfast::classify::Outcome;

const THREADS: usize = 4;

/// Runs `work` on `THREADS` threads released together by a barrier.
fn together(work: impl Fn(usize) + Sync) {
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (barrier, work) = (&barrier, &work);
            s.spawn(move || {
                barrier.wait();
                work(t)
            });
        }
    });
}

/// Threads withdraw and deposit known amounts concurrently; the final level is the exact
/// sequential sum. A budget that loads and then stores loses updates and fails this.
#[test]
fn conservation_under_concurrency() {
    for round in 0..200 {
        let budget = RetryBudget::builder().capacity(1 << 30).build().unwrap();
        let start = budget.level().unwrap();
        let per_thread = 500 + round;
        // Phase 1: every thread withdraws; none can be refused (the bucket is huge).
        let barrier = Barrier::new(THREADS);
        let kept: Vec<_> = thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (barrier, budget) = (&barrier, &budget);
                    s.spawn(move || {
                        barrier.wait();
                        let mut kept = Vec::new();
                        for i in 0..per_thread {
                            let after = if (i + t) % 3 == 0 {
                                Outcome::timeout()
                            } else {
                                Outcome::failed()
                            };
                            let w = budget.try_withdraw(&after).expect("never empty");
                            // Every other withdrawal is refunded at once, racing the others.
                            if i % 2 == 0 {
                                budget.refund(w)
                            } else {
                                kept.push(w)
                            }
                        }
                        kept
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let withdrawn: u32 = kept.iter().flatten().map(|w| w.amount()).sum();
        assert_eq!(budget.level().unwrap(), start - withdrawn, "round {round}");
        // Phase 2: give everything back concurrently, mixed with first-try successes that are
        // each paired with a withdrawal, so the level never reaches the capacity (no clamping).
        let kept = std::sync::Mutex::new(kept);
        together(|t| {
            let mine = std::mem::take(&mut kept.lock().unwrap()[t]);
            for w in mine {
                budget.on_success(Some(w));
                let extra = budget.try_withdraw(&Outcome::failed()).unwrap();
                budget.refund(extra);
            }
        });
        assert_eq!(budget.level().unwrap(), start, "round {round}");
    }
}

/// Threads race to drain a small bucket: exactly capacity / cost withdrawals succeed.
#[test]
fn exhaustion_is_exact_under_races() {
    for round in 0..500 {
        let budget = RetryBudget::builder().capacity(1000).build().unwrap();
        let won = std::sync::atomic::AtomicU32::new(0);
        together(|_| {
            for _ in 0..100 {
                if let Some(w) = budget.try_withdraw(&Outcome::failed()) {
                    assert_eq!(w.amount(), 5);
                    won.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        assert_eq!(won.into_inner(), 200, "round {round}");
        assert_eq!(budget.level(), Some(0));
    }
}

/// Concurrent deposits into a nearly full bucket clamp at exactly the capacity.
#[test]
fn deposits_clamp_exactly_at_capacity() {
    for _ in 0..500 {
        let budget = RetryBudget::standard();
        let w: Vec<_> = (0..4)
            .map(|_| budget.try_withdraw(&Outcome::timeout()).unwrap())
            .collect();
        assert_eq!(budget.level(), Some(460));
        together(|_| {
            for _ in 0..30 {
                budget.on_success(None);
            }
        });
        assert_eq!(budget.level(), Some(500));
        w.into_iter().for_each(|w| budget.refund(w));
        assert_eq!(budget.level(), Some(500));
    }
}

#[test]
fn budgets_created_and_dropped_concurrently_stay_independent() {
    together(|t| {
        for i in 0..2000u32 {
            let cap = 10 + (t as u32 * 7 + i) % 50;
            let b = RetryBudget::builder()
                .capacity(cap)
                .retry_cost(1)
                .build()
                .unwrap();
            let w = b.try_withdraw(&Outcome::failed()).unwrap();
            assert_eq!(b.level(), Some(cap - 1));
            let c = b.clone();
            drop(b);
            c.refund(w);
            assert_eq!(c.level(), Some(cap));
        }
    });
}
