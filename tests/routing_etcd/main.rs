//! Routing switches from etcd (feature `etcd`), against a real etcd server on loopback (real
//! time: the tests wait on events, never on sleeps). The server is the one `.ci/run` starts
//! (`STEADFAST_ETCD`), or one a test starts itself from the `etcd` binary (`STEADFAST_ETCD_BIN`,
//! default `etcd` on the `PATH`). Without etcd the tests fail, saying how to get it: they never
//! pass without having run.
#![cfg(feature = "etcd")]

mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use etcd_client::Client;
use server::{EtcdServer, shared_url};
use steadfast::BoxError;
use steadfast::event::Event;
use steadfast::failover::{Failover, Refused, RoutingControl, RoutingSource, Switch};
use steadfast::integrations::routing_etcd::EtcdRouting;
use tokio::sync::mpsc;
use tower::{Service, ServiceExt};

/// What the etcd driver reported.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Changed(String, Switch),
    Refused(Option<String>, Refused),
}

/// A hook sending every routing event from etcd down a channel.
fn hook() -> (
    impl Fn(&Event<'_>) + Send + Sync + 'static,
    mpsc::UnboundedReceiver<Seen>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let hook = move |event: &Event<'_>| {
        let seen = match *event {
            Event::RoutingChanged {
                endpoint,
                switch,
                source: RoutingSource::Etcd,
                ..
            } => Seen::Changed(endpoint.to_owned(), switch),
            Event::RoutingRefused {
                endpoint,
                reason,
                source: RoutingSource::Etcd,
                ..
            } => Seen::Refused(endpoint.map(str::to_owned), reason),
            _ => return,
        };
        let _ = tx.send(seen);
    };
    (hook, rx)
}

/// The next event that is not a report of etcd being unreachable (the driver reports each
/// failed attempt while it is down); a minute without one fails the test.
async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    loop {
        let seen = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("an event within a minute")
            .expect("the driver is running");
        if seen != Seen::Refused(None, Refused::Unreadable) {
            return seen;
        }
    }
}

/// The next event, whatever it is.
async fn next_any(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("an event within a minute")
        .expect("the driver is running")
}

/// A key prefix no other test uses.
fn prefix(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "/steadfast-test/{}-{}-{test}/",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One instance of a client: a failover over `east` and `west` counting the calls each gets.
struct Instance {
    failover: Failover<Counting>,
    calls: [Arc<AtomicUsize>; 2],
}

/// An endpoint that answers at once and counts its calls.
#[derive(Clone)]
struct Counting(Arc<AtomicUsize>);

impl Service<u32> for Counting {
    type Response = u32;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u32, BoxError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, x: u32) -> Self::Future {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(x))
    }
}

impl Instance {
    fn new() -> Self {
        let calls = [Arc::default(), Arc::default()];
        let failover = Failover::builder()
            .endpoint("east", Counting(Arc::clone(&calls[0])))
            .endpoint("west", Counting(Arc::clone(&calls[1])))
            .build()
            .unwrap();
        Instance { failover, calls }
    }

    fn routing(&self) -> RoutingControl {
        self.failover.handle().routing()
    }

    /// Makes one call: which endpoint served it.
    async fn serving(&self) -> &'static str {
        let before = self.counts();
        self.failover.clone().oneshot(1).await.unwrap();
        match (self.counts(), before) {
            ((e, w), (e0, w0)) if e == e0 + 1 && w == w0 => "east",
            ((e, w), (e0, w0)) if e == e0 && w == w0 + 1 => "west",
            other => panic!("one call, one endpoint: {other:?}"),
        }
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.calls[0].load(Ordering::SeqCst),
            self.calls[1].load(Ordering::SeqCst),
        )
    }
}

fn switches(routing: &RoutingControl) -> Vec<Switch> {
    routing.state().into_iter().map(|(_, s)| s).collect()
}

