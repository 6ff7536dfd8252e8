//! Recording outcomes: the closed window and its trip rules, the half-open probes.

use std::sync::atomic::Ordering;

use crate::breaker::config::{HalfOpenDecision, TripCheck};
use crate::breaker::machine::{Locked, StateMachine, duration_nanos};
use crate::breaker::packed::{Probes, count_in, shard_count, shard_word, tagged};
use crate::breaker::shards::my_shard;
use crate::breaker::state::{BreakerState, TransitionReason};
use crate::breaker::threshold::Threshold;
use crate::breaker::ticket::{Ticket, TicketKind};
use crate::breaker::window::Mark;
use crate::classify::{BreakerEffect, Outcome};
use crate::deadline::Now;
use crate::now::ReadOnce;

impl StateMachine {
    /// Whether the timed call of `ticket` ran longer than the slow-call threshold by `now`.
    #[inline]
    pub(super) fn was_slow(&self, ticket: Ticket, now: &mut ReadOnce<impl Now>) -> bool {
        match (self.config.slow_call_duration, ticket.started) {
            (Some(threshold), started) if started > 0 => {
                let ran = self.nanos(now.read()).saturating_sub(started - 1);
                ran > duration_nanos(threshold)
            }
            _ => false,
        }
    }

    /// Records the outcome of an admitted call. Outcomes from an older generation change
    /// nothing. `now` is read only when the outcome may cause a transition, to time the call,
    /// or (cheaply) to place it in a time window.
    #[inline(always)]
    pub(crate) fn record(&self, ticket: Ticket, outcome: &Outcome, now: impl Now) {
        // The usual case inline: a success of a call admitted closed, in the generation it was
        // admitted in (one compare: a closed ticket's word is its generation's, kind 0).
        let (generation, state) = self.state();
        if matches!(outcome, Outcome::Success)
            && state == BreakerState::Closed
            && ticket.word == Ticket::new(generation, TicketKind::Closed).word
        {
            self.closed_success(generation, ticket, ReadOnce::new(now));
            return;
        }
        self.record_other(ticket, outcome, now);
    }

    /// Every other outcome (the same rule for a success too).
    #[inline(never)]
    fn record_other(&self, ticket: Ticket, outcome: &Outcome, now: impl Now) {
        let effect = match outcome {
            Outcome::Rejected if self.rejected_is_success => BreakerEffect::Success,
            other => other.breaker_effect(),
        };
        let (generation, state) = self.state();
        if generation != ticket.generation() {
            return;
        }
        match (state, ticket.kind(), effect) {
            (BreakerState::Closed, TicketKind::Closed, BreakerEffect::Success) => {
                self.closed_success(generation, ticket, ReadOnce::new(now));
            }
            (BreakerState::Closed, TicketKind::Closed, BreakerEffect::Failure) => {
                let mut now = ReadOnce::new(now);
                let slow = self.was_slow(ticket, &mut now);
                self.closed_outcome(
                    generation,
                    Mark {
                        failure: true,
                        slow,
                    },
                    &mut now,
                );
            }
            (BreakerState::HalfOpen, TicketKind::Probe, BreakerEffect::Ignored) => {
                self.release(ticket);
            }
            (BreakerState::HalfOpen, TicketKind::Probe, effect) => {
                let mut now = ReadOnce::new(now);
                let slow = self.was_slow(ticket, &mut now);
                let mark = Mark {
                    failure: effect == BreakerEffect::Failure,
                    slow,
                };
                self.probe_outcome(ticket, mark, &mut now);
            }
            _ => {}
        }
    }

    /// The caller gave up on an admitted call at `now`: if it had already run longer than the
    /// slow-call threshold, it counts as a slow call (neither a success nor a failure);
    /// otherwise it is as if the permit was dropped unused.
    pub(crate) fn abandon(&self, ticket: Ticket, now: impl Now) {
        let mut now = ReadOnce::new(now);
        if !self.was_slow(ticket, &mut now) {
            self.release(ticket);
            return;
        }
        let (generation, state) = self.state();
        if generation != ticket.generation() {
            return;
        }
        let slow = Mark {
            failure: false,
            slow: true,
        };
        match (state, ticket.kind()) {
            (BreakerState::Closed, TicketKind::Closed) => {
                self.closed_outcome(generation, slow, &mut now)
            }
            (BreakerState::HalfOpen, TicketKind::Probe) => {
                self.probe_outcome(ticket, slow, &mut now)
            }
            _ => {}
        }
    }

