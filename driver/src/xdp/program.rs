//! Loading and attaching xdptcp's own XDP program (`driver/bpf/xdptcp.bpf.c`), with an RAII
//! guard that detaches it.
//!
//! The program redirects to the AF_XDP socket of the receiving queue only IPv4 for the
//! stack's address and ARP asking for it, and passes everything else to the kernel (see the C
//! source for the exact filter). [`XdpProgram`] detaches it when dropped — on a normal return,
//! while unwinding from a panic, and after a SIGINT/SIGTERM that the caller's loop observes
//! through [`crate::signal`] — and only if the program attached is still ours, so it never
//! removes someone else's.

use std::ffi::CStr;
use std::net::Ipv4Addr;
use std::os::raw::c_void;
use std::ptr::NonNull;

use libbpf_sys as bpf;

use super::error::DriverError;
use super::netif::NetIf;

/// The compiled program, embedded at build time by build.rs.
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xdptcp.bpf.o"));

const PROG_NAME: &CStr = c"xdptcp_redirect";
const XSKS_MAP: &CStr = c"xsks_map";
const CONFIG_MAP: &CStr = c"xdptcp_config";
const STATS_MAP: &CStr = c"xdptcp_stats";
const IPV6_MAP: &CStr = c"xdptcp_ipv6";

/// Most IPv6 addresses the program steers (`MAX_IPV6_ADDRS` in the C source).
pub const MAX_IPV6_ADDRS: usize = 64;

/// Most queues the program's XSKMAP holds (`MAX_QUEUES` in the C source).
pub const MAX_QUEUES: u32 = 64;

/// How the program is attached to the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`): fast, needs driver support (veth, i40e, ice,
    /// mlx5, ixgbe, igc, virtio_net, ...).
    Native,
    /// Generic/SKB mode (`XDP_FLAGS_SKB_MODE`): works on every interface, after the kernel
    /// has built an skb, so slow; AF_XDP is then copy mode only.
    Generic,
    /// Native, falling back to generic if the driver refuses.
    Auto,
}

impl XdpMode {
    fn flags(self) -> u32 {
        match self {
            XdpMode::Native => bpf::XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => bpf::XDP_FLAGS_SKB_MODE,
            XdpMode::Auto => 0,
        }
    }

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
            XdpMode::Auto => "auto",
        }
    }
}

/// Counters kept by the program itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgramStats {
    /// IPv4 frames redirected to a socket (or passed if no socket serves the queue).
    pub ipv4_redirected: u64,
    /// ARP frames redirected.
    pub arp_redirected: u64,
    /// Frames passed to the kernel.
    pub passed: u64,
    /// IPv6 frames to one of the stack's addresses redirected.
    pub ipv6_redirected: u64,
    /// Neighbor Discovery frames to a group, about one of the stack's addresses, redirected.
    pub ndp_redirected: u64,
}

/// Mirror of `struct config` in the C source.
#[repr(C)]
struct ProgramConfig {
    ipv4_addr: u32,
    reserved: u32,
}

/// The loaded and attached program. Detaches (if still ours) and unloads on drop.
#[derive(Debug)]
pub struct XdpProgram {
    obj: NonNull<bpf::bpf_object>,
    prog_fd: i32,
    xsks_fd: i32,
    stats_fd: i32,
    ifindex: i32,
    iface: String,
    mode: XdpMode,
    attached: bool,
}

// SAFETY: the libbpf object is only used through `&self`/`&mut self` methods that make
// thread-safe syscalls on its file descriptors; libbpf keeps no thread-local state for it.
unsafe impl Send for XdpProgram {}
// SAFETY: the `&self` methods only read map values with bpf(2) and update the XSKMAP, both
// atomic in the kernel.
unsafe impl Sync for XdpProgram {}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// The id of the XDP program attached to `ifindex` in the mode given by `flags`, if any.
fn attached_id(ifindex: i32, flags: u32) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: `id` is a valid out-pointer for the duration of the call.
    let rc = unsafe { bpf::bpf_xdp_query_id(ifindex, flags as i32, &mut id) };
    (rc == 0 && id != 0).then_some(id)
}

