//! A real etcd server on loopback for the tests: the one `.ci/run` started (`STEADFAST_ETCD`),
//! or one started here from the `etcd` binary, with its own data directory, stopped on drop.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where etcd is missing: how to get it. The tests fail then (in CI and out of it): a test that
/// needs etcd never passes without it.
const MISSING: &str = "these tests need etcd: install Debian's etcd-server (apt-get install \
    etcd-server) or set STEADFAST_ETCD_BIN to an etcd binary; .ci/run installs and starts one";

/// The URL of the shared server, and the server started here when there is none to share.
pub fn shared_url() -> (String, Option<EtcdServer>) {
    match std::env::var("STEADFAST_ETCD") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let server = EtcdServer::start();
            (server.url(), Some(server))
        }
    }
}

/// An etcd process on two free loopback ports, with a data directory that outlives restarts.
pub struct EtcdServer {
    child: Option<Child>,
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl EtcdServer {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "steadfast-etcd-{}-{}",
            std::process::id(),
            free_port()
        ));
        let mut server = EtcdServer {
            child: None,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Starts the process (again, on the same ports and data), and waits until it says it
    /// serves clients.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let binary = std::env::var("STEADFAST_ETCD_BIN").unwrap_or_else(|_| "etcd".into());
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut child = Command::new(&binary)
            .arg("--name=steadfast-test")
            .arg(format!("--data-dir={}", self.dir.display()))
            .arg(format!("--listen-client-urls={}", self.url()))
            .arg(format!("--advertise-client-urls={}", self.url()))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=steadfast-test={peer}"))
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{MISSING} (running {binary:?}: {e})"));
        let stderr = child.stderr.take().unwrap();
        let (ready, is_ready) = mpsc::channel();
        // Reads the log until the process ends, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut log = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // etcd logs either once it serves clients (by version).
                if line.contains("ready to serve client requests")
                    || line.contains("serving client traffic")
                {
                    let _ = ready.send(Ok(()));
                }
                log.push(line);
            }
            let _ = ready.send(Err(log.join("\n")));
        });
        match is_ready.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => panic!("etcd exited before serving:\n{log}"),
            Err(_) => panic!("etcd did not serve within a minute"),
        }
        self.child = Some(child);
    }

    /// Kills the process and waits for it to end; the data stays for a restart.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
