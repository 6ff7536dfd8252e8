//! The chaos layer: every timing rule under paused time with a scripted inner service (windows,
//! latency, hangs, switching at run time, events), reproducibility and the error rate in
//! `rates.rs`, property tests in `props.rs`, and a real HTTP dependency on loopback in `http.rs`.

#[path = "../support/seeds.rs"]
mod seeds;
#[path = "../support/mod.rs"]
mod support;

mod http;
mod props;
mod rates;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::BoxError;
use steadfast::backoff::Backoff;
use steadfast::chaos::{
    Chaos, ChaosHandle, ChaosLayer, Fault, FaultKind, FaultResponse, InjectError, InjectedFault,
    Latency, ResponseFuture, Script,
};
use steadfast::event::Event;
use steadfast::retry::{RetryLayer, RetryPolicy};
use support::{Resp, Scripted, Step, exact, ms, secs};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// A script with a fixed seed.
fn script() -> steadfast::chaos::ScriptBuilder {
    Script::builder().seed(42)
}

/// The faults a hook saw, with the layer's name.
#[derive(Clone, Default)]
struct Faults(Arc<Mutex<Vec<Seen>>>);

/// One fault as the hook saw it: the layer's name and the fault.
type Seen = (Option<String>, Fault);

impl Faults {
    fn hook(&self) -> impl Fn(&Event<'_>) + Clone + use<> {
        let log = self.0.clone();
        move |e: &Event<'_>| {
            if let Event::Fault { chaos, fault, .. } = *e {
                log.lock().unwrap().push((chaos.map(str::to_owned), fault));
            }
        }
    }

    fn take(&self) -> Vec<Fault> {
        self.0.lock().unwrap().drain(..).map(|(_, f)| f).collect()
    }
}

/// One call, as a caller makes it. One that does not complete within `limit` fails the test
/// (rather than hang it).
async fn call_within<S: Service<u32>>(
    limit: Duration,
    svc: &mut S,
    req: u32,
) -> Result<S::Response, S::Error> {
    match tokio::time::timeout(limit, async { svc.ready().await?.call(req).await }).await {
        Ok(r) => r,
        Err(_) => panic!("call {req} did not complete"),
    }
}

/// One call under paused time: a day is an instant.
async fn call<S: Service<u32>>(svc: &mut S, req: u32) -> Result<S::Response, S::Error> {
    call_within(secs(86_400), svc, req).await
}

fn injected(r: &Result<Resp, BoxError>) -> bool {
    matches!(r, Err(e) if e.is::<InjectedFault>())
}

// ---------------------------------------------------------------- windows

#[tokio::test(start_paused = true)]
async fn an_outage_starts_and_ends_at_exactly_its_instants() {
    let t0 = Instant::now();
    let inner = Scripted::new([]);
    let chaos = ChaosHandle::new(script().outage(secs(10)..secs(20)).build().unwrap());
    let mut svc = ChaosLayer::new(chaos).layer(inner.clone());
    for (at, fails) in [
        (0, false),
        (9_999, false),
        (10_000, true),
        (15_000, true),
        (19_999, true),
        (20_000, false),
        (60_000, false),
    ] {
        tokio::time::sleep_until(t0 + ms(at)).await;
        let r = call(&mut svc, at as u32).await;
        assert_eq!(injected(&r), fails, "at {at} ms: {r:?}");
        if !fails {
            assert_eq!(r.unwrap().status, 200);
        }
    }
    // Only the calls left alone reached the dependency.
    assert_eq!(inner.requests(), [0, 9_999, 20_000, 60_000]);
}

