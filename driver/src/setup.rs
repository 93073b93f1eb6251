//! Setting a worker up: addresses and keys for its stack, a thread pinned to a core, a
//! stack for tests. The worker itself is in [`crate::worker`]; the [`Builder`](crate::Builder)
//! uses these to bring one up from an interface name.

use std::net::Ipv4Addr;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use xdptcp_stack::iface::{InterfaceConfig, Ipv6Cidr, Ipv6Config};
use xdptcp_stack::stack::{Stack, StackConfig, StackKeys};
use xdptcp_stack::time::Instant;
use xdptcp_stack::wire::ethernet::EthernetAddress;

use crate::device::Device;

/// Pins the calling thread to `core`; false if the core does not exist or pinning failed.
pub fn pin_to_core(core: usize) -> bool {
    core_affinity::get_core_ids()
        .and_then(|ids| ids.into_iter().find(|c| c.id == core))
        .is_some_and(core_affinity::set_for_current)
}

/// A worker thread and the way to stop it.
#[derive(Debug)]
pub struct WorkerHandle<T> {
    stop: Sender<()>,
    thread: JoinHandle<T>,
}

impl<T> WorkerHandle<T> {
    /// Asks the worker to stop without waiting (stop several, then join each).
    pub fn request_stop(&self) {
        let _ = self.stop.try_send(());
    }

    /// Asks the worker to stop and waits for it; returns what the thread returned (or the
    /// panic payload, if it panicked).
    pub fn stop(self) -> std::thread::Result<T> {
        let _ = self.stop.try_send(());
        self.thread.join()
    }

    /// Whether the thread has finished (e.g. failed at setup).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

/// Spawns a thread (pinned to `core` if given) that runs `body` with the shutdown receiver.
/// The worker is built inside the thread, since a device (and the network namespace it was
/// opened in) belongs to the thread that made it.
pub fn spawn<T, F>(name: &str, core: Option<usize>, body: F) -> std::io::Result<WorkerHandle<T>>
where
    T: Send + 'static,
    F: FnOnce(Receiver<()>) -> T + Send + 'static,
{
    let (stop, shutdown) = crossbeam_channel::bounded(1);
    let thread = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        if let Some(core) = core {
            pin_to_core(core);
        }
        body(shutdown)
    })?;
    Ok(WorkerHandle { stop, thread })
}

/// Addresses of one stack: its own, its subnet, its default router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing {
    /// The stack's MAC address (the device's).
    pub mac: [u8; 6],
    /// The stack's IPv4 address.
    pub addr: Ipv4Addr,
    /// Subnet prefix length.
    pub prefix_len: u8,
    /// Default router for off-link destinations.
    pub gateway: Option<Ipv4Addr>,
    /// IPv6 addresses (besides the link-local one); empty: IPv4 only.
    pub ipv6: Vec<Ipv6Cidr>,
}

/// A stack configuration for `dev` with `addressing` and `keys`, every other setting at its
/// default except the TCP MSS, which follows the device's MTU ([`link_mss`]); change fields
/// of the result before [`Stack::new`].
pub fn stack_config(dev: &impl Device, addressing: Addressing, keys: StackKeys) -> StackConfig {
    let mut iface = InterfaceConfig::new(
        EthernetAddress(addressing.mac),
        addressing.addr,
        addressing.prefix_len,
    );
    iface.gateway = addressing.gateway;
    if !addressing.ipv6.is_empty() {
        iface.ipv6 = Ipv6Config::with_addresses(addressing.ipv6);
        // RFC 4862 §5.4.2's random delay before the first detection probe, drawn from the
        // keys (random from the OS for a real worker), at least 100 ms so that the socket
        // is steering before a defender's answer can arrive.
        let r = u64::from(u16::from_le_bytes([keys.ports[14], keys.ports[15]]));
        iface.ipv6.dad_delay = xdptcp_stack::time::Duration::from_millis(100 + r % 900);
    }
    let caps = dev.caps();
    let mut config = StackConfig::new(iface, caps, keys);
    config.tcp.mss = link_mss(caps.mtu);
    // The staged RX look-ahead: the prefetch the stack cannot issue itself, from as many
    // connections as this machine's L2 calls for.
    crate::prefetch::configure(&mut config);
    config
}

/// The MSS to announce on a link of `mtu` bytes: the MTU less 40 bytes of IPv4 and TCP
/// headers (RFC 9293 §3.7.1, RFC 879): 1460 at 1500, 8960 at a 9000-byte jumbo MTU.
pub fn link_mss(mtu: usize) -> u16 {
    mtu.saturating_sub(40).clamp(64, usize::from(u16::MAX)) as u16
}

/// [`stack_config`] with keys from the operating system ([`os_random_keys`]): what a worker
/// serving real traffic uses. The error is one line.
pub fn os_stack_config(dev: &impl Device, addressing: Addressing) -> Result<StackConfig, String> {
    let keys = os_random_keys().map_err(|e| format!("getrandom: {e}"))?;
    Ok(stack_config(dev, addressing, keys))
}

/// Four secret keys for a stack from the operating system's random source (`getrandom(2)`).
pub fn os_random_keys() -> std::io::Result<StackKeys> {
    let mut k = [0u8; 64];
    let mut filled = 0;
    while filled < k.len() {
        let rest = &mut k[filled..];
        // SAFETY: `rest` is a valid, writable buffer of `rest.len()` bytes for the duration of
        // the call; getrandom writes at most that many bytes into it and touches nothing else.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    let key = |i: usize| {
        let mut out = [0u8; 16];
        out.copy_from_slice(&k[i * 16..i * 16 + 16]);
        out
    };
    Ok(StackKeys { flow_hash: key(0), isn: key(1), syncookie: key(2), ports: key(3) })
}

/// A default stack for `dev` (tests and examples), with fixed keys and `now` = 0.
pub fn test_stack(dev: &impl Device, mac: [u8; 6], addr: Ipv4Addr, prefix_len: u8) -> Stack {
    let addressing = Addressing { mac, addr, prefix_len, gateway: None, ipv6: Vec::new() };
    Stack::new(
        stack_config(dev, addressing, StackKeys::from_seed(u64::from(mac[5]))),
        Instant::ZERO,
    )
}
