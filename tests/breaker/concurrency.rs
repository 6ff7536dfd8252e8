//! Concurrency: half-open admission under contention (exactly `probes` admitted), slots given
//! back by cancelled probes, exact window counts after a storm of concurrent calls, and stale
//! successes racing a half-open breaker. Threads and multi-thread tasks start together behind a
//! barrier; every test asserts exact numbers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use steadfast::Outcome;
use steadfast::breaker::{BreakerState, CircuitBreaker, Permit, Rejected};

const PROBES: u32 = 3;
const CONTENDERS: usize = 8;
const ROUNDS: usize = 1000;
const OPEN: Duration = Duration::from_secs(1);
const FULL: Rejected = Rejected { retry_in: None };

/// A breaker with `probes` probe slots that trips on one failure, tripped at `t0` (Open,
/// generation 1, half-open from `t0 + OPEN`), with no half-open maximum wait (so a rejection
/// with every slot taken has no `retry_in`).
fn tripped(t0: Instant, probes: u32, required: u32) -> CircuitBreaker {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .half_open_max_wait(None)
        .probes(probes)
        .required_successes(required)
        .open_duration(OPEN)
        .build()
        .unwrap();
    breaker
        .try_acquire(t0)
        .unwrap()
        .record(&Outcome::failed(), t0);
    assert_eq!(
        (breaker.state(), breaker.generation()),
        (BreakerState::Open, 1)
    );
    breaker
}

type Attempt<'a> = Result<Permit<&'a CircuitBreaker>, Rejected>;

/// `CONTENDERS` threads, released together by a barrier, each try once to acquire at `now`;
/// what they got is kept (permits held) and returned.
fn contend(breaker: &CircuitBreaker, now: Instant) -> Vec<Attempt<'_>> {
    let barrier = &Barrier::new(CONTENDERS);
    thread::scope(|s| {
        let handles: Vec<_> = (0..CONTENDERS)
            .map(|_| {
                s.spawn(move || {
                    barrier.wait();
                    breaker.try_acquire(now)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Checks one contended round of a half-open breaker: exactly `PROBES` probes of `generation`
/// admitted, every other contender rejected as "slots taken".
fn assert_exactly_probes(attempts: &[Attempt<'_>], generation: u64, round: usize) {
    let admitted: Vec<_> = attempts.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(admitted.len(), PROBES as usize, "round {round}: admitted");
    for p in admitted {
        assert!(p.is_probe(), "round {round}: a probe");
        assert_eq!(p.generation(), generation, "round {round}: its generation");
    }
    for r in attempts.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(*r, FULL, "round {round}: rejected with every slot taken");
    }
}

/// Threads race the lazy Open → HalfOpen transition and the probe slots: exactly `probes` are
/// admitted, in every one of 1000 rounds.
#[test]
fn exactly_probes_admitted_threads() {
    for round in 0..ROUNDS {
        let t0 = Instant::now();
        let breaker = tripped(t0, PROBES, PROBES);
        let now = t0 + OPEN;
        let attempts = contend(&breaker, now);
        assert_exactly_probes(&attempts, 2, round);
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::HalfOpen, 2),
            "round {round}"
        );
        // The slots are still held.
        assert_eq!(breaker.try_acquire(now).unwrap_err(), FULL, "round {round}");
    }
}

/// Tasks on a multi-thread runtime, released together against one HalfOpen breaker: exactly
/// `probes` are admitted, in every one of 1000 rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_probes_admitted_tasks() {
    for round in 0..ROUNDS {
        let t0 = Instant::now();
        let breaker = tripped(t0, PROBES, PROBES);
        breaker.signal_healthy(t0);
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::HalfOpen, 2)
        );
        let barrier = Arc::new(tokio::sync::Barrier::new(CONTENDERS));
        let tasks: Vec<_> = (0..CONTENDERS)
            .map(|_| {
                let breaker = breaker.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    Permit::acquire(breaker, t0)
                })
            })
            .collect();
        let mut held = Vec::new();
        let mut rejected = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(permit) => held.push(permit),
                Err(r) => {
                    assert_eq!(r, FULL, "round {round}");
                    rejected += 1;
                }
            }
        }
        assert_eq!(
            (held.len(), rejected),
            (PROBES as usize, CONTENDERS - PROBES as usize),
            "round {round}"
        );
        assert!(held.iter().all(|p| p.is_probe() && p.generation() == 2));
        assert_eq!(breaker.try_acquire(t0).unwrap_err(), FULL, "round {round}");
    }
}

