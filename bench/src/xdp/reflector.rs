//! A raw frame reflector: the ceiling of the wire for `xdptcp bench lab` (beside its twin on
//! the client's end, [`flood`](super::flood)).
//!
//! [`Reflector::step`] takes one batch of received frames from any [`Device`] and sends each
//! back to where it came from, with no stack in between: Ethernet addresses swapped (ours as
//! the source), and for IPv4 to our address the IP addresses swapped and, for UDP and TCP,
//! the ports too. Swapping two 16-bit-aligned fields of equal size leaves the one's-complement
//! sums of the IP header and of the UDP/TCP pseudo-header unchanged (RFC 1071: the sum is
//! commutative), so no checksum needs recomputing. ARP requests for our address get a reply,
//! so a kernel peer can resolve us; everything else is dropped and counted.
//!
//! A frame is copied once into a TX buffer (the `Device` lends RX and TX buffers separately),
//! so what this measures is the device's batch I/O plus one small copy per frame — what any
//! stack on the device pays at least.

use std::net::Ipv4Addr;

use xdptcp_driver::{Device, FrameList};
use xdptcp_stack::time::Instant;

const ETH_HDR: usize = 14;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
/// Ethernet + ARP for IPv4 over Ethernet (RFC 826).
const ARP_LEN: usize = ETH_HDR + 28;
/// Frames the kernel sends per `sendto` kick in copy mode (its default TX budget per call,
/// `TX_BATCH_SIZE` in `net/xdp/xsk.c`): with more on the ring, the call returns `EAGAIN`
/// and the rest wait for the next kick.
pub const KICK_BUDGET: usize = 32;
/// Largest frame reflected (a 2048-byte UMEM frame minus the kernel's headroom holds more;
/// jumbo frames are not reflected).
pub const MAX_FRAME: usize = 1792;

/// What the reflector did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReflectorCounters {
    /// Frames received.
    pub rx: u64,
    /// IPv4 frames sent back.
    pub reflected: u64,
    /// ARP replies sent.
    pub arp_replies: u64,
    /// Frames dropped: not for us, not IPv4 or ARP, malformed, or too big.
    pub dropped: u64,
    /// Frames dropped because no TX buffer was free.
    pub tx_full: u64,
}

/// What to do with a frame, decided in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Reflect,
    ArpReply,
    Drop,
}

/// Reflects frames for one address. See the [module documentation](self).
#[derive(Debug)]
pub struct Reflector {
    mac: [u8; 6],
    ip: Ipv4Addr,
    counters: ReflectorCounters,
    batch: usize,
    scratch: Box<[u8; MAX_FRAME]>,
    /// Received handles, kept from step to step.
    ids: FrameList,
}

