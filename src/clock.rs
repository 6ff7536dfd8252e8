//! The glue's one clock: tokio's, so that `tokio::time::pause()` controls every timer and every
//! instant the layers hand to the pure core (which works in `std::time::Instant`).

/// Now, on tokio's clock, as the core's `Instant`.
#[inline]
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}
