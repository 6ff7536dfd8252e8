//! The pure part of chaos: a validated [`Script`] of faults, and the rule deciding what it does to
//! one call, [`Script::decide`], a function of the seed, the call's number and the time since the
//! script started. No clock, no runtime: the layer and a simulator read the same decisions.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::time::Duration;

use crate::error::ConfigError;
use crate::rng::{GOLDEN, entropy_seed, mix};

/// The longest duration a script accepts, for a latency or a window's bounds: 365 days, the
/// crate's one rule ([`crate::MAX_DURATION`]).
///
/// A longer latency is a hang (use [`ScriptBuilder::hang_rate`] or [`ScriptBuilder::hangs`]),
/// and a window that ends later is open-ended (`from..`). Anything beyond is taken for a unit
/// mistake and refused when the script is built.
pub use crate::error::MAX_DURATION;

/// What a script does to a call that it does not leave alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// The call is slowed by [`Fault::delay`], then proceeds to the inner service.
    Latency,
    /// The call fails after [`Fault::delay`] (zero: at once) with the error or response the
    /// layer's fault maker makes; the inner service is not called.
    Error,
    /// The call never completes (until it is dropped); the inner service is not called.
    Hang,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Latency => "latency",
            FaultKind::Error => "error",
            FaultKind::Hang => "hang",
        })
    }
}

/// One injected fault: what [`Script::decide`] returns for a call it does not leave alone, what
/// the layer reports in [`Event::Fault`](crate::event::Event::Fault), and what its fault maker
/// receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Fault {
    /// What happens to the call.
    pub kind: FaultKind,
    /// The latency added before the call proceeds or fails (zero for a hang, and for an error
    /// when the script adds no latency).
    pub delay: Duration,
    /// The call's number since the script started: 0 for the first call.
    pub call: u64,
    /// The window that caused the fault, by its position among the script's windows in the
    /// order they were added; `None` when the base rates or latency caused it.
    pub window: Option<usize>,
}

/// Added latency: a uniform range, optionally with a tail (a share of calls slowed much more).
///
/// Every constructor is infallible; the values are checked when the [`Script`] is built. A
/// zero delay is no fault at all.
///
/// ```
/// use std::time::Duration;
/// use steadfast::chaos::Latency;
///
/// let ms = Duration::from_millis;
/// let fixed = Latency::fixed(ms(50));                                   // every call +50 ms
/// let spread = Latency::uniform(ms(10), ms(30));                        // +10..30 ms
/// let tail = Latency::fixed(ms(20)).with_tail(0.01, ms(2000), ms(2000)); // 1 % take +2 s instead
/// # let _ = (fixed, spread, tail);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    min: Duration,
    max: Duration,
    tail_share: f64,
    tail_min: Duration,
    tail_max: Duration,
}

impl Latency {
    /// No added latency (the default).
    pub const fn none() -> Self {
        Latency::fixed(Duration::ZERO)
    }

    /// Every call is slowed by exactly `delay`.
    pub const fn fixed(delay: Duration) -> Self {
        Latency::uniform(delay, delay)
    }

    /// Every call is slowed by a delay drawn uniformly from `[min, max)` (exactly `min` when
    /// they are equal). `min` must not exceed `max`.
    pub const fn uniform(min: Duration, max: Duration) -> Self {
        Latency {
            min,
            max,
            tail_share: 0.0,
            tail_min: Duration::ZERO,
            tail_max: Duration::ZERO,
        }
    }

    /// The same latency, except that a `share` of calls (in [0, 1]) is slowed by a delay drawn
    /// uniformly from `[min, max)` instead: the slow tail of a real dependency.
    pub const fn with_tail(mut self, share: f64, min: Duration, max: Duration) -> Self {
        self.tail_share = share;
        self.tail_min = min;
        self.tail_max = max;
        self
    }

    /// Whether no call is ever slowed.
    pub fn is_none(&self) -> bool {
        self.max.is_zero() && (self.tail_share == 0.0 || self.tail_max.is_zero())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_range("chaos latency", self.min, self.max)?;
        check_rate("chaos latency tail share", self.tail_share)?;
        check_range("chaos latency tail", self.tail_min, self.tail_max)
    }

