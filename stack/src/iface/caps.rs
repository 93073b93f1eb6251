//! What the device underneath the interface can do for us.
//!
//! NICs commonly verify IPv4/TCP/UDP checksums on receive and fill them on transmit. Software
//! must then skip exactly that work: verifying twice costs a pass over every byte, and filling a
//! checksum the NIC overwrites is wasted. Conversely, software must never skip a check the device
//! does not do. [`DeviceCaps`] states the contract once, per device, and every layer reads it.

/// The link layer the device speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Medium {
    /// Ethernet II frames: a 14-byte header, MAC addresses, ARP for next-hop resolution.
    Ethernet,
    /// Raw IP packets with no link header and no ARP (a TUN device, or a packetdrill-style
    /// adapter). The device is a point-to-point link: every destination is reachable through it.
    Ip,
}

impl Medium {
    /// Bytes of link-layer header in front of the IP header.
    pub const fn header_len(self) -> usize {
        match self {
            Medium::Ethernet => 14,
            Medium::Ip => 0,
        }
    }
}

/// Who handles one checksum: `rx` is true when the device verifies it on receive (and drops, or
/// flags, bad packets itself), `tx` when the device computes and fills it on transmit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Offload {
    /// The device has verified this checksum on every received packet it hands us.
    pub rx: bool,
    /// The device fills this checksum on transmit. For the IPv4 header software leaves the
    /// field zero; for TCP and UDP it seeds the field with the pseudo-header sum, the partial
    /// checksum that NICs (Linux `CHECKSUM_PARTIAL`, DPDK, AF_XDP TX metadata) complete.
    pub tx: bool,
}

impl Offload {
    /// Software does everything.
    pub const NONE: Offload = Offload { rx: false, tx: false };
    /// The device does everything.
    pub const BOTH: Offload = Offload { rx: true, tx: true };
}

/// Checksum offloads, one per checksum the interface layer deals with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChecksumCaps {
    /// The IPv4 header checksum (RFC 791).
    pub ipv4: Offload,
    /// The TCP checksum (RFC 9293 §3.1); the interface passes the RX flag up to the TCP layer.
    pub tcp: Offload,
    /// The UDP checksum (RFC 768).
    pub udp: Offload,
    /// The ICMP checksum (RFC 792); few devices offload it.
    pub icmp: Offload,
}

impl ChecksumCaps {
    /// No offload: software verifies and fills every checksum (the safe default).
    pub const NONE: ChecksumCaps = ChecksumCaps {
        ipv4: Offload::NONE,
        tcp: Offload::NONE,
        udp: Offload::NONE,
        icmp: Offload::NONE,
    };
    /// Full offload of every checksum, both directions.
    pub const ALL: ChecksumCaps = ChecksumCaps {
        ipv4: Offload::BOTH,
        tcp: Offload::BOTH,
        udp: Offload::BOTH,
        icmp: Offload::BOTH,
    };
}

/// The capability set of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceCaps {
    /// Link layer.
    pub medium: Medium,
    /// Largest IP packet (header included) the link carries, as in `ip link`'s mtu: 1500 for
    /// standard Ethernet. Link headers come on top.
    pub mtu: usize,
    /// Which checksums the device handles.
    pub checksum: ChecksumCaps,
}

impl DeviceCaps {
    /// An Ethernet device with the given MTU and no checksum offload.
    pub const fn ethernet(mtu: usize) -> Self {
        DeviceCaps { medium: Medium::Ethernet, mtu, checksum: ChecksumCaps::NONE }
    }

    /// A raw-IP (TUN-style) device with the given MTU and no checksum offload.
    pub const fn ip(mtu: usize) -> Self {
        DeviceCaps { medium: Medium::Ip, mtu, checksum: ChecksumCaps::NONE }
    }

    /// The same device with the given checksum offloads.
    pub const fn with_checksum(mut self, checksum: ChecksumCaps) -> Self {
        self.checksum = checksum;
        self
    }

    /// Size of the largest frame: MTU plus the link header. Frame buffers lent to the interface
    /// for transmission must be at least this long.
    pub const fn max_frame_len(&self) -> usize {
        self.mtu + self.medium.header_len()
    }
}

impl Default for DeviceCaps {
    /// Standard Ethernet, MTU 1500, no offload.
    fn default() -> Self {
        DeviceCaps::ethernet(1500)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_adds_link_header() {
        assert_eq!(DeviceCaps::ethernet(1500).max_frame_len(), 1514);
        assert_eq!(DeviceCaps::ip(1500).max_frame_len(), 1500);
        assert_eq!(DeviceCaps::ethernet(9000).max_frame_len(), 9014);
    }

    #[test]
    fn with_checksum_replaces_only_checksums() {
        let c = DeviceCaps::ethernet(1400).with_checksum(ChecksumCaps::ALL);
        assert_eq!(c.mtu, 1400);
        assert_eq!(c.medium, Medium::Ethernet);
        assert!(c.checksum.udp.rx && c.checksum.ipv4.tx);
        assert!(!DeviceCaps::default().checksum.tcp.rx);
    }
}
