//! A failover's routing switches read from a JSON file on an interval (feature `routing-file`).
//!
//! An orchestrator's mounted config map switches a whole fleet at once: every instance runs a
//! [`RoutingFile`] driver over the same file, which sets the switches of its failover's
//! [`RoutingControl`]:
//!
//! ```json
//! {"us-east-2": "off"}
//! ```
//!
//! # The file
//!
//! A JSON object of endpoint names to `"on"` or `"off"` (in any letter case), UTF-8, with or
//! without a byte order mark, at most [`RoutingFile::MAX_SIZE`] (1 MiB). An endpoint the file does
//! not name is on. Each read is applied whole or not at all: a missing or unreadable file, one
//! that is not UTF-8, too large, malformed (any other shape, a name given twice), naming an
//! unknown endpoint, or switching every endpoint off keeps the switches as they are and is
//! reported ([`Event::RoutingRefused`](crate::event::Event::RoutingRefused) with
//! [`RoutingSource::File`]); the next good read applies.
//!
//! **Who may write the file moves the fleet's traffic.** A file that others than its owner may
//! write (group or world write permission, on Unix) is refused with
//! [`RoutingFileError::Writable`] and reported like an unreadable one; keep its directory
//! writable by its owner only as well, since whoever may write the directory may replace the
//! file.
//!
//! **Writers must replace the file atomically**: write a temporary file in the same directory,
//! then rename it over the routing file (Kubernetes config maps and `mv` do this). A file
//! rewritten in place can be read half-written. The reader notices a file whose size or
//! modification time changed during the read and reads it again (up to three times, then
//! reports [`RoutingFileError::Unstable`]), but a rewrite within the file system's timestamp
//! granularity that keeps the size cannot be seen.
//!
//! # The file and the operator
//!
//! The file and [`RoutingControl::set`] change the same switches; **the latest change of an
//! endpoint's switch wins**, whoever made it:
//!
//! - The first good read sets every endpoint: as the file says, or on when it does not name
//!   it.
//! - After that, a read changes only the endpoints whose line in the file changed since the last
//!   applied read (added, removed, or switched). An operator's manual switch therefore stays
//!   until someone edits that endpoint's line in the file: an endpoint switched off by hand
//!   during an incident is not switched on again by the next read of an unchanged file.
//! - When an edit of the file does override an operator's switch, the change is reported like
//!   every change, as [`Event::RoutingChanged`](crate::event::Event::RoutingChanged) with
//!   [`RoutingSource::File`] (the operator's own change showed as [`RoutingSource::Operator`]).
//!   Nothing is ever changed without an event.
//!
//! # Reading
//!
//! The file is read on tokio's blocking pool, never on the runtime's threads, so a slow file
//! system delays no other task. A FIFO or any other file that is not a regular file is refused
//! without waiting (on Unix it is opened non-blocking). The driver reads at once, then
//! `interval` after each read ended (default 10 s, at least [`RoutingFile::MIN_INTERVAL`]):
//! reads never catch up in a burst, whatever delayed one.

mod parse;
mod read;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::switch_source::{AppliedLines, SwitchSource};
use crate::error::ConfigError;
use crate::failover::{ControlError, Refused, RoutingControl, RoutingSource};

/// Why a routing file was not applied: the switches are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingFileError {
    /// The file could not be read: missing, not a regular file (a directory, a FIFO), an I/O
    /// error, or not UTF-8.
    #[error("routing file {path:?} unreadable: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Others than the file's owner may write it (its group or world write bit is set, Unix):
    /// anyone among them could move the fleet's traffic, so it is not read.
    #[error(
        "routing file {path:?} is writable by others than its owner (mode {mode:o}): remove their write permission"
    )]
    Writable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is larger than [`RoutingFile::MAX_SIZE`]; no more than that and one byte was
    /// read.
    #[error("routing file larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file changed during every read: it is being rewritten in place, not replaced.
    #[error(
        "routing file changed during each of {attempts} reads \
         (replace it atomically: write a temporary file, then rename it)"
    )]
    Unstable {
        /// How many reads were tried.
        attempts: u32,
    },
    /// The file is not a JSON object of endpoint names to `"on"` or `"off"`, or names an
    /// endpoint twice. The message says where, and is bounded (a long value is cut).
    #[error("routing file malformed: {0}")]
    Malformed(String),
    /// The switches it asks for were refused: an unknown endpoint, or every endpoint off.
    #[error(transparent)]
    Refused(#[from] ControlError),
}

impl RoutingFileError {
    /// The reason, without its detail, for events.
    pub fn reason(&self) -> Refused {
        match self {
            RoutingFileError::Unreadable { .. }
            | RoutingFileError::Writable { .. }
            | RoutingFileError::Unstable { .. } => Refused::Unreadable,
            RoutingFileError::TooLarge { .. } => Refused::TooLarge,
            RoutingFileError::Malformed(_) => Refused::Malformed,
            RoutingFileError::Refused(e) => e.reason(),
        }
    }

