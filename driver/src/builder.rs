//! [`Builder`]: a worker brought up from an interface name in a few lines.
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use xdptcp_driver::builder::Builder;
//! use xdptcp_driver::services::Echo;
//!
//! let mut worker = Builder::new("eth1", Ipv4Addr::new(198, 18, 0, 2)).serve(Echo::new(7))?;
//! worker.run_idle(xdptcp_driver::worker::IdlePolicy::BusyPoll, |_| false);
//! # Ok::<(), String>(())
//! ```
//!
//! The order that bring-up needs is the builder's, not the caller's: the AF_XDP socket is
//! opened (which attaches our XDP program, still diverting nothing), the stack is made for
//! the device, the application's `start` runs (it listens, binds, connects), and only then is
//! the socket started, so the XDP program diverts the stack's traffic to a stack that is
//! ready for it. For several queues, [`Builder::runtime`] gives the
//! [`RuntimeConfig`](crate::runtime::RuntimeConfig) of the same settings.

use std::net::Ipv4Addr;
use std::sync::Arc;

use xdptcp_stack::stack::{Stack, StackConfig};
use xdptcp_stack::time::Instant;

use crate::app::App;
use crate::device::Device;
use crate::runtime::RuntimeConfig;
use crate::service::{Host, Service};
use crate::setup::{self, Addressing};
use crate::worker::Worker;
use crate::xdp::{NetIf, XdpBacked, XdpConfig, XdpDevice};

/// A change to the stack's settings, applied when the stack is made.
type StackChange = Arc<dyn Fn(&mut StackConfig) + Send + Sync>;

/// Settings of one worker (or, through [`runtime`](Self::runtime), of several).
#[derive(Clone)]
pub struct Builder {
    xdp: XdpConfig,
    prefix_len: u8,
    gateway: Option<Ipv4Addr>,
    netns: Option<String>,
    core: Option<usize>,
    stack: Option<StackChange>,
}

impl core::fmt::Debug for Builder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Builder")
            .field("xdp", &self.xdp)
            .field("prefix_len", &self.prefix_len)
            .field("gateway", &self.gateway)
            .field("netns", &self.netns)
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A worker on queue 0 of `iface`, serving `addr`/24 with every default.
    pub fn new(iface: &str, addr: Ipv4Addr) -> Builder {
        Builder {
            xdp: XdpConfig::new(iface, addr),
            prefix_len: 24,
            gateway: None,
            netns: None,
            core: None,
            stack: None,
        }
    }

    /// The prefix length of the stack's address (default 24).
    pub fn prefix_len(mut self, prefix_len: u8) -> Builder {
        self.prefix_len = prefix_len;
        self
    }

    /// The default router for off-link destinations.
    pub fn gateway(mut self, gateway: Option<Ipv4Addr>) -> Builder {
        self.gateway = gateway;
        self
    }

    /// The RX/TX queue (default 0).
    pub fn queue(mut self, queue: u32) -> Builder {
        self.xdp.queue = queue;
        self
    }

    /// Enters this network namespace first (the calling thread stays in it).
    pub fn netns(mut self, name: &str) -> Builder {
        self.netns = Some(name.to_string());
        self
    }

    /// Pins the calling thread to `core`.
    pub fn core(mut self, core: Option<usize>) -> Builder {
        self.core = core;
        self
    }

    /// Changes the AF_XDP settings (modes, sizes, busy polling, checksum offload).
    pub fn xdp(mut self, change: impl FnOnce(&mut XdpConfig)) -> Builder {
        change(&mut self.xdp);
        self
    }

    /// Changes the stack's settings (buffers, connection limit, ports) before it is made.
    pub fn stack(mut self, change: impl Fn(&mut StackConfig) + Send + Sync + 'static) -> Builder {
        self.stack = Some(Arc::new(change));
        self
    }

    /// The AF_XDP settings.
    pub fn xdp_config(&self) -> &XdpConfig {
        &self.xdp
    }

    /// Opens the device: enters the namespace, pins the thread, looks the interface up and
    /// opens its AF_XDP socket (attaching our XDP program, which diverts nothing until
    /// [`worker`](Self::worker) starts the socket). Wrap the device (fault injection,
    /// capture) before handing it to `worker`.
    pub fn open(&self) -> Result<(XdpDevice, NetIf), String> {
        if let Some(ns) = &self.netns {
            crate::netns::enter(ns).map_err(|e| format!("entering network namespace {ns}: {e}"))?;
        }
        if let Some(core) = self.core {
            if !setup::pin_to_core(core) {
                return Err(format!("cannot pin to core {core}: no such core (or not allowed)"));
            }
        }
        let netif = NetIf::lookup(&self.xdp.iface).map_err(|e| e.to_string())?;
        let dev = XdpDevice::open(&self.xdp).map_err(|e| e.to_string())?;
        Ok((dev, netif))
    }

    /// A worker over `dev` (opened by [`open`](Self::open), maybe wrapped) running `app`:
    /// makes the stack, runs the application's `start` and then starts the socket.
    pub fn worker<D: XdpBacked, A: App>(
        &self,
        dev: D,
        netif: &NetIf,
        app: A,
    ) -> Result<Worker<D, A>, String> {
        let stack = self.make_stack(&dev, netif)?;
        let mut worker = Worker::new(dev, stack, app);
        worker.start()?;
        worker.device().xdp().start().map_err(|e| e.to_string())?;
        Ok(worker)
    }

    /// [`open`](Self::open) and [`worker`](Self::worker) in one: a running worker for `app`.
    pub fn build<A: App>(self, app: A) -> Result<Worker<XdpDevice, A>, String> {
        let (dev, netif) = self.open()?;
        self.worker(dev, &netif, app)
    }

    /// [`build`](Self::build) for a [`Service`].
    pub fn serve<S: Service>(self, service: S) -> Result<Worker<XdpDevice, Host<S>>, String> {
        self.build(Host::new(service))
    }

    /// The same settings for a [`Runtime`](crate::runtime::Runtime) of `queues` workers.
    pub fn runtime(&self, queues: u32) -> RuntimeConfig {
        let mut config = RuntimeConfig::new(self.xdp.clone(), self.prefix_len, queues);
        config.gateway = self.gateway;
        config.netns.clone_from(&self.netns);
        config
    }

    fn make_stack(&self, dev: &impl Device, netif: &NetIf) -> Result<Stack, String> {
        let addressing = Addressing {
            mac: netif.mac,
            addr: self.xdp.addr,
            prefix_len: self.prefix_len,
            gateway: self.gateway,
            ipv6: self.xdp.ipv6.clone(),
        };
        let mut config = setup::os_stack_config(dev, addressing)?;
        if let Some(change) = &self.stack {
            change(&mut config);
        }
        Ok(Stack::new(config, Instant::ZERO))
    }
}
