//! The scripted client side of the benchmark: N established connections, kept as a few
//! numbers each, that write one 64-byte request per connection per round and read the
//! server's frames back. It is not a TCP stack: after the handshakes (made by real client
//! stacks, `setup.rs`) it only needs what a closed-loop request/response client puts in a
//! segment — its sequence number, the acknowledgement of the last echo, and RFC 7323
//! timestamps (its own clock, and the server's last TSval echoed) — and it checks that every
//! request came back once, in order, byte for byte.
//!
//! Frames are built from a header captured from each client stack's last handshake ACK (so
//! MACs, addresses, window and option layout are what a real client sent), with every
//! checksum computed in full: the same frames serve servers that verify checksums and
//! servers that trust the device.

use std::net::Ipv4Addr;

use xdptcp_stack::rng::SplitMix64;
use xdptcp_stack::time::Instant;
use xdptcp_stack::wire::checksum;

use super::frames::FrameBatch;
use super::setup::{client_index, conn_address, SERVER_IP};

/// Request and echo size.
pub const REQUEST: usize = 64;

const ETH: usize = 14;
const IP: usize = ETH;
const TCP: usize = ETH + 20;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ARP_FRAME: usize = ETH + 28;
const FLAG_FIN: u8 = 0x01;
const FLAG_SYN: u8 = 0x02;
const FLAG_RST: u8 = 0x04;
const FLAG_PSH_ACK: u8 = 0x18;

/// Ethernet + IPv4 + TCP header of one client address, from its handshake's last ACK.
#[derive(Clone)]
struct Template {
    header: Vec<u8>,
    /// Offset of the TSval field in the frame, if timestamps were negotiated.
    tsval_at: Option<usize>,
    ip: Ipv4Addr,
    mac: [u8; 6],
}

/// What the client knows of one connection.
#[derive(Clone, Copy, Default)]
struct Conn {
    seq: u32,
    /// What the next request acknowledges: the end of the echo of the request before it
    /// (predicted when the request is built, so a chunk of batches can be built ahead; the
    /// echo is checked against it when it arrives).
    ack: u32,
    /// Where the next echo must start.
    echo_seq: u32,
    window: u16,
    /// The server's last TSval, echoed as TSecr (RFC 7323 §4.3).
    ts_recent: u32,
    /// Our TSval is `ts_offset + now in ms` (RFC 7323 §5.4: a per-connection offset).
    ts_offset: u32,
    sent: u32,
    echoed: u32,
    captured: bool,
}

/// What the client saw; every field but `requests`, `echoes`, `pure_acks` and
/// `arp_requests` must stay zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub requests: u64,
    pub echoes: u64,
    /// Segments from the server without payload (ACKs the echo did not carry).
    pub pure_acks: u64,
    /// ARP requests from the server (answered in the next batch).
    pub arp_requests: u64,
    /// Chunks of batches after which some request had no echo.
    pub unanswered: u64,
    /// Payload that did not start at the expected sequence number (retransmission, gap).
    pub out_of_order: u64,
    /// An echo whose size or content was not the request's.
    pub bad_echo: u64,
    /// SYN, FIN or RST, frames for no connection, anything not ARP or TCP/IPv4.
    pub unexpected: u64,
}

/// N connections' client ends.
pub struct EchoClients {
    templates: Vec<Option<Template>>,
    conns: Vec<Conn>,
    /// The order a round visits the connections in: a fixed shuffle of `0..n`
    /// ([`shuffled`]).
    order: Vec<u32>,
    /// Position in `order` of the next request.
    next: usize,
    ident: u16,
    arp_replies: Vec<[u8; ARP_FRAME]>,
    pub stats: ClientStats,
}

/// `0..n` in a fixed pseudo-random order (Fisher-Yates over the workspace's `SplitMix64`, a
/// fixed seed, so that every run and every binary sees the same order).
///
/// Not `0..n` itself: the server's connections lie in its slab in the order they were
/// opened, so a round in that order reads their slots at a constant stride (1,792 bytes),
/// and the core's stride prefetcher then fetches the next connection's lines ahead of the
/// stack's own look-ahead. A server's clients do not queue up in that order; in it,
/// N = 100,000 measured 3.94 Mpps against 3.16 shuffled (docs/benchmarks.md, "Connections
/// in a shuffled order").
fn shuffled(n: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = SplitMix64::new(0x5eed);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    order
}

