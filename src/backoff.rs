//! Schedules of delays between retries, with jitter.
//!
//! # Why jitter, and why these presets
//!
//! A fleet of clients that all see the same failure at the same moment and retry on the same
//! schedule hit the recovering dependency in synchronised waves. Jitter spreads each wave out.
//! The presets [`standard()`](Backoff::standard) and [`extended()`](Backoff::extended) carry
//! [`Jitter::Equal`], which keeps at least half of each delay (so the schedule still backs off)
//! and randomises the rest. The layers' default schedule, [`Backoff::default()`], *is*
//! `standard()`: passing the preset explicitly changes nothing. The constructors that take
//! explicit delays ([`constant`](Backoff::constant), [`exponential`](Backoff::exponential),
//! [`list`](Backoff::list)) are exact until [`with_jitter`](Backoff::with_jitter) says otherwise,
//! and a test that wants exact instants from a preset says `.with_jitter(Jitter::None)`.
//!
//! "Retries" never count the first call: a schedule of 3 retries makes at most 4 calls.
//!
//! | preset | retries | nominal delays (before jitter) | jitter |
//! | --- | --- | --- | --- |
//! | [`standard()`](Backoff::standard) | 3 | 500 ms, 1 s, 2 s (doubling, cap 20 s) | equal |
//! | [`extended()`](Backoff::extended) | 5 | 250 ms, 500 ms, 1 s, 2 s, 2 s (doubling, cap 2 s) | equal |
//!
//! | jitter | delay for a nominal delay `d` |
//! | --- | --- |
//! | [`None`](Jitter::None) | `d` |
//! | [`Full`](Jitter::Full) | uniform in `[0, d]` |
//! | [`Equal`](Jitter::Equal) | uniform in `[d/2, d]` |
//! | [`Decorrelated`](Jitter::Decorrelated) | `min(cap, uniform in [base, 3 · previous])`, starting from `previous = base` |
//!
//! Besides the presets: [`constant`](Backoff::constant), [`linear`](Backoff::linear),
//! [`exponential`](Backoff::exponential) and [`list`](Backoff::list) schedules.
//!
//! No jitter ever exceeds the schedule's cap. Jitter draws from a seeded generator, so the same
//! seed gives the same delays on every platform; [`delays_from`](Backoff::delays_from) draws
//! from a source of the caller's instead (a test's fixed numbers).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use steadfast::backoff::{Backoff, Jitter};
//!
//! let ms = Duration::from_millis;
//! // The preset is jittered: each delay is between half its nominal value and all of it.
//! for (d, nominal) in Backoff::standard().delays(0).zip([500, 1000, 2000]) {
//!     assert!(d >= ms(nominal / 2) && d <= ms(nominal));
//! }
//! // Exact delays, for a test or a demo, say so.
//! let exact: Vec<_> = Backoff::standard().with_jitter(Jitter::None).delays(0).collect();
//! assert_eq!(exact, [ms(500), ms(1000), ms(2000)]);
//!
//! let custom = Backoff::exponential(ms(100), 3.0, ms(1000), 4)?.with_jitter(Jitter::Full);
//! for d in custom.delays(42) {
//!     assert!(d <= ms(1000));
//! }
//!
//! // Invalid parameters are an error, never a panic.
//! assert!(Backoff::exponential(ms(100), 0.5, ms(1000), 3).is_err());
//! # Ok::<(), steadfast::ConfigError>(())
//! ```

use std::time::Duration;

use crate::error::ConfigError;
use crate::rng::SplitMix64;

/// The most delays an explicit list may hold.
///
/// A schedule is `Copy` so that every call can carry its own without sharing or reference
/// counting; a fixed-size list keeps it so. For longer schedules use
/// [`exponential`](Backoff::exponential), or [`with_max_retries`](Backoff::with_max_retries) to
/// repeat a list's last delay.
pub const MAX_LISTED_DELAYS: usize = 8;