/// Holders that drop their probes unused (or record an ignored outcome) give the slots back:
/// on one half-open breaker, every contended round again admits exactly `probes`.
#[test]
fn cancelled_probes_return_their_slots() {
    let t0 = Instant::now();
    let breaker = tripped(t0, PROBES, PROBES);
    let now = t0 + OPEN;
    for round in 0..ROUNDS {
        let attempts = contend(&breaker, now);
        assert_exactly_probes(&attempts, 2, round);
        assert_eq!(breaker.try_acquire(now).unwrap_err(), FULL, "round {round}");
        if round % 2 == 0 {
            // Dropped unused, concurrently.
            thread::scope(|s| {
                for a in attempts {
                    s.spawn(move || drop(a));
                }
            });
        } else {
            // An ignored outcome frees its slot too.
            thread::scope(|s| {
                for permit in attempts.into_iter().flatten() {
                    s.spawn(move || permit.record(&Outcome::throttled(None), now));
                }
            });
        }
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::HalfOpen, 2),
            "round {round}"
        );
    }
    // Every slot is free again, and only those.
    let held: Vec<_> = (0..PROBES)
        .map(|_| breaker.try_acquire(now).unwrap())
        .collect();
    assert_eq!(breaker.try_acquire(now).unwrap_err(), FULL);
    drop(held);
}

/// Probe-holding tasks that are aborted mid-call (their permits dropped with their futures)
/// give the slots back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_probe_tasks_return_their_slots() {
    let t0 = Instant::now();
    let breaker = tripped(t0, PROBES, PROBES);
    breaker.signal_healthy(t0);
    for round in 0..200 {
        let admitted = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(CONTENDERS + 1));
        let tasks: Vec<_> = (0..CONTENDERS)
            .map(|_| {
                let breaker = breaker.clone();
                let barrier = barrier.clone();
                let admitted = admitted.clone();
                tokio::spawn(async move {
                    let permit = Permit::acquire(breaker, t0);
                    if permit.is_ok() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                    barrier.wait().await;
                    if permit.is_ok() {
                        // A call that never answers, holding its probe.
                        std::future::pending::<()>().await;
                    }
                    drop(permit);
                })
            })
            .collect();
        barrier.wait().await;
        assert_eq!(
            admitted.load(Ordering::SeqCst),
            PROBES as usize,
            "round {round}"
        );
        assert_eq!(breaker.try_acquire(t0).unwrap_err(), FULL, "round {round}");
        for task in &tasks {
            task.abort();
        }
        let mut cancelled = 0;
        for task in tasks {
            if let Err(e) = task.await {
                assert!(e.is_cancelled());
                cancelled += 1;
            }
        }
        assert!(cancelled >= PROBES as usize, "round {round}: {cancelled}");
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::HalfOpen, 2)
        );
    }
    let held: Vec<_> = (0..PROBES)
        .map(|_| breaker.try_acquire(t0).unwrap())
        .collect();
    assert_eq!(breaker.try_acquire(t0).unwrap_err(), FULL);
    drop(held);
}

const THREADS: usize = 4;
const CALLS: usize = 10_000;

