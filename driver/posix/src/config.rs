//! Adapter configuration: addresses, MTU, clock, seed and the TCP profile, parsed from the
//! `key=value,key=value` string packetdrill passes as `--so_flags`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig, Ipv6Cidr, Ipv6Config};
use xdptcp_stack::stack::{StackConfig, StackKeys};
use xdptcp_stack::tcp::{BufferSizes, TcpConfig};
use xdptcp_stack::time::Duration;
use xdptcp_stack::wire::ethernet::EthernetAddress;

/// Which clock the stack runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Virtual time: it moves only when `usleep` (or `advance`) moves it, plus `tick` per
    /// clock read so that a caller spinning on `gettimeofday` makes progress. Runs are
    /// deterministic: the same script gives the same packets at the same times.
    Virtual {
        /// Time added by every clock read: 1 µs by default.
        tick: Duration,
    },
    /// The host's monotonic clock; blocking calls wait in real time.
    Real,
}

/// Everything a [`Posix`](crate::Posix) instance needs.
#[derive(Clone, Debug)]
pub struct PosixConfig {
    /// Our address: packetdrill's default local address 192.168.0.1.
    pub local_ip: Ipv4Addr,
    /// Our prefix length: 16 (the medium is point-to-point, so it only matters for UDP
    /// broadcast checks).
    pub prefix_len: u8,
    /// Our IPv6 address: `fd3d:a0b:17d6::1`, the local address Linux's packetdrill selftests
    /// give `--ip_version=ipv6` (`tools/testing/selftests/net/packetdrill/ksft_runner.sh`).
    /// IPv6 runs beside IPv4 on the same device (an `AF_INET6` socket may talk either); the
    /// address is usable at once (no duplicate address detection: the device is
    /// point-to-point) and is the source of every connection to an IPv6 peer.
    pub local_ip6: Ipv6Addr,
    /// MTU of the raw-IP device: 1500.
    pub mtu: usize,
    /// The clock: virtual by default.
    pub clock: ClockMode,
    /// Seed of the stack's keys (ISNs, SYN cookies, timestamp offsets, ports, hashing), for
    /// runs that repeat exactly. `None` (the default): the keys are drawn from the OS
    /// (`/dev/urandom`) when the instance starts, so that a peer cannot predict sequence
    /// numbers or forge cookies (RFC 6528 §3 asks for a secret key; RFC 4987 §3.6 likewise).
    pub seed: Option<u64>,
    /// TCP defaults for new sockets: [`suite_profile`], the Linux host that google's
    /// packetdrill TCP suite assumes.
    pub tcp: TcpConfig,
    /// Most descriptors open at once: 4096.
    pub max_fds: usize,
    /// Packets the stack sent that wait for `netdev_receive`; older ones are dropped beyond
    /// this: 4096.
    pub outbound_capacity: usize,
    /// Seconds since the Unix epoch that `gettimeofday` reports at virtual time zero.
    pub epoch_secs: u64,
    /// How long (real time) the C `netdev_receive` waits for a packet another thread may
    /// cause, after jumping through the stack's timers: 2000 ms. packetdrill only asks when
    /// it expects a packet, and fails on an empty answer, so waiting a little helps.
    pub rx_wait_ms: u64,
    /// A directory of Linux TCP sysctls (`/proc/sys/net/ipv4` of the caller's network
    /// namespace) read at every `connect` and `listen` over [`tcp`](Self::tcp): see
    /// [`apply_sysctls`]. `None` (the default): the profile alone.
    pub sysctls: Option<PathBuf>,
}

impl Default for PosixConfig {
    fn default() -> Self {
        PosixConfig {
            local_ip: Ipv4Addr::new(192, 168, 0, 1),
            prefix_len: 16,
            local_ip6: Ipv6Addr::new(0xfd3d, 0x0a0b, 0x17d6, 0, 0, 0, 0, 1),
            mtu: 1500,
            clock: ClockMode::Virtual { tick: Duration::from_micros(1) },
            seed: None,
            tcp: suite_profile(),
            max_fds: 4096,
            outbound_capacity: 4096,
            epoch_secs: 1_700_000_000,
            rx_wait_ms: 2000,
            sysctls: None,
        }
    }
}

