//! `xdptcp congestion`: runs the congestion-control simulations (`ccsim`) and prints the
//! tables as markdown, optionally writing them to a file.

use std::path::PathBuf;

use crate::ccsim::report;

/// Arguments of `xdptcp congestion`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Short runs (a few seconds in release mode) instead of the full tables.
    #[arg(long)]
    pub quick: bool,
    /// Write the tables to this markdown file as well.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<(), String> {
    let report = report::measure(args.quick);
    let md = report.to_markdown();
    print!("{md}");
    if let Some(path) = &args.out {
        let doc = format!(
            "# Congestion control and loss recovery, measured\n\n{}\n{md}",
            "Numbers from the deterministic bottleneck simulator (`bench/src/ccsim`): every run \
             is virtual time, so the same command prints the same tables on any machine."
        );
        std::fs::write(path, doc).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
