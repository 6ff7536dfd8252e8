//! The planner over tiers (active-active), driven directly: fixed instants, no runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::backoff::{Backoff, Jitter};
use crate::breaker::CircuitBreaker;
use crate::failover::Failback;
use crate::failover::spread::{Spread, Tiers};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A tiered failover's shared state, without services: `tiers` lists each tier's endpoints as
/// `(name, weight)`; one pass, no recover sleep.
struct World {
    router: Router,
    budget: RetryBudget,
    settings: Settings,
    t0: Instant,
}

impl World {
    fn new(tiers: &[&[(&str, u32)]], spread: Spread, slow_start: Duration) -> Self {
        Self::with_failback(tiers, spread, slow_start, Failback::Immediate)
    }

    fn with_failback(
        tiers: &[&[(&str, u32)]],
        spread: Spread,
        slow_start: Duration,
        failback: Failback,
    ) -> Self {
        let t0 = Instant::now();
        let placed: Vec<(&str, u8, u32)> = tiers
            .iter()
            .enumerate()
            .flat_map(|(t, tier)| tier.iter().map(move |&(n, w)| (n, t as u8, w)))
            .collect();
        let router = Router::new(
            placed
                .iter()
                .map(|&(n, _, _)| (Arc::from(n), CircuitBreaker::default())),
            failback,
            t0,
        )
        .with_tiers(Tiers::new(placed.iter().copied(), spread, slow_start));
        World {
            router,
            budget: RetryBudget::standard(),
            settings: Settings {
                attempts_per_endpoint: 1,
                recover: Backoff::none().with_jitter(Jitter::None),
                deadline: None,
                attempt_timeout: None,
                retry_after_cap: Duration::from_secs(20),
            },
            t0,
        }
    }

    fn env(&self) -> PlanEnv<'_, ()> {
        PlanEnv {
            router: &self.router,
            budget: &self.budget,
            settings: &self.settings,
            hook: &(),
        }
    }

    fn tiers(&self) -> &Tiers {
        self.router.tiers.as_deref().expect("a tiered router")
    }

    fn at(&self, at: Duration) -> LazyNow {
        LazyNow::fixed(self.t0 + at)
    }

    /// Where a call with `seed` (and `key`) goes first at `at`; the attempt then succeeds.
    fn first(&self, seed: u64, key: Option<u64>, at: Duration) -> Option<usize> {
        let mut plan = Plan::new(self.router.endpoints.len(), Some(self.t0), seed);
        let options = match key {
            Some(k) => CallOptions::new().key(k),
            None => CallOptions::new(),
        };
        match plan.start(&self.env(), options, &mut self.at(at)) {
            Action::Send(j) => {
                plan.sending(&self.env());
                plan.finish(
                    &self.env(),
                    Outcome::Success,
                    Lap::default(),
                    &mut self.at(at),
                );
                Some(j)
            }
            _ => {
                plan.give_up(&self.env(), GiveUpReason::NoEndpointAvailable, None);
                None
            }
        }
    }

    /// How many of `calls` calls (seeds 0..calls) go first to each endpoint, at `at`.
    fn counts(&self, calls: u64, at: Duration) -> Vec<u64> {
        let mut counts = vec![0; self.router.endpoints.len()];
        for seed in 0..calls {
            counts[self.first(seed, None, at).expect("an endpoint")] += 1;
        }
        counts
    }
}

const EVEN: &[(&str, u32)] = &[("a", 1), ("b", 1), ("c", 1)];

#[test]
fn one_endpoint_per_tier_is_active_passive_without_tiers() {
    let w = World::new(&[&[("a", 1)], &[("b", 1)]], Spread::RoundRobin, ms(0));
    assert!(
        w.router.tiers.is_none(),
        "the router's own branch, counting nothing"
    );
}

#[test]
fn round_robin_is_exact_over_consecutive_calls() {
    let w = World::new(&[EVEN], Spread::RoundRobin, ms(0));
    let counts = w.counts(9_000, ms(0));
    for c in counts {
        assert!((2_990..=3_010).contains(&c), "{c}");
    }
    let w = World::new(
        &[&[("a", 2), ("b", 1), ("c", 1)]],
        Spread::RoundRobin,
        ms(0),
    );
    let counts = w.counts(8_000, ms(0));
    assert!((3_990..=4_010).contains(&counts[0]), "{counts:?}");
    assert!((1_990..=2_010).contains(&counts[1]), "{counts:?}");
}