#[tokio::test(start_paused = true)]
async fn windows_count_from_the_scripts_start_and_restart_with_a_replace() {
    let t0 = Instant::now();
    let inner = Scripted::new([]);
    tokio::time::sleep(secs(5)).await;
    // Installed at 5 s: the outage is at [6 s, 7 s) on the clock.
    let outage = script().outage(secs(1)..secs(2)).build().unwrap();
    let chaos = ChaosHandle::new(outage.clone());
    let mut svc = ChaosLayer::new(chaos.clone()).layer(inner.clone());
    let mut failing_at = Vec::new();
    for at in (5_000..12_000).step_by(500) {
        tokio::time::sleep_until(t0 + ms(at)).await;
        if injected(&call(&mut svc, 0).await) {
            failing_at.push(at);
        }
        if at == 8_000 {
            // Replaced at 8 s: the same outage again, at [9 s, 10 s).
            chaos.replace(outage.clone());
            assert_eq!(chaos.elapsed(), Duration::ZERO);
            assert_eq!(chaos.calls(), 0);
        }
    }
    assert_eq!(failing_at, [6_000, 6_500, 9_000, 9_500]);
}

#[tokio::test(start_paused = true)]
async fn a_brownout_fails_the_predicted_calls_only_inside_its_window() {
    let t0 = Instant::now();
    let s = script().brownout(secs(1)..secs(2), 0.5).build().unwrap();
    let chaos = ChaosHandle::new(s.clone());
    let inner = Scripted::new([]);
    let mut svc = ChaosLayer::new(chaos).layer(inner.clone());
    let mut failed = 0;
    for i in 0..300u64 {
        // One call every 10 ms: 100 calls inside the window, 200 outside.
        tokio::time::sleep_until(t0 + ms(10 * i)).await;
        let r = call(&mut svc, 0).await;
        let inside = (100..200).contains(&i);
        let predicted = s.decide(i, ms(10 * i)).is_some();
        assert_eq!(injected(&r), predicted, "call {i}");
        assert!(!predicted || inside, "call {i} failed outside the brownout");
        failed += usize::from(predicted);
    }
    // Half of the 100 calls inside, give or take the draw of seed 42.
    assert!((35..=65).contains(&failed), "{failed}");
    assert_eq!(inner.count(), 300 - failed);
}

#[tokio::test(start_paused = true)]
async fn a_script_of_several_windows_plays_in_order() {
    let t0 = Instant::now();
    let s = script()
        .slowdown(secs(1)..secs(2), Latency::fixed(ms(300)))
        .outage(secs(2)..secs(3))
        .hangs(secs(3)..secs(4))
        .build()
        .unwrap();
    let faults = Faults::default();
    let inner = Scripted::new([]);
    let mut svc = ChaosLayer::new(ChaosHandle::new(s))
        .name("db")
        .on_event(faults.hook())
        .layer(inner.clone());
    let mut seen = Vec::new();
    for at in [0, 1_000, 2_000, 3_000, 4_000] {
        tokio::time::sleep_until(t0 + ms(at)).await;
        let begun = Instant::now();
        let r = tokio::time::timeout(secs(60), call(&mut svc, 0)).await;
        let took = begun.elapsed();
        seen.push(match r {
            Err(_) => ("hang", took),
            Ok(r) if injected(&r) => ("error", took),
            Ok(r) => {
                assert_eq!(r.unwrap().status, 200);
                ("ok", took)
            }
        });
    }
    assert_eq!(
        seen,
        [
            ("ok", ms(0)),
            ("ok", ms(300)),
            ("error", ms(0)),
            ("hang", secs(60)),
            ("ok", ms(0)),
        ]
    );
    let log = faults.0.lock().unwrap().clone();
    let kinds: Vec<_> = log
        .iter()
        .map(|(name, f)| (name.as_deref(), f.kind, f.window, f.call))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("db"), FaultKind::Latency, Some(0), 1),
            (Some("db"), FaultKind::Error, Some(1), 2),
            (Some("db"), FaultKind::Hang, Some(2), 3),
        ]
    );
    assert_eq!(inner.count(), 3);
}

// ---------------------------------------------------------------- latency and hangs

