//! `xdptcp serve-xdp reflect --iface IF --ip ADDR/PREFIX`: the raw AF_XDP reflector
//! (`xdptcp_bench::xdp::reflector`), one pinned thread per queue, until SIGINT/SIGTERM — the
//! ceiling of the wire that `xdptcp bench lab` reports as `raw-xdp`.
//!
//! Same conventions as the other `serve-xdp` applications: the same idle policy
//! (`--idle-wait-after-us`, shared with the stack's workers through
//! [`xdptcp_driver::worker::Idler`]), the same checks before anything is attached, a
//! `listening on ADDR (...)` line once every queue serves, `final qN ...` lines and a
//! `total:` line at the end, exit 0 after a signal, one-line errors otherwise.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::serve_xdp::{kernel_addresses, parse_cidr, parse_cores, Args, BindModeArg, XdpModeArg};
use xdptcp_bench::xdp::reflector::{Reflector, ReflectorCounters};
use xdptcp_driver::setup::pin_to_core;
use xdptcp_driver::signal;
use xdptcp_driver::worker::{IdlePolicy, Idler};
use xdptcp_driver::xdp::{BindMode, NetIf, TxChecksum, XdpConfig, XdpDevice, XdpMode, XdpProgram};

/// What a queue's thread reports once serving.
struct Ready {
    xdp_mode: &'static str,
    bind_mode: &'static str,
}

fn serve_queue(
    config: XdpConfig,
    idle: IdlePolicy,
    program: Option<Arc<XdpProgram>>,
    mac: [u8; 6],
    core: usize,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(Ready, Arc<XdpProgram>), String>>,
) -> Result<ReflectorCounters, String> {
    if !pin_to_core(core) {
        let e = format!("cannot pin queue {} to core {core}", config.queue);
        let _ = ready.send(Err(e.clone()));
        return Err(e);
    }
    let opened = match program {
        Some(p) => XdpDevice::open_on(&config, p),
        None => XdpDevice::open(&config),
    };
    let mut dev = match opened.and_then(|d| d.start().map(|()| d)) {
        Ok(d) => d,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return Err(e.to_string());
        }
    };
    let info = Ready { xdp_mode: dev.program().mode().name(), bind_mode: dev.bind_mode().name() };
    let _ = ready.send(Ok((info, dev.program().clone())));
    let mut reflector = Reflector::new(mac, config.addr, config.batch);
    let start = std::time::Instant::now();
    let clock = || xdptcp_stack::time::Instant::from_nanos(start.elapsed().as_nanos() as u64);
    // The same idle policy as the stack's workers (`--idle-wait-after-us`), so the raw
    // ceiling and the stack's rows idle alike.
    let mut idler = Idler::new(idle, clock());
    let mut idle_steps = 0u32;
    while !signal::requested() && !stop.load(Ordering::Relaxed) {
        let now = clock();
        let moved = reflector.step(&mut dev, now);
        idler.after_step(&mut dev, now, moved, None);
        if moved == 0 && idle == IdlePolicy::BusyPoll {
            // Busy-poll, but give the core away now and then while idle.
            idle_steps += 1;
            if idle_steps.is_multiple_of(64) {
                std::thread::yield_now();
            }
        }
    }
    // The ring work behind the counters (kicks, idle waits), for reading a run.
    println!("device q{}: {:?}", config.queue, dev.stats());
    Ok(reflector.counters())
}

