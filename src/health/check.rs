//! Health checks: the [`HealthCheck`] trait, checks from closures, and the driver that runs them
//! on every endpoint's own schedule.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};

use super::table::{HealthTable, Thresholds};
use crate::error::ConfigError;
use crate::event::{Event, OnEvent};
use crate::failover::FailoverHandle;

/// An active probe of one endpoint, by name: for example `GET /health`, expecting 200.
///
/// The driver calls [`check`](Self::check) on every endpoint's schedule and races the future
/// against its timeout: `Ok(())` is a pass, `Err(e)` a failure (`e`'s `Display` text becomes the
/// endpoint's [`last_error`](super::EndpointHealth::last_error)), and a future still pending at
/// the timeout a failure too. The future owns what it needs: it may not borrow the name (copy
/// what it needs from it, such as the endpoint's URL, before the `async` block).
///
/// A check is for *this client's* view of an endpoint: whether it can be reached and answers.
/// Keep it cheap for the endpoint (a dedicated, dependency-free health route), since every
/// client instance runs it on every interval.
///
/// [`check_fn`] makes one from a closure.
pub trait HealthCheck {
    /// Why a check failed.
    type Error: fmt::Display;
    /// A running check.
    type Future: Future<Output = Result<(), Self::Error>>;

    /// Starts a check of endpoint `endpoint`.
    fn check(&self, endpoint: &str) -> Self::Future;
}

/// A [`HealthCheck`] from a closure `Fn(&str) -> impl Future<Output = Result<(), E>>`, where
/// `E: Display` (a [`BoxError`](crate::BoxError), a client's error, a `String`).
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Arc;
/// use steadfast::BoxError;
/// use steadfast::health::check_fn;
///
/// # async fn get(_url: String) -> Result<u16, BoxError> { Ok(200) }
/// let urls: Arc<HashMap<String, String>> = Arc::new(HashMap::from([
///     ("us-east-2".into(), "http://east.internal/health".into()),
///     ("us-west-1".into(), "http://west.internal/health".into()),
/// ]));
/// let check = check_fn(move |endpoint| {
///     // Copy what the future needs out of the name: it may not borrow it.
///     let url = urls.get(endpoint).cloned();
///     async move {
///         let url = url.ok_or("no URL for this endpoint")?;
///         match get(url).await? {
///             200 => Ok(()),
///             status => Err(BoxError::from(format!("status {status}"))),
///         }
///     }
/// });
/// # let _ = check;
/// ```
pub fn check_fn<F, Fut, E>(f: F) -> CheckFn<F>
where
    F: Fn(&str) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    CheckFn { f }
}

/// A [`HealthCheck`] from a closure: see [`check_fn`].
#[derive(Clone, Copy)]
pub struct CheckFn<F> {
    f: F,
}

impl<F> fmt::Debug for CheckFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckFn").finish_non_exhaustive()
    }
}

impl<F, Fut, E> HealthCheck for CheckFn<F>
where
    F: Fn(&str) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    type Error = E;
    type Future = Fut;

    fn check(&self, endpoint: &str) -> Fut {
        (self.f)(endpoint)
    }
}

/// The longest duration the driver waits for: longer intervals and timeouts count as this
/// (about 30 years, tokio's own "far future"), so no instant computation can overflow.
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `at + d`, with `d` capped at [`FAR`]; never panics.
fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d.min(FAR)).unwrap_or(at)
}

const NANO: Duration = Duration::from_nanos(1);

/// Runs `f` (starting or polling a check), turning a panic into the check's failure text:
/// `check panicked: <message>`. The check is the caller's code; a panic in it must not end the
/// driver, which checks every other endpoint too.
fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        match message {
            Some(m) => format!("check panicked: {m}"),
            None => "check panicked".to_owned(),
        }
    })
}