impl EchoClients {
    /// `n` connections spread over `addresses` client addresses, none captured yet.
    pub fn new(n: usize, addresses: usize) -> EchoClients {
        EchoClients {
            templates: vec![None; addresses],
            conns: vec![Conn::default(); n],
            order: shuffled(n),
            next: 0,
            ident: 0,
            arp_replies: Vec::with_capacity(16),
            stats: ClientStats::default(),
        }
    }

    /// Takes the state of a connection from a frame its client stack sent during setup
    /// (called for every client frame; the handshake's last ACK is the last one seen).
    pub fn observe_setup_frame(&mut self, frame: &[u8], now: Instant) {
        let Some(seg) = Segment::parse(frame) else { return };
        if seg.flags & FLAG_SYN != 0 {
            return;
        }
        let Some(k) = client_index(seg.src) else { return };
        let Some(i) = self.index(k, seg.src_port) else { return };
        if self.templates[k].is_none() {
            let tsval_at = seg.tsval_at;
            self.templates[k] = Some(Template {
                header: frame[..seg.payload_at].to_vec(),
                tsval_at,
                ip: seg.src,
                mac: frame[6..12].try_into().expect("six bytes"),
            });
        }
        let now_ms = now.total_millis() as u32;
        let c = &mut self.conns[i];
        c.seq = seg.seq;
        c.ack = seg.ack;
        c.echo_seq = seg.ack;
        c.window = seg.window;
        if let Some((val, ecr)) = seg.timestamps {
            c.ts_offset = val.wrapping_sub(now_ms);
            c.ts_recent = ecr;
        }
        c.captured = true;
    }

    /// Whether the connections carry RFC 7323 timestamps (the server negotiated them).
    pub fn timestamps(&self) -> bool {
        self.templates.iter().all(|t| t.as_ref().is_some_and(|t| t.tsval_at.is_some()))
    }

    /// Connections whose handshake ACK was captured.
    pub fn captured(&self) -> usize {
        self.conns.iter().filter(|c| c.captured).count()
    }

    /// Puts pending ARP replies and then `count` requests into `rx`, round-robin over the
    /// connections, and the index of each request's connection into `conns`. A connection
    /// may get its next request before the echo of the last one was absorbed (N = 1 builds
    /// 64 batches ahead): the request acknowledges the echo it expects.
    pub fn fill(&mut self, now: Instant, rx: &mut FrameBatch, conns: &mut Vec<u32>, count: usize) {
        while let Some(reply) = self.arp_replies.pop() {
            let slot = rx.slot().expect("room for ARP replies");
            slot[..ARP_FRAME].copy_from_slice(&reply);
            rx.commit(ARP_FRAME);
        }
        let now_ms = now.total_millis() as u32;
        for _ in 0..count {
            let at = self.next;
            self.next = if at + 1 == self.conns.len() { 0 } else { at + 1 };
            let i = self.order[at] as usize;
            let c = &mut self.conns[i];
            let (k, port) = conn_address(i, self.templates.len());
            let t = self.templates[k].as_ref().expect("set up");
            self.ident = self.ident.wrapping_add(1);
            let slot = rx.slot().expect("room for the batch");
            let len = build_request(slot, t, c, port, now_ms, self.ident, i as u32);
            rx.commit(len);
            conns.push(i as u32);
            c.seq = c.seq.wrapping_add(REQUEST as u32);
            c.ack = c.ack.wrapping_add(REQUEST as u32);
            c.sent += 1;
            self.stats.requests += 1;
        }
    }

    /// Reads the server's output of one batch.
    pub fn absorb(&mut self, tx: &FrameBatch) {
        for f in tx.frames() {
            match f.get(12..14).map(|t| u16::from_be_bytes([t[0], t[1]])) {
                Some(ETHERTYPE_ARP) => self.arp(f),
                Some(ETHERTYPE_IPV4) => self.segment(f),
                _ => self.stats.unexpected += 1,
            }
        }
    }

