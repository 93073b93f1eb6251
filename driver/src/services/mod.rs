//! Built-in [`Service`](crate::service::Service)s: echo over TCP and UDP (RFC 862), and an
//! L4 TCP proxy that forwards with one copy, whose pair logic ([`relay`]) the Linux
//! reference proxy shares.

mod echo;
mod proxy;
pub mod relay;

pub use echo::{Echo, EchoCounters};
pub use proxy::{Proxy, ProxyCounters};