/// Runs the reflector until SIGINT/SIGTERM.
pub fn run(args: &Args) -> Result<(), String> {
    let (addr, _prefix) = parse_cidr(&args.ip)?;
    if args.queues == 0 {
        return Err("--queues must be at least 1".into());
    }
    let netif = NetIf::lookup(&args.iface).map_err(|e| e.to_string())?;
    if args.queues > netif.rx_queues {
        return Err(format!(
            "--queues {}: {} has {} queue(s); raise them with 'ethtool -L {} combined N'",
            args.queues, args.iface, netif.rx_queues, args.iface
        ));
    }
    let cores = match &args.cores {
        Some(s) => parse_cores(s)?,
        None => xdptcp_driver::runtime::default_cores(args.queues as usize),
    };
    if cores.len() != args.queues as usize {
        return Err(format!(
            "--cores names {} core(s) for {} queue(s); give one per queue",
            cores.len(),
            args.queues
        ));
    }
    if kernel_addresses(&args.iface)?.contains(&addr) {
        return Err(format!(
            "{addr} is already an address of the kernel on {}: pick another for the reflector",
            args.iface
        ));
    }
    let base = XdpConfig {
        frame_size: args.frame_size,
        bind: match args.bind_mode {
            BindModeArg::Auto => BindMode::Auto,
            BindModeArg::ZeroCopy => BindMode::ZeroCopy,
            BindModeArg::Copy => BindMode::Copy,
        },
        xdp_mode: match args.xdp_mode {
            XdpModeArg::Auto => XdpMode::Auto,
            XdpModeArg::Native => XdpMode::Native,
            XdpModeArg::Generic => XdpMode::Generic,
        },
        busy_poll: xdptcp_bench::xdp::parse_busy_poll(args.busy_poll_us, args.busy_poll_budget)?,
        // Swapping addresses and ports keeps the peer's complete checksums valid; a TX
        // checksum request would have the device sum over them again.
        tx_checksum: TxChecksum::Software,
        ..XdpConfig::new(&args.iface, addr)
    };
    let idle = xdptcp_bench::xdp::parse_idle(&args.idle_wait_after_us, 0)?;
    signal::install().map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    let mut threads = Vec::new();
    let stop_flag = Arc::new(AtomicBool::new(false));
    let mut program = None;
    let mut modes = ("", "");
    for q in 0..args.queues {
        let config = XdpConfig { queue: q, ..base.clone() };
        let (tx, rx) = mpsc::channel();
        let (p, mac, core) = (program.clone(), netif.mac, cores[q as usize]);
        let flag = stop_flag.clone();
        let t = std::thread::Builder::new()
            .name(format!("reflect-q{q}"))
            .spawn(move || serve_queue(config, idle, p, mac, core, flag, tx))
            .map_err(|e| format!("spawning the thread of queue {q}: {e}"))?;
        threads.push(t);
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok((ready, p))) => {
                modes = (ready.xdp_mode, ready.bind_mode);
                program = Some(p);
            }
            Ok(Err(e)) => {
                stop(threads, &stop_flag);
                return Err(e);
            }
            Err(_) => {
                stop(threads, &stop_flag);
                return Err(format!("queue {q} did not come up"));
            }
        }
    }
    drop(program);
    println!(
        "listening on {addr} (reflect, queues 0-{}, cores {}, xdp {}, bind {})",
        args.queues - 1,
        cores.iter().map(usize::to_string).collect::<Vec<_>>().join(","),
        modes.0,
        modes.1
    );
    while !signal::requested() && !threads.iter().any(|t| t.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopped_by_signal = signal::requested();
    let results = stop(threads, &stop_flag);
    let mut total = ReflectorCounters::default();
    let mut errors = Vec::new();
    for (q, r) in results.into_iter().enumerate() {
        match r {
            Ok(c) => {
                println!(
                    "final q{q} rx {} reflected {} arp-replies {} dropped {} tx-full {}",
                    c.rx, c.reflected, c.arp_replies, c.dropped, c.tx_full
                );
                total.rx += c.rx;
                total.reflected += c.reflected;
                total.arp_replies += c.arp_replies;
                total.dropped += c.dropped;
                total.tx_full += c.tx_full;
            }
            Err(e) => errors.push(e),
        }
    }
    println!(
        "total: rx {} reflected {} arp-replies {} dropped {} tx-full {}",
        total.rx, total.reflected, total.arp_replies, total.dropped, total.tx_full
    );
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    if !stopped_by_signal {
        return Err("a reflector thread stopped unexpectedly".into());
    }
    Ok(())
}

/// Asks every thread to stop (the signal flag they poll) and joins them.
fn stop(
    threads: Vec<std::thread::JoinHandle<Result<ReflectorCounters, String>>>,
    flag: &AtomicBool,
) -> Vec<Result<ReflectorCounters, String>> {
    flag.store(true, Ordering::Relaxed);
    threads
        .into_iter()
        .map(|t| t.join().unwrap_or_else(|_| Err("reflector thread panicked".into())))
        .collect()
}
