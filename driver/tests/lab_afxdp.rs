//! The AF_XDP data path against Linux, on a veth lab made by scripts/lab.sh.
//!
//! A worker with our XDP program and an AF_XDP socket serves the stack-side namespace; from
//! the kernel-side namespace, Linux pings the stack's address (ARP resolved by our stack) and
//! exchanges a UDP datagram with its echo application. Needs root: without it the tests print
//! "skipped: needs root", unless CI is set, where they fail. Each test makes its own lab with
//! a name from the pid, so tests run in parallel, and removes it on every path (a Drop guard
//! runs during a panic too).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use xdptcp_driver::services::Echo;
use xdptcp_driver::setup;
use xdptcp_driver::worker::{Worker, WorkerCounters};
use xdptcp_driver::xdp::{
    self, BindMode, BusyPoll, BusyPollState, DriverError, TxChecksum, XdpConfig, XdpDevice,
    XdpMode, XdpStats,
};
use xdptcp_driver::{netns, Device};
use xdptcp_driver::{Builder, Host};
use xdptcp_stack::iface::IfaceCounters;

const ECHO_PORT: u16 = 7777;

fn has_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("the AF_XDP lab tests need root, and CI is set");
    }
    eprintln!("skipped: needs root");
    false
}

fn lab_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lab.sh")
}

/// A lab made by scripts/lab.sh; torn down on drop.
struct Lab {
    name: String,
    stack_ns: String,
    stack_if: String,
    stack_ip: Ipv4Addr,
    kernel_ns: String,
}

impl Lab {
    fn up(prefix: &str) -> Lab {
        let name = format!("{prefix}{}", std::process::id() % 100_000);
        let out = Command::new(lab_script()).args(["up", &name]).output().expect("lab.sh runs");
        // Construct the guard before checking, so a half-made lab is removed too.
        let mut lab = Lab {
            name: name.clone(),
            stack_ns: String::new(),
            stack_if: String::new(),
            stack_ip: Ipv4Addr::UNSPECIFIED,
            kernel_ns: String::new(),
        };
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "lab up failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars = text.lines().last().expect("lab.sh prints its variables last");
        for kv in vars.split_whitespace() {
            let (k, v) = kv.split_once('=').expect("KEY=VALUE");
            match k {
                "STACK_NS" => lab.stack_ns = v.into(),
                "STACK_IF" => lab.stack_if = v.into(),
                "STACK_IP" => lab.stack_ip = v.parse().expect("an IPv4 address"),
                "KERNEL_NS" => lab.kernel_ns = v.into(),
                _ => {}
            }
        }
        assert!(!lab.stack_if.is_empty() && !lab.kernel_ns.is_empty(), "{text}");
        lab
    }

    /// Runs a command in the kernel-side namespace with a time limit.
    fn kernel_exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .arg("20")
            .args(["ip", "netns", "exec", &self.kernel_ns])
            .args(args)
            .output()
            .expect("ip netns exec runs")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(lab_script()).args(["down", &self.name]).output();
    }
}

/// What the worker thread reports when it stops.
struct Report {
    worker: WorkerCounters,
    iface: IfaceCounters,
    echoed: u64,
    program: xdp::ProgramStats,
    bind_mode: BindMode,
    xdp_mode: XdpMode,
    free_frames: usize,
    busy_poll: BusyPollState,
    ring: XdpStats,
    tx_checksum: TxChecksum,
    /// `Udp: InCsumErrors` of the kernel-side namespace after the exchange.
    udp_csum_errors_at_peer: u64,
}

