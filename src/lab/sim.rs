//! The simulator: a virtual clock and an event queue, the fleet's clients, and the regions'
//! servers. One thread, no runtime; every random number comes from the run's seed in the order
//! events happen, and events at the same instant run in the order they were scheduled, so a
//! seed gives the same run on every machine.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::drive::{Call, Client, Clock, Step};
use super::model::{Load, PolicyConfig, Scenario};
use super::results::{Count, RegionLoad, RunResult, Series, Summary, median, quantile_ms, ratio};
use crate::breaker::{BreakerState, CircuitBreaker};
use crate::chaos::{FaultKind, Script};
use crate::classify::Outcome;
use crate::config::{BreakerConfig, BudgetConfig};
use crate::error::ConfigError;
use crate::event::{Event, GiveUpReason, OnEvent};
use crate::rng::{GOLDEN, SplitMix64, mix};

/// The most events one run processes: a bound on any input's work.
pub const MAX_EVENTS: u64 = 2_000_000_000;

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A setting of the scenario or the policy is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The run needed more than [`MAX_EVENTS`] events.
    #[error("the run needed more than {0} events")]
    TooManyEvents(u64),
    /// A scenario or policy file could not be read.
    #[error("{0}")]
    File(String),
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A slot of a slab and its generation: an event for a slot reused since is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    slot: u32,
    generation: u32,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Client `c` starts a request.
    Arrival(u32),
    /// An attempt reaches its region.
    Reach(Key),
    /// Region `r` finished serving an attempt.
    Served(u8, Key),
    /// An attempt's response reaches its client.
    Reply(Key, Outcome),
    /// An attempt's timeout.
    Timeout(Key),
    /// A request's sleep ends.
    Wake(Key),
    /// The scenario's routing change `i`.
    Routing(usize),
}

