//! Failover drills: rehearse a failover and a failback on a running stack, measure them, and
//! judge them against objectives.
//!
//! A failover that has not been rehearsed is a hope. A drill plays a named fault on one endpoint
//! (by default the primary) while the service keeps serving its real traffic, and measures what
//! the callers saw from the library's own [events](crate::event):
//!
//! | drill | the fault | played with |
//! | --- | --- | --- |
//! | [`Drill::planned_failover`] | the target switched off for a while, then on | the routing control |
//! | [`Drill::regional_outage`] | every call to the target fails for a window | the target's chaos handle |
//! | [`Drill::brownout`] | a share of the calls to the target fails for a window | the target's chaos handle |
//! | [`Drill::hang`] | every call to the target hangs for a window | the target's chaos handle |
//!
//! # The timeline
//!
//! A drill has three phases ([`Phase`]): the **lead** (normal traffic, the baseline; default
//! 1 s), the **fault** (the drill's window), and the **recovery** (the target switched on
//! again, its chaos state restored, for the settle time: default 60 s, room for a breaker's
//! open period and a failback hold-down). For each phase the [`Report`] counts the calls that
//! ended in it: failed, slowed, attempts per call, hops, retries, recover passes, and which
//! endpoint served them. Across phases it measures:
//!
//! - **time to fail over**: from the fault's start to the first call served by another
//!   endpoint than the target (the RTO the callers saw);
//! - **time to fail back**: from the fault's end to the first call served by the target after
//!   which no call was served elsewhere;
//! - the **budget** spent (give the runner the failover's budget), and the calls that gave up
//!   for want of it;
//! - every **breaker transition**, routing change, failover and failback, with its instant.
//!
//! The [`Verdict`] checks [`Objectives`]: the time to fail over (default RTO 5 s), the share of
//! failed calls from the fault on (default at most 0.1 %), and optionally the time to fail back
//! and the share of slowed calls.
//!
//! # Safe by construction
//!
//! - A planned failover switches the target off through the routing control, whose rule is that
//!   the last endpoint that is on can never be switched off: such a drill is refused
//!   ([`DrillError::Refused`]).
//! - The drill's **abort rule** ([`Drill::abort_above`], default: more than 5 % of at least 20
//!   calls failed) ends it at once, at the call that tripped it: the routing switch and the
//!   chaos state it changed are restored, and the report says when and why
//!   ([`Report::aborted`]).
//! - Dropping a running drill's future restores them too (a guard's `Drop`).
//! - One drill at a time per stack: another one is refused with
//!   [`DrillError::AlreadyRunning`].
//!
//! Restoring puts back the target's switch and its chaos handle's enabled flag and script as
//! they were (a script put back starts again, counting its windows from then).
//!
//! # Installing the tap
//!
//! The stack carries a [`Tap`]'s hooks always: on the failover (wrapping the service's own hook),
//! on its breakers, and on the routing control. While no drill runs, a hook costs one relaxed
//! atomic load per event, and one per call (whether to time it): no clock reading, no lock, no
//! allocation. Counted by callgrind (`benches/instructions.rs`, a healthy primary of two
//! regions, owned / `into_static`): wrapping a hook that reads every event adds 36 / 35
//! instructions per call (718 → 754, 690 → 725); on a failover with no hook at all it adds
//! 84 / 83 (657 → 741, 629 → 712), because the events that `()` lets the compiler drop are then
//! built.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::chaos::{ChaosHandle, ChaosLayer};
//! use steadfast::drill::{Drill, Drills, Objectives, Tap};
//! use steadfast::{BoxError, Failover};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // Each region: its client behind a chaos layer, switched off.
//! let region = |name: &'static str, chaos: &ChaosHandle| {
//!     let client = service_fn(move |_: u32| async move { Ok::<_, BoxError>(name) });
//!     ChaosLayer::new(chaos.clone()).layer(client)
//! };
//! let (east, west) = (ChaosHandle::disabled(), ChaosHandle::disabled());
//! let tap = Tap::new();
//! let my_metrics = |_: &steadfast::Event<'_>| {};
//! let failover = Failover::builder()
//!     .endpoint("us-east-2", region("us-east-2", &east))
//!     .endpoint("us-west-1", region("us-west-1", &west))
//!     .breakers({
//!         let tap = tap.clone();
//!         move |b| b.consecutive_failures(3).on_event(tap.hook(()))
//!     })
//!     .on_event(tap.hook(my_metrics))                      // the service's hook, tapped
//!     .build()?;
//! let drills = Drills::new(failover.handle(), &tap)
//!     .chaos("us-east-2", east)?
//!     .chaos("us-west-1", west)?
//!     .budget(failover.budget().clone());
//!
//! // The service's traffic, here a call every 100 ms (from 50 ms, so that no call starts at
//! // the instant the fault does), goes on while the drill runs.
//! let traffic = async {
//!     tokio::time::sleep(Duration::from_millis(50)).await;
//!     loop {
//!         let _ = failover.clone().oneshot(7).await;
//!         tokio::time::sleep(Duration::from_millis(100)).await;
//!     }
//! };
//! let secs = Duration::from_secs;
//! let drill = Drill::regional_outage(secs(5)).settle(secs(40));
//! let objectives = Objectives::default(); // RTO 5 s, at most 0.1 % of the calls failed
//! let report = tokio::select! {
//!     report = drills.run(&drill, &objectives) => report?,
//!     _ = traffic => unreachable!("the traffic goes on"),
//! };
//! println!("{report}");
//! assert!(report.verdict.passed);
//! // The fault began at 1 s; the next call, at 1.05 s, failed at the primary and was served
//! // by the secondary in the same call.
//! assert_eq!(report.time_to_fail_over, Some(Duration::from_millis(50)));
//! # Ok(())
//! # }
//! ```
//!
//! # On a schedule, and from an admin endpoint
//!
//! [`Drills::every`] is a future the service spawns: it runs a drill every period and hands each
//! report to a closure (a log line, a metric, an alert on a failed verdict). A drill moves
//! traffic: an endpoint that starts one is an operator action, behind authentication
//! (`examples/drill_admin.rs` requires a bearer token, compared in constant time).
//!
//! The runbook in `docs/runbook.md` (also [`runbook`](crate::runbook)) says how to read the
//! reports and choose the settings that bound the RTO.

mod plan;
mod report;
mod runner;
mod tap;

pub use self::plan::{
    DEFAULT_ABORT_MIN_CALLS, DEFAULT_ABORT_SHARE, DEFAULT_LEAD, DEFAULT_SETTLE, Drill, DrillKind,
    Objectives,
};
pub use self::report::{
    Aborted, BreakerChange, BudgetReport, Check, Mark, Phase, PhaseReport, Report, Served, Verdict,
};
pub use self::runner::{DrillError, Drills};
pub use self::tap::{MAX_MARKS, Tap, TapHook};
