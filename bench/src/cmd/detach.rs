//! `xdptcp detach --iface IF`: removes an XDP program left attached to an interface (after a
//! crash or SIGKILL, when no guard ran). Run it in the interface's network namespace
//! (`ip netns exec NS xdptcp detach --iface IF`).

use xdptcp_driver::xdp;

/// Arguments of `xdptcp detach`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The interface to clear (native and generic XDP).
    #[arg(long)]
    pub iface: String,
}

/// Detaches whatever XDP program is attached and says what was removed.
pub fn run(args: &Args) -> Result<(), String> {
    let removed = xdp::detach(&args.iface).map_err(|e| e.to_string())?;
    if removed.is_empty() {
        println!("no XDP program was attached to {}", args.iface);
    } else {
        for id in removed {
            println!("removed XDP program id {id} from {}", args.iface);
        }
    }
    Ok(())
}
