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

/// Makes the copy of a request that a further attempt will send, or declines.
pub trait Replay<Req> {
    /// A copy of `req` to send again, or `None` if it must not be sent again.
    fn replay(&self, req: &Req) -> Option<Req>;
}

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
