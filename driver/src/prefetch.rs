//! Cache-line prefetch: the instruction behind a look-ahead that overlaps the fetch of lines
//! with other work (`examples/line_probe`). The sans-IO stack has no `unsafe`, so it is
//! issued here.

/// Starts fetching `lines` cache lines from `p` on into the L2 cache (`prefetcht1` on
/// x86-64; nothing elsewhere) and returns at once, without reading them: the stack's
/// [`Prefetch`](xdptcp_stack::stack::Prefetch).
#[inline]
pub fn l2(p: *const u8, lines: usize) {
    // Unrolled for the runs a look-ahead asks for (a connection's hot lines: 7), so the
    // prefetches go out back to back.
    for i in 0..MAX_RUN {
        if i < lines {
            line_l2(p.wrapping_add(64 * i));
        }
    }
    for i in MAX_RUN..lines {
        line_l2(p.wrapping_add(64 * i));
    }
}

/// Lines of a run issued from an unrolled loop; longer runs finish in a plain one.
const MAX_RUN: usize = 8;

/// One line into the L2 cache.
#[inline(always)]
fn line_l2(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and makes nothing visible to the program,
    // whatever `p` points at, or if it points at nothing.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Sets `config` up for the staged RX look-ahead as a worker runs it: this module's [`l2`]
/// as the prefetch, from as many connections as this machine's L2 cache calls for
/// ([`xdptcp_stack::stack::staged_from`]); where the size cannot be read, the stack's
/// default count stays.
pub fn configure(config: &mut xdptcp_stack::stack::StackConfig) {
    config.prefetch = Some(l2);
    if let Some(l2) = l2_bytes() {
        config.prefetch_from = xdptcp_stack::stack::staged_from(l2);
    }
}

/// The size of one core's L2 cache, as Linux reports it for CPU 0
/// (`/sys/devices/system/cpu/cpu0/cache/index*/{level,size}`), read once.
pub fn l2_bytes() -> Option<usize> {
    static L2: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *L2.get_or_init(|| {
        (0..8).find_map(|i| {
            let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
            let level = std::fs::read_to_string(format!("{dir}/level")).ok()?;
            if level.trim() != "2" {
                return None;
            }
            cache_size(&std::fs::read_to_string(format!("{dir}/size")).ok()?)
        })
    })
}

/// A cache size as sysfs writes it: `1024K`, `2M` or bytes.
fn cache_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, unit) = match s.strip_suffix('K') {
        Some(d) => (d, 1 << 10),
        None => match s.strip_suffix('M') {
            Some(d) => (d, 1 << 20),
            None => (s, 1),
        },
    };
    digits.parse::<usize>().ok()?.checked_mul(unit).filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_as_sysfs_writes_them() {
        assert_eq!(cache_size("1024K\n"), Some(1 << 20));
        assert_eq!(cache_size("2M"), Some(2 << 20));
        assert_eq!(cache_size("65536"), Some(65536));
        assert_eq!(cache_size("0K"), None);
        assert_eq!(cache_size("K"), None);
        assert_eq!(cache_size("lots"), None);
    }

    #[test]
    fn configure_stages_from_the_l2s_worth_of_connections() {
        use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
        use xdptcp_stack::stack::{staged_from, StackConfig, StackKeys};
        use xdptcp_stack::wire::ethernet::EthernetAddress;
        let iface = InterfaceConfig::new(
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            std::net::Ipv4Addr::new(198, 18, 0, 1),
            24,
        );
        let mut config =
            StackConfig::new(iface, DeviceCaps::ethernet(1500), StackKeys::from_seed(1));
        let default = config.prefetch_from;
        configure(&mut config);
        assert!(config.prefetch.is_some());
        assert_eq!(config.prefetch_from, l2_bytes().map_or(default, staged_from));
        assert_eq!(default, staged_from(1 << 20), "the stack's default is a 1 MiB L2's");
        // Twice the L2 in look-ahead lines: about 3,300 connections for 1 MiB.
        assert!((3_000..3_500).contains(&staged_from(1 << 20)));
    }
}
