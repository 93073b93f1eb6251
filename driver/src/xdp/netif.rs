//! What the driver needs to know about a network interface: index, MTU, MAC address and
//! number of RX queues.
//!
//! Everything is asked of the kernel with ioctls on a socket made by the calling thread, so
//! the answers come from the thread's own network namespace. (sysfs would answer for the
//! namespace it was mounted in, which is wrong for a thread that entered another one with
//! `setns`.)

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::error::DriverError;

/// `ETHTOOL_GCHANNELS` (include/uapi/linux/ethtool.h).
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// `struct ethtool_channels`.
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// Facts about one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetIf {
    /// Name.
    pub name: String,
    /// Kernel interface index.
    pub index: u32,
    /// MTU (IP packet size), as `ip link` shows it.
    pub mtu: usize,
    /// Hardware address.
    pub mac: [u8; 6],
    /// RX queues (channels) in use.
    pub rx_queues: u32,
}

impl NetIf {
    /// Looks the interface up in the calling thread's network namespace.
    pub fn lookup(name: &str) -> Result<NetIf, DriverError> {
        let unknown = || DriverError::UnknownInterface { iface: name.to_string() };
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(unknown());
        }
        let cname = CString::new(name).map_err(|_| unknown())?;
        // SAFETY: `cname` is a valid NUL-terminated string that outlives the call.
        let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if index == 0 {
            return Err(unknown());
        }
        let sock = ioctl_socket().map_err(|e| os("opening an ioctl socket", &e))?;
        let mut req = ifreq(name);
        // SAFETY: `req` is a properly initialised `ifreq` naming the interface; SIOCGIFMTU
        // writes only `ifr_ifru.ifru_mtu` inside it.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU, &mut req) };
        if rc < 0 {
            return Err(os("reading the MTU", &io::Error::last_os_error()));
        }
        // SAFETY: the ioctl succeeded, so the union holds the MTU.
        let mtu = unsafe { req.ifr_ifru.ifru_mtu }.max(0) as usize;
        let mut req = ifreq(name);
        // SAFETY: as above; SIOCGIFHWADDR writes `ifr_ifru.ifru_hwaddr`.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
        if rc < 0 {
            return Err(os("reading the MAC address", &io::Error::last_os_error()));
        }
        // SAFETY: the ioctl succeeded, so the union holds a sockaddr with the MAC in sa_data.
        let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
        let mut mac = [0u8; 6];
        for (m, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
            *m = *s as u8;
        }
        let rx_queues = rx_queues(&sock, name).unwrap_or(1).max(1);
        Ok(NetIf { name: name.to_string(), index, mtu, mac, rx_queues })
    }
}

fn os(action: &'static str, e: &io::Error) -> DriverError {
    DriverError::from_errno(action, e.raw_os_error().unwrap_or(libc::EIO))
}

fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is plain old data (a name array and a union of PODs); all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    req
}

/// RX queues from the ethtool channel count (rx + combined); `None` if the driver does not
/// report channels.
fn rx_queues(sock: &OwnedFd, name: &str) -> Option<u32> {
    let mut ch = EthtoolChannels { cmd: ETHTOOL_GCHANNELS, ..Default::default() };
    let mut req = ifreq(name);
    req.ifr_ifru.ifru_data = (&mut ch as *mut EthtoolChannels).cast();
    // SAFETY: SIOCETHTOOL with ETHTOOL_GCHANNELS writes one `ethtool_channels` through
    // `ifru_data`, which points at `ch`, alive and exclusively borrowed for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
    if rc < 0 {
        return None;
    }
    Some(ch.rx_count + ch.combined_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_interface_is_found() {
        let lo = NetIf::lookup("lo").expect("every namespace has lo");
        assert_eq!(lo.index, 1);
        assert!(lo.mtu >= 1500);
        assert_eq!(lo.mac, [0; 6]);
        assert!(lo.rx_queues >= 1);
    }

    #[test]
    fn unknown_interface_is_a_clean_error() {
        let e = NetIf::lookup("xdptcp-nope0").expect_err("no such interface");
        assert_eq!(e, DriverError::UnknownInterface { iface: "xdptcp-nope0".into() });
        assert!(NetIf::lookup("").is_err());
        assert!(NetIf::lookup("a-name-far-too-long-for-linux").is_err());
    }
}
