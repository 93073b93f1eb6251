//! TCP over IPv6: where the stack's one engine meets the second family.
//!
//! Nothing of the engine is copied here. An IPv6 connection is a [`Connection`] like any
//! other, in the same slab, under an alias key (`flow::v6`); what is here is only what
//! depends on the family's bytes: finding the connection from a segment's 36-byte key,
//! writing the segment behind an IPv6 header with the IPv6 pseudo-header checksum, opening
//! one to an IPv6 address, and Packet Too Big (RFC 8201). The family is chosen once per
//! segment: on input by the interface (`Received::Tcp6`), on output by the alias key.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::output::{copy_payload, fill_segment_repr};
use super::socket::{Owner, Socket};
use super::{ConnectError, Reply, Stack, TcpHandle};
use crate::flow::{FlowError, FlowHandle, FlowIndex6, FlowKey, FlowKey6};
use crate::iface::{Interface, IpSend, QuotedTcp6, SendError};
use crate::tcp::family::{Ipv6Ends, IPV4_TCP_HEADERS, IPV6_TCP_HEADERS};
use crate::tcp::path::IcmpReport;
use crate::tcp::segment::{IpEcn, SegmentHeader};
use crate::tcp::{Connection, ConnectionParams, Open, SeqNumber, TcpConfig, Transmit};
use crate::time::Instant;
use crate::wire::ipv6;
use crate::wire::tcp::{Packet, TcpRepr};

/// A segment's 4-tuple in either family, as the listener path and stateless replies need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnyKey {
    /// An IPv4 4-tuple.
    V4(FlowKey),
    /// An IPv6 4-tuple.
    V6(FlowKey6),
}

impl AnyKey {
    /// Our end and the peer's.
    pub fn ends(&self) -> (SocketAddr, SocketAddr) {
        match *self {
            AnyKey::V4(k) => (
                SocketAddrV4::new(k.local_ip, k.local_port).into(),
                SocketAddrV4::new(k.remote_ip, k.remote_port).into(),
            ),
            AnyKey::V6(k) => (
                SocketAddrV6::new(k.local_ip, k.local_port, 0, 0).into(),
                SocketAddrV6::new(k.remote_ip, k.remote_port, 0, 0).into(),
            ),
        }
    }

    /// `config` with its MSS no larger than a device MTU of `mtu` allows in this family (RFC
    /// 9293 §3.7.1: the MSS comes from the largest datagram we can receive, less the IP and
    /// TCP headers: 40 bytes over IPv4, 60 over IPv6).
    pub(super) fn fit_mss(&self, config: TcpConfig, mtu: usize) -> TcpConfig {
        fit_mss(config, mtu, matches!(self, AnyKey::V6(_)))
    }

    /// The key of the connection's slab slot (the 4-tuple itself over IPv4, an alias with a
    /// fresh serial over IPv6) and, over IPv6, its addresses.
    pub(super) fn slot(&self, v6: &mut FlowIndex6) -> (FlowKey, Option<Ipv6Ends>) {
        match *self {
            AnyKey::V4(k) => (k, None),
            AnyKey::V6(k) => {
                let ends = Ipv6Ends { local: k.local_ip, remote: k.remote_ip };
                (k.alias(v6.next_serial()), Some(ends))
            }
        }
    }
}

/// `config` with its MSS fitted to `mtu` for the family (`ipv6` or not).
pub(super) fn fit_mss(mut config: TcpConfig, mtu: usize, ipv6: bool) -> TcpConfig {
    let headers = if ipv6 { IPV6_TCP_HEADERS } else { IPV4_TCP_HEADERS };
    let most = mtu.saturating_sub(headers).clamp(64, usize::from(u16::MAX));
    config.mss = config.mss.min(most as u16);
    config
}

/// The `local`/`remote` a connection stored under slab key `slot` holds.
pub(super) fn slot_ends(slot: &FlowKey) -> (SocketAddrV4, SocketAddrV4) {
    (
        SocketAddrV4::new(slot.local_ip, slot.local_port),
        SocketAddrV4::new(slot.remote_ip, slot.remote_port),
    )
}

