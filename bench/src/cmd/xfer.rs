//! `xdptcp xfer --stack xdptcp --connect ADDR:PORT --bytes N`: our stack as the client. One
//! connection sends N bytes of a known pattern, half-closes, reads until the peer's FIN and
//! (with an echo peer) checks every byte against the pattern.

use super::xdp_args::XdpArgs;
use std::net::SocketAddr;
use xdptcp_bench::xdp::{self, client::Outcome, client::XferClient};
use xdptcp_driver::Host;

/// Arguments of `xdptcp xfer`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The stack (only xdptcp: a Linux client is `nc` or `load bulk`).
    #[arg(long, value_enum, default_value_t = super::Stack::Xdptcp)]
    pub stack: super::Stack,
    /// Server to connect to.
    #[arg(long)]
    pub connect: String,
    /// Bytes to send.
    #[arg(long, default_value_t = 1 << 20)]
    pub bytes: u64,
    /// Do not check the returned bytes (the peer is not an echo).
    #[arg(long)]
    pub no_verify: bool,
    #[command(flatten)]
    pub xdp: XdpArgs,
}

/// Runs `xdptcp xfer`.
pub fn run(args: &Args) -> Result<(), String> {
    if args.stack != super::Stack::Xdptcp {
        return Err("xfer runs on --stack xdptcp only".into());
    }
    let remote = args.xdp.target("--connect", &args.connect)?;
    if args.xdp.queues > 1 {
        return run_queues(args, remote);
    }
    let opts = args.xdp.options()?;
    let client = Host::new(XferClient::new(remote, args.bytes, !args.no_verify));
    struct H(SocketAddr);
    impl xdp::Hooks<Host<XferClient>> for H {
        fn ready(&mut self, r: &xdp::Ready) {
            println!("connecting from {} to {} {}", r.addr, self.0, r.describe());
        }
        fn summary(&self, c: &Host<XferClient>) -> String {
            let c = c.service();
            format!("sent {}, received {}", c.sent(), c.received())
        }
    }
    let (host, _) = xdp::run(&opts, client, &mut H(remote))?;
    let c = host.into_service();
    if let Some(why) = c.error() {
        return Err(why.to_string());
    }
    let secs = c.elapsed().map_or(0.0, |d| d.total_nanos() as f64 / 1e9);
    let rate = if secs > 0.0 { (c.sent() + c.received()) as f64 * 8.0 / secs / 1e6 } else { 0.0 };
    match (c.outcome(), c.mismatch()) {
        (Outcome::Done, None) => {
            println!(
                "xfer ok: sent {} B, received {} B{} in {secs:.3} s ({rate:.1} Mbit/s both ways)",
                c.sent(),
                c.received(),
                if args.no_verify { "" } else { ", verified" }
            );
            Ok(())
        }
        (_, Some(at)) => Err(format!("received bytes differ from the pattern at offset {at}")),
        (Outcome::Failed(why), None) => Err(format!(
            "transfer failed: {why} after sending {} and receiving {} bytes",
            c.sent(),
            c.received()
        )),
        (Outcome::Running, None) => Err(format!(
            "transfer interrupted after sending {} and receiving {} bytes",
            c.sent(),
            c.received()
        )),
    }
}

/// `xfer --queues N`: one stream per worker, each sending its share of `--bytes` (and
/// checking its echo) on a connection whose replies come back to its own queue
/// (`on_queues`). Succeeds only if every stream does.
fn run_queues(args: &Args, remote: SocketAddr) -> Result<(), String> {
    use super::on_queues::{self, share, Until};
    let n = args.xdp.queues as usize;
    let rt = args.xdp.runtime_args(None, 0, 0, 1)?;
    let (bytes, verify) = (args.bytes, !args.no_verify);
    let make = move |k| Ok(Host::new(XferClient::new(remote, share(bytes, n, k), verify)));
    let take = |c: &Host<XferClient>| {
        let c = c.service();
        (
            c.outcome(),
            c.mismatch(),
            c.sent(),
            c.received(),
            c.elapsed(),
            c.error().map(str::to_string),
        )
    };
    let ip = args.xdp.ip.as_deref().unwrap_or_default();
    let local = ip.split(['/', ',']).next().unwrap_or(ip);
    let what = format!("connecting from {local} to {remote}");
    let done = on_queues::run(&rt, &what, make, take, Until::AllFinished)?;
    let (mut sent, mut received, mut secs) = (0, 0, 0.0f64);
    let mut failures = Vec::new();
    if let Some(why) = done.iter().find_map(|d| d.5.clone()) {
        return Err(why);
    }
    for (k, (outcome, mismatch, s, r, elapsed, _)) in done.iter().enumerate() {
        sent += s;
        received += r;
        secs = secs.max(elapsed.map_or(0.0, |d| d.total_nanos() as f64 / 1e9));
        match (outcome, mismatch) {
            (Outcome::Done, None) => {}
            (_, Some(at)) => failures
                .push(format!("stream {k}: received bytes differ from the pattern at offset {at}")),
            (Outcome::Failed(why), None) => failures
                .push(format!("stream {k}: {why} after sending {s} and receiving {r} bytes")),
            (Outcome::Running, None) => failures
                .push(format!("stream {k}: interrupted after sending {s} and receiving {r} bytes")),
        }
    }
    if !failures.is_empty() {
        return Err(format!("transfer failed: {}", failures.join("; ")));
    }
    let rate = if secs > 0.0 { (sent + received) as f64 * 8.0 / secs / 1e6 } else { 0.0 };
    println!(
        "xfer ok: sent {sent} B, received {received} B{} in {secs:.3} s ({rate:.1} Mbit/s both \
         ways) over {n} streams, one per queue",
        if verify { ", verified" } else { "" }
    );
    Ok(())
}
