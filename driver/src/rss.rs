//! Receive-side scaling: the Toeplitz hash NICs use to spread flows over RX queues, its
//! indirection table, and the source-port test that lets a core open connections whose
//! replies come back to its own queue.
//!
//! # The hash
//!
//! The Toeplitz hash (Microsoft's "RSS hashing functions") slides a 32-bit window over a
//! 40-byte secret key: for every set bit of the input, left to right, the window at that bit's
//! position is XORed into the result. For IPv4 with TCP ports the input is 12 bytes in the
//! order the fields appear in the received packet: source address, destination address,
//! source port, destination port. The [`MICROSOFT_KEY`] is the key of Microsoft's verification
//! suite and the default of most NIC drivers (Intel, Mellanox), so hashes computed here match
//! what such a NIC computes when it is configured with that key
//! (`ethtool -X IF hkey 6d:5a:... equal N`).
//!
//! # The indirection table
//!
//! A NIC does not use the hash modulo the queue count; it indexes a table (RETA) with the low
//! bits of the hash, and the table names the queue. `ethtool -X IF equal N` fills entry `i`
//! with `i % N`; [`Rss::new`] does the same over [`DEFAULT_TABLE_LEN`] entries.
//!
//! # Active opens
//!
//! For a connection a core opens, the NIC hashes the *reply* — remote→local as seen on RX.
//! [`Rss::reply_queue`] computes that queue, and [`Rss::affinity_filter`] is the stack's port
//! filter for a worker (`Stack::set_port_filter`): it accepts a local port only if the reply
//! to that 4-tuple lands on the opening core's queue, so no packet of the flow ever needs
//! steering.
//!
//! # Where the hash is computed
//!
//! In software, here, by the worker that received the frame. The XDP program does not look at
//! the NIC's hash (`bpf_xdp_metadata_rx_hash`): it redirects each frame to the socket of the
//! queue it arrived on, whatever hashed it there. On a NIC configured with the same key and
//! table, the computed owner is that queue and nothing is steered; on veth, which picks the
//! RX queue from the sender's own (non-Toeplitz) skb hash, the worker's computation is what
//! makes ownership consistent (see [`crate::steering`]).

use std::net::{Ipv4Addr, Ipv6Addr};

use xdptcp_stack::flow::{FlowKey, FlowKey6};
use xdptcp_stack::stack::{PortFilter, PortFilter6};

/// Bytes of a Toeplitz key (320 bits: enough for the 36-byte IPv6 4-tuple input).
pub const KEY_LEN: usize = 40;

/// The key of Microsoft's RSS verification suite, which most NIC drivers use by default.
pub const MICROSOFT_KEY: [u8; KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// A symmetric key: the 16 bits `6d 5a` repeated (Woo and Park, "Scalable TCP Session
/// Monitoring with Symmetric Receive-side Scaling", 2012). Every window of it repeats every 16
/// input bits, and the two addresses (32 bits apart) and the two ports (16 bits apart) swap by
/// whole periods, so a flow hashes the same in both directions. Two xdptcp hosts on N queues
/// each then agree on every flow's queue: the one that opens a connection chooses a port
/// whose reply hashes to its queue, and the peer's RSS puts that connection's frames on the
/// same queue number, whose worker answers on that queue. NICs take it as
/// `ethtool -X IF hkey 6d:5a:6d:5a:...`.
pub const SYMMETRIC_KEY: [u8; KEY_LEN] = {
    let mut k = [0u8; KEY_LEN];
    let mut i = 0;
    while i < KEY_LEN {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// A key by name (`microsoft`, `symmetric`) or as `ethtool -x` prints one: 40 bytes in hex,
/// colon-separated. Errors are one line.
pub fn parse_key(s: &str) -> Result<[u8; KEY_LEN], String> {
    match s {
        "microsoft" => return Ok(MICROSOFT_KEY),
        "symmetric" => return Ok(SYMMETRIC_KEY),
        _ => {}
    }
    let bytes: Vec<u8> = s
        .split(':')
        .map(|b| {
            (b.len() == 2)
                .then(|| u8::from_str_radix(b, 16).ok())
                .flatten()
                .ok_or_else(|| format!("RSS key {s:?}: {b:?} is not a hex byte"))
        })
        .collect::<Result<_, _>>()?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "RSS key has {} bytes; give {KEY_LEN} (aa:bb:..., as ethtool -x prints it), \
             microsoft or symmetric",
            b.len()
        )
    })
}

