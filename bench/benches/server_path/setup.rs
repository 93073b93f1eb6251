//! Establishing the N connections, once, before anything is measured: real xdptcp client
//! stacks (one per client address, at most [`PER_ADDRESS`] connections each) open them
//! through the server under test, handshakes and ARP included, and the scripted client
//! takes each connection's state from its handshake's last ACK. The client stacks are
//! dropped afterwards; the server never hears from them again.

use std::net::Ipv4Addr;

use xdptcp_stack::iface::{ChecksumCaps, DeviceCaps, InterfaceConfig, Offload};
use xdptcp_stack::stack::{Stack, StackConfig, StackKeys};
use xdptcp_stack::tcp::TcpConfig;
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;

use super::client::EchoClients;
use super::frames::FrameBatch;
use super::EchoServer;

pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const SERVER_PORT: u16 = 80;
/// Connections per client address (ports `FIRST_PORT..FIRST_PORT + PER_ADDRESS`).
pub const PER_ADDRESS: usize = 50_000;
const FIRST_PORT: u16 = 10_000;
/// Client addresses are 10.0.0.10, 10.0.0.11, ...
const FIRST_CLIENT_OCTET: u8 = 10;
/// Connections opened per setup round (below the listener's 4096 backlog).
const OPEN_STEP: usize = 512;

/// Client addresses needed for `n` connections.
pub fn addresses_for(n: usize) -> usize {
    n.div_ceil(PER_ADDRESS)
}

/// The client address of index `k`.
pub fn client_ip(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, FIRST_CLIENT_OCTET + k as u8)
}

/// Which client address `ip` is, if it is one.
pub fn client_index(ip: Ipv4Addr) -> Option<usize> {
    let o = ip.octets();
    (o[..3] == [10, 0, 0] && o[3] >= FIRST_CLIENT_OCTET)
        .then(|| usize::from(o[3] - FIRST_CLIENT_OCTET))
}

/// Connection `i` of `n` spread over `addresses`: interleaved, so every client address
/// opens its first connection in the first round (and resolves ARP before the rest).
pub fn conn_address(i: usize, addresses: usize) -> (usize, u16) {
    (i % addresses, FIRST_PORT + (i / addresses) as u16)
}

/// The inverse of [`conn_address`].
pub fn conn_index(k: usize, port: u16, addresses: usize) -> Option<usize> {
    let p = usize::from(port.checked_sub(FIRST_PORT)?);
    (k < addresses && p < PER_ADDRESS).then_some(p * addresses + k)
}

/// An Ethernet device at MTU 1500, checksums in software or left to the device both ways.
pub fn caps(offload: bool) -> DeviceCaps {
    let checksum = if offload { ChecksumCaps::ALL } else { ChecksumCaps::NONE };
    DeviceCaps::ethernet(1500).with_checksum(checksum)
}

/// The server's TCP configuration: Linux's defaults (auto-tuned buffers whose chunks are
/// taken as data flows, so 100,000 connections hold only what they carry), Nagle off as an
/// RPC server sets it.
pub fn server_tcp() -> TcpConfig {
    TcpConfig::default().with_nodelay(true)
}

/// A client stack: fills every checksum, verifies none (the server under test may leave its
/// own to an offloading device).
fn client_stack(k: usize, now: Instant) -> Stack {
    let fill_only = Offload { rx: true, tx: false };
    let checksum =
        ChecksumCaps { ipv4: fill_only, tcp: fill_only, udp: fill_only, icmp: fill_only };
    let caps = DeviceCaps::ethernet(1500).with_checksum(checksum);
    let mac = EthernetAddress([2, 0, 0, 0, 1, k as u8]);
    let iface = InterfaceConfig::new(mac, client_ip(k), 24);
    let mut cfg = StackConfig::new(iface, caps, StackKeys::from_seed(100 + k as u64));
    cfg.tcp = TcpConfig::default();
    cfg.max_connections = PER_ADDRESS + 1024;
    Stack::new(cfg, now)
}

/// Opens `n` connections to `server` and returns their client ends. Panics if a handshake
/// does not complete: the benchmark would measure something else.
pub fn establish(server: &mut impl EchoServer, n: usize, now: &mut Instant) -> EchoClients {
    let addresses = addresses_for(n);
    let mut stacks: Vec<Stack> = (0..addresses).map(|k| client_stack(k, *now)).collect();
    let mut clients = EchoClients::new(n, addresses);
    let config = *stacks[0].tcp_config();
    let mut stage: Vec<FrameBatch> = (0..OPEN_STEP / 32 + 8).map(|_| FrameBatch::new(64)).collect();
    let mut tx = FrameBatch::new(256);
    let mut opened = 0;
    let mut rounds = 0;
    while opened < n || server.established() < n {
        // One per address first, so each resolves the server's MAC before queueing more.
        let step = if opened == 0 { addresses } else { OPEN_STEP };
        let until = (opened + step).min(n);
        for i in opened..until {
            let (k, port) = conn_address(i, addresses);
            stacks[k]
                .tcp_connect_from(*now, port, SERVER_IP, SERVER_PORT, config)
                .expect("connect");
        }
        opened = until;
        pump(server, &mut stacks, &mut clients, now, &mut stage, &mut tx);
        rounds += 1;
        assert!(rounds < 4 * n / OPEN_STEP + 100, "setup stalled at {}", server.established());
    }
    assert_eq!(clients.captured(), n, "every handshake ACK captured");
    clients
}

/// Moves frames between the client stacks and the server until both are quiet.
fn pump(
    server: &mut impl EchoServer,
    stacks: &mut [Stack],
    clients: &mut EchoClients,
    now: &mut Instant,
    stage: &mut [FrameBatch],
    tx: &mut FrameBatch,
) {
    loop {
        *now += Duration::from_micros(1);
        let mut moved = false;
        stage.iter_mut().for_each(FrameBatch::clear);
        let mut used = 0;
        for s in stacks.iter_mut() {
            if s.poll_timeout().is_some_and(|t| t <= *now) {
                s.on_timeout(*now);
            }
            loop {
                if stage[used].is_full() {
                    used += 1;
                    assert!(used < stage.len(), "setup staging full");
                }
                let b = &mut stage[used];
                let Some(n) = s.poll_transmit(*now, b.slot().expect("not full")) else { break };
                b.commit(n);
                clients.observe_setup_frame(b.frame(b.len() - 1), *now);
            }
        }
        for b in stage[..=used].iter() {
            tx.clear();
            server.run_batch(*now, b, &[], tx);
            for f in tx.frames() {
                if let Some(k) = route(f).filter(|&k| k < stacks.len()) {
                    stacks[k].receive(*now, f);
                    moved = true;
                }
            }
        }
        for s in stacks.iter_mut() {
            while s.poll_event().is_some() {}
        }
        moved |= stage[0].len() > 0;
        if !moved {
            return;
        }
    }
}

/// The client address a server frame is for: ARP by its target, IPv4 by its destination.
fn route(f: &[u8]) -> Option<usize> {
    let at = match f.get(12..14)? {
        [0x08, 0x06] => 14 + 24,
        [0x08, 0x00] => 14 + 16,
        _ => return None,
    };
    let a = f.get(at..at + 4)?;
    client_index(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
}
