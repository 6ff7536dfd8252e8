//! The stale cache against a model of its documented rules, over any sequence of stores, reads
//! and elapsed time: never more entries than its bound, never an answer as old as its maximum
//! age, and exactly the model's answers (the last value stored for a key, unless it expired or
//! was evicted by the rule).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use steadfast::fallback::StaleCache;

#[derive(Debug, Clone)]
enum Op {
    Store(u8, u32),
    Get(u8),
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..8, any::<u32>()).prop_map(|(k, v)| Op::Store(k, v)),
        3 => (0u8..8).prop_map(Op::Get),
        2 => (0u64..4_000).prop_map(Op::Wait),
    ]
}

/// The documented rules, written plainly: entries in the order they were stored.
struct Model {
    max_entries: usize,
    max_age: Duration,
    entries: Vec<(u8, u32, Instant)>,
}

impl Model {
    fn store(&mut self, key: u8, value: u32, now: Instant) {
        if let Some(i) = self.entries.iter().position(|e| e.0 == key) {
            self.entries.remove(i);
        } else if self.entries.len() >= self.max_entries {
            let max_age = self.max_age;
            self.entries.retain(|e| now - e.2 < max_age);
            if self.entries.len() >= self.max_entries {
                self.entries.remove(0);
            }
        }
        self.entries.push((key, value, now));
    }

    fn get(&mut self, key: u8, now: Instant) -> Option<(u32, Duration)> {
        let i = self.entries.iter().position(|e| e.0 == key)?;
        let (_, value, at) = self.entries[i];
        if now - at < self.max_age {
            Some((value, now - at))
        } else {
            self.entries.remove(i);
            None
        }
    }
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::with_cases(512)))]

    #[test]
    fn the_cache_keeps_its_bounds_and_follows_its_rules(
        max_entries in 1usize..5,
        max_age_ms in 1u64..5_000,
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let max_age = Duration::from_millis(max_age_ms);
        let cache = StaleCache::new(max_entries, max_age).unwrap();
        let mut model = Model { max_entries, max_age, entries: Vec::new() };
        let mut now = Instant::now();
        for op in ops {
            match op {
                Op::Store(k, v) => {
                    cache.store_at(k, v, now);
                    model.store(k, v, now);
                }
                Op::Get(k) => {
                    let got = cache.get_at(&k, now).map(|e| (e.value, e.age));
                    if let Some((_, age)) = got {
                        prop_assert!(age < max_age, "served at {age:?}, max {max_age:?}");
                    }
                    prop_assert_eq!(got, model.get(k, now));
                }
                Op::Wait(ms) => now += Duration::from_millis(ms),
            }
            prop_assert!(cache.len() <= max_entries);
            prop_assert_eq!(cache.len(), model.entries.len());
        }
    }
}
