//! Counting and reporting a load run: latencies in an HDR histogram, errors by kind, and the
//! JSON report.

use super::latency::{histogram, LatencyCounts};
use super::Workload;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Errors by kind. Counted, never fatal once the run has started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Errors {
    /// Connections that could not be established, or (rr, bulk, rudp) were not by the end.
    pub connect: u64,
    /// Connections reset or closed by the server mid-run.
    pub reset: u64,
    /// Requests or connects that took longer than the timeout.
    pub timeout: u64,
    /// Responses that did not fit the protocol.
    pub protocol: u64,
}

impl Errors {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.connect + self.reset + self.timeout + self.protocol
    }
}

/// What a run measured so far.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latencies of the intervals already taken: the run's are these and `interval`'s. A
    /// request is counted once, in `interval`, and each interval is added here when taken
    /// (the load generator is the side the lab's rr rows follow).
    latency: Histogram<u64>,
    /// Latencies of the current progress interval, counted by bucket (about 15 instructions
    /// a request against the histogram's 70; `super::latency`).
    interval: LatencyCounts,
    /// Completed requests (rr), connections (crr).
    pub completed: u64,
    interval_completed: u64,
    /// Payload bytes moved (bulk: sent; rr/crr: request and response bodies).
    pub bytes: u64,
    interval_bytes: u64,
    pub errors: Errors,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Stats {
        Stats {
            latency: histogram(),
            interval: LatencyCounts::default(),
            completed: 0,
            interval_completed: 0,
            bytes: 0,
            interval_bytes: 0,
            errors: Errors::default(),
        }
    }

    /// One request (or connection) completed after `latency`.
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        self.interval.record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        self.completed += 1;
        self.interval_completed += 1;
    }

    /// `n` payload bytes moved.
    pub fn add_bytes(&mut self, n: u64) {
        self.bytes += n;
        self.interval_bytes += n;
    }

    /// Hands out what was measured since the last call and starts a new interval.
    pub fn take_interval(&mut self) -> Interval {
        self.interval.add_to(&mut self.latency);
        let mut latency = histogram();
        self.interval.take_into(&mut latency);
        let iv = Interval {
            latency,
            completed: self.interval_completed,
            bytes: self.interval_bytes,
            errors: self.errors.total(),
        };
        self.interval_completed = 0;
        self.interval_bytes = 0;
        iv
    }

    /// The progress line for the interval that just ended (`elapsed` since the run started,
    /// `interval` long), and starts a new interval.
    pub fn progress_line(
        &mut self,
        workload: Workload,
        elapsed: Duration,
        interval: Duration,
    ) -> String {
        self.take_interval().line(workload, elapsed, interval)
    }

    /// Adds another event loop's measurements to these.
    pub fn merge(&mut self, other: &Stats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.interval.merge(&other.interval);
        self.completed += other.completed;
        self.interval_completed += other.interval_completed;
        self.bytes += other.bytes;
        self.interval_bytes += other.interval_bytes;
        self.errors.connect += other.errors.connect;
        self.errors.reset += other.errors.reset;
        self.errors.timeout += other.errors.timeout;
        self.errors.protocol += other.errors.protocol;
    }

    /// The final report of a run that lasted `elapsed`.
    pub fn report(&self, run: RunInfo, elapsed: Duration) -> Report {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let throughput = match run.workload {
            Workload::Bulk => self.bytes as f64 * 8.0 / secs / 1e9,
            _ => self.completed as f64 / secs,
        };
        let mut latency = self.latency.clone();
        self.interval.add_to(&mut latency);
        let has_latency = run.workload != Workload::Bulk && !latency.is_empty();
        let q = |q: f64| has_latency.then(|| latency.value_at_quantile(q) as f64 / 1e3);
        Report {
            workload: run.workload,
            server: run.server,
            target: run.target,
            client: run.client,
            conns: run.conns,
            size: run.size,
            rate: run.rate,
            duration_s: secs,
            throughput,
            unit: run.workload.unit(),
            completed: self.completed,
            bytes: self.bytes,
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: has_latency.then(|| latency.max() as f64 / 1e3),
            mean_us: has_latency.then(|| latency.mean() / 1e3),
            errors: self.errors,
        }
    }
}

/// What one progress interval measured (of one event loop, or merged over several).
#[derive(Debug, Clone)]
pub struct Interval {
    latency: Histogram<u64>,
    pub completed: u64,
    pub bytes: u64,
    /// Errors so far (cumulative, not per interval).
    pub errors: u64,
}

impl Interval {
    /// Adds another event loop's interval.
    pub fn merge(&mut self, other: &Interval) {
        // Same bounds on both sides: cannot fail.
        let _ = self.latency.add(&other.latency);
        self.completed += other.completed;
        self.bytes += other.bytes;
        self.errors += other.errors;
    }