/// One counter of the kernel-side namespace's /proc/net/snmp (`Udp`, `InCsumErrors`).
fn peer_snmp(lab: &Lab, group: &str, name: &str) -> u64 {
    let out = lab.kernel_exec(&["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("{group}:");
    let mut rows = text.lines().filter(|l| l.starts_with(&prefix));
    let (names, values) = (rows.next().expect("header row"), rows.next().expect("value row"));
    let at = names.split_whitespace().position(|n| n == name).expect("counter exists");
    values.split_whitespace().nth(at).and_then(|v| v.parse().ok()).expect("a number")
}

#[test]
fn ping_and_udp_echo_through_af_xdp() {
    if !has_root() {
        return;
    }
    let report = ping_and_udp_echo("xa", None, TxChecksum::Auto);
    // veth is copy-only, and in copy mode auto keeps checksums in software (xsk-rs path).
    assert_eq!(report.tx_checksum, TxChecksum::Software);
    assert_eq!(report.ring.tx_checksum_requests, 0);
    assert!(!report.busy_poll.prefer && report.busy_poll.usecs == 0, "{:?}", report.busy_poll);
    assert_eq!(report.ring.busy_polls, 0);
}

/// The same exchange with preferred busy polling on: the kernel reports the three socket
/// options as set, the empty receives polled with `recvfrom`, and traffic still flows.
#[test]
fn busy_poll_options_are_applied_to_the_socket() {
    if !has_root() {
        return;
    }
    let bp = BusyPoll { usecs: 50, budget: 32 };
    let report = ping_and_udp_echo("xp", Some(bp), TxChecksum::Auto);
    let state = report.busy_poll;
    assert!(state.prefer && state.usecs == 50, "{state:?}");
    // Linux has no getsockopt for SO_BUSY_POLL_BUDGET (ENOPROTOOPT); where it has, it must
    // read back as set. Its setsockopt succeeding is checked by the open.
    assert!(state.budget.is_none_or(|b| b == 32), "{state:?}");
    assert!(report.ring.busy_polls > 0, "{:?}", report.ring);
}

/// With `--tx-checksum kernel` the kernel completes each requested checksum in software
/// before the frame leaves, so Linux on the other side verifies the UDP checksum like any
/// other: a wrong seed from the stack, or a request at the wrong offset, loses the echo.
#[test]
fn checksums_completed_from_tx_metadata_verify_at_the_linux_peer() {
    if !has_root() {
        return;
    }
    let report = ping_and_udp_echo("xk", None, TxChecksum::Kernel);
    assert_eq!(report.tx_checksum, TxChecksum::Kernel);
    assert!(report.ring.tx_checksum_requests >= 1, "{:?}", report.ring);
    assert!(report.udp_csum_errors_at_peer == 0, "Linux counted bad UDP checksums");
}

/// An explicit `offload` in copy mode: the request goes to the kernel's skb path, and veth
/// hands the partial checksum to the Linux stack behind it, which accepts it.
#[test]
fn explicit_offload_in_copy_mode_reaches_the_linux_stack() {
    if !has_root() {
        return;
    }
    let report = ping_and_udp_echo("xs", None, TxChecksum::Offload);
    assert_eq!(report.tx_checksum, TxChecksum::Offload);
    assert!(report.ring.tx_checksum_requests >= 1, "{:?}", report.ring);
}

fn ping_and_udp_echo(prefix: &str, busy_poll: Option<BusyPoll>, tx: TxChecksum) -> Report {
    let lab = Lab::up(prefix);
    let (ready_tx, ready) = crossbeam_channel::bounded::<Result<(), String>>(1);
    let (ns, ifname, ip) = (lab.stack_ns.clone(), lab.stack_if.clone(), lab.stack_ip);
    let handle = setup::spawn("afxdp-worker", None, move |shutdown| {
        // The builder binds the UDP port before the socket lets any traffic in.
        let setup = || -> Result<Worker<XdpDevice, Host<Echo>>, String> {
            Builder::new(&ifname, ip)
                .netns(&ns)
                .xdp(|c| {
                    c.frames = 1024;
                    c.ring_size = 512;
                    c.busy_poll = busy_poll;
                    c.tx_checksum = tx;
                })
                .serve(Echo::udp(ECHO_PORT))
        };
        let mut worker = match setup() {
            Ok(w) => w,
            Err(e) => {
                let _ = ready_tx.send(Err(e.clone()));
                return Err(e);
            }
        };
        let _ = ready_tx.send(Ok(()));
        worker.run(&shutdown, Duration::from_micros(200));
        let dev = worker.device();
        Ok(Report {
            worker: worker.counters(),
            iface: worker.stack().iface().counters().clone(),
            echoed: worker.app().service().counters().datagrams,
            program: dev.program().stats(),
            bind_mode: dev.bind_mode(),
            xdp_mode: dev.program().mode(),
            free_frames: dev.free_frames(),
            busy_poll: dev.busy_poll_state().map_err(|e| format!("getsockopt: {e}"))?,
            ring: dev.stats(),
            tx_checksum: dev.tx_checksum(),
            udp_csum_errors_at_peer: 0,
        })
    })
    .expect("worker thread spawns");
    let started = ready.recv_timeout(Duration::from_secs(20)).expect("worker reports");
    if let Err(e) = started {
        let _ = handle.stop();
        panic!("AF_XDP setup failed: {e}");
    }

    // ICMP echo: the kernel resolves our MAC by ARP (answered by our stack) and pings.
    let target = lab.stack_ip.to_string();
    let ping = lab.kernel_exec(&["ping", "-c", "5", "-i", "0.2", "-W", "2", &target]);
    let ping_out = String::from_utf8_lossy(&ping.stdout).to_string();

    // UDP echo, byte-exact, retried a few times in case the first datagram races ARP.
    let payload = format!("xdptcp echo {} \u{2713}", std::process::id());
    let py = format!(
        "import socket,sys\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)\n\
         msg={payload:?}.encode()\n\
         for _ in range(3):\n\
         \x20   s.sendto(msg,({target:?},{ECHO_PORT}))\n\
         \x20   try:\n\
         \x20       data,peer=s.recvfrom(4096)\n\
         \x20   except socket.timeout:\n\
         \x20       continue\n\
         \x20   sys.stdout.buffer.write(data); sys.exit(0 if peer==({target:?},{ECHO_PORT}) else 3)\n\
         sys.exit(2)\n"
    );
    let udp = lab.kernel_exec(&["python3", "-c", &py]);

    let mut report = handle.stop().expect("worker did not panic").expect("worker ran");
    report.udp_csum_errors_at_peer = peer_snmp(&lab, "Udp", "InCsumErrors");
    let link = Command::new("ip")
        .args(["-n", &lab.stack_ns, "link", "show", &lab.stack_if])
        .output()
        .expect("ip runs");
    drop(lab);

    assert!(ping.status.success() && ping_out.contains("5 received"), "ping: {ping_out}");
    assert!(
        udp.status.success(),
        "udp echo failed: {:?} {}",
        udp.status,
        String::from_utf8_lossy(&udp.stderr)
    );
    assert_eq!(udp.stdout, payload.as_bytes(), "echo must be byte-exact");

    let c = &report.iface;
    assert!(c.arp_replies_sent >= 1, "our stack answered ARP: {c:?}");
    assert!(c.icmp_echo_replied >= 5, "{c:?}");
    assert!(c.udp_delivered >= 1 && report.echoed >= 1);
    assert_eq!(c.rx_bad_icmp_checksum + c.rx_bad_udp_checksum + c.rx_bad_ipv4_checksum, 0);
    assert!(report.worker.rx_frames >= 7 && report.worker.tx_frames >= 7, "{:?}", report.worker);
    assert!(report.program.ipv4_redirected >= 6 && report.program.arp_redirected >= 1);
    assert_eq!(report.bind_mode, BindMode::Copy, "veth has no zero-copy");
    assert_eq!(report.xdp_mode, XdpMode::Native, "veth supports native XDP");
    assert!(report.free_frames > 0);
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(!link.contains("xdp"), "the program was detached when the worker stopped: {link}");
    eprintln!(
        "lab: bind {:?}, xdp {:?}, worker {:?}, program {:?}",
        report.bind_mode, report.xdp_mode, report.worker, report.program
    );
    report
}

#[test]
fn setup_errors_are_clean_messages() {
    // Without root these still hold: they fail before touching the kernel.
    let e = XdpDevice::open(&XdpConfig::new("xdptcp-none0", Ipv4Addr::new(198, 18, 0, 2)))
        .expect_err("no such interface");
    assert_eq!(e, DriverError::UnknownInterface { iface: "xdptcp-none0".into() });
    assert!(xdp::detach("xdptcp-none0").is_err());

    if !has_root() {
        return;
    }
    let lab = Lab::up("xe");
    let (ns, ifname, ip) = (lab.stack_ns.clone(), lab.stack_if.clone(), lab.stack_ip);
    let result = std::thread::spawn(move || -> Vec<String> {
        netns::enter(&ns).expect("enter the lab namespace");
        let mut msgs = Vec::new();
        let base = XdpConfig::new(&ifname, ip);

        let e =
            XdpDevice::open(&XdpConfig { queue: 7, ..base.clone() }).expect_err("veth has 1 queue");
        assert!(matches!(e, DriverError::QueueOutOfRange { queue: 7, queues: 1, .. }), "{e}");
        msgs.push(e.to_string());

        // An MTU above one chunk takes multi-buffer frames: veth offers them (rx-sg) ...
        let status = Command::new("ip").args(["link", "set", &ifname, "mtu", "3000"]).status();
        assert!(status.is_ok_and(|s| s.success()));
        let dev = XdpDevice::open(&base).expect("3000 + 14 + 256 > 2048: two chunks per frame");
        assert_eq!(dev.geometry().chunks, 2);
        assert_eq!(dev.caps().max_frame_len(), 3014);
        drop(dev);
        // ... but not with TX metadata, whose headroom would split a chain's later chunks,
        let kernel = XdpConfig { tx_checksum: TxChecksum::Kernel, ..base.clone() };
        let e = XdpDevice::open(&kernel).expect_err("no TX metadata with multi-buffer");
        assert!(matches!(e, DriverError::MultiBufferUnsupported { mtu: 3000, .. }), "{e}");
        assert!(e.to_string().contains("--tx-checksum auto or software"), "{e}");
        msgs.push(e.to_string());
        // ... and not above the largest jumbo MTU.
        let status = Command::new("ip").args(["link", "set", &ifname, "mtu", "9300"]).status();
        assert!(status.is_ok_and(|s| s.success()));
        let e = XdpDevice::open(&base).expect_err("MTU 9300 > 9216");
        assert!(matches!(e, DriverError::MultiBufferUnsupported { mtu: 9300, .. }), "{e}");
        assert!(e.to_string().contains("mtu 9216"), "{e}");
        msgs.push(e.to_string());
        let _ = Command::new("ip").args(["link", "set", &ifname, "mtu", "1500"]).status();

        // A 9000-byte MTU on a driver whose native XDP has no multi-buffer (lo has no native
        // XDP at all) is refused before anything is attached, saying what to do.
        let _ = Command::new("ip").args(["link", "set", "lo", "mtu", "9000"]).status();
        let native = XdpConfig { xdp_mode: XdpMode::Native, ..XdpConfig::new("lo", ip) };
        let e = XdpDevice::open(&native).expect_err("lo has no rx-sg");
        assert!(matches!(e, DriverError::MultiBufferUnsupported { mtu: 9000, .. }), "{e}");
        assert!(e.to_string().contains("rx-sg"), "{e}");
        assert!(e.to_string().contains("mtu 1778"), "2048 - 256 - 14: {e}");
        msgs.push(e.to_string());
        assert_eq!(xdp::attached_program("lo").expect("lo exists"), None);

        // The namespace's own lo has no native XDP.
        let _ = Command::new("ip").args(["link", "set", "lo", "mtu", "1500"]).status();
        let e =
            XdpDevice::open(&XdpConfig { xdp_mode: XdpMode::Native, ..XdpConfig::new("lo", ip) })
                .expect_err("lo has no native XDP");
        assert!(matches!(e, DriverError::ModeUnsupported { mode: "native", .. }), "{e}");
        msgs.push(e.to_string());

        // Auto falls back to generic XDP where native is refused (lo, MTU set above).
        let lo = XdpDevice::open(&XdpConfig::new("lo", ip)).expect("generic XDP works on lo");
        assert_eq!(lo.program().mode(), XdpMode::Generic);
        assert_eq!(lo.bind_mode(), BindMode::Copy);
        drop(lo);
        assert_eq!(xdp::attached_program("lo").expect("lo exists"), None);

        // Without effective capabilities (per thread on Linux) loading the program is refused
        // with the privilege message.
        let base3 = base.clone();
        let unprivileged = std::thread::spawn(move || {
            drop_effective_capabilities();
            XdpDevice::open(&base3).expect_err("no CAP_BPF / CAP_NET_ADMIN")
        })
        .join()
        .expect("no panic");
        assert!(matches!(unprivileged, DriverError::Permission { .. }), "{unprivileged}");
        msgs.push(unprivileged.to_string());
        assert_eq!(xdp::attached_program(&ifname).expect("iface exists"), None);

        // A panic while a device is open detaches its program during unwinding. (A thread
        // inherits the namespace of the thread that spawns it.)
        let base2 = base.clone();
        let panicked = std::thread::spawn(move || {
            let dev = XdpDevice::open(&base2).expect("opens");
            assert_eq!(dev.caps().mtu, 1500);
            panic!("deliberate panic with the device open");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(xdp::attached_program(&ifname).expect("iface exists"), None);

        // A program left attached is reported, and `detach` removes it.
        let first = XdpDevice::open(&base).expect("first device opens");
        let e = XdpDevice::open(&base).expect_err("a program is attached");
        assert!(matches!(e, DriverError::AlreadyAttached { .. }), "{e}");
        msgs.push(e.to_string());
        std::mem::forget(first); // simulate a crash: the guard does not run
        assert!(xdp::attached_program(&ifname).expect("iface exists").is_some());
        let removed = xdp::detach(&ifname).expect("detach works");
        assert_eq!(removed.len(), 1);
        assert!(xdp::attached_program(&ifname).expect("iface exists").is_none());

        // TX checksum offload asked for where it cannot be had: veth's driver reports no
        // AF_XDP tx-checksum feature (netlink), and the kernel mode is copy-only.
        let zc = XdpConfig { bind: BindMode::ZeroCopy, ..base.clone() };
        let e = XdpDevice::open(&XdpConfig { tx_checksum: TxChecksum::Offload, ..zc.clone() })
            .expect_err("veth has no zero-copy TX metadata");
        assert!(matches!(e, DriverError::TxChecksumUnsupported { .. }), "{e}");
        msgs.push(e.to_string());
        let e = XdpDevice::open(&XdpConfig { tx_checksum: TxChecksum::Kernel, ..zc })
            .expect_err("kernel checksums are copy-mode only");
        assert!(matches!(e, DriverError::InvalidConfig(_)), "{e}");
        msgs.push(e.to_string());
        assert_eq!(xdp::attached_program(&ifname).expect("iface exists"), None);

        msgs
    })
    .join();
    drop(lab);
    let msgs = result.expect("no unexpected panic in the error checks");
    for m in &msgs {
        assert!(!m.contains('\n'), "{m}");
        eprintln!("error message: {m}");
    }
    assert!(msgs[0].contains("has 1 queue"));
    assert!(msgs[1].contains("MTU 3000") && msgs[1].contains("multi-buffer"));
    assert!(msgs[2].contains("MTU 9300") && msgs[2].contains("up to 9216"));
    assert!(msgs[3].contains("MTU 9000") && msgs[3].contains("lower the MTU"));
    assert!(msgs[5].contains("CAP_NET_ADMIN") && msgs[5].contains("CAP_BPF"));
    assert!(msgs[6].contains("xdptcp detach --iface"));
    assert!(msgs[7].contains("tx-checksum feature") && msgs[7].contains("--tx-checksum auto"));
    assert!(msgs[8].contains("copy mode only"));
}

/// Clears the calling thread's effective capability set (the permitted set is kept; the
/// thread ends soon after).
fn drop_effective_capabilities() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522; // _LINUX_CAPABILITY_VERSION_3: two Data words
    let mut header = Header { version: VERSION_3, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: capget writes two `Data` for version 3 into `data`, which has room for them.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    assert_eq!(rc, 0, "capget: {}", std::io::Error::last_os_error());
    for d in &mut data {
        d.effective = 0;
    }
    // SAFETY: capset reads the header and two `Data`; pid 0 means the calling thread only.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}