/// The Linux TCP profile ([`TcpConfig::linux`]), named here so that packetdrill scripts
/// written against Linux keep their expectations even if the stack's defaults move away from
/// it.
pub fn linux_profile() -> TcpConfig {
    TcpConfig::linux()
}

/// The Linux host google's packetdrill TCP suite is written for: [`linux_profile`] with the
/// sysctls its `common/defaults.sh` sets (every script runs that first), so that the adapter
/// answers the suite's scripts as such a host would. Settings the stack has no knob for
/// (`tcp_fastopen`, the qdisc) are left out; the rest are the same as Linux's defaults
/// already (`tcp_frto` 2, `tcp_sack`, `tcp_dsack`, `tcp_reordering` 3, `tcp_recovery` 1,
/// CUBIC, `tcp_timestamps`, `tcp_syncookies`, unlimited `tcp_notsent_lowat`).
pub fn suite_profile() -> TcpConfig {
    TcpConfig {
        // net.ipv4.tcp_rmem = "4096 540000 15728640": a 15 MiB maximum offers window scale 8.
        rmem: BufferSizes { min: 4096, default: 540_000, max: 15 << 20 },
        // net.ipv4.tcp_wmem = "4096 262144 4194304".
        wmem: BufferSizes { min: 4096, default: 256 << 10, max: 4 << 20 },
        // net.ipv4.tcp_syn_retries = 5, tcp_synack_retries = 5.
        syn_retries: 5,
        synack_retries: 5,
        // net.ipv4.tcp_ecn = 0: ECN neither asked for nor accepted.
        ecn: false,
        // The suite's host paces: scripts install the fq qdisc (sch_fq paces every flow at
        // `sk_pacing_rate`), and where fq is missing (this machine's kernel) BBR, the
        // default congestion control a namespace gets here, asks for Linux's internal pacing
        // (`SK_PACING_NEEDED`). `slow-start-fq-ack-per-2pkt` checks its timing.
        ..linux_profile().with_pacing(true)
    }
}

