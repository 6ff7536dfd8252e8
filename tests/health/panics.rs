//! A check that panics fails that endpoint's check only; the driver keeps running.

use super::support::{ms, secs};
use super::*;

/// A check that panics for `bad` (while polled, or when started if `at_start`) and passes for
/// every other endpoint; records the instants of the checks of `bad`.
fn panicking(
    bad: &'static str,
    at_start: bool,
    started: Arc<Mutex<Vec<Duration>>>,
) -> impl HealthCheck<Error = &'static str, Future: Send + 'static> + Send + 'static {
    let t0 = Instant::now();
    check_fn(move |endpoint: &str| {
        let is_bad = endpoint == bad;
        if is_bad {
            started.lock().unwrap().push(t0.elapsed());
            if at_start {
                panic!("no check for {bad}");
            }
        }
        async move {
            tokio::task::yield_now().await;
            if is_bad {
                panic!("boom");
            }
            Ok(())
        }
    })
}

async fn panics_fail_only_that_endpoint(at_start: bool, error: &str) {
    let t0 = Instant::now();
    let started = Arc::new(Mutex::new(Vec::new()));
    let changes = Changes::new();
    let (table, driver) = spawn(
        HealthChecks::endpoints(["a", "b"], panicking("a", at_start, started.clone()))
            .on_event(changes.clone()),
    );
    at(t0, ms(20_001)).await;
    let a = table.get("a").unwrap();
    assert_eq!(
        (a.healthy, a.consecutive_failures, a.checks),
        (false, 3, 3),
        "three failed checks of a"
    );
    assert_eq!(a.last_error.as_deref(), Some(error));
    let b = table.get("b").unwrap();
    assert_eq!((b.healthy, b.consecutive_passes, b.checks), (true, 3, 3));
    assert_eq!(changes.take(), [change("a", false, secs(20))]);
    // The driver goes on: both endpoints are still checked on the grid.
    at(t0, ms(40_001)).await;
    assert!(!driver.is_finished(), "the driver is still running");
    assert_eq!(table.get("a").unwrap().checks, 5);
    assert_eq!(table.get("b").unwrap().checks, 5);
    assert_eq!(
        *started.lock().unwrap(),
        [0, 10, 20, 30, 40].map(secs).to_vec()
    );
    assert_eq!(changes.take(), []);
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_check_panicking_while_it_runs_fails_that_endpoint_only() {
    panics_fail_only_that_endpoint(false, "check panicked: boom").await;
}

#[tokio::test(start_paused = true)]
async fn a_check_panicking_as_it_starts_fails_that_endpoint_only() {
    panics_fail_only_that_endpoint(true, "check panicked: no check for a").await;
}
