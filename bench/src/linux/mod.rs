//! The Linux reference: the same sans-IO apps served over kernel sockets, and the load
//! generator, both on `mio` (non-blocking sockets, edge-triggered epoll, one event loop per
//! thread).

pub mod conn;
pub mod hold;
pub mod kcp;
pub mod load;
pub mod proxy;
pub mod rudp;
pub mod server;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `HOST:PORT` to one address, with a one-line error.
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    match addr.to_socket_addrs() {
        Ok(mut addrs) => {
            addrs.next().ok_or_else(|| format!("bad address '{addr}': resolves to nothing"))
        }
        Err(e) => Err(format!("bad address '{addr}': {}", describe(&e))),
    }
}

/// An I/O error as a short phrase without the "(os error N)" tail.
pub fn describe(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
