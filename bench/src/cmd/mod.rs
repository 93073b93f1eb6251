//! One module per subcommand.

pub mod criterion_report;
pub mod load;
pub mod serve;

/// The TCP stack an application or load generator runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    /// Linux kernel sockets (the reference).
    Linux,
    /// The xdptcp stack on AF_XDP.
    Xdptcp,
}

/// The answer to `--stack xdptcp` until the driver is wired in.
pub const XDPTCP_NOT_BUILT: &str =
    "--stack xdptcp: the AF_XDP driver is not built yet; use --stack linux";