/// Spawns an etcd driver for `instance` watching `prefix` at `url`.
fn drive(
    instance: &Instance,
    url: &str,
    prefix: &str,
) -> (tokio::task::JoinHandle<()>, mpsc::UnboundedReceiver<Seen>) {
    let (hook, rx) = hook();
    let driver = EtcdRouting::new([url], prefix, instance.routing().on_event(hook))
        .reconnect_delay(Duration::from_millis(50))
        .unwrap();
    (tokio::spawn(driver.run()), rx)
}

async fn put(url: &str, key: &str, value: &str) {
    let mut client = Client::connect([url], None).await.unwrap();
    client.put(key, value, None).await.unwrap();
}

#[tokio::test]
async fn flipping_a_region_off_moves_every_instance_off_it_and_back() {
    let (url, _server) = shared_url();
    let prefix = prefix("flip");
    let instances: Vec<Instance> = (0..3).map(|_| Instance::new()).collect();
    let mut drivers: Vec<_> = instances.iter().map(|i| drive(i, &url, &prefix)).collect();
    for instance in &instances {
        assert_eq!(instance.serving().await, "east");
    }

    put(&url, &format!("{prefix}east"), "off").await;
    for ((_, events), instance) in drivers.iter_mut().zip(&instances) {
        assert_eq!(
            next(events).await,
            Seen::Changed("east".into(), Switch::Off)
        );
        assert_eq!(instance.serving().await, "west");
    }

    put(&url, &format!("{prefix}east"), " ON ").await;
    for ((_, events), instance) in drivers.iter_mut().zip(&instances) {
        assert_eq!(next(events).await, Seen::Changed("east".into(), Switch::On));
        assert_eq!(instance.serving().await, "east");
    }
    for (driver, _) in drivers {
        driver.abort();
    }
}

#[tokio::test]
async fn switching_off_the_last_region_is_refused_and_reported() {
    let (url, _server) = shared_url();
    let prefix = prefix("last");
    let instances: Vec<Instance> = (0..2).map(|_| Instance::new()).collect();
    let mut drivers: Vec<_> = instances.iter().map(|i| drive(i, &url, &prefix)).collect();

    put(&url, &format!("{prefix}east"), "off").await;
    for (_, events) in &mut drivers {
        assert_eq!(
            next(events).await,
            Seen::Changed("east".into(), Switch::Off)
        );
    }
    put(&url, &format!("{prefix}west"), "off").await;
    for ((_, events), instance) in drivers.iter_mut().zip(&instances) {
        assert_eq!(
            next(events).await,
            Seen::Refused(Some("west".into()), Refused::LastEndpointOn)
        );
        assert_eq!(switches(&instance.routing()), [Switch::Off, Switch::On]);
        assert_eq!(instance.serving().await, "west");
    }
    // The store keeps what the operator wrote.
    let mut client = Client::connect([url.as_str()], None).await.unwrap();
    let stored = client.get(format!("{prefix}west"), None).await.unwrap();
    assert_eq!(stored.kvs()[0].value(), b"off");

    // A value that is neither on nor off is refused too, and named.
    put(&url, &format!("{prefix}east"), "maybe").await;
    for (_, events) in &mut drivers {
        assert_eq!(
            next(events).await,
            Seen::Refused(Some("east".into()), Refused::Malformed)
        );
    }
    // Once the store is valid again, it applies whole: east on, and west off at last.
    put(&url, &format!("{prefix}east"), "on").await;
    for ((_, events), instance) in drivers.iter_mut().zip(&instances) {
        assert_eq!(next(events).await, Seen::Changed("east".into(), Switch::On));
        assert_eq!(
            next(events).await,
            Seen::Changed("west".into(), Switch::Off)
        );
        assert_eq!(instance.serving().await, "east");
    }
    for (driver, _) in drivers {
        driver.abort();
    }
}

