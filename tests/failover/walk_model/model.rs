//! The reference model of the walk, written from the failover's module docs: passes ×
//! endpoints in priority order × attempts per endpoint, the first attempt free and every further
//! one 5 tokens, a success giving back the last withdrawal (or depositing 1 on the first try), a
//! pass not started without the tokens for its first attempt.
//!
//! Shared by the walk's property test through the whole stack (`tests/failover/walk_model.rs`)
//! and the planner's own, which drives the plan directly without a runtime
//! (`src/failover/plan/tests.rs`).

use proptest::prelude::*;

/// What an endpoint answers one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Ok,
    NotFound,
    Unavailable,
    Reset,
}

/// Answers, failures three times as likely as each other answer.
pub(crate) fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        1 => Just(Answer::Ok),
        1 => Just(Answer::NotFound),
        3 => Just(Answer::Unavailable),
        3 => Just(Answer::Reset),
    ]
}

/// What the model predicts for one request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Result_ {
    Status(u16),
    Reset,
}

/// The reference model: the state shared between requests.
pub(crate) struct Model {
    scripts: Vec<Vec<Answer>>,
    next: Vec<usize>,
    pub(crate) calls: Vec<usize>,
    pub(crate) level: u32,
    capacity: u32,
    retries: u32,
    per_endpoint: u32,
}

impl Model {
    /// A model of regions answering `scripts`, a budget of `capacity` tokens, `retries` recover
    /// passes and `per_endpoint` attempts per endpoint and pass.
    pub(crate) fn new(
        scripts: &[Vec<Answer>],
        capacity: u32,
        retries: u32,
        per_endpoint: u32,
    ) -> Self {
        Model {
            next: vec![0; scripts.len()],
            calls: vec![0; scripts.len()],
            scripts: scripts.to_vec(),
            level: capacity,
            capacity,
            retries,
            per_endpoint,
        }
    }

    /// One request: its result, its calls and how many recover passes it slept before.
    pub(crate) fn request(&mut self) -> (Result_, usize, u32) {
        let mut sent = 0usize;
        let mut sleeps = 0;
        let mut last_withdrawal = None;
        let mut last = None;
        'walk: for pass in 0..=self.retries {
            if pass > 0 {
                if self.level < 5 {
                    break;
                }
                sleeps += 1;
            }
            for region in 0..self.scripts.len() {
                for _ in 0..self.per_endpoint {
                    if sent > 0 {
                        if self.level < 5 {
                            break 'walk;
                        }
                        self.level -= 5;
                        last_withdrawal = Some(5);
                    }
                    let a = self.scripts[region]
                        .get(self.next[region])
                        .copied()
                        .unwrap_or(Answer::Ok);
                    self.next[region] += 1;
                    self.calls[region] += 1;
                    sent += 1;
                    match a {
                        Answer::Ok => {
                            self.level =
                                (self.level + last_withdrawal.unwrap_or(1)).min(self.capacity);
                            return (Result_::Status(200), sent, sleeps);
                        }
                        Answer::NotFound => return (Result_::Status(404), sent, sleeps),
                        Answer::Unavailable => last = Some(Result_::Status(503)),
                        Answer::Reset => last = Some(Result_::Reset),
                    }
                }
            }
        }
        (last.expect("at least one attempt"), sent, sleeps)
    }
}