impl XdpProgram {
    /// Loads the program, sets the stack's address and attaches it to `iface` in `mode`.
    /// Refuses (with [`DriverError::AlreadyAttached`]) if any XDP program is attached there.
    pub fn attach(iface: &NetIf, addr: Ipv4Addr, mode: XdpMode) -> Result<XdpProgram, DriverError> {
        let ifindex = iface.index as i32;
        for flags in [bpf::XDP_FLAGS_DRV_MODE, bpf::XDP_FLAGS_SKB_MODE] {
            if let Some(prog_id) = attached_id(ifindex, flags) {
                return Err(DriverError::AlreadyAttached { iface: iface.name.clone(), prog_id });
            }
        }
        // SAFETY: OBJECT is a static byte slice that outlives the object (libbpf copies it
        // anyway); null options select the defaults.
        let obj = unsafe {
            bpf::bpf_object__open_mem(
                OBJECT.as_ptr().cast::<c_void>(),
                OBJECT.len() as _,
                std::ptr::null(),
            )
        };
        let Some(obj) = NonNull::new(obj) else {
            return Err(DriverError::from_errno("opening the XDP object", errno()));
        };
        let mut prog = XdpProgram {
            obj,
            prog_fd: -1,
            xsks_fd: -1,
            stats_fd: -1,
            ifindex,
            iface: iface.name.clone(),
            mode,
            attached: false,
        };
        // SAFETY: `obj` is a valid object from bpf_object__open_mem, closed only in Drop.
        let rc = unsafe { bpf::bpf_object__load(obj.as_ptr()) };
        if rc < 0 {
            return Err(DriverError::from_errno("loading the XDP program", -rc));
        }
        prog.prog_fd = prog.program_fd()?;
        prog.xsks_fd = prog.map_fd(XSKS_MAP)?;
        prog.stats_fd = prog.map_fd(STATS_MAP)?;
        let config_fd = prog.map_fd(CONFIG_MAP)?;
        let key = 0u32;
        let value = ProgramConfig { ipv4_addr: u32::from_ne_bytes(addr.octets()), reserved: 0 };
        // SAFETY: key and value point at live values of the map's key and value sizes.
        let rc = unsafe {
            bpf::bpf_map_update_elem(
                config_fd,
                (&key as *const u32).cast(),
                (&value as *const ProgramConfig).cast(),
                0,
            )
        };
        if rc < 0 {
            return Err(DriverError::from_errno("setting the address in the XDP program", -rc));
        }
        prog.mode = prog.do_attach(mode)?;
        Ok(prog)
    }

    fn do_attach(&mut self, mode: XdpMode) -> Result<XdpMode, DriverError> {
        let tries: &[XdpMode] = match mode {
            XdpMode::Auto => &[XdpMode::Native, XdpMode::Generic],
            XdpMode::Native => &[XdpMode::Native],
            XdpMode::Generic => &[XdpMode::Generic],
        };
        let mut last = 0;
        for &m in tries {
            let flags = m.flags() | bpf::XDP_FLAGS_UPDATE_IF_NOEXIST;
            // SAFETY: plain netlink request with a valid program fd and null options.
            let rc =
                unsafe { bpf::bpf_xdp_attach(self.ifindex, self.prog_fd, flags, std::ptr::null()) };
            if rc == 0 {
                self.mode = m;
                self.attached = true;
                return Ok(m);
            }
            last = -rc;
            match last {
                libc::EPERM | libc::EACCES => {
                    return Err(DriverError::Permission { action: "attaching the XDP program" })
                }
                libc::EBUSY | libc::EEXIST => {
                    let prog_id = attached_id(self.ifindex, 0).unwrap_or(0);
                    return Err(DriverError::AlreadyAttached {
                        iface: self.iface.clone(),
                        prog_id,
                    });
                }
                _ => {}
            }
        }
        Err(DriverError::ModeUnsupported {
            iface: self.iface.clone(),
            mode: mode.name(),
            detail: std::io::Error::from_raw_os_error(last).to_string(),
        })
    }

    fn program_fd(&self) -> Result<i32, DriverError> {
        // SAFETY: valid loaded object and a NUL-terminated name.
        let p =
            unsafe { bpf::bpf_object__find_program_by_name(self.obj.as_ptr(), PROG_NAME.as_ptr()) };
        if p.is_null() {
            return Err(DriverError::Os { action: "finding the XDP program", errno: libc::ENOENT });
        }
        // SAFETY: `p` is a program of the loaded object.
        Ok(unsafe { bpf::bpf_program__fd(p) })
    }

    fn map_fd(&self, name: &CStr) -> Result<i32, DriverError> {
        // SAFETY: valid loaded object and a NUL-terminated name.
        let m = unsafe { bpf::bpf_object__find_map_by_name(self.obj.as_ptr(), name.as_ptr()) };
        if m.is_null() {
            return Err(DriverError::Os {
                action: "finding a map of the XDP program",
                errno: libc::ENOENT,
            });
        }
        // SAFETY: `m` is a map of the loaded object.
        Ok(unsafe { bpf::bpf_map__fd(m) })
    }

