//! # xdptcp-posix
//!
//! A socket-compatible API over the sans-IO [`xdptcp_stack::stack::Stack`], in two layers:
//!
//! - a safe Rust core, [`Posix`]: `socket`, `bind`, `listen`, `accept`, `connect`, the
//!   read/write families, `close`, `shutdown`, `getsockopt`/`setsockopt`, `fcntl`, `poll` and
//!   epoll, with POSIX `errno` values ([`Errno`]) and blocking as well as non-blocking
//!   semantics modelled on Linux. The stack runs on a raw-IP device (`Medium::Ip`) whose
//!   packets go in through [`Posix::netdev_send`] and come out of [`Posix::netdev_receive`];
//!   its clock is virtual by default ([`ClockMode`]), so runs are deterministic;
//! - a thin C ABI (`ffi`, the only module with `unsafe`): `xdptcp_*` functions over an
//!   opaque `xdptcp_t` (see `include/xdptcp.h`) and `packetdrill_interface_init`, which fills
//!   packetdrill's `struct packetdrill_interface` so that
//!   `packetdrill --so_filename=libxdptcp_posix.so` tests this stack.
//!
//! Files: `errno`, `config` (flags and the Linux profile), `family` (`AF_INET` and
//! `AF_INET6`, IPv4-mapped addresses), `socket` (descriptor records),
//! `engine` (the locked state and the stack pump), `tcp`, `udp`, `sockopt`, `tcp_info`,
//! `poll` (readiness, poll, epoll), `posix` (locking and blocking), `ffi`.
#![deny(unsafe_code)]

mod config;
mod engine;
mod errno;
mod family;
#[allow(unsafe_code)]
pub mod ffi;
mod poll;
mod ports;
mod posix;
mod socket;
mod sockopt;
mod tcp;
mod tcp_info;
mod udp;
mod waiters;

pub use config::{apply_sysctls, linux_profile, suite_profile, ClockMode, PosixConfig};
pub use errno::{Errno, SysResult};
pub use posix::Posix;
pub use socket::Fd;
pub use tcp_info::{
    linux_state, TCPI_OPT_SACK, TCPI_OPT_TIMESTAMPS, TCPI_OPT_WSCALE, TCP_INFO_LEN,
};