/// Entries of the indirection table [`Rss::new`] builds (a common NIC default).
pub const DEFAULT_TABLE_LEN: usize = 128;

/// Bytes of the IPv4 4-tuple input.
const V4_INPUT: usize = 12;

/// Bytes of the IPv6 4-tuple input (`tcp6`: both addresses, then both ports).
const V6_INPUT: usize = 36;

/// The Toeplitz hash of `input` under `key`, bit by bit (the reference definition; [`Rss`]
/// uses precomputed tables). Inputs longer than `KEY_LEN - 4` bytes run past the key, whose
/// missing bits count as zero.
pub fn toeplitz(key: &[u8; KEY_LEN], input: &[u8]) -> u32 {
    let mut result = 0u32;
    // The 32 key bits aligned with the current input bit.
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    for (i, &byte) in input.iter().enumerate() {
        let next = key.get(i + 4).copied().unwrap_or(0);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= window;
            }
            window = (window << 1) | u32::from((next >> (7 - bit)) & 1);
        }
    }
    result
}

/// The IPv4 4-tuple in the order a NIC reads it from a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RxTuple {
    /// Source address (the remote host, for traffic we receive).
    pub src_ip: Ipv4Addr,
    /// Destination address (ours).
    pub dst_ip: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl RxTuple {
    /// The 12 bytes the hash reads.
    fn input(&self) -> [u8; V4_INPUT] {
        let mut b = [0u8; V4_INPUT];
        b[0..4].copy_from_slice(&self.src_ip.octets());
        b[4..8].copy_from_slice(&self.dst_ip.octets());
        b[8..10].copy_from_slice(&self.src_port.to_be_bytes());
        b[10..12].copy_from_slice(&self.dst_port.to_be_bytes());
        b
    }
}

/// The IPv6 4-tuple in the order a NIC reads it from a received packet (NDIS
/// `NDIS_HASH_TCP_IPV6`, Linux `tcp6`/`udp6` `sdfn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RxTuple6 {
    /// Source address (the remote host, for traffic we receive).
    pub src_ip: Ipv6Addr,
    /// Destination address (ours).
    pub dst_ip: Ipv6Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl RxTuple6 {
    /// The 36 bytes the hash reads.
    fn input(&self) -> [u8; V6_INPUT] {
        let mut b = [0u8; V6_INPUT];
        b[0..16].copy_from_slice(&self.src_ip.octets());
        b[16..32].copy_from_slice(&self.dst_ip.octets());
        b[32..34].copy_from_slice(&self.src_port.to_be_bytes());
        b[34..36].copy_from_slice(&self.dst_port.to_be_bytes());
        b
    }
}

/// Which transport protocols are hashed with their ports (others are not steered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashedProtocols {
    /// TCP: hashed over the 4-tuple by every RSS NIC by default.
    pub tcp: bool,
    /// UDP: most NICs hash UDP over addresses only unless told otherwise
    /// (`ethtool -N IF rx-flow-hash udp4 sdfn`); off by default.
    pub udp: bool,
}

impl Default for HashedProtocols {
    fn default() -> Self {
        HashedProtocols { tcp: true, udp: false }
    }
}

/// Why an RSS configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RssError {
    /// No queues.
    NoQueues,
    /// The indirection table is empty or not a power of two long.
    TableLen(usize),
    /// An entry names a queue at or beyond the queue count.
    QueueOutOfRange { entry: usize, queue: u16 },
}

impl std::fmt::Display for RssError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RssError::NoQueues => write!(f, "RSS needs at least one queue"),
            RssError::TableLen(n) => {
                write!(f, "RSS indirection table has {n} entries; it needs a power of two")
            }
            RssError::QueueOutOfRange { entry, queue } => {
                write!(f, "RSS indirection entry {entry} names queue {queue}, beyond the queues")
            }
        }
    }
}