#[test]
fn least_loaded_prefers_the_endpoint_with_fewer_calls_in_flight() {
    // Two endpoints: both are drawn, so the less loaded wins every time.
    let w = World::new(&[&[("a", 1), ("b", 1)]], Spread::LeastLoaded, ms(0));
    let tiers = w.tiers();
    for _ in 0..3 {
        tiers.started(0);
    }
    tiers.started(1);
    assert_eq!(w.counts(200, ms(0)), [0, 200]);
    // Three: the most loaded loses every pair it is drawn in; the least loaded wins every pair
    // it is drawn in (two of the three pairs).
    let w = World::new(&[EVEN], Spread::LeastLoaded, ms(0));
    let tiers = w.tiers();
    tiers.started(0);
    tiers.started(0);
    tiers.started(1);
    let counts = w.counts(3_000, ms(0));
    assert_eq!(counts[0], 0, "{counts:?}");
    assert!((1_900..=2_100).contains(&counts[2]), "{counts:?}");
    // Calls in flight are per unit of weight: 2 in flight at weight 2 is less loaded than 2
    // at weight 1.
    let w = World::new(&[&[("a", 2), ("b", 1)]], Spread::LeastLoaded, ms(0));
    for j in [0, 0, 1, 1] {
        w.tiers().started(j);
    }
    assert_eq!(w.counts(100, ms(0)), [100, 0]);
}

#[test]
fn an_attempt_counts_in_flight_until_it_is_over() {
    let w = World::new(&[&[("a", 1), ("b", 1)]], Spread::LeastLoaded, ms(0));
    let mut plan = Plan::new(2, Some(w.t0), 1);
    let Action::Send(j) = plan.start(&w.env(), CallOptions::new(), &mut w.at(ms(0))) else {
        panic!("sent")
    };
    assert_eq!(w.tiers().in_flight(j), 1);
    // Dropped before its outcome: released.
    plan.release(&w.env(), &w.at(ms(1)));
    assert_eq!(w.tiers().in_flight(j), 0);
    assert_eq!(w.counts(10, ms(1)).iter().sum::<u64>(), 10);
    assert_eq!(w.tiers().in_flight(0) + w.tiers().in_flight(1), 0);
}

#[test]
fn a_failure_hops_within_its_tier_before_the_next_tier() {
    for spread in [Spread::LeastLoaded, Spread::RoundRobin, Spread::ByKey] {
        for seed in 0..20 {
            let w = World::new(&[&[("a", 1), ("b", 1)], &[("c", 1)]], spread, ms(0));
            let mut plan = Plan::new(3, Some(w.t0), seed);
            let options = CallOptions::new().key(seed * 7);
            let Action::Send(first) = plan.start(&w.env(), options, &mut w.at(ms(0))) else {
                panic!("sent")
            };
            assert!(first < 2, "{spread:?}: the first tier first");
            plan.sending(&w.env());
            plan.finish(
                &w.env(),
                Outcome::failed(),
                Lap::default(),
                &mut w.at(ms(1)),
            );
            let copy = Some(|_: &Outcome| true);
            let second = plan.after_failure(&w.env(), copy, &mut w.at(ms(1)));
            assert_eq!(second, Action::Send(1 - first), "{spread:?}: its peer next");
            plan.sending(&w.env());
            plan.finish(
                &w.env(),
                Outcome::failed(),
                Lap::default(),
                &mut w.at(ms(2)),
            );
            let copy = Some(|_: &Outcome| true);
            let third = plan.after_failure(&w.env(), copy, &mut w.at(ms(2)));
            assert_eq!(third, Action::Send(2), "{spread:?}: then the next tier");
            plan.give_up(&w.env(), GiveUpReason::RetriesExhausted, None);
        }
    }
}

#[test]
fn a_tier_is_used_only_when_every_endpoint_above_is_unavailable() {
    let w = World::new(
        &[&[("a", 1), ("b", 1)], &[("c", 1)]],
        Spread::RoundRobin,
        ms(0),
    );
    w.router.endpoints[0].breaker.force_open();
    assert_eq!(w.counts(100, ms(0)), [0, 100, 0], "b takes a's share");
    w.router.switch(|_| Ok::<_, ()>(0b010)).unwrap();
    assert_eq!(
        w.counts(100, ms(0)),
        [0, 0, 100],
        "both gone: the next tier"
    );
}

