//! Chaos: seeded, reproducible fault injection for any tower service, switched at run time.
//!
//! # Why chaos
//!
//! A retry policy, a breaker or a failover that has never seen a real outage is a guess. The only
//! way to know what a service does when a dependency fails is to make the dependency fail, on
//! purpose and under control, and watch: does the breaker open, does the failover hop, does the
//! deadline hold, do the callers see errors or only a little latency? And to do it again after
//! every change ("failover testing must be done again and again"). This layer makes the failure
//! on demand, in front of any service:
//!
//! - **errors** at a rate, made by a caller-supplied fault maker: an `Err`, or a failing
//!   response such as a 503;
//! - **latency**: fixed, uniform, or with a tail (a share of calls slowed much more);
//! - **hangs**: a call that never completes until it is dropped (what a timeout is for);
//! - **windows** relative to the script's start: **outages** (from `t1` to `t2` every call
//!   errors, or every call hangs), **brownouts** (an error rate only inside the window) and
//!   **slowdowns** (a latency only inside the window). Several windows make a script: an
//!   incident with a beginning, a middle and an end.
//!
//! # Reproducible
//!
//! A [`Script`] is pure data with a seed, and its decision for a call is a pure function,
//! [`Script::decide`], of the seed, the call's number (0, 1, 2, … since the script started) and
//! the time since the start. The same seed and the same sequence of calls give the same faults,
//! on every platform; under concurrency, the calls are numbered in the order they reach the
//! layer, so a run of `n` calls always injects exactly the faults of calls `0..n`, whichever task
//! made which. A simulator (or a test) calls `decide` to know in advance what a run will see.
//!
//! Calls made while the handle is disabled are not numbered.
//!
//! # Switched at run time
//!
//! A [`ChaosHandle`] is a cheap `Clone` handle shared by the layer and whoever runs the
//! experiment: a test, or an operator's admin endpoint. [`enable`](ChaosHandle::enable),
//! [`disable`](ChaosHandle::disable), [`replace`](ChaosHandle::replace) the script, or
//! [`start`](ChaosHandle::start) one (replace and enable), from any task or thread: the next
//! call sees the switch.
//!
//! **The start instant.** A script's windows count from the moment it was installed: by
//! [`ChaosHandle::new`], [`start`](ChaosHandle::start) or [`replace`](ChaosHandle::replace),
//! which also restart the call numbering. Disabling and enabling again does neither: the
//! incident's clock keeps running while chaos is off. All time is tokio's
//! (`tokio::time::Instant`, `tokio::time::sleep`), so a paused clock controls every window and
//! delay exactly.
//!
//! # Cost
//!
//! Disabled, a call costs one relaxed atomic load beyond the inner call: no clock read, no
//! allocation, no lock, so the layer can stay in a production stack, switched off. Its future
//! is the inner future and a tag: whatever a faulted call needs lives elsewhere.
//!
//! Enabled, a call left alone adds one atomic increment (its number), a few arithmetic draws,
//! and one clock read only if the script has windows; it allocates nothing. A hung call holds
//! nothing. A delayed or failed call keeps its timer and its result in one allocation of its
//! own (so that every other call's future stays small: futures are moved on every call). No
//! call takes a lock, except the first one through each service after a script was replaced.
//!
//! # The injected failure
//!
//! The layer keeps the inner service's types, so the injected failure must be one of its
//! results. By default ([`ChaosLayer::new`]) it is `Err(InjectedFault.into())`, for error types
//! that can hold an [`InjectedFault`] ([`BoxError`](crate::BoxError), [`std::io::Error`]). With
//! [`ChaosLayer::fault`], a closure given the [`Fault`] makes it: an error of the client's own
//! type, or an `Ok` failing response. With [`ChaosLayer::fault_response`], a closure makes the
//! failing response alone, such as a 503, which is what a load balancer in front of a dead
//! dependency answers; it works whatever the client's error type, so the layer compiles before
//! it wraps a client (a closure given to `fault` that returns `Ok(..)` leaves the error type to
//! be inferred from the client's first call: `fault_response` needs no such call).
//!
//! An injected fault is meant to look like the dependency's own failure: [`InjectedFault`] is
//! *not* one of this library's own errors, so classifiers see it as the dependency failing
//! (`Transient { Failed }` by default), and retry, breakers and failover react to it as they
//! would in a real outage.
//!
//! # Rehearsing an outage in a test
//!
//! Under a paused clock, every instant is exact:
//!
//! ```
//! use std::time::Duration;
//! use steadfast::chaos::{ChaosHandle, ChaosLayer, InjectedFault, Script};
//! use steadfast::BoxError;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let secs = Duration::from_secs;
//! // From 10 s to 20 s after the start, the dependency is down.
//! let script = Script::builder().seed(7).outage(secs(10)..secs(20)).build()?;
//! let chaos = ChaosHandle::new(script); // enabled; the script starts now
//! let dependency = service_fn(|x: u32| async move { Ok::<_, BoxError>(x) });
//! let svc = ChaosLayer::new(chaos.clone()).layer(dependency);
//!
//! assert_eq!(svc.clone().oneshot(1).await?, 1);
//! tokio::time::sleep(secs(10)).await;
//! let err = svc.clone().oneshot(2).await.unwrap_err();
//! assert!(err.is::<InjectedFault>());
//! tokio::time::sleep(secs(10)).await; // 20 s: the outage is over
//! assert_eq!(svc.clone().oneshot(3).await?, 3);
//!
//! chaos.disable(); // or stop the incident by hand
//! # Ok(())
//! # }
//! ```
//!
//! # Rehearsing an outage in staging
//!
//! Keep the layer in the deployed stack, disabled ([`ChaosHandle::disabled`]), and give the
//! handle to an admin endpoint. To rehearse, [`start`](ChaosHandle::start) a script (say a
//! brownout for five minutes, then a full outage of the primary region for ten) and watch the
//! dashboards: breaker transitions, failovers, error rates seen by the callers, and the
//! [`Event::Fault`](crate::event::Event::Fault) events that mark what was injected.
//! [`disable`](ChaosHandle::disable) ends it at once. Log the script's
//! [`seed`](Script::seed) to replay the same incident later.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::chaos::{ChaosHandle, Latency, Script};
//!
//! // At startup: in the stack, switched off.
//! let chaos = ChaosHandle::disabled();
//!
//! // From the admin endpoint, to begin the rehearsal:
//! let mins = |m: u64| Duration::from_secs(60 * m);
//! let incident = Script::builder()
//!     .latency(Latency::uniform(Duration::from_millis(5), Duration::from_millis(20)))
//!     .brownout(mins(0)..mins(5), 0.2)   // 20 % of calls fail
//!     .outage(mins(5)..mins(15))         // then every call fails
//!     .build()?;
//! println!("chaos seed {}", incident.seed());
//! chaos.start(incident);
//! // ... and to end it:
//! chaos.disable();
//! # Ok::<(), steadfast::ConfigError>(())
//! ```

