//! Routing controls: an operator's on/off switch per endpoint.
//!
//! A routing control takes a region out of service on purpose — a planned failover, or a region
//! misbehaving in ways the checks miss — independently of breakers and health checks, and wins
//! over both. One rule keeps it safe: the last endpoint that is on cannot be switched off (as an
//! assertion rule does in a regional recovery controller), so a mistaken command can never take
//! the whole dependency down. A change that breaks the rule, or names an unknown endpoint, is
//! refused with a typed [`ControlError`] and changes nothing.
//!
//! Sources of switches other than the operator's calls (the routing file, with the
//! `routing-file` feature) live at the edge of the crate and change switches through the same
//! control, tagged with their [`RoutingSource`] in events.

use std::fmt;
use std::sync::Arc;

use super::router::Router;
use super::switch::{Refused, RoutingSource, Switch};
use crate::error::{NAME_LIMIT, clip};
use crate::event::{Event, OnEvent};

/// A routing change refused: nothing was changed.
///
/// The name it carries is cut after 128 bytes (ending in `…`): an unknown name can be anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No endpoint has this name.
    #[error("no endpoint is named {0:?}")]
    UnknownEndpoint(String),
    /// The change would switch off every endpoint.
    #[error("switching off {0:?} would leave no endpoint on")]
    LastEndpointOn(String),
}

impl ControlError {
    /// The reason, without its detail, for events.
    pub fn reason(&self) -> Refused {
        match self {
            ControlError::UnknownEndpoint(_) => Refused::UnknownEndpoint,
            ControlError::LastEndpointOn(_) => Refused::LastEndpointOn,
        }
    }

    /// [`UnknownEndpoint`](Self::UnknownEndpoint), its name bounded.
    pub(crate) fn unknown_endpoint(name: &str) -> Self {
        ControlError::UnknownEndpoint(bounded(name))
    }

    /// The endpoint the refusal is about, bounded as events carry it.
    fn endpoint(&self) -> &str {
        match self {
            ControlError::UnknownEndpoint(n) | ControlError::LastEndpointOn(n) => {
                clip(n, NAME_LIMIT)
            }
        }
    }
}

/// `name`, cut after [`NAME_LIMIT`] bytes with an ellipsis.
fn bounded(name: &str) -> String {
    let kept = clip(name, NAME_LIMIT);
    if kept.len() == name.len() {
        name.to_owned()
    } else {
        format!("{kept}…")
    }
}

/// The routing switches of one failover: a cheap `Clone` handle, from
/// [`FailoverHandle::routing`](super::FailoverHandle::routing).
///
/// ```
/// use steadfast::failover::{ControlError, Failover, Switch};
/// use tower::service_fn;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let region = service_fn(|x: u32| async move { Ok::<_, steadfast::BoxError>(x) });
/// let failover = Failover::builder()
///     .endpoint("us-east-2", region)
///     .endpoint("us-west-1", region)
///     .build()?;
/// let routing = failover.handle().routing();
/// routing.set("us-east-2", Switch::Off)?; // a planned failover: calls go to us-west-1
/// assert_eq!(
///     routing.set("us-west-1", Switch::Off),
///     Err(ControlError::LastEndpointOn("us-west-1".into()))
/// );
/// routing.set("us-east-2", Switch::On)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RoutingControl {
    router: Arc<Router>,
    hook: Option<Arc<dyn OnEvent + Send + Sync>>,
}

impl fmt::Debug for RoutingControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutingControl")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl RoutingControl {
    pub(crate) fn new(router: Arc<Router>) -> Self {
        RoutingControl { router, hook: None }
    }

    /// The same control, reporting every change and every refused change to `hook`
    /// ([`Event::RoutingChanged`], [`Event::RoutingRefused`]).
    pub fn on_event(mut self, hook: impl OnEvent + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Every endpoint's switch, in priority order.
    pub fn state(&self) -> Vec<(Arc<str>, Switch)> {
        let off = self.router.switched_off();
        self.router
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), Router::switch_in(off, i)))
            .collect()
    }

    /// Switches endpoint `name` on or off; it takes effect on the next call.
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownEndpoint`], or [`ControlError::LastEndpointOn`] when it would
    /// switch off the last endpoint that is on. Nothing changes then.
    pub fn set(&self, name: &str, switch: Switch) -> Result<(), ControlError> {
        self.apply([(name, switch)])
    }

    /// The number of endpoints.
    #[cfg_attr(not(any(feature = "routing-file", feature = "etcd")), allow(dead_code))] // the sources'
    pub(crate) fn len(&self) -> usize {
        self.router.endpoints.len()
    }

    /// Endpoint `name`'s position in priority order.
    #[cfg_attr(not(any(feature = "routing-file", feature = "etcd")), allow(dead_code))] // the sources'
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.router.index(name)
    }

    /// The name of the endpoint at `index`.
    #[cfg_attr(not(any(feature = "routing-file", feature = "etcd")), allow(dead_code))] // the sources'
    pub(crate) fn name(&self, index: usize) -> &str {
        &self.router.endpoints[index].name
    }

    /// Sets several switches at once: all of them, or (on an error) none.
    ///
    /// # Errors
    ///
    /// As [`set`](Self::set), for the first offending endpoint.
    pub fn apply<'a>(
        &self,
        switches: impl IntoIterator<Item = (&'a str, Switch)> + Clone,
    ) -> Result<(), ControlError> {
        self.apply_from(RoutingSource::Operator, switches)
    }

    /// [`apply`](Self::apply) on behalf of `source`, as its events say.
    pub(crate) fn apply_from<'a>(
        &self,
        source: RoutingSource,
        switches: impl IntoIterator<Item = (&'a str, Switch)> + Clone,
    ) -> Result<(), ControlError> {
        let every = super::router::all(self.router.endpoints.len());
        let result = self.router.switch(|mut off| {
            let mut last = None;
            for (name, switch) in switches.clone() {
                let i = self
                    .router
                    .index(name)
                    .ok_or_else(|| ControlError::unknown_endpoint(name))?;
                match switch {
                    Switch::On => off &= !(1 << i),
                    Switch::Off => {
                        off |= 1 << i;
                        last = Some(name);
                    }
                }
            }
            match last {
                Some(name) if off & every == every => {
                    Err(ControlError::LastEndpointOn(name.to_owned()))
                }
                _ => Ok(off),
            }
        });
        match result {
            Ok((before, after)) => {
                for (i, e) in self.router.endpoints.iter().enumerate() {
                    let bit = 1 << i;
                    if before & bit != after & bit {
                        self.emit(&Event::RoutingChanged {
                            endpoint: &e.name,
                            switch: Router::switch_in(after, i),
                            source,
                        });
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.refused(source, Some(e.endpoint()), e.reason());
                Err(e)
            }
        }
    }

    /// Reports a change from `source` refused (the endpoint it was about, when it was about
    /// one: bounded by the caller).
    pub(crate) fn refused(&self, source: RoutingSource, endpoint: Option<&str>, reason: Refused) {
        self.emit(&Event::RoutingRefused {
            endpoint,
            reason,
            source,
        });
    }

    fn emit(&self, event: &Event<'_>) {
        if let Some(hook) = &self.hook {
            hook.on_event(event);
        }
    }
}
