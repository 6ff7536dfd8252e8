//! Routing controls: the operator's switch per endpoint (the last one on cannot be switched
//! off, unknown names are refused, nothing changes then), and the routing file read on an
//! interval under paused time.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use steadfast::NoEndpointAvailable;
use steadfast::event::Event;
use steadfast::failover::{
    CallOptions, ControlError, Refused, RequestOptions, RoutingControl, RoutingFile, Switch,
};

use super::support::{Scripted, ms, secs};
use super::*;

/// What the control tests record of the routing events.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Set(String, Switch),
    Refused(Option<String>, Refused),
}

#[derive(Clone, Default)]
struct Changes(Arc<Mutex<Vec<Change>>>);

impl Changes {
    fn take(&self) -> Vec<Change> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl OnEvent for Changes {
    fn on_event(&self, event: &Event<'_>) {
        let change = match *event {
            Event::RoutingChanged {
                endpoint, switch, ..
            } => Change::Set(endpoint.to_owned(), switch),
            Event::RoutingRefused {
                endpoint, reason, ..
            } => Change::Refused(endpoint.map(str::to_owned), reason),
            _ => return,
        };
        self.0.lock().unwrap().push(change);
    }
}

fn three() -> (Scripted, Scripted, Scripted, Failover<Scripted, Classifier>) {
    let (east, west, north) = (Scripted::new([]), Scripted::new([]), Scripted::new([]));
    let f = regions(&[("east", &east), ("west", &west), ("north", &north)])
        .build()
        .unwrap();
    (east, west, north, f)
}

fn switches(control: &RoutingControl) -> Vec<Switch> {
    control.state().into_iter().map(|(_, s)| s).collect()
}

#[tokio::test(start_paused = true)]
async fn switching_off_moves_traffic_on_the_next_call_and_back() {
    let (east, west, north, f) = three();
    let handle = f.handle();
    let changes = Changes::default();
    let routing = handle.routing().on_event(changes.clone());
    assert_eq!(status(call(&f, 1).await), 200);
    routing.set("east", Switch::Off).unwrap();
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!((east.count(), west.count(), north.count()), (1, 2, 0));
    let serving = handle.serving();
    assert_eq!(&*serving.endpoint, "west");
    assert_eq!(
        serving.failed_over.unwrap().reason,
        Some(Unavailable::SwitchedOff)
    );
    routing.set("east", Switch::On).unwrap();
    assert_eq!(status(call(&f, 4).await), 200);
    assert_eq!((east.count(), west.count()), (2, 2));
    assert_eq!(
        changes.take(),
        [
            Change::Set("east".into(), Switch::Off),
            Change::Set("east".into(), Switch::On)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_last_endpoint_on_cannot_be_switched_off() {
    let (east, west, north, f) = three();
    let changes = Changes::default();
    let routing = f.handle().routing().on_event(changes.clone());
    routing.set("east", Switch::Off).unwrap();
    routing.set("west", Switch::Off).unwrap();
    assert_eq!(
        routing.set("north", Switch::Off),
        Err(ControlError::LastEndpointOn("north".into()))
    );
    // Several at once: refused as a whole when the result would leave none on.
    assert_eq!(
        routing.apply([("east", Switch::Off), ("north", Switch::Off)]),
        Err(ControlError::LastEndpointOn("north".into()))
    );
    assert_eq!(switches(&routing), [Switch::Off, Switch::Off, Switch::On]);
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count(), north.count()), (0, 0, 1));
    let refused = changes.take();
    assert_eq!(
        refused.last(),
        Some(&Change::Refused(
            Some("north".into()),
            Refused::LastEndpointOn
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_that_leaves_one_on_is_applied_whole() {
    let (_, _, _, f) = three();
    let routing = f.handle().routing();
    routing.set("north", Switch::Off).unwrap();
    routing
        .apply([
            ("north", Switch::On),
            ("east", Switch::Off),
            ("west", Switch::Off),
        ])
        .unwrap();
    assert_eq!(switches(&routing), [Switch::Off, Switch::Off, Switch::On]);
    assert_eq!(
        routing.apply([
            ("north", Switch::Off),
            ("east", Switch::On),
            ("nowhere", Switch::On)
        ]),
        Err(ControlError::UnknownEndpoint("nowhere".into()))
    );
    assert_eq!(
        switches(&routing),
        [Switch::Off, Switch::Off, Switch::On],
        "a refused batch changes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_names_are_refused() {
    let (_, _, _, f) = three();
    let changes = Changes::default();
    let routing = f.handle().routing().on_event(changes.clone());
    assert_eq!(
        routing.set("south", Switch::Off),
        Err(ControlError::UnknownEndpoint("south".into()))
    );
    assert_eq!(
        ControlError::UnknownEndpoint("south".into()).to_string(),
        "no endpoint is named \"south\""
    );
    assert_eq!(switches(&routing), [Switch::On; 3]);
    assert_eq!(
        changes.take(),
        [Change::Refused(
            Some("south".into()),
            Refused::UnknownEndpoint
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn the_control_wins_over_a_closed_breaker_and_cannot_open_a_breaker() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .breakers(one_probe)
        .build()
        .unwrap();
    let handle = f.handle();
    let routing = handle.routing();
    // Off beats a healthy, closed breaker.
    routing.set("east", Switch::Off).unwrap();
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (0, 1));
    // On does not override an open breaker: it only lets the breaker decide again.
    routing.set("east", Switch::On).unwrap();
    trip(&handle, "east");
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!((east.count(), west.count()), (0, 2));
}

/// Pins every request to `east`.
struct PinEast;

impl RequestOptions<u32> for PinEast {
    fn options<'r>(&self, _: &'r u32) -> CallOptions<'r> {
        CallOptions::new().endpoint("east")
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_pinned_to_a_switched_off_endpoint_is_not_sent() {
    let east = Scripted::new([]);
    let west = Scripted::new([]);
    let f = regions(&[("east", &east), ("west", &west)])
        .recover(Backoff::none())
        .options(PinEast)
        .build()
        .unwrap();
    f.handle().routing().set("east", Switch::Off).unwrap();
    let e = call(&f, 1).await.unwrap_err();
    assert_eq!(
        e.downcast_ref::<NoEndpointAvailable>(),
        Some(&NoEndpointAvailable::new(None))
    );
    assert_eq!((east.count(), west.count()), (0, 0));
}

#[test]
fn two_operators_racing_can_never_switch_everything_off() {
    for _ in 0..200 {
        let (_, _, _, f) = three();
        let routing = f.handle().routing();
        routing.set("north", Switch::Off).unwrap();
        let ok = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for name in ["east", "west"] {
                let (routing, ok) = (routing.clone(), &ok);
                s.spawn(move || {
                    if routing.set(name, Switch::Off).is_ok() {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(ok.load(Ordering::Relaxed), 1, "exactly one of them wins");
        let on = switches(&routing)
            .into_iter()
            .filter(|s| *s == Switch::On)
            .count();
        assert_eq!(on, 1);
    }
}

proptest! {
    /// Any sequence of switch commands: the state is the reference model's (a command that
    /// would switch everything off, or names no endpoint, changes nothing), and some endpoint is
    /// always on.
    #[test]
    fn switches_follow_the_model(commands in prop::collection::vec((0usize..4, any::<bool>()), 1..40)) {
        let names = ["east", "west", "north", "nowhere"];
        let (_, _, _, f) = three();
        let routing = f.handle().routing();
        let mut model = [true; 3];
        for (i, on) in commands {
            let switch = if on { Switch::On } else { Switch::Off };
            let result = routing.set(names[i], switch);
            if i == 3 {
                prop_assert_eq!(result, Err(ControlError::UnknownEndpoint("nowhere".into())));
                continue;
            }
            let mut next = model;
            next[i] = on;
            if next.iter().any(|on| *on) {
                prop_assert!(result.is_ok());
                model = next;
            } else {
                prop_assert_eq!(result, Err(ControlError::LastEndpointOn(names[i].into())));
            }
            let expected: Vec<Switch> = model
                .iter()
                .map(|on| if *on { Switch::On } else { Switch::Off })
                .collect();
            prop_assert_eq!(switches(&routing), expected);
        }
    }
}

/// A routing file in a fresh temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("steadfast-routing-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempFile(dir.join("routing.json"))
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.0, text).unwrap();
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_routing_file_is_read_at_once_then_every_interval() {
    let file = TempFile::new("interval");
    file.write(r#"{"east": "off"}"#);
    let (east, west, _, f) = three();
    let changes = Changes::default();
    let routing = f.handle().routing().on_event(changes.clone());
    let driver = tokio::spawn(
        RoutingFile::new(&file.0, routing.clone())
            .interval(secs(5))
            .unwrap()
            .run(),
    );
    let t0 = Instant::now();
    tokio::time::sleep(ms(1)).await;
    assert_eq!(switches(&routing), [Switch::Off, Switch::On, Switch::On]);
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (0, 1));
    // Changed: applied at exactly the next read, 5 s after the first.
    file.write(r#"{"west": "off", "north": "off"}"#);
    tokio::time::sleep_until(t0 + secs(5) - ms(1)).await;
    assert_eq!(switches(&routing), [Switch::Off, Switch::On, Switch::On]);
    tokio::time::sleep_until(t0 + secs(5)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        switches(&routing),
        [Switch::On, Switch::Off, Switch::Off],
        "an endpoint the file no longer names is on again"
    );
    assert_eq!(
        changes.take(),
        [
            Change::Set("east".into(), Switch::Off),
            Change::Set("east".into(), Switch::On),
            Change::Set("west".into(), Switch::Off),
            Change::Set("north".into(), Switch::Off),
        ]
    );
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn a_bad_routing_file_keeps_the_last_good_state() {
    let file = TempFile::new("bad");
    file.write(r#"{"east": "off"}"#);
    let (_, _, _, f) = three();
    let changes = Changes::default();
    let routing = f.handle().routing().on_event(changes.clone());
    let driver = tokio::spawn(
        RoutingFile::new(&file.0, routing.clone())
            .interval(secs(5))
            .unwrap()
            .run(),
    );
    let t0 = Instant::now();
    let good = [Switch::Off, Switch::On, Switch::On];
    tokio::time::sleep(ms(1)).await;
    assert_eq!(switches(&routing), good);
    changes.take();
    // Malformed, then every endpoint off, then an unknown name, then missing: each read at its
    // instant is refused and reported, and the state stays the last good one.
    let cases = [
        (r#"{"east": "off""#, Refused::Malformed),
        (
            r#"{"east": "off", "west": "off", "north": "off"}"#,
            Refused::LastEndpointOn,
        ),
        (r#"{"south": "off"}"#, Refused::UnknownEndpoint),
        ("", Refused::Unreadable),
    ];
    for (k, (text, reason)) in cases.into_iter().enumerate() {
        if text.is_empty() {
            file.remove();
        } else {
            file.write(text);
        }
        tokio::time::sleep_until(t0 + secs(5 * (k as u64 + 1)) + ms(1)).await;
        assert_eq!(switches(&routing), good, "{reason:?}");
        let seen = changes.take();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            matches!(&seen[0], Change::Refused(_, r) if *r == reason),
            "{seen:?}"
        );
    }
    // A good file again is applied at the next read.
    file.write("{}");
    tokio::time::sleep_until(t0 + secs(25) + ms(1)).await;
    assert_eq!(switches(&routing), [Switch::On; 3]);
    driver.abort();
}

#[test]
fn reading_once_reports_why() {
    let file = TempFile::new("once");
    let (_, _, _, f) = three();
    let source = RoutingFile::new(&file.0, f.handle().routing());
    assert!(matches!(
        source.read_once(),
        Err(ControlError::Unreadable(_))
    ));
    file.write("[1, 2]");
    let e = source.read_once().unwrap_err();
    assert_eq!(
        e.to_string(),
        "routing file malformed: expected '{' at byte 0"
    );
    file.write(r#"{"west": "OFF"}"#);
    source.read_once().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_switched_off_endpoint_is_reported_unavailable_in_the_status() {
    let (_, _, _, f) = three();
    let handle = f.handle();
    handle.routing().set("west", Switch::Off).unwrap();
    let status = handle.endpoint_status();
    assert_eq!(status[1].switch, Switch::Off);
    assert_eq!(status[1].unavailable, Some(Unavailable::SwitchedOff));
    assert_eq!(status[0].unavailable, None);
}

#[tokio::test(start_paused = true)]
async fn reported_health_routes_around_a_failing_endpoint_and_fails_open() {
    let (east, west, north, f) = three();
    let handle = f.handle();
    assert_eq!(handle.set_health("east", false), Ok(true));
    assert_eq!(handle.set_health("east", false), Ok(false), "no change");
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (0, 1));
    assert_eq!(
        handle.endpoint_status()[0].unavailable,
        Some(Unavailable::Unhealthy)
    );
    // Every endpoint failing its checks: all count as available again (fail open).
    handle.set_health("west", false).unwrap();
    handle.set_health("north", false).unwrap();
    assert_eq!(status(call(&f, 2).await), 200);
    assert_eq!((east.count(), west.count(), north.count()), (1, 1, 0));
    assert!(handle.endpoint_status()[0].failing_checks);
    assert_eq!(handle.endpoint_status()[0].unavailable, None);
    // The control wins over health: switched off, a passing endpoint is still not called.
    handle.routing().set("east", Switch::Off).unwrap();
    assert_eq!(status(call(&f, 3).await), 200);
    assert_eq!((east.count(), west.count(), north.count()), (1, 2, 0));
    assert_eq!(
        handle.set_health("south", true),
        Err(ControlError::UnknownEndpoint("south".into()))
    );
}