#[tokio::test(start_paused = true)]
async fn a_fixed_latency_is_added_exactly_to_the_inner_calls_own_time() {
    let inner = Scripted::new([Step::After(ms(100), Box::new(Step::Status(200)))]);
    let chaos = ChaosHandle::new(script().latency(Latency::fixed(ms(250))).build().unwrap());
    let mut svc = ChaosLayer::new(chaos).layer(inner.clone());
    let t0 = Instant::now();
    assert_eq!(call(&mut svc, 0).await.unwrap().status, 200);
    assert_eq!(t0.elapsed(), ms(350));
    // The inner service was called at once; its future ran after the delay.
    assert_eq!(inner.instants(), [ms(0)]);
}

#[tokio::test(start_paused = true)]
async fn drawn_latencies_are_the_reported_ones_and_within_bounds() {
    let faults = Faults::default();
    let chaos = ChaosHandle::new(
        script()
            .latency(Latency::uniform(ms(10), ms(50)).with_tail(0.1, secs(2), secs(2)))
            .build()
            .unwrap(),
    );
    let mut svc = ChaosLayer::new(chaos)
        .on_event(faults.hook())
        .layer(Scripted::new([]));
    let mut slow = 0;
    for _ in 0..200 {
        let t = Instant::now();
        call(&mut svc, 0).await.unwrap();
        let took = t.elapsed();
        let [fault] = faults.take()[..] else {
            panic!("one fault per call")
        };
        assert_eq!(fault.kind, FaultKind::Latency);
        // tokio's timers fire on whole milliseconds.
        assert!(
            took >= fault.delay && took < fault.delay + ms(1),
            "{took:?} {fault:?}"
        );
        if fault.delay == secs(2) {
            slow += 1;
        } else {
            assert!((ms(10)..ms(50)).contains(&fault.delay), "{fault:?}");
        }
    }
    assert!((8..=35).contains(&slow), "{slow} slow calls of 200 at 10 %");
}

