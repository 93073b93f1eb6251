//! The CPU time a server used during a measurement, from `/proc`: user + system time
//! (`utime` + `stime`, fields 14 and 15 of `/proc/PID/stat`, see proc_pid_stat(5)) of the
//! server's process and every process below it (nginx's master and worker, the `sh` a tool
//! may be started through), sampled before and after the measured interval.
//!
//! The bench has no `unsafe` (no `sysconf`), so the clock-tick rate comes from
//! `getconf CLK_TCK`, with Linux's `USER_HZ` of 100 as the fallback.

use std::process::Command;

/// The fields of one `/proc/PID/stat` line that the sampler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcStat {
    pub(super) pid: u32,
    pub(super) ppid: u32,
    /// `utime + stime`, clock ticks.
    pub(super) ticks: u64,
}

/// Parses one `/proc/PID/stat` line. The command name (field 2) is in parentheses and may
/// itself hold spaces and parentheses, so the fields are counted from the *last* `)`.
pub(super) fn parse_stat(line: &str) -> Option<ProcStat> {
    let (head, rest) = line.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    // After the name: state (field 3), ppid (4), ... utime (14), stime (15).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let ppid = u32::try_from(field(4)?).ok()?;
    Some(ProcStat { pid, ppid, ticks: field(14)?.checked_add(field(15)?)? })
}

/// Sum of the ticks of `root` and all its descendants among `procs`; `None` if `root` is not
/// there (it has exited).
pub(super) fn tree_ticks(procs: &[ProcStat], root: u32) -> Option<u64> {
    procs.iter().find(|p| p.pid == root)?;
    let mut members = vec![root];
    let mut i = 0;
    while i < members.len() {
        let parent = members[i];
        members.extend(procs.iter().filter(|p| p.ppid == parent && p.pid != parent).map(|p| p.pid));
        i += 1;
    }
    Some(procs.iter().filter(|p| members.contains(&p.pid)).map(|p| p.ticks).sum())
}

/// Every process's stat line, read now (processes that exit while being read are skipped).
fn all_processes() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|l| parse_stat(&l))
        .collect()
}

/// Clock ticks per second of `/proc`'s times.
pub(super) fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// `PF_KTHREAD` in a stat line's `flags` (field 9): a kernel thread.
const PF_KTHREAD: u64 = 0x0020_0000;

/// The ticks of one `/proc/PID/task/TID/stat` line if it is a user thread under a real-time
/// policy (`policy`, field 41: 1 `SCHED_FIFO`, 2 `SCHED_RR`); `None` for any other thread
/// (kernel threads such as `migration/N` are real-time too, and are not what starves a core).
pub(super) fn user_rt_ticks(line: &str) -> Option<u64> {
    let (_, rest) = line.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let (flags, policy) = (field(9)?, field(41)?);
    if flags & PF_KTHREAD != 0 || !matches!(policy, 1 | 2) {
        return None;
    }
    field(14)?.checked_add(field(15)?)
}

/// CPU seconds used so far by every user thread under a real-time policy, on the whole
/// machine. A `SCHED_FIFO` thread that keeps a core busy (a SYN-flood test's server runs
/// with `--sched fifo:10`) leaves every ordinary process pinned there the 5 % that RT
/// throttling reserves (`sched_rt_runtime_us`): a row measured meanwhile is 50-100x low with
/// its server hardly running (docs/benchmarks.md, "The lab outlier").
pub(super) fn user_rt_seconds(ticks_per_second: f64) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    let mut ticks = 0u64;
    for proc_dir in dir.filter_map(Result::ok) {
        if !proc_dir.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(tasks) = std::fs::read_dir(proc_dir.path().join("task")) else { continue };
        for task in tasks.filter_map(Result::ok) {
            if let Ok(line) = std::fs::read_to_string(task.path().join("stat")) {
                ticks += user_rt_ticks(&line).unwrap_or(0);
            }
        }
    }
    ticks as f64 / ticks_per_second
}

/// CPU seconds used so far by the process tree under `root`.
pub(super) fn tree_cpu_seconds(root: u32, ticks_per_second: f64) -> Option<f64> {
    tree_ticks(&all_processes(), root).map(|t| t as f64 / ticks_per_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line (from a `cat /proc/self/stat`) with a name that has spaces and parens.
    const LINE: &str = "4242 (nginx: work (x)) S 4241 4241 4241 0 -1 4194560 1290 0 0 0 \
        173 58 0 0 20 0 1 0 1234567 11231232 1024 18446744073709551615 1 1 0 0 0 0 0 \
        16781312 0 0 0 0 17 0 0 0 0 0 0";

    #[test]
    fn stat_lines_parse_from_the_last_parenthesis() {
        assert_eq!(parse_stat(LINE), Some(ProcStat { pid: 4242, ppid: 4241, ticks: 173 + 58 }));
        let plain = "1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 5 7 0 0 20 0 1 0 1 0 0";
        assert_eq!(parse_stat(plain), Some(ProcStat { pid: 1, ppid: 0, ticks: 12 }));
        // Truncated, garbled or empty: no answer, no panic.
        for bad in ["", "4242", "4242 (x", "x (y) S 1 2 3", "4242 (x) S 1 2 3 4 5 6 7 8 9 a 2"] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
        for n in 0..LINE.len() {
            let _ = parse_stat(&LINE[..n]);
        }
    }

    /// Only user threads with policy 1 or 2 count: not kernel threads (`migration/0` is
    /// FIFO), not ordinary ones.
    #[test]
    fn real_time_user_threads_are_told_from_the_rest() {
        // pid (comm) state ppid pgrp session tty tpgid flags(9) ... utime(14) stime(15) ...
        // rt_priority(40) policy(41)
        let line = |flags: u64, policy: u64| {
            let mut f: Vec<String> = (3..=41).map(|_| "0".to_string()).collect();
            f[0] = "R".into();
            f[9 - 3] = flags.to_string();
            f[14 - 3] = "120".into();
            f[15 - 3] = "30".into();
            f[41 - 3] = policy.to_string();
            format!("77 (xdptcp-q0 (w)) {}", f.join(" "))
        };
        assert_eq!(user_rt_ticks(&line(0x40_4040, 1)), Some(150), "SCHED_FIFO");
        assert_eq!(user_rt_ticks(&line(0x40_4040, 2)), Some(150), "SCHED_RR");
        assert_eq!(user_rt_ticks(&line(0x40_4040, 0)), None, "SCHED_OTHER");
        assert_eq!(user_rt_ticks(&line(0x20_8040, 1)), None, "a kernel thread");
        assert_eq!(user_rt_ticks(LINE), None, "too short to hold a policy");
        let t = ticks_per_second();
        assert!(user_rt_seconds(t) >= 0.0);
    }

    #[test]
    fn a_tree_sums_the_root_and_every_descendant_only() {
        let p = |pid, ppid, ticks| ProcStat { pid, ppid, ticks };
        let procs = [p(1, 0, 1000), p(10, 1, 5), p(11, 10, 7), p(12, 11, 11), p(20, 1, 300)];
        assert_eq!(tree_ticks(&procs, 10), Some(5 + 7 + 11), "master, worker, its child");
        assert_eq!(tree_ticks(&procs, 12), Some(11));
        assert_eq!(tree_ticks(&procs, 99), None, "exited");
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        let me = std::process::id();
        let t = ticks_per_second();
        assert!(t >= 1.0);
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(tree_cpu_seconds(me, t).is_some_and(|s| s >= 0.0));
    }
}