/// How delays are randomised. See the [module docs](self) for the formulas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// Exactly the nominal delay.
    #[default]
    None,
    /// Uniform in `[0, d]`: the widest spread, and the shortest mean delay.
    Full,
    /// Uniform in `[d/2, d]`: still backs off, spread over the upper half.
    Equal,
    /// `min(cap, uniform in [base, 3 · previous])`: each delay grows from the last one drawn.
    Decorrelated,
}

/// A schedule of delays between retries: how many retries, how long before each, and jitter.
///
/// `Copy`, and at most a few dozen bytes, so each call carries its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    shape: Shape,
    max_retries: u32,
    jitter: Jitter,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// `min(cap, base · factor^(n-1))` nanoseconds before retry `n`.
    Exponential { base: u64, factor: f64, cap: u64 },
    /// `min(cap, base + step · (n-1))` nanoseconds before retry `n`.
    Linear { base: u64, step: u64, cap: u64 },
    /// `delays[min(n, len) - 1]` nanoseconds before retry `n`.
    List {
        delays: [u64; MAX_LISTED_DELAYS],
        len: u8,
    },
}

const MS: u64 = 1_000_000;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `x` nanoseconds, rounded half up, never above `cap`; NaN is zero.
fn capped(x: f64, cap: u64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= cap as f64 {
        cap
    } else {
        ((x + 0.5) as u64).min(cap)
    }
}

/// A schedule's cap is at least its base delay.
fn check_cap(base: Duration, cap: Duration) -> Result<(), ConfigError> {
    if cap < base {
        Err(ConfigError::invalid(
            "backoff cap",
            cap,
            "at least the base delay",
        ))
    } else {
        Ok(())
    }
}

impl Backoff {
    /// 3 retries after nominal delays of 500 ms, 1 s and 2 s (doubling from 500 ms, capped at
    /// 20 s if more retries are configured), with [`Jitter::Equal`]: each delay is drawn in
    /// `[d/2, d]`. This is [`Backoff::default()`], the layers' default.
    ///
    /// For exact delays (a test asserting instants), add `.with_jitter(Jitter::None)`.
    pub const fn standard() -> Self {
        Backoff {
            shape: Shape::Exponential {
                base: 500 * MS,
                factor: 2.0,
                cap: 20_000 * MS,
            },
            max_retries: 3,
            jitter: Jitter::Equal,
        }
    }

    /// 5 retries after nominal delays of 250 ms, 500 ms, 1 s, 2 s and 2 s (doubling from
    /// 250 ms, capped at 2 s), with [`Jitter::Equal`] like [`standard()`](Self::standard).
    ///
    /// For exact delays, add `.with_jitter(Jitter::None)`.
    pub const fn extended() -> Self {
        Backoff {
            shape: Shape::Exponential {
                base: 250 * MS,
                factor: 2.0,
                cap: 2_000 * MS,
            },
            max_retries: 5,
            jitter: Jitter::Equal,
        }
    }

    /// No retries at all.
    pub const fn none() -> Self {
        Self::constant(Duration::ZERO, 0)
    }

    /// `max_retries` retries, each after exactly `delay` (no jitter until
    /// [`with_jitter`](Self::with_jitter)).
    pub const fn constant(delay: Duration, max_retries: u32) -> Self {
        let d = match delay.as_secs().checked_mul(1_000_000_000) {
            Some(s) => s.saturating_add(delay.subsec_nanos() as u64),
            None => u64::MAX,
        };
        Backoff {
            shape: Shape::Exponential {
                base: d,
                factor: 1.0,
                cap: d,
            },
            max_retries,
            jitter: Jitter::None,
        }
    }

    /// `max_retries` retries sleeping `base`, `base · factor`, `base · factor²`, … each capped
    /// at `cap`, exactly (no jitter until [`with_jitter`](Self::with_jitter)).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if `factor` is NaN, infinite or below 1, or `cap` is below `base`.
    pub fn exponential(
        base: Duration,
        factor: f64,
        cap: Duration,
        max_retries: u32,
    ) -> Result<Self, ConfigError> {
        if !(factor.is_finite() && factor >= 1.0) {
            return Err(ConfigError::invalid(
                "backoff factor",
                factor,
                "a finite number of at least 1",
            ));
        }
        check_cap(base, cap)?;
        Ok(Backoff {
            shape: Shape::Exponential {
                base: nanos(base),
                factor,
                cap: nanos(cap),
            },
            max_retries,
            jitter: Jitter::None,
        })
    }

