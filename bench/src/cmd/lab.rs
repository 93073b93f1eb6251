//! `xdptcp lab up NAME [--queues N [--rss [--rss-key microsoft|symmetric]]] [--loss-pct P]
//! [--rate RATE] [--mtu MTU]` and `xdptcp lab down NAME`: the two-namespace veth lab of
//! `scripts/lab.sh`.
//!
//! The script is compiled into the binary (`include_str!`) and run with `bash -c`, so the
//! command works from any directory and the lab has one definition, not a shell one and a
//! Rust one that could drift apart. Its standard output (names, addresses, the `KEY=VALUE`
//! line) is passed through; its error output becomes the one-line error of this command.
//! The RSS classifier's C source (`scripts/lab/veth-rss.bpf.c`) is compiled in too and handed
//! to the script in `XDPTCP_LAB_RSS_SRC`, which compiles it from clang's standard input: the
//! script run from memory has no directory to find the file in, and nothing is written
//! outside the script's own temporary directory.

use std::process::{Command, Stdio};

const LAB_SCRIPT: &str = include_str!("../../../scripts/lab.sh");
const RSS_SOURCE: &str = include_str!("../../../scripts/lab/veth-rss.bpf.c");

/// `--rss-key`: the key of the lab's RSS classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RssKeyArg {
    /// The Microsoft key (xdptcp's default `--rss-key`).
    Microsoft,
    /// 6d:5a repeated: a flow hashes alike both ways (xdptcp `--rss-key symmetric`).
    Symmetric,
}

/// Arguments of `xdptcp lab`.
#[derive(clap::Subcommand, Debug)]
pub enum Args {
    /// Make namespaces NAME-a (stack side) and NAME-k (kernel side) joined by a veth pair.
    Up {
        /// Lab name: 1-8 of [A-Za-z0-9-].
        name: String,
        /// RX/TX queues on each veth end.
        #[arg(long, default_value_t = 1)]
        queues: u32,
        /// Pick the stack side's RX queue of each TCP/UDP frame as a NIC's RSS would
        /// (Toeplitz over the 4-tuple, 128-entry table of i % N; needs --queues N > 1 and
        /// clang).
        #[arg(long)]
        rss: bool,
        /// The RSS key of --rss.
        #[arg(long, value_enum)]
        rss_key: Option<RssKeyArg>,
        /// MTU of both veth ends (68..9216).
        #[arg(long)]
        mtu: Option<u32>,
        /// Drop this percentage of frames each way (nftables on the kernel side).
        #[arg(long)]
        loss_pct: Option<f64>,
        /// tc tbf bottleneck on the kernel side, e.g. 100mbit.
        #[arg(long)]
        rate: Option<String>,
    },
    /// Remove the lab (safe to run twice).
    Down {
        /// Lab name.
        name: String,
    },
}

/// Runs the lab script with the arguments.
pub fn run(args: &Args) -> Result<(), String> {
    let mut argv: Vec<String> = Vec::new();
    match args {
        Args::Up { name, queues, rss, rss_key, loss_pct, rate, mtu } => {
            // Even `--rss-key microsoft` (the script's default) would be ignored without --rss.
            if rss_key.is_some() && !rss {
                return Err("lab: --rss-key needs --rss".into());
            }
            argv.extend(["up".into(), name.clone(), "--queues".into(), queues.to_string()]);
            if *rss {
                argv.push("--rss".into());
            }
            if let Some(k) = rss_key {
                let k = if *k == RssKeyArg::Symmetric { "symmetric" } else { "microsoft" };
                argv.extend(["--rss-key".into(), k.into()]);
            }
            if let Some(m) = mtu {
                argv.extend(["--mtu".into(), m.to_string()]);
            }
            if let Some(p) = loss_pct {
                argv.extend(["--loss-pct".into(), p.to_string()]);
            }
            if let Some(r) = rate {
                argv.extend(["--rate".into(), r.clone()]);
            }
        }
        Args::Down { name } => argv.extend(["down".into(), name.clone()]),
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(LAB_SCRIPT)
        .arg("xdptcp lab")
        .args(&argv)
        .env("XDPTCP_LAB_RSS_SRC", RSS_SOURCE)
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run bash for the lab script: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    Err(if lines.is_empty() {
        format!("lab {} failed ({})", argv[0], out.status)
    } else {
        lines.join("; ")
    })
}
