//! [`Flooder`]: a UDP packet generator over any batch [`Device`] — on an AF_XDP socket it is
//! the client side of `bench lab`'s `raw-xdp` row, so that the row measures the wire and the
//! reflector rather than a kernel-socket generator.
//!
//! It is the reflector's twin (`super::reflector`): one loop that, per step, takes a
//! batch of received frames, counts the replies among them, and fills a batch of TX buffers
//! with new datagrams while fewer than `window` are in flight. Each datagram carries the
//! generator's clock and a sequence number in its first 16 payload bytes, so a reply gives
//! a round-trip time. The peer's MAC address is learnt with an ARP request (RFC 826), repeated
//! every [`ARP_RETRY`] until a reply comes.
//!
//! Frames are built from a template made once: the IPv4 header (RFC 791) and its checksum
//! never change (fixed length, identification 0 with DF set, RFC 6864 §4.1), and the UDP
//! checksum (RFC 768) is the template's folded sum plus the sum of the 16 bytes that change.
//! Nothing allocates per packet.
//!
//! Loss: a reflector may drop under load. When datagrams are in flight and nothing has come
//! back for [`WRITE_OFF`], they are written off as lost (counted) and sending resumes, as the
//! kernel-socket `udp-flood` does.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::loadgen::latency::LatencyCounts;
use hdrhistogram::Histogram;
use xdptcp_driver::device::{Device, FrameList};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::checksum;

const ETH: usize = 14;
const IP: usize = 20;
const UDP: usize = 8;
const HEADERS: usize = ETH + IP + UDP;
/// Send time (ns, little-endian) and sequence number at the front of every payload.
pub const STAMP: usize = 16;
/// Largest UDP payload in one 1500-byte IP packet.
pub const MAX_PAYLOAD: usize = 1472;
/// How often an unanswered ARP request is repeated.
pub const ARP_RETRY: Duration = Duration::from_millis(100);
/// Silence after which the datagrams in flight are written off.
pub const WRITE_OFF: Duration = Duration::from_millis(20);

/// What to send where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodConfig {
    /// Our Ethernet and IPv4 addresses and UDP source port.
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub port: u16,
    /// The reflector or echo server (on the same link: its MAC is resolved by ARP).
    pub target: SocketAddrV4,
    /// UDP payload bytes, [`STAMP`]..=[`MAX_PAYLOAD`].
    pub payload: usize,
    /// Most datagrams in flight (≥ 1).
    pub window: u64,
}

/// What the generator did. Every frame it received and did not count as a reply is counted
/// under one of the other names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodCounters {
    /// Datagrams sent.
    pub sent: u64,
    /// Replies received (UDP from the target to our port, long enough to carry a stamp).
    pub received: u64,
    /// Datagrams written off after [`WRITE_OFF`] of silence.
    pub lost: u64,
    /// ARP requests sent while resolving the target.
    pub arp_requests: u64,
    /// Frames received that were neither a reply nor the ARP answer (other traffic,
    /// malformed or short frames).
    pub ignored: u64,
    /// Times a datagram could not be sent because the device had no free TX buffer.
    pub tx_full: u64,
}

/// The generator. See the [module documentation](self).
#[derive(Debug)]
pub struct Flooder {
    config: FloodConfig,
    peer_mac: Option<[u8; 6]>,
    /// Ethernet + IPv4 + UDP headers and a zero payload; the destination MAC is filled in
    /// once resolved.
    template: Vec<u8>,
    /// Folded sum of the UDP pseudo-header, the UDP header (checksum 0) and the template's
    /// payload: the per-packet checksum adds the stamp's sum to it.
    udp_sum: u16,
    counters: FloodCounters,
    last_progress: Instant,
    next_arp: Instant,
    /// Round-trip times counted as the load generator counts its latencies (a reply is the
    /// generator's hot path too: the histogram's `record` was some 70 instructions).
    rtt_ns: LatencyCounts,
    /// Received handles, kept from step to step.
    ids: FrameList,
}