/// The first instant of the grid through `next` (every `interval`) that is not before `now`.
fn on_grid(next: Instant, now: Instant, interval: Duration) -> Instant {
    if next >= now {
        return next;
    }
    let step = interval.min(FAR).as_nanos();
    let skipped = (now - next).as_nanos().div_ceil(step).saturating_mul(step);
    later(
        next,
        Duration::from_nanos(u64::try_from(skipped).unwrap_or(u64::MAX)),
    )
}

/// The plain settings of a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    interval: Duration,
    timeout: Duration,
    thresholds: Thresholds,
}

/// What is checked: a failover's endpoints (their health feeds its routing), or named endpoints
/// on their own (their health is only reported).
#[derive(Debug, Clone)]
enum Target {
    Failover(FailoverHandle),
    Endpoints(Vec<Arc<str>>),
}

/// Builds a [`HealthDriver`]; every setter documents its default. See the
/// [module docs](super#health-checks).
pub struct HealthChecks<C, H = ()> {
    target: Target,
    check: C,
    settings: Settings,
    hook: H,
}

impl<C, H> fmt::Debug for HealthChecks<C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthChecks")
            .field("target", &self.target)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<C> HealthChecks<C> {
    fn with(target: Target, check: C) -> Self {
        HealthChecks {
            target,
            check,
            settings: Settings {
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(2),
                thresholds: Thresholds {
                    unhealthy_after: 3,
                    healthy_after: 3,
                },
            },
            hook: (),
        }
    }

    /// Checks every endpoint of a failover with `check`: an endpoint failing its checks is
    /// unavailable to the failover's calls (unless every endpoint fails them: then all count as
    /// available), and a passing check moves the endpoint's open breaker to half-open early.
    ///
    /// Run one driver per failover: two would overwrite each other's verdicts.
    pub fn failover(failover: FailoverHandle, check: C) -> Self {
        Self::with(Target::Failover(failover), check)
    }

    /// Checks endpoints that are not behind a failover (a database, a single-region service):
    /// their health is only recorded in the [`HealthTable`], for readiness reports.
    pub fn endpoints<I>(names: I, check: C) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let names = names.into_iter().map(|n| Arc::from(n.into())).collect();
        Self::with(Target::Endpoints(names), check)
    }
}

impl<C, H> HealthChecks<C, H> {
    /// How often each endpoint is checked: its checks start on a grid of this interval from the
    /// driver's first poll. Default 10 s.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.settings.interval = interval;
        self
    }

    /// How long one check may take: one still running then is cut, and counts as a failure.
    /// Default 2 s. A timeout as long as the interval or longer is allowed: see the
    /// [module docs](super#schedule).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// How many consecutive failed checks make a healthy endpoint unhealthy. Default 3.
    pub fn unhealthy_after(mut self, failures: u32) -> Self {
        self.settings.thresholds.unhealthy_after = failures;
        self
    }

    /// How many consecutive passed checks make an unhealthy endpoint healthy. Default 3.
    pub fn healthy_after(mut self, passes: u32) -> Self {
        self.settings.thresholds.healthy_after = passes;
        self
    }

    /// The hook that receives [`Event::HealthChanged`] for every change of verdict. Default:
    /// `()`.
    pub fn on_event<H2>(self, hook: H2) -> HealthChecks<C, H2> {
        HealthChecks {
            target: self.target,
            check: self.check,
            settings: self.settings,
            hook,
        }
    }

    /// The validated driver, every endpoint healthy (a failover's endpoints are marked healthy
    /// now, whatever an earlier driver left). No check runs until it is polled: spawn it.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the interval or the timeout is zero or longer than
    /// [`MAX_DURATION`](crate::MAX_DURATION), a threshold is zero, or (for
    /// [`endpoints`](HealthChecks::endpoints)) the list is empty, names an endpoint twice, or
    /// has a name that is empty or padded with whitespace.
    pub fn build(self) -> Result<HealthDriver<C, H>, ConfigError>
    where
        C: HealthCheck,
        H: OnEvent,
    {
        let Settings {
            interval,
            timeout,
            thresholds,
        } = self.settings;
        ConfigError::check_limit("health check interval", Some(interval))?;
        ConfigError::check_limit("health check timeout", Some(timeout))?;
        for (setting, value) in [
            ("health check unhealthy_after", thresholds.unhealthy_after),
            ("health check healthy_after", thresholds.healthy_after),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(setting, value, "at least 1"));
            }
        }
        let (names, failover) = match self.target {
            Target::Failover(handle) => {
                let names: Vec<Arc<str>> = handle.endpoints().map(Arc::from).collect::<Vec<_>>();
                for i in 0..names.len() {
                    handle.set_endpoint_health(i, true);
                }
                (names, Some(handle))
            }
            Target::Endpoints(names) => {
                if names.is_empty() {
                    return Err(ConfigError::invalid(
                        "health check endpoint count",
                        0,
                        "at least 1",
                    ));
                }
                for (i, name) in names.iter().enumerate() {
                    ConfigError::check_name("health check endpoint name", name)?;
                    if names[..i].contains(name) {
                        return Err(ConfigError::invalid(
                            "health check endpoint name",
                            name,
                            "a name given to one endpoint only",
                        ));
                    }
                }
                (names, None)
            }
        };
        let stale_after = interval.max(timeout).min(FAR).saturating_mul(3);
        let table = HealthTable::new(names.iter().cloned(), crate::clock::now(), stale_after);
        Ok(HealthDriver {
            check: self.check,
            hook: self.hook,
            settings: self.settings,
            names: names.into_boxed_slice(),
            failover,
            table,
            slots: Vec::new(),
        })
    }
}

