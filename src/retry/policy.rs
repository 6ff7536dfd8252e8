//! The retry policy: validated configuration, and the pure rule deciding what follows an attempt.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::backoff::{Backoff, Cursor};
use crate::budget::{RetryBudget, Withdrawal};
use crate::classify::{DefaultClassifier, Outcome};
use crate::deadline::Deadline;
use crate::error::ConfigError;
use crate::event::GiveUpReason;
use crate::replay::CloneReplay;
use crate::rng;
use crate::sharded_arc::ShardedArc;

/// The plain settings of a policy (the rest are the budget, the seed stream and the hooks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    pub(crate) backoff: Backoff,
    pub(crate) deadline: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) retry_after_cap: Duration,
}

/// The default cap on a server's `Retry-After` hint: 20 s.
pub const DEFAULT_RETRY_AFTER_CAP: Duration = Duration::from_secs(20);

/// How a [`Retry`](super::Retry) retries: the schedule, budget, deadline, attempt timeout,
/// `Retry-After` cap, classifier, replay hook and event hook. Built by
/// [`RetryPolicy::builder`], validated once.
///
/// A policy is also a retry loop for async closures that are not services:
/// [`run`](Self::run).
///
/// # Clone
///
/// Clones share everything (the budget, the jitter seed stream, the classifier and the hooks),
/// and cloning one is a reference-count increment, allocating nothing. Each call holds a
/// reference too, so the policy lives as long as any call that may still retry, even when the
/// service that made it is gone (as with `ServiceExt::oneshot`); a call's is counted on one of 8
/// cache lines, its thread's ([`PolicyRef::for_call`]), so that calls on different threads do
/// not share one count.
pub struct RetryPolicy<C = DefaultClassifier, R = CloneReplay, H = ()> {
    inner: ShardedArc<Inner<C, R, H>>,
}

struct Inner<C, R, H> {
    settings: Settings,
    budget: RetryBudget,
    seeds: AtomicU64,
    classifier: C,
    replay: R,
    hook: H,
}

impl<C, R, H> Clone for RetryPolicy<C, R, H> {
    fn clone(&self) -> Self {
        RetryPolicy {
            inner: self.inner.clone(),
        }
    }
}

impl RetryPolicy {
    /// A builder with every default: `Backoff::default()` (standard, equal jitter), a fresh
    /// standard budget, no deadline, no attempt timeout, `Retry-After` capped at 20 s, the
    /// default classifier, and a replay rule that clones each request.
    ///
    /// # The default classifier counts every `Ok` as a success
    ///
    /// Unless [`classifier`](RetryPolicyBuilder::classifier) is given,
    /// [`DefaultClassifier`](crate::classify::DefaultClassifier) judges each attempt: every `Err`
    /// is a transient failure, and **every `Ok` is a success — including an HTTP response with
    /// status 503, 500 or 429**, which HTTP clients return as `Ok`. Over an HTTP client such a
    /// policy retries nothing but errors: it never sees a failing server fail. Give it a classifier
    /// that reads the status: the ready HTTP classifier of the `steadfast::http` module (feature
    /// `http`), or a closure of your own returning an [`Outcome`](crate::classify::Outcome).
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            settings: Settings {
                backoff: Backoff::default(),
                deadline: None,
                attempt_timeout: None,
                retry_after_cap: DEFAULT_RETRY_AFTER_CAP,
            },
            budget: None,
            seed: None,
            classifier: DefaultClassifier,
            replay: CloneReplay,
            hook: (),
        }
    }
}

impl Default for RetryPolicy {
    /// Every default (see [`RetryPolicy::builder`]).
    fn default() -> Self {
        match RetryPolicy::builder().build() {
            Ok(p) => p,
            Err(_) => unreachable!("the defaults are valid"),
        }
    }
}

impl<C, R, H> RetryPolicy<C, R, H> {
    /// The budget this policy's calls draw from.
    pub fn budget(&self) -> &RetryBudget {
        &self.inner.budget
    }

    /// The schedule of delays.
    pub fn backoff(&self) -> &Backoff {
        &self.inner.settings.backoff
    }

    /// The deadline of each call, measured from the call, if any.
    pub fn deadline(&self) -> Option<Duration> {
        self.inner.settings.deadline
    }