#[test]
fn a_key_stays_on_its_endpoint_and_only_the_lost_endpoints_keys_move() {
    let w = World::new(&[EVEN], Spread::ByKey, ms(0));
    let keys: Vec<u64> = (0..3_000).map(crate::rng::mix).collect();
    let home: Vec<usize> = keys
        .iter()
        .map(|&k| w.first(1, Some(k), ms(0)).unwrap())
        .collect();
    for (seed, (&k, &h)) in keys.iter().zip(&home).enumerate().take(200) {
        assert_eq!(
            w.first(seed as u64, Some(k), ms(0)),
            Some(h),
            "the same key, the same endpoint"
        );
    }
    let counts = (0..3).map(|j| home.iter().filter(|&&h| h == j).count());
    for c in counts {
        assert!((900..=1_100).contains(&c), "{c}");
    }
    // Endpoint 1 switched off: its keys spread over the others; the others' keys stay.
    w.router.switch(|_| Ok::<_, ()>(0b010)).unwrap();
    let mut moved = [0; 3];
    for (&k, &h) in keys.iter().zip(&home) {
        let now = w.first(1, Some(k), ms(0)).unwrap();
        if h == 1 {
            moved[now] += 1;
        } else {
            assert_eq!(now, h, "a key of an available endpoint stays");
        }
    }
    assert_eq!(moved[1], 0);
    assert!(moved[0] > 400 && moved[2] > 400, "{moved:?}");
    // Back on: its keys come back.
    w.router.switch(|_| Ok::<_, ()>(0)).unwrap();
    for (&k, &h) in keys.iter().zip(&home).take(300) {
        assert_eq!(w.first(1, Some(k), ms(0)), Some(h));
    }
}

#[test]
fn slow_start_ramps_the_share_linearly_from_the_return() {
    let window = Duration::from_secs(10);
    let w = World::new(&[&[("a", 1), ("b", 1)]], Spread::RoundRobin, window);
    // b is found switched off, then switched on: the first call admitted there starts its
    // ramp, at 1 s.
    w.router.switch(|_| Ok::<_, ()>(0b10)).unwrap();
    assert_eq!(w.counts(10, ms(0)), [10, 0]);
    w.router.switch(|_| Ok::<_, ()>(0)).unwrap();
    let tiers = w.tiers();
    let (router, t0) = (&w.router, w.t0);
    let since = |at: Duration| move |code: u64| router.since_code_for_tests(code, t0 + at);
    // Not ramping yet: nobody has found it back.
    assert_eq!(tiers.share_of(1, 0b11, since(ms(500))), 0.5);
    // A call that goes there finds it back at 1 s; its slow start begins with the next choice
    // in the tier (the admission reads no clock), also at 1 s.
    assert!((0..10).any(|s| w.first(s, None, ms(1_000)) == Some(1)));
    assert_eq!(tiers.share_of(1, 0b11, since(ms(1_000))), 0.5);
    w.first(0, None, ms(1_000));
    // At the instant of its return it has no share; a quarter of the window later, a quarter
    // of its weight (1/4 against a's 1: a fifth of the calls); half-way, a third; then half.
    // At the instant of its return it has no share; a quarter of the window later, a quarter
    // of its weight (1/4 against a's 1: a fifth of the calls); half-way, a third; then half.
    // The calls follow the shares.
    assert_eq!(tiers.share_of(1, 0b11, since(ms(1_000))), 0.0);
    assert_eq!(tiers.share_of(1, 0b11, since(ms(3_500))), 0.2);
    let counts = w.counts(10_000, ms(3_500));
    assert!((1_990..=2_010).contains(&counts[1]), "{counts:?}");
    assert!((tiers.share_of(1, 0b11, since(ms(6_000))) - 1.0 / 3.0).abs() < 1e-9);
    let counts = w.counts(9_000, ms(6_000));
    assert!((2_990..=3_010).contains(&counts[1]), "{counts:?}");
    assert_eq!(tiers.share_of(1, 0b11, since(ms(11_000))), 0.5);
    let counts = w.counts(10_000, ms(11_000));
    assert!((4_990..=5_010).contains(&counts[1]), "{counts:?}");
}

#[test]
fn the_failback_policy_holds_a_recovered_endpoint_of_the_serving_tier() {
    let w = World::with_failback(
        &[&[("a", 1), ("b", 1)]],
        Spread::RoundRobin,
        Duration::from_secs(10),
        Failback::After(ms(500)),
    );
    w.router.endpoints[1].breaker.force_open();
    assert_eq!(w.counts(10, ms(0)), [10, 0]);
    assert_eq!(w.router.demoted(), 0b10, "its open breaker demotes b");
    w.router.endpoints[1].breaker.reset();
    // Closed again: b gets the trickle (one call at a time; these finish at once) while its
    // hold-down runs, and stays demoted: a same-tier peer is no reason to end it.
    assert_eq!(w.first(0, None, ms(100)), Some(1));
    assert_eq!(w.router.demoted(), 0b10);
    // The hold-down over: restored, its slow start begins then.
    let _ = w.first(0, None, ms(700));
    assert_eq!(w.router.demoted(), 0);
    let counts = w.counts(10_000, ms(700 + 2_500));
    assert!(
        (1_990..=2_010).contains(&counts[1]),
        "a quarter of the window: {counts:?}"
    );
}

