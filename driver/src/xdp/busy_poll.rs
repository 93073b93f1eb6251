//! Preferred busy polling of an AF_XDP socket (Linux 5.11+, off by default).
//!
//! Normally the NIC's interrupt schedules the NAPI poll in softirq context, on whatever core
//! the interrupt lands on, and the worker only sees the result on its rings. With
//! `SO_PREFER_BUSY_POLL` the kernel lets the worker's own syscalls (`recvfrom`/`sendto` on the
//! socket) run the NAPI poll instead: `SO_BUSY_POLL` is how long one syscall may poll (µs)
//! and `SO_BUSY_POLL_BUDGET` how many packets one poll may process. The driver and the worker
//! then share a core and a cache, and interrupts can stay masked while the worker keeps
//! polling (with the interface's `napi_defer_hard_irqs` and `gro_flush_timeout` set, see
//! docs/driver.md). The kernel documents this in `Documentation/networking/af_xdp.rst`.
//!
//! With busy polling on, [`XdpDevice`](super::XdpDevice) calls `recvfrom(MSG_DONTWAIT)` after
//! every empty receive and kicks TX after every flush with frames in flight, whatever the
//! rings' `need_wakeup` flags say: those syscalls are what drive the NAPI poll.

use std::io;

use super::error::DriverError;

/// `SO_BUSY_POLL` (include/uapi/asm-generic/socket.h).
const SO_BUSY_POLL: libc::c_int = 46;
/// `SO_PREFER_BUSY_POLL` (Linux 5.11).
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
/// `SO_BUSY_POLL_BUDGET` (Linux 5.11).
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// The kernel's default NAPI budget, which `--busy-poll-budget` defaults to.
pub const DEFAULT_BUSY_POLL_BUDGET: u16 = 64;

/// Busy-poll settings for the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPoll {
    /// `SO_BUSY_POLL`: microseconds one syscall may spend polling the NAPI context (≥ 1).
    pub usecs: u32,
    /// `SO_BUSY_POLL_BUDGET`: packets one busy poll may process (≥ 1).
    pub budget: u16,
}

impl BusyPoll {
    /// `usecs` µs per poll with the kernel's default budget.
    pub fn new(usecs: u32) -> BusyPoll {
        BusyPoll { usecs, budget: DEFAULT_BUSY_POLL_BUDGET }
    }

    /// Checks the values before anything touches the kernel.
    pub(crate) fn check(&self) -> Result<(), DriverError> {
        if self.usecs == 0 || self.usecs > i32::MAX as u32 {
            return Err(DriverError::InvalidConfig(format!(
                "busy-poll time {} µs must be between 1 and {}",
                self.usecs,
                i32::MAX
            )));
        }
        if self.budget == 0 {
            return Err(DriverError::InvalidConfig(
                "busy-poll budget 0 must be between 1 and 65535".into(),
            ));
        }
        Ok(())
    }
}

/// The three options as the kernel reports them for a socket (`getsockopt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPollState {
    /// `SO_PREFER_BUSY_POLL`.
    pub prefer: bool,
    /// `SO_BUSY_POLL`, µs (0: off).
    pub usecs: u32,
    /// `SO_BUSY_POLL_BUDGET`, when the kernel reports it: Linux (6.18 included) accepts it in
    /// `setsockopt` but has no `getsockopt` for it (`ENOPROTOOPT`), so this is `None` there
    /// and the only proof that it was applied is that `setsockopt` succeeded.
    pub budget: Option<u32>,
}