struct Ev {
    t: u64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Ev {
    fn eq(&self, other: &Self) -> bool {
        (self.t, self.seq) == (other.t, other.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ev {
    /// Reversed: the heap's top is the earliest, then the first scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.t, other.seq).cmp(&(self.t, self.seq))
    }
}

/// What the hooks saw, with the virtual time and the client being driven.
#[derive(Default)]
struct Log {
    now: AtomicU64,
    client: AtomicU32,
    marks: Mutex<Vec<Mark>>,
}

#[derive(Debug, Clone, Copy)]
enum MarkKind {
    FailedOver,
    FailedBack,
    Breaker(BreakerState),
}

#[derive(Debug, Clone, Copy)]
struct Mark {
    t: u64,
    client: u32,
    kind: MarkKind,
}

/// The failover's and the breakers' event hook: records failovers, failbacks and breaker
/// transitions at the virtual time.
#[derive(Clone)]
pub(crate) struct Hook(Arc<Log>);

impl OnEvent for Hook {
    fn on_event(&self, event: &Event<'_>) {
        let kind = match event {
            Event::FailedOver { .. } => MarkKind::FailedOver,
            Event::FailedBack { .. } => MarkKind::FailedBack,
            Event::BreakerTransition { to, .. } => MarkKind::Breaker(*to),
            _ => return,
        };
        let log = &self.0;
        log.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Mark {
                t: log.now.load(AtomicOrdering::Relaxed),
                client: log.client.load(AtomicOrdering::Relaxed),
                kind,
            });
    }
}

/// An attempt the client waits for (removed when its response or its timeout comes).
struct Attempt {
    request: Key,
    region: u8,
}

struct Request {
    client: u32,
    started: u64,
    call: Call,
}

struct RegionState {
    script: Script,
    calls: u64,
    busy: u32,
    queue: VecDeque<(Key, u64)>,
}

struct Slab<T> {
    items: Vec<Option<T>>,
    generations: Vec<u32>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Slab {
            items: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, item: T) -> Key {
        match self.free.pop() {
            Some(slot) => {
                self.items[slot as usize] = Some(item);
                Key {
                    slot,
                    generation: self.generations[slot as usize],
                }
            }
            None => {
                let slot = u32::try_from(self.items.len()).expect("fewer than 2^32 live items");
                self.items.push(Some(item));
                self.generations.push(0);
                Key {
                    slot,
                    generation: 0,
                }
            }
        }
    }

    fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        if self.generations.get(key.slot as usize) != Some(&key.generation) {
            return None;
        }
        self.items[key.slot as usize].as_mut()
    }

    fn remove(&mut self, key: Key) -> Option<T> {
        if self.generations.get(key.slot as usize) != Some(&key.generation) {
            return None;
        }
        let item = self.items[key.slot as usize].take()?;
        self.generations[key.slot as usize] = key.generation.wrapping_add(1);
        self.free.push(key.slot);
        Some(item)
    }
}

/// Per-bucket tallies.
struct Buckets {
    width: u64,
    /// The buckets of the scenario's duration.
    base: usize,
    requests: Vec<u64>,
    succeeded: Vec<u64>,
    attempts: Vec<Vec<u64>>,
    latencies: Vec<Vec<u32>>,
}

impl Buckets {
    /// The bucket of `t`, growing the series past the scenario's duration (for the calls that
    /// finish after it) up to [`MAX_BUCKETS`](super::limits::MAX_BUCKETS) more buckets; later
    /// instants count in the last one.
    fn index(&mut self, t: u64) -> usize {
        let cap = self.base + super::model::limits::MAX_BUCKETS as usize;
        let i = usize::try_from(t / self.width)
            .unwrap_or(usize::MAX)
            .min(cap - 1);
        if i >= self.requests.len() {
            self.requests.resize(i + 1, 0);
            self.succeeded.resize(i + 1, 0);
            for region in &mut self.attempts {
                region.resize(i + 1, 0);
            }
            self.latencies.resize_with(i + 1, Vec::new);
        }
        i
    }
}

/// Runs `policy` under `scenario` from `seed`.
///
/// # Errors
///
/// [`LabError::Config`] for a setting out of range, [`LabError::TooManyEvents`] for a run
/// beyond [`MAX_EVENTS`].
pub fn run(scenario: &Scenario, policy: &PolicyConfig, seed: u64) -> Result<RunResult, LabError> {
    run_with_progress(scenario, policy, seed, |_| {})
}

/// [`run`], calling `progress` with the simulated time reached (as a share of the scenario's
/// duration, in [0, 1]) at every bucket boundary.
///
/// # Errors
///
/// As [`run`].
pub fn run_with_progress(
    scenario: &Scenario,
    policy: &PolicyConfig,
    seed: u64,
    progress: impl FnMut(f64),
) -> Result<RunResult, LabError> {
    scenario.validate()?;
    Sim::new(scenario, policy, seed, Instant::now())?.run(progress)
}

struct Sim<'a> {
    scenario: &'a Scenario,
    policy: &'a PolicyConfig,
    seed: u64,
    clock: Clock,
    log: Arc<Log>,
    rng: SplitMix64,
    heap: BinaryHeap<Ev>,
    seq: u64,
    events: u64,
    clients: Vec<Client<Hook>>,
    requests: Slab<Request>,
    attempts: Slab<Attempt>,
    regions: Vec<RegionState>,
    end: u64,
    timeout: u64,
    mean_gap: u64,
    buckets: Buckets,
    latencies: Vec<u32>,
    failures: Vec<(u64, u32, Option<GiveUpReason>)>,
    attempts_total: Vec<u64>,
}

