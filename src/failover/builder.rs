//! The failover's builder: endpoints, breakers, settings, hooks.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::hedge::{Hedge, Hedging};
use super::router::{Failback, MAX_ENDPOINTS, Router};
use super::service::{Failover, Inner, Settings, Shared};
use super::spread::{MAX_WEIGHT, Spread, Tiers};
use crate::backoff::Backoff;
use crate::breaker::{CircuitBreaker, CircuitBreakerBuilder};
use crate::budget::RetryBudget;
use crate::classify::DefaultClassifier;
use crate::error::ConfigError;
use crate::replay::CloneReplay;
use crate::retry::DEFAULT_RETRY_AFTER_CAP;
use crate::rng;
use crate::sharded_arc::ShardedArc;

impl Failover<()> {
    /// A builder with every default; add endpoints in priority order with
    /// [`endpoint`](FailoverBuilder::endpoint).
    ///
    /// # The default classifier counts every `Ok` as a success
    ///
    /// Unless [`classifier`](FailoverBuilder::classifier) is given,
    /// [`DefaultClassifier`] judges each attempt: every `Err`
    /// is a transient failure, and **every `Ok` is a success — including an HTTP response with
    /// status 503, 500 or 429**, which HTTP clients return as `Ok`. Over an HTTP client such a
    /// failover never fails over on a status: it never sees a failing server fail. Give it a
    /// classifier that reads the status: the ready HTTP classifier of the `steadfast::http` module
    /// (feature `http`), or a closure of your own returning an
    /// [`Outcome`](crate::classify::Outcome).
    pub fn builder<S>() -> FailoverBuilder<S> {
        FailoverBuilder {
            parts: Parts {
                endpoints: Vec::new(),
                placement: Vec::new(),
                tiers: 0,
                empty_tier: false,
                spread: Spread::default(),
                slow_start: Duration::ZERO,
                breakers: None,
                settings: Settings {
                    attempts_per_endpoint: 1,
                    recover: Backoff::default(),
                    deadline: None,
                    attempt_timeout: None,
                    retry_after_cap: DEFAULT_RETRY_AFTER_CAP,
                },
                failback: Failback::Immediate,
                budget: None,
                seed: None,
                hedge: None,
            },
            classifier: DefaultClassifier,
            replay: CloneReplay,
            hook: (),
            options: (),
        }
    }
}

/// Names region `region`'s breaker after it: a name the configuration gave (the same for every
/// region) becomes its prefix, `"{name}/{region}"`, so that events tell the regions apart.
fn region_breaker(
    builder: CircuitBreakerBuilder,
    region: &str,
) -> Result<CircuitBreakerBuilder, ConfigError> {
    match builder.given_name() {
        Some(given) if given != region => {
            ConfigError::check_name("breaker name", given)?;
            let name = format!("{given}/{region}");
            Ok(builder.name(name))
        }
        _ => Ok(builder.name(region)),
    }
}

/// Builds a [`Failover`]; every setter documents its default.
pub struct FailoverBuilder<S, C = DefaultClassifier, R = CloneReplay, H = (), O = ()> {
    pub(super) parts: Parts<S>,
    pub(super) classifier: C,
    pub(super) replay: R,
    pub(super) hook: H,
    pub(super) options: O,
}

/// What a builder holds besides its hooks.
pub(super) struct Parts<S> {
    pub(super) endpoints: Vec<(Arc<str>, S)>,
    /// Each endpoint's tier and weight.
    pub(super) placement: Vec<(usize, u32)>,
    /// Tiers added so far.
    pub(super) tiers: usize,
    /// Whether a tier was added without an endpoint.
    pub(super) empty_tier: bool,
    pub(super) spread: Spread,
    pub(super) slow_start: Duration,
    pub(super) breakers: Option<Box<dyn Fn(CircuitBreakerBuilder) -> CircuitBreakerBuilder>>,
    pub(super) settings: Settings,
    pub(super) failback: Failback,
    pub(super) budget: Option<RetryBudget>,
    pub(super) seed: Option<u64>,
    pub(super) hedge: Option<Hedge>,
}

impl<S, C, R, H, O> fmt::Debug for FailoverBuilder<S, C, R, H, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.parts;
        f.debug_struct("FailoverBuilder")
            .field(
                "endpoints",
                &c.endpoints.iter().map(|e| &*e.0).collect::<Vec<_>>(),
            )
            .field("settings", &c.settings)
            .field("failback", &c.failback)
            .finish_non_exhaustive()
    }
}

impl<S, C, R, H, O> FailoverBuilder<S, C, R, H, O> {
    /// The endpoints' services added so far, in order.
    #[cfg(feature = "reqwest")]
    pub(crate) fn endpoint_services(&self) -> impl Iterator<Item = &S> {
        self.parts.endpoints.iter().map(|(_, service)| service)
    }