#[test]
fn a_tier_back_takes_its_calls_back_over_the_slow_start_window() {
    let window = Duration::from_secs(10);
    let w = World::new(
        &[&[("a", 1), ("b", 1)], &[("c", 1)]],
        Spread::RoundRobin,
        window,
    );
    // The first tier switched off: every call goes to c, and finds a and b away.
    w.router.switch(|_| Ok::<_, ()>(0b011)).unwrap();
    assert_eq!(w.counts(10, ms(0)), [0, 0, 10]);
    // Both back at 1 s, found back by calls (as admitting a call marks them), and their ramp
    // starts with the next choice, at 1 s: at that instant the tier takes nothing yet.
    w.router.switch(|_| Ok::<_, ()>(0)).unwrap();
    assert!(w.router.mark_available(0) && w.router.mark_available(1));
    assert_eq!(w.counts(100, ms(1_000)), [0, 0, 100]);
    // A quarter of the window later the tier takes a quarter of the calls, half-way half,
    // then all of them; its share is split between a and b as always.
    let counts = w.counts(10_000, ms(3_500));
    assert!(
        (2_300..=2_700).contains(&(counts[0] + counts[1])),
        "{counts:?}"
    );
    assert!(counts[0].abs_diff(counts[1]) <= 150, "{counts:?}");
    let counts = w.counts(10_000, ms(6_000));
    assert!(
        (4_800..=5_200).contains(&(counts[0] + counts[1])),
        "{counts:?}"
    );
    assert_eq!(w.counts(1_000, ms(11_000))[2], 0);
}

proptest! {
    // Failures are kept beside this file.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::with_cases(1000)
    })]

    /// Whatever the tiers, the spread, the weights and which endpoints are unavailable, a
    /// call's first attempt goes to an available endpoint of the first tier that has one, and
    /// a hop after a failure goes to an untried available endpoint of the first tier that
    /// still has one.
    #[test]
    fn never_a_lower_tier_while_a_higher_one_has_an_available_endpoint(
        sizes in proptest::collection::vec(1usize..4, 1..4),
        weights in proptest::collection::vec(1u32..5, 12),
        off in any::<u16>(),
        open in any::<u16>(),
        spread in prop_oneof![Just(Spread::LeastLoaded), Just(Spread::RoundRobin), Just(Spread::ByKey)],
        seed in any::<u64>(),
        key in any::<u64>(),
    ) {
        let names = ["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10", "e11"];
        let mut tiers: Vec<Vec<(&str, u32)>> = Vec::new();
        let mut n = 0;
        for &size in &sizes {
            tiers.push((n..n + size).map(|i| (names[i], weights[i])).collect());
            n += size;
        }
        let tier_refs: Vec<&[(&str, u32)]> = tiers.iter().map(|t| &t[..]).collect();
        let w = World::new(&tier_refs, spread, ms(0));
        let mask = all(n);
        let off = u32::from(off) & mask;
        let open = u32::from(open) & mask;
        w.router.switch(|_| Ok::<_, ()>(off)).unwrap();
        for i in 0..n {
            if open & (1 << i) != 0 {
                w.router.endpoints[i].breaker.force_open();
            }
        }
        let available = mask & !off & !open;
        let tier_of = |i: usize| w.router.tier_of(i);
        let mut plan = Plan::new(n, Some(w.t0), seed);
        let mut action = plan.start(&w.env(), CallOptions::new().key(key), &mut w.at(ms(0)));
        let mut tried = 0u32;
        loop {
            let left = available & !tried;
            match action {
                Action::Send(j) => {
                    prop_assert!(available & (1 << j) != 0, "sent to unavailable {}", j);
                    prop_assert!(tried & (1 << j) == 0, "sent twice to {}", j);
                    let best = (0..n).filter(|i| left & (1 << i) != 0).map(tier_of).min();
                    prop_assert_eq!(Some(tier_of(j)), best);
                    tried |= 1 << j;
                    plan.sending(&w.env());
                    plan.finish(&w.env(), Outcome::failed(), Lap::default(), &mut w.at(ms(1)));
                    let copy = Some(|_: &Outcome| true);
                    action = plan.after_failure(&w.env(), copy, &mut w.at(ms(1)));
                }
                Action::Stop(_) => {
                    prop_assert_eq!(left, 0, "stopped with endpoints left");
                    break;
                }
                Action::Sleep(_) => prop_assert!(false, "no recover pass configured"),
            }
        }
        let stopped = plan.give_up(&w.env(), GiveUpReason::RetriesExhausted, None);
        prop_assert_eq!(stopped.records.len(), available.count_ones() as usize);
        for i in 0..n {
            prop_assert_eq!(w.tiers_in_flight(i), 0);
        }
    }
}

impl World {
    fn tiers_in_flight(&self, i: usize) -> u64 {
        self.router.tiers.as_ref().map_or(0, |t| t.in_flight(i))
    }
}