impl Reflector {
    /// A reflector answering as `mac` / `ip`, taking up to `batch` frames per step.
    pub fn new(mac: [u8; 6], ip: Ipv4Addr, batch: usize) -> Reflector {
        Reflector {
            mac,
            ip,
            counters: ReflectorCounters::default(),
            batch,
            scratch: Box::new([0; MAX_FRAME]),
            ids: FrameList::default(),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> ReflectorCounters {
        self.counters
    }

    /// One batch: receive, rewrite, transmit, flush. Returns the frames received.
    ///
    /// The device is flushed once per [`KICK_BUDGET`] frames sent (and once after any
    /// receive): in copy mode one kick sends at most that many frames, and the rest of a
    /// larger batch stays on the TX ring until the next kick. Flushing once per step (as
    /// this loop once did) left that rest waiting for the next frame to arrive: with 64
    /// datagrams in flight, up to half of the window parked here while the generator waited
    /// for it. A step that received nothing does not flush, so an idle loop makes no
    /// syscall, even while the kernel has yet to report sent frames complete.
    pub fn step<D: Device>(&mut self, dev: &mut D, now: Instant) -> usize {
        // A fixed array, kept: no allocation, nor a fresh kilobyte to zero, per batch.
        self.ids.reset(self.batch);
        dev.receive(now, &mut self.ids);
        let n = self.ids.len();
        let mut sent = 0usize;
        for &id in self.ids.as_slice() {
            self.counters.rx += 1;
            let len = {
                let frame = dev.frame(id);
                let len = frame.len();
                if len > MAX_FRAME {
                    0
                } else {
                    self.scratch[..len].copy_from_slice(frame);
                    len
                }
            };
            dev.release(id);
            if len == 0 {
                self.counters.dropped += 1;
                continue;
            }
            let verdict = rewrite(&mut self.scratch[..len], self.mac, self.ip);
            if verdict == Verdict::Drop {
                self.counters.dropped += 1;
                continue;
            }
            let Some(tx) = dev.allocate(now) else {
                self.counters.tx_full += 1;
                continue;
            };
            let buf = dev.frame_mut(tx);
            if buf.len() < len {
                dev.release(tx);
                self.counters.dropped += 1;
                continue;
            }
            buf[..len].copy_from_slice(&self.scratch[..len]);
            dev.transmit(now, tx, len);
            sent += 1;
            match verdict {
                Verdict::Reflect => self.counters.reflected += 1,
                _ => self.counters.arp_replies += 1,
            }
        }
        if n > 0 {
            for _ in 0..sent.div_ceil(KICK_BUDGET).max(1) {
                dev.flush(now);
            }
        }
        n
    }
}

/// Rewrites `frame` in place into its reflection; says whether to send it.
fn rewrite(frame: &mut [u8], mac: [u8; 6], ip: Ipv4Addr) -> Verdict {
    if frame.len() < ETH_HDR {
        return Verdict::Drop;
    }
    let ethertype = [frame[12], frame[13]];
    let verdict = if ethertype == ETHERTYPE_IPV4 {
        reflect_ipv4(&mut frame[ETH_HDR..], ip)
    } else if ethertype == ETHERTYPE_ARP {
        arp_reply(frame, mac, ip)
    } else {
        Verdict::Drop
    };
    if verdict == Verdict::Reflect {
        // Back to the sender, from us.
        frame.copy_within(6..12, 0);
        frame[6..12].copy_from_slice(&mac);
    }
    verdict
}

fn swap(b: &mut [u8], a: usize, c: usize, n: usize) {
    for k in 0..n {
        b.swap(a + k, c + k);
    }
}

fn reflect_ipv4(p: &mut [u8], ip: Ipv4Addr) -> Verdict {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return Verdict::Drop;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    if ihl < 20 || p.len() < ihl || p[16..20] != ip.octets() {
        return Verdict::Drop;
    }
    swap(p, 12, 16, 4);
    let first_fragment = u16::from_be_bytes([p[6], p[7]]) & 0x1fff == 0;
    // UDP and TCP: ports are the first four bytes of the header.
    if matches!(p[9], 6 | 17) && first_fragment && p.len() >= ihl + 4 {
        swap(p, ihl, ihl + 2, 2);
    }
    Verdict::Reflect
}

/// RFC 826: a request for our address becomes the reply, in place.
fn arp_reply(f: &mut [u8], mac: [u8; 6], ip: Ipv4Addr) -> Verdict {
    if f.len() < ARP_LEN {
        return Verdict::Drop;
    }
    let a = &mut f[ETH_HDR..ARP_LEN];
    // Ethernet/IPv4, 6/4-byte addresses, operation 1 (request), target us.
    if a[0..8] != [0, 1, 8, 0, 6, 4, 0, 1] || a[24..28] != ip.octets() {
        return Verdict::Drop;
    }
    let mut sender = [0u8; 10];
    sender.copy_from_slice(&a[8..18]);
    a[7] = 2;
    a[18..28].copy_from_slice(&sender);
    a[8..14].copy_from_slice(&mac);
    a[14..18].copy_from_slice(&ip.octets());
    f.copy_within(ETH_HDR + 18..ETH_HDR + 24, 0);
    f[6..12].copy_from_slice(&mac);
    Verdict::ArpReply
}

#[cfg(test)]
mod tests {
    use super::*;
    use xdptcp_driver::loopback::LoopbackPair;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 5, 2);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 5, 1);
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    /// An Ethernet/IPv4/UDP frame from the peer to `dst`, checksums valid.
    fn udp(dst: Ipv4Addr) -> Vec<u8> {
        let payload = b"reflect me";
        let mut f = Vec::new();
        f.extend_from_slice(&MAC);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&ETHERTYPE_IPV4);
        let total = (20 + 8 + payload.len()) as u16;
        let mut ip = [0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[12..16].copy_from_slice(&PEER.octets());
        ip[16..20].copy_from_slice(&dst.octets());
        let c = xdptcp_stack::wire::checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let udp_len = (8 + payload.len()) as u16;
        let mut u = vec![0x9c, 0x40, 0, 7, 0, 0, 0, 0];
        u[4..6].copy_from_slice(&udp_len.to_be_bytes());
        u.extend_from_slice(payload);
        f.extend_from_slice(&u);
        let csum = udp_checksum(&f[14..]);
        f[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&csum.to_be_bytes());
        f
    }

