//! `xdptcp`: the command-line tool of xdptcp.
use clap::Parser;

/// Kernel-bypass TCP/IP stack on AF_XDP.
#[derive(Parser, Debug)]
#[command(name = "xdptcp", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
