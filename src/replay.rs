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

/// Makes the copy of a request that a further attempt will send, or declines; and decides,
/// after each failure, whether that copy may be sent.
///
/// The copy is made before the first attempt (the attempt consumes the request), when nothing
/// is known yet of how it will fail. [`may_replay`](Replay::may_replay) is asked after a
/// failure, with its outcome, so a hook can follow a rule such as HTTP's (`http::HttpReplay`,
/// feature `http`): an idempotent request may always be replayed, any request may be replayed
/// after `NotSent` (it never reached the server), and a request that may have been applied
/// needs an explicit marker.
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
