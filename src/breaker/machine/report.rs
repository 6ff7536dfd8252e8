//! What the breaker reports: the state the next call would find, a snapshot.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::breaker::machine::{Locked, Shared, duration_nanos, saturate};
use crate::breaker::packed::{COUNT_MASK, Probes};
use crate::breaker::state::{BreakerState, Snapshot, TransitionReason};

impl Shared {
    /// The state the next call would find at `now`, with its generation: HalfOpen once the open
    /// period has passed, and where the half-open maximum wait leads once it has passed. Takes
    /// the lock only while open or half-open.
    pub(crate) fn state_at(&self, now: Instant) -> (u64, BreakerState) {
        let (generation, state) = self.state();
        if !matches!(state, BreakerState::Open | BreakerState::HalfOpen) {
            return (generation, state);
        }
        let locked = self.lock();
        let (generation, state) = self.state();
        let (state, _) = self.ahead(&locked, state, self.nanos(now));
        (generation, state)
    }

    /// Where the next call at `t` would find a breaker now in `state`, and, if it would find it
    /// open, how long until it admits probes.
    pub(super) fn ahead(
        &self,
        locked: &Locked,
        state: BreakerState,
        t: u64,
    ) -> (BreakerState, Option<u64>) {
        match state {
            BreakerState::Open => {
                let at = self.half_open_at.load(Ordering::Acquire);
                if t >= at {
                    (BreakerState::HalfOpen, None)
                } else {
                    (BreakerState::Open, Some(at - t))
                }
            }
            BreakerState::HalfOpen if self.timed_out(t) => {
                match self.config.after_half_open_max_wait {
                    BreakerState::Open => {
                        let open_for = duration_nanos(self.open_for(
                            locked.trips.saturating_add(1),
                            locked.window.tally(),
                            TransitionReason::ProbeTimeout,
                        ));
                        if open_for == 0 {
                            (BreakerState::HalfOpen, None)
                        } else {
                            (BreakerState::Open, Some(open_for))
                        }
                    }
                    to => (to, None),
                }
            }
            other => (other, None),
        }
    }

    /// Whether a half-open period has outlasted its maximum wait at `t`.
    pub(super) fn timed_out(&self, t: u64) -> bool {
        self.half_open_max_wait.is_some_and(|max_wait| {
            t.saturating_sub(self.half_open_since.load(Ordering::Acquire)) > max_wait
        })
    }

    pub(crate) fn snapshot(&self, now: Instant) -> Snapshot {
        let mut locked = self.lock();
        let (generation, state) = self.state();
        let t = self.nanos(now);
        // Time moves a time window on, with or without calls.
        let bucket = t.checked_div(self.bucket).unwrap_or(0);
        if state == BreakerState::Closed {
            // Not published: the lock-free path keeps counting only in the bucket of the last
            // evaluation, so the first success after buckets expired is evaluated.
            self.sync(&mut locked, generation, bucket);
        } else {
            locked.window.advance(bucket);
        }
        let (ahead, half_open_in) = self.ahead(&locked, state, t);
        let probes = Probes::unpack(self.probes.load(Ordering::Acquire));
        let probes = if state == BreakerState::HalfOpen
            && !self.timed_out(t)
            && probes.tag == generation & 0xFFFF
        {
            probes
        } else {
            Probes::default()
        };
        let w = locked.window.tally();
        let ready = w.calls >= u64::from(self.config.minimum_calls) && w.calls > 0;
        let rate = |n: u64| n as f64 / w.calls as f64;
        Snapshot {
            state: ahead,
            generation,
            calls: saturate(w.calls),
            failures: saturate(w.failures),
            slow_calls: saturate(w.slow),
            slow_successes: saturate(w.slow - w.slow_failures),
            slow_failures: saturate(w.slow_failures),
            failure_rate: ready.then(|| rate(w.failures)),
            slow_call_rate: (ready && self.times_calls()).then(|| rate(w.slow)),
            // The run that tripped the breaker stays visible until it closes again.
            consecutive_failures: saturate(self.consecutive.load(Ordering::Relaxed) & COUNT_MASK),
            half_open_in: half_open_in.map(Duration::from_nanos),
            rejected_calls: self
                .shards
                .iter()
                .map(|s| s.0.rejected.load(Ordering::Relaxed))
                .fold(0, u64::saturating_add),
            probe_slot_in: self
                .slots_taken(probes)
                .then(|| self.slot_free_in(t))
                .flatten(),
            probes_admitted: probes.admitted(),
            probes_in_flight: probes.in_flight,
            probes_succeeded: probes.succeeded,
            probes_failed: probes.failed,
        }
    }
}