/// The real 4-tuple of the IPv6 connection holding `ends`, with the ports of its alias.
pub(super) fn real_key(alias: &FlowKey, ends: &Ipv6Ends) -> FlowKey6 {
    FlowKey6 {
        local_ip: ends.local,
        local_port: alias.local_port,
        remote_ip: ends.remote,
        remote_port: alias.remote_port,
    }
}

/// Writes one TCP segment over IPv6 from `ends.local` to `ends.remote` (ports from `ports`,
/// a connection's alias or a reply's key) into `frame`: [`emit_segment`](super::output)'s
/// sibling. The checksum is computed here unless the device offloads TCP checksums, which
/// it then completes from the pseudo-header sum seeded in the field.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(super) fn emit_segment6(
    iface: &mut Interface,
    now: Instant,
    frame: &mut [u8],
    ports: &FlowKey,
    ends: &Ipv6Ends,
    header: &SegmentHeader,
    payload: [&[u8]; 3],
    ect: bool,
) -> Result<IpSend, SendError> {
    let payload_len = payload[0].len() + payload[1].len() + payload[2].len();
    let mtu = iface.caps().mtu;
    let mut repr = TcpRepr::new(ports.local_port, ports.remote_port, header.seq);
    fill_segment_repr(&mut repr, header, &payload, || mtu.saturating_sub(ipv6::HEADER_LEN));
    let tc = if ect { IpEcn::Ect0.bits() } else { IpEcn::NotEct.bits() };
    let offload = iface.caps().checksum.tcp.tx;
    iface.send_ip6(now, frame, ends.local, ends.remote, 6, tc, |l4| {
        let header_len = repr.header_len();
        let len = header_len + payload_len;
        // Too long for the buffer: report the length and let the interface refuse it.
        let Some(l4) = l4.get_mut(..len) else { return len };
        // The payload is copied and, unless the device sums it, summed in the same pass: the
        // IPv4 emitter's helper, so both families share the rule.
        let sum = copy_payload(&mut l4[header_len..], payload, !offload);
        let mut packet = Packet::new_unchecked(l4);
        repr.emit_header_v6(&mut packet, ends.local, ends.remote, sum);
        if offload {
            // The device completes it (the driver's TX metadata start 20 bytes later than
            // over IPv4): seed it with the pseudo-header sum, as `iface` does for IPv4.
            packet.set_checksum(ipv6::pseudo_header(ends.local, ends.remote, 6, len as u32));
        }
        len
    })
}

/// [`emit_segment6`] for a connection's planned segment, from the connection's output path.
/// `ends` is `None` only for an alias without addresses, which the stack never makes.
#[cold]
#[inline(never)]
pub(super) fn emit_segment6_of(
    iface: &mut Interface,
    now: Instant,
    frame: &mut [u8],
    key: &FlowKey,
    ends: Option<&Ipv6Ends>,
    seg: &Transmit<'_>,
) -> Result<IpSend, SendError> {
    let Some(ends) = ends else { return Err(SendError::NoRoute) };
    emit_segment6(iface, now, frame, key, ends, &seg.header, seg.payload, seg.ect)
}

/// Whether `s` is the IPv6 connection `key` names: its real ends (the boxed addresses) are
/// the key's addresses, and its alias carries the key's ports (`Ipv6Ends::with_ports`). The
/// flow index holds each such key once, so this is the connection it would return.
#[inline]
fn serves6(s: &Socket, key: &FlowKey6) -> bool {
    s.conn.local().port() == key.local_port
        && s.conn.remote().port() == key.remote_port
        && s.ipv6.as_deref().is_some_and(|e| e.local == key.local_ip && e.remote == key.remote_ip)
}

