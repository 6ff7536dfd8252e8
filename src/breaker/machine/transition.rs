//! Transitions: moving to a new state and generation, and reporting it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::breaker::config::BreakInfo;
use crate::breaker::machine::{Locked, Shared, Transition, duration_nanos, saturate};
use crate::breaker::packed::{Probes, pack, shard_word, tagged};
use crate::breaker::state::{BreakerState, TransitionReason};
use crate::breaker::window::Tally;
use crate::deadline::Now;
use crate::error::MAX_DURATION;
use crate::event::Event;

impl Shared {
    /// Moves from `generation` to `to`, unless another transition came first.
    pub(crate) fn transition(
        &self,
        generation: u64,
        to: BreakerState,
        reason: TransitionReason,
        now: impl Now,
    ) {
        let mut locked = self.lock();
        let t = self.transition_locked(&mut locked, generation, to, reason, now);
        drop(locked);
        self.emit(t);
    }

    /// Moves from whatever state the breaker is in to `to` (for manual operations; `now` is
    /// read only for the timed states, Open and HalfOpen).
    pub(crate) fn force(&self, to: BreakerState, reason: TransitionReason, now: impl Now) {
        let mut locked = self.lock();
        let (generation, _) = self.state();
        let t = self.transition_locked(&mut locked, generation, to, reason, now);
        drop(locked);
        self.emit(t);
    }

    /// The open duration of the `trips`-th consecutive trip, with the window `w`.
    pub(super) fn open_for(&self, trips: u32, w: Tally, reason: TransitionReason) -> Duration {
        match &self.break_duration {
            Some(f) => f(&BreakInfo {
                trips,
                reason,
                calls: saturate(w.calls),
                failures: saturate(w.failures),
            })
            .min(MAX_DURATION),
            None => self.config.open_duration(trips),
        }
    }

    pub(super) fn transition_locked(
        &self,
        locked: &mut Locked,
        generation: u64,
        to: BreakerState,
        reason: TransitionReason,
        now: impl Now,
    ) -> Option<Transition> {
        let (current, from) = self.state();
        if current != generation {
            return None;
        }
        let next = generation + 1;
        // Everything a caller of the new state reads is in place before the state is published.
        match to {
            BreakerState::Open => {
                locked.trips = locked.trips.saturating_add(1);
                let open_for = self.open_for(locked.trips, locked.window.tally(), reason);
                let at = self
                    .nanos(now.now())
                    .saturating_add(duration_nanos(open_for));
                self.half_open_at.store(at, Ordering::Release);
            }
            BreakerState::HalfOpen => {
                self.half_open_since
                    .store(self.nanos(now.now()), Ordering::Release);
                self.probes
                    .store(Probes::new(next).pack(), Ordering::Release);
                self.probe_renew_at.store(u64::MAX, Ordering::Release);
                locked.slow_probe_successes = 0;
                locked.slow_probe_failures = 0;
            }
            BreakerState::Closed => {
                locked.trips = 0;
                self.clear_window(locked, next);
            }
            BreakerState::ForcedOpen | BreakerState::Disabled => self.clear_window(locked, next),
        }
        self.word.store(pack(next, to), Ordering::Release);
        Some(Transition {
            from,
            to,
            reason,
            generation: next,
        })
    }

    /// Empties the window and the counters, tagging them with the `generation` about to begin
    /// (a time window keeps its place in time).
    pub(super) fn clear_window(&self, locked: &mut Locked, generation: u64) {
        locked.window.clear();
        let newest = locked.window.newest();
        for s in &self.shards {
            s.0.successes
                .store(shard_word(generation, newest, 0), Ordering::Relaxed);
        }
        self.consecutive
            .store(tagged(generation, 0), Ordering::Relaxed);
        self.publish(locked);
    }

    pub(super) fn emit(&self, t: Option<Transition>) {
        if let (Some(t), Some(hook)) = (t, &self.hook) {
            hook.on_event(&Event::BreakerTransition {
                breaker: self.name.as_deref(),
                from: t.from,
                to: t.to,
                reason: t.reason,
                generation: t.generation,
            });
        }
    }
}