/// `THREADS` threads released together each make `CALLS` calls (`call(k, i)` is call `i` of
/// thread `k`, true when it recorded a failure), while a watcher thread calls `look` in a loop.
/// Returns the failures recorded.
///
/// The watcher's part is guaranteed, not left to the scheduler: every worker waits halfway
/// through its calls for the watcher's first look (a barrier), so at least one look lands in the
/// middle of the storm, however loaded the machine; the watcher keeps looking until the workers
/// are done.
fn watched_storm(look: impl FnMut() + Send, call: impl Fn(usize, usize) -> bool + Sync) -> u32 {
    let start = &Barrier::new(THREADS + 1);
    let halfway = &Barrier::new(THREADS + 1);
    let done = &AtomicBool::new(false);
    let call = &call;
    let mut look = look;
    thread::scope(|s| {
        let watcher = s.spawn(move || {
            start.wait();
            look();
            halfway.wait();
            let mut looks = 1u32;
            while !done.load(Ordering::SeqCst) {
                look();
                looks += 1;
            }
            looks
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|k| {
                s.spawn(move || {
                    start.wait();
                    let mut failures = 0;
                    for i in 0..CALLS {
                        if i == CALLS / 2 {
                            halfway.wait();
                        }
                        failures += u32::from(call(k, i));
                    }
                    failures
                })
            })
            .collect();
        let failures = workers.into_iter().map(|w| w.join().unwrap()).sum();
        done.store(true, Ordering::SeqCst);
        assert!(watcher.join().unwrap() >= 1);
        failures
    })
}

/// A storm of calls at `now`, failing where `fails(i)`, while the watcher takes snapshots (each
/// of which brings the window up to date) and checks that the counts only grow.
fn storm(breaker: &CircuitBreaker, now: Instant, fails: fn(usize) -> bool) -> u32 {
    let mut last = breaker.snapshot(now);
    watched_storm(
        move || {
            let snap = breaker.snapshot(now);
            assert!(snap.calls >= last.calls && snap.failures >= last.failures);
            last = snap;
        },
        |_, i| {
            let permit = breaker.try_acquire(now).expect("closed");
            let outcome = if fails(i) {
                Outcome::failed()
            } else {
                Outcome::Success
            };
            permit.record(&outcome, now);
            fails(i)
        },
    )
}

/// After storms of concurrent closed-state calls, the window holds exactly every call recorded
/// and exactly the failures among them: the per-thread success counters lose nothing.
#[test]
fn window_counts_add_up_after_a_storm() {
    let breaker = CircuitBreaker::builder()
        .window(1_000_000)
        .minimum_calls(100)
        .failure_rate(1.0)
        .consecutive_failures(None)
        .build()
        .unwrap();
    let now = Instant::now();
    let total = (THREADS * CALLS) as u32;

    // Successes only, crossing the minimum-calls threshold while they race.
    assert_eq!(storm(&breaker, now, |_| false), 0);
    let snap = breaker.snapshot(now);
    assert_eq!(
        (snap.calls, snap.failures, snap.consecutive_failures),
        (total, 0, 0)
    );

    // A known number of failures on top.
    for _ in 0..1234 {
        breaker
            .try_acquire(now)
            .unwrap()
            .record(&Outcome::failed(), now);
    }
    let snap = breaker.snapshot(now);
    assert_eq!(
        (snap.calls, snap.failures, snap.consecutive_failures),
        (total + 1234, 1234, 1234)
    );
    assert_eq!(snap.failure_rate, Some(1234.0 / f64::from(total + 1234)));

    // Successes and failures racing each other: one call in seven fails.
    let failures = storm(&breaker, now, |i| i % 7 == 0);
    assert_eq!(failures, THREADS as u32 * CALLS.div_ceil(7) as u32);
    let snap = breaker.snapshot(now);
    assert_eq!(
        (snap.calls, snap.failures),
        (2 * total + 1234, 1234 + failures)
    );
    assert_eq!(
        (snap.state, snap.generation),
        (BreakerState::Closed, 0),
        "never tripped"
    );
}

/// Permits acquired while closed, completed with successes concurrently once the breaker is
/// half-open (with one probe success enough to close it), change nothing.
#[test]
fn stale_successes_cannot_close_a_half_open_breaker() {
    for round in 0..ROUNDS {
        let t0 = Instant::now();
        let breaker = CircuitBreaker::builder()
            .consecutive_failures(1)
            .probes(1)
            .required_successes(1)
            .open_duration(OPEN)
            .half_open_max_wait(None)
            .build()
            .unwrap();
        let stale: Vec<_> = (0..CONTENDERS)
            .map(|_| breaker.try_acquire(t0).unwrap())
            .collect();
        breaker
            .try_acquire(t0)
            .unwrap()
            .record(&Outcome::failed(), t0);
        let now = t0 + OPEN;
        let probe = breaker.try_acquire(now).unwrap();
        assert!(probe.is_probe());
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::HalfOpen, 2)
        );

        let barrier = &Barrier::new(CONTENDERS);
        thread::scope(|s| {
            for permit in stale {
                s.spawn(move || {
                    barrier.wait();
                    permit.record(&Outcome::Success, now);
                });
            }
        });
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::HalfOpen, 2),
            "round {round}"
        );
        // The probe slot is still taken, and no stale success reached a window.
        assert_eq!(breaker.try_acquire(now).unwrap_err(), FULL, "round {round}");
        let snap = breaker.snapshot(now);
        assert_eq!((snap.calls, snap.failures), (1, 1), "round {round}");

        // The probe's own success does close it, with an empty window.
        probe.record(&Outcome::Success, now);
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::Closed, 3),
            "round {round}"
        );
        assert_eq!(breaker.snapshot(now).calls, 0, "round {round}");
    }
}