    #[inline(always)]
    pub(super) fn closed_success<N: Now>(
        &self,
        generation: u64,
        ticket: Ticket,
        mut now: ReadOnce<N>,
    ) {
        // The first success after failures ends their run (a read, no write, otherwise).
        let run = self.consecutive.load(Ordering::Relaxed);
        if count_in(run, generation).is_some_and(|n| n > 0) {
            let _ = self.consecutive.compare_exchange(
                run,
                tagged(generation, 0),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        let slow = self.was_slow(ticket, &mut now);
        if !slow && self.count_success(generation, &mut now) {
            return;
        }
        self.closed_outcome(
            generation,
            Mark {
                failure: false,
                slow,
            },
            &mut now,
        );
    }

    /// Counts a success on the calling thread's shard, without the lock, when it cannot change
    /// the verdict: the window holds the minimum number of calls (a success only lowers the
    /// rates) and, for a time window, the success falls in the newest bucket (no bucket
    /// expires). True when counted (or stale: nothing to count); false when the lock path must
    /// count it.
    #[inline(always)]
    pub(super) fn count_success(&self, generation: u64, now: &mut ReadOnce<impl Now>) -> bool {
        let bucket = match self.bucket {
            0 => 0,
            _ => {
                let t = self.cheap_nanos(now);
                if t >= self.bucket_end.load(Ordering::Acquire) {
                    return false;
                }
                self.newest.load(Ordering::Acquire)
            }
        };
        if !self.warm.load(Ordering::Relaxed) {
            return false;
        }
        let counted = self.shards[my_shard()].0.successes.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |w| shard_count(w, generation, bucket).map(|n| shard_word(generation, bucket, n + 1)),
        );
        // A failed swap: either the generation is over (a stale success: nothing to count),
        // or a new bucket began (the lock path counts it).
        counted.is_ok() || self.state().0 != generation
    }

    /// Brings the window up to date: the successes counted in the shards (they belong to the
    /// newest bucket, or to the count window), then time, up to `bucket`. The shards are then
    /// tagged for the newest bucket.
    pub(super) fn sync(&self, locked: &mut Locked, generation: u64, bucket: u64) {
        let newest = locked.window.newest();
        let target = newest.max(bucket);
        let pending: u64 = self
            .shards
            .iter()
            .filter_map(|s| {
                shard_count(
                    s.0.successes
                        .swap(shard_word(generation, target, 0), Ordering::Relaxed),
                    generation,
                    newest,
                )
            })
            .sum();
        locked.window.push(Mark::SUCCESS, pending, newest);
        locked.window.advance(target);
    }

    /// Publishes what the lock-free paths read of the window: whether it is warm, and the
    /// newest bucket with its end.
    pub(super) fn publish(&self, locked: &Locked) {
        let calls = locked.window.tally().calls;
        self.warm.store(
            calls >= u64::from(self.config.minimum_calls),
            Ordering::Relaxed,
        );
        if self.bucket > 0 {
            let newest = locked.window.newest();
            self.newest.store(newest, Ordering::Release);
            self.bucket_end.store(
                newest.saturating_add(1).saturating_mul(self.bucket),
                Ordering::Release,
            );
        }
    }

    #[cold]
    pub(super) fn closed_outcome(&self, generation: u64, mark: Mark, now: &mut ReadOnce<impl Now>) {
        let bucket = self.bucket_of(now);
        let mut locked = self.lock();
        if self.state() != (generation, BreakerState::Closed) {
            return;
        }
        self.sync(&mut locked, generation, bucket);
        locked.window.push(mark, 1, bucket);
        let mut run = 0;
        if mark.failure {
            // Under the lock, after the state check: a stale failure never gets here.
            let before = self
                .consecutive
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                    Some(tagged(generation, count_in(w, generation).unwrap_or(0) + 1))
                })
                .unwrap_or_default();
            run = count_in(before, generation).unwrap_or(0) + 1;
        }
        self.publish(&locked);
        let c = &self.config;
        let w = locked.window.tally();
        let rates = w.calls >= u64::from(c.minimum_calls)
            && (mark.failure || c.trip_check == TripCheck::EveryOutcome);
        let reached =
            |th: Option<Threshold>, part| rates && th.is_some_and(|th| th.reached(part, w.calls));
        let reason = if mark.failure && c.consecutive_failures.is_some_and(|n| run >= u64::from(n))
        {
            TransitionReason::ConsecutiveFailures
        } else if reached(self.failure_threshold, w.failures) {
            TransitionReason::FailureRate
        } else if reached(self.slow_threshold, w.slow) {
            TransitionReason::SlowCallRate
        } else {
            return;
        };
        let t = self.transition_locked(&mut locked, generation, BreakerState::Open, reason, now);
        drop(locked);
        self.report(t);
    }

    /// Whether every probe slot of a period with `p` is taken (a call now would be rejected).
    pub(super) fn slots_taken(&self, p: Probes) -> bool {
        let c = &self.config;
        match c.half_open_decision {
            HalfOpenDecision::Counts => p.in_flight >= c.probes,
            HalfOpenDecision::Rates => p.in_flight > 0 && p.admitted() >= c.probes,
        }
    }

    /// Deciding by rates: whether every probe of `generation`'s period is in, none in flight.
    pub(super) fn probes_complete(&self, generation: u64) -> bool {
        let p = Probes::unpack(self.probes.load(Ordering::Acquire));
        self.config.half_open_decision == HalfOpenDecision::Rates
            && p.tag == generation & 0xFFFF
            && p.in_flight == 0
            && p.admitted() >= self.config.probes
    }

    #[cold]
    pub(super) fn probe_outcome(&self, ticket: Ticket, mark: Mark, now: &mut ReadOnce<impl Now>) {
        let generation = ticket.generation();
        let failed = mark.failure || mark.slow;
        // A slow probe is counted under the lock too, where a decision by rates reads it.
        let mut locked = None;
        if mark.slow {
            let guard = self.lock();
            if self.state().0 != generation {
                return;
            }
            locked = Some(guard);
        }
        let counted = Probes::update(&self.probes, generation, |p| {
            (p.in_flight > 0).then_some(Probes {
                failed: (p.failed + u32::from(failed)).min(0xFFFF),
                succeeded: (p.succeeded + u32::from(!failed)).min(0xFFFF),
                in_flight: p.in_flight - 1,
                ..p
            })
        });
        let Some((_, after)) = counted else {
            return;
        };
        if let Some(guard) = locked.as_mut() {
            if mark.failure {
                guard.slow_probe_failures += 1;
            } else {
                guard.slow_probe_successes += 1;
            }
        }
        let c = &self.config;
        let (to, reason) = match c.half_open_decision {
            HalfOpenDecision::Rates => {
                if after.in_flight == 0 && after.admitted() >= c.probes {
                    drop(locked);
                    self.decide_probes(generation, now);
                }
                return;
            }
            HalfOpenDecision::Counts if failed && after.failed >= c.probe_failures => (
                BreakerState::Open,
                if mark.failure {
                    TransitionReason::ProbeFailed
                } else {
                    TransitionReason::SlowProbe
                },
            ),
            HalfOpenDecision::Counts if !failed && after.succeeded >= c.required_successes => {
                (BreakerState::Closed, TransitionReason::ProbesSucceeded)
            }
            HalfOpenDecision::Counts => return,
        };
        let mut locked = locked.unwrap_or_else(|| self.lock());
        let t = self.transition_locked(&mut locked, generation, to, reason, now);
        drop(locked);
        self.report(t);
    }

    /// Deciding by rates, every probe is in: opens again if the failure rate or the slow-call
    /// rate among them reached its threshold, and closes otherwise.
    pub(super) fn decide_probes(&self, generation: u64, now: &mut ReadOnce<impl Now>) {
        let mut locked = self.lock();
        let p = Probes::unpack(self.probes.load(Ordering::Acquire));
        if self.state() != (generation, BreakerState::HalfOpen) || p.tag != generation & 0xFFFF {
            return;
        }
        let whole = u64::from(p.failed + p.succeeded);
        let slow = u64::from(locked.slow_probe_successes + locked.slow_probe_failures);
        let failures = u64::from(p.failed.saturating_sub(locked.slow_probe_successes));
        let reached = |th: Option<Threshold>, part| th.is_some_and(|th| th.reached(part, whole));
        let (to, reason) = if reached(self.failure_threshold, failures) {
            (BreakerState::Open, TransitionReason::ProbeFailed)
        } else if reached(self.slow_threshold, slow) {
            (BreakerState::Open, TransitionReason::SlowProbe)
        } else {
            (BreakerState::Closed, TransitionReason::ProbesSucceeded)
        };
        let t = self.transition_locked(&mut locked, generation, to, reason, now);
        drop(locked);
        self.report(t);
    }
}
