//! AF_XDP: xdptcp's own XDP program, the UMEM and rings of one socket per queue (over xsk-rs,
//! which links libxdp and libbpf, or our own ring code when TX metadata is used), and the
//! errors of setting them up.
//!
//! - [`program`]: load/attach/detach of `driver/bpf/xdptcp.bpf.c` and its RAII guard;
//! - [`socket`]: [`XdpDevice`], the batch [`Device`](crate::Device) over one socket;
//! - [`xskrs`] and [`raw`]: the two socket paths (xsk-rs; our own, for TX metadata), with
//!   [`ring`] the rings of the latter;
//! - [`tx_checksum`]: [`TxChecksum`], checksum offload through AF_XDP TX metadata, and
//!   [`netdev`], the driver's AF_XDP features from netlink;
//! - [`netif`]: interface facts (index, MTU, MAC, queues) from the thread's namespace;
//! - [`multibuf`]: frames over several UMEM chunks (jumbo MTUs, `XDP_USE_SG`);
//! - [`busy_poll`]: optional preferred busy polling (`SO_PREFER_BUSY_POLL` and friends);
//! - [`error`]: [`DriverError`], one clear line per failure;
//! - [`backed`]: [`XdpBacked`], the AF_XDP device under fault and capture wrappers.

pub mod backed;
pub mod busy_poll;
pub mod error;
pub mod multibuf;
pub mod netdev;
pub mod netif;
pub mod program;
mod raw;
mod ring;
pub mod socket;
pub mod tx_checksum;
mod xskrs;

pub use backed::{wrapped, WithDevice, XdpBacked};
pub use busy_poll::{BusyPoll, BusyPollState};
pub use error::DriverError;
pub use multibuf::FrameGeometry;
pub use netif::NetIf;
pub use program::{attached_program, detach, ProgramStats, XdpMode, XdpProgram, MAX_IPV6_ADDRS};
pub use socket::{BindMode, XdpConfig, XdpDevice, XdpStats};
pub use tx_checksum::TxChecksum;
