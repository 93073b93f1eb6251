//! The stack-independent half of the load generator: what a workload is, the client side of
//! the rr protocol, and the statistics and report every transport fills in the same way, so
//! numbers from the Linux and the xdptcp runs are computed identically.

pub mod clients;
pub mod latency;
pub mod rr;
pub mod stats;

pub use stats::{Errors, Interval, MergedProgress, Report, Stats};

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// One load run's settings, the same for the Linux client (`linux::load`, which also takes a
/// thread count beside it) and the xdptcp one (`xdp::load`): parsed once from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    pub workload: Workload,
    pub target: SocketAddr,
    /// Concurrent connections (crr: connect/request/close loops).
    pub conns: usize,
    pub duration: Duration,
    /// Request body size for rr and crr.
    pub size: usize,
    /// Total requests per second over all connections (rr open loop); `None` for closed loop.
    pub rate: Option<f64>,
    /// A connect or request slower than this counts as a timeout and its connection is
    /// replaced.
    pub timeout: Duration,
}

impl LoadConfig {
    /// What every connection is asked to do.
    pub fn plan(&self) -> clients::Plan {
        clients::Plan {
            workload: self.workload,
            size: self.size,
            rate: self.rate,
            timeout: self.timeout,
        }
    }

    /// Share `k` of `n` (threads or queues): its part of the connections, as even as can be
    /// (the first `conns % n` get one more), and of the rate in proportion.
    pub fn share(&self, n: usize, k: usize) -> LoadConfig {
        let n = n.max(1);
        let conns = self.conns / n + usize::from(k < self.conns % n);
        let rate = self.rate.map(|r| r * conns as f64 / self.conns.max(1) as f64);
        LoadConfig { conns, rate, ..self.clone() }
    }
}

/// What a load run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Persistent connections, request/response of `--size` bytes.
    Rr,
    /// Connect, one request/response, close; repeated.
    Crr,
    /// Stream bytes one way as fast as possible.
    Bulk,
    /// rudp connections (reliable messages over UDP), request/response of `--size`-byte
    /// messages against `serve rudp-echo`.
    Rudp,
    /// KCP conversations over kernel UDP, request/response of `--size`-byte messages
    /// against `serve kcp-echo` (the comparison point of rudp).
    Kcp,
}

impl Workload {
    /// The unit `throughput` is given in.
    pub fn unit(self) -> &'static str {
        match self {
            Workload::Rr | Workload::Rudp | Workload::Kcp => "req/s",
            Workload::Crr => "conn/s",
            Workload::Bulk => "Gbit/s",
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Rr => "rr",
            Workload::Crr => "crr",
            Workload::Bulk => "bulk",
            Workload::Rudp => "rudp",
            Workload::Kcp => "kcp",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_split_connections_evenly_and_rate_in_proportion() {
        let cfg = LoadConfig {
            workload: Workload::Rr,
            target: SocketAddr::from(([198, 18, 0, 1], 7001)),
            conns: 10,
            duration: Duration::from_secs(1),
            size: 64,
            rate: Some(1000.0),
            timeout: Duration::from_secs(2),
        };
        let shares: Vec<_> = (0..4).map(|k| cfg.share(4, k)).collect();
        assert_eq!(shares.iter().map(|s| s.conns).collect::<Vec<_>>(), [3, 3, 2, 2]);
        assert_eq!(shares.iter().filter_map(|s| s.rate).sum::<f64>(), 1000.0);
        assert_eq!(shares[0].rate, Some(300.0));
        assert_eq!(LoadConfig { rate: None, ..cfg.clone() }.share(4, 0).rate, None);
        assert_eq!(cfg.share(1, 0), cfg);
    }
}