    /// `max_retries` retries sleeping `base`, `base + step`, `base + 2 · step`, … each capped at
    /// `cap`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::backoff::Backoff;
    ///
    /// let s = Duration::from_secs;
    /// let linear = Backoff::linear(s(1), s(2), s(6), 5)?;
    /// assert_eq!(linear.delays(0).collect::<Vec<_>>(), [s(1), s(3), s(5), s(6), s(6)]);
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if `cap` is below `base`.
    pub fn linear(
        base: Duration,
        step: Duration,
        cap: Duration,
        max_retries: u32,
    ) -> Result<Self, ConfigError> {
        check_cap(base, cap)?;
        Ok(Backoff {
            shape: Shape::Linear {
                base: nanos(base),
                step: nanos(step),
                cap: nanos(cap),
            },
            max_retries,
            jitter: Jitter::None,
        })
    }

    /// One retry per delay listed, sleeping exactly those delays (the cap is the longest; no
    /// jitter until [`with_jitter`](Self::with_jitter)).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if more than [`MAX_LISTED_DELAYS`] delays are given.
    pub fn list(delays: impl IntoIterator<Item = Duration>) -> Result<Self, ConfigError> {
        let mut out = [0u64; MAX_LISTED_DELAYS];
        let mut len = 0usize;
        for d in delays {
            if len == MAX_LISTED_DELAYS {
                return Err(ConfigError::invalid(
                    "backoff delay list length",
                    len + 1,
                    "at most 8 delays (use an exponential schedule for longer ones)",
                ));
            }
            out[len] = nanos(d);
            len += 1;
        }
        Ok(Backoff {
            shape: Shape::List {
                delays: out,
                len: len as u8,
            },
            max_retries: len as u32,
            jitter: Jitter::None,
        })
    }

    /// The same schedule with another jitter.
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The same schedule with another number of retries. A list repeats its last delay for
    /// retries beyond its length.
    pub const fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// How many retries the schedule allows (not counting the first call).
    #[inline]
    pub const fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The jitter applied to the nominal delays.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The longest delay the schedule can produce, with any jitter.
    pub fn cap(&self) -> Duration {
        Duration::from_nanos(self.bounds().1)
    }

    /// The delay before retry number `retry` (1 for the first retry) before jitter, or `None`
    /// when `retry` is 0 or beyond [`max_retries`](Self::max_retries).
    pub fn nominal_delay(&self, retry: u32) -> Option<Duration> {
        (1..=self.max_retries)
            .contains(&retry)
            .then(|| Duration::from_nanos(self.nominal_nanos(retry)))
    }

    /// The jittered delays before each retry, in order, drawn from `seed`.
    pub fn delays(&self, seed: u64) -> Delays {
        Delays {
            backoff: *self,
            cursor: self.cursor(seed),
        }
    }

    /// The jittered delays before each retry, in order, with the jitter drawn from `random`: a
    /// source of uniform numbers in `[0, 1)` of the caller's (a test's fixed sequence, another
    /// generator). A number outside `[0, 1]` is clamped into it, NaN counts as 0; `random` is
    /// called once per delay that jitter randomises, never for [`Jitter::None`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::backoff::{Backoff, Jitter};
    ///
    /// let ms = Duration::from_millis;
    /// let full = Backoff::constant(ms(100), 3).with_jitter(Jitter::Full);
    /// let mut draws = [0.0, 0.5, 1.0].into_iter();
    /// let delays: Vec<_> = full.delays_from(|| draws.next().unwrap()).collect();
    /// assert_eq!(delays, [ms(0), ms(50), ms(100)]);
    /// ```
    pub fn delays_from<R: FnMut() -> f64>(&self, random: R) -> DelaysFrom<R> {
        DelaysFrom {
            backoff: *self,
            retry: 0,
            prev: self.bounds().0,
            random,
        }
    }

