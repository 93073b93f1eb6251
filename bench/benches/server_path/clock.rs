//! The clock of the timed parts. By default wall time, as every criterion suite measures.
//! With `XDPTCP_BENCH_CLOCK=thread-cpu`, the CPU time of the benchmark's thread
//! (`CLOCK_THREAD_CPUTIME_ID`): on a machine shared with other jobs, time spent preempted
//! then does not count, while everything the server does on the core (cache misses
//! included) still does. On an idle machine the two agree; "frames per second per core" is
//! frames per CPU-second of the one thread that runs the server.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Wall,
    ThreadCpu,
}

impl Clock {
    /// The clock `XDPTCP_BENCH_CLOCK` names (`wall`, the default, or `thread-cpu`). Any other
    /// value is a mistake worth stopping for.
    pub fn from_env() -> Clock {
        match std::env::var("XDPTCP_BENCH_CLOCK").as_deref() {
            Err(_) | Ok("wall") => Clock::Wall,
            Ok("thread-cpu") => Clock::ThreadCpu,
            Ok(other) => panic!("XDPTCP_BENCH_CLOCK={other}: want wall or thread-cpu"),
        }
    }

    /// What an empty timed region measures on this clock (the median of 201): about 35 ns of
    /// wall time on this machine's vDSO clock, but about 850 ns of CPU time for the thread
    /// CPU clock's system call in this VM. Subtracted from every measurement.
    pub fn overhead(self) -> Duration {
        let mut v: Vec<Duration> = (0..201)
            .map(|_| {
                let t = self.now();
                self.now().saturating_sub(t)
            })
            .collect();
        v.sort_unstable();
        v[v.len() / 2]
    }

    /// The time on this clock since an arbitrary origin.
    pub fn now(self) -> Duration {
        match self {
            Clock::Wall => {
                static ORIGIN: OnceLock<Instant> = OnceLock::new();
                ORIGIN.get_or_init(Instant::now).elapsed()
            }
            Clock::ThreadCpu => {
                let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
                    .expect("Linux has a thread CPU clock");
                Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
            }
        }
    }
}
