//! Integrations: sources and adapters at the edge of the crate, each behind its own cargo
//! feature, off by default.
//!
//! The core and the tower layers never name these; they use the core's public handles (a
//! failover's [`RoutingControl`](crate::failover::RoutingControl), ...) like any caller would.
//!
//! - `routing_file` (feature `routing-file`): an endpoint's routing switches read from a JSON
//!   file on an interval, off the runtime (`routing_file::RoutingFile`).
//! - `routing_etcd` (feature `etcd`): the same switches from etcd, watched under a key prefix
//!   (`routing_etcd::EtcdRouting`).
//! - `SwitchSource` (either feature): the driver trait both sources implement.
//! - `metrics` (feature `metrics`): an event hook recording counters, gauges and a histogram
//!   through the `metrics` facade (`metrics::MetricsEvents`).
//! - the tracing hook (feature `tracing`): every event as a `tracing` event, exported as
//!   [`event::TracingEvents`](crate::event::TracingEvents).

#[cfg(feature = "etcd")]
#[cfg_attr(docsrs, doc(cfg(feature = "etcd")))]
pub mod routing_etcd;
#[cfg(feature = "routing-file")]
#[cfg_attr(docsrs, doc(cfg(feature = "routing-file")))]
pub mod routing_file;
#[cfg(any(feature = "routing-file", feature = "etcd"))]
mod switch_source;

#[cfg(any(feature = "routing-file", feature = "etcd"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "routing-file", feature = "etcd"))))]
pub use self::switch_source::SwitchSource;

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;

#[cfg(feature = "tracing")]
pub(crate) mod tracing_events;