    /// After the server's output of a chunk of batches was absorbed: every request of the
    /// chunk must have had its echo (each echo was matched to its request, in order).
    pub fn end_chunk(&mut self) {
        if self.stats.echoes != self.stats.requests {
            self.stats.unanswered += 1;
        }
    }

    /// Whether every request so far got its echo and nothing odd was seen.
    pub fn check(&self) -> Result<(), String> {
        let s = &self.stats;
        let waiting = self.conns.iter().filter(|c| c.echoed != c.sent).count();
        let bad = s.unanswered + s.out_of_order + s.bad_echo + s.unexpected;
        if bad != 0 || waiting != 0 || s.echoes != s.requests {
            return Err(format!("{s:?}, {waiting} connections waiting for an echo"));
        }
        Ok(())
    }

    fn index(&self, k: usize, port: u16) -> Option<usize> {
        super::setup::conn_index(k, port, self.templates.len()).filter(|&i| i < self.conns.len())
    }

    fn segment(&mut self, f: &[u8]) {
        let Some(seg) = Segment::parse(f) else {
            self.stats.unexpected += 1;
            return;
        };
        let conn = client_index(seg.dst).and_then(|k| self.index(k, seg.dst_port));
        let Some(i) = conn.filter(|_| seg.flags & (FLAG_SYN | FLAG_FIN | FLAG_RST) == 0) else {
            self.stats.unexpected += 1;
            return;
        };
        let c = &mut self.conns[i];
        if let Some((val, _)) = seg.timestamps {
            c.ts_recent = val;
        }
        let payload = &f[seg.payload_at..seg.payload_end];
        if payload.is_empty() {
            self.stats.pure_acks += 1;
            return;
        }
        if seg.seq != c.echo_seq {
            self.stats.out_of_order += 1;
            return;
        }
        c.echo_seq = c.echo_seq.wrapping_add(payload.len() as u32);
        let mut expect = [0u8; REQUEST];
        request_payload(&mut expect, i as u32, c.echoed);
        if payload == expect {
            c.echoed += 1;
            self.stats.echoes += 1;
        } else {
            self.stats.bad_echo += 1;
        }
    }

    /// Answers an ARP request for a client address (RFC 826).
    fn arp(&mut self, f: &[u8]) {
        let request = f.len() >= ARP_FRAME && f[ETH + 6..ETH + 8] == [0, 1];
        let target = f.get(ETH + 24..ETH + 28).map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]));
        let t = target.and_then(client_index).and_then(|k| self.templates.get(k)?.as_ref());
        let Some(t) = t.filter(|_| request) else {
            self.stats.unexpected += 1;
            return;
        };
        self.stats.arp_requests += 1;
        let mut r = [0u8; ARP_FRAME];
        r[0..6].copy_from_slice(&f[6..12]);
        r[6..12].copy_from_slice(&t.mac);
        r[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        r[ETH..ETH + 8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
        r[ETH + 8..ETH + 14].copy_from_slice(&t.mac);
        r[ETH + 14..ETH + 18].copy_from_slice(&t.ip.octets());
        r[ETH + 18..ETH + 28].copy_from_slice(&f[ETH + 8..ETH + 18]);
        self.arp_replies.push(r);
    }
}

/// The 64 bytes of request number `n` on connection `i`: both numbers, then a fixed pattern.
fn request_payload(out: &mut [u8; REQUEST], i: u32, n: u32) {
    out[..4].copy_from_slice(&i.to_be_bytes());
    out[4..8].copy_from_slice(&n.to_be_bytes());
    for (j, b) in out[8..].iter_mut().enumerate() {
        *b = b'a' + (j % 26) as u8;
    }
}