    /// One progress line.
    pub fn line(&self, workload: Workload, elapsed: Duration, interval: Duration) -> String {
        let secs = interval.as_secs_f64().max(1e-9);
        match workload {
            Workload::Bulk => format!(
                "[{:>4.0}s] bulk {:.3} Gbit/s, errors {}",
                elapsed.as_secs_f64(),
                self.bytes as f64 * 8.0 / secs / 1e9,
                self.errors
            ),
            _ => format!(
                "[{:>4.0}s] {} {:.0} {}, p50 {:.1} us, p99 {:.1} us, errors {}",
                elapsed.as_secs_f64(),
                workload,
                self.completed as f64 / secs,
                workload.unit(),
                self.latency.value_at_quantile(0.5) as f64 / 1e3,
                self.latency.value_at_quantile(0.99) as f64 / 1e3,
                self.errors
            ),
        }
    }
}

/// The progress of several event loops (threads, or workers on N queues) as one line per
/// interval: each loop hands in its `tick`-th interval, and the line of a tick (rates added,
/// latency histograms added, so the percentiles are of all the loops' requests) is made once
/// every loop has handed that tick in. The per-loop figures stay in the final report.
#[derive(Debug)]
pub struct MergedProgress {
    parts: usize,
    workload: Workload,
    /// Ticks not yet handed in by every loop: how many have, their sum, and the first one's
    /// elapsed time and interval length.
    pending: BTreeMap<u64, (usize, Interval, Duration, Duration)>,
}

impl MergedProgress {
    /// Progress of `parts` loops running `workload`.
    pub fn new(parts: usize, workload: Workload) -> MergedProgress {
        MergedProgress { parts: parts.max(1), workload, pending: BTreeMap::new() }
    }

    /// A loop's interval number `tick` (`elapsed` since its start, `interval` long); the
    /// merged line once it completes the tick.
    pub fn add(
        &mut self,
        tick: u64,
        iv: Interval,
        elapsed: Duration,
        interval: Duration,
    ) -> Option<String> {
        let entry = self.pending.entry(tick).or_insert_with(|| (0, iv.clone(), elapsed, interval));
        if entry.0 > 0 {
            entry.1.merge(&iv);
        }
        entry.0 += 1;
        if entry.0 < self.parts {
            return None;
        }
        let (_, iv, elapsed, interval) = self.pending.remove(&tick)?;
        Some(iv.line(self.workload, elapsed, interval))
    }
}

/// What was run, for the report.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub workload: Workload,
    /// What the server is called (its stack, or its address).
    pub server: String,
    /// The server's address.
    pub target: String,
    /// The client's stack (`linux` or `xdptcp`).
    pub client: String,
    pub conns: usize,
    pub size: usize,
    pub rate: Option<f64>,
}

/// The result of one run, as written by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub workload: Workload,
    pub server: String,
    pub target: String,
    pub client: String,
    pub conns: usize,
    pub size: usize,
    pub rate: Option<f64>,
    pub duration_s: f64,
    pub throughput: f64,
    pub unit: &'static str,
    pub completed: u64,
    pub bytes: u64,
    pub p50_us: Option<f64>,
    pub p90_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub max_us: Option<f64>,
    pub mean_us: Option<f64>,
    pub errors: Errors,
}