fn set(fd: i32, option: libc::c_int, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a live i32 and the length passed is its size; the kernel only reads
    // it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get(fd: i32, option: libc::c_int) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live out-parameters of the sizes passed.
    let rc = unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, option, (&mut value as *mut i32).cast(), &mut len)
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the three options on the AF_XDP socket `fd`. Raising them needs `CAP_NET_ADMIN`.
pub(crate) fn apply(fd: i32, bp: BusyPoll) -> Result<(), DriverError> {
    bp.check()?;
    let steps: [(libc::c_int, i32, &'static str); 3] = [
        (SO_PREFER_BUSY_POLL, 1, "setting SO_PREFER_BUSY_POLL on the AF_XDP socket"),
        (SO_BUSY_POLL, bp.usecs as i32, "setting SO_BUSY_POLL on the AF_XDP socket"),
        (
            SO_BUSY_POLL_BUDGET,
            i32::from(bp.budget),
            "setting SO_BUSY_POLL_BUDGET on the AF_XDP socket",
        ),
    ];
    for (option, value, action) in steps {
        set(fd, option, value).map_err(|e| {
            DriverError::from_errno(action, e.raw_os_error().unwrap_or(libc::EINVAL))
        })?;
    }
    Ok(())
}

/// Reads the three options back from socket `fd`.
pub(crate) fn read(fd: i32) -> io::Result<BusyPollState> {
    Ok(BusyPollState {
        prefer: get(fd, SO_PREFER_BUSY_POLL)? != 0,
        usecs: get(fd, SO_BUSY_POLL)?.max(0) as u32,
        budget: match get(fd, SO_BUSY_POLL_BUDGET) {
            Ok(v) => Some(v.max(0) as u32),
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => None,
            Err(e) => return Err(e),
        },
    })
}

/// One non-blocking `recvfrom` with no buffer: in busy-poll mode, the syscall that runs the
/// NAPI poll for the socket's queue (and refills from the fill ring). Its result carries no
/// data (frames arrive on the RX ring) and `EAGAIN` is the normal answer.
pub(crate) fn poll_once(fd: i32) {
    // SAFETY: a null buffer of length 0 and null address pointers are valid arguments; the
    // kernel writes nothing.
    let _ = unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_kernel_headers() {
        // Checked against /usr/include/asm-generic/socket.h when it is installed.
        let Ok(header) = std::fs::read_to_string("/usr/include/asm-generic/socket.h") else {
            return;
        };
        for (name, value) in [
            ("SO_BUSY_POLL", SO_BUSY_POLL),
            ("SO_PREFER_BUSY_POLL", SO_PREFER_BUSY_POLL),
            ("SO_BUSY_POLL_BUDGET", SO_BUSY_POLL_BUDGET),
        ] {
            let line = header
                .lines()
                .find(|l| l.split_whitespace().nth(1) == Some(name))
                .unwrap_or_else(|| panic!("{name} is in the header"));
            let defined: i32 = line.split_whitespace().nth(2).and_then(|v| v.parse().ok()).unwrap();
            assert_eq!(defined, value, "{name}");
        }
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        for bad in [BusyPoll { usecs: 0, budget: 64 }, BusyPoll { usecs: 50, budget: 0 }] {
            let e = bad.check().expect_err("refused").to_string();
            assert!(e.contains("busy-poll") && !e.contains('\n'), "{e}");
        }
        assert!(BusyPoll::new(50).check().is_ok());
        assert_eq!(BusyPoll::new(50).budget, DEFAULT_BUSY_POLL_BUDGET);
    }

    #[test]
    fn options_apply_and_read_back_on_a_plain_socket() {
        // Any socket takes SOL_SOCKET options; an AF_XDP socket is tested in the lab
        // (driver/tests/lab_afxdp.rs). Raising them needs CAP_NET_ADMIN.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        // An unbound UDP socket: no address, no traffic.
        // SAFETY: socket() has no memory preconditions; the fd is owned right below.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
        assert!(raw >= 0, "socket: {}", io::Error::last_os_error());
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
        let before = read(fd).expect("readable");
        assert!(!before.prefer && before.usecs == 0, "{before:?}");
        apply(fd, BusyPoll { usecs: 37, budget: 19 }).expect("root may raise them");
        let after = read(fd).expect("readable");
        assert!(after.prefer && after.usecs == 37, "{after:?}");
        assert!(after.budget.is_none_or(|b| b == 19), "{after:?}");
    }
}
