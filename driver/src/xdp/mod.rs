//! AF_XDP: xdptcp's own XDP program, the UMEM and rings of one socket per queue (over xsk-rs,
//! which links libxdp and libbpf), and the errors of setting them up.
//!
//! - [`program`]: load/attach/detach of `driver/bpf/xdptcp.bpf.c` and its RAII guard;
//! - [`socket`]: [`XdpDevice`], the batch [`Device`](crate::Device) over one socket;
//! - [`netif`]: interface facts (index, MTU, MAC, queues) from the thread's namespace;
//! - [`busy_poll`]: optional preferred busy polling (`SO_PREFER_BUSY_POLL` and friends);
//! - [`error`]: [`DriverError`], one clear line per failure.

pub mod busy_poll;
pub mod error;
pub mod netif;
pub mod program;
pub mod socket;

pub use busy_poll::{BusyPoll, BusyPollState};
pub use error::DriverError;
pub use netif::NetIf;
pub use program::{attached_program, detach, ProgramStats, XdpMode, XdpProgram};
pub use socket::{BindMode, XdpConfig, XdpDevice, XdpStats};