impl std::error::Error for RssError {}

/// A Toeplitz key with per-byte lookup tables, plus an indirection table. Immutable after
/// construction; share it between workers with an `Arc`.
#[derive(Clone)]
pub struct Rss {
    key: [u8; KEY_LEN],
    /// `lookup[i][b]`: the hash contribution of byte value `b` at input position `i`, so a
    /// 12-byte hash is 12 table reads and XORs instead of 96 conditional XORs. 36 rows, for
    /// IPv6; an IPv4 hash reads the first 12.
    lookup: Box<[[u32; 256]; V6_INPUT]>,
    /// Hash low bits → queue.
    table: Box<[u16]>,
    queues: u16,
    protocols: HashedProtocols,
}

impl std::fmt::Debug for Rss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rss")
            .field("queues", &self.queues)
            .field("table_len", &self.table.len())
            .field("protocols", &self.protocols)
            .finish_non_exhaustive()
    }
}

impl Rss {
    /// `key` with the `ethtool -X equal N` table: entry `i` names queue `i % queues`, over
    /// [`DEFAULT_TABLE_LEN`] entries.
    pub fn new(key: [u8; KEY_LEN], queues: u16) -> Result<Rss, RssError> {
        if queues == 0 {
            return Err(RssError::NoQueues);
        }
        let table: Vec<u16> =
            (0..DEFAULT_TABLE_LEN).map(|i| (i % usize::from(queues)) as u16).collect();
        Rss::with_table(key, queues, table)
    }

    /// [`MICROSOFT_KEY`], equal spreading over `queues`.
    pub fn microsoft(queues: u16) -> Result<Rss, RssError> {
        Rss::new(MICROSOFT_KEY, queues)
    }

    /// `key` with an explicit indirection table (a power of two long, every entry below
    /// `queues`), as `ethtool -x IF` shows it.
    pub fn with_table(key: [u8; KEY_LEN], queues: u16, table: Vec<u16>) -> Result<Rss, RssError> {
        if queues == 0 {
            return Err(RssError::NoQueues);
        }
        if table.is_empty() || !table.len().is_power_of_two() {
            return Err(RssError::TableLen(table.len()));
        }
        if let Some((entry, &queue)) = table.iter().enumerate().find(|(_, &q)| q >= queues) {
            return Err(RssError::QueueOutOfRange { entry, queue });
        }
        let mut lookup = Box::new([[0u32; 256]; V6_INPUT]);
        for (pos, row) in lookup.iter_mut().enumerate() {
            for (value, slot) in row.iter_mut().enumerate() {
                // The contribution of one byte at `pos` is the hash of an input that is zero
                // everywhere else (the hash is linear over XOR; trailing zeros add nothing).
                let mut input = [0u8; V6_INPUT];
                input[pos] = value as u8;
                *slot = toeplitz(&key, &input[..=pos]);
            }
        }
        Ok(Rss {
            key,
            lookup,
            table: table.into_boxed_slice(),
            queues,
            protocols: HashedProtocols::default(),
        })
    }

    /// The same, hashing the given protocols' ports.
    pub fn with_protocols(mut self, protocols: HashedProtocols) -> Rss {
        self.protocols = protocols;
        self
    }

    /// The key.
    pub fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// Number of queues.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// The indirection table.
    pub fn table(&self) -> &[u16] {
        &self.table
    }

    /// Protocols whose ports are hashed.
    pub fn protocols(&self) -> HashedProtocols {
        self.protocols
    }

    /// The Toeplitz hash of a received IPv4 packet's 4-tuple.
    pub fn hash(&self, tuple: &RxTuple) -> u32 {
        let input = tuple.input();
        let mut h = 0;
        for (row, &b) in self.lookup.iter().zip(input.iter()) {
            h ^= row[usize::from(b)];
        }
        h
    }