    /// The mode the program was actually attached in (never `Auto`).
    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// The interface.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Steers frames arriving on `queue` to the AF_XDP socket `socket_fd`.
    pub fn register_socket(&self, queue: u32, socket_fd: i32) -> Result<(), DriverError> {
        if queue >= MAX_QUEUES {
            return Err(DriverError::InvalidConfig(format!(
                "queue {queue} is beyond the XDP program's {MAX_QUEUES} socket slots"
            )));
        }
        // SAFETY: key and value are live u32/i32 matching the XSKMAP's 4-byte key and value.
        let rc = unsafe {
            bpf::bpf_map_update_elem(
                self.xsks_fd,
                (&queue as *const u32).cast(),
                (&socket_fd as *const i32).cast(),
                0,
            )
        };
        if rc < 0 {
            return Err(DriverError::from_errno("inserting the socket into the XSKMAP", -rc));
        }
        Ok(())
    }

    /// Stops steering `queue` (its frames go to the kernel again).
    pub fn unregister_socket(&self, queue: u32) {
        // SAFETY: key is a live u32; a missing entry is a harmless error.
        unsafe { bpf::bpf_map_delete_elem(self.xsks_fd, (&queue as *const u32).cast()) };
    }

    /// Sets the IPv6 addresses whose traffic (and Neighbor Discovery) the program steers to
    /// the stack. At most [`MAX_IPV6_ADDRS`].
    pub fn set_ipv6_addresses(&self, addrs: &[std::net::Ipv6Addr]) -> Result<(), DriverError> {
        if addrs.len() > MAX_IPV6_ADDRS {
            return Err(DriverError::InvalidConfig(format!(
                "{} IPv6 addresses: the XDP program steers at most {MAX_IPV6_ADDRS}",
                addrs.len()
            )));
        }
        let fd = self.map_fd(IPV6_MAP)?;
        for a in addrs {
            let key = a.octets();
            let value = 1u8;
            // SAFETY: key and value point at live values of the map's key (16 bytes) and
            // value (1 byte) sizes.
            let rc = unsafe {
                bpf::bpf_map_update_elem(fd, key.as_ptr().cast(), (&value as *const u8).cast(), 0)
            };
            if rc < 0 {
                return Err(DriverError::from_errno(
                    "setting an IPv6 address in the XDP program",
                    -rc,
                ));
            }
        }
        Ok(())
    }

    /// The program's own counters.
    pub fn stats(&self) -> ProgramStats {
        let read = |k: u32| {
            let mut v = 0u64;
            // SAFETY: key and value are live and match the stats map's u32 key and u64 value.
            let rc = unsafe {
                bpf::bpf_map_lookup_elem(
                    self.stats_fd,
                    (&k as *const u32).cast(),
                    (&mut v as *mut u64).cast(),
                )
            };
            if rc == 0 {
                v
            } else {
                0
            }
        };
        ProgramStats {
            ipv4_redirected: read(0),
            arp_redirected: read(1),
            passed: read(2),
            ipv6_redirected: read(3),
            ndp_redirected: read(4),
        }
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        if self.attached {
            let opts = bpf::bpf_xdp_attach_opts {
                sz: std::mem::size_of::<bpf::bpf_xdp_attach_opts>() as _,
                old_prog_fd: self.prog_fd,
                ..Default::default()
            };
            // SAFETY: with `old_prog_fd` set the kernel replaces (here: removes) the program
            // only if the attached one is still ours (XDP_FLAGS_REPLACE semantics).
            unsafe { bpf::bpf_xdp_detach(self.ifindex, self.mode.flags(), &opts) };
        }
        // SAFETY: `obj` came from bpf_object__open_mem and is closed exactly once, here.
        unsafe { bpf::bpf_object__close(self.obj.as_ptr()) };
    }
}

/// Detaches whatever XDP program is attached to `ifname` (native or generic), for
/// `xdptcp detach --iface IF` after a crash left one behind. Returns the ids removed.
pub fn detach(ifname: &str) -> Result<Vec<u32>, DriverError> {
    let iface = NetIf::lookup(ifname)?;
    let ifindex = iface.index as i32;
    let mut removed = Vec::new();
    for flags in [bpf::XDP_FLAGS_DRV_MODE, bpf::XDP_FLAGS_SKB_MODE] {
        if let Some(id) = attached_id(ifindex, flags) {
            // SAFETY: plain netlink request; null options detach unconditionally.
            let rc = unsafe { bpf::bpf_xdp_detach(ifindex, flags, std::ptr::null()) };
            if rc < 0 {
                return Err(DriverError::from_errno("detaching the XDP program", -rc));
            }
            removed.push(id);
        }
    }
    Ok(removed)
}

/// The id of the XDP program attached to `ifname` in any mode, if one is.
pub fn attached_program(ifname: &str) -> Result<Option<u32>, DriverError> {
    let iface = NetIf::lookup(ifname)?;
    Ok([bpf::XDP_FLAGS_DRV_MODE, bpf::XDP_FLAGS_SKB_MODE]
        .into_iter()
        .find_map(|f| attached_id(iface.index as i32, f)))
}