impl Stack {
    /// Processes one TCP segment over IPv6 from `src` to `dst` (one of our addresses): the
    /// checksum over the IPv6 pseudo-header (RFC 8200 §8.1), then the same demultiplexing as
    /// over IPv4 (RFC 9293 §3.10.7): the connection, else a listener that takes IPv6, else a
    /// RST. Out of line, so the IPv4 receive path is compiled as without it.
    #[inline(never)]
    pub fn tcp6_input(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ecn: IpEcn,
        segment: &[u8],
    ) {
        let packet = Packet::new_unchecked(segment);
        let Ok(repr) = TcpRepr::parse_v6(&packet, src, dst, true) else {
            self.tcp_counters.in_errs += 1;
            return;
        };
        let seg = super::input::to_segment(&repr);
        let key = FlowKey6 {
            local_ip: dst,
            local_port: repr.dst_port,
            remote_ip: src,
            remote_port: repr.src_port,
        };
        // The hint, as over IPv4 (`segment_input`): the connection the previous segment went
        // to, taken if its real ends are the segment's, so that a run of segments of one
        // connection is hashed once (the keyed hash of the 36-byte key is most of a lookup).
        // Off with the direct path (`set_frame_prediction`), so the two can be compared.
        let found = match self.rx_hint {
            Some(h)
                if self.frame_prediction && self.flows.get(h).is_some_and(|s| serves6(s, &key)) =>
            {
                Some(h)
            }
            _ => self.flows.v6.lookup(&key),
        };
        self.rx_hint = found;
        if let Some(h) = found {
            if !self.connection_input::<true>(now, h, &seg, ecn) {
                return;
            }
        } else {
            self.tcp_counters.in_segs += 1;
        }
        let listener = self
            .listeners
            .lookup_listener6(dst, repr.dst_port)
            .filter(|&l| self.listeners.get(l).is_some_and(|l| l.takes_ipv6()));
        match listener {
            Some(l) => self.listener_input(now, l, AnyKey::V6(key), &seg),
            None => {
                if let Some(header) = seg.reset_reply() {
                    if self.rst_limit.try_take(now) {
                        self.counters.rsts_no_socket += 1;
                        self.queue_reply_key(AnyKey::V6(key), header);
                    } else {
                        self.counters.rsts_rate_limited += 1;
                    }
                }
            }
        }
    }

    /// Inserts a new connection under its slab key `slot` (from [`AnyKey::slot`]).
    pub(super) fn adopt_any(
        &mut self,
        key: AnyKey,
        slot: FlowKey,
        socket: Socket,
        transmit: bool,
    ) -> Result<FlowHandle, FlowError> {
        match key {
            AnyKey::V4(k) => self.adopt(k, socket, transmit),
            AnyKey::V6(k) => {
                if self.flows.v6.lookup(&k).is_some() {
                    return Err(FlowError::Exists);
                }
                self.adopt6(k, slot, socket, transmit)
            }
        }
    }

    /// Queues a stateless reply to `key`'s remote end.
    pub(super) fn queue_reply_key(&mut self, key: AnyKey, header: SegmentHeader) {
        match key {
            AnyKey::V4(k) => self.queue_reply(k, header),
            AnyKey::V6(k) => {
                let ends = Ipv6Ends { local: k.local_ip, remote: k.remote_ip };
                self.queue_reply_any(k.alias(0), Some(ends), header)
            }
        }
    }

    /// Sends a stateless reply over IPv6.
    #[inline(never)]
    pub(super) fn send_reply6(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        reply: &Reply,
        ends: &Ipv6Ends,
    ) -> Option<usize> {
        let (key, header) = (&reply.key, &reply.header);
        match emit_segment6(&mut self.iface, now, buf, key, ends, header, [&[], &[], &[]], false) {
            Ok(IpSend::Ready(n)) => Some(n),
            Ok(IpSend::Queued) => None,
            Err(_) => {
                self.counters.tx_errors += 1;
                None
            }
        }
    }

    /// Active open to an address of either family: [`tcp_connect_with`](Self::tcp_connect_with)
    /// for IPv4; for IPv6, from the source address that shares the destination's prefix
    /// (`Ipv6State::source_for`) and an ephemeral port (RFC 6056, constrained by the IPv6
    /// port filter).
    pub fn tcp_connect_to(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        config: TcpConfig,
    ) -> Result<TcpHandle, ConnectError> {
        match remote {
            SocketAddr::V4(r) => self.tcp_connect_with(now, *r.ip(), r.port(), config),
            SocketAddr::V6(r) => self.open6(now, None, r, config),
        }
    }

    /// Active open to an IPv6 address from a chosen local port, as
    /// [`tcp_connect_from`](Self::tcp_connect_from) over IPv4 (a socket bound before it
    /// connects). Fails with `AddrInUse` if that 4-tuple already has a connection that is
    /// not a reusable TIME-WAIT.
    pub fn tcp_connect6_from(
        &mut self,
        now: Instant,
        local_port: u16,
        remote: SocketAddrV6,
        config: TcpConfig,
    ) -> Result<TcpHandle, ConnectError> {
        if local_port == 0 {
            return Err(ConnectError::BadAddress);
        }
        self.open6(now, Some(local_port), remote, config)
    }