impl PosixConfig {
    /// Parses `--so_flags`: comma-separated `key=value` pairs over the defaults. Keys:
    /// `local_ip` (an IPv4 address sets [`local_ip`](Self::local_ip), an IPv6 one
    /// [`local_ip6`](Self::local_ip6), as packetdrill's `--local_ip` takes either), `prefix_len`, `mtu`, `clock` (`virtual`|`real`), `tick_us`, `seed`,
    /// `mss`, `rcvbuf`, `sndbuf`, `nodelay`, `timestamps`, `sack`, `wscale`, `iw`, `rto_ms`,
    /// `rto_min_ms`, `delack_ms`, `syn_retries`, `pacing`, `rx_wait_ms`, `max_fds`, `sysctls`
    /// (a directory). Empty input gives the defaults.
    pub fn parse(flags: &str) -> Result<PosixConfig, String> {
        let mut c = PosixConfig::default();
        let mut mss_given = false;
        for item in flags.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| format!("{item}: no '='"))?;
            let num = || value.parse::<u64>().map_err(|_| format!("{key}: bad number {value}"));
            let flag = || match value {
                "1" | "on" | "true" | "yes" => Ok(true),
                "0" | "off" | "false" | "no" => Ok(false),
                _ => Err(format!("{key}: expected on/off, got {value}")),
            };
            match key {
                "local_ip" => match value.parse().map_err(|_| format!("bad ip {value}"))? {
                    IpAddr::V4(a) => c.local_ip = a,
                    IpAddr::V6(a) if a.is_unspecified() || a.is_multicast() => {
                        return Err(format!("local_ip: {value} cannot be an address of ours"))
                    }
                    IpAddr::V6(a) => c.local_ip6 = a,
                },
                "prefix_len" => c.prefix_len = num()?.min(32) as u8,
                "mtu" => c.mtu = (num()? as usize).clamp(576, 65535),
                "clock" => {
                    c.clock = match value {
                        "virtual" => ClockMode::Virtual { tick: Duration::from_micros(1) },
                        "real" => ClockMode::Real,
                        _ => return Err(format!("clock: expected virtual or real, got {value}")),
                    }
                }
                "tick_us" => {
                    if let ClockMode::Virtual { tick } = &mut c.clock {
                        *tick = Duration::from_micros(num()?);
                    }
                }
                "seed" => c.seed = Some(num()?),
                "mss" => {
                    c.tcp.mss = num()?.clamp(64, 65495) as u16;
                    mss_given = true;
                }
                // Fixed sizes, as SO_RCVBUF/SO_SNDBUF give (no auto-tuning).
                "rcvbuf" => c.tcp.rmem = BufferSizes::fixed((num()? as usize).max(2048)),
                "sndbuf" => c.tcp.wmem = BufferSizes::fixed((num()? as usize).max(2048)),
                "nodelay" => c.tcp.set_nodelay(flag()?),
                "timestamps" => c.tcp.timestamps = flag()?,
                "sack" => c.tcp.sack = flag()?,
                "wscale" => c.tcp.window_scaling = flag()?,
                "iw" => c.tcp.initial_cwnd_segments = num()?.clamp(1, 1000) as u16,
                "rto_ms" => c.tcp.initial_rto = Duration::from_millis(num()?),
                "rto_min_ms" => c.tcp.min_rto = Duration::from_millis(num()?),
                "delack_ms" => c.tcp.delayed_ack_timeout = Duration::from_millis(num()?),
                "syn_retries" => c.tcp.syn_retries = num()?.min(255) as u8,
                "pacing" => c.tcp.set_pacing(flag()?),
                "rx_wait_ms" => c.rx_wait_ms = num()?,
                "max_fds" => c.max_fds = (num()? as usize).clamp(8, 1 << 20),
                "sysctls" => {
                    let dir = PathBuf::from(value);
                    if !dir.is_dir() {
                        return Err(format!("sysctls: {value} is not a directory"));
                    }
                    c.sysctls = Some(dir);
                }
                _ => return Err(format!("unknown flag {key}")),
            }
        }
        if !mss_given {
            // RFC 9293 §3.7.1: the MSS follows from the MTU (less 40 header bytes).
            c.tcp.mss = c.mtu.saturating_sub(40).min(usize::from(u16::MAX)) as u16;
        }
        Ok(c)
    }

    /// The stack's keys: from `seed` if one was given, else from the OS.
    ///
    /// # Panics
    /// If no seed was given and `/dev/urandom` cannot be read: running on predictable keys
    /// instead would be the very weakness the OS keys exist to avoid. (The C API reports the
    /// panic as a failed `xdptcp_new`.)
    pub fn stack_keys(&self) -> StackKeys {
        match self.seed {
            Some(seed) => StackKeys::from_seed(seed),
            None => os_keys().unwrap_or_else(|e| {
                panic!("xdptcp-posix: no seed given and /dev/urandom unreadable: {e}")
            }),
        }
    }

    /// The stack configuration: a raw-IP (`Medium::Ip`) device with software checksums,
    /// IPv4 at [`local_ip`](Self::local_ip) and IPv6 at [`local_ip6`](Self::local_ip6), and
    /// keys from [`stack_keys`](Self::stack_keys).
    pub fn stack_config(&self) -> StackConfig {
        let mut iface = InterfaceConfig::new(
            EthernetAddress([0x02, 0, 0, 0, 0, 1]),
            self.local_ip,
            self.prefix_len,
        );
        iface.ipv6 = Ipv6Config::with_addresses(vec![Ipv6Cidr::new(self.local_ip6, 64)]);
        // A point-to-point raw-IP device has no one to ask: no detection probes, no router
        // advertisements to wait for, nothing sent that a packetdrill script did not ask for.
        iface.ipv6.dad_transmits = 0;
        iface.ipv6.accept_ra = false;
        let mut sc = StackConfig::new(iface, DeviceCaps::ip(self.mtu), self.stack_keys());
        sc.tcp = self.tcp;
        sc.max_connections = 4096;
        sc
    }
}

