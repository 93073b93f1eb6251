//! TX checksum offload through AF_XDP TX metadata (Linux 6.8+).
//!
//! A frame whose descriptor carries `XDP_TX_METADATA` has a `struct xsk_tx_metadata` right in
//! front of its data. With `XDP_TXMD_FLAGS_CHECKSUM` set, `csum_start` says where the L4
//! header starts and `csum_offset` where its checksum field lies; the device sums from
//! `csum_start` to the end, folding in what the field holds — the stack seeds it with the
//! pseudo-header sum (`CHECKSUM_PARTIAL`, see `xdptcp_stack::iface::l4_checksum_offset`) —
//! and stores the complement. Who completes it:
//!
//! - zero-copy: the NIC, if its driver implements the request (the netdev netlink family
//!   reports it as `xsk-features: tx-checksum`, see [`netdev`](super::netdev));
//! - copy mode: the kernel builds an skb marked `CHECKSUM_PARTIAL`, which the NIC's own
//!   checksum offload or the kernel's fallback completes as for any socket — but a software
//!   link (veth) passes it on unfinished: the Linux stack behind it accepts that, a peer
//!   reading raw frames (another AF_XDP stack) does not. Hence [`TxChecksum::Auto`] uses TX
//!   metadata in zero-copy mode only;
//! - copy mode with `XDP_UMEM_TX_SW_CSUM`: the kernel completes it in software at once
//!   ([`TxChecksum::Kernel`]), which lets tests see finished checksums on any device.

use xdptcp_stack::iface::{l4_checksum_offset, ChecksumCaps, Offload};
use xdptcp_stack::wire::ipv4::IpProtocol;

/// Who computes TCP and UDP checksums of transmitted frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxChecksum {
    /// Offload in zero-copy mode where the driver offers it; else software.
    Auto,
    /// TX metadata: in zero-copy mode the NIC completes the checksum (an error where the
    /// driver does not offer it); in copy mode the kernel's skb path does — the NIC, or the
    /// kernel's software fallback — except over a software link such as veth, which passes
    /// the partial checksum on: fine for a Linux receiver, wrong for one reading raw frames.
    Offload,
    /// TX metadata, completed by the kernel in software (`XDP_UMEM_TX_SW_CSUM`, copy mode).
    /// For testing the offload path end to end: peers then verify every checksum.
    Kernel,
    /// Our own software checksum, fused with the payload copy. No TX metadata.
    Software,
}

impl TxChecksum {
    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            TxChecksum::Auto => "auto",
            TxChecksum::Offload => "offload",
            TxChecksum::Kernel => "kernel",
            TxChecksum::Software => "software",
        }
    }

    /// Parses the name users type.
    pub fn parse(s: &str) -> Option<TxChecksum> {
        [TxChecksum::Auto, TxChecksum::Offload, TxChecksum::Kernel, TxChecksum::Software]
            .into_iter()
            .find(|m| m.name() == s)
    }

    /// The checksum duties a device using TX metadata takes over: TCP and UDP on transmit.
    /// The IPv4 header checksum stays in software (the metadata has one request per frame),
    /// and so does every receive check (AF_XDP reports no RX checksum status).
    pub fn offload_caps() -> ChecksumCaps {
        let tx_only = Offload { rx: false, tx: true };
        ChecksumCaps { tcp: tx_only, udp: tx_only, ..ChecksumCaps::NONE }
    }
}

/// `struct xsk_tx_metadata` as of Linux 6.15 (the request grew `launch_time`); older kernels
/// read only the first 12 bytes, and `tx_metadata_len` covers the whole struct.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TxMetadata {
    pub flags: u64,
    pub csum_start: u16,
    pub csum_offset: u16,
    pub _pad: u32,
    pub launch_time: u64,
}

/// Bytes reserved in front of each TX frame for [`TxMetadata`] (a multiple of 8, as the
/// kernel requires).
pub(crate) const TX_METADATA_LEN: usize = std::mem::size_of::<TxMetadata>();

const _: () = assert!(TX_METADATA_LEN.is_multiple_of(8) && TX_METADATA_LEN == 24);

