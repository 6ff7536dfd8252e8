//! A loopback port that refuses connections, for tests of unreachable dependencies.

use std::net::SocketAddr;

/// A loopback port that refuses every connection for as long as this value lives: a socket
/// bound to a free port that never listens. Holding the port keeps any other server (another
/// test's, started at the same time) from taking it, which a listener bound and closed again,
/// or a server shut down, would not: such a port can be handed to the next server that asks.
#[derive(Debug)]
pub struct RefusedPort {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl RefusedPort {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().unwrap())
            .expect("a free loopback port");
        let addr = socket.local_addr().expect("its address");
        RefusedPort {
            _socket: socket,
            addr,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