mod future;
mod layer;
mod script;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use self::future::ResponseFuture;
pub use self::layer::{Chaos, ChaosLayer};
pub use self::script::{Fault, FaultKind, Latency, MAX_DURATION, Script, ScriptBuilder};
use crate::clock::now;

/// Switches a chaos layer at run time: enable, disable, replace the script. See the
/// [module docs](self).
///
/// # Clone
///
/// A cheap handle: clones share one switch, one script and one call counter. Give every layer
/// that one experiment drives the same handle.
#[derive(Clone)]
pub struct ChaosHandle {
    shared: Arc<Inner>,
}

struct Inner {
    /// The switch: the one load of a disabled call.
    enabled: AtomicBool,
    /// Advanced (under the lock) whenever a script is installed, so that services notice
    /// without taking the lock.
    epoch: AtomicU64,
    run: Mutex<Arc<Run>>,
}

/// A script as installed: with its start and its call counter.
pub(crate) struct Run {
    script: Script,
    start: Instant,
    calls: AtomicU64,
}

impl Inner {
    /// The current run and its epoch.
    fn current(&self) -> (u64, Arc<Run>) {
        let run = self.run.lock().unwrap_or_else(PoisonError::into_inner);
        (self.epoch.load(Ordering::Relaxed), run.clone())
    }

    fn install(&self, script: Script) {
        let fresh = Arc::new(Run {
            script,
            start: now(),
            calls: AtomicU64::new(0),
        });
        let old = {
            let mut run = self.run.lock().unwrap_or_else(PoisonError::into_inner);
            self.epoch.fetch_add(1, Ordering::Release);
            std::mem::replace(&mut *run, fresh)
        };
        drop(old);
    }
}

impl ChaosHandle {
    /// A handle running `script`, enabled, started now (on tokio's clock).
    pub fn new(script: Script) -> Self {
        Self::with(script, true)
    }

