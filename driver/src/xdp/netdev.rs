//! What a driver offers AF_XDP sockets, from the kernel's `netdev` generic-netlink family
//! (Linux 6.8+; the same query as `ynl --family netdev --do dev-get`).
//!
//! Two questions are asked:
//! - the zero-copy TX metadata features: a driver that does not implement the checksum
//!   request ignores it, and the frame would leave with the partial checksum the stack
//!   seeded — so offload in zero-copy mode is only used where the driver says it is
//!   supported;
//! - the XDP features ([`XdpFeatures`]): whether the driver's XDP path takes frames over
//!   several buffers (`rx-sg`), which jumbo MTUs need, and how many buffers a zero-copy
//!   socket may chain (`xdp-zc-max-segs`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
const NETDEV_A_DEV_XDP_ZC_MAX_SEGS: u16 = 4;
const NETDEV_A_DEV_XSK_FEATURES: u16 = 6;

/// `NETDEV_XDP_ACT_RX_SG`: the driver's XDP path handles frames in several buffers.
pub const XDP_ACT_RX_SG: u64 = 1 << 5;
/// `NETDEV_XDP_ACT_XSK_ZEROCOPY`: AF_XDP sockets can bind in zero-copy mode.
pub const XDP_ACT_XSK_ZEROCOPY: u64 = 1 << 3;

/// What the driver's XDP path supports (`NETDEV_A_DEV_XDP_FEATURES` and friends).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpFeatures {
    /// `NETDEV_XDP_ACT_*` bits.
    pub act: u64,
    /// Most buffers one zero-copy AF_XDP frame may span (1: no multi-buffer in zero-copy).
    pub zc_max_segs: u32,
}

impl XdpFeatures {
    /// Whether native XDP takes frames over several buffers (needed for jumbo MTUs).
    pub fn rx_sg(self) -> bool {
        self.act & XDP_ACT_RX_SG != 0
    }
}

/// The interface's XDP features (Linux 6.3+).
pub fn xdp_features(ifindex: u32) -> io::Result<XdpFeatures> {
    let nl = Netlink::open()?;
    let family = nl.family_id("netdev")?;
    let mut attrs = Vec::new();
    put_attr(&mut attrs, NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes());
    let reply = nl.request(family, NETDEV_CMD_DEV_GET, &attrs)?;
    Ok(XdpFeatures {
        act: find_attr(&reply, NETDEV_A_DEV_XDP_FEATURES).map_or(0, read_uint),
        zc_max_segs: find_attr(&reply, NETDEV_A_DEV_XDP_ZC_MAX_SEGS)
            .map_or(1, |v| read_uint(v).min(u64::from(u32::MAX)) as u32),
    })
}

/// `NETDEV_XSK_FLAGS_TX_CHECKSUM`: the driver completes `XDP_TXMD_FLAGS_CHECKSUM` requests.
pub const XSK_FEATURE_TX_CHECKSUM: u64 = 2;

/// The interface's AF_XDP zero-copy TX metadata features (`NETDEV_A_DEV_XSK_FEATURES`): 0 on
/// a driver without any, or on a kernel too old to report them.
pub fn xsk_features(ifindex: u32) -> io::Result<u64> {
    let nl = Netlink::open()?;
    let family = nl.family_id("netdev")?;
    let mut attrs = Vec::new();
    put_attr(&mut attrs, NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes());
    let reply = nl.request(family, NETDEV_CMD_DEV_GET, &attrs)?;
    Ok(find_attr(&reply, NETDEV_A_DEV_XSK_FEATURES).map_or(0, read_uint))
}

/// A generic-netlink socket for one request at a time.
struct Netlink {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

impl Netlink {
    fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_GENERIC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(Netlink { fd: unsafe { OwnedFd::from_raw_fd(fd) }, seq: std::cell::Cell::new(1) })
    }