    /// The Toeplitz hash of a received IPv6 packet's 4-tuple (36 bytes, as NICs hash `tcp6`).
    pub fn hash6(&self, tuple: &RxTuple6) -> u32 {
        let input = tuple.input();
        let mut h = 0;
        for (row, &b) in self.lookup.iter().zip(input.iter()) {
            h ^= row[usize::from(b)];
        }
        h
    }

    /// The RX queue of a received IPv6 packet with this 4-tuple.
    pub fn rx_queue6(&self, tuple: &RxTuple6) -> u16 {
        self.queue_of_hash(self.hash6(tuple))
    }

    /// [`affinity_filter`](Rss::affinity_filter) for active opens over IPv6
    /// ([`Stack::set_port_filter6`](xdptcp_stack::stack::Stack::set_port_filter6)).
    pub fn affinity_filter6(&self, queue: u16) -> PortFilter6 {
        let rss = self.clone();
        Box::new(move |k: &FlowKey6| {
            let replies = RxTuple6 {
                src_ip: k.remote_ip,
                dst_ip: k.local_ip,
                src_port: k.remote_port,
                dst_port: k.local_port,
            };
            rss.rx_queue6(&replies) == queue
        })
    }

    /// The queue the indirection table gives a hash (its low bits index the table).
    pub fn queue_of_hash(&self, hash: u32) -> u16 {
        // The table length is a power of two (checked at construction), so the mask keeps the
        // index in bounds.
        self.table[hash as usize & (self.table.len() - 1)]
    }

    /// The RX queue of a received packet with this 4-tuple.
    pub fn rx_queue(&self, tuple: &RxTuple) -> u16 {
        self.queue_of_hash(self.hash(tuple))
    }

    /// The RX queue of the replies to a connection from `local` to `remote`: the NIC sees
    /// them as remote→local.
    pub fn reply_queue(&self, local: (Ipv4Addr, u16), remote: (Ipv4Addr, u16)) -> u16 {
        self.rx_queue(&RxTuple {
            src_ip: remote.0,
            dst_ip: local.0,
            src_port: remote.1,
            dst_port: local.1,
        })
    }

    /// A port filter for the stack of the worker on `queue`
    /// ([`Stack::set_port_filter`](xdptcp_stack::stack::Stack::set_port_filter)): active
    /// opens then take only local ports whose replies the NIC hashes to `queue`, so a
    /// connection's frames come back to the core that opened it and are never steered.
    pub fn affinity_filter(&self, queue: u16) -> PortFilter {
        let rss = self.clone();
        Box::new(move |k: &FlowKey| {
            rss.reply_queue((k.local_ip, k.local_port), (k.remote_ip, k.remote_port)) == queue
        })
    }

    /// The queue that owns a received Ethernet frame: `Some` for an unfragmented IPv4 packet,
    /// or an IPv6 packet without extension headers, of a hashed protocol (see
    /// [`HashedProtocols`]) with its ports present, else `None` (ARP, ICMP, NDP, fragments,
    /// other protocols: whoever received it handles it). Never panics on malformed input; a
    /// frame too short for what its headers claim gives `None`.
    pub fn frame_queue(&self, frame: &[u8]) -> Option<u16> {
        if frame.get(12..14)? == [0x86, 0xdd] {
            return self.frame_tuple6(frame).map(|t| self.rx_queue6(&t));
        }
        self.frame_tuple(frame).map(|t| self.rx_queue(&t))
    }

    /// The IPv6 4-tuple of a frame as [`frame_queue`](Rss::frame_queue) reads it. A packet
    /// with extension headers gives `None`: NICs hash those over addresses only, or walk
    /// them (`NDIS_HASH_TCP_IPV6_EX`) in ways that differ, and the stack sends none.
    pub fn frame_tuple6(&self, frame: &[u8]) -> Option<RxTuple6> {
        const ETH: usize = 14;
        if frame.get(12..14)? != [0x86, 0xdd] {
            return None;
        }
        let ip = frame.get(ETH..)?;
        if *ip.first()? >> 4 != 6 {
            return None;
        }
        let hashed = match *ip.get(6)? {
            6 => self.protocols.tcp,
            17 => self.protocols.udp,
            _ => false,
        };
        if !hashed {
            return None;
        }
        let addr = |at: usize| -> Option<Ipv6Addr> {
            let b: [u8; 16] = ip.get(at..at + 16)?.try_into().ok()?;
            Some(Ipv6Addr::from(b))
        };
        let ports = ip.get(40..44)?;
        Some(RxTuple6 {
            src_ip: addr(8)?,
            dst_ip: addr(24)?,
            src_port: u16::from_be_bytes([ports[0], ports[1]]),
            dst_port: u16::from_be_bytes([ports[2], ports[3]]),
        })
    }

