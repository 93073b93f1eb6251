//! # xdptcp-driver
//!
//! The I/O side of xdptcp: devices that move frames in batches (AF_XDP over xsk-rs, loopback,
//! fault injection, pcap), and the per-core engine that drives one `xdptcp-stack` instance per
//! pinned core. This is the only crate of the workspace allowed to contain `unsafe`; every
//! `unsafe` block carries a `// SAFETY:` comment.

pub mod app;
pub mod device;
pub mod engine;
pub mod fault;
pub mod loopback;
pub mod netns;
pub mod pcap;
pub mod pool;
pub mod reflector;
pub mod rss;
pub mod runtime;
pub mod sched;
pub mod signal;
pub mod steering;
pub mod xdp;

pub use device::{Device, FrameId, FrameList, RxBatch, TxBatch, TxBuf, DEFAULT_BATCH, MAX_BATCH};
pub use engine::{App, CopyCounters, NoApp, TcpEcho, UdpEcho, Worker, WorkerCounters};
pub use fault::{FaultConfig, FaultDevice, FaultStats, Impairments, SplitMix64};
pub use loopback::{LoopbackEnd, LoopbackPair};
pub use pcap::PcapDevice;