    /// A handle that injects nothing: disabled, with the empty script. The production default.
    pub fn disabled() -> Self {
        Self::with(Script::default(), false)
    }

    fn with(script: Script, enabled: bool) -> Self {
        ChaosHandle {
            shared: Arc::new(Inner {
                enabled: AtomicBool::new(enabled),
                epoch: AtomicU64::new(0),
                run: Mutex::new(Arc::new(Run {
                    script,
                    start: now(),
                    calls: AtomicU64::new(0),
                })),
            }),
        }
    }

    /// Whether faults are injected.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }

    /// Injects the script's faults from the next call on. The script's clock and call numbering
    /// go on from where they were (they kept running while disabled).
    pub fn enable(&self) {
        self.shared.enabled.store(true, Ordering::Relaxed);
    }

    /// Leaves every call from the next one on untouched.
    pub fn disable(&self) {
        self.shared.enabled.store(false, Ordering::Relaxed);
    }

    /// Installs `script`, starting now: its windows count from now, its calls from 0. Whether
    /// faults are injected is unchanged.
    pub fn replace(&self, script: Script) {
        self.shared.install(script);
    }

    /// Installs `script`, starting now, and enables: the incident begins with the next call.
    pub fn start(&self, script: Script) {
        self.replace(script);
        self.enable();
    }

    /// A copy of the current script.
    pub fn script(&self) -> Script {
        self.shared.current().1.script.clone()
    }

    /// How many calls the current script has decided since it started (calls made while
    /// disabled are not counted).
    pub fn calls(&self) -> u64 {
        self.shared.current().1.calls.load(Ordering::Relaxed)
    }

    /// How long ago the current script started, on tokio's clock.
    pub fn elapsed(&self) -> Duration {
        now().saturating_duration_since(self.shared.current().1.start)
    }
}

impl Default for ChaosHandle {
    /// [`ChaosHandle::disabled`].
    fn default() -> Self {
        Self::disabled()
    }
}

impl fmt::Debug for ChaosHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, run) = self.shared.current();
        f.debug_struct("ChaosHandle")
            .field("enabled", &self.is_enabled())
            .field("script", &run.script)
            .field("calls", &run.calls.load(Ordering::Relaxed))
            .finish()
    }
}

/// Makes the result of a call that a script fails: an `Err`, or a failing response.
///
/// Closures `Fn(&Fault) -> Result<T, E>` are fault makers (see [`ChaosLayer::fault`]);
/// [`FaultResponse`] answers with a response whatever the error type
/// ([`ChaosLayer::fault_response`]); [`InjectError`] is the default.
pub trait MakeFault<T, E> {
    /// The failed call's result.
    fn make(&self, fault: &Fault) -> Result<T, E>;
}

impl<F, T, E> MakeFault<T, E> for F
where
    F: Fn(&Fault) -> Result<T, E>,
{
    #[inline]
    fn make(&self, fault: &Fault) -> Result<T, E> {
        self(fault)
    }
}

/// A fault maker answering every failed call with `Ok` of the response its closure makes, for
/// any error type. Built by [`ChaosLayer::fault_response`].
#[derive(Debug, Clone, Copy)]
pub struct FaultResponse<F>(pub F);

impl<F, T, E> MakeFault<T, E> for FaultResponse<F>
where
    F: Fn(&Fault) -> T,
{
    #[inline]
    fn make(&self, fault: &Fault) -> Result<T, E> {
        Ok((self.0)(fault))
    }
}

/// The default fault maker: fails the call with an [`InjectedFault`] error, converted into the
/// inner service's error type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InjectError;

impl<T, E: From<InjectedFault>> MakeFault<T, E> for InjectError {
    #[inline]
    fn make(&self, fault: &Fault) -> Result<T, E> {
        Err(InjectedFault::new(*fault).into())
    }
}

/// The error of a call failed by a chaos script (with the default fault maker, [`InjectError`]).
///
/// Deliberately *not* one of this library's own errors: classifiers see it as the dependency
/// failing, so retry, breakers and failover react to it as to a real failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("injected fault")]
#[non_exhaustive]
pub struct InjectedFault {
    /// The fault that failed the call.
    pub fault: Fault,
}

impl InjectedFault {
    /// The error for `fault`.
    pub const fn new(fault: Fault) -> Self {
        InjectedFault { fault }
    }
}

impl From<InjectedFault> for std::io::Error {
    fn from(e: InjectedFault) -> Self {
        std::io::Error::other(e)
    }
}
