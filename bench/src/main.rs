//! `xdptcp`: the command-line tool of xdptcp.
//!
//! Subcommands grow with the project: `report criterion` summarises the criterion suites and
//! `congestion` runs the congestion-control simulations. Every error
//! is one line on stderr and a non-zero exit, never a panic.

mod ccsim;
mod cmd;

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
    /// Measure congestion control and loss recovery in a deterministic bottleneck simulation
    /// (goodput against loss next to the Mathis bound, RTOs, burst recovery, fairness).
    Congestion(cmd::congestion::Args),
}

#[derive(Subcommand, Debug)]
enum ReportCommand {
    /// Print a table of the latest criterion results (time per iteration, throughput and the
    /// ratio to the reference implementation measured in the same group).
    Criterion(cmd::criterion_report::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Report(ReportCommand::Criterion(args)) => cmd::criterion_report::run(&args),
        Command::Congestion(args) => cmd::congestion::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdptcp: error: {e}");
            ExitCode::FAILURE
        }
    }
}