    /// Adds an endpoint, after those added before it (the first is the primary): a tier of
    /// its own, so calls go to it only while every endpoint added before it is unavailable
    /// (active-passive). Its name is not empty, has no leading or trailing whitespace, and
    /// differs from every other endpoint's ignoring ASCII case ([`build`](Self::build)
    /// checks).
    pub fn endpoint(self, name: impl Into<String>, service: S) -> Self {
        self.tier(|t| t.endpoint(name, service))
    }

    /// Adds a tier of endpoints that share its calls (active-active), after the endpoints and
    /// tiers added before it: `f` adds its endpoints to the empty tier it is given. A tier
    /// takes calls only while every endpoint of the tiers before it is unavailable; within it,
    /// calls go to its available endpoints as [`spread`](Self::spread) says, in proportion to
    /// their weights. See the [module docs](super#active-active-tiers).
    ///
    /// ```
    /// use steadfast::failover::Failover;
    /// # let region = tower::service_fn(|_: ()| async { Ok::<_, steadfast::BoxError>(()) });
    /// let failover = Failover::builder()
    ///     // Two regions share the calls, us-east-1 twice as many as us-west-2...
    ///     .tier(|t| {
    ///         t.weighted("us-east-1", 2, region.clone())
    ///             .endpoint("us-west-2", region.clone())
    ///     })
    ///     // ...and eu-west-1 takes them only while both are unavailable.
    ///     .endpoint("eu-west-1", region)
    ///     .build()?;
    /// # Ok::<(), steadfast::error::ConfigError>(())
    /// ```
    pub fn tier(mut self, f: impl FnOnce(Tier<S>) -> Tier<S>) -> Self {
        let tier = f(Tier {
            endpoints: Vec::new(),
        });
        self.parts.empty_tier |= tier.endpoints.is_empty();
        for (name, weight, service) in tier.endpoints {
            self.parts.endpoints.push((name, service));
            self.parts.placement.push((self.parts.tiers, weight));
        }
        self.parts.tiers += 1;
        self
    }

    /// How the calls of a tier are spread across its available endpoints. Default:
    /// [`Spread::LeastLoaded`] (power of two choices). It applies to tiers of more than one
    /// endpoint only.
    pub fn spread(mut self, spread: Spread) -> Self {
        self.parts.spread = spread;
        self
    }

    /// Slow start: an endpoint of a tier that takes calls again (its breaker closed, its checks
    /// passing, switched on, its failback hold-down over) gets a share of its tier's calls that
    /// grows linearly from nothing to its full share over `window`, instead of its full share
    /// at once; while a tier's endpoints that are back all ramp up, the rest of the tier's calls
    /// go on to the next tier. It applies to failovers with a tier of more than one endpoint
    /// only. Default: none.
    pub fn slow_start(mut self, window: Duration) -> Self {
        self.parts.slow_start = window;
        self
    }

    /// Configures every endpoint's breaker: `f` gets a builder with the defaults, named after
    /// the endpoint, and returns it configured. A breaker is always named after its endpoint:
    /// a name `f` gives (the same for every endpoint) becomes a prefix, so
    /// `breakers(|b| b.name("orders"))` names them `orders/us-east-2`, `orders/us-west-1`, ….
    /// Default: [`CircuitBreaker::builder`]'s defaults.
    pub fn breakers(
        mut self,
        f: impl Fn(CircuitBreakerBuilder) -> CircuitBreakerBuilder + 'static,
    ) -> Self {
        self.parts.breakers = Some(Box::new(f));
        self
    }

    /// How many attempts a pass makes at each endpoint before hopping (no sleep between them).
    /// Default 1.
    pub fn attempts_per_endpoint(mut self, attempts: u32) -> Self {
        self.parts.settings.attempts_per_endpoint = attempts;
        self
    }

    /// The schedule between passes when every endpoint failed: each delay starts a recover
    /// pass. Default: [`Backoff::default()`] (standard, equal jitter: 3 recover passes).
    /// [`Backoff::none()`] makes one pass.
    pub fn recover(mut self, schedule: Backoff) -> Self {
        self.parts.settings.recover = schedule;
        self
    }