/// Writes connection `i`'s next request into `slot`; returns the frame length.
fn build_request(
    slot: &mut [u8],
    t: &Template,
    c: &Conn,
    port: u16,
    now_ms: u32,
    ident: u16,
    i: u32,
) -> usize {
    let h = t.header.len();
    let len = h + REQUEST;
    let f = &mut slot[..len];
    f[..h].copy_from_slice(&t.header);
    let payload: &mut [u8; REQUEST] = (&mut f[h..]).try_into().expect("64 bytes");
    request_payload(payload, i, c.sent);
    let tcp_len = len - TCP;
    f[IP + 2..IP + 4].copy_from_slice(&((len - IP) as u16).to_be_bytes());
    f[IP + 4..IP + 6].copy_from_slice(&ident.to_be_bytes());
    f[IP + 10..IP + 12].copy_from_slice(&[0, 0]);
    let ip_sum = checksum::checksum(&f[IP..TCP]);
    f[IP + 10..IP + 12].copy_from_slice(&ip_sum.to_be_bytes());
    f[TCP..TCP + 2].copy_from_slice(&port.to_be_bytes());
    f[TCP + 4..TCP + 8].copy_from_slice(&c.seq.to_be_bytes());
    f[TCP + 8..TCP + 12].copy_from_slice(&c.ack.to_be_bytes());
    f[TCP + 13] = FLAG_PSH_ACK;
    f[TCP + 14..TCP + 16].copy_from_slice(&c.window.to_be_bytes());
    f[TCP + 16..TCP + 18].copy_from_slice(&[0, 0]);
    if let Some(at) = t.tsval_at {
        f[at..at + 4].copy_from_slice(&c.ts_offset.wrapping_add(now_ms).to_be_bytes());
        f[at + 4..at + 8].copy_from_slice(&c.ts_recent.to_be_bytes());
    }
    let pseudo = checksum::pseudo_header_v4(t.ip, SERVER_IP, 6, tcp_len as u16);
    let sum = checksum::combine(&[pseudo, checksum::sum(&f[TCP..])]);
    f[TCP + 16..TCP + 18].copy_from_slice(&sum.to_be_bytes());
    len
}

/// The fields of one Ethernet/IPv4/TCP frame the client reads. Checksums are not verified:
/// a server on a checksum-offloading device leaves them to the NIC.
struct Segment {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    timestamps: Option<(u32, u32)>,
    tsval_at: Option<usize>,
    payload_at: usize,
    payload_end: usize,
}

impl Segment {
    fn parse(f: &[u8]) -> Option<Segment> {
        let be16 = |at: usize| Some(u16::from_be_bytes(f.get(at..at + 2)?.try_into().ok()?));
        let be32 = |at: usize| Some(u32::from_be_bytes(f.get(at..at + 4)?.try_into().ok()?));
        let ip4 = |at: usize| {
            let a = f.get(at..at + 4)?;
            Some(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        };
        if be16(12)? != ETHERTYPE_IPV4 || *f.get(IP + 9)? != 6 {
            return None;
        }
        let ihl = usize::from(f[IP] & 0x0f) * 4;
        let end = IP + usize::from(be16(IP + 2)?);
        let tcp = IP + ihl;
        let doff = usize::from(*f.get(tcp + 12)? >> 4) * 4;
        let payload_at = tcp + doff;
        if ihl < 20 || doff < 20 || payload_at > end || end > f.len() {
            return None;
        }
        // RFC 9293 §3.1 options: kind 0 ends the list, kind 1 is one byte, others carry a length.
        let (mut timestamps, mut tsval_at) = (None, None);
        let mut o = tcp + 20;
        while o < payload_at {
            match f[o] {
                0 => break,
                1 => o += 1,
                kind => {
                    let len = usize::from(*f.get(o + 1)?).max(2);
                    if kind == 8 && len == 10 && o + 10 <= payload_at {
                        timestamps = Some((be32(o + 2)?, be32(o + 6)?));
                        tsval_at = Some(o + 2);
                    }
                    o += len;
                }
            }
        }
        Some(Segment {
            src: ip4(IP + 12)?,
            dst: ip4(IP + 16)?,
            src_port: be16(tcp)?,
            dst_port: be16(tcp + 2)?,
            seq: be32(tcp + 4)?,
            ack: be32(tcp + 8)?,
            flags: f[tcp + 13],
            window: be16(tcp + 14)?,
            timestamps,
            tsval_at,
            payload_at,
            payload_end: end,
        })
    }
}