#[tokio::test]
async fn while_etcd_is_down_the_switches_stay_and_the_driver_resumes_when_it_is_back() {
    let mut server = EtcdServer::start();
    let url = server.url();
    let prefix = prefix("down");
    let instance = Instance::new();
    let (driver, mut events) = drive(&instance, &url, &prefix);

    put(&url, &format!("{prefix}east"), "off").await;
    assert_eq!(
        next(&mut events).await,
        Seen::Changed("east".into(), Switch::Off)
    );

    server.stop();
    assert_eq!(
        next_any(&mut events).await,
        Seen::Refused(None, Refused::Unreadable),
        "etcd's loss is reported"
    );
    // Reported again on each failed attempt; the switches stay as they were.
    assert_eq!(
        next_any(&mut events).await,
        Seen::Refused(None, Refused::Unreadable)
    );
    assert_eq!(switches(&instance.routing()), [Switch::Off, Switch::On]);
    assert_eq!(instance.serving().await, "west");

    server.restart();
    put(&url, &format!("{prefix}east"), "on").await;
    assert_eq!(
        next(&mut events).await,
        Seen::Changed("east".into(), Switch::On)
    );
    assert_eq!(instance.serving().await, "east");
    driver.abort();
}

#[tokio::test]
async fn a_user_with_read_permission_on_the_prefix_only_follows_it_and_a_wrong_password_is_never_shown()
 {
    use etcd_client::{ConnectOptions, Permission};
    let server = EtcdServer::start();
    let url = server.url();
    let prefix = prefix("auth");
    // The documented setup: a role that may read the prefix, a user with that role only.
    let mut admin = Client::connect([url.as_str()], None).await.unwrap();
    admin.user_add("root", "root-secret", None).await.unwrap();
    admin.user_grant_role("root", "root").await.unwrap();
    admin.role_add("steadfast-routing-reader").await.unwrap();
    admin
        .role_grant_permission(
            "steadfast-routing-reader",
            Permission::read(prefix.as_str()).with_prefix(),
        )
        .await
        .unwrap();
    admin
        .user_add("orders-client", "client-secret", None)
        .await
        .unwrap();
    admin
        .user_grant_role("orders-client", "steadfast-routing-reader")
        .await
        .unwrap();
    admin.auth_enable().await.unwrap();
    let root = ConnectOptions::new().with_user("root", "root-secret");
    let mut admin = Client::connect([url.as_str()], Some(root)).await.unwrap();

    // A wrong password: reported, and the password appears nowhere.
    let instance = Instance::new();
    let (on_event, mut events) = hook();
    let mut wrong = EtcdRouting::new(
        [url.as_str()],
        prefix.as_str(),
        instance.routing().on_event(on_event),
    )
    .user("orders-client", "wrong-secret");
    let error = wrong.read_once().await.unwrap_err();
    assert_eq!(error.reason(), Refused::Unreadable, "{error}");
    assert!(!error.to_string().contains("wrong-secret"), "{error}");
    assert!(!format!("{error:?}").contains("wrong-secret"));
    assert!(!format!("{wrong:?}").contains("wrong-secret"), "{wrong:?}");
    assert!(format!("{wrong:?}").contains("orders-client"));
    assert_eq!(
        next_any(&mut events).await,
        Seen::Refused(None, Refused::Unreadable)
    );

    // The right one: the driver reads and watches with read permission only.
    let (on_event, mut events) = hook();
    let driver = EtcdRouting::new(
        [url.as_str()],
        prefix.as_str(),
        instance.routing().on_event(on_event),
    )
    .user("orders-client", "client-secret")
    .reconnect_delay(Duration::from_millis(50))
    .unwrap();
    let driver = tokio::spawn(driver.run());
    admin
        .put(format!("{prefix}east"), "off", None)
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        Seen::Changed("east".into(), Switch::Off)
    );
    assert_eq!(instance.serving().await, "west");
    // The reader may not write.
    let reader = ConnectOptions::new().with_user("orders-client", "client-secret");
    let mut reader = Client::connect([url.as_str()], Some(reader)).await.unwrap();
    assert!(
        reader
            .put(format!("{prefix}west"), "off", None)
            .await
            .is_err()
    );
    driver.abort();
}
