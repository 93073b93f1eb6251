//! [`XdpBacked`]: the AF_XDP device under any wrappers (fault injection, capture), so a
//! launcher can start the socket and read its counters whatever the device is wrapped in.

use super::XdpDevice;
use crate::device::Device;
use crate::fault::{FaultDevice, FaultStats};
use crate::pcap::PcapDevice;

/// A [`Device`] with an [`XdpDevice`] at its bottom.
pub trait XdpBacked: Device {
    /// The AF_XDP device.
    fn xdp(&self) -> &XdpDevice;

    /// Fault-injection counters (RX, TX), if a fault layer is present.
    fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        None
    }
}

impl XdpBacked for XdpDevice {
    fn xdp(&self) -> &XdpDevice {
        self
    }
}

impl<D: XdpBacked> XdpBacked for FaultDevice<D> {
    fn xdp(&self) -> &XdpDevice {
        self.inner().xdp()
    }

    fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        Some((self.rx_stats(), self.tx_stats()))
    }
}

impl<D: XdpBacked, W: std::io::Write> XdpBacked for PcapDevice<D, W> {
    fn xdp(&self) -> &XdpDevice {
        self.inner().xdp()
    }

    fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        self.inner().fault_stats()
    }
}