    /// The delay for one call, from two independent uniform draws.
    fn sample(&self, tail: f64, offset: u64) -> Duration {
        let (min, max) = if tail < self.tail_share {
            (self.tail_min, self.tail_max)
        } else {
            (self.min, self.max)
        };
        // Both bounds are at most MAX_DURATION (validated), so the span fits in a u64 of
        // nanoseconds and the product in a u128: exact integer arithmetic, no panic.
        let span = (max - min).as_nanos() as u64;
        let within = ((u128::from(span) * u128::from(offset >> 11)) >> 53) as u64;
        min + Duration::from_nanos(within)
    }
}

fn check_rate(setting: &'static str, rate: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(ConfigError::invalid(setting, rate, "a number in [0, 1]"))
    }
}

fn check_range(setting: &'static str, min: Duration, max: Duration) -> Result<(), ConfigError> {
    ConfigError::check_duration(setting, max)?;
    if min > max {
        Err(ConfigError::invalid(
            setting,
            min..max,
            "a range whose minimum is at most its maximum",
        ))
    } else {
        Ok(())
    }
}

/// What a window does while it is active.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Effect {
    /// Calls fail at this rate (1 for an outage).
    Errors(f64),
    /// Every call hangs.
    Hangs,
    /// Calls are slowed by this latency instead of the base latency.
    Slow(Latency),
}

/// A time window of a script, relative to its start: `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    from: Duration,
    /// `None`: open-ended.
    until: Option<Duration>,
    effect: Effect,
}

impl Window {
    fn contains(&self, elapsed: Duration) -> bool {
        self.from <= elapsed && self.until.is_none_or(|until| elapsed < until)
    }
}

/// A chaos script: the faults to inject, and when. Built by [`Script::builder`], validated once.
///
/// A script has **base** faults, which apply to every call (an error rate, a hang rate, a
/// latency), and **windows**, which apply from one instant to another relative to the script's
/// start: outages (every call errors, or every call hangs), brownouts (an error rate), and
/// slowdowns (a latency). See [`decide`](Self::decide) for how they combine.
///
/// The default script injects nothing.
///
/// # Clone
///
/// A script is plain data: a clone is an independent copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    seed: u64,
    error_rate: f64,
    hang_rate: f64,
    latency: Latency,
    windows: Vec<Window>,
}

impl Default for Script {
    /// A script that injects nothing.
    fn default() -> Self {
        Script {
            seed: 0,
            error_rate: 0.0,
            hang_rate: 0.0,
            latency: Latency::none(),
            windows: Vec::new(),
        }
    }
}

impl Script {
    /// A builder for a script that injects nothing until told to. Each setter documents its
    /// default.
    pub fn builder() -> ScriptBuilder {
        ScriptBuilder {
            script: Script::default(),
            seed: None,
            error: None,
        }
    }

    /// The seed of the script's draws: log it to replay a run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether the script has windows, so that a decision needs the time since the start. A
    /// script without windows never needs a clock.
    pub fn has_windows(&self) -> bool {
        !self.windows.is_empty()
    }

    /// Whether the script never injects anything.
    pub fn is_empty(&self) -> bool {
        self.error_rate == 0.0
            && self.hang_rate == 0.0
            && self.latency.is_none()
            && self.windows.is_empty()
    }