    /// The deadline of the whole call, measured from the call. Default: none.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.parts.settings.deadline = Some(deadline);
        self
    }

    /// The longest one hop (readying its endpoint's service, and the attempt) may take.
    /// Default: none.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.parts.settings.attempt_timeout = Some(timeout);
        self
    }

    /// No deadline: the call takes as long as its passes do (the default of
    /// [`Failover::builder`]; the [regional](crate::regional) builders start with one).
    pub fn no_deadline(mut self) -> Self {
        self.parts.settings.deadline = None;
        self
    }

    /// No attempt timeout: a hop takes as long as its endpoint does (the default of
    /// [`Failover::builder`]; the [regional](crate::regional) builders start with one).
    pub fn no_attempt_timeout(mut self) -> Self {
        self.parts.settings.attempt_timeout = None;
        self
    }

    /// The longest push-back (`Retry-After`) honoured: a throttled endpoint is skipped for its
    /// hint, up to this. At most [`MAX_RETRY_AFTER_CAP`](crate::MAX_RETRY_AFTER_CAP) (1 hour);
    /// [`FailoverHandle::clear_push_back`](super::FailoverHandle::clear_push_back) ends a push-back early. Default 20 s.
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.parts.settings.retry_after_cap = cap;
        self
    }

    /// When traffic returns to a recovered higher-priority endpoint. Default
    /// [`Failback::Immediate`].
    pub fn failback(mut self, failback: Failback) -> Self {
        self.parts.failback = failback;
        self
    }

    /// The budget further attempts draw from; pass clones of one budget to share it. Default: a
    /// fresh [`RetryBudget::standard()`].
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.parts.budget = Some(budget);
        self
    }

    /// Hedged requests: when a call's first attempt has not answered after the hedge's delay,
    /// a copy of a replayable request goes to the next available endpoint, and the first
    /// answer wins (the other attempt is cancelled). See the [module docs](super#hedging).
    /// Default: off.
    pub fn hedge(mut self, hedge: Hedge) -> Self {
        self.parts.hedge = Some(hedge);
        self
    }

    /// No hedged requests (the default).
    pub fn no_hedge(mut self) -> Self {
        self.parts.hedge = None;
        self
    }

    /// The seed of the recover schedule's jitter. Default: a seed drawn per process.
    pub fn seed(mut self, seed: u64) -> Self {
        self.parts.seed = Some(seed);
        self
    }

    /// The classifier of attempts. Default: [`DefaultClassifier`], which counts every `Ok` as a
    /// success, an HTTP 503 response included (see [`Failover::builder`]): over an HTTP client,
    /// give a classifier that reads the status. Whatever it is, this library's own errors are
    /// `Local`: never failed over.
    pub fn classifier<C2>(self, classifier: C2) -> FailoverBuilder<S, C2, R, H, O> {
        let FailoverBuilder {
            parts,
            replay,
            hook,
            options,
            ..
        } = self;
        FailoverBuilder {
            parts,
            classifier,
            replay,
            hook,
            options,
        }
    }

    /// How a request is copied for another attempt, and whether the copy may be sent after a
    /// given failure ([`Replay`](crate::replay::Replay)). Default: [`CloneReplay`], which needs a request type that is
    /// `Clone`; for any other (such as `reqwest::Request`) this step is required, for example
    /// `.replay(|r: &reqwest::Request| r.try_clone())`, or `.replay(|_: &MyRequest| None)` to
    /// send each request once to one endpoint. See
    /// [the replay module](crate::replay#a-request-type-that-is-not-clone) for the compile error
    /// that says so.
    pub fn replay<R2>(self, replay: R2) -> FailoverBuilder<S, C, R2, H, O> {
        let FailoverBuilder {
            parts,
            classifier,
            hook,
            options,
            ..
        } = self;
        FailoverBuilder {
            parts,
            classifier,
            replay,
            hook,
            options,
        }
    }

    /// The hook that receives [`Event`](crate::event::Event)s. Default: `()`.
    pub fn on_event<H2>(self, hook: H2) -> FailoverBuilder<S, C, R, H2, O> {
        let FailoverBuilder {
            parts,
            classifier,
            replay,
            options,
            ..
        } = self;
        FailoverBuilder {
            parts,
            classifier,
            replay,
            hook,
            options,
        }
    }

    /// The hook that reads each request's [`CallOptions`](super::CallOptions). Default: `()`, none.
    pub fn options<O2>(self, options: O2) -> FailoverBuilder<S, C, R, H, O2> {
        let FailoverBuilder {
            parts,
            classifier,
            replay,
            hook,
            ..
        } = self;
        FailoverBuilder {
            parts,
            classifier,
            replay,
            hook,
            options,
        }
    }

    /// The validated failover, every breaker closed.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when there is no endpoint or more than [`MAX_ENDPOINTS`], a name is
    /// empty or padded with whitespace, two endpoints' names are equal ignoring ASCII case,
    /// `attempts_per_endpoint` is zero, the deadline or the attempt timeout is zero, a duration
    /// is longer than [`MAX_DURATION`](crate::MAX_DURATION), the `retry_after_cap` is above
    /// [`MAX_RETRY_AFTER_CAP`](crate::MAX_RETRY_AFTER_CAP), a breaker's configuration is
    /// invalid, or the [`hedge`](Self::hedge) is: a delay (or floor) of zero, or not shorter
    /// than the attempt timeout and the deadline; a percentile not above 0 and at most 1; a
    /// `max_ratio` not at least 0.001 and at most 1.
    pub fn build(self) -> Result<Failover<S, C, R, H, O>, ConfigError> {
        let FailoverBuilder {
            parts,
            classifier,
            replay,
            hook,
            options,
        } = self;
        let n = parts.endpoints.len();
        if parts.empty_tier {
            return Err(ConfigError::invalid(
                "failover tier",
                "no endpoint",
                "at least one endpoint in every tier",
            ));
        }
        if n == 0 || n > MAX_ENDPOINTS {
            return Err(ConfigError::invalid(
                "failover endpoint count",
                n,
                "at least 1 and at most 32",
            ));
        }
        for (i, (name, _)) in parts.endpoints.iter().enumerate() {
            ConfigError::check_name("failover endpoint name", name)?;
            if parts.endpoints[..i]
                .iter()
                .any(|(other, _)| other.eq_ignore_ascii_case(name))
            {
                return Err(ConfigError::invalid(
                    "failover endpoint name",
                    name,
                    "a name given to one endpoint only (ignoring ASCII case)",
                ));
            }
        }
        let settings = parts.settings;
        if settings.attempts_per_endpoint == 0 {
            return Err(ConfigError::invalid(
                "failover attempts per endpoint",
                0,
                "at least 1",
            ));
        }
        ConfigError::check_limit("failover deadline", settings.deadline)?;
        ConfigError::check_limit("failover attempt timeout", settings.attempt_timeout)?;
        ConfigError::check_retry_after_cap("failover retry_after_cap", settings.retry_after_cap)?;
        ConfigError::check_duration("failover recover delay", settings.recover.cap())?;
        ConfigError::check_duration("failover slow start", parts.slow_start)?;
        for (i, &(_, weight)) in parts.placement.iter().enumerate() {
            if weight == 0 || weight > MAX_WEIGHT {
                return Err(ConfigError::invalid(
                    "failover endpoint weight",
                    format!("{weight} ({})", parts.endpoints[i].0),
                    "at least 1 and at most 10000",
                ));
            }
        }
        let tiers = Tiers::new(
            parts
                .endpoints
                .iter()
                .zip(&parts.placement)
                // At most 32 endpoints, so at most 32 tiers.
                .map(|((name, _), &(tier, weight))| (&**name, tier as u8, weight)),
            parts.spread,
            parts.slow_start,
        );
        let hedging = match parts.hedge {
            Some(hedge) => {
                hedge.check(settings.attempt_timeout, settings.deadline)?;
                Some(Hedging::new(hedge, n)?)
            }
            None => None,
        };
        let mut breakers = Vec::with_capacity(n);
        let mut services = Vec::with_capacity(n);
        for (name, service) in parts.endpoints {
            let builder = CircuitBreaker::builder().name(&*name);
            let builder = match &parts.breakers {
                Some(f) => region_breaker(f(builder), &name)?,
                None => builder,
            };
            breakers.push((name, builder.build()?));
            services.push(service);
        }
        let router = Router::new(breakers, parts.failback, crate::clock::now()).with_tiers(tiers);
        let seed = parts.seed.unwrap_or_else(rng::entropy_seed);
        Ok(Failover {
            shared: Shared::Owned(ShardedArc::new(Inner {
                router: Arc::new(router),
                services: services.into_boxed_slice(),
                settings,
                budget: parts.budget.unwrap_or_default(),
                seeds: AtomicU64::new(rng::mix(seed)),
                classifier,
                replay,
                hook,
                options,
                hedging,
            })),
            seed,
        })
    }
}

/// The endpoints of one tier, as [`FailoverBuilder::tier`] adds them: they share the tier's
/// calls, in proportion to their weights.
pub struct Tier<S> {
    endpoints: Vec<(Arc<str>, u32, S)>,
}

impl<S> fmt::Debug for Tier<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.endpoints
                    .iter()
                    .map(|(name, weight, _)| (&**name, weight)),
            )
            .finish()
    }
}

impl<S> Tier<S> {
    /// Adds an endpoint of weight 1 (names as for [`FailoverBuilder::endpoint`]).
    pub fn endpoint(self, name: impl Into<String>, service: S) -> Self {
        self.weighted(name, 1, service)
    }

    /// Adds an endpoint with a `weight` from 1 to [`MAX_WEIGHT`]: its share of the tier's
    /// calls is its weight over the sum of its available peers' (weights 2 and 1: two thirds
    /// and one third).
    pub fn weighted(mut self, name: impl Into<String>, weight: u32, service: S) -> Self {
        self.endpoints.push((name.into().into(), weight, service));
        self
    }
}
