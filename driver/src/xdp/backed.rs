//! [`XdpBacked`]: the AF_XDP device under any wrappers (fault injection, capture), so a
//! launcher can start the socket and read its counters whatever the device is wrapped in;
//! and [`wrapped`], the one place a launcher (the one-worker [`Builder`](crate::Builder)
//! path, each worker of the [`Runtime`](crate::runtime::Runtime)) wraps it.

use std::path::Path;

use super::XdpDevice;
use crate::device::Device;
use crate::fault::{FaultConfig, FaultDevice, FaultStats};
use crate::pcap::PcapDevice;

/// What to do with the device once it is wrapped (a generic continuation: the wrapped type
/// depends on the options).
pub trait WithDevice {
    /// What it gives back.
    type Output;
    /// Runs with the (maybe wrapped) device.
    fn with<D: XdpBacked>(self, dev: D) -> Self::Output;
}

/// Wraps `dev` in a fault injector (impairments on both paths) and then in a capture (what
/// the stack saw, after impairment), each if asked, and hands the result to `k`. Fails only
/// if the capture file cannot be made.
pub fn wrapped<K: WithDevice>(
    dev: XdpDevice,
    fault: Option<FaultConfig>,
    pcap: Option<&Path>,
    k: K,
) -> Result<K::Output, String> {
    let capture = |p: &Path| format!("cannot create pcap file {}", p.display());
    Ok(match (fault, pcap) {
        (None, None) => k.with(dev),
        (Some(f), None) => k.with(FaultDevice::new(dev, f)),
        (None, Some(p)) => {
            k.with(PcapDevice::create(dev, p).map_err(|e| format!("{}: {e}", capture(p)))?)
        }
        (Some(f), Some(p)) => k.with(
            PcapDevice::create(FaultDevice::new(dev, f), p)
                .map_err(|e| format!("{}: {e}", capture(p)))?,
        ),
    })
}

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
