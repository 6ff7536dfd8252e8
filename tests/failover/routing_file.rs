//! The routing file (feature `routing-file`), with real files in a temporary directory: read at
//! once and then an interval after each read (exact instants under paused time: the read runs
//! on the blocking pool, which holds paused time still until it returns), never in a burst;
//! applied whole or not at all; bounded in size and in what its errors repeat; a FIFO blocks
//! nothing; an operator's switch is not undone by reads of an unchanged file.

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use steadfast::event::Event;
use steadfast::failover::{ControlError, Refused, RoutingControl, RoutingSource, Switch};
use steadfast::integrations::routing_file::{RoutingFile, RoutingFileError};

use super::control::{Change, Changes, switches, three};
use super::support::{ms, secs};
use super::*;

const FILE: RoutingSource = RoutingSource::File;

/// A routing file in a fresh temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "steadfast-routing-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempFile(dir.join("routing.json"))
    }

    fn write(&self, text: impl AsRef<[u8]>) {
        replace(&self.0, text.as_ref());
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

/// Replaces `path` atomically, as the docs ask writers to: a temporary file, renamed.
fn replace(path: &std::path::Path, text: &[u8]) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn file_set(name: &str, switch: Switch) -> Change {
    Change::Set(name.into(), switch, FILE)
}

/// Spawns a driver reading `path` into `routing` every `interval`.
fn spawn_driver(
    path: &std::path::Path,
    routing: RoutingControl,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(
        RoutingFile::new(path, routing)
            .interval(interval)
            .unwrap()
            .run(),
    )
}

/// Waits for the reads due by now to finish (paused time cannot pass while one runs).
async fn settle() {
    tokio::time::sleep(Duration::from_nanos(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_routing_file_is_read_at_once_then_every_interval() {
    let file = TempFile::new("interval");
    file.write(r#"{"east": "off"}"#);
    let (east, west, _, f) = three();
    let changes = Changes::default();
    let routing = f.handle().routing().on_event(changes.clone());
    let driver = spawn_driver(&file.0, routing.clone(), secs(5));
    let t0 = Instant::now();
    settle().await;
    assert_eq!(switches(&routing), [Switch::Off, Switch::On, Switch::On]);
    assert_eq!(status(call(&f, 1).await), 200);
    assert_eq!((east.count(), west.count()), (0, 1));
    // Changed: applied at exactly the next read, 5 s after the first.
    file.write(r#"{"west": "off", "north": "off"}"#);
    tokio::time::sleep_until(t0 + secs(5) - ms(1)).await;
    assert_eq!(switches(&routing), [Switch::Off, Switch::On, Switch::On]);
    tokio::time::sleep_until(t0 + secs(5)).await;
    settle().await;
    assert_eq!(
        switches(&routing),
        [Switch::On, Switch::Off, Switch::Off],
        "an endpoint the file no longer names is on again"
    );
    assert_eq!(
        changes.take(),
        [
            file_set("east", Switch::Off),
            file_set("east", Switch::On),
            file_set("west", Switch::Off),
            file_set("north", Switch::Off),
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
    let driver = spawn_driver(&file.0, routing.clone(), secs(5));
    let t0 = Instant::now();
    let good = [Switch::Off, Switch::On, Switch::On];
    settle().await;
    assert_eq!(switches(&routing), good);
    changes.take();
    // Each read at its instant is refused and reported, and the state stays the last good one.
    let too_large = format!("{{}}{}", " ".repeat(1 << 20));
    let cases: [(&[u8], Refused); 8] = [
        (br#"{"east": "off""#, Refused::Malformed),
        (br#"{"west": "off", "west": "off"}"#, Refused::Malformed),
        (br#"{"west": "of"}"#, Refused::Malformed),
        (
            br#"{"east": "off", "west": "off", "north": "off"}"#,
            Refused::LastEndpointOn,
        ),
        (br#"{"south": "off"}"#, Refused::UnknownEndpoint),
        (b"{\"west\": \"off\xff\"}", Refused::Unreadable),
        (too_large.as_bytes(), Refused::TooLarge),
        (b"", Refused::Unreadable),
    ];
    for (k, (bytes, reason)) in cases.into_iter().enumerate() {
        if bytes.is_empty() {
            file.remove();
        } else {
            file.write(bytes);
        }
        tokio::time::sleep_until(t0 + secs(5 * (k as u64 + 1))).await;
        settle().await;
        assert_eq!(switches(&routing), good, "{reason:?}");
        let seen = changes.take();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            matches!(&seen[0], Change::Refused(_, r, FILE) if *r == reason),
            "{seen:?}"
        );
    }
    // A good file again is applied at the next read.
    file.write("{}");
    tokio::time::sleep_until(t0 + secs(45)).await;
    settle().await;
    assert_eq!(switches(&routing), [Switch::On; 3]);
    driver.abort();
}

#[tokio::test]
async fn reading_once_reports_why() {
    let file = TempFile::new("once");
    let (_, _, _, f) = three();
    let mut source = RoutingFile::new(&file.0, f.handle().routing());
    let e = source.read_once().await.unwrap_err();
    assert!(
        matches!(&e, RoutingFileError::Unreadable { path, .. } if *path == file.0),
        "{e}"
    );
    assert_eq!(e.reason(), Refused::Unreadable);
    file.write("[1, 2]");
    assert_eq!(
        source.read_once().await.unwrap_err().to_string(),
        "routing file malformed: invalid type: sequence, \
         expected a JSON object of endpoint names to \"on\" or \"off\" at line 1 column 0"
    );
    file.write(r#"{"west": "maybe"}"#);
    assert_eq!(
        source.read_once().await.unwrap_err().to_string(),
        "routing file malformed: \"maybe\" is neither \"on\" nor \"off\" at line 1 column 16"
    );
    file.write(r#"{"west": "OFF"}"#);
    source.read_once().await.unwrap();
    assert_eq!(switches(&f.handle().routing())[1], Switch::Off);
}

#[tokio::test]
async fn a_byte_order_mark_is_accepted_and_other_bytes_are_not_utf8() {
    let file = TempFile::new("bom");
    let (_, _, _, f) = three();
    let routing = f.handle().routing();
    let mut source = RoutingFile::new(&file.0, routing.clone());
    file.write(b"\xEF\xBB\xBF{\"west\": \"off\"}");
    source.read_once().await.unwrap();
    assert_eq!(switches(&routing), [Switch::On, Switch::Off, Switch::On]);
    file.write(b"{\"north\": \"off\"}\xC3\x28");
    let e = source.read_once().await.unwrap_err();
    assert!(
        matches!(&e, RoutingFileError::Unreadable { reason, .. } if reason == "not UTF-8 (byte 16)"),
        "{e}"
    );
    assert_eq!(switches(&routing), [Switch::On, Switch::Off, Switch::On]);
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
    let file = TempFile::new("large");
    let (_, _, _, f) = three();
    let routing = f.handle().routing();
    let mut source = RoutingFile::new(&file.0, routing.clone());
    let limit = RoutingFile::MAX_SIZE as usize;
    assert_eq!(limit, 1 << 20);
    let at_limit = format!(r#"{{"west": "off"}}{}"#, " ".repeat(limit - 15));
    assert_eq!(at_limit.len(), limit);
    file.write(&at_limit);
    source.read_once().await.unwrap();
    assert_eq!(switches(&routing)[1], Switch::Off);
    file.write(format!("{at_limit} "));
    let e = source.read_once().await.unwrap_err();
    assert_eq!(e, RoutingFileError::TooLarge { limit: 1 << 20 });
    assert_eq!(e.to_string(), "routing file larger than 1048576 bytes");
    assert_eq!(e.reason(), Refused::TooLarge);
    assert_eq!(switches(&routing)[1], Switch::Off);
}

/// Records the name a refusal carried, and its length.
#[derive(Clone, Default)]
struct RefusedNames(Arc<Mutex<Vec<Option<String>>>>);

impl OnEvent for RefusedNames {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::RoutingRefused { endpoint, .. } = *event {
            self.0.lock().unwrap().push(endpoint.map(str::to_owned));
        }
    }
}

#[tokio::test]
async fn errors_and_events_repeat_at_most_a_bounded_part_of_a_name() {
    let file = TempFile::new("long-name");
    let (_, _, _, f) = three();
    let names = RefusedNames::default();
    let routing = f.handle().routing().on_event(names.clone());
    let mut source = RoutingFile::new(&file.0, routing);
    let name = "é".repeat(500_000); // 1,000,000 bytes
    file.write(format!(r#"{{"{name}": "off"}}"#));
    let e = source.read_once().await.unwrap_err();
    let RoutingFileError::Refused(ControlError::UnknownEndpoint(shown)) = &e else {
        panic!("{e}");
    };
    assert_eq!(*shown, format!("{}…", "é".repeat(64)));
    assert!(e.to_string().len() < 200, "{}", e.to_string().len());
    let seen = names.0.lock().unwrap().clone();
    assert_eq!(seen, [Some("é".repeat(64))]);
    // A name given twice, and a value: their messages are bounded too.
    let name = "é".repeat(200_000);
    for text in [
        format!(r#"{{"{name}": "off", "{name}": "on"}}"#),
        format!(r#"{{"west": "{name}"}}"#),
    ] {
        file.write(text);
        let e = source.read_once().await.unwrap_err();
        assert_eq!(e.reason(), Refused::Malformed);
        assert!(e.to_string().len() < 300, "{}", e.to_string().len());
    }
}

#[tokio::test]
async fn a_file_of_32k_names_is_read_in_linear_time() {
    let file = TempFile::new("many");
    let (_, _, _, f) = three();
    let routing = f.handle().routing();
    let mut source = RoutingFile::new(&file.0, routing.clone());
    let names: Vec<String> = (0..32_768)
        .map(|i| format!("\"region-{i:05}\": \"off\""))
        .collect();
    let distinct = format!("{{{}}}", names.join(","));
    assert!(distinct.len() < 1 << 20);
    file.write(&distinct);
    assert_eq!(
        source.read_once().await.unwrap_err().reason(),
        Refused::UnknownEndpoint
    );
    // The same with the first name repeated last: found as a duplicate, after all of them.
    let repeated = format!("{{{},{}}}", names.join(","), names[0]);
    file.write(&repeated);
    assert_eq!(
        source.read_once().await.unwrap_err().to_string(),
        format!(
            "routing file malformed: \"region-00000\" appears twice at line 1 column {}",
            repeated.len() - 8
        )
    );
    assert_eq!(switches(&routing), [Switch::On; 3]);
}

#[tokio::test(start_paused = true)]
async fn intervals_below_the_minimum_are_refused() {
    let (_, _, _, f) = three();
    let new = || RoutingFile::new("/nonexistent/routing.json", f.handle().routing());
    for bad in [Duration::ZERO, Duration::from_nanos(1), ms(99)] {
        let e = new().interval(bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("routing file interval is {bad:?}, expected at least 100ms")
        );
    }
    assert_eq!(RoutingFile::MIN_INTERVAL, ms(100));
    assert!(new().interval(ms(100)).is_ok());
}

/// The instants of the file's refused reads.
#[derive(Clone, Default)]
struct Reads(Arc<Mutex<Vec<Duration>>>, Arc<Mutex<Option<Instant>>>);

impl Reads {
    fn start(&self) {
        *self.1.lock().unwrap() = Some(Instant::now());
    }

    fn take(&self) -> Vec<Duration> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl OnEvent for Reads {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::RoutingRefused { source: FILE, .. } = event {
            let t0 = self.1.lock().unwrap().expect("started");
            self.0.lock().unwrap().push(Instant::now() - t0);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn reads_are_an_interval_apart_and_never_catch_up_in_a_burst() {
    let file = TempFile::new("burst");
    file.write("not json"); // every read is refused, so every read is an event
    let (_, _, _, f) = three();
    let reads = Reads::default();
    reads.start();
    let routing = f.handle().routing().on_event(reads.clone());
    let driver = spawn_driver(&file.0, routing, ms(100));
    tokio::time::sleep(ms(250)).await;
    assert_eq!(reads.take(), [ms(0), ms(100), ms(200)]);
    // The runtime stalls for 10 s (the clock jumps past a hundred due reads): one read when the
    // driver runs again, then the interval from there.
    tokio::time::advance(secs(10)).await;
    tokio::time::sleep_until(Instant::now() + ms(150)).await;
    assert_eq!(
        reads.take(),
        [ms(10_250), ms(10_350)],
        "one read after the stall, then every 100 ms"
    );
    driver.abort();
}

#[tokio::test(start_paused = true)]
async fn an_endless_interval_reads_once_and_never_panics() {
    let file = TempFile::new("endless");
    file.write(r#"{"east": "off"}"#);
    let (_, _, _, f) = three();
    let routing = f.handle().routing();
    let task = spawn_driver(&file.0, routing.clone(), Duration::MAX);
    tokio::time::sleep(ms(10)).await;
    assert!(!task.is_finished());
    assert_eq!(switches(&routing)[0], Switch::Off);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn an_operators_switch_is_not_undone_by_reads_of_an_unchanged_file() {
    let file = TempFile::new("operator");
    file.write(r#"{"east": "off"}"#);
    let (_, _, _, f) = three();
    let changes = Changes::default();
    let routing = f.handle().routing().on_event(changes.clone());
    let driver = spawn_driver(&file.0, routing.clone(), secs(1));
    let t0 = Instant::now();
    settle().await;
    assert_eq!(changes.take(), [file_set("east", Switch::Off)]);
    // The operator switches west off (the file does not name it) and east on (the file says
    // off): ten reads of the unchanged file later, both stand, and the file changed nothing.
    routing.set("west", Switch::Off).unwrap();
    routing.set("east", Switch::On).unwrap();
    tokio::time::sleep_until(t0 + secs(10)).await;
    settle().await;
    assert_eq!(switches(&routing), [Switch::On, Switch::Off, Switch::On]);
    assert_eq!(
        changes.take(),
        [
            Change::Set("west".into(), Switch::Off, RoutingSource::Operator),
            Change::Set("east".into(), Switch::On, RoutingSource::Operator),
        ]
    );
    // An edit of west's line is a new decision: it wins over the operator's switch, and says so.
    // East's line is unchanged: east stays as the operator left it.
    file.write(r#"{"east": "off", "west": "on"}"#);
    tokio::time::sleep_until(t0 + secs(11)).await;
    settle().await;
    assert_eq!(switches(&routing), [Switch::On, Switch::On, Switch::On]);
    assert_eq!(changes.take(), [file_set("west", Switch::On)]);
    // Removing east's line switches it on: it is on already, so nothing changes.
    file.write(r#"{"west": "on"}"#);
    tokio::time::sleep_until(t0 + secs(12)).await;
    settle().await;
    assert_eq!(switches(&routing), [Switch::On; 3]);
    assert_eq!(changes.take(), []);
    driver.abort();
}

#[cfg(unix)]
#[test]
fn a_fifo_at_the_path_blocks_nothing_and_abort_stops_the_driver() {
    let file = TempFile::new("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&file.0)
        .status()
        .unwrap();
    assert!(made.success());
    let (done, finished) = std::sync::mpsc::channel();
    let path = file.0.clone();
    // On its own thread, so that a frozen runtime fails the test instead of hanging it.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let outcome = rt.block_on(async move {
            let (_, _, _, f) = three();
            let changes = Changes::default();
            let routing = f.handle().routing().on_event(changes.clone());
            let mut once = RoutingFile::new(&path, routing.clone());
            let e = once.read_once().await.unwrap_err();
            let driver = spawn_driver(&path, routing, ms(100));
            // A 10 ms ticker on the same runtime ticks at 0, 10, ... 990 ms, as if alone.
            let t0 = Instant::now();
            let mut ticker = tokio::time::interval(ms(10));
            for _ in 0..100 {
                ticker.tick().await;
            }
            let ticked_for = t0.elapsed();
            driver.abort();
            let cancelled = driver.await.unwrap_err().is_cancelled();
            (e, ticked_for, changes.take(), cancelled)
        });
        done.send(outcome).unwrap();
    });
    let (e, ticked_for, refused, cancelled) = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the runtime kept running");
    assert!(
        matches!(&e, RoutingFileError::Unreadable { reason, .. } if reason == "not a regular file"),
        "{e}"
    );
    assert_eq!(ticked_for, ms(990));
    // The read of `read_once`, then the driver's at 0, 100, ... 900 ms.
    assert_eq!(refused.len(), 11, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|c| *c == Change::Refused(None, Refused::Unreadable, FILE))
    );
    assert!(cancelled);
}

#[test]
fn atomically_replaced_files_are_only_ever_read_whole() {
    let file = TempFile::new("atomic");
    let (a, b) = (r#"{"east": "off"}"#, r#"{"west": "off", "north": "off"}"#);
    file.write(a);
    let (_, _, _, f) = three();
    let routing = f.handle().routing();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (path, stop, writes) = (file.0.clone(), stop.clone(), writes.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                replace(&path, if n % 2 == 0 { b } else { a }.as_bytes());
                n += 1;
                writes.store(n, Ordering::Relaxed);
            }
            n
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (whole_a, whole_b) = (
        [Switch::Off, Switch::On, Switch::On],
        [Switch::On, Switch::Off, Switch::Off],
    );
    // At least 300 reads, and on until the writer has replaced the file 100 times during them
    // (on a loaded machine its thread may start late): the race is guaranteed, not hoped for.
    let (mut reads, before) = (0u64, writes.load(Ordering::Relaxed));
    while reads < 300 || writes.load(Ordering::Relaxed) - before < 100 {
        // A fresh source each time: every read sets every endpoint.
        let mut source = RoutingFile::new(&file.0, routing.clone());
        rt.block_on(source.read_once()).unwrap();
        let state = switches(&routing);
        assert!(state == whole_a || state == whole_b, "{state:?}");
        reads += 1;
        if reads % 64 == 0 {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() >= 100);
}

/// Bytes for the property test: arbitrary ones, or objects of known and unknown names to
/// good and bad values, possibly with a byte order mark, cut short or with a byte changed.
fn routing_bytes() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec!["east", "west", "north", "south", "EAST", ""]);
    let value = prop::sample::select(vec!["on", "off", "OFF", "On", "maybe", "1"]);
    let object = (
        prop::collection::vec((name, value), 0..5),
        any::<bool>(),
        any::<Option<prop::sample::Index>>(),
        any::<Option<(prop::sample::Index, u8)>>(),
    )
        .prop_map(|(entries, bom, cut, flip)| {
            let body: Vec<String> = entries
                .iter()
                .map(|(n, v)| format!("{n:?}: {v:?}"))
                .collect();
            let mut bytes = if bom {
                b"\xEF\xBB\xBF".to_vec()
            } else {
                vec![]
            };
            bytes.extend(format!("{{{}}}", body.join(", ")).into_bytes());
            if let Some(at) = cut {
                bytes.truncate(at.index(bytes.len() + 1));
            }
            if let (Some((at, byte)), false) = (flip, bytes.is_empty()) {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            bytes
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 0..64), object]
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::with_cases(256)))]

    /// Any bytes: no panic, and either the whole file applies (every endpoint as it says, on
    /// when unnamed) or nothing changes.
    #[test]
    fn any_bytes_apply_wholly_or_not_at_all(bytes in routing_bytes()) {
        let file = TempFile::new("prop");
        file.write(&bytes);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (_, _, _, f) = three();
        let routing = f.handle().routing();
        routing.set("north", Switch::Off).unwrap();
        let before = switches(&routing);
        let mut source = RoutingFile::new(&file.0, routing.clone());
        match rt.block_on(source.read_once()) {
            Ok(()) => {
                let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
                let named: std::collections::BTreeMap<String, String> =
                    serde_json::from_slice(text).expect("an applied file is a JSON object");
                let expected: Vec<Switch> = ["east", "west", "north"]
                    .iter()
                    .map(|n| match named.get(*n) {
                        Some(v) if v.eq_ignore_ascii_case("off") => Switch::Off,
                        _ => Switch::On,
                    })
                    .collect();
                prop_assert!(named.len() <= 3);
                prop_assert_eq!(switches(&routing), expected);
            }
            Err(_) => prop_assert_eq!(switches(&routing), before),
        }
    }
}
