//! The driver on its own: thresholds and hysteresis, the schedule, timeouts, independence of
//! endpoints, configuration errors, and what dropping it does.

use steadfast::health::{HealthChecks, HealthTable};

use super::support::{ms, secs};
use super::*;

/// The schedule of `n` checks every 10 s from 0.
fn grid(n: u64, every: u64) -> Vec<Duration> {
    (0..n).map(|k| secs(k * every)).collect()
}

/// Endpoint `name`'s (verdict, consecutive failures, consecutive passes, checks ended).
fn row(table: &HealthTable, name: &str) -> (bool, u32, u32, u64) {
    let h = table.get(name).expect("a checked endpoint");
    (
        h.healthy,
        h.consecutive_failures,
        h.consecutive_passes,
        h.checks,
    )
}

#[tokio::test(start_paused = true)]
async fn defaults_check_every_10s_and_three_failures_then_three_passes_flip_the_verdict() {
    let t0 = Instant::now();
    let probes = Probes::new().script("db", [Fail("refused"), Fail("refused"), Fail("503")], Pass);
    let changes = Changes::new();
    let (table, driver) =
        spawn(HealthChecks::endpoints(["db"], probes.check()).on_event(changes.clone()));

    // Two failures: still healthy, since the start.
    at(t0, ms(19_999)).await;
    assert_eq!(row(&table, "db"), (true, 2, 0, 2));
    assert_eq!(since(t0, table.get("db").unwrap().since), Duration::ZERO);
    // The third, at exactly 20 s, makes it unhealthy.
    at(t0, ms(20_001)).await;
    let h = table.get("db").unwrap();
    assert_eq!(row(&table, "db"), (false, 3, 0, 3));
    assert_eq!(since(t0, h.since), secs(20));
    assert_eq!(h.last_error.as_deref(), Some("503"));
    assert_eq!(changes.take(), [change("db", false, secs(20))]);
    // Passes at 30 and 40: still unhealthy, the last error kept.
    at(t0, ms(49_999)).await;
    assert_eq!(row(&table, "db"), (false, 0, 2, 5));
    assert_eq!(table.get("db").unwrap().last_error.as_deref(), Some("503"));
    // The third pass, at exactly 50 s, makes it healthy; the error is cleared.
    at(t0, ms(50_001)).await;
    let h = table.get("db").unwrap();
    assert_eq!(row(&table, "db"), (true, 0, 3, 6));
    assert_eq!((since(t0, h.since), h.last_error), (secs(50), None));
    assert_eq!(changes.take(), [change("db", true, secs(50))]);
    assert_eq!(probes.started("db"), grid(6, 10));
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn alternating_results_never_flip_the_verdict() {
    let t0 = Instant::now();
    // Fail, pass, fail, pass…; and two failures, a pass, two failures, a pass…: never three in
    // a row.
    let alternating = (0..20).map(|k| if k % 2 == 0 { Fail("x") } else { Pass });
    let pairs = (0..30).map(|k| if k % 3 == 2 { Pass } else { Fail("x") });
    let probes = Probes::new()
        .script("a", alternating, Pass)
        .script("b", pairs, Pass);
    let changes = Changes::new();
    let (table, driver) =
        spawn(HealthChecks::endpoints(["a", "b"], probes.check()).on_event(changes.clone()));
    for k in 0..30 {
        at(t0, secs(10 * k) + ms(1)).await;
        assert_eq!(table.is_healthy("a"), Some(true), "a after check {k}");
        assert_eq!(table.is_healthy("b"), Some(true), "b after check {k}");
    }
    assert_eq!(row(&table, "b"), (true, 0, 1, 30));
    assert_eq!(changes.take(), []);

    // Once unhealthy, the same patterns of passes never make it healthy.
    let probes = Probes::new().script(
        "c",
        [Fail("x"), Fail("x"), Fail("x")]
            .into_iter()
            .chain((0..20).map(|k| if k % 3 == 2 { Fail("x") } else { Pass })),
        Fail("x"),
    );
    let t1 = Instant::now();
    let driver2 = HealthChecks::endpoints(["c"], probes.check())
        .build()
        .unwrap();
    let table = driver2.table();
    let driver2 = tokio::spawn(driver2);
    for k in 2..23 {
        at(t1, secs(10 * k) + ms(1)).await;
        assert_eq!(table.is_healthy("c"), Some(false), "c after check {k}");
    }
    driver.abort();
    driver2.abort();
}

#[tokio::test(start_paused = true)]
async fn thresholds_of_one_and_five_are_exact() {
    let t0 = Instant::now();
    let probes = Probes::new().script("one", [Fail("x"), Pass], Pass).script(
        "five",
        (0..5).map(|_| Fail("x")),
        Pass,
    );
    let changes = Changes::new();
    let (_, driver) = spawn(
        HealthChecks::endpoints(["one", "five"], probes.check())
            .unhealthy_after(1)
            .healthy_after(1)
            .on_event(changes.clone()),
    );
    at(t0, secs(55)).await;
    assert_eq!(
        changes.take(),
        [
            change("one", false, secs(0)),
            change("five", false, secs(0)),
            change("one", true, secs(10)),
            change("five", true, secs(50)),
        ]
    );
    driver.abort();

    let t0 = Instant::now();
    let probes = Probes::new().script("five", (0..5).map(|_| Fail("x")), Pass);
    let changes = Changes::new();
    let (_, driver) = spawn(
        HealthChecks::endpoints(["five"], probes.check())
            .unhealthy_after(5)
            .healthy_after(5)
            .on_event(changes.clone()),
    );
    at(t0, secs(95)).await;
    assert_eq!(
        changes.take(),
        [
            change("five", false, secs(40)),
            change("five", true, secs(90))
        ]
    );
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_hanging_check_is_cut_at_exactly_the_timeout_and_counts_as_a_failure() {
    let t0 = Instant::now();
    let probes = Probes::new().script("db", [], Hang);
    let changes = Changes::new();
    let (table, driver) =
        spawn(HealthChecks::endpoints(["db"], probes.check()).on_event(changes.clone()));
    at(t0, ms(1_999)).await;
    assert_eq!(row(&table, "db"), (true, 0, 0, 0));
    at(t0, ms(2_000) + Duration::from_nanos(1)).await;
    let h = table.get("db").unwrap();
    assert_eq!(row(&table, "db"), (true, 1, 0, 1));
    assert_eq!(since(t0, h.last_check.unwrap()), secs(2));
    assert_eq!(h.last_error.as_deref(), Some("check timed out after 2s"));
    // Checks start on the grid regardless: cut at 2, 12 and 22 s; unhealthy at 22 s.
    at(t0, secs(25)).await;
    assert_eq!(probes.started("db"), grid(3, 10));
    assert_eq!(changes.take(), [change("db", false, secs(22))]);
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_check_completing_at_its_timeout_passes_and_one_just_after_fails() {
    let t0 = Instant::now();
    let probes = Probes::new()
        .script("on-time", [], after(secs(2), Pass))
        .script("late", [], after(secs(2) + Duration::from_nanos(1), Pass));
    let (table, driver) = spawn(HealthChecks::endpoints(["on-time", "late"], probes.check()));
    at(t0, secs(3)).await;
    assert_eq!(row(&table, "on-time"), (true, 0, 1, 1));
    assert_eq!(row(&table, "late"), (true, 1, 0, 1));
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_hanging_endpoint_never_delays_another() {
    let t0 = Instant::now();
    let probes = Probes::new()
        .script("hangs", [], Hang)
        .script("slow", [], after(ms(1_500), Pass))
        .script("quick", [], Pass);
    let (table, driver) = spawn(HealthChecks::endpoints(
        ["hangs", "slow", "quick"],
        probes.check(),
    ));
    // Just after the first round: the quick check ended at 0, the slow one at 1.5 s, while the
    // hanging one still runs.
    at(t0, ms(1_501)).await;
    let ended = |name| table.get(name).unwrap().last_check.map(|t| since(t0, t));
    assert_eq!(ended("quick"), Some(Duration::ZERO));
    assert_eq!(ended("slow"), Some(ms(1_500)));
    assert_eq!(ended("hangs"), None);
    at(t0, ms(40_001)).await;
    for name in ["hangs", "slow", "quick"] {
        assert_eq!(probes.started(name), grid(5, 10), "{name}");
    }
    assert_eq!(ended("quick"), Some(secs(40)));
    assert_eq!(ended("slow"), Some(secs(30) + ms(1_500)));
    assert_eq!(ended("hangs"), Some(secs(32)));
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_timeout_longer_than_the_interval_skips_the_overlapped_ticks() {
    let t0 = Instant::now();
    let probes =
        Probes::new()
            .script("hangs", [], Hang)
            .script("slow", [after(secs(12), Pass)], Pass);
    let (table, driver) = spawn(
        HealthChecks::endpoints(["hangs", "slow"], probes.check())
            .interval(secs(10))
            .timeout(secs(15)),
    );
    at(t0, ms(60_001)).await;
    // Cut at 15, 35, 55 s; the 10, 30 and 50 s ticks skipped.
    assert_eq!(
        probes.started("hangs"),
        [secs(0), secs(20), secs(40), secs(60)]
    );
    assert_eq!(
        since(t0, table.get("hangs").unwrap().last_check.unwrap()),
        secs(55)
    );
    // The 12 s check made it skip 10 s only.
    assert_eq!(
        probes.started("slow"),
        [secs(0), secs(20), secs(30), secs(40), secs(50), secs(60)]
    );
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_timeout_equal_to_the_interval_checks_back_to_back() {
    let t0 = Instant::now();
    let probes = Probes::new().script("hangs", [], Hang);
    let (table, driver) = spawn(
        HealthChecks::endpoints(["hangs"], probes.check())
            .interval(secs(5))
            .timeout(secs(5))
            .unhealthy_after(2),
    );
    at(t0, ms(15_001)).await;
    assert_eq!(probes.started("hangs"), grid(4, 5));
    let h = table.get("hangs").unwrap();
    assert_eq!(
        (h.healthy, since(t0, h.since), h.checks),
        (false, secs(10), 3)
    );
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_custom_interval_is_exact() {
    let t0 = Instant::now();
    let probes = Probes::new();
    let (_, driver) = spawn(
        HealthChecks::endpoints(["a"], probes.check())
            .interval(ms(250))
            .timeout(ms(100)),
    );
    at(t0, ms(1_001)).await;
    assert_eq!(
        probes.started("a"),
        [ms(0), ms(250), ms(500), ms(750), ms(1_000)]
    );
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn the_first_checks_run_when_the_driver_is_first_polled() {
    let t0 = Instant::now();
    let probes = Probes::new();
    let driver = HealthChecks::endpoints(["a"], probes.check())
        .build()
        .unwrap();
    let table = driver.table();
    at(t0, secs(7)).await;
    assert_eq!(probes.started("a"), Vec::<Duration>::new());
    assert_eq!(since(t0, table.get("a").unwrap().since), Duration::ZERO);
    let driver = tokio::spawn(driver);
    at(t0, ms(27_001)).await;
    assert_eq!(probes.started("a"), [secs(7), secs(17), secs(27)]);
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn dropping_the_driver_makes_its_unhealthy_endpoints_healthy_and_drops_running_checks() {
    let t0 = Instant::now();
    let probes = Probes::new()
        .script("down", [], Fail("refused"))
        .script("hangs", [], Hang);
    let changes = Changes::new();
    let (table, task) = spawn(
        HealthChecks::endpoints(["down", "hangs"], probes.check())
            .unhealthy_after(1)
            .timeout(secs(5))
            .on_event(changes.clone()),
    );
    at(t0, secs(11)).await;
    assert_eq!(table.is_healthy("down"), Some(false));
    assert_eq!(table.is_healthy("hangs"), Some(false));
    assert_eq!(changes.take().len(), 2);
    task.abort();
    let _ = task.await;
    // Healthy since the drop, its error cleared as for any return to health.
    let h = table.get("down").unwrap();
    assert_eq!((h.healthy, since(t0, h.since)), (true, secs(11)));
    assert_eq!((h.last_error, h.consecutive_failures), (None, 0));
    assert_eq!(table.is_healthy("hangs"), Some(true));
    assert_eq!(
        changes.take(),
        [
            change("down", true, secs(11)),
            change("hangs", true, secs(11))
        ]
    );
    // Nothing runs any more.
    at(t0, secs(60)).await;
    assert_eq!(probes.started("down").len(), 2);
}

#[test]
fn invalid_settings_are_typed_errors() {
    let check = || check_fn(|_: &str| async { Ok::<(), BoxError>(()) });
    let err = |b: HealthChecks<_>| b.build().unwrap_err().to_string();
    assert_eq!(
        err(HealthChecks::endpoints(["a"], check()).interval(Duration::ZERO)),
        "health check interval is 0ns, expected more than zero"
    );
    assert_eq!(
        err(HealthChecks::endpoints(["a"], check()).timeout(Duration::ZERO)),
        "health check timeout is 0ns, expected more than zero"
    );
    assert_eq!(
        err(HealthChecks::endpoints(["a"], check()).unhealthy_after(0)),
        "health check unhealthy_after is 0, expected at least 1"
    );
    assert_eq!(
        err(HealthChecks::endpoints(["a"], check()).healthy_after(0)),
        "health check healthy_after is 0, expected at least 1"
    );
    assert_eq!(
        err(HealthChecks::endpoints(Vec::<String>::new(), check())),
        "health check endpoint count is 0, expected at least 1"
    );
    assert_eq!(
        err(HealthChecks::endpoints(["a", "b", "a"], check())),
        "health check endpoint name is \"a\", expected a name given to one endpoint only"
    );
    for name in ["", "db "] {
        assert_eq!(
            err(HealthChecks::endpoints(["a", name], check())),
            format!(
                "health check endpoint name is {name:?}, expected a non-empty name without \
                 leading or trailing whitespace"
            )
        );
    }
    // Durations beyond 365 days are taken for unit mistakes; up to that they are accepted.
    assert_eq!(
        err(HealthChecks::endpoints(["a"], check()).interval(Duration::MAX)),
        format!(
            "health check interval is {:?}, expected at most 365 days",
            Duration::MAX
        )
    );
    assert!(
        err(HealthChecks::endpoints(["a"], check()).timeout(Duration::MAX))
            .starts_with("health check timeout is")
    );
    assert!(
        HealthChecks::endpoints(["a"], check())
            .interval(steadfast::MAX_DURATION)
            .timeout(steadfast::MAX_DURATION)
            .build()
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn absurd_durations_run_without_panicking() {
    let t0 = Instant::now();
    let probes = Probes::new().script("a", [], Hang);
    let (table, driver) = spawn(
        HealthChecks::endpoints(["a"], probes.check())
            .interval(steadfast::MAX_DURATION)
            .timeout(steadfast::MAX_DURATION),
    );
    at(t0, secs(86_400 * 364)).await;
    assert_eq!(probes.started("a"), [Duration::ZERO]);
    assert_eq!(table.get("a").unwrap().checks, 0);
    driver.abort();

    let probes = Probes::new();
    let t0 = Instant::now();
    let (_, driver) = spawn(
        HealthChecks::endpoints(["a"], probes.check())
            .interval(Duration::from_nanos(1))
            .timeout(steadfast::MAX_DURATION),
    );
    // Timers have a resolution of a millisecond: one check per millisecond, no spinning.
    at(t0, ms(5)).await;
    let started = probes.started("a").len();
    assert!((5..=7).contains(&started), "{started} checks");
    driver.abort();
}

#[test]
fn the_driver_is_send_and_its_table_is_send_and_sync() {
    fn send<T: Send + 'static>(_: &T) {}
    fn sync<T: Sync>(_: &T) {}
    let driver = HealthChecks::endpoints(["a"], Probes::new().check())
        .build()
        .unwrap();
    sync(&driver.table());
    send(&driver.table());
    send(&driver);
}
