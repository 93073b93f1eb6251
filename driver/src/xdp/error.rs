//! Errors of the AF_XDP setup path, each one clear line naming what to change.

use std::fmt;

/// Why an AF_XDP device or the XDP program could not be set up. These happen at start-up, not
/// per packet, so they carry the context a user needs to fix them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverError {
    /// The kernel refused for lack of privilege.
    Permission {
        /// What was being done.
        action: &'static str,
    },
    /// No interface of that name (in this network namespace).
    UnknownInterface {
        /// The name asked for.
        iface: String,
    },
    /// The queue does not exist on the interface.
    QueueOutOfRange {
        /// Interface.
        iface: String,
        /// Queue asked for.
        queue: u32,
        /// Queues the interface has.
        queues: u32,
    },
    /// The interface or the kernel does not support the XDP attach mode or the AF_XDP bind
    /// mode asked for.
    ModeUnsupported {
        /// Interface.
        iface: String,
        /// The mode, as the user would name it (`native`, `generic`, `zero-copy`).
        mode: &'static str,
        /// The kernel's reason.
        detail: String,
    },
    /// TX checksum offload through AF_XDP TX metadata was asked for but is not available.
    TxChecksumUnsupported {
        /// Interface.
        iface: String,
        /// What is missing.
        detail: String,
    },
    /// The MTU needs frames over several UMEM chunks (multi-buffer AF_XDP, `XDP_USE_SG`),
    /// which the driver, the kernel or the configuration cannot give.
    MultiBufferUnsupported {
        /// Interface.
        iface: String,
        /// Its MTU.
        mtu: usize,
        /// The largest MTU that would work: the most that fits one UMEM chunk of the
        /// configured size, or the most xdptcp takes at all.
        max_mtu: usize,
        /// What is missing.
        detail: String,
    },
    /// Another XDP program is attached to the interface.
    AlreadyAttached {
        /// Interface.
        iface: String,
        /// Its program id (`bpftool prog show id N`).
        prog_id: u32,
    },
    /// The configuration is inconsistent (batch size, ring sizes, frame count).
    InvalidConfig(String),
    /// A BPF or socket operation failed for another reason.
    Os {
        /// What was being done.
        action: &'static str,
        /// The OS error number.
        errno: i32,
    },
}

impl DriverError {
    /// Maps an errno from `action` to the most specific error.
    pub(crate) fn from_errno(action: &'static str, errno: i32) -> Self {
        match errno {
            libc::EPERM | libc::EACCES => DriverError::Permission { action },
            _ => DriverError::Os { action, errno },
        }
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Permission { action } => write!(
                f,
                "permission denied while {action}: run as root or grant CAP_NET_ADMIN, \
                 CAP_NET_RAW and CAP_BPF (CAP_SYS_ADMIN on kernels before 5.8)"
            ),
            DriverError::UnknownInterface { iface } => {
                write!(f, "no network interface named {iface:?} (see `ip link`)")
            }
            DriverError::QueueOutOfRange { iface, queue, queues } => write!(
                f,
                "queue {queue} is out of range: {iface} has {queues} queue(s), numbered 0..{}",
                queues.saturating_sub(1)
            ),
            DriverError::ModeUnsupported { iface, mode, detail } => write!(
                f,
                "{mode} mode is not supported on {iface} ({detail}); try mode auto, or \
                 generic/copy"
            ),
            DriverError::TxChecksumUnsupported { iface, detail } => write!(
                f,
                "TX checksum offload is not available on {iface} ({detail}); use \
                 --tx-checksum auto or software"
            ),
            DriverError::MultiBufferUnsupported { iface, mtu, max_mtu, detail } => {
                write!(
                    f,
                    "MTU {mtu} of {iface} needs frames over several UMEM chunks (multi-buffer \
                     AF_XDP) but {detail}; lower the MTU to {max_mtu} or less (ip link \
                     set {iface} mtu {max_mtu})"
                )
            }
            DriverError::AlreadyAttached { iface, prog_id } => write!(
                f,
                "an XDP program (id {prog_id}) is already attached to {iface}; remove it with \
                 `xdptcp detach --iface {iface}`"
            ),
            DriverError::InvalidConfig(why) => write!(f, "invalid AF_XDP configuration: {why}"),
            DriverError::Os { action, errno } => {
                write!(f, "{action} failed: {}", std::io::Error::from_raw_os_error(*errno))
            }
        }
    }
}

impl std::error::Error for DriverError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_fix() {
        let errs = [
            DriverError::Permission { action: "loading the XDP program" },
            DriverError::UnknownInterface { iface: "nope0".into() },
            DriverError::QueueOutOfRange { iface: "veth0".into(), queue: 5, queues: 2 },
            DriverError::MultiBufferUnsupported {
                iface: "veth0".into(),
                mtu: 9000,
                max_mtu: 4096 - 256 - 14,
                detail: "the driver reports no XDP multi-buffer (rx-sg) support".into(),
            },
            DriverError::AlreadyAttached { iface: "veth0".into(), prog_id: 42 },
            DriverError::from_errno("creating the socket", libc::ENOMEM),
            DriverError::TxChecksumUnsupported {
                iface: "eth1".into(),
                detail: "the driver reports no xsk tx-checksum feature".into(),
            },
        ];
        for e in &errs {
            let s = e.to_string();
            assert!(!s.contains('\n'), "{s}");
        }
        assert!(errs[0].to_string().contains("CAP_NET_ADMIN"));
        assert!(errs[0].to_string().contains("CAP_BPF"));
        assert!(errs[2].to_string().contains("has 2 queue"));
        let jumbo = errs[3].to_string();
        assert!(jumbo.contains("9000") && jumbo.contains("rx-sg"), "{jumbo}");
        assert!(jumbo.contains("mtu 3826"), "4096 - 256 - 14: {jumbo}");
        assert!(errs[4].to_string().contains("xdptcp detach --iface veth0"));
        assert!(errs[6].to_string().contains("--tx-checksum auto or software"));
        assert_eq!(
            DriverError::from_errno("x", libc::EPERM),
            DriverError::Permission { action: "x" }
        );
    }
}
