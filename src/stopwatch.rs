//! The instants a timed hook's durations are measured from.

use std::time::{Duration, Instant};

use crate::clock::now;
use crate::event::OnEvent;

/// When a call was made and when its current attempt began, read only for a hook that asks
/// for durations ([`OnEvent::timed`]): for any other hook it stays empty and reads no clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stopwatch {
    call: Option<Instant>,
    attempt: Option<Instant>,
}

/// How long the current attempt and the whole call have taken (both `None` when untimed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lap {
    pub(crate) attempt: Option<Duration>,
    pub(crate) call: Option<Duration>,
}

impl Stopwatch {
    /// A call made now, for `hook`.
    #[inline(always)]
    pub(crate) fn start(hook: &impl OnEvent) -> Self {
        if hook.timed() {
            let t = now();
            Stopwatch {
                call: Some(t),
                attempt: Some(t),
            }
        } else {
            Stopwatch::default()
        }
    }

    /// The next attempt begins now (its service is asked to be ready, or it is sent).
    #[inline(always)]
    pub(crate) fn attempt(&mut self) {
        if self.call.is_some() {
            self.attempt = Some(now());
        }
    }

    /// How long the current attempt and the call have taken, from one reading of the clock.
    #[inline]
    pub(crate) fn lap(&self) -> Lap {
        match self.call {
            None => Lap::default(),
            Some(call) => {
                let t = now();
                Lap {
                    attempt: self.attempt.map(|a| t.saturating_duration_since(a)),
                    call: Some(t.saturating_duration_since(call)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, timed};

    #[test]
    fn an_untimed_hook_reads_no_clock() {
        let mut watch = Stopwatch::start(&());
        watch.attempt();
        assert_eq!(watch.lap(), Lap::default());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timed_hook_measures_the_attempt_and_the_call() {
        let hook = timed(|_: &Event<'_>| {});
        let mut watch = Stopwatch::start(&hook);
        tokio::time::advance(Duration::from_millis(300)).await;
        watch.attempt();
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(
            watch.lap(),
            Lap {
                attempt: Some(Duration::from_millis(200)),
                call: Some(Duration::from_millis(500)),
            }
        );
    }
}