impl Report {
    /// A human-readable summary, a few lines.
    pub fn summary(&self) -> String {
        let server = if self.server == self.target {
            self.target.clone()
        } else {
            format!("{} at {}", self.server, self.target)
        };
        let mut s = format!(
            "{} against {} ({} client, {} conns, {:.1} s): {:.3} {}",
            self.workload,
            server,
            self.client,
            self.conns,
            self.duration_s,
            self.throughput,
            self.unit
        );
        if let (Some(p50), Some(p90), Some(p99), Some(p999), Some(max)) =
            (self.p50_us, self.p90_us, self.p99_us, self.p999_us, self.max_us)
        {
            s.push_str(&format!(
                "\nlatency us: p50 {p50:.1}  p90 {p90:.1}  p99 {p99:.1}  p99.9 {p999:.1}  max {max:.1}"
            ));
        }
        let e = &self.errors;
        s.push_str(&format!(
            "\ncompleted {}, bytes {}, errors: connect {}, reset {}, timeout {}, protocol {}",
            self.completed, self.bytes, e.connect, e.reset, e.timeout, e.protocol
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(workload: Workload) -> RunInfo {
        RunInfo {
            workload,
            server: "linux".into(),
            target: "127.0.0.1:1".into(),
            client: "linux".into(),
            conns: 1,
            size: 64,
            rate: None,
        }
    }

    #[test]
    fn quantiles_come_from_recorded_latencies() {
        let mut s = Stats::new();
        for us in 1..=100u64 {
            s.record(Duration::from_micros(us));
        }
        let r = s.report(info(Workload::Rr), Duration::from_secs(2));
        assert_eq!(r.completed, 100);
        assert!((r.throughput - 50.0).abs() < 1e-9);
        let p50 = r.p50_us.unwrap();
        assert!((49.9..=50.1).contains(&p50), "{p50}");
        let max = r.max_us.unwrap();
        assert!((99.9..=100.1).contains(&max), "{max}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["workload"], "rr");
        assert_eq!(json["unit"], "req/s");
    }

    #[test]
    fn merged_stats_equal_one_stats_of_everything() {
        let mut all = Stats::new();
        let mut a = Stats::new();
        let mut b = Stats::new();
        for us in 1..=50u64 {
            all.record(Duration::from_micros(us));
            a.record(Duration::from_micros(us));
        }
        for us in 51..=100u64 {
            all.record(Duration::from_micros(us));
            b.record(Duration::from_micros(us));
        }
        b.errors.reset = 2;
        a.merge(&b);
        let (ra, rall) = (
            a.report(info(Workload::Rr), Duration::from_secs(1)),
            all.report(info(Workload::Rr), Duration::from_secs(1)),
        );
        assert_eq!(ra.completed, 100);
        assert_eq!(ra.p50_us, rall.p50_us);
        assert_eq!(ra.p99_us, rall.p99_us);
        assert_eq!(ra.errors.reset, 2);
        let mut ia = a.take_interval();
        ia.merge(&Stats::new().take_interval());
        assert_eq!(ia.completed, 100);
    }

    #[test]
    fn merged_progress_prints_one_line_per_tick_once_every_part_has_it() {
        let sec = Duration::from_secs(1);
        let mut m = MergedProgress::new(2, Workload::Rr);
        // Part a: 100 requests of 1..=100 us in tick 0, one in tick 1; part b: 300 of 1 ms.
        let (mut a, mut b) = (Stats::new(), Stats::new());
        for us in 1..=100u64 {
            a.record(Duration::from_micros(us));
        }
        assert_eq!(m.add(0, a.take_interval(), sec, sec), None);
        a.record(Duration::from_micros(7));
        assert_eq!(m.add(1, a.take_interval(), 2 * sec, sec), None, "b has not reported tick 1");
        for _ in 0..300 {
            b.record(Duration::from_millis(1));
        }
        let line = m.add(0, b.take_interval(), sec, sec).expect("tick 0 complete");
        // Rates add (400 req/s); the percentiles are of both parts' requests: p50 1 ms.
        assert!(line.starts_with("[   1s] rr 400 req/s, p50 1000."), "{line}");
        let line = m.add(1, b.take_interval(), 2 * sec, sec).expect("tick 1 complete");
        assert!(line.starts_with("[   2s] rr 1 req/s, p50 7.0 us"), "{line}");
        assert!(m.pending.is_empty());
    }

    #[test]
    fn the_report_has_the_taken_intervals_and_the_current_one() {
        // A request is recorded once, in the interval; the run's histogram gets each interval
        // when it is taken, and the report adds the one still open.
        let mut s = Stats::new();
        for us in 1..=50u64 {
            s.record(Duration::from_micros(us));
        }
        let iv = s.take_interval();
        assert_eq!(iv.completed, 50);
        assert_eq!(iv.latency.len(), 50);
        for us in 51..=100u64 {
            s.record(Duration::from_micros(us));
        }
        let r = s.report(info(Workload::Rr), Duration::from_secs(1));
        assert_eq!(r.completed, 100);
        let (p50, max) = (r.p50_us.unwrap(), r.max_us.unwrap());
        assert!((49.9..=50.1).contains(&p50), "{p50}");
        assert!((99.9..=100.1).contains(&max), "{max}");
        // Taking the second interval changes nothing in the run's numbers.
        assert_eq!(s.take_interval().latency.len(), 50);
        let again = s.report(info(Workload::Rr), Duration::from_secs(1));
        assert_eq!((again.p50_us, again.max_us), (r.p50_us, r.max_us));
    }

    #[test]
    fn bulk_reports_gbits_and_no_latency() {
        let mut s = Stats::new();
        s.add_bytes(1_000_000_000);
        let r = s.report(info(Workload::Bulk), Duration::from_secs(4));
        assert!((r.throughput - 2.0).abs() < 1e-9);
        assert_eq!(r.p99_us, None);
    }

    #[test]
    fn progress_resets_the_interval() {
        let mut s = Stats::new();
        s.record(Duration::from_micros(5));
        let line = s.progress_line(Workload::Rr, Duration::from_secs(1), Duration::from_secs(1));
        assert!(line.contains("rr 1 req/s"), "{line}");
        let line = s.progress_line(Workload::Rr, Duration::from_secs(2), Duration::from_secs(1));
        assert!(line.contains("rr 0 req/s"), "{line}");
        assert_eq!(s.completed, 1);
    }
}
