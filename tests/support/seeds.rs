//! Where a test binary's proptest keeps its failures: one file per binary,
//! `tests/<binary>/proptest-regressions.txt`, so that the seeds of one binary are never replayed
//! (or overwritten) by another.

use proptest::test_runner::{Config, FileFailurePersistence};

/// This binary's regressions file. Cargo names an integration test binary after its directory
/// under `tests/`, and sets `CARGO_CRATE_NAME` to that name while compiling it.
const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/",
    env!("CARGO_CRATE_NAME"),
    "/proptest-regressions.txt"
);

/// `config`, keeping its failures in this binary's regressions file.
pub fn persisted(config: Config) -> Config {
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(FILE))),
        ..config
    }
}