    /// The IPv6 active open: `local_port` chosen by the caller, or an ephemeral one.
    fn open6(
        &mut self,
        now: Instant,
        local_port: Option<u16>,
        remote: SocketAddrV6,
        config: TcpConfig,
    ) -> Result<TcpHandle, ConnectError> {
        let remote_ip = *remote.ip();
        let remote_port = remote.port();
        if remote_port == 0 || remote_ip.is_unspecified() || remote_ip.is_multicast() {
            return Err(ConnectError::BadAddress);
        }
        if self.flows.is_full() {
            return Err(ConnectError::TableFull);
        }
        let Some(local_ip) = self.iface.ipv6().source_for(remote_ip) else {
            return Err(ConnectError::BadAddress);
        };
        let flows = &self.flows;
        let reusable = |key: &FlowKey6| match flows.v6.lookup(key) {
            None => true,
            Some(h) => flows.get(h).is_some_and(|s| s.conn.time_wait_reusable(now)),
        };
        let local_port = match local_port {
            Some(p) => {
                if !reusable(&FlowKey6 { local_ip, local_port: p, remote_ip, remote_port }) {
                    return Err(ConnectError::AddrInUse);
                }
                p
            }
            None => {
                let filter = &mut self.port_filter6;
                self.ports
                    .select(IpAddr::V6(local_ip), (IpAddr::V6(remote_ip), remote_port), |p| {
                        let key = FlowKey6 { local_ip, local_port: p, remote_ip, remote_port };
                        reusable(&key) && filter.as_mut().is_none_or(|f| f(&key))
                    })
                    .ok_or(ConnectError::NoFreePort)?
            }
        };
        let key = FlowKey6 { local_ip, local_port, remote_ip, remote_port };
        if let Some(old) = self.flows.v6.lookup(&key) {
            if self.flows.get(old).is_some_and(|s| s.conn.time_wait_reusable(now)) {
                self.free(old);
                self.tcp_counters.time_wait_reused += 1;
            }
        }
        let (l, r) = AnyKey::V6(key).ends();
        let iss = self.isn.isn(now, l, r);
        let config = self.configs.share(fit_mss(config, self.iface.caps().mtu, true));
        let (slot, ipv6) = AnyKey::V6(key).slot(&mut self.flows.v6);
        let (local, remote) = slot_ends(&slot);
        let open = Open::Active;
        let params = ConnectionParams { now, config, local, remote, iss, open };
        let conn = Connection::new_reusing(params, &mut self.cold_spares);
        let conn = super::keyed(&self.cookies, conn, l, r);
        let socket = Socket::new(conn, Owner::App).with_ipv6(ipv6);
        let h = self.adopt_any(AnyKey::V6(key), slot, socket, true).map_err(|e| match e {
            FlowError::Full => ConnectError::TableFull,
            FlowError::Exists => ConnectError::AddrInUse,
        })?;
        Ok(TcpHandle(h))
    }

    /// A connection's two ends in its own family.
    pub fn tcp_addrs(&self, h: TcpHandle) -> Option<(SocketAddr, SocketAddr)> {
        self.flows.get(h.0).map(|s| s.endpoints())
    }

