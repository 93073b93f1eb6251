//! One module per subcommand.

pub mod bench_lab;
pub mod congestion;
pub mod criterion_report;
pub mod detach;
pub mod hold;
pub mod lab;
pub mod load;
pub mod on_queues;
pub mod proxy;
pub mod reflect;
pub mod serve;
pub mod serve_rudp;
pub mod serve_xdp;
pub mod udp_flood;
pub mod xdp_args;
pub mod xfer;

/// The TCP stack an application or load generator runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    /// Linux kernel sockets (the reference).
    Linux,
    /// The xdptcp stack on AF_XDP.
    Xdptcp,
}
