//! The driver's structure, with a read that blocks in the file system (which the real reader
//! never does on a FIFO, so it is swapped for one that does): no other task waits for it, and
//! dropping the driver stops it at once.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;
use crate::failover::{Failover, Switch};

static READ_STARTED: AtomicBool = AtomicBool::new(false);
static READ_ENDED: AtomicBool = AtomicBool::new(false);

/// Reads the way the reader did before it moved off the runtime: opening a FIFO waits for a
/// writer.
fn blocking_read(path: &Path) -> Result<String, RoutingFileError> {
    READ_STARTED.store(true, Ordering::SeqCst);
    let text = std::fs::read_to_string(path);
    READ_ENDED.store(true, Ordering::SeqCst);
    text.map_err(|e| RoutingFileError::unreadable(path, e.to_string()))
}

#[test]
fn a_stuck_read_blocks_no_task_and_abort_stops_the_driver() {
    let dir = std::env::temp_dir().join(format!("steadfast-stuck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("routing.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());

    let (done, finished) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        // Real time: a blocking task holds paused time still.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let region = tower::service_fn(|x: u32| async move { Ok::<_, crate::BoxError>(x) });
        let failover = Failover::builder()
            .endpoint("east", region)
            .endpoint("west", region)
            .build()
            .unwrap();
        let routing = failover.handle().routing();
        let mut source = RoutingFile::new(&path, routing.clone());
        source.read = blocking_read;
        let stopped = rt.block_on(async move {
            let driver = tokio::spawn(source.run());
            while !READ_STARTED.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // The read is stuck on its blocking thread; a ticker on this runtime keeps ticking.
            let mut ticker = tokio::time::interval(Duration::from_millis(1));
            for _ in 0..20 {
                ticker.tick().await;
            }
            assert!(
                !READ_ENDED.load(Ordering::SeqCst),
                "the read is still stuck"
            );
            driver.abort();
            driver.await.unwrap_err().is_cancelled()
        });
        // Unblock the read with a file that would switch east off, had the driver survived.
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(br#"{"east": "off"}"#).unwrap();
        drop(writer);
        while !READ_ENDED.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(rt);
        done.send((stopped, routing.state())).unwrap();
    });
    let (stopped, state) = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the runtime was never blocked, and abort returned");
    assert!(stopped, "the driver was cancelled");
    assert!(
        state.iter().all(|(_, s)| *s == Switch::On),
        "nothing applied after the abort: {state:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