/// `base` with the Linux TCP sysctls found in `dir` applied, the way a Linux host applies
/// them to a socket that connects or listens now. Packetdrill scripts change sysctls with
/// shell lines (`sysctl -q net.ipv4.tcp_ecn=1`) in the network namespace they run in; an
/// adapter started with `sysctls=/proc/sys/net/ipv4` then sees the same knobs the kernel
/// would. Only sysctls the stack models are read: `tcp_rmem`, `tcp_wmem` (three numbers),
/// `tcp_syn_retries`, `tcp_synack_retries`, `tcp_timestamps`, `tcp_sack`,
/// `tcp_window_scaling`, `tcp_ecn` (1 asks for and accepts ECN, RFC 3168 §6.1.1; 0 and 2
/// leave it off: the stack has no accept-only mode), `tcp_frto` (0 turns F-RTO off; 1 and 2
/// both turn it on, as in Linux today, which no longer tells them apart) and
/// `tcp_notsent_lowat`. A file that is
/// missing or does not parse leaves the base value (never a panic: the files are input).
pub fn apply_sysctls(base: &TcpConfig, dir: &Path) -> TcpConfig {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let num = |name: &str| read(name).and_then(|s| s.trim().parse::<u64>().ok());
    let triple = |name: &str| {
        let s = read(name)?;
        let v: Vec<usize> = s.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        match v[..] {
            [min, default, max] if min <= default && default <= max => {
                Some(BufferSizes { min, default, max })
            }
            _ => None,
        }
    };
    let mut c = *base;
    if let Some(b) = triple("tcp_rmem") {
        c.rmem = b;
    }
    if let Some(b) = triple("tcp_wmem") {
        c.wmem = b;
    }
    if let Some(n) = num("tcp_syn_retries") {
        c.syn_retries = n.min(255) as u8;
    }
    if let Some(n) = num("tcp_synack_retries") {
        c.synack_retries = n.min(255) as u8;
    }
    if let Some(n) = num("tcp_timestamps") {
        c.timestamps = n != 0;
    }
    if let Some(n) = num("tcp_sack") {
        c.sack = n != 0;
    }
    if let Some(n) = num("tcp_window_scaling") {
        c.window_scaling = n != 0;
    }
    if let Some(n) = num("tcp_ecn") {
        c.ecn = n == 1;
    }
    if let Some(n) = num("tcp_frto") {
        c.set_frto(n != 0);
    }
    if let Some(n) = num("tcp_notsent_lowat") {
        c.notsent_lowat = u32::try_from(n).unwrap_or(u32::MAX);
    }
    c
}