    /// The limit on each attempt, if any.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.inner.settings.attempt_timeout
    }

    /// The longest `Retry-After` hint honoured.
    pub fn retry_after_cap(&self) -> Duration {
        self.inner.settings.retry_after_cap
    }

    /// The classifier.
    pub fn classifier(&self) -> &C {
        &self.inner.classifier
    }

    /// The replay hook.
    pub fn replay(&self) -> &R {
        &self.inner.replay
    }

    /// The event hook.
    pub fn hook(&self) -> &H {
        &self.inner.hook
    }

    /// The next seed of this policy's stream: distinct for every service and every run.
    pub(crate) fn next_seed(&self) -> u64 {
        rng::mix(self.inner.seeds.fetch_add(rng::GOLDEN, Ordering::Relaxed))
    }
}

impl<C, R, H> fmt::Debug for RetryPolicy<C, R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("RetryPolicy")
            .field("backoff", &i.settings.backoff)
            .field("budget", &i.budget)
            .field("deadline", &i.settings.deadline)
            .field("attempt_timeout", &i.settings.attempt_timeout)
            .field("retry_after_cap", &i.settings.retry_after_cap)
            .field("classifier", &std::any::type_name::<C>())
            .field("replay", &std::any::type_name::<R>())
            .finish_non_exhaustive()
    }
}

/// Builds a [`RetryPolicy`]; each setter documents its default.
pub struct RetryPolicyBuilder<C = DefaultClassifier, R = CloneReplay, H = ()> {
    settings: Settings,
    budget: Option<RetryBudget>,
    seed: Option<u64>,
    classifier: C,
    replay: R,
    hook: H,
}

impl<C, R, H> fmt::Debug for RetryPolicyBuilder<C, R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicyBuilder")
            .field("settings", &self.settings)
            .field("budget", &self.budget)
            .field("seed", &self.seed)
            .field("classifier", &std::any::type_name::<C>())
            .field("replay", &std::any::type_name::<R>())
            .finish_non_exhaustive()
    }
}

impl<C, R, H> RetryPolicyBuilder<C, R, H> {
    /// The schedule of delays between attempts. Default: [`Backoff::default()`], which is
    /// [`Backoff::standard()`] (3 retries: 500 ms, 1 s, 2 s) with equal jitter.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// The budget retries draw from; pass clones of one budget to share it between layers.
    /// Default: a fresh [`RetryBudget::standard()`] for this policy, shared by its clones and by
    /// every service its layer builds.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The deadline of the whole call, retries and sleeps included, measured from the call.
    /// Default: none.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.settings.deadline = Some(deadline);
        self
    }

    /// The longest one attempt may run; an attempt cut by it counts as `Transient { Timeout }`
    /// and may be retried. It also bounds, separately, waiting for the service to be ready for a
    /// retry. A timeout too long to represent as an instant means none. Default: none.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.settings.attempt_timeout = Some(timeout);
        self
    }

    /// The longest `Retry-After` hint honoured; a longer hint ends the call with the server's
    /// answer at once (so does a delay too long to represent as an instant). At most
    /// [`MAX_RETRY_AFTER_CAP`](crate::MAX_RETRY_AFTER_CAP) (1 hour). Default: 20 s.
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.settings.retry_after_cap = cap;
        self
    }

    /// The seed of the jitter, for reproducible delays. Default: a seed drawn per process.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The classifier of attempts. Default: [`DefaultClassifier`], which counts every `Ok` as a
    /// success, an HTTP 503 response included (see [`RetryPolicy::builder`]): over an HTTP
    /// client, give a classifier that reads the status. Whatever it is, this library's own
    /// errors are [`Outcome::Local`] and never retried.
    pub fn classifier<C2>(self, classifier: C2) -> RetryPolicyBuilder<C2, R, H> {
        RetryPolicyBuilder {
            settings: self.settings,
            budget: self.budget,
            seed: self.seed,
            classifier,
            replay: self.replay,
            hook: self.hook,
        }
    }

    /// How a request is copied for another attempt ([`Replay`](crate::replay::Replay)).
    /// Default: [`CloneReplay`], which needs a request type that is `Clone`; for any other
    /// (such as `reqwest::Request`) this step is required: `.replay(|r: &reqwest::Request|
    /// r.try_clone())`, or `.replay(|_: &MyRequest| None)` to send each request once. See
    /// [the replay module](crate::replay#a-request-type-that-is-not-clone) for the compile error
    /// that says so.
    pub fn replay<R2>(self, replay: R2) -> RetryPolicyBuilder<C, R2, H> {
        RetryPolicyBuilder {
            settings: self.settings,
            budget: self.budget,
            seed: self.seed,
            classifier: self.classifier,
            replay,
            hook: self.hook,
        }
    }

    /// The hook that receives [`Event`](crate::event::Event)s. Default: `()`, which ignores
    /// them at no cost.
    pub fn on_event<H2>(self, hook: H2) -> RetryPolicyBuilder<C, R, H2> {
        RetryPolicyBuilder {
            settings: self.settings,
            budget: self.budget,
            seed: self.seed,
            classifier: self.classifier,
            replay: self.replay,
            hook,
        }
    }

    /// The validated policy.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the deadline or the attempt timeout is zero; when it, or the
    /// longest delay of the backoff, is longer than [`MAX_DURATION`](crate::MAX_DURATION); when
    /// the `retry_after_cap` is above [`MAX_RETRY_AFTER_CAP`](crate::MAX_RETRY_AFTER_CAP).
    pub fn build(self) -> Result<RetryPolicy<C, R, H>, ConfigError> {
        let s = &self.settings;
        ConfigError::check_limit("retry deadline", s.deadline)?;
        ConfigError::check_limit("retry attempt timeout", s.attempt_timeout)?;
        ConfigError::check_retry_after_cap("retry retry_after_cap", s.retry_after_cap)?;
        ConfigError::check_duration("retry backoff delay", s.backoff.cap())?;
        Ok(RetryPolicy {
            inner: ShardedArc::new(Inner {
                settings: self.settings,
                budget: self.budget.unwrap_or_default(),
                seeds: AtomicU64::new(self.seed.unwrap_or_else(rng::entropy_seed)),
                classifier: self.classifier,
                replay: self.replay,
                hook: self.hook,
            }),
        })
    }
}