impl<'a> Sim<'a> {
    /// The simulation of `policy` under `scenario` from `seed`, virtual time zero at `base`.
    fn new(
        scenario: &'a Scenario,
        policy: &'a PolicyConfig,
        seed: u64,
        base: Instant,
    ) -> Result<Self, LabError> {
        let log = Arc::new(Log::default());
        let clock = Clock::new(base);
        let backoff = policy.backoff.build()?;
        let budget_config = policy
            .budget
            .clone()
            .unwrap_or(BudgetConfig::Bucket(Default::default()));
        budget_config.build()?;
        let breaker_config = policy.breaker.clone();
        let hook = Hook(log.clone());
        let breaker = |config: &BreakerConfig| -> Result<CircuitBreaker, ConfigError> {
            config
                .configure(CircuitBreaker::builder())
                .on_event(hook.clone())
                .build()
        };
        if let Some(config) = &breaker_config {
            breaker(config)?;
        }
        let names: Vec<Arc<str>> = scenario
            .regions
            .iter()
            .map(|r| Arc::from(r.name.as_str()))
            .collect();
        let mut clients = Vec::with_capacity(scenario.clients as usize);
        for _ in 0..scenario.clients {
            let budget = budget_config.build()?;
            clients.push(match policy.failover {
                None => Client::single(
                    backoff,
                    budget,
                    breaker_config.as_ref().map(breaker).transpose()?,
                ),
                Some(failback) => {
                    let config = breaker_config.clone().unwrap_or_default();
                    let make = || breaker(&config).expect("checked above");
                    Client::failover(
                        &names,
                        &make,
                        failback.into(),
                        backoff,
                        budget,
                        clock,
                        hook.clone(),
                    )
                }
            });
        }
        let mut regions = Vec::with_capacity(scenario.regions.len());
        for (i, region) in scenario.regions.iter().enumerate() {
            let mut faults = region.faults.clone();
            faults.seed =
                Some(faults.seed.unwrap_or(0) ^ mix(seed ^ GOLDEN.wrapping_mul(i as u64 + 1)));
            regions.push(RegionState {
                script: faults.build()?,
                calls: 0,
                busy: 0,
                queue: VecDeque::new(),
            });
        }
        let end = nanos(scenario.duration);
        let width = nanos(scenario.bucket);
        let count = end.div_ceil(width).max(1) as usize;
        let mean_gap = match scenario.load {
            Load::Open { rate } => (1e9 / rate) as u64,
            Load::Closed { think } => nanos(think),
        };
        Ok(Sim {
            scenario,
            policy,
            seed,
            clock,
            log,
            rng: SplitMix64::new(seed),
            heap: BinaryHeap::new(),
            seq: 0,
            events: 0,
            clients,
            requests: Slab::new(),
            attempts: Slab::new(),
            regions,
            end,
            timeout: nanos(scenario.attempt_timeout),
            mean_gap,
            buckets: Buckets {
                width,
                base: count,
                requests: vec![0; count],
                succeeded: vec![0; count],
                attempts: vec![vec![0; count]; scenario.regions.len()],
                latencies: vec![Vec::new(); count],
            },
            latencies: Vec::new(),
            failures: Vec::new(),
            attempts_total: vec![0; scenario.regions.len()],
        })
    }

    fn schedule(&mut self, t: u64, kind: Kind) {
        self.seq += 1;
        self.heap.push(Ev {
            t,
            seq: self.seq,
            kind,
        });
    }

    /// A draw uniform in `[0, span)` (0 for an empty span).
    fn uniform(&mut self, span: u64) -> u64 {
        if span == 0 {
            0
        } else {
            ((u128::from(self.rng.next_u64()) * u128::from(span)) >> 64) as u64
        }
    }

    fn run(mut self, mut progress: impl FnMut(f64)) -> Result<RunResult, LabError> {
        for c in 0..self.scenario.clients {
            let first = self.uniform(self.mean_gap.max(1));
            if first < self.end {
                self.schedule(first, Kind::Arrival(c));
            }
        }
        for (i, change) in self.scenario.routing.iter().enumerate() {
            self.schedule(nanos(change.at), Kind::Routing(i));
        }
        let mut next_report = self.buckets.width;
        while let Some(ev) = self.heap.pop() {
            self.events += 1;
            if self.events > MAX_EVENTS {
                return Err(LabError::TooManyEvents(MAX_EVENTS));
            }
            if ev.t >= next_report {
                progress((ev.t as f64 / self.end as f64).min(1.0));
                next_report = ev.t - ev.t % self.buckets.width + self.buckets.width;
            }
            self.log.now.store(ev.t, AtomicOrdering::Relaxed);
            match ev.kind {
                Kind::Arrival(c) => self.arrival(c, ev.t),
                Kind::Reach(key) => self.reach(key, ev.t),
                Kind::Served(region, key) => self.served(region, key, ev.t),
                Kind::Reply(key, outcome) => self.reply(key, outcome, ev.t),
                Kind::Timeout(key) => self.reply(key, Outcome::timeout(), ev.t),
                Kind::Wake(key) => self.wake(key, ev.t),
                Kind::Routing(i) => {
                    let action = &self.scenario.routing[i].action;
                    for (c, client) in self.clients.iter().enumerate() {
                        self.log.client.store(c as u32, AtomicOrdering::Relaxed);
                        client.route(action);
                    }
                }
            }
        }
        progress(1.0);
        Ok(self.finish())
    }

    fn arrival(&mut self, c: u32, t: u64) {
        let seed = self.rng.next_u64();
        self.log.client.store(c, AtomicOrdering::Relaxed);
        let (call, step) = self.clients[c as usize].start(self.clock, t, seed);
        let b = self.buckets.index(t);
        self.buckets.requests[b] += 1;
        let key = self.requests.insert(Request {
            client: c,
            started: t,
            call,
        });
        if let Load::Open { .. } = self.scenario.load {
            let next = t + 1 + self.uniform(2 * self.mean_gap);
            if next < self.end {
                self.schedule(next, Kind::Arrival(c));
            }
        }
        self.step(key, step, t);
    }

