//! How a worker thread asks the kernel's scheduler for its core.
//!
//! A worker that sleeps in `poll()` when idle must be woken and put back on its core for every
//! frame that ends its sleep: a SYN, for instance. On a core shared with CPU-bound processes
//! (compilers, other servers), Linux's fair scheduler (EEVDF since 6.6) lets the running
//! process finish its slice before the woken worker runs, so the answer waits milliseconds
//! (measured in the lab: the worker's wake-up-to-running delay had a p99 of 4 ms and a maximum
//! of 54 ms behind `rustc`, while the stack answered the SYN in the same loop iteration it
//! arrived; see docs/tcp-conformance.md, "SYN flood on the lab"). Two ways out:
//!
//! - [`ThreadSched::Slice`]: a short custom slice of the fair scheduler (`sched_setattr` with
//!   `sched_runtime`, Linux 6.12 and later, no privilege needed). A woken task with a shorter
//!   slice than the running one may preempt it at once, while it has not used more than its
//!   fair share; a worker that busy-polls has, and gains nothing.
//! - [`ThreadSched::Fifo`]: the real-time `SCHED_FIFO` class (`CAP_SYS_NICE`), which preempts
//!   every fair task on wake-up. A FIFO worker that never sleeps (`--idle-wait-after-us off`)
//!   keeps its core from every other task but the kernel's real-time throttling (by default
//!   5 % of each second).

use std::io;

/// The scheduling a worker thread asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThreadSched {
    /// Leave the thread as it was started (normally the fair class, the default slice).
    #[default]
    Inherit,
    /// The fair class (`SCHED_OTHER`, nice 0) with this custom slice (the kernel clamps it to
    /// 0.1-100 ms).
    Slice(std::time::Duration),
    /// `SCHED_FIFO` at this priority (1-99).
    Fifo(u8),
}

/// `struct sched_attr` of `sched_setattr(2)`, its first version (48 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