impl Flooder {
    /// A generator for `config`; an error names the bad value.
    pub fn new(config: FloodConfig) -> Result<Flooder, String> {
        if !(STAMP..=MAX_PAYLOAD).contains(&config.payload) {
            return Err(format!(
                "payload {} B must be between {STAMP} and {MAX_PAYLOAD} bytes",
                config.payload
            ));
        }
        if config.window == 0 {
            return Err("the window must be at least 1 datagram".into());
        }
        let len = HEADERS + config.payload;
        let mut t = vec![0u8; len];
        t[6..12].copy_from_slice(&config.mac);
        t[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip_len = (IP + UDP + config.payload) as u16;
        let ip = &mut t[ETH..ETH + IP];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        // Identification 0 with DF: an atomic datagram (RFC 6864 §4.1).
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&config.ip.octets());
        ip[16..20].copy_from_slice(&config.target.ip().octets());
        let c = checksum::checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let udp_len = (UDP + config.payload) as u16;
        let udp = &mut t[ETH + IP..];
        udp[0..2].copy_from_slice(&config.port.to_be_bytes());
        udp[2..4].copy_from_slice(&config.target.port().to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        let pseudo = checksum::pseudo_header_v4(config.ip, *config.target.ip(), 17, udp_len);
        let udp_sum = checksum::add(pseudo, checksum::sum(udp));
        Ok(Flooder {
            config,
            peer_mac: None,
            template: t,
            udp_sum,
            counters: FloodCounters::default(),
            last_progress: Instant::ZERO,
            next_arp: Instant::ZERO,
            rtt_ns: LatencyCounts::default(),
            ids: FrameList::default(),
        })
    }

    /// Counters so far.
    pub fn counters(&self) -> FloodCounters {
        self.counters
    }

    /// Whether the target's MAC address is known (sending has begun).
    pub fn resolved(&self) -> bool {
        self.peer_mac.is_some()
    }

    /// Datagrams sent and neither answered nor written off.
    pub fn in_flight(&self) -> u64 {
        let c = &self.counters;
        c.sent.saturating_sub(c.received + c.lost)
    }

    /// Round-trip times of the replies, nanoseconds.
    pub fn rtt_ns(&self) -> Histogram<u64> {
        self.rtt_ns.to_histogram()
    }

    /// Forgets the replies and losses counted so far (a warm-up), keeping what is in flight.
    pub fn reset_counts(&mut self) {
        let in_flight = self.in_flight();
        self.counters = FloodCounters {
            sent: in_flight,
            arp_requests: self.counters.arp_requests,
            ..Default::default()
        };
        self.rtt_ns.clear();
    }

    /// One step: receive a batch and count the replies; then, if `send`, top the window up
    /// (at most one batch) — or, while the target is unresolved, ask for its MAC address —
    /// and flush the device either way. Returns the frames received plus sent.
    pub fn step<D: Device>(&mut self, dev: &mut D, now: Instant, send: bool) -> usize {
        self.ids.reset(dev.batch_size());
        dev.receive(now, &mut self.ids);
        let received = self.ids.len();
        for &id in self.ids.as_slice() {
            match self.classify(dev.frame(id)) {
                Frame::Reply(stamp) => {
                    self.counters.received += 1;
                    self.rtt_ns.record(now.total_nanos().saturating_sub(stamp));
                    self.last_progress = now;
                }
                Frame::ArpReply(mac) => {
                    if self.peer_mac.is_none() {
                        self.template[0..6].copy_from_slice(&mac);
                        self.peer_mac = Some(mac);
                        self.last_progress = now;
                    } else {
                        self.counters.ignored += 1;
                    }
                }
                Frame::Other => self.counters.ignored += 1,
            }
            dev.release(id);
        }
        if self.in_flight() > 0 && now.saturating_duration_since(self.last_progress) > WRITE_OFF {
            self.counters.lost += self.in_flight();
            self.last_progress = now;
        }
        let sent = if !send {
            0
        } else if self.peer_mac.is_none() {
            self.resolve(dev, now)
        } else {
            self.send_batch(dev, now)
        };
        if sent == 0 {
            // Frames still on the TX ring leave with the next kick: in copy mode the kernel
            // transmits a bounded batch per `sendto`, so a full window must not stop the
            // kicking (the device kicks only while frames are outstanding).
            dev.flush(now);
        }
        received + sent
    }

    fn send_batch<D: Device>(&mut self, dev: &mut D, now: Instant) -> usize {
        let room = self.config.window.saturating_sub(self.in_flight());
        let n = room.min(dev.batch_size() as u64) as usize;
        if self.in_flight() == 0 {
            // Nothing outstanding: silence starts counting from now.
            self.last_progress = now;
        }
        let len = self.template.len();
        let mut sent = 0;
        for _ in 0..n {
            let Some(tx) = dev.allocate(now) else {
                self.counters.tx_full += 1;
                break;
            };
            let buf = dev.frame_mut(tx);
            if buf.len() < len {
                dev.release(tx);
                self.counters.tx_full += 1;
                break;
            }
            let frame = &mut buf[..len];
            frame.copy_from_slice(&self.template);
            let payload = HEADERS;
            frame[payload..payload + 8].copy_from_slice(&now.total_nanos().to_le_bytes());
            frame[payload + 8..payload + 16].copy_from_slice(&self.counters.sent.to_le_bytes());
            let sum = checksum::add(self.udp_sum, checksum::sum(&frame[payload..payload + STAMP]));
            // RFC 768: a computed checksum of zero is sent as all ones.
            let c = match checksum::finish(sum) {
                0 => 0xffff,
                c => c,
            };
            frame[ETH + IP + 6..ETH + IP + 8].copy_from_slice(&c.to_be_bytes());
            dev.transmit(now, tx, len);
            self.counters.sent += 1;
            sent += 1;
        }
        if sent > 0 {
            dev.flush(now);
        }
        sent
    }

    /// Sends an ARP request for the target's address, at most every [`ARP_RETRY`].
    fn resolve<D: Device>(&mut self, dev: &mut D, now: Instant) -> usize {
        if now < self.next_arp {
            return 0;
        }
        let Some(tx) = dev.allocate(now) else {
            self.counters.tx_full += 1;
            return 0;
        };
        let buf = dev.frame_mut(tx);
        if buf.len() < ARP_FRAME {
            dev.release(tx);
            self.counters.tx_full += 1;
            return 0;
        }
        let f = &mut buf[..ARP_FRAME];
        f.fill(0);
        f[0..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&self.config.mac);
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        // Ethernet/IPv4, 6- and 4-byte addresses, operation 1 (request).
        f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f[22..28].copy_from_slice(&self.config.mac);
        f[28..32].copy_from_slice(&self.config.ip.octets());
        f[38..42].copy_from_slice(&self.config.target.ip().octets());
        dev.transmit(now, tx, ARP_FRAME);
        dev.flush(now);
        self.counters.arp_requests += 1;
        self.next_arp = now + ARP_RETRY;
        1
    }

    /// What a received frame is to us. Never panics: every access is checked.
    fn classify(&self, f: &[u8]) -> Frame {
        match f.get(12..14) {
            Some([0x08, 0x00]) => self.classify_ipv4(f),
            Some([0x08, 0x06]) => self.classify_arp(f),
            _ => Frame::Other,
        }
    }

    fn classify_ipv4(&self, f: &[u8]) -> Frame {
        let Some(ip) = f.get(ETH..) else { return Frame::Other };
        if ip.len() < IP || ip[0] >> 4 != 4 || ip[9] != 17 {
            return Frame::Other;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        // The datagram must be all there (a shorter frame is truncated; a longer one may
        // carry Ethernet padding).
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
        if ihl < IP
            || total > ip.len()
            || total < ihl + UDP + STAMP
            || fragment
            || ip[12..16] != self.config.target.ip().octets()
            || ip[16..20] != self.config.ip.octets()
        {
            return Frame::Other;
        }
        let Some(udp) = ip.get(ihl..total) else { return Frame::Other };
        if udp.len() < UDP + STAMP
            || udp[0..2] != self.config.target.port().to_be_bytes()
            || udp[2..4] != self.config.port.to_be_bytes()
        {
            return Frame::Other;
        }
        let mut stamp = [0u8; 8];
        stamp.copy_from_slice(&udp[UDP..UDP + 8]);
        Frame::Reply(u64::from_le_bytes(stamp))
    }

    fn classify_arp(&self, f: &[u8]) -> Frame {
        let Some(a) = f.get(ETH..ETH + 28) else { return Frame::Other };
        // A reply (operation 2) from the target's address to ours.
        if a[0..8] != [0, 1, 8, 0, 6, 4, 0, 2]
            || a[14..18] != self.config.target.ip().octets()
            || a[24..28] != self.config.ip.octets()
        {
            return Frame::Other;
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&a[8..14]);
        Frame::ArpReply(mac)
    }
}

/// Ethernet + ARP request, padded to the 60-byte Ethernet minimum.
const ARP_FRAME: usize = 60;

enum Frame {
    /// A reply carrying our send time (ns).
    Reply(u64),
    /// The target's answer to our ARP request, with its MAC address.
    ArpReply([u8; 6]),
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdp::reflector::Reflector;
    use xdptcp_driver::loopback::LoopbackPair;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 5, 4);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 5, 2);
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 4];
    const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn config(window: u64) -> FloodConfig {
        FloodConfig {
            mac: MAC,
            ip: US,
            port: 40000,
            target: SocketAddrV4::new(PEER, 9),
            payload: 18,
            window,
        }
    }

    #[test]
    fn resolves_the_reflector_then_keeps_the_window_full_and_counts_every_reply() {
        let (mut gen_dev, mut ref_dev) = LoopbackPair::default().build();
        let mut flood = Flooder::new(config(100)).expect("valid");
        let mut reflector = Reflector::new(PEER_MAC, PEER, 64);
        let mut now = Instant::from_millis(1);
        // ARP first: one request, answered, nothing else sent.
        assert_eq!(flood.step(&mut gen_dev, now, true), 1);
        assert_eq!(flood.counters().arp_requests, 1);
        assert!(!flood.resolved());
        reflector.step(&mut ref_dev, now);
        assert_eq!(reflector.counters().arp_replies, 1);
        for _ in 0..50 {
            now += Duration::from_micros(10);
            flood.step(&mut gen_dev, now, true);
            assert!(flood.in_flight() <= 100, "the window holds");
            reflector.step(&mut ref_dev, now);
        }
        assert!(flood.resolved());
        // Stop sending and collect what is still in flight.
        for _ in 0..10 {
            now += Duration::from_micros(10);
            reflector.step(&mut ref_dev, now);
            flood.step(&mut gen_dev, now, false);
        }
        let c = flood.counters();
        assert!(c.sent > 1000, "{c:?}");
        assert_eq!((c.received, c.lost, c.ignored, c.tx_full), (c.sent, 0, 0, 0), "{c:?}");
        assert_eq!(reflector.counters().reflected, c.sent);
        assert_eq!(reflector.counters().dropped, 0, "every datagram was for the reflector");
        assert_eq!(flood.rtt_ns().len(), c.sent);
        assert!(flood.rtt_ns().max() <= 1_000_000, "round trips of a few steps");
        assert_eq!(gen_dev.free_frames(), ref_dev.free_frames(), "no frame leaked");
    }

    #[test]
    fn datagrams_carry_valid_checksums() {
        let (mut gen_dev, mut other) = LoopbackPair::default().build();
        let mut flood = Flooder::new(config(4)).expect("valid");
        flood.peer_mac = Some(PEER_MAC);
        flood.template[0..6].copy_from_slice(&PEER_MAC);
        let now = Instant::from_millis(7);
        assert_eq!(flood.step(&mut gen_dev, now, true), 4);
        let mut ids = FrameList::default();
        let rx = other.rx_batch(now, &mut ids);
        assert_eq!(rx.len(), 4);
        for (seq, f) in rx.iter().enumerate() {
            assert_eq!(f.len(), HEADERS + 18);
            assert_eq!(f[0..6], PEER_MAC);
            assert_eq!(checksum::checksum(&f[ETH..ETH + IP]), 0, "IPv4 header checksum");
            let udp = &f[ETH + IP..];
            let pseudo = checksum::pseudo_header_v4(US, PEER, 17, udp.len() as u16);
            assert!(checksum::verify(pseudo, udp), "UDP checksum of datagram {seq}");
            assert_eq!(udp[UDP..UDP + 8], now.total_nanos().to_le_bytes());
            assert_eq!(udp[UDP + 8..UDP + 16], (seq as u64).to_le_bytes());
        }
    }

    #[test]
    fn silence_writes_the_window_off_and_sending_resumes() {
        let (mut gen_dev, _black_hole) = LoopbackPair::default().build();
        let mut flood = Flooder::new(config(8)).expect("valid");
        flood.peer_mac = Some(PEER_MAC);
        let t0 = Instant::from_millis(1);
        assert_eq!(flood.step(&mut gen_dev, t0, true), 8);
        assert_eq!(flood.step(&mut gen_dev, t0 + Duration::from_millis(5), true), 0, "window full");
        let later = t0 + WRITE_OFF + Duration::from_millis(1);
        assert_eq!(flood.step(&mut gen_dev, later, true), 8, "written off, then a new window");
        let c = flood.counters();
        assert_eq!((c.sent, c.received, c.lost), (16, 0, 8));
    }

    #[test]
    fn foreign_and_malformed_frames_are_ignored_and_counted() {
        let flood = Flooder::new(config(8)).expect("valid");
        let mut reply = flood.template.clone();
        reply[ETH + 12..ETH + 16].copy_from_slice(&PEER.octets());
        reply[ETH + 16..ETH + 20].copy_from_slice(&US.octets());
        reply[ETH + IP..ETH + IP + 2].copy_from_slice(&9u16.to_be_bytes());
        reply[ETH + IP + 2..ETH + IP + 4].copy_from_slice(&40000u16.to_be_bytes());
        assert!(matches!(flood.classify(&reply), Frame::Reply(0)));
        for n in 0..reply.len() {
            // Never panics; a truncated reply is not a reply.
            assert!(!matches!(flood.classify(&reply[..n]), Frame::Reply(_)), "{n}");
        }
        let mut other_port = reply.clone();
        other_port[ETH + IP + 2] ^= 1;
        assert!(matches!(flood.classify(&other_port), Frame::Other));
        let mut fragment = reply.clone();
        fragment[ETH + 7] = 1;
        assert!(matches!(flood.classify(&fragment), Frame::Other));
        // The sent datagram itself (our address as the source) is not a reply.
        assert!(matches!(flood.classify(&flood.template), Frame::Other));
        assert!(Flooder::new(FloodConfig { payload: 15, ..config(1) }).is_err());
        assert!(Flooder::new(FloodConfig { window: 0, ..config(1) }).is_err());
    }
}