    /// The start of one call's walk through this schedule.
    #[inline]
    pub(crate) fn cursor(&self, seed: u64) -> Cursor {
        Cursor {
            retry: 0,
            prev: self.bounds().0,
            rng: SplitMix64::new(seed),
        }
    }

    /// The next jittered delay of the walk at `c`, or `None` when no retry is left.
    pub(crate) fn next_delay(&self, c: &mut Cursor) -> Option<Duration> {
        let rng = &mut c.rng;
        self.step(&mut c.retry, &mut c.prev, || rng.next_f64())
    }

    /// One step of a walk: the next retry's delay, jittered with a draw of `random` in
    /// `[0, 1)`, or `None` when no retry is left.
    fn step(
        &self,
        retry: &mut u32,
        prev: &mut u64,
        random: impl FnOnce() -> f64,
    ) -> Option<Duration> {
        if *retry >= self.max_retries {
            return None;
        }
        *retry += 1;
        let d = self.nominal_nanos(*retry);
        let (base, cap) = self.bounds();
        let u = || {
            let u = random();
            if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) }
        };
        let jittered = match self.jitter {
            Jitter::None => d,
            Jitter::Full => capped(d as f64 * u(), d),
            Jitter::Equal => {
                let half = d / 2;
                half + capped((d - half) as f64 * u(), d - half)
            }
            Jitter::Decorrelated => {
                let hi = prev.saturating_mul(3).max(base);
                capped(base as f64 + (hi - base) as f64 * u(), cap)
            }
        };
        *prev = jittered;
        Some(Duration::from_nanos(jittered))
    }

    /// How many retries are left after the walk at `c`.
    pub(crate) fn remaining(&self, c: &Cursor) -> u32 {
        self.max_retries.saturating_sub(c.retry)
    }

    fn nominal_nanos(&self, retry: u32) -> u64 {
        match self.shape {
            Shape::Exponential { base, factor, cap } => {
                if base == 0 || factor == 1.0 {
                    return base.min(cap);
                }
                let exp = i32::try_from(retry - 1).unwrap_or(i32::MAX);
                capped(base as f64 * factor.powi(exp), cap)
            }
            Shape::Linear { base, step, cap } => base
                .saturating_add(step.saturating_mul(u64::from(retry - 1)))
                .min(cap),
            Shape::List { delays, len } => match len {
                0 => 0,
                n => delays[(retry as usize).min(n as usize) - 1],
            },
        }
    }

    /// `(base, cap)` in nanoseconds: the first nominal delay and the longest.
    fn bounds(&self) -> (u64, u64) {
        match self.shape {
            Shape::Exponential { base, cap, .. } | Shape::Linear { base, cap, .. } => {
                (base.min(cap), cap)
            }
            Shape::List { delays, len } => {
                let listed = &delays[..len as usize];
                (
                    listed.first().copied().unwrap_or(0),
                    listed.iter().copied().max().unwrap_or(0),
                )
            }
        }
    }
}

impl Default for Backoff {
    /// The layers' default: [`Backoff::standard()`], which carries [`Jitter::Equal`].
    fn default() -> Self {
        Backoff::standard()
    }
}

/// One call's walk through a schedule: which retry is next, the last delay drawn (decorrelated
/// jitter grows from it) and the jitter generator. 24 bytes; the schedule itself stays shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    retry: u32,
    prev: u64,
    rng: SplitMix64,
}

/// The delays of one [`Backoff`] schedule, jittered, in order; created by [`Backoff::delays`].
#[derive(Debug, Clone, Copy)]
pub struct Delays {
    backoff: Backoff,
    cursor: Cursor,
}

impl Delays {
    /// How many delays have been drawn: the number of retries scheduled so far.
    pub const fn retries(&self) -> u32 {
        self.cursor.retry
    }
}