    fn family_id(&self, name: &str) -> io::Result<u16> {
        let mut attrs = Vec::new();
        let mut cname = name.as_bytes().to_vec();
        cname.push(0);
        put_attr(&mut attrs, CTRL_ATTR_FAMILY_NAME, &cname);
        let reply = self
            .request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, &attrs)
            .map_err(|e| io::Error::other(format!("no {name} generic-netlink family: {e}")))?;
        find_attr(&reply, CTRL_ATTR_FAMILY_ID)
            .filter(|v| v.len() >= 2)
            .map(|v| u16::from_ne_bytes([v[0], v[1]]))
            .ok_or_else(|| io::Error::other(format!("no {name} generic-netlink family")))
    }

    /// Sends one request and returns the attributes of its reply.
    fn request(&self, family: u16, cmd: u8, attrs: &[u8]) -> io::Result<Vec<u8>> {
        let seq = self.seq.get();
        self.seq.set(seq.wrapping_add(1));
        let len = 16 + 4 + attrs.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&family.to_ne_bytes());
        msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&[cmd, 1, 0, 0]);
        msg.extend_from_slice(attrs);
        // SAFETY: `msg` is a live buffer of the length passed; the kernel is the peer.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut payload = None;
        let mut buf = vec![0u8; 16384];
        loop {
            // SAFETY: `buf` is a live, writable buffer of the length passed.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= 16 {
                let mlen = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                let mtype = u16::from_ne_bytes([rest[4], rest[5]]);
                let mseq = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
                if mlen < 16 || mlen > rest.len() {
                    return Err(io::Error::other("malformed netlink reply"));
                }
                let body = &rest[16..mlen];
                if mseq == seq {
                    if mtype == libc::NLMSG_ERROR as u16 {
                        let errno = body
                            .get(..4)
                            .map_or(0, |e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(-errno));
                        }
                        // The ACK: the request is done.
                        return payload.ok_or_else(|| io::Error::other("empty netlink reply"));
                    }
                    if mtype == family && body.len() >= 4 {
                        payload = Some(body[4..].to_vec());
                    }
                }
                rest = &rest[align4(mlen).min(rest.len())..];
            }
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one netlink attribute (`struct nlattr` and its padded value).
fn put_attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + align4(len) - len, 0);
}

/// The value of the first attribute of `kind` in a flat attribute list.
fn find_attr(mut attrs: &[u8], kind: u16) -> Option<&[u8]> {
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        // The top bits are the nested/byte-order flags.
        let k = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if k == kind {
            return Some(&attrs[4..len]);
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    None
}

/// A netlink unsigned integer: 1, 2, 4 or 8 bytes, host order (`NLA_UINT`).
fn read_uint(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    if cfg!(target_endian = "little") {
        b[..n].copy_from_slice(&v[..n]);
        u64::from_le_bytes(b)
    } else {
        b[8 - n..].copy_from_slice(&v[..n]);
        u64::from_be_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_with_padding() {
        let mut a = Vec::new();
        put_attr(&mut a, 2, b"netdev\0");
        put_attr(&mut a, 6, &7u32.to_ne_bytes());
        assert_eq!(a.len(), 12 + 8);
        assert_eq!(find_attr(&a, 2), Some(&b"netdev\0"[..]));
        assert_eq!(find_attr(&a, 6).map(read_uint), Some(7));
        assert_eq!(find_attr(&a, 9), None);
        // Garbage lengths end the walk instead of panicking.
        assert_eq!(find_attr(&[0xff, 0xff, 6, 0, 1], 6), None);
        assert_eq!(find_attr(&[2, 0, 6, 0], 6), None);
    }

    #[test]
    fn uints_of_every_width() {
        assert_eq!(read_uint(&5u8.to_ne_bytes()), 5);
        assert_eq!(read_uint(&0x1234u16.to_ne_bytes()), 0x1234);
        assert_eq!(read_uint(&u64::MAX.to_ne_bytes()), u64::MAX);
    }

    #[test]
    fn loopback_reports_no_xsk_tx_features() {
        // Any kernel answers for lo (index 1); 6.8+ reports 0 features, older ones omit them.
        match xsk_features(1) {
            Ok(f) => assert_eq!(f & XSK_FEATURE_TX_CHECKSUM, 0),
            // Kernels before 6.2 have no netdev family at all.
            Err(e) => assert!(e.to_string().contains("netdev"), "{e}"),
        }
    }

    #[test]
    fn loopback_has_no_native_xdp_multi_buffer() {
        // lo has no native XDP at all: no rx-sg, and no zero-copy chains.
        if let Ok(f) = xdp_features(1) {
            assert!(!f.rx_sg(), "{f:?}");
            assert_eq!(f.act & XDP_ACT_XSK_ZEROCOPY, 0, "{f:?}");
        }
    }
}