#[tokio::test(start_paused = true)]
async fn an_injected_error_comes_after_the_latency_and_never_reaches_the_dependency() {
    let inner = Scripted::new([]);
    let chaos = ChaosHandle::new(
        script()
            .error_rate(1.0)
            .latency(Latency::fixed(ms(40)))
            .build()
            .unwrap(),
    );
    let mut svc = ChaosLayer::new(chaos).layer(inner.clone());
    let t0 = Instant::now();
    let err = call(&mut svc, 0).await.unwrap_err();
    assert_eq!(t0.elapsed(), ms(40));
    let fault = err.downcast_ref::<InjectedFault>().unwrap().fault;
    assert_eq!(
        (fault.kind, fault.delay, fault.call),
        (FaultKind::Error, ms(40), 0)
    );
    assert_eq!(inner.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_hang_never_completes_until_dropped_and_leaks_nothing() {
    let inner = Scripted::new([]);
    let chaos = ChaosHandle::new(script().hang_rate(1.0).build().unwrap());
    let mut svc = ChaosLayer::new(chaos.clone()).layer(inner.clone());
    svc.ready().await.unwrap();
    let mut fut = Box::pin(svc.call(0));
    let t0 = Instant::now();
    // A day of (paused) time: still pending.
    assert!(
        tokio::time::timeout(secs(86_400), fut.as_mut())
            .await
            .is_err()
    );
    assert_eq!(t0.elapsed(), secs(86_400));
    // The dependency never saw it, and there is nothing to leak.
    assert_eq!((inner.count(), inner.live()), (0, 0));
    drop(fut);
    // The service is still usable, and with chaos off the dependency answers.
    chaos.disable();
    assert_eq!(call(&mut svc, 1).await.unwrap().status, 200);
    assert_eq!(inner.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_delayed_call_drops_the_inner_future() {
    let inner = Scripted::new([Step::Hang]);
    let chaos = ChaosHandle::new(script().latency(Latency::fixed(secs(1))).build().unwrap());
    let mut svc = ChaosLayer::new(chaos).layer(inner.clone());
    // Cut during the delay.
    assert!(
        tokio::time::timeout(ms(500), call(&mut svc, 0))
            .await
            .is_err()
    );
    assert_eq!((inner.count(), inner.live()), (1, 0));
    // Cut while the inner call hangs, after the delay.
    let mut svc2 = svc.clone();
    let inner2 = Scripted::new([Step::Hang]);
    *svc2.get_mut() = inner2.clone();
    assert!(
        tokio::time::timeout(secs(3), call(&mut svc2, 0))
            .await
            .is_err()
    );
    assert_eq!((inner2.count(), inner2.live()), (1, 0));
}

// ---------------------------------------------------------------- switching at run time

#[tokio::test(start_paused = true)]
async fn switching_from_another_task_takes_effect_on_the_next_call() {
    let chaos = ChaosHandle::disabled();
    let inner = Scripted::new([]);
    let mut svc = ChaosLayer::new(chaos.clone()).layer(inner.clone());
    let outage = script().outage(..).build().unwrap();

    // Each switch runs in another task, which has finished before the next call.
    let switch = |f: Box<dyn FnOnce(&ChaosHandle) + Send>| {
        let h = chaos.clone();
        tokio::spawn(async move { f(&h) })
    };
    assert!(!injected(&call(&mut svc, 0).await));
    switch(Box::new(move |h| h.start(outage))).await.unwrap();
    assert!(injected(&call(&mut svc, 1).await));
    switch(Box::new(|h| h.disable())).await.unwrap();
    assert!(!injected(&call(&mut svc, 2).await));
    switch(Box::new(|h| h.enable())).await.unwrap();
    assert!(injected(&call(&mut svc, 3).await));
    let calm = script().build().unwrap();
    switch(Box::new(move |h| h.replace(calm))).await.unwrap();
    assert!(!injected(&call(&mut svc, 4).await));
    assert_eq!(inner.requests(), [0, 2, 4]);
}

#[test]
fn switching_from_another_thread_takes_effect_on_the_next_call() {
    // Real threads and a multi-thread runtime: the switch is made on another OS thread, between
    // two calls, with no synchronisation but the hand-over itself.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let chaos = ChaosHandle::disabled();
        let inner = Scripted::new([]);
        // A service cloned before any switch: it must see every switch too.
        let mut svc = ChaosLayer::new(chaos.clone()).layer(inner.clone());
        let (to_switcher, orders) = std::sync::mpsc::channel::<u32>();
        let (done, switched) = std::sync::mpsc::channel::<()>();
        let h = chaos.clone();
        let switcher = std::thread::spawn(move || {
            for order in orders {
                match order {
                    0 => h.start(Script::builder().seed(1).outage(..).build().unwrap()),
                    1 => h.replace(Script::default()),
                    _ => h.replace(Script::builder().seed(1).hang_rate(1.0).build().unwrap()),
                }
                done.send(()).unwrap();
            }
        });
        for round in 0..50 {
            assert!(
                !injected(&call_within(secs(10), &mut svc, 0).await),
                "round {round}"
            );
            to_switcher.send(0).unwrap();
            switched.recv().unwrap();
            assert!(
                injected(&call_within(secs(10), &mut svc, 0).await),
                "round {round}"
            );
            to_switcher.send(1).unwrap();
            switched.recv().unwrap();
        }
        to_switcher.send(2).unwrap();
        switched.recv().unwrap();
        assert!(
            tokio::time::timeout(ms(50), call(&mut svc, 0))
                .await
                .is_err()
        );
        drop(to_switcher);
        switcher.join().unwrap();
        assert_eq!(inner.count(), 50);
    });
}

#[tokio::test(start_paused = true)]
async fn calls_made_while_disabled_are_untouched_and_not_numbered() {
    let faults = Faults::default();
    let s = script().error_rate(0.5).build().unwrap();
    let chaos = ChaosHandle::new(s.clone());
    chaos.disable();
    let inner = Scripted::new([]);
    let mut svc = ChaosLayer::new(chaos.clone())
        .on_event(faults.hook())
        .layer(inner.clone());
    for _ in 0..100 {
        assert_eq!(call(&mut svc, 0).await.unwrap().status, 200);
    }
    assert_eq!((chaos.calls(), faults.take().len()), (0, 0));
    chaos.enable();
    for i in 0..100 {
        let r = call(&mut svc, 0).await;
        assert_eq!(injected(&r), s.decide(i, Duration::ZERO).is_some());
    }
    assert_eq!(chaos.calls(), 100);
}

// ---------------------------------------------------------------- fault makers and events

#[tokio::test(start_paused = true)]
async fn a_fault_maker_can_answer_with_a_failing_response() {
    let faults = Faults::default();
    let s = script().error_rate(0.3).build().unwrap();
    let inner = Scripted::new([]);
    let mut svc = ChaosLayer::new(ChaosHandle::new(s.clone()))
        .fault(|f| {
            Ok(Resp {
                status: 503,
                retry_after: Some(secs(f.call)),
            })
        })
        .on_event(faults.hook())
        .layer(inner.clone());
    let mut unavailable = 0;
    for i in 0..100 {
        let r = call(&mut svc, 0).await.unwrap();
        let predicted = s.decide(i, Duration::ZERO);
        if let Some(f) = predicted {
            assert_eq!((r.status, r.retry_after), (503, Some(secs(i))));
            assert_eq!(f.kind, FaultKind::Error);
            unavailable += 1;
        } else {
            assert_eq!(r.status, 200);
        }
    }
    let events = faults.take();
    assert_eq!(events.len(), unavailable);
    assert!(events.iter().all(|f| f.kind == FaultKind::Error));
    assert_eq!(inner.count(), 100 - unavailable);
}

/// Regression: `.fault(|_| Ok(response))` leaves the error type to infer until the client is
/// called, so a layer built ahead of its client failed to compile. `fault_response` names no
/// error type: this layer is built, cloned and stored before any service or call exists.
fn unavailable_layer(
    handle: ChaosHandle,
) -> ChaosLayer<FaultResponse<impl Clone + Fn(&Fault) -> Resp>> {
    let layer = ChaosLayer::new(handle).fault_response(|f: &Fault| Resp {
        status: 503,
        retry_after: Some(secs(f.call)),
    });
    layer.clone()
}

#[tokio::test(start_paused = true)]
async fn a_fault_response_answers_for_any_error_type_and_never_reaches_the_service() {
    let chaos = ChaosHandle::new(script().error_rate(1.0).build().unwrap());
    let inner = Scripted::new([]);
    let mut svc = unavailable_layer(chaos.clone()).layer(inner.clone());
    for i in 0..3 {
        let r = call(&mut svc, 0).await.unwrap();
        assert_eq!((r.status, r.retry_after), (503, Some(secs(i))));
    }
    assert_eq!(inner.count(), 0);
    // The same maker over a service with another error type.
    let io = tower::service_fn(|_: u32| async {
        Ok::<_, std::io::Error>(Resp {
            status: 200,
            retry_after: None,
        })
    });
    let mut svc = unavailable_layer(chaos).layer(io);
    assert_eq!(call(&mut svc, 0).await.unwrap().status, 503);
}

#[tokio::test(start_paused = true)]
async fn a_fault_maker_can_make_the_callers_own_error() {
    let svc = tower::service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) });
    let chaos = ChaosHandle::new(script().error_rate(1.0).build().unwrap());
    let mut svc = ChaosLayer::new(chaos.clone())
        .fault(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "chaos",
            ))
        })
        .layer(svc);
    let e = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    // The default maker into io::Error.
    let mut svc = ChaosLayer::new(chaos).layer(tower::service_fn(|x: u32| async move {
        Ok::<_, std::io::Error>(x)
    }));
    let e = call(&mut svc, 1).await.unwrap_err();
    assert!(e.get_ref().unwrap().is::<InjectedFault>());
}

