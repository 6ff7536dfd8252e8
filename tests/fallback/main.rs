//! The fallback layer: which failures it answers (`triggers.rs`), over the retry layer, a
//! circuit breaker and a failover (`compose.rs`), a real HTTP 503 through reqwest (`http.rs`),
//! the stale cache's bounds at exact instants (`stale.rs`) and as properties (`props.rs`), and
//! cancellation at every await point (`cancel.rs`).

#[path = "../support/seeds.rs"]
mod seeds;
#[path = "../support/mod.rs"]
mod support;

mod cancel;
mod compose;
#[cfg(feature = "reqwest")]
mod http;
mod props;
mod stale;
mod triggers;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::BoxError;
use steadfast::event::Event;
use steadfast::fallback::{Failure, Fallback, Trigger, from_fn};
use support::Resp;

/// What the default fallback of these tests answers: a status no scripted service gives.
const DEFAULT: Resp = Resp {
    status: 203,
    retry_after: None,
};

/// One [`Event::Fallback`]: its trigger, whether it served, and its age.
type Reported = (Trigger, bool, Option<Duration>);

/// What a hook saw: every [`Event::Fallback`].
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Reported>>>);

impl Seen {
    fn hook(&self) -> impl Fn(&Event<'_>) + Clone + use<> {
        let seen = self.0.clone();
        move |event: &Event<'_>| {
            if let Event::Fallback {
                trigger,
                served,
                age,
                ..
            } = *event
            {
                seen.lock().unwrap().push((trigger, served, age));
            }
        }
    }

    fn events(&self) -> Vec<Reported> {
        self.0.lock().unwrap().clone()
    }
}

/// What the default fallback received: each call's request and trigger.
#[derive(Clone, Default)]
struct Answered(Arc<Mutex<Vec<(u32, Trigger)>>>);

impl Answered {
    /// A fallback answering [`DEFAULT`], keeping the request as its part.
    fn fallback(
        &self,
    ) -> impl Fallback<u32, Resp, BoxError, Part = u32, Error = Infallible> + Clone + use<> {
        let answered = self.0.clone();
        from_fn(
            |req: &u32| *req,
            move |req: u32, failure: Failure<Resp, BoxError>| {
                answered.lock().unwrap().push((req, failure.trigger));
                async { Ok::<_, Infallible>(DEFAULT) }
            },
        )
    }

    fn calls(&self) -> Vec<(u32, Trigger)> {
        self.0.lock().unwrap().clone()
    }
}