    /// What the script does to call number `call` (0 for the first since the start), made
    /// `elapsed` after the script's start: `None` to leave it alone, or the [`Fault`] to inject.
    ///
    /// A pure function of the seed, `call` and `elapsed`: the same three give the same decision
    /// on every platform and in every release of this crate with the same major version.
    ///
    /// The rules, in order:
    ///
    /// 1. **Hang** with the hang rate in effect: the highest of the base hang rate and of every
    ///    active [`hangs`](ScriptBuilder::hangs) window (1).
    /// 2. Otherwise **error** with the error rate in effect: the highest of the base error rate,
    ///    of every active [`brownout`](ScriptBuilder::brownout) and of every active
    ///    [`outage`](ScriptBuilder::outage) (1). The error comes after the latency in effect.
    /// 3. Otherwise, if the latency in effect draws a delay above zero, **latency**.
    ///
    /// The latency in effect is the first active [`slowdown`](ScriptBuilder::slowdown)'s, or the
    /// base latency. Windows are half-open, `[from, until)`: a call at exactly `until` is
    /// outside. Each rule draws its own number, so that raising one rate never changes which
    /// calls another rule picks, and a call that fails at one error rate fails at every higher
    /// one.
    pub fn decide(&self, call: u64, elapsed: Duration) -> Option<Fault> {
        let (mut hang_rate, mut hang_window) = (self.hang_rate, None);
        let (mut error_rate, mut error_window) = (self.error_rate, None);
        let (mut latency, mut latency_window) = (&self.latency, None);
        for (i, w) in self.windows.iter().enumerate() {
            if !w.contains(elapsed) {
                continue;
            }
            match &w.effect {
                Effect::Hangs if hang_rate < 1.0 => (hang_rate, hang_window) = (1.0, Some(i)),
                Effect::Errors(rate) if *rate > error_rate => {
                    (error_rate, error_window) = (*rate, Some(i));
                }
                Effect::Slow(l) if latency_window.is_none() => {
                    (latency, latency_window) = (l, Some(i))
                }
                _ => {}
            }
        }
        // One SplitMix64 stream per call, from the call's number scrambled into the seed: draw
        // `k` is the stream's `k + 1`-th output, computed only if its rule can fire.
        let base = self.seed ^ mix(call);
        let draw = |k: u64| mix(base.wrapping_add(GOLDEN.wrapping_mul(k + 1)));
        let fault = |kind, delay, window| {
            Some(Fault {
                kind,
                delay,
                call,
                window,
            })
        };
        if hang_rate > 0.0 && unit(draw(0)) < hang_rate {
            return fault(FaultKind::Hang, Duration::ZERO, hang_window);
        }
        let delay = if latency.is_none() {
            Duration::ZERO
        } else {
            latency.sample(unit(draw(2)), draw(3))
        };
        if error_rate > 0.0 && unit(draw(1)) < error_rate {
            fault(FaultKind::Error, delay, error_window)
        } else if !delay.is_zero() {
            fault(FaultKind::Latency, delay, latency_window)
        } else {
            None
        }
    }
}