    /// The UDP checksum over the pseudo-header and datagram, with the field taken as zero.
    fn udp_checksum(ip: &[u8]) -> u16 {
        let udp = &ip[20..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&ip[12..20]);
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&(udp.len() as u16).to_be_bytes());
        let mut body = udp.to_vec();
        body[6] = 0;
        body[7] = 0;
        pseudo.extend_from_slice(&body);
        xdptcp_stack::wire::checksum::checksum(&pseudo)
    }

    #[test]
    fn udp_is_sent_back_with_addresses_and_ports_swapped_and_valid_checksums() {
        let original = udp(US);
        let mut f = original.clone();
        assert_eq!(rewrite(&mut f, MAC, US), Verdict::Reflect);
        assert_eq!(f[0..6], PEER_MAC);
        assert_eq!(f[6..12], MAC);
        assert_eq!(f[14 + 12..14 + 16], US.octets());
        assert_eq!(f[14 + 16..14 + 20], PEER.octets());
        assert_eq!(f[34..36], [0, 7]);
        assert_eq!(f[36..38], [0x9c, 0x40]);
        assert_eq!(f[42..], original[42..], "payload untouched");
        // Both checksums still verify.
        assert_eq!(xdptcp_stack::wire::checksum::checksum(&f[14..34]), 0);
        let stored = u16::from_be_bytes([f[40], f[41]]);
        assert_eq!(udp_checksum(&f[14..]), stored);
    }

    #[test]
    fn other_addresses_and_garbage_are_dropped() {
        let mut f = udp(Ipv4Addr::new(198, 18, 5, 9));
        assert_eq!(rewrite(&mut f, MAC, US), Verdict::Drop);
        for n in 0..f.len() {
            let mut short = udp(US)[..n].to_vec();
            // Never panics; too short for an IPv4 header is dropped.
            let v = rewrite(&mut short, MAC, US);
            if n < 34 {
                assert_eq!(v, Verdict::Drop, "{n}");
            }
        }
        let mut ipv6 = udp(US);
        ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(rewrite(&mut ipv6, MAC, US), Verdict::Drop);
    }

    #[test]
    fn arp_requests_for_us_are_answered() {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&ETHERTYPE_ARP);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&PEER.octets());
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&US.octets());
        let mut other = f.clone();
        assert_eq!(rewrite(&mut f, MAC, US), Verdict::ArpReply);
        assert_eq!(f[0..6], PEER_MAC);
        assert_eq!(f[6..12], MAC);
        assert_eq!(f[20..22], [0, 2]);
        assert_eq!(f[22..28], MAC);
        assert_eq!(f[28..32], US.octets());
        assert_eq!(f[32..38], PEER_MAC);
        assert_eq!(f[38..42], PEER.octets());
        other[38..42].copy_from_slice(&[198, 18, 5, 7]);
        assert_eq!(rewrite(&mut other, MAC, US), Verdict::Drop);
    }

    /// In copy mode one kick sends at most 32 frames. A batch of 64 reflected frames must
    /// all leave even when nothing more arrives: the step kicks once per 32 (it once kicked
    /// once, and half of such a batch waited for the generator's next datagram, which never
    /// came while the generator waited for them).
    #[test]
    fn a_batch_larger_than_one_kick_leaves_without_new_arrivals() {
        use crate::xdp::flood::{FloodConfig, Flooder};
        use crate::xdp::kick_budget::KickBudget;
        use std::net::SocketAddrV4;
        use xdptcp_stack::time::Duration;
        let (a, b) = LoopbackPair::default().build();
        let (mut gen_dev, mut ref_dev) = (KickBudget::new(a, 32), KickBudget::new(b, 32));
        let config = FloodConfig {
            mac: PEER_MAC,
            ip: PEER,
            port: 40000,
            target: SocketAddrV4::new(US, 9),
            payload: 18,
            window: 64,
        };
        let mut flood = Flooder::new(config).expect("valid");
        let mut r = Reflector::new(MAC, US, 64);
        let mut now = Instant::from_millis(1);
        // ARP, then with the answer one window of 64 datagrams (two kicks on the
        // generator's side: it, too, flushes on every step).
        flood.step(&mut gen_dev, now, true);
        r.step(&mut ref_dev, now);
        flood.step(&mut gen_dev, now, true);
        assert!(flood.resolved());
        flood.step(&mut gen_dev, now, false);
        assert_eq!((flood.counters().sent, gen_dev.queued()), (64, 0));
        // The reflector takes all 64 in one batch and kicks twice: none is left behind.
        assert_eq!(r.step(&mut ref_dev, now), 64);
        assert_eq!(ref_dev.queued(), 0, "the rest of the batch left without a new arrival");
        // The generator sends nothing more; every datagram comes back.
        for _ in 0..4 {
            now += Duration::from_micros(10);
            flood.step(&mut gen_dev, now, false);
            r.step(&mut ref_dev, now);
        }
        assert_eq!(flood.counters().received, 64, "{:?}", flood.counters());
        assert_eq!(ref_dev.queued(), 0);
    }

    #[test]
    fn step_reflects_a_batch_through_a_device() {
        let (mut a, mut b) = LoopbackPair::default().build();
        let now = Instant::from_millis(1);
        {
            let mut tx = a.tx_batch(now);
            for _ in 0..3 {
                let frame = udp(US);
                let mut buf = tx.buffer().expect("buffer");
                buf[..frame.len()].copy_from_slice(&frame);
                buf.send(frame.len());
            }
            let mut buf = tx.buffer().expect("buffer");
            let other = udp(Ipv4Addr::new(198, 18, 5, 9));
            buf[..other.len()].copy_from_slice(&other);
            buf.send(other.len());
        }
        let mut r = Reflector::new(MAC, US, 64);
        assert_eq!(r.step(&mut b, now), 4);
        let c = r.counters();
        assert_eq!((c.rx, c.reflected, c.dropped), (4, 3, 1));
        let mut ids = FrameList::default();
        let rx = a.rx_batch(now, &mut ids);
        assert_eq!(rx.len(), 3);
        for f in rx.iter() {
            assert_eq!(f[14 + 16..14 + 20], PEER.octets());
        }
    }
}