    /// The 4-tuple of a frame as [`frame_queue`](Rss::frame_queue) reads it.
    pub fn frame_tuple(&self, frame: &[u8]) -> Option<RxTuple> {
        const ETH: usize = 14;
        if frame.get(12..14)? != [0x08, 0x00] {
            return None;
        }
        let ip = frame.get(ETH..)?;
        let vihl = *ip.first()?;
        if vihl >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(vihl & 0x0f) * 4;
        if ihl < 20 {
            return None;
        }
        // Fragments: a NIC hashes them over addresses only, and the ports are not in every
        // fragment; leave them to the receiving core.
        let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
        if frag & 0x3fff != 0 {
            return None;
        }
        let hashed = match *ip.get(9)? {
            6 => self.protocols.tcp,
            17 => self.protocols.udp,
            _ => false,
        };
        if !hashed {
            return None;
        }
        let addr = |at: usize| -> Option<Ipv4Addr> {
            let b = ip.get(at..at + 4)?;
            Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        };
        let ports = ip.get(ihl..ihl + 4)?;
        Some(RxTuple {
            src_ip: addr(12)?,
            dst_ip: addr(16)?,
            src_port: u16::from_be_bytes([ports[0], ports[1]]),
            dst_port: u16::from_be_bytes([ports[2], ports[3]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xdptcp_stack::rng::SplitMix64;
    use xdptcp_stack::tcp::ports::EphemeralPorts;

    /// Microsoft's "Verifying the RSS hash calculation" IPv4 vectors: (destination,
    /// source, hash over addresses only, hash with TCP ports).
    type Endpoint = (Ipv4Addr, u16);
    const VECTORS: [(Endpoint, Endpoint, u32, u32); 5] = [
        (
            (Ipv4Addr::new(161, 142, 100, 80), 1766),
            (Ipv4Addr::new(66, 9, 149, 187), 2794),
            0x323e_8fc2,
            0x51cc_c178,
        ),
        (
            (Ipv4Addr::new(65, 69, 140, 83), 4739),
            (Ipv4Addr::new(199, 92, 111, 2), 14230),
            0xd718_262a,
            0xc626_b0ea,
        ),
        (
            (Ipv4Addr::new(12, 22, 207, 184), 38024),
            (Ipv4Addr::new(24, 19, 198, 95), 12898),
            0xd2d0_a5de,
            0x5c2b_394a,
        ),
        (
            (Ipv4Addr::new(209, 142, 163, 6), 2217),
            (Ipv4Addr::new(38, 27, 205, 30), 48228),
            0x8298_9176,
            0xafc7_327f,
        ),
        (
            (Ipv4Addr::new(202, 188, 127, 2), 1303),
            (Ipv4Addr::new(153, 39, 163, 191), 44251),
            0x5d18_09c5,
            0x10e8_28a2,
        ),
    ];

    #[test]
    fn microsoft_verification_vectors() {
        let rss = Rss::microsoft(1).unwrap();
        for (dst, src, ip_only, with_tcp) in VECTORS {
            let mut addrs = [0u8; 8];
            addrs[..4].copy_from_slice(&src.0.octets());
            addrs[4..].copy_from_slice(&dst.0.octets());
            assert_eq!(toeplitz(&MICROSOFT_KEY, &addrs), ip_only, "{src:?} -> {dst:?}, IPv4");
            let tuple = RxTuple { src_ip: src.0, dst_ip: dst.0, src_port: src.1, dst_port: dst.1 };
            assert_eq!(toeplitz(&MICROSOFT_KEY, &tuple.input()), with_tcp, "{tuple:?} bitwise");
            assert_eq!(rss.hash(&tuple), with_tcp, "{tuple:?} table-driven");
        }
    }

    fn random_tuple(rng: &mut SplitMix64) -> RxTuple {
        let r = rng.next_u64();
        RxTuple {
            src_ip: Ipv4Addr::from(r as u32),
            dst_ip: Ipv4Addr::from((r >> 32) as u32),
            src_port: rng.next_u64() as u16,
            dst_port: rng.next_u64() as u16,
        }
    }

    /// Microsoft's IPv6 vectors: (destination, source, hash over addresses only, hash with
    /// TCP ports).
    const VECTORS6: [(&str, u16, &str, u16, u32, u32); 3] = [
        ("3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2cc1_8cd5, 0x4020_7d3d),
        ("ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0f0c_461c, 0xdde5_1bbf),
        (
            "fe80::200:f8ff:fe21:67cf",
            38024,
            "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
            44251,
            0x4b61_e985,
            0x02d1_feef,
        ),
    ];

    #[test]
    fn microsoft_verification_vectors_ipv6() {
        let rss = Rss::microsoft(1).unwrap();
        for (dst, dport, src, sport, ip_only, with_tcp) in VECTORS6 {
            let (dst, src): (Ipv6Addr, Ipv6Addr) = (dst.parse().unwrap(), src.parse().unwrap());
            let mut addrs = [0u8; 32];
            addrs[..16].copy_from_slice(&src.octets());
            addrs[16..].copy_from_slice(&dst.octets());
            assert_eq!(toeplitz(&MICROSOFT_KEY, &addrs), ip_only, "{src} -> {dst}, IPv6");
            let tuple = RxTuple6 { src_ip: src, dst_ip: dst, src_port: sport, dst_port: dport };
            assert_eq!(toeplitz(&MICROSOFT_KEY, &tuple.input()), with_tcp, "{tuple:?} bitwise");
            assert_eq!(rss.hash6(&tuple), with_tcp, "{tuple:?} table-driven");
        }
    }

    /// An Ethernet frame carrying IPv6 `next` from `src` to `dst` with 4 bytes of ports.
    fn frame6(next: u8, src: (Ipv6Addr, u16), dst: (Ipv6Addr, u16)) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 40 + 20];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x60;
        f[14 + 6] = next;
        f[14 + 8..14 + 24].copy_from_slice(&src.0.octets());
        f[14 + 24..14 + 40].copy_from_slice(&dst.0.octets());
        f[54..56].copy_from_slice(&src.1.to_be_bytes());
        f[56..58].copy_from_slice(&dst.1.to_be_bytes());
        f
    }

    #[test]
    fn frame_queue_hashes_ipv6_tcp_and_never_panics() {
        let rss = Rss::microsoft(4).unwrap();
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let tcp = frame6(6, (a, 40000), (b, 80));
        let t = RxTuple6 { src_ip: a, dst_ip: b, src_port: 40000, dst_port: 80 };
        assert_eq!(rss.frame_tuple6(&tcp), Some(t));
        assert_eq!(rss.frame_queue(&tcp), Some(rss.rx_queue6(&t)));
        // UDP is not hashed by default; ICMPv6 and extension headers never.
        assert_eq!(rss.frame_queue(&frame6(17, (a, 1), (b, 2))), None);
        assert_eq!(rss.frame_queue(&frame6(58, (a, 1), (b, 2))), None);
        assert_eq!(rss.frame_queue(&frame6(0, (a, 1), (b, 2))), None);
        for n in 0..tcp.len() {
            let q = rss.frame_queue(&tcp[..n]);
            assert!(n >= 58 || q.is_none(), "{n}");
        }
    }

    #[test]
    fn affinity_filter6_makes_replies_land_on_the_opening_queue() {
        let rss = Rss::microsoft(4).unwrap();
        let local: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let remote: Ipv6Addr = "2001:db8::2".parse().unwrap();
        for queue in 0..4 {
            let mut filter = rss.affinity_filter6(queue);
            let mut taken = 0;
            for port in 32768..33768u16 {
                let k = FlowKey6 {
                    local_ip: local,
                    local_port: port,
                    remote_ip: remote,
                    remote_port: 80,
                };
                if filter(&k) {
                    taken += 1;
                    let reply = frame6(6, (remote, 80), (local, port));
                    assert_eq!(rss.frame_queue(&reply), Some(queue));
                }
            }
            // About a quarter of the ports each.
            assert!((150..350).contains(&taken), "queue {queue}: {taken}");
        }
    }

    #[test]
    fn lookup_tables_agree_with_the_bitwise_definition() {
        let mut key = [0u8; KEY_LEN];
        let mut rng = SplitMix64::new(7);
        for b in key.iter_mut() {
            *b = rng.next_u64() as u8;
        }
        let rss = Rss::new(key, 4).unwrap();
        for _ in 0..1000 {
            let t = random_tuple(&mut rng);
            assert_eq!(rss.hash(&t), toeplitz(&key, &t.input()));
        }
    }

    #[test]
    fn equal_table_is_round_robin_and_low_bits_index_it() {
        let rss = Rss::microsoft(3).unwrap();
        assert_eq!(rss.table().len(), DEFAULT_TABLE_LEN);
        for (i, &q) in rss.table().iter().enumerate() {
            assert_eq!(usize::from(q), i % 3);
        }
        // Hash 0x...85: low 7 bits are 5 -> entry 5 -> queue 2.
        assert_eq!(rss.queue_of_hash(0xdead_be85), 2);
        assert_eq!(rss.queue_of_hash(0x0000_0003), 0);
    }

    #[test]
    fn bad_tables_are_refused() {
        assert_eq!(Rss::microsoft(0).unwrap_err(), RssError::NoQueues);
        assert_eq!(
            Rss::with_table(MICROSOFT_KEY, 2, vec![0; 3]).unwrap_err(),
            RssError::TableLen(3)
        );
        assert_eq!(
            Rss::with_table(MICROSOFT_KEY, 2, vec![0, 1, 2, 0]).unwrap_err(),
            RssError::QueueOutOfRange { entry: 2, queue: 2 }
        );
    }

    /// An Ethernet + IPv4 + L4-ports frame.
    fn frame(proto: u8, src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), frag: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 6..14 + 8].copy_from_slice(&frag.to_be_bytes());
        f[14 + 9] = proto;
        f[14 + 12..14 + 16].copy_from_slice(&src.0.octets());
        f[14 + 16..14 + 20].copy_from_slice(&dst.0.octets());
        f[34..36].copy_from_slice(&src.1.to_be_bytes());
        f[36..38].copy_from_slice(&dst.1.to_be_bytes());
        f
    }

    #[test]
    fn frame_queue_reads_tcp_tuples_only_by_default() {
        let rss = Rss::microsoft(4).unwrap();
        for (dst, src, _, with_tcp) in VECTORS {
            let f = frame(6, src, dst, 0);
            let want = rss.queue_of_hash(with_tcp);
            assert_eq!(rss.frame_queue(&f), Some(want));
            assert_eq!(rss.frame_queue(&frame(17, src, dst, 0)), None, "UDP not hashed");
            assert_eq!(rss.frame_queue(&frame(6, src, dst, 0x2000)), None, "MF fragment");
            assert_eq!(rss.frame_queue(&frame(6, src, dst, 0x0010)), None, "later fragment");
            assert_eq!(rss.frame_queue(&frame(6, src, dst, 0x4000)), Some(want), "DF is fine");
            let udp = rss.clone().with_protocols(HashedProtocols { tcp: true, udp: true });
            assert_eq!(udp.frame_queue(&frame(17, src, dst, 0)), Some(want));
        }
    }

    #[test]
    fn frame_queue_never_panics_on_truncation_or_garbage() {
        let rss = Rss::microsoft(2).unwrap();
        let f = frame(6, (Ipv4Addr::new(1, 2, 3, 4), 5), (Ipv4Addr::new(6, 7, 8, 9), 10), 0);
        for n in 0..f.len() {
            let q = rss.frame_queue(&f[..n]);
            assert_eq!(q.is_some(), n >= 38, "length {n}");
        }
        let mut bad_ihl = f.clone();
        bad_ihl[14] = 0x44;
        assert_eq!(rss.frame_queue(&bad_ihl), None);
        let mut long_ihl = f.clone();
        long_ihl[14] = 0x4f; // 60-byte header: ports beyond the frame
        assert_eq!(rss.frame_queue(&long_ihl), None);
        let mut rng = SplitMix64::new(1);
        let mut junk = [0u8; 64];
        for _ in 0..2000 {
            for b in junk.iter_mut() {
                *b = rng.next_u64() as u8;
            }
            junk[12] = 0x08;
            junk[13] = 0x00;
            let _ = rss.frame_queue(&junk[..(rng.next_u64() % 65) as usize]);
        }
    }

    #[test]
    fn symmetric_key_hashes_both_directions_alike() {
        let rss = Rss::new(SYMMETRIC_KEY, 2).unwrap();
        let ms = Rss::microsoft(2).unwrap();
        let mut rng = SplitMix64::new(3);
        let mut asymmetric = 0;
        for _ in 0..1000 {
            let t = random_tuple(&mut rng);
            let back = RxTuple {
                src_ip: t.dst_ip,
                dst_ip: t.src_ip,
                src_port: t.dst_port,
                dst_port: t.src_port,
            };
            assert_eq!(rss.hash(&t), rss.hash(&back), "{t:?}");
            assert_eq!(toeplitz(&SYMMETRIC_KEY, &t.input()), rss.hash(&t));
            asymmetric += usize::from(ms.hash(&t) != ms.hash(&back));
        }
        // The Microsoft key is not symmetric: the property is the key's, not the code's.
        assert!(asymmetric > 900, "{asymmetric}");
    }

    #[test]
    fn keys_parse_by_name_and_in_ethtool_hex() {
        assert_eq!(parse_key("microsoft"), Ok(MICROSOFT_KEY));
        assert_eq!(parse_key("symmetric"), Ok(SYMMETRIC_KEY));
        let hex: Vec<String> = MICROSOFT_KEY.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_key(&hex.join(":")), Ok(MICROSOFT_KEY));
        assert!(parse_key(&hex[..39].join(":")).unwrap_err().contains("39 bytes"));
        for bad in ["", "6d:5a:zz", "6d5a", "micro", "6d:5a:"] {
            let e = parse_key(bad).expect_err(bad);
            assert!(e.contains("RSS key") && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn affinity_filter_makes_replies_land_on_the_opening_queue() {
        let rss = Rss::microsoft(4).unwrap();
        let local = Ipv4Addr::new(198, 18, 0, 2);
        let remote = (Ipv4Addr::new(198, 18, 0, 1), 80);
        let key = |port| FlowKey {
            local_ip: local,
            local_port: port,
            remote_ip: remote.0,
            remote_port: remote.1,
        };
        for queue in 0..4u16 {
            let mut ports = EphemeralPorts::with_default_range(*b"0123456789abcdef");
            let mut filter = rss.affinity_filter(queue);
            for _ in 0..50 {
                let port = ports
                    .select(local, remote, |p| filter(&key(p)))
                    .expect("a quarter of the range qualifies");
                // What the NIC will see on RX for the reply: remote -> local.
                let reply =
                    RxTuple { src_ip: remote.0, dst_ip: local, src_port: remote.1, dst_port: port };
                assert_eq!(rss.rx_queue(&reply), queue);
                let f = frame(6, remote, (local, port), 0);
                assert_eq!(rss.frame_queue(&f), Some(queue));
            }
        }
        // About one port in four qualifies: the filter is not trivially true or false.
        let mut filter = rss.affinity_filter(1);
        let hits = (32768..=60999u16).filter(|&p| filter(&key(p))).count();
        assert!((5000..9000).contains(&hits), "{hits}");
    }
}
