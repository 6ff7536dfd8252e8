//! Whether, and how, a request can be sent again.
//!
//! The first attempt consumes the request, so a layer that may retry keeps a copy made *before*
//! the attempt. [`Replay`] makes that copy, or declines: a request that must be sent at most once
//! (a payment without an idempotency key, a streaming body) is sent once and never retried.
//!
//! [`CloneReplay`], the default, clones every request. Closures `Fn(&Req) -> Option<Req>` are
//! replay hooks:
//!
//! ```
//! use steadfast::replay::Replay;
//!
//! #[derive(Clone)]
//! struct Req { method: &'static str }
//!
//! // Only idempotent methods get a copy; a POST is sent once.
//! let replay = |r: &Req| matches!(r.method, "GET" | "PUT" | "DELETE").then(|| r.clone());
//! assert!(replay.replay(&Req { method: "GET" }).is_some());
//! assert!(replay.replay(&Req { method: "POST" }).is_none());
//! ```
//!
//! # A request type that is not `Clone`
//!
//! The default rule clones, so a request type that is not `Clone` (such as `reqwest::Request`,
//! whose body may be a stream) needs a rule of its own, given with the builder's `replay` step
//! ([`RetryPolicyBuilder::replay`](crate::retry::RetryPolicyBuilder::replay),
//! [`FailoverBuilder::replay`](crate::failover::FailoverBuilder::replay)):
//! `.replay(|r: &reqwest::Request| r.try_clone())` copies what can be copied, and
//! `.replay(|_: &MyRequest| None)` sends every request once. Without one, the compiler says so
//! where the service is used as a `Service<MyRequest>`:
//!
//! ```compile_fail,E0277
//! use steadfast::{BoxError, RetryLayer, RetryPolicy};
//! use tower::{service_fn, Layer, Service};
//!
//! struct MyRequest; // not Clone
//!
//! fn serve<S: Service<MyRequest>>(service: S) -> S { service }
//!
//! let policy = RetryPolicy::builder().build().unwrap();
//! let inner = service_fn(|_: MyRequest| async { Ok::<_, BoxError>(()) });
//! // error[E0277]: `CloneReplay` cannot copy a `MyRequest` for another attempt
//! //   = note: the default rule, `CloneReplay`, needs `MyRequest: Clone`
//! //   = note: give the builder a replay rule: `.replay(|r: &MyRequest| ...)` returning
//! //           `Some(copy)`, or `None` to send a request once
//! serve(RetryLayer::new(policy).layer(inner));
//! ```
//!
//! Called as a method (`service.oneshot(req)`, `service.ready()`), the same missing rule reads
//! "the method `oneshot` exists for struct `Retry<…>`, but its trait bounds were not satisfied":
//! the request type is not `Clone` and the builder has no `replay` rule for it.
//!
//! With the rule given, the same code compiles:
//!
//! ```
//! use steadfast::{BoxError, RetryLayer, RetryPolicy};
//! use tower::{service_fn, Layer, Service};
//!
//! struct MyRequest; // not Clone
//!
//! fn serve<S: Service<MyRequest>>(service: S) -> S { service }
//!
//! let policy = RetryPolicy::builder()
//!     .replay(|_: &MyRequest| None) // each request is sent once: never retried
//!     .build()
//!     .unwrap();
//! let inner = service_fn(|_: MyRequest| async { Ok::<_, BoxError>(()) });
//! serve(RetryLayer::new(policy).layer(inner));
//! ```

/// Makes the copy of a request that a further attempt will send, or declines; and decides,
/// after each failure, whether that copy may be sent.
///
/// The copy is made before the first attempt (the attempt consumes the request), when nothing
/// is known yet of how it will fail. [`may_replay`](Replay::may_replay) is asked after a
/// failure, with its outcome, so a hook can follow the replay rule for HTTP (`http::HttpReplay`, feature `http`): an idempotent
/// request (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) may always be sent again; any request may
/// be sent again after `NotSent` (it provably never reached the server); and a request that may
/// have been applied (a POST or PATCH after a timeout or a 5xx) is sent again only with an
/// explicit marker from its caller saying that doing so is safe.
///
/// A request type that is not `Clone` needs a rule of its own: see the
/// [module docs](self#a-request-type-that-is-not-clone).
///
/// ```
/// use steadfast::classify::Outcome;
/// use steadfast::replay::Replay;
///
/// #[derive(Clone)]
/// struct Req { method: &'static str }
///
/// struct HttpRule;
///
/// impl Replay<Req> for HttpRule {
///     fn replay(&self, req: &Req) -> Option<Req> {
///         Some(req.clone()) // always keep a copy...
///     }
///     fn may_replay(&self, req: &Req, after: &Outcome) -> bool {
///         // ...but send a POST again only if the first one provably never arrived.
///         matches!(req.method, "GET" | "PUT" | "DELETE") || !after.may_have_been_applied()
///     }
/// }
///
/// let post = Req { method: "POST" };
/// assert!(HttpRule.may_replay(&post, &Outcome::not_sent()));
/// assert!(!HttpRule.may_replay(&post, &Outcome::failed()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot copy a `{Req}` for another attempt",
    label = "no replay rule for `{Req}`",
    note = "the default rule, `CloneReplay`, needs `{Req}: Clone`",
    note = "give the builder a replay rule: `.replay(|r: &{Req}| ...)` returning `Some(copy)`, or `None` to send a request once"
)]
pub trait Replay<Req> {
    /// A copy of `req` to send again, or `None` if it must never be sent again.
    fn replay(&self, req: &Req) -> Option<Req>;

    /// Whether the copy `req` may be sent after a failure with outcome `after`. By default,
    /// always.
    #[inline]
    fn may_replay(&self, req: &Req, after: &Outcome) -> bool {
        let _ = (req, after);
        true
    }
}

use crate::classify::Outcome;

/// Replays every request by cloning it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloneReplay;

impl<Req: Clone> Replay<Req> for CloneReplay {
    #[inline]
    fn replay(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

impl<F, Req> Replay<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn replay(&self, req: &Req) -> Option<Req> {
        self(req)
    }
}