    /// Carries out a request's next step.
    fn step(&mut self, key: Key, step: Step, t: u64) {
        match step {
            Step::Send(region) => {
                let net = nanos(self.scenario.regions[region].network);
                let attempt = self.attempts.insert(Attempt {
                    request: key,
                    region: region as u8,
                });
                let b = self.buckets.index(t);
                self.buckets.attempts[region][b] += 1;
                self.attempts_total[region] += 1;
                self.schedule(t + net, Kind::Reach(attempt));
                self.schedule(t + self.timeout, Kind::Timeout(attempt));
            }
            Step::Sleep(until) => self.schedule(until.max(t), Kind::Wake(key)),
            Step::Succeeded => self.done(key, t, None),
            Step::Failed(reason) => self.done(key, t, Some(reason)),
        }
    }

    /// A request ended at `t`: `failed` with its reason, or succeeded.
    fn done(&mut self, key: Key, t: u64, failed: Option<Option<GiveUpReason>>) {
        let Some(req) = self.requests.remove(key) else {
            return;
        };
        let latency = u32::try_from((t - req.started) / 1000).unwrap_or(u32::MAX);
        let b = self.buckets.index(req.started);
        self.buckets.latencies[b].push(latency);
        self.latencies.push(latency);
        match failed {
            None => self.buckets.succeeded[b] += 1,
            Some(reason) => self.failures.push((t, req.client, reason)),
        }
        if let Load::Closed { .. } = self.scenario.load {
            let next = t + 1 + self.uniform(2 * self.mean_gap);
            if next < self.end {
                self.schedule(next, Kind::Arrival(req.client));
            }
        }
    }

    /// An attempt reached its region at `t`.
    fn reach(&mut self, key: Key, t: u64) {
        let Some(a) = self.attempts.get_mut(key) else {
            // The client stopped waiting before its request arrived (a timeout shorter than
            // the network delay): nothing reaches the region.
            return;
        };
        let r = a.region as usize;
        let region = &self.scenario.regions[r];
        let net = nanos(region.network);
        let state = &mut self.regions[r];
        let call = state.calls;
        state.calls += 1;
        let elapsed = Duration::from_nanos(t);
        let throttle = region
            .throttling
            .iter()
            .find(|w| w.from <= elapsed && elapsed < w.to)
            .copied();
        if let Some(w) = throttle {
            let draw = self.rng.next_f64();
            if draw < w.rate {
                self.schedule(
                    t + net,
                    Kind::Reply(key, Outcome::throttled(Some(w.retry_after))),
                );
                return;
            }
        }
        let fault = self.regions[r].script.decide(call, elapsed);
        let mut extra = 0;
        match fault {
            Some(f) if f.kind == FaultKind::Hang => return,
            Some(f) if f.kind == FaultKind::Error => {
                self.schedule(
                    t + nanos(f.delay) + net,
                    Kind::Reply(key, Outcome::failed()),
                );
                return;
            }
            Some(f) => extra = nanos(f.delay),
            None => {}
        }
        let state = &self.regions[r];
        if state.busy < region.concurrency {
            self.start_service(r, key, extra, t);
        } else if region
            .queue_limit
            .is_some_and(|limit| state.queue.len() >= limit as usize)
        {
            self.schedule(t + net, Kind::Reply(key, Outcome::failed()));
        } else {
            self.regions[r].queue.push_back((key, extra));
        }
    }

    fn start_service(&mut self, r: usize, key: Key, extra: u64, t: u64) {
        let region = &self.scenario.regions[r];
        let min = nanos(region.service_min);
        let span = nanos(region.service_max) - min;
        let service = min + self.uniform(span) + extra;
        self.regions[r].busy += 1;
        self.schedule(t + service, Kind::Served(r as u8, key));
    }

    /// Region `r` finished serving at `t`: the response goes back, the next in line starts.
    fn served(&mut self, r: u8, key: Key, t: u64) {
        let r = r as usize;
        let net = nanos(self.scenario.regions[r].network);
        self.schedule(t + net, Kind::Reply(key, Outcome::Success));
        self.regions[r].busy -= 1;
        if let Some((next, extra)) = self.regions[r].queue.pop_front() {
            self.start_service(r, next, extra, t);
        }
    }