/// How a service and its calls hold a [`RetryPolicy`]: an owned clone (each call holds a
/// reference counted on its thread's own cache line, so the policy lives as long as any call),
/// or a `&'static` reference (no count at all, for a policy defined once at startup).
///
/// ```
/// use std::sync::LazyLock;
/// use steadfast::retry::{RetryLayer, RetryPolicy};
///
/// static POLICY: LazyLock<RetryPolicy> = LazyLock::new(RetryPolicy::default);
/// let layer = RetryLayer::new(&*POLICY); // calls reference-count nothing
/// # let _ = layer;
/// ```
pub trait PolicyRef: Clone {
    /// The classifier of attempts.
    type Classifier;
    /// The replay hook.
    type Replay;
    /// The event hook.
    type Hook;

    /// The policy.
    fn policy(&self) -> &RetryPolicy<Self::Classifier, Self::Replay, Self::Hook>;

    /// What one call holds: a clone unless the implementation knows a cheaper way to keep the
    /// policy for the call.
    #[inline]
    fn for_call(&self) -> Self {
        self.clone()
    }
}

impl<C, R, H> PolicyRef for RetryPolicy<C, R, H> {
    type Classifier = C;
    type Replay = R;
    type Hook = H;

    #[inline]
    fn policy(&self) -> &RetryPolicy<C, R, H> {
        self
    }

    /// A clone counted on the calling thread's own shard of the policy's reference count.
    #[inline]
    fn for_call(&self) -> Self {
        RetryPolicy {
            inner: self.inner.lease(),
        }
    }
}

impl<C, R, H> PolicyRef for &'static RetryPolicy<C, R, H> {
    type Classifier = C;
    type Replay = R;
    type Hook = H;

    #[inline]
    fn policy(&self) -> &RetryPolicy<C, R, H> {
        self
    }
}

/// What follows a finished attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Return the result as it is: a success, `Rejected` or `Local`.
    Return,
    /// Return the result: it was retryable, but no further attempt is allowed.
    GiveUp(GiveUpReason),
    /// Sleep `delay`, until `until`, then send another attempt paid for by `withdrawal`.
    Retry {
        delay: Duration,
        until: Instant,
        withdrawal: Withdrawal,
    },
}