/// The delays of one [`Backoff`] schedule, jittered from a source of the caller's, in order;
/// created by [`Backoff::delays_from`].
#[derive(Debug, Clone, Copy)]
pub struct DelaysFrom<R> {
    backoff: Backoff,
    retry: u32,
    prev: u64,
    random: R,
}

impl<R: FnMut() -> f64> Iterator for DelaysFrom<R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let random = &mut self.random;
        self.backoff.step(&mut self.retry, &mut self.prev, random)
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.backoff.next_delay(&mut self.cursor)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.backoff.remaining(&self.cursor) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Delays {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn presets_without_jitter_are_exact() {
        let exact = |b: Backoff| b.with_jitter(Jitter::None);
        let s: Vec<_> = exact(Backoff::standard()).delays(1).collect();
        assert_eq!(s, [ms(500), ms(1000), ms(2000)]);
        let e: Vec<_> = exact(Backoff::extended()).delays(1).collect();
        assert_eq!(e, [ms(250), ms(500), ms(1000), ms(2000), ms(2000)]);
        assert_eq!(Backoff::none().delays(1).count(), 0);
        assert_eq!(Backoff::standard().with_max_retries(6).cap(), ms(20_000));
        let more: Vec<_> = exact(Backoff::standard().with_max_retries(7))
            .delays(0)
            .collect();
        assert_eq!(more[3..], [ms(4000), ms(8000), ms(16000), ms(20000)]);
    }

    #[test]
    fn presets_carry_equal_jitter_and_the_default_is_the_standard_preset() {
        // Passing the default preset explicitly must not change the jitter.
        assert_eq!(Backoff::default(), Backoff::standard());
        assert_eq!(Backoff::standard().jitter(), Jitter::Equal);
        assert_eq!(Backoff::extended().jitter(), Jitter::Equal);
        let s: Vec<_> = Backoff::standard().delays(1).collect();
        assert_ne!(s, [ms(500), ms(1000), ms(2000)], "the preset is jittered");
        for e in [Backoff::none(), Backoff::constant(ms(5), 2)] {
            assert_eq!(e.jitter(), Jitter::None);
        }
        let d = Backoff::default();
        assert_eq!(d.max_retries(), 3);
        assert_eq!(d.jitter(), Jitter::Equal);
        for (got, nominal) in d.delays(9).zip([500, 1000, 2000]) {
            assert!(got >= ms(nominal / 2) && got <= ms(nominal), "{got:?}");
        }
    }

    #[test]
    fn constant_and_list() {
        let c: Vec<_> = Backoff::constant(ms(30), 3).delays(0).collect();
        assert_eq!(c, [ms(30); 3]);
        let l = Backoff::list([ms(10), ms(50), ms(20)]).unwrap();
        assert_eq!(l.max_retries(), 3);
        assert_eq!(l.cap(), ms(50));
        let v: Vec<_> = l.with_max_retries(5).delays(0).collect();
        assert_eq!(v, [ms(10), ms(50), ms(20), ms(20), ms(20)]);
        assert_eq!(l.nominal_delay(0), None);
        assert_eq!(l.nominal_delay(2), Some(ms(50)));
        assert_eq!(l.nominal_delay(4), None);
        assert!(Backoff::list(std::iter::repeat_n(ms(1), 9)).is_err());
        assert_eq!(Backoff::list([]).unwrap().delays(0).count(), 0);
    }

    #[test]
    fn invalid_parameters_are_errors() {
        for f in [0.5, f64::NAN, f64::INFINITY, -2.0] {
            let e = Backoff::exponential(ms(1), f, ms(2), 3).unwrap_err();
            assert!(e.to_string().starts_with("backoff factor is"), "{e}");
        }
        let e = Backoff::exponential(ms(10), 2.0, ms(5), 3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "backoff cap is 5ms, expected at least the base delay"
        );
    }

    #[test]
    fn absurd_durations_saturate() {
        let b = Backoff::exponential(Duration::MAX, 1e300, Duration::MAX, u32::MAX).unwrap();
        let mut d = b.with_jitter(Jitter::Decorrelated).delays(3);
        for _ in 0..1000 {
            assert!(d.next().is_some());
        }
        let c = Backoff::constant(Duration::MAX, 2).with_jitter(Jitter::Equal);
        assert_eq!(c.delays(1).count(), 2);
        let huge = Backoff::exponential(ms(1), 10.0, Duration::MAX, u32::MAX).unwrap();
        assert_eq!(huge.nominal_delay(u32::MAX), Some(huge.cap()));
    }

    #[test]
    fn jitter_edges() {
        // Equal jitter of 1 ns: either 0 or 1 ns, never more.
        let one = Backoff::constant(Duration::from_nanos(1), 50).with_jitter(Jitter::Equal);
        assert!(one.delays(5).all(|d| d <= Duration::from_nanos(1)));
        // Zero delays stay zero under every jitter.
        for j in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let z = Backoff::constant(Duration::ZERO, 5).with_jitter(j);
            assert!(z.delays(5).all(|d| d.is_zero()));
        }
        // Decorrelated on a constant schedule is the constant.
        let c = Backoff::constant(ms(7), 5).with_jitter(Jitter::Decorrelated);
        assert!(c.delays(5).all(|d| d == ms(7)));
    }

    #[test]
    fn linear_steps_up_to_its_cap() {
        let ms = Duration::from_millis;
        let b = Backoff::linear(ms(100), ms(250), ms(700), 5).unwrap();
        let delays: Vec<_> = b.delays(0).collect();
        assert_eq!(delays, [ms(100), ms(350), ms(600), ms(700), ms(700)]);
        assert_eq!(b.cap(), ms(700));
        let flat = Backoff::linear(ms(5), Duration::ZERO, ms(5), 3).unwrap();
        assert_eq!(flat.delays(0).collect::<Vec<_>>(), [ms(5); 3]);
        let huge = Backoff::linear(ms(1), Duration::MAX, Duration::MAX, 3).unwrap();
        assert_eq!(
            huge.nominal_delay(3),
            Some(Duration::from_nanos(u64::MAX)),
            "saturates"
        );
        assert!(Backoff::linear(ms(10), ms(1), ms(9), 1).is_err());
    }

    #[test]
    fn an_injected_source_drives_every_jitter() {
        let ms = Duration::from_millis;
        let b = Backoff::constant(ms(100), 3);
        fn draws<const N: usize>(values: [f64; N]) -> impl FnMut() -> f64 {
            let mut v = values.into_iter();
            move || v.next().expect("one draw per randomised delay")
        }
        let mut calls = 0;
        let none: Vec<_> = b
            .delays_from(|| {
                calls += 1;
                0.5
            })
            .collect();
        assert_eq!(
            (none, calls),
            (vec![ms(100); 3], 0),
            "no jitter draws nothing"
        );
        let full = b.with_jitter(Jitter::Full);
        let got: Vec<_> = full.delays_from(draws([0.25, -3.0, f64::NAN])).collect();
        assert_eq!(got, [ms(25), ms(0), ms(0)], "clamped; NaN is 0");
        let equal = b.with_jitter(Jitter::Equal);
        let got: Vec<_> = equal.delays_from(draws([0.0, 0.5, 7.0])).collect();
        assert_eq!(got, [ms(50), ms(75), ms(100)]);
        let dec = Backoff::exponential(ms(10), 2.0, ms(1000), 3)
            .unwrap()
            .with_jitter(Jitter::Decorrelated);
        // [base, 3 · previous]: 10 + 20·1.0 = 30, then 10 + 80·0.5 = 50, then 10 + 140·0 = 10.
        let got: Vec<_> = dec.delays_from(draws([1.0, 0.5, 0.0])).collect();
        assert_eq!(got, [ms(30), ms(50), ms(10)]);
        // The seeded walk is the same walk with its own source.
        let seeded: Vec<_> = dec.delays(9).collect();
        let mut rng = SplitMix64::new(9);
        let injected: Vec<_> = dec.delays_from(|| rng.next_f64()).collect();
        assert_eq!(seeded, injected);
    }
}