#[tokio::test(start_paused = true)]
async fn every_injected_fault_is_reported_once_with_what_was_injected() {
    let faults = Faults::default();
    let s = script()
        .error_rate(0.2)
        .hang_rate(0.1)
        .latency(Latency::uniform(ms(0), ms(4)))
        .build()
        .unwrap();
    let mut svc = ChaosLayer::new(ChaosHandle::new(s.clone()))
        .on_event(faults.hook())
        .layer(Scripted::new([]));
    let mut expected = Vec::new();
    for i in 0..500 {
        let _ = tokio::time::timeout(secs(1), call(&mut svc, 0)).await;
        expected.extend(s.decide(i, Duration::ZERO));
    }
    let seen = faults.take();
    assert_eq!(seen, expected);
    for kind in [FaultKind::Error, FaultKind::Hang, FaultKind::Latency] {
        assert!(seen.iter().any(|f| f.kind == kind), "no {kind}");
    }
}

// ---------------------------------------------------------------- composed with retry

#[tokio::test(start_paused = true)]
async fn retry_rides_out_a_scripted_outage_at_exact_instants() {
    // Standard schedule, no jitter: attempts at 0, 0.5, 1.5 and 3.5 s. The outage ends at
    // 1.5 s exactly, so the third attempt succeeds and the dependency sees only it.
    let inner = Scripted::new([]);
    let chaos = ChaosHandle::new(script().outage(..ms(1_500)).build().unwrap());
    let policy = RetryPolicy::builder()
        .backoff(exact(Backoff::standard()))
        .classifier(support::classify)
        .build()
        .unwrap();
    let mut svc =
        RetryLayer::new(policy).layer(ChaosLayer::new(chaos.clone()).layer(inner.clone()));
    let t0 = Instant::now();
    assert_eq!(call(&mut svc, 7).await.unwrap().status, 200);
    assert_eq!(t0.elapsed(), ms(1_500));
    assert_eq!(inner.instants(), [ms(1_500)]);
    assert_eq!(chaos.calls(), 3);
}

