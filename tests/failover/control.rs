//! Routing controls: the operator's switch per endpoint (the last one on cannot be switched
//! off, unknown names are refused, nothing changes then). The routing file is in
//! `routing_file.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use steadfast::NoEndpointAvailable;
use steadfast::event::Event;
use steadfast::failover::{
    CallOptions, ControlError, Refused, RequestOptions, RoutingControl, RoutingSource, Switch,
};

use super::support::Scripted;
use super::*;

/// What the control tests record of the routing events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    Set(String, Switch, RoutingSource),
    Refused(Option<String>, Refused, RoutingSource),
}

/// An operator's change.
fn set(name: &str, switch: Switch) -> Change {
    Change::Set(name.into(), switch, RoutingSource::Operator)
}

#[derive(Clone, Default)]
pub(super) struct Changes(Arc<Mutex<Vec<Change>>>);

impl Changes {
    pub(super) fn take(&self) -> Vec<Change> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl OnEvent for Changes {
    fn on_event(&self, event: &Event<'_>) {
        let change = match *event {
            Event::RoutingChanged {
                endpoint,
                switch,
                source,
                ..
            } => Change::Set(endpoint.to_owned(), switch, source),
            Event::RoutingRefused {
                endpoint,
                reason,
                source,
                ..
            } => Change::Refused(endpoint.map(str::to_owned), reason, source),
            _ => return,
        };
        self.0.lock().unwrap().push(change);
    }
}

pub(super) fn three() -> (Scripted, Scripted, Scripted, Failover<Scripted, Classifier>) {
    let (east, west, north) = (Scripted::new([]), Scripted::new([]), Scripted::new([]));
    let f = regions(&[("east", &east), ("west", &west), ("north", &north)])
        .build()
        .unwrap();
    (east, west, north, f)
}

pub(super) fn switches(control: &RoutingControl) -> Vec<Switch> {
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
    // Printed, the handle names the endpoint that serves, not its index.
    assert!(
        format!("{handle:?}").contains(r#"serving: Some("west")"#),
        "{handle:?}"
    );
    assert_eq!(
        serving.failed_over.unwrap().reason,
        Some(Unavailable::SwitchedOff)
    );
    routing.set("east", Switch::On).unwrap();
    assert_eq!(status(call(&f, 4).await), 200);
    assert_eq!((east.count(), west.count()), (2, 2));
    assert_eq!(
        changes.take(),
        [set("east", Switch::Off), set("east", Switch::On)]
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
            Refused::LastEndpointOn,
            RoutingSource::Operator
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
            Refused::UnknownEndpoint,
            RoutingSource::Operator
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
    #![proptest_config(crate::seeds::persisted(ProptestConfig::default()))]
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