pin_project! {
    /// One endpoint's schedule: the timer (the next check while idle, the running check's
    /// timeout while it runs) and the running check.
    struct Slot<F> {
        #[pin]
        timer: Sleep,
        #[pin]
        running: Option<F>,
        // The next instant of the endpoint's grid.
        next: Instant,
    }
}

/// The health-check driver: a future **that the caller spawns** (there is no hidden task). It
/// runs every endpoint's check on its own schedule, keeps the [`HealthTable`], feeds a
/// failover's routing and breakers, and never completes. See the
/// [module docs](super#health-checks).
///
/// ```no_run
/// # use steadfast::health::{check_fn, HealthChecks};
/// # async fn run(handle: steadfast::FailoverHandle) -> Result<(), steadfast::ConfigError> {
/// let driver = HealthChecks::failover(handle, check_fn(|_endpoint| async {
///     Ok::<(), steadfast::BoxError>(()) // GET /health, expecting 200
/// }))
/// .build()?;
/// let table = driver.table(); // for readiness reports
/// tokio::spawn(driver); // or select on it with your shutdown signal
/// # Ok(())
/// # }
/// ```
///
/// # Cancellation
///
/// Dropping the driver drops the running checks, and makes every endpoint it had found
/// unhealthy healthy again (in the table and, for a failover, in its routing, with an
/// [`Event::HealthChanged`] each): a verdict no check will revisit must not keep an endpoint
/// out of service.
///
/// # Panics
///
/// Polling it outside a tokio runtime with the time driver enabled panics, as
/// `tokio::time::sleep` does. Building it needs no runtime.
#[must_use = "a driver does nothing unless spawned or polled"]
pub struct HealthDriver<C: HealthCheck, H: OnEvent = ()> {
    check: C,
    hook: H,
    settings: Settings,
    names: Box<[Arc<str>]>,
    failover: Option<FailoverHandle>,
    table: HealthTable,
    // One per endpoint, made at the first poll (a timer needs the runtime); boxed, so that the
    // driver itself is never pinned.
    slots: Vec<Pin<Box<Slot<C::Future>>>>,
}

// The checks' futures are pinned in their own boxes; nothing else is ever pinned.
impl<C: HealthCheck, H: OnEvent> Unpin for HealthDriver<C, H> {}

