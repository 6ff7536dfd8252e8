//! The pure core: backoff schedules, the retry budget, classification and deadlines.

#[path = "../support/seeds.rs"]
mod seeds;

mod backoff;
mod budget;
mod classify;