    /// An attempt's response (or its timeout) reached the client at `t`.
    /// The first of the two settles the attempt; the other finds its slot gone (or reused,
    /// under another generation) and is ignored.
    fn reply(&mut self, key: Key, outcome: Outcome, t: u64) {
        let Some(Attempt { request, .. }) = self.attempts.remove(key) else {
            return;
        };
        let clock = self.clock;
        let Some(req) = self.requests.get_mut(request) else {
            return;
        };
        self.log.client.store(req.client, AtomicOrdering::Relaxed);
        let step = self.clients[req.client as usize].finished(&mut req.call, outcome, clock, t);
        self.step(request, step, t);
    }

    /// A request's sleep ended at `t`.
    fn wake(&mut self, key: Key, t: u64) {
        let clock = self.clock;
        let Some(req) = self.requests.get_mut(key) else {
            return;
        };
        self.log.client.store(req.client, AtomicOrdering::Relaxed);
        let step = self.clients[req.client as usize].resume(&mut req.call, clock, t);
        self.step(key, step, t);
    }

    fn finish(self) -> RunResult {
        let scenario = self.scenario;
        let ms = |us: u64| us as f64 / 1000.0;
        let mut latencies = self.latencies;
        latencies.sort_unstable();
        let requests = latencies.len() as u64;
        let succeeded = requests - self.failures.len() as u64;
        let attempts: u64 = self.attempts_total.iter().sum();
        let mut failures: Vec<Count> = Vec::new();
        let mut budget_exhausted = 0;
        // The series' buckets (at least one), and the bucket of an instant.
        let (width, points) = (self.buckets.width, self.buckets.requests.len().max(1));
        let bucket = |t: u64| usize::try_from(t / width).map_or(points - 1, |b| b.min(points - 1));
        let mut budget_series = vec![0; points];
        for (t, _, reason) in &self.failures {
            let what = match reason {
                None => "final".to_owned(),
                Some(r) => r.to_string(),
            };
            if *reason == Some(GiveUpReason::BudgetExhausted) {
                budget_exhausted += 1;
                budget_series[bucket(*t)] += 1;
            }
            match failures.iter_mut().find(|c| c.what == what) {
                Some(c) => c.count += 1,
                None => failures.push(Count { what, count: 1 }),
            }
        }
        failures.sort_by(|a, b| a.what.cmp(&b.what));
        let marks = std::mem::take(
            &mut *self
                .log
                .marks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut transitions: Vec<Count> = Vec::new();
        let (mut opened, mut closed) = (vec![0; points], vec![0; points]);
        for m in &marks {
            if let MarkKind::Breaker(state) = m.kind {
                match state {
                    BreakerState::Open => opened[bucket(m.t)] += 1,
                    BreakerState::Closed => closed[bucket(m.t)] += 1,
                    _ => {}
                }
                let what = format!("{state:?}").to_lowercase();
                match transitions.iter_mut().find(|c| c.what == what) {
                    Some(c) => c.count += 1,
                    None => transitions.push(Count { what, count: 1 }),
                }
            }
        }
        transitions.sort_by(|a, b| a.what.cmp(&b.what));
        // The incident: the primary's fault windows.
        let incidents = incident_windows(scenario);
        let (mut over, mut back) = (Vec::new(), Vec::new());
        let mut failed_over_at = vec![None; scenario.clients as usize];
        if let Some(&(from, to)) = incidents.first() {
            let (from, to) = (from * 1_000_000, to * 1_000_000);
            let mut back_seen = vec![false; scenario.clients as usize];
            for m in &marks {
                let c = m.client as usize;
                match m.kind {
                    MarkKind::FailedOver if m.t >= from && failed_over_at[c].is_none() => {
                        failed_over_at[c] = Some(m.t);
                        over.push(m.t - from);
                    }
                    MarkKind::FailedBack if m.t >= to && !back_seen[c] => {
                        back_seen[c] = true;
                        back.push(m.t - to);
                    }
                    _ => {}
                }
            }
        }
        let lost = match incidents.first() {
            Some(&(from, to)) => {
                let (from, to) = (from * 1_000_000, to * 1_000_000);
                self.failures
                    .iter()
                    .filter(|(t, c, _)| {
                        *t >= from && *t < failed_over_at[*c as usize].unwrap_or(to).min(to)
                    })
                    .count() as u64
            }
            None => 0,
        };
        let mut bucket_latencies = self.buckets.latencies;
        let series = Series {
            bucket_ms: self.buckets.width / 1_000_000,
            success_rate: self
                .buckets
                .requests
                .iter()
                .zip(&self.buckets.succeeded)
                .map(|(&n, &s)| ratio(s, n, 1.0))
                .collect(),
            amplification: (0..self.buckets.requests.len())
                .map(|b| {
                    let sent: u64 = self.buckets.attempts.iter().map(|r| r[b]).sum();
                    ratio(sent, self.buckets.requests[b], 0.0)
                })
                .collect(),
            p50_ms: bucket_latencies
                .iter_mut()
                .map(|l| {
                    l.sort_unstable();
                    quantile_ms(l, 500)
                })
                .collect(),
            p99_ms: bucket_latencies
                .iter()
                .map(|l| quantile_ms(l, 990))
                .collect(),
            requests: self.buckets.requests,
            attempts_per_region: self.buckets.attempts,
            breakers_opened: opened,
            breakers_closed: closed,
            budget_exhausted: budget_series,
            incidents,
        };
        RunResult {
            scenario: scenario.name.clone(),
            policy: self.policy.name.clone(),
            seed: self.seed,
            summary: Summary {
                requests,
                succeeded,
                success_rate: ratio(succeeded, requests, 1.0),
                p50_ms: quantile_ms(&latencies, 500),
                p99_ms: quantile_ms(&latencies, 990),
                p999_ms: quantile_ms(&latencies, 999),
                attempts,
                amplification: ratio(attempts, requests, 0.0),
                attempts_per_region: scenario
                    .regions
                    .iter()
                    .zip(&self.attempts_total)
                    .map(|(r, &attempts)| RegionLoad {
                        region: r.name.clone(),
                        attempts,
                    })
                    .collect(),
                failures,
                budget_exhausted,
                breaker_transitions: transitions,
                clients_failed_over: over.len() as u64,
                time_to_failover_ms: median(&mut over).map(|n| ms(n / 1000)),
                time_to_failover_max_ms: over.last().map(|&n| ms(n / 1000)),
                clients_failed_back: back.len() as u64,
                time_to_failback_ms: median(&mut back).map(|n| ms(n / 1000)),
                time_to_failback_max_ms: back.last().map(|&n| ms(n / 1000)),
                lost_during_switch: lost,
                events: self.events,
            },
            series,
        }
    }
}

/// The primary's fault windows and throttling windows, in milliseconds, in order of start.
fn incident_windows(scenario: &Scenario) -> Vec<(u64, u64)> {
    use crate::config::WindowConfig;
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let Some(primary) = scenario.regions.first() else {
        return Vec::new();
    };
    let end = ms(scenario.duration);
    let mut windows: Vec<(u64, u64)> = primary
        .faults
        .windows
        .iter()
        .map(|w| match *w {
            WindowConfig::Outage { from, to }
            | WindowConfig::Hangs { from, to }
            | WindowConfig::Brownout { from, to, .. }
            | WindowConfig::Slowdown { from, to, .. } => (ms(from), ms(to).min(end)),
        })
        .chain(
            primary
                .throttling
                .iter()
                .map(|w| (ms(w.from), ms(w.to).min(end))),
        )
        .filter(|(from, to)| from < to)
        .collect();
    windows.sort_unstable();
    windows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::shipped;

    /// Every decision driven reads only the virtual instants: a run whose virtual zero is a
    /// month away from the real clock gives the same bytes as one that starts now. A rule that
    /// read the real clock (the breaker's coarse clock, tokio's) would see a month's difference.
    #[test]
    fn no_decision_reads_the_real_clock() {
        let mut scenario = shipped::scenario("flapping-primary").unwrap();
        scenario.clients = 3;
        let month = Duration::from_secs(30 * 86_400);
        for name in [
            "failover-after-30s",
            "preset-3x500ms-breaker",
            "exp-decorrelated",
        ] {
            let policy = shipped::policy_named(name).unwrap();
            let run = |base| {
                let result = Sim::new(&scenario, &policy, 5, base)
                    .unwrap()
                    .run(|_| {})
                    .unwrap();
                serde_json::to_string(&result).unwrap()
            };
            let now = Instant::now();
            assert_eq!(run(now), run(now + month), "{name}");
        }
    }
}