/// A uniform number in `[0, 1)` from the top 53 bits of a draw.
fn unit(z: u64) -> f64 {
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
/// Builds a [`Script`]. Windows are relative to the script's start (see
/// [`ChaosHandle`](super::ChaosHandle)) and take any range of durations: `a..b`, `a..=b`,
/// `a..` (until the script is replaced), `..b` and `..`.
#[derive(Debug, Clone)]
pub struct ScriptBuilder {
    script: Script,
    seed: Option<u64>,
    /// The first invalid window, reported by `build`.
    error: Option<ConfigError>,
}

impl ScriptBuilder {
    /// The seed of the draws. Default: a seed drawn from the process's entropy when the script
    /// is built ([`Script::seed`] tells which). Set one for a reproducible run.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The share of calls, in [0, 1], that fail (outside any window too). Default 0.
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.script.error_rate = rate;
        self
    }

    /// The share of calls, in [0, 1], that hang until dropped. Default 0.
    pub fn hang_rate(mut self, rate: f64) -> Self {
        self.script.hang_rate = rate;
        self
    }

    /// The latency added to every call outside slowdowns. Default: none.
    pub fn latency(mut self, latency: Latency) -> Self {
        self.script.latency = latency;
        self
    }

    /// An outage: every call made during `window` fails.
    pub fn outage(self, window: impl RangeBounds<Duration>) -> Self {
        self.window(window, Effect::Errors(1.0))
    }

    /// An outage in which every call made during `window` hangs until dropped (a dependency
    /// that accepts connections and never answers).
    pub fn hangs(self, window: impl RangeBounds<Duration>) -> Self {
        self.window(window, Effect::Hangs)
    }

    /// A brownout: calls made during `window` fail at `rate`, in [0, 1] (or at the base rate,
    /// if that is higher).
    pub fn brownout(self, window: impl RangeBounds<Duration>, rate: f64) -> Self {
        self.window(window, Effect::Errors(rate))
    }

    /// A slowdown: calls made during `window` are slowed by `latency` instead of the base
    /// latency.
    pub fn slowdown(self, window: impl RangeBounds<Duration>, latency: Latency) -> Self {
        self.window(window, Effect::Slow(latency))
    }

    fn window(mut self, window: impl RangeBounds<Duration>, effect: Effect) -> Self {
        let from = match window.start_bound() {
            Bound::Included(d) => Some(*d),
            Bound::Excluded(d) => d.checked_add(Duration::from_nanos(1)),
            Bound::Unbounded => Some(Duration::ZERO),
        };
        let until = match window.end_bound() {
            Bound::Included(d) => d.checked_add(Duration::from_nanos(1)).map(Some),
            Bound::Excluded(d) => Some(Some(*d)),
            Bound::Unbounded => Some(None),
        };
        match (from, until) {
            (Some(from), Some(until)) => self.script.windows.push(Window {
                from,
                until,
                effect,
            }),
            _ => {
                self.error.get_or_insert(ConfigError::invalid(
                    "chaos window",
                    (window.start_bound(), window.end_bound()),
                    "bounds of at most 365 days",
                ));
            }
        }
        self
    }

    /// The script.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] unless: every rate and share is in [0, 1] (not NaN); every latency's
    /// minimum is at most its maximum; every window ends after it starts; and every duration is
    /// at most [`MAX_DURATION`].
    pub fn build(self) -> Result<Script, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut script = self.script;
        check_rate("chaos error rate", script.error_rate)?;
        check_rate("chaos hang rate", script.hang_rate)?;
        script.latency.validate()?;
        for w in &script.windows {
            let end = w.until.unwrap_or(w.from);
            check_range("chaos window", w.from, end)?;
            if w.until.is_some_and(|until| until <= w.from) {
                return Err(ConfigError::invalid(
                    "chaos window",
                    w.from..end,
                    "a window that ends after it starts",
                ));
            }
            match &w.effect {
                Effect::Errors(rate) => check_rate("chaos brownout rate", *rate)?,
                Effect::Slow(latency) => latency.validate()?,
                Effect::Hangs => {}
            }
        }
        script.seed = self.seed.unwrap_or_else(entropy_seed);
        Ok(script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn empty_script_never_faults() {
        let s = Script::builder().seed(1).build().unwrap();
        assert!(s.is_empty());
        assert!((0..1000).all(|i| s.decide(i, ms(i)).is_none()));
    }

    #[test]
    fn outage_is_half_open() {
        let s = Script::builder()
            .seed(3)
            .outage(ms(100)..ms(200))
            .build()
            .unwrap();
        assert_eq!(s.decide(0, ms(99)), None);
        let f = s.decide(0, ms(100)).unwrap();
        assert_eq!(
            (f.kind, f.window, f.delay),
            (FaultKind::Error, Some(0), ms(0))
        );
        assert!(s.decide(1, ms(199)).is_some());
        assert_eq!(s.decide(2, ms(200)), None);
    }

    #[test]
    fn inclusive_and_open_ranges() {
        let s = Script::builder()
            .seed(3)
            .hangs(ms(10)..=ms(20))
            .outage(ms(50)..)
            .build()
            .unwrap();
        assert_eq!(s.decide(0, ms(20)).unwrap().kind, FaultKind::Hang);
        assert_eq!(s.decide(0, ms(20) + Duration::from_nanos(1)), None);
        assert_eq!(s.decide(0, MAX_DURATION * 2).unwrap().window, Some(1));
    }

    #[test]
    fn hang_beats_error_and_latency() {
        let s = Script::builder()
            .seed(9)
            .error_rate(1.0)
            .latency(Latency::fixed(ms(5)))
            .hangs(..)
            .build()
            .unwrap();
        let f = s.decide(0, ms(0)).unwrap();
        assert_eq!(
            (f.kind, f.delay, f.window),
            (FaultKind::Hang, ms(0), Some(0))
        );
    }

    #[test]
    fn error_carries_the_latency() {
        let s = Script::builder()
            .seed(9)
            .error_rate(1.0)
            .latency(Latency::fixed(ms(5)))
            .build()
            .unwrap();
        let f = s.decide(7, ms(0)).unwrap();
        assert_eq!(
            (f.kind, f.delay, f.call, f.window),
            (FaultKind::Error, ms(5), 7, None)
        );
    }

    #[test]
    fn slowdown_replaces_base_latency() {
        let s = Script::builder()
            .seed(9)
            .latency(Latency::fixed(ms(5)))
            .slowdown(ms(10)..ms(20), Latency::fixed(ms(500)))
            .build()
            .unwrap();
        assert_eq!(s.decide(0, ms(0)).unwrap().delay, ms(5));
        let f = s.decide(0, ms(10)).unwrap();
        assert_eq!(
            (f.kind, f.delay, f.window),
            (FaultKind::Latency, ms(500), Some(0))
        );
    }

    #[test]
    fn uniform_latency_within_bounds_and_spread() {
        let s = Script::builder()
            .seed(5)
            .latency(Latency::uniform(ms(10), ms(20)))
            .build()
            .unwrap();
        let delays: Vec<_> = (0..10_000)
            .map(|i| s.decide(i, ms(0)).unwrap().delay)
            .collect();
        assert!(delays.iter().all(|d| (ms(10)..ms(20)).contains(d)));
        assert!(delays.iter().any(|d| *d < ms(11)));
        assert!(delays.iter().any(|d| *d >= ms(19)));
    }

    #[test]
    fn tail_share() {
        let s = Script::builder()
            .seed(5)
            .latency(Latency::fixed(ms(10)).with_tail(0.05, ms(1000), ms(1000)))
            .build()
            .unwrap();
        let slow = (0..10_000)
            .filter(|i| s.decide(*i, ms(0)).unwrap().delay == ms(1000))
            .count();
        // 500 expected; the binomial standard deviation is 22.
        assert!((430..=570).contains(&slow), "{slow}");
    }

    #[test]
    fn config_errors() {
        let bad = [
            Script::builder().error_rate(f64::NAN).build(),
            Script::builder().error_rate(1.5).build(),
            Script::builder().hang_rate(-0.1).build(),
            Script::builder().brownout(ms(0)..ms(5), 2.0).build(),
            Script::builder().outage(ms(5)..ms(5)).build(),
            #[allow(clippy::reversed_empty_ranges)]
            Script::builder().outage(ms(5)..ms(4)).build(),
            Script::builder().outage(..MAX_DURATION * 2).build(),
            Script::builder().outage(ms(0)..=Duration::MAX).build(),
            Script::builder()
                .latency(Latency::uniform(ms(5), ms(4)))
                .build(),
            Script::builder()
                .latency(Latency::fixed(Duration::MAX))
                .build(),
            Script::builder()
                .latency(Latency::none().with_tail(f64::INFINITY, ms(1), ms(2)))
                .build(),
            Script::builder()
                .slowdown(.., Latency::uniform(ms(3), ms(1)))
                .build(),
        ];
        for (i, r) in bad.into_iter().enumerate() {
            assert!(r.is_err(), "case {i} built");
        }
        let e = Script::builder().error_rate(f64::NAN).build().unwrap_err();
        assert_eq!(
            e.to_string(),
            "chaos error rate is NaN, expected a number in [0, 1]"
        );
        let e = Script::builder().outage(ms(5)..ms(5)).build().unwrap_err();
        assert_eq!(
            e.to_string(),
            "chaos window is 5ms..5ms, expected a window that ends after it starts"
        );
    }

    #[test]
    fn unseeded_scripts_differ() {
        let a = Script::builder().build().unwrap();
        let b = Script::builder().build().unwrap();
        assert_ne!(a.seed(), b.seed());
    }
}