/// Where the device must compute a checksum in `frame`, or `None` when the frame has no
/// TCP/UDP checksum to complete (ARP, ICMP, fragments, anything malformed). Reads only the
/// Ethernet and IPv4 headers: a few bytes already in cache from writing them.
pub(crate) fn request(frame: &[u8]) -> Option<(u16, u16)> {
    const ETH: usize = 14;
    if frame.get(12..14) == Some(&[0x86, 0xdd]) {
        return request6(frame);
    }
    if frame.len() < ETH + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[ETH..];
    if ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    // A fragment's checksum covers the reassembled datagram: no device can fill it.
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if ihl < 20 || frag & 0x3fff != 0 {
        return None;
    }
    let offset = l4_checksum_offset(IpProtocol::from(ip[9]))?;
    let start = ETH + ihl;
    if start + offset + 2 > frame.len() {
        return None;
    }
    Some((u16::try_from(start).ok()?, u16::try_from(offset).ok()?))
}

/// [`request`] for an IPv6 frame: TCP right after the fixed header (the stack sends no
/// extension headers), so the L4 header starts at 54, 20 bytes later than over IPv4. Only
/// TCP: the stack seeds the pseudo-header sum of TCP segments over IPv6 when the device
/// offloads, while its IPv6 UDP and ICMPv6 checksums are always complete in software.
fn request6(frame: &[u8]) -> Option<(u16, u16)> {
    const START: usize = 14 + 40;
    let ip = frame.get(14..START)?;
    if ip[0] >> 4 != 6 || ip[6] != 6 {
        return None;
    }
    let offset = l4_checksum_offset(IpProtocol::Tcp)?;
    if START + offset + 2 > frame.len() {
        return None;
    }
    Some((START as u16, offset as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(proto: u8, ihl: u8, frag: u16, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x40 | ihl;
        f[20..22].copy_from_slice(&frag.to_be_bytes());
        f[23] = proto;
        f
    }

    #[test]
    fn tcp_and_udp_get_a_request_at_their_checksum_field() {
        assert_eq!(request(&frame(6, 5, 0x4000, 54)), Some((34, 16)));
        assert_eq!(request(&frame(17, 5, 0, 42)), Some((34, 6)));
        // IP options move the L4 header.
        assert_eq!(request(&frame(6, 6, 0, 58)), Some((38, 16)));
    }

    #[test]
    fn ipv6_tcp_gets_a_request_20_bytes_later_and_nothing_else_over_ipv6() {
        let v6 = |next: u8, len: usize| {
            let mut f = vec![0u8; len];
            f[12..14].copy_from_slice(&[0x86, 0xdd]);
            f[14] = 0x60;
            f[20] = next;
            f
        };
        assert_eq!(request(&v6(6, 74)), Some((54, 16)));
        assert_eq!(request(&v6(6, 71)), None, "truncated TCP header");
        assert_eq!(request(&v6(17, 62)), None, "UDP over IPv6 is checksummed in software");
        assert_eq!(request(&v6(58, 62)), None, "ICMPv6");
        assert_eq!(request(&v6(0, 74)), None, "extension header");
        assert_eq!(request(&v6(6, 30)), None);
    }

    #[test]
    fn nothing_else_gets_one() {
        assert_eq!(request(&frame(1, 5, 0, 42)), None, "ICMP");
        assert_eq!(request(&frame(6, 5, 0x2000, 54)), None, "first fragment");
        assert_eq!(request(&frame(17, 5, 0x0010, 42)), None, "later fragment");
        assert_eq!(request(&frame(6, 4, 0, 54)), None, "bad IHL");
        assert_eq!(request(&frame(6, 5, 0, 40)), None, "truncated TCP header");
        let mut arp = frame(6, 5, 0, 60);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(request(&arp), None, "ARP");
        let mut v6 = frame(6, 5, 0, 60);
        v6[14] = 0x65;
        assert_eq!(request(&v6), None, "not IPv4");
        assert_eq!(request(&[]), None);
    }

    #[test]
    fn names_round_trip() {
        for m in [TxChecksum::Auto, TxChecksum::Offload, TxChecksum::Kernel, TxChecksum::Software] {
            assert_eq!(TxChecksum::parse(m.name()), Some(m));
        }
        assert_eq!(TxChecksum::parse("hardware"), None);
    }
}
