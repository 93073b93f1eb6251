//! `xdptcp`: the command-line tool of xdptcp.
//!
//! Subcommands grow with the project: `report criterion` summarises the criterion suites and
//! `congestion` runs the congestion-control simulations. Every error
//! is one line on stderr and a non-zero exit, never a panic.

#![forbid(unsafe_code)]

mod ccsim;
mod cmd;

/// Large blocks (the connection table, the chunk slabs) on transparent huge pages: fewer TLB
/// misses with many connections (`xdptcp_driver::hugepage`).
#[global_allocator]
static ALLOC: xdptcp_driver::HugePageAlloc = xdptcp_driver::HugePageAlloc;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Kernel-bypass TCP/IP stack on AF_XDP.
#[derive(Parser, Debug)]
#[command(name = "xdptcp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Summarise benchmark results.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Serve an application (echo, discard, http, sockperf, rr) until SIGINT/SIGTERM.
    Serve(cmd::serve::Args),
    /// Generate load (rr, crr, bulk) against a server for a fixed duration.
    Load(cmd::load::Args),
    /// Open many connections over Linux sockets, echo one message on each, hold them all,
    /// then close them all (the client of the memory and SYN-flood lab proofs).
    Hold(cmd::hold::Args),
    /// One transfer from our stack as the client: send N bytes, read the reply, verify.
    Xfer(cmd::xfer::Args),
    /// Serve an application on the xdptcp stack over AF_XDP (one pinned worker per queue)
    /// until SIGINT/SIGTERM.
    ServeXdp(cmd::serve_xdp::Args),
    /// Remove an XDP program left attached to an interface (after a crash).
    Detach(cmd::detach::Args),
    /// Make or remove the two-namespace veth lab (scripts/lab.sh).
    #[command(subcommand)]
    Lab(cmd::lab::Args),
    /// Measure congestion control and loss recovery in a deterministic bottleneck simulation
    /// (goodput against loss next to the Mathis bound, RTOs, burst recovery, fairness).
    Congestion(cmd::congestion::Args),
    /// Flood a UDP reflector or echo server and count the replies (packets per second).
    UdpFlood(cmd::udp_flood::Args),
    /// Run benchmark suites.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Every workload with every available (server, client) pair in a fresh veth lab: a table
    /// with xdptcp/linux ratios, results.json and SVG plots.
    Lab(cmd::bench_lab::Args),
}

#[derive(Subcommand, Debug)]
enum ReportCommand {
    /// Print a table of the latest criterion results (time per iteration, throughput and the
    /// ratio to the reference implementation measured in the same group).
    Criterion(cmd::criterion_report::Args),
    /// Draw the table and figures of a `bench lab` results.json again (rounded numbers,
    /// summary.svg, throughput plots).
    Lab(cmd::bench_lab::RedrawArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Report(ReportCommand::Criterion(args)) => cmd::criterion_report::run(&args),
        Command::Report(ReportCommand::Lab(args)) => cmd::bench_lab::redraw(&args),
        Command::Serve(args) => cmd::serve::run(&args),
        Command::Load(args) => cmd::load::run(&args),
        Command::Xfer(args) => cmd::xfer::run(&args),
        Command::Hold(args) => cmd::hold::run(&args),
        Command::ServeXdp(args) => cmd::serve_xdp::run(&args),
        Command::Detach(args) => cmd::detach::run(&args),
        Command::Lab(args) => cmd::lab::run(&args),
        Command::Congestion(args) => cmd::congestion::run(&args),
        Command::UdpFlood(args) => cmd::udp_flood::run(&args),
        Command::Bench(BenchCommand::Lab(args)) => cmd::bench_lab::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdptcp: error: {e}");
            ExitCode::FAILURE
        }
    }
}
