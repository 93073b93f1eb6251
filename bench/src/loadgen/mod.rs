//! The stack-independent half of the load generator: what a workload is, the client side of
//! the rr protocol, and the statistics and report every transport fills in the same way, so
//! numbers from the Linux and the xdptcp runs are computed identically.

pub mod clients;
pub mod rr;
pub mod stats;

pub use stats::{Errors, Interval, MergedProgress, Report, Stats};

use std::fmt;

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