impl<C: HealthCheck, H: OnEvent> fmt::Debug for HealthDriver<C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthDriver")
            .field("settings", &self.settings)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl<C: HealthCheck, H: OnEvent> HealthDriver<C, H> {
    /// The table this driver keeps: a cheap `Clone` handle, for readiness reports.
    pub fn table(&self) -> HealthTable {
        self.table.clone()
    }

    /// Records the end of endpoint `i`'s check at `now`, and acts on it.
    fn finish(&self, i: usize, result: Result<(), String>, now: Instant) {
        let now = now.into_std();
        let passed = result.is_ok();
        let changed = self.table.record(i, result, now, self.settings.thresholds);
        if let Some(healthy) = changed {
            self.changed(i, healthy);
        }
        if passed {
            if let Some(failover) = &self.failover {
                failover.endpoint_breaker(i).signal_healthy(now);
            }
        }
    }

    /// Endpoint `i`'s verdict changed to `healthy`: routing, then the event.
    fn changed(&self, i: usize, healthy: bool) {
        if let Some(failover) = &self.failover {
            failover.set_endpoint_health(i, healthy);
        }
        self.hook.on_event(&Event::HealthChanged {
            endpoint: &self.names[i],
            healthy,
        });
    }

    /// Drives endpoint `i`'s schedule as far as it goes now.
    fn poll_slot(&mut self, i: usize, cx: &mut Context<'_>) {
        let Settings {
            interval, timeout, ..
        } = self.settings;
        loop {
            let mut slot = self.slots[i].as_mut().project();
            if let Some(check) = slot.running.as_mut().as_pin_mut() {
                // The check first: one that completes at its timeout's instant passes.
                // A check that panics fails, as this endpoint's check only.
                let polled = catch_panic(|| check.poll(cx).map(|r| r.map_err(|e| e.to_string())));
                let result = match polled {
                    Ok(Poll::Ready(result)) => result,
                    Err(panicked) => Err(panicked),
                    Ok(Poll::Pending) => match slot.timer.as_mut().poll(cx) {
                        Poll::Ready(()) => Err(format!("check timed out after {timeout:?}")),
                        Poll::Pending => return,
                    },
                };
                slot.running.set(None);
                let now = Instant::now();
                // The next check starts at the first instant of the grid not before now: ticks
                // a long check overlapped are skipped.
                *slot.next = on_grid(*slot.next, now, interval);
                slot.timer.as_mut().reset(*slot.next);
                self.finish(i, result, now);
            } else {
                if slot.timer.as_mut().poll(cx).is_pending() {
                    return;
                }
                // A check starts now; the next one at the first instant of the grid after now
                // (a timer woken late never makes two checks in a row).
                let now = Instant::now();
                *slot.next = on_grid(later(*slot.next, interval), later(now, NANO), interval);
                match catch_panic(|| self.check.check(&self.names[i])) {
                    Ok(check) => {
                        slot.timer.as_mut().reset(later(now, timeout));
                        slot.running.set(Some(check));
                    }
                    Err(panicked) => {
                        slot.timer.as_mut().reset(*slot.next);
                        self.finish(i, Err(panicked), now);
                    }
                }
            }
        }
    }
}

impl<C: HealthCheck, H: OnEvent> Future for HealthDriver<C, H> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.slots.is_empty() {
            let start = Instant::now();
            this.slots = (0..this.names.len())
                .map(|_| {
                    Box::pin(Slot {
                        timer: sleep_until(start),
                        running: None,
                        next: start,
                    })
                })
                .collect();
        }
        for i in 0..this.slots.len() {
            this.poll_slot(i, cx);
        }
        Poll::Pending
    }
}

impl<C: HealthCheck, H: OnEvent> Drop for HealthDriver<C, H> {
    fn drop(&mut self) {
        let now = crate::clock::now();
        for i in 0..self.names.len() {
            if self.table.reset(i, now) {
                self.changed(i, true);
            }
        }
    }
}