/// The rule, in the order the checks apply: only a transient outcome is retried; it needs a
/// retry left in the schedule, a copy of the request that may be replayed after this outcome, a
/// `Retry-After` hint within the cap (the delay is the larger of the hint and the schedule), a
/// delay whose end is a representable instant, room for an attempt before the deadline after the
/// delay, and the attempt's cost in the budget. `now` is read once, only for a retryable outcome.
pub(crate) fn decide<C, R, H>(
    outcome: &Outcome,
    policy: &RetryPolicy<C, R, H>,
    cursor: &mut Cursor,
    can_replay: bool,
    deadline: Deadline,
    now: impl FnOnce() -> Instant,
) -> Decision {
    if !outcome.is_retryable() {
        return Decision::Return;
    }
    let Some(scheduled) = policy.backoff().next_delay(cursor) else {
        return Decision::GiveUp(GiveUpReason::RetriesExhausted);
    };
    if !can_replay {
        return Decision::GiveUp(GiveUpReason::NotReplayable);
    }
    let delay = match outcome.retry_after() {
        Some(hint) if hint > policy.retry_after_cap() => {
            return Decision::GiveUp(GiveUpReason::RetryAfterTooLong);
        }
        Some(hint) => scheduled.max(hint),
        None => scheduled,
    };
    let now = now();
    let Some(until) = now.checked_add(delay) else {
        return Decision::GiveUp(GiveUpReason::DelayOutOfRange);
    };
    if !deadline.fits_after(now, delay) {
        return Decision::GiveUp(GiveUpReason::Deadline);
    }
    match policy.budget().try_withdraw(outcome) {
        Some(withdrawal) => Decision::Retry {
            delay,
            until,
            withdrawal,
        },
        None => Decision::GiveUp(GiveUpReason::BudgetExhausted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::Jitter;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    struct Case {
        budget: RetryBudget,
        policy: RetryPolicy,
        cursor: Cursor,
        now: Instant,
    }

    impl Case {
        fn new() -> Self {
            Self::with_budget(RetryBudget::standard())
        }

        fn with_budget(budget: RetryBudget) -> Self {
            let policy = RetryPolicy::builder()
                .backoff(Backoff::standard().with_jitter(Jitter::None))
                .budget(budget.clone())
                .build()
                .unwrap();
            Case {
                budget,
                policy,
                cursor: Backoff::standard().with_jitter(Jitter::None).cursor(0),
                now: Instant::now(),
            }
        }

        fn decide(&mut self, o: Outcome, replay: bool, deadline: Deadline) -> Decision {
            let now = self.now;
            decide(&o, &self.policy, &mut self.cursor, replay, deadline, || now)
        }
    }

    fn retry_after(d: Decision) -> Duration {
        match d {
            Decision::Retry { delay, until, .. } => {
                assert!(until.duration_since(Instant::now()) <= delay);
                delay
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn only_transient_outcomes_are_retried() {
        let mut c = Case::new();
        for o in [Outcome::Success, Outcome::Rejected, Outcome::Local] {
            assert_eq!(c.decide(o, true, Deadline::none()), Decision::Return);
        }
        assert_eq!(c.budget.level(), Some(500));
        assert_eq!(
            retry_after(c.decide(Outcome::failed(), true, Deadline::none())),
            ms(500)
        );
        assert_eq!(c.budget.level(), Some(495));
        assert_eq!(
            retry_after(c.decide(Outcome::timeout(), true, Deadline::none())),
            ms(1000)
        );
        assert_eq!(c.budget.level(), Some(485), "a timeout costs 10");
    }

    #[test]
    fn schedule_exhaustion_and_replay() {
        let mut c = Case::new();
        assert_eq!(
            c.decide(Outcome::failed(), false, Deadline::none()),
            Decision::GiveUp(GiveUpReason::NotReplayable)
        );
        let mut c = Case::new();
        for _ in 0..3 {
            let _ = retry_after(c.decide(Outcome::failed(), true, Deadline::none()));
        }
        assert_eq!(
            c.decide(Outcome::throttled(Some(ms(1))), true, Deadline::none()),
            Decision::GiveUp(GiveUpReason::RetriesExhausted),
            "a hint after the last retry adds no retry"
        );
    }

    #[test]
    fn retry_after_is_the_larger_and_capped() {
        let hint = |d| Outcome::throttled(Some(d));
        let mut c = Case::new();
        assert_eq!(
            retry_after(c.decide(hint(ms(100)), true, Deadline::none())),
            ms(500)
        );
        assert_eq!(
            retry_after(c.decide(hint(ms(3000)), true, Deadline::none())),
            ms(3000)
        );
        assert_eq!(
            retry_after(c.decide(hint(Duration::ZERO), true, Deadline::none())),
            ms(2000)
        );
        let mut c = Case::new();
        assert_eq!(
            retry_after(c.decide(hint(ms(20_000)), true, Deadline::none())),
            ms(20_000)
        );
        assert_eq!(
            c.decide(hint(ms(20_001)), true, Deadline::none()),
            Decision::GiveUp(GiveUpReason::RetryAfterTooLong)
        );
    }

    #[test]
    fn deadline_leaves_room_or_gives_up() {
        let mut c = Case::new();
        let d = Deadline::after(c.now, ms(501));
        assert_eq!(retry_after(c.decide(Outcome::failed(), true, d)), ms(500));
        let mut c = Case::new();
        let d = Deadline::after(c.now, ms(500));
        assert_eq!(
            c.decide(Outcome::failed(), true, d),
            Decision::GiveUp(GiveUpReason::Deadline)
        );
        assert_eq!(c.budget.level(), Some(500), "nothing withdrawn");
    }

    #[test]
    fn an_unrepresentable_delay_gives_up() {
        let policy = RetryPolicy::builder()
            .retry_after_cap(crate::MAX_RETRY_AFTER_CAP)
            .build()
            .unwrap();
        // An instant so late that an hour after it cannot be represented.
        let mut far = Instant::now();
        let mut step = Duration::from_secs(1 << 62);
        while step > Duration::from_secs(60) {
            match far.checked_add(step) {
                Some(later) => far = later,
                None => step /= 2,
            }
        }
        let mut cursor = Backoff::standard().cursor(0);
        let hint = Outcome::throttled(Some(crate::MAX_RETRY_AFTER_CAP));
        let d = decide(&hint, &policy, &mut cursor, true, Deadline::none(), || far);
        assert_eq!(d, Decision::GiveUp(GiveUpReason::DelayOutOfRange));
        assert_eq!(policy.budget().level(), Some(500));
    }

    #[test]
    fn empty_budget_gives_up() {
        let mut c = Case::with_budget(RetryBudget::builder().capacity(9).build().unwrap());
        let _ = retry_after(c.decide(Outcome::failed(), true, Deadline::none()));
        assert_eq!(
            c.decide(Outcome::failed(), true, Deadline::none()),
            Decision::GiveUp(GiveUpReason::BudgetExhausted)
        );
        assert_eq!(c.budget.level(), Some(4));
    }

    #[test]
    fn invalid_settings() {
        let e = RetryPolicy::builder()
            .deadline(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "retry deadline is 0ns, expected more than zero"
        );
        assert!(
            RetryPolicy::builder()
                .attempt_timeout(Duration::ZERO)
                .build()
                .is_err()
        );
        let e = RetryPolicy::builder()
            .deadline(Duration::MAX)
            .build()
            .unwrap_err();
        assert!(e.to_string().ends_with("expected at most 365 days"), "{e}");
        let e = RetryPolicy::builder()
            .retry_after_cap(crate::MAX_RETRY_AFTER_CAP + Duration::from_nanos(1))
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "retry retry_after_cap is 3600.000000001s, expected at most 1 hour"
        );
        let e = RetryPolicy::builder()
            .backoff(Backoff::constant(crate::MAX_DURATION * 2, 1))
            .build()
            .unwrap_err();
        assert!(e.to_string().starts_with("retry backoff delay"), "{e}");
        assert!(
            RetryPolicy::builder()
                .deadline(crate::MAX_DURATION)
                .attempt_timeout(crate::MAX_DURATION)
                .retry_after_cap(crate::MAX_RETRY_AFTER_CAP)
                .backoff(Backoff::constant(crate::MAX_DURATION, 1))
                .build()
                .is_ok()
        );
    }
}