    /// An ICMPv6 Packet Too Big quoting one of our segments (RFC 8201): the connection's MSS
    /// falls to what the reported MTU allows, never below the 1280-byte minimum (§4), as
    /// RFC 1191 has it for IPv4 (`tcp::path`).
    #[inline(never)]
    pub(super) fn packet_too_big6(&mut self, mtu: u32, original: QuotedTcp6) {
        self.counters.icmp_errors += 1;
        let key = FlowKey6 {
            local_ip: original.src_ip,
            local_port: original.src_port,
            remote_ip: original.dst_ip,
            remote_port: original.dst_port,
        };
        let Some(h) = self.flows.v6.lookup(&key) else { return };
        let mtu = u16::try_from(mtu).unwrap_or(u16::MAX);
        let report = IcmpReport::FragmentationNeeded { mtu };
        let seq = SeqNumber(original.seq);
        match self.touch(h, true, |s, _| s.conn.on_icmp_error(seq, report)) {
            Some(crate::tcp::path::IcmpVerdict::OutOfWindow) => {
                self.counters.icmp_out_of_window += 1
            }
            Some(crate::tcp::path::IcmpVerdict::MssLowered(_)) => {
                self.counters.path_mtu_lowered += 1
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::{ChecksumCaps, DeviceCaps, InterfaceConfig, Ipv6Cidr, Ipv6Config};
    use crate::tcp::segment::{Flags, SegmentOptions};
    use crate::wire::checksum;
    use crate::wire::ethernet::EthernetAddress;
    use std::net::Ipv4Addr;

    const OURS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    /// Emits a segment over IPv6 on a raw-IP device with the given checksum duties and
    /// returns the TCP bytes.
    fn emitted(checksum: ChecksumCaps, payload: [&[u8]; 3]) -> Vec<u8> {
        let mut config = InterfaceConfig::new(
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            Ipv4Addr::new(198, 18, 0, 1),
            24,
        );
        config.ipv6 = Ipv6Config::with_addresses(vec![Ipv6Cidr::new(OURS, 64)]);
        config.ipv6.dad_transmits = 0;
        let caps = DeviceCaps { checksum, ..DeviceCaps::ip(1500) };
        let mut iface = Interface::new(config, caps);
        let ends = Ipv6Ends { local: OURS, remote: PEER };
        let ports = FlowKey6 { local_ip: OURS, local_port: 80, remote_ip: PEER, remote_port: 4000 }
            .alias(1);
        let header = SegmentHeader {
            seq: SeqNumber(1000),
            ack: Some(SeqNumber(7)),
            flags: Flags::ACK | Flags::PSH,
            window: 512,
            options: SegmentOptions { timestamps: Some((5, 9)), ..SegmentOptions::default() },
        };
        let mut frame = [0u8; 1500];
        let sent = emit_segment6(
            &mut iface,
            Instant::ZERO,
            &mut frame,
            &ports,
            &ends,
            &header,
            payload,
            false,
        );
        let Ok(IpSend::Ready(n)) = sent else { panic!("not sent: {sent:?}") };
        let ip = ipv6::Packet::new_checked(&frame[..n]).expect("an IPv6 packet");
        assert_eq!((ip.src_addr(), ip.dst_addr(), ip.next_header()), (OURS, PEER, 6));
        frame[ipv6::HEADER_LEN..n].to_vec()
    }

    #[test]
    fn software_checksums_verify_over_the_ipv6_pseudo_header() {
        let data: Vec<u8> = (0u8..=200).collect();
        for (a, b, c) in [(0, 0, 0), (65, 0, 0), (64, 20, 9), (63, 21, 9)] {
            let (pa, rest) = data.split_at(a);
            let (pb, rest) = rest.split_at(b);
            let l4 = emitted(ChecksumCaps::NONE, [pa, pb, &rest[..c]]);
            let packet = Packet::new_checked(&l4[..]).expect("a TCP header");
            // Parsing as the peer: its source is our address.
            let repr = TcpRepr::parse_v6(&packet, OURS, PEER, true).expect("the checksum verifies");
            assert_eq!(repr.payload, &data[..a + b + c]);
            // Over the IPv4 pseudo-header it would not.
            assert!(!packet.verify_checksum(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED));
        }
    }

    #[test]
    fn an_offloading_device_gets_the_pseudo_header_sum_to_complete() {
        let l4 = emitted(ChecksumCaps::ALL, [b"hello", &[], &[]]);
        let packet = Packet::new_checked(&l4[..]).unwrap();
        let pseudo = ipv6::pseudo_header(OURS, PEER, 6, l4.len() as u32);
        assert_eq!(packet.checksum(), pseudo);
        // What the device does: sum from the TCP header on, field included, complement.
        let mut done = l4.clone();
        let sum = checksum::finish(checksum::sum(&done));
        done[16..18].copy_from_slice(&sum.to_be_bytes());
        let packet = Packet::new_checked(&done[..]).unwrap();
        assert!(TcpRepr::parse_v6(&packet, OURS, PEER, true).is_ok());
    }
}
