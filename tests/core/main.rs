//! The pure core: backoff schedules, the retry budget, classification and deadlines.

mod backoff;
mod budget;
mod classify;