/// Stale successes race the Open → HalfOpen transition and the probe admissions themselves:
/// they count neither before nor after it, so it takes exactly `required` probe successes to
/// close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_successes_racing_half_open_count_nothing() {
    const STALE: usize = 4;
    const PROBING: usize = 4;
    for round in 0..ROUNDS {
        let t0 = Instant::now();
        let breaker = CircuitBreaker::builder()
            .consecutive_failures(1)
            .probes(2)
            .required_successes(2)
            .open_duration(OPEN)
            .build()
            .unwrap();
        let stale: Vec<_> = (0..STALE)
            .map(|_| Permit::acquire(breaker.clone(), t0).unwrap())
            .collect();
        breaker
            .try_acquire(t0)
            .unwrap()
            .record(&Outcome::failed(), t0);
        let now = t0 + OPEN;

        let barrier = Arc::new(tokio::sync::Barrier::new(STALE + PROBING));
        let mut completions = Vec::new();
        for permit in stale {
            let barrier = barrier.clone();
            completions.push(tokio::spawn(async move {
                barrier.wait().await;
                permit.record(&Outcome::Success, now);
            }));
        }
        let probers: Vec<_> = (0..PROBING)
            .map(|_| {
                let breaker = breaker.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    Permit::acquire(breaker, now).ok()
                })
            })
            .collect();
        for c in completions {
            c.await.unwrap();
        }
        let mut probes = Vec::new();
        for p in probers {
            probes.extend(p.await.unwrap());
        }
        assert_eq!(probes.len(), 2, "round {round}");
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::HalfOpen, 2),
            "round {round}"
        );

        let second = probes.pop().unwrap();
        probes.pop().unwrap().record(&Outcome::Success, now);
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::HalfOpen, 2),
            "round {round}: one probe success of two"
        );
        second.record(&Outcome::Success, now);
        assert_eq!(
            (breaker.state(), breaker.generation()),
            (BreakerState::Closed, 3),
            "round {round}"
        );
    }
}

