//! The vocabulary of routing controls: an endpoint's switch, and how events name who changed
//! the routing and why a change was refused. Pure: no state, no hook.

use std::fmt;

/// An endpoint's routing switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Switch {
    /// Calls may go to the endpoint (if its breaker, health and push-back allow).
    On,
    /// No call goes to the endpoint.
    Off,
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Switch::On => "on",
            Switch::Off => "off",
        })
    }
}

/// Why a routing change was refused, as events report it (see
/// [`ControlError`](super::ControlError), and the routing file's errors with the
/// `routing-file` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refused {
    /// An unknown endpoint name.
    UnknownEndpoint,
    /// It would switch off every endpoint.
    LastEndpointOn,
    /// A routing source could not be read: missing, not a regular file, not UTF-8, or changing
    /// during every read.
    Unreadable,
    /// A routing source is larger than its limit.
    TooLarge,
    /// A routing source is malformed (not the documented JSON shape, a name given twice).
    Malformed,
}

/// Who made a routing change, or had one refused, as events report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoutingSource {
    /// A call to [`RoutingControl::set`](super::RoutingControl::set) or
    /// [`RoutingControl::apply`](super::RoutingControl::apply): an operator.
    Operator,
    /// A routing file's driver (feature `routing-file`).
    File,
    /// An etcd watch's driver (feature `etcd`).
    Etcd,
}
