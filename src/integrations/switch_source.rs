//! What every source of routing switches shares: the [`SwitchSource`] driver trait, and how a
//! read of the whole set of switches is applied.

use std::future::Future;

use crate::error::{NAME_LIMIT, clip};
use crate::failover::{ControlError, Refused, RoutingControl, RoutingSource, Switch};

/// A source of a failover's routing switches, such as a file or a fleet store: a driver that
/// reads the **whole** set of switches and applies each read whole or not at all through a
/// [`RoutingControl`], so the control's rules hold for every read (an unknown endpoint, or
/// every endpoint off, refuses the read and keeps the switches as they were).
///
/// Every source applies a read the same way: the first good read sets every endpoint (as the
/// source says, or on when it does not name it); after that, a read changes only the endpoints
/// whose entry changed since the last applied read. So the latest change of an endpoint's
/// switch wins, whether an operator's [`RoutingControl::set`] or the source's, and an
/// operator's switch stands until that endpoint's entry in the source changes.
pub trait SwitchSource: Send {
    /// Why a read was not applied.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads the source once and applies it.
    ///
    /// # Errors
    ///
    /// Why it was not applied; the switches are then unchanged, and the reason was reported to
    /// the control's hook.
    fn read_once(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The driver: applies the switches now and on every change, forever. Spawn it, or select
    /// on it with a shutdown signal; dropping it stops it.
    fn run(self) -> impl Future<Output = ()> + Send;
}

/// Each endpoint's entry in a source (`None`: not named) as last applied; `None` before the
/// first good read.
#[derive(Debug, Default)]
pub(crate) struct AppliedLines(Option<Vec<Option<Switch>>>);

impl AppliedLines {
    /// Applies the endpoints whose entry in `named` changed since the last applied read (all
    /// of them at the first), or nothing.
    pub(crate) fn apply<'a>(
        &mut self,
        control: &RoutingControl,
        source: RoutingSource,
        named: impl IntoIterator<Item = (&'a str, Switch)>,
    ) -> Result<(), ControlError> {
        let mut lines = vec![None; control.len()];
        for (name, switch) in named {
            let Some(i) = control.index(name) else {
                control.refused(
                    source,
                    Some(clip(name, NAME_LIMIT)),
                    Refused::UnknownEndpoint,
                );
                return Err(ControlError::unknown_endpoint(name));
            };
            lines[i] = Some(switch);
        }
        let changed: Vec<(&str, Switch)> = lines
            .iter()
            .enumerate()
            .filter(|&(i, line)| self.0.as_ref().is_none_or(|a| a[i] != *line))
            .map(|(i, line)| (control.name(i), line.unwrap_or(Switch::On)))
            .collect();
        if !changed.is_empty() {
            control.apply_from(source, changed.iter().copied())?;
        }
        self.0 = Some(lines);
        Ok(())
    }
}