    fn unreadable(path: &Path, reason: impl Into<String>) -> Self {
        RoutingFileError::Unreadable {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Reads a routing file: the blocking read the driver runs off the runtime.
type Reader = fn(&Path) -> Result<String, RoutingFileError>;

/// A failover's routing switches from a JSON file, re-read on an interval: a driver future
/// **that the caller spawns** (no hidden task). The [module docs](self) define the file, who
/// wins between it and the operator, and how writers replace it.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use steadfast::failover::Failover;
/// use steadfast::integrations::routing_file::RoutingFile;
///
/// # async fn run() -> Result<(), steadfast::BoxError> {
/// # let region = tower::service_fn(|x: u32| async move { Ok::<_, steadfast::BoxError>(x) });
/// let failover = Failover::builder()
///     .endpoint("us-east-2", region)
///     .endpoint("us-west-1", region)
///     .build()?;
/// let driver = tokio::spawn(
///     RoutingFile::new("/etc/steadfast/routing.json", failover.handle().routing())
///         .interval(Duration::from_secs(5))?
///         .run(),
/// );
/// // ... at shutdown:
/// driver.abort();
/// # Ok(())
/// # }
/// ```
///
/// # Cancellation
///
/// Dropping the driver (aborting its task, or losing a `select!`) stops it at once, even while a
/// read is under way: the read runs on tokio's blocking pool, and a read that is stuck in the
/// file system ends there on its own, its result discarded. No switch is changed after the
/// driver is dropped.
#[derive(Debug)]
pub struct RoutingFile {
    path: PathBuf,
    control: RoutingControl,
    interval: Duration,
    /// The endpoints' lines as last applied.
    applied: AppliedLines,
    read: Reader,
}

impl RoutingFile {
    /// The shortest interval between reads: 100 ms.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

    /// The largest routing file read: 1 MiB.
    pub const MAX_SIZE: u64 = read::MAX_SIZE;

    /// Reads `path` into `control`'s switches, every 10 s once [`run`](Self::run).
    pub fn new(path: impl Into<PathBuf>, control: RoutingControl) -> Self {
        RoutingFile {
            path: path.into(),
            control,
            interval: Duration::from_secs(10),
            applied: AppliedLines::default(),
            read: read::read_text,
        }
    }

    /// How long the driver waits after a read ends before the next one starts. Default 10 s.
    /// An interval too long to add to the clock reads once, and then never again.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an interval shorter than [`MIN_INTERVAL`](Self::MIN_INTERVAL)
    /// (100 ms).
    pub fn interval(mut self, interval: Duration) -> Result<Self, ConfigError> {
        if interval < Self::MIN_INTERVAL {
            return Err(ConfigError::invalid(
                "routing file interval",
                interval,
                "at least 100ms",
            ));
        }
        self.interval = interval;
        Ok(self)
    }

    /// Reads the file once (on tokio's blocking pool) and applies it, as the driver does at each
    /// read. Must be called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// Why it was not applied; the switches are then unchanged, and the reason was reported to
    /// the control's hook as [`Event::RoutingRefused`](crate::event::Event::RoutingRefused).
    pub async fn read_once(&mut self) -> Result<(), RoutingFileError> {
        let (path, read) = (self.path.clone(), self.read);
        let text = tokio::task::spawn_blocking(move || read(&path))
            .await
            .unwrap_or_else(|e| Err(RoutingFileError::unreadable(&self.path, e.to_string())));
        let result = text.and_then(|text| self.apply(&text));
        match &result {
            // Reported by the control, with the endpoint.
            Ok(()) | Err(RoutingFileError::Refused(_)) => {}
            Err(e) => self.control.refused(RoutingSource::File, None, e.reason()),
        }
        result
    }

    /// The driver: reads the file now, then `interval` after each read, forever. Spawn it, or
    /// select on it with your shutdown signal.
    pub async fn run(mut self) {
        loop {
            let _ = self.read_once().await;
            let Some(next) = Instant::now().checked_add(self.interval) else {
                return std::future::pending().await;
            };
            sleep_until(next).await;
        }
    }

    /// Parses the file and applies it (see [`AppliedLines`]).
    fn apply(&mut self, text: &str) -> Result<(), RoutingFileError> {
        let named = parse::parse(text)?;
        let named = named.iter().map(|(name, switch)| (name.as_ref(), *switch));
        Ok(self
            .applied
            .apply(&self.control, RoutingSource::File, named)?)
    }
}

impl SwitchSource for RoutingFile {
    type Error = RoutingFileError;

    async fn read_once(&mut self) -> Result<(), RoutingFileError> {
        RoutingFile::read_once(self).await
    }

    async fn run(self) {
        RoutingFile::run(self).await
    }
}

#[cfg(all(test, unix))]
mod tests;