/// Four 128-bit keys from the kernel's CSPRNG.
fn os_keys() -> std::io::Result<StackKeys> {
    use std::io::Read;
    let mut b = [0u8; 64];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    let key = |i: usize| -> [u8; 16] {
        let mut k = [0u8; 16];
        k.copy_from_slice(&b[i * 16..i * 16 + 16]);
        k
    };
    Ok(StackKeys { flow_hash: key(0), isn: key(1), syncookie: key(2), ports: key(3) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_profile_matches_linux_constants() {
        let p = linux_profile();
        assert_eq!(p.mss, 1460);
        assert!(p.sack && p.timestamps && p.window_scaling);
        assert_eq!(p.initial_cwnd_segments, 10);
        assert_eq!(p.initial_rto, Duration::from_secs(1));
        assert_eq!(p.min_rto, Duration::from_millis(200));
        assert_eq!(p.delayed_ack_timeout, Duration::from_millis(40));
        assert_eq!(p.msl.total_millis() * 2, 60_000);
    }

    #[test]
    fn suite_profile_is_the_suites_defaults_sh() {
        let p = suite_profile();
        assert_eq!((p.rmem.min, p.rmem.default, p.rmem.max), (4096, 540_000, 15_728_640));
        assert_eq!((p.wmem.min, p.wmem.default, p.wmem.max), (4096, 262_144, 4_194_304));
        assert_eq!((p.syn_retries, p.synack_retries), (5, 5));
        // Linux offers window scale 8 with tcp_rmem[2] = 15 MiB (measured on Linux 6.18).
        assert_eq!(p.recv_window_scale(), 8);
        assert!(p.pacing(), "the suite's host paces (fq, or BBR's internal pacing)");
        assert_eq!(PosixConfig::default().tcp, p, "the adapter's default is the suite's profile");
    }

    #[test]
    fn sysctls_from_a_directory_override_the_profile() {
        let dir = std::env::temp_dir().join(format!("xdptcp-sysctls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let put = |name: &str, v: &str| std::fs::write(dir.join(name), v).expect("write");
        put("tcp_ecn", "1\n");
        put("tcp_notsent_lowat", "4000\n");
        put("tcp_rmem", "4096\t131072\t6291456\n");
        put("tcp_wmem", "1 2\n"); // malformed: the profile's stays
        put("tcp_sack", "zero\n"); // malformed: the profile's stays
        let base = suite_profile();
        let c = apply_sysctls(&base, &dir);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(c.ecn);
        assert_eq!(c.notsent_lowat, 4000);
        assert_eq!((c.rmem.min, c.rmem.default, c.rmem.max), (4096, 131_072, 6_291_456));
        assert_eq!(c.wmem, base.wmem);
        assert_eq!(c.sack, base.sack);
        assert_eq!(c.syn_retries, base.syn_retries, "missing file: the profile's value");
        // The flag takes a directory and refuses anything else.
        assert!(PosixConfig::parse("sysctls=/nonexistent/xdptcp").is_err());
        assert!(PosixConfig::parse("").expect("defaults").sysctls.is_none());
    }

    #[test]
    fn sysctl_tcp_frto_turns_f_rto_off_and_on() {
        let dir = std::env::temp_dir().join(format!("xdptcp-frto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let base = suite_profile();
        assert!(base.frto(), "Linux's default tcp_frto = 2");
        let frto_with = |v: &str| {
            std::fs::write(dir.join("tcp_frto"), v).expect("write");
            apply_sysctls(&base, &dir).frto()
        };
        let off = frto_with("0\n");
        let one = frto_with("1\n");
        let one_over_off = apply_sysctls(&base.with_frto(false), &dir).frto();
        let two = frto_with("2\n");
        let bad = frto_with("off\n");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(!off, "tcp_frto = 0 turns F-RTO off");
        assert!(one && one_over_off, "1 (basic F-RTO) turns it on, as in Linux today");
        assert!(two, "2 (SACK-enhanced) turns it on");
        assert!(bad, "a malformed file leaves the profile's value");
        assert_eq!(apply_sysctls(&base, &dir), base, "no file: the profile's value");
    }

    #[test]
    fn parse_flags_over_defaults() {
        let c = PosixConfig::parse("local_ip=10.0.0.2,mtu=1400, clock=real,seed=7,sack=off")
            .expect("valid flags");
        assert_eq!(c.local_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(c.mtu, 1400);
        assert_eq!(c.tcp.mss, 1360);
        assert_eq!(c.clock, ClockMode::Real);
        assert_eq!(c.seed, Some(7));
        assert!(!c.tcp.sack);
        let d = PosixConfig::parse("").expect("empty flags");
        assert_eq!(d.local_ip, Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(d.tcp.mss, 1460);
        assert!(PosixConfig::parse("bogus=1").is_err());
        // packetdrill's --local_ip takes either family, and so does the flag.
        let v6 = PosixConfig::parse("local_ip=fd3d:fa7b:d17d::7").expect("an IPv6 local_ip");
        assert_eq!(v6.local_ip6, "fd3d:fa7b:d17d::7".parse::<Ipv6Addr>().unwrap());
        assert_eq!(v6.local_ip, d.local_ip, "the IPv4 address stays");
        assert_eq!(d.local_ip6, "fd3d:a0b:17d6::1".parse::<Ipv6Addr>().unwrap());
        assert!(PosixConfig::parse("local_ip=::").is_err());
        assert!(PosixConfig::parse("mtu").is_err());
        assert!(PosixConfig::parse("mtu=abc").is_err());
    }
}
