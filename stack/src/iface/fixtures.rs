//! Addresses and interfaces shared by the unit tests of `input`, `output` and `arp`.

use std::net::Ipv4Addr;

use super::config::InterfaceConfig;
use super::interface::Interface;
use super::DeviceCaps;
use crate::wire::ethernet::EthernetAddress;

pub(super) const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
pub(super) const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
pub(super) const OURS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub(super) const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// Our address on a /24, no gateway, on an Ethernet device with MTU 1500.
pub(super) fn config() -> InterfaceConfig {
    InterfaceConfig::new(OUR_MAC, OURS, 24)
}

/// An interface with [`config`] on an Ethernet device.
pub(super) fn ethernet() -> Interface {
    Interface::new(config(), DeviceCaps::ethernet(1500))
}

/// An interface with [`config`] on a raw-IP device.
pub(super) fn raw_ip() -> Interface {
    Interface::new(config(), DeviceCaps::ip(1500))
}
