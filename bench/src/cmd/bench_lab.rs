//! `xdptcp bench lab`.

/// Arguments of `xdptcp bench lab`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the lab benchmark.
pub fn run(_args: &Args) -> Result<(), String> {
    Err("not yet".into())
}
