//! What this machine's memory allows a server at scale: frames per second when each frame
//! touches K cache lines of one of N connection-sized slots, drawn at random, with
//! a fixed amount of other work per frame, under three ways of getting the lines in.
//!
//! ```text
//! cargo run --release -p xdptcp-driver --example line_probe -- 100000 12 90
//! ```
//!
//! Arguments: slots (N), lines touched per frame (K, 1-16, consecutive lines of a slot), and
//! units of work per frame (a dependent multiply chain; about 90 units take what the stack's
//! own handling of a frame takes at N = 1,000 on the 2-vCPU Xeon guest of
//! docs/benchmarks.md). Prints ns per frame for:
//!
//! - `none`: nothing read ahead, every line a miss where it is used;
//! - `demand`: what `Stack::receive_batch` does, one load per line for a window of 16 frames,
//!   then the window handled;
//! - `prefetch`: the next window's lines prefetched into L2 while this window is handled.
//!
//! Set beside the stack's `server_path` rows, it tells what a layout (K) and a look-ahead
//! could reach on the machine at hand ("The lines a frame may cost, measured apart from the
//! stack" in docs/benchmarks.md). Bad arguments exit with a one-line error.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;
use xdptcp_stack::rng::{mix64, GOLDEN_GAMMA};

/// A slot: `Socket`'s size (a connection and its record) when the probe was measured, in
/// words (1,792 bytes; 1,728 since a connection is 26 lines, docs/benchmarks.md "Seven
/// lines"), kept so that its figures stay comparable.
const SLOT_WORDS: usize = 1792 / 8;
/// The first line touched: the connection's hot lines start at line 12.
const FIRST_LINE: usize = 12;
/// Frames per window, as `stack::batch`'s.
const WINDOW: usize = 16;
/// Frames per measurement.
const FRAMES: usize = 4_000_000;

#[derive(Clone, Copy)]
enum Mode {
    None,
    Demand,
    Prefetch,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("line_probe: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [slots, lines, work] = args.as_slice() else {
        return Err("usage: line_probe SLOTS LINES WORK (e.g. 100000 12 90)".into());
    };
    let slots: usize = parse(slots, "SLOTS", 1, 10_000_000)?;
    let lines: usize = parse(lines, "LINES", 1, (SLOT_WORDS / 8) - FIRST_LINE)?;
    let work: u32 = parse(work, "WORK", 0, 100_000)? as u32;
    let probe = Probe::new(slots, lines);
    for (name, mode) in
        [("none", Mode::None), ("demand", Mode::Demand), ("prefetch", Mode::Prefetch)]
    {
        let mut p = probe.clone();
        let ns = p.run(mode, work);
        println!("slots={slots} lines={lines} work={work} {name}: {ns:.1} ns/frame");
    }
    Ok(())
}

fn parse(s: &str, what: &str, min: usize, max: usize) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("{what} must be a whole number from {min} to {max}, not {s:?}")),
    }
}

#[derive(Clone)]
struct Probe {
    memory: Vec<u64>,
    slots: usize,
    /// Word offsets of the touched lines within a slot.
    words: Vec<usize>,
}

impl Probe {
    fn new(slots: usize, lines: usize) -> Probe {
        Probe {
            memory: vec![0; slots * SLOT_WORDS],
            slots,
            words: (0..lines).map(|l| (FIRST_LINE + l) * 8).collect(),
        }
    }

    /// Frame `frame`'s slot, in words: drawn at random (SplitMix64 of the frame number, so
    /// that the look-ahead can name any frame's slot), as `server_path`'s shuffled rounds
    /// make them: no stride for a prefetcher to follow.
    fn slot(&self, frame: usize) -> usize {
        let z = mix64((frame as u64).wrapping_add(1).wrapping_mul(GOLDEN_GAMMA));
        (z % self.slots as u64) as usize * SLOT_WORDS
    }

    /// Runs `FRAMES` frames; ns per frame.
    fn run(&mut self, mode: Mode, work: u32) -> f64 {
        let start = Instant::now();
        let mut acc = 0u64;
        for base in (0..FRAMES).step_by(WINDOW) {
            match mode {
                Mode::None => {}
                Mode::Demand => {
                    let mut a = 0;
                    for f in base..base + WINDOW {
                        let s = self.slot(f);
                        for &w in &self.words {
                            a ^= self.memory[s + w];
                        }
                    }
                    acc ^= black_box(a);
                }
                Mode::Prefetch => {
                    for f in base + WINDOW..base + 2 * WINDOW {
                        let s = self.slot(f);
                        for &w in &self.words {
                            xdptcp_driver::prefetch::l2(self.memory[s + w..].as_ptr().cast(), 1);
                        }
                    }
                }
            }
            for f in base..base + WINDOW {
                let s = self.slot(f);
                for &w in &self.words {
                    self.memory[s + w] = self.memory[s + w].wrapping_add(1);
                }
                acc = chain(acc, work);
            }
        }
        black_box(acc);
        start.elapsed().as_nanos() as f64 / FRAMES as f64
    }
}

/// `units` dependent multiply-adds: work that no memory access shortens.
fn chain(mut x: u64, units: u32) -> u64 {
    for _ in 0..units {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407)
            ^ (x >> 13);
    }
    x
}