impl ThreadSched {
    /// Parses `inherit`, `slice:US` (microseconds, 100-100000) or `fifo:PRIO` (1-99).
    pub fn parse(s: &str) -> Result<ThreadSched, String> {
        let bad =
            || format!("--sched {s}: expected inherit, slice:US (100-100000) or fifo:PRIO (1-99)");
        match s.split_once(':') {
            None if s == "inherit" => Ok(ThreadSched::Inherit),
            Some(("slice", us)) => match us.parse::<u64>() {
                Ok(us) if (100..=100_000).contains(&us) => {
                    Ok(ThreadSched::Slice(std::time::Duration::from_micros(us)))
                }
                _ => Err(bad()),
            },
            Some(("fifo", p)) => match p.parse::<u8>() {
                Ok(p) if (1..=99).contains(&p) => Ok(ThreadSched::Fifo(p)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }

    /// `inherit`, `slice:US` or `fifo:PRIO`, as [`parse`](Self::parse) reads it.
    pub fn name(&self) -> String {
        match self {
            ThreadSched::Inherit => "inherit".into(),
            ThreadSched::Slice(d) => format!("slice:{}", d.as_micros()),
            ThreadSched::Fifo(p) => format!("fifo:{p}"),
        }
    }

    /// Applies this scheduling to the calling thread (only to it: other threads of the
    /// process keep theirs). [`Inherit`](ThreadSched::Inherit) changes nothing.
    pub fn apply_to_current_thread(&self) -> io::Result<()> {
        let attr = match *self {
            ThreadSched::Inherit => return Ok(()),
            ThreadSched::Slice(d) => SchedAttr {
                policy: libc::SCHED_OTHER as u32,
                runtime: u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
                ..SchedAttr::default()
            },
            ThreadSched::Fifo(p) => SchedAttr {
                policy: libc::SCHED_FIFO as u32,
                priority: u32::from(p),
                ..SchedAttr::default()
            },
        };
        let attr = SchedAttr { size: std::mem::size_of::<SchedAttr>() as u32, ..attr };
        // SAFETY: `attr` is a valid, initialised `struct sched_attr` whose `size` field names
        // its length; the kernel only reads it. Pid 0 is the calling thread.
        let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_and_names_each_form() {
        for s in ["inherit", "slice:100", "slice:1500", "fifo:1", "fifo:99"] {
            assert_eq!(ThreadSched::parse(s).unwrap().name(), s);
        }
        assert_eq!(
            ThreadSched::parse("slice:250"),
            Ok(ThreadSched::Slice(Duration::from_micros(250)))
        );
        for s in ["", "fifo", "fifo:0", "fifo:100", "slice:99", "slice:100001", "slice:x", "rr:5"] {
            assert!(ThreadSched::parse(s).is_err(), "{s}");
        }
    }

    /// The field `name` of `/proc/thread-self/sched` (nanoseconds for `se.slice`).
    fn proc_sched_field(name: &str) -> Option<u64> {
        let text = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        let line = text.lines().find(|l| l.split_whitespace().next() == Some(name))?;
        line.rsplit(':').next()?.trim().split('.').next()?.parse().ok()
    }

    /// Whether the running kernel takes custom slices (6.12 and later).
    fn kernel_has_custom_slices() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut v =
            release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
        (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 12)
    }

    /// The kernel takes the slice for this thread only: it shows in the thread's own
    /// `se.slice`, the policy stays the fair one, and the other threads keep theirs. Runs on
    /// a thread of its own, so the test harness's threads are untouched. Skipped (with a
    /// line saying so) on kernels before 6.12, which have no custom slices.
    #[test]
    fn a_slice_applies_to_the_calling_thread_only() {
        if !kernel_has_custom_slices() {
            eprintln!("skipped: this kernel has no custom EEVDF slices (6.12+)");
            return;
        }
        let before = proc_sched_field("se.slice");
        assert!(before.is_some_and(|b| b != 200_000), "default slice {before:?}");
        let (slice, policy) = std::thread::spawn(|| {
            ThreadSched::Slice(Duration::from_micros(200)).apply_to_current_thread().unwrap();
            // SAFETY: the calling thread (0); only reads its policy.
            (proc_sched_field("se.slice"), unsafe { libc::sched_getscheduler(0) })
        })
        .join()
        .unwrap();
        assert_eq!(policy, libc::SCHED_OTHER);
        assert_eq!(slice, Some(200_000), "the custom slice did not take");
        assert_eq!(proc_sched_field("se.slice"), before, "another thread changed");
    }

    /// `SCHED_FIFO` needs CAP_SYS_NICE: with it the thread becomes real-time at the given
    /// priority; without it the call fails with EPERM and changes nothing.
    #[test]
    fn fifo_sets_the_real_time_class_or_fails_without_privilege() {
        let (r, policy, prio) = std::thread::spawn(|| {
            let r = ThreadSched::Fifo(7).apply_to_current_thread();
            let mut p = libc::sched_param { sched_priority: 0 };
            // SAFETY: the calling thread (0) and a valid out-parameter.
            let policy = unsafe { libc::sched_getscheduler(0) };
            // SAFETY: as above.
            assert_eq!(unsafe { libc::sched_getparam(0, &mut p) }, 0);
            (r.map_err(|e| e.raw_os_error()), policy, p.sched_priority)
        })
        .join()
        .unwrap();
        match r {
            Ok(()) => assert_eq!((policy, prio), (libc::SCHED_FIFO, 7)),
            Err(e) => {
                assert_eq!(e, Some(libc::EPERM));
                assert_eq!(policy, libc::SCHED_OTHER);
            }
        }
    }

    #[test]
    fn inherit_changes_nothing() {
        // SAFETY: reads the calling thread's policy.
        let before = unsafe { libc::sched_getscheduler(0) };
        ThreadSched::Inherit.apply_to_current_thread().unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, before);
    }
}
