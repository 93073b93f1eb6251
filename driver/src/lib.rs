//! # xdptcp-driver
//!
//! The I/O side of xdptcp: devices that move frames in batches (AF_XDP over xsk-rs, loopback,
//! fault injection, pcap), and the per-core engine that drives one `xdptcp-stack` instance per
//! pinned core. This is the only crate of the workspace allowed to contain `unsafe`; every
//! `unsafe` block carries a `// SAFETY:` comment.

pub mod app;
pub mod builder;
pub mod device;
pub mod fault;
pub mod hugepage;
pub mod loopback;
pub mod netns;
pub mod pcap;
pub mod pool;
pub mod prefetch;
pub mod rss;
pub mod runtime;
pub mod sched;
pub mod service;
pub mod services;
pub mod setup;
pub mod signal;
pub mod steering;
pub mod worker;
pub mod xdp;

pub use builder::Builder;
pub use device::{Device, FrameId, FrameList, RxBatch, TxBatch, TxBuf, DEFAULT_BATCH, MAX_BATCH};
pub use worker::{App, CopyCounters, NoApp, Worker, WorkerCounters};

pub use fault::{FaultConfig, FaultDevice, FaultStats, Impairments};
pub use hugepage::HugePageAlloc;
pub use loopback::{LoopbackEnd, LoopbackPair};
pub use pcap::PcapDevice;
pub use service::{Cx, Host, Service};