/// Rounds (of `rounds`) in which outcomes of permits issued before a `reset()`, recorded at the
/// same moment as it, were counted after it (in the window or the consecutive-failure run).
fn stale_outcomes_counted_after_reset(outcome: &Outcome, rounds: usize) -> usize {
    let mut counted = 0;
    for _ in 0..rounds {
        let now = Instant::now();
        let breaker = CircuitBreaker::builder()
            .window(1000)
            .minimum_calls(1)
            .failure_rate(1.0)
            .consecutive_failures(None)
            .build()
            .unwrap();
        // One success first: from then on successes take the lock-free path.
        breaker
            .try_acquire(now)
            .unwrap()
            .record(&Outcome::Success, now);
        let stale: Vec<_> = (0..3).map(|_| breaker.try_acquire(now).unwrap()).collect();
        let barrier = &Barrier::new(stale.len() + 1);
        thread::scope(|s| {
            for permit in stale {
                s.spawn(move || {
                    barrier.wait();
                    permit.record(outcome, now);
                });
            }
            barrier.wait();
            breaker.reset();
        });
        // Every permit was issued in generation 0; generation 1 has recorded nothing since.
        assert_eq!(breaker.generation(), 1);
        let snap = breaker.snapshot(now);
        if (snap.calls, snap.consecutive_failures) != (0, 0) {
            counted += 1;
        }
    }
    counted
}

/// Outcomes from before a `reset()` must not count against the new window, even when they are
/// recorded at the same moment as the reset. (A reset landing between the record path's
/// generation check and its write once let a stale outcome into the new generation's counts, a
/// few rounds in a thousand; the counters are now tagged with their generation and only
/// changed by a compare-and-swap that checks the tag.)
#[test]
fn stale_outcomes_racing_a_reset_count_nothing() {
    let failures = stale_outcomes_counted_after_reset(&Outcome::failed(), 5000);
    let successes = stale_outcomes_counted_after_reset(&Outcome::Success, 5000);
    assert_eq!(
        (failures, successes),
        (0, 0),
        "rounds of 5000 with a stale failure / success counted after the reset"
    );
}

/// Threads racing each other across bucket boundaries of a time window (each at its own pace
/// through three buckets, so that rotations, late outcomes and lock-free successes interleave),
/// with a watcher taking snapshots ahead of them all: afterwards the window holds exactly every
/// call recorded and every failure, and once the window has passed, nothing.
#[test]
fn time_window_counts_add_up_across_racing_buckets() {
    // Races: several rounds, so that a lost success shows.
    for _ in 0..12 {
        time_window_storm();
    }
}

fn time_window_storm() {
    let breaker = CircuitBreaker::builder()
        .time_window(Duration::from_secs(10)) // 10 buckets of 1 s
        .minimum_calls(100)
        .failure_rate(1.0)
        .consecutive_failures(None)
        .build()
        .unwrap();
    let t0 = Instant::now();
    breaker.snapshot(t0); // the buckets start at t0
    let ahead = t0 + Duration::from_secs(3);
    let breaker = &breaker;
    let failures = watched_storm(
        || {
            let _ = breaker.snapshot(ahead);
        },
        |k, i| {
            // Thread k walks 0..3 s at its own pace (a different step each).
            let at = t0
                + Duration::from_nanos(
                    (i as u64 * (k as u64 + 1) * 3_000_000_000 / CALLS as u64) % 3_000_000_000,
                );
            let permit = breaker.try_acquire(at).expect("closed");
            let fails = i % 11 == 0;
            let outcome = if fails {
                Outcome::failed()
            } else {
                Outcome::Success
            };
            permit.record(&outcome, at);
            fails
        },
    );
    assert_eq!(failures, THREADS as u32 * CALLS.div_ceil(11) as u32);
    let snap = breaker.snapshot(ahead);
    assert_eq!(
        (snap.state, snap.calls, snap.failures),
        (BreakerState::Closed, (THREADS * CALLS) as u32, failures)
    );
    let snap = breaker.snapshot(t0 + Duration::from_secs(13));
    assert_eq!((snap.calls, snap.failures), (0, 0));
}