// ---------------------------------------------------------------- contract

#[tokio::test(start_paused = true)]
async fn readiness_is_the_inner_services() {
    let inner = Scripted::new([]);
    let mut svc = ChaosLayer::new(ChaosHandle::new(script().outage(..).build().unwrap()))
        .layer(inner.clone());
    inner.not_ready_for(secs(2));
    let t0 = Instant::now();
    svc.ready().await.unwrap();
    assert_eq!(t0.elapsed(), secs(2));
    inner.fail_ready("pool closed");
    let Err(e) = svc.ready().await else {
        panic!("ready despite the inner service's error")
    };
    assert_eq!(e.to_string(), "pool closed");
}

#[test]
fn auto_traits_survive() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<ChaosHandle>();
    send_sync::<ChaosLayer>();
    send_sync::<Chaos<Scripted, InjectError, ()>>();
    send::<ResponseFuture<<Scripted as Service<u32>>::Future>>();
    // A future that is not `Send` stays not `Send` (nothing is boxed), and one that is `Sync`
    // stays `Sync`.
    send_sync::<ResponseFuture<std::future::Ready<Result<u32, BoxError>>>>();
}

#[test]
fn the_injected_error_says_what_it_is() {
    let f = Script::builder()
        .seed(1)
        .error_rate(1.0)
        .build()
        .unwrap()
        .decide(3, Duration::ZERO)
        .unwrap();
    let e = InjectedFault::new(f);
    assert_eq!(e.to_string(), "injected fault");
    // Not one of the library's own errors: a dependency failure to every classifier.
    let boxed: BoxError = e.into();
    assert!(!steadfast::classify::is_own_error(&boxed));
    assert_eq!(
        steadfast::classify::outcome_of(&steadfast::DefaultClassifier, &Err::<(), _>(boxed)),
        steadfast::Outcome::failed()
    );
}
