//! The results of `xdptcp bench lab`: one row per measured (workload, server, client)
//! combination, the machine they were measured on, and three renderings of them — JSON
//! ([`LabReport`] serialises to exactly `{"meta": {...}, "results": [...]}`), a markdown table
//! with xdptcp/linux ratios ([`table`]), SVG plots per workload ([`svg`]) and one summary
//! figure of every ratio ([`summary`]). Numbers for people are rounded by [`human`].
//!
//! A combination that could not be measured (its implementation is not built yet, or it
//! failed) is never given a number: it is a [`Missing`] entry, listed in `meta.missing` and in
//! the table as `n/a (reason)`, so the `results` array holds measurements only.

pub mod human;
pub mod summary;
pub mod svg;
pub mod table;

use serde::{Deserialize, Serialize};

/// One measured combination. Field names and types are the published JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// `rr64x1`, `rr64x64`, `crr64`, `bulk`, `http`, `proxy`, `raw-xdp`, ...
    pub workload: String,
    /// What served: `xdptcp`, `linux`, `nginx`, `haproxy`, `sockperf`, `xdp-reflector`, ...
    pub server: String,
    /// What generated load: `xdptcp`, `linux`, `wrk`, `sockperf`, `udp-flood`, ...
    pub client: String,
    /// In `unit`.
    pub throughput: f64,
    /// `rps`, `cps`, `gbps` or `pps`.
    pub unit: String,
    /// Median latency in microseconds, when the client measures latency.
    pub p50_us: Option<f64>,
    /// 99th percentile latency in microseconds.
    pub p99_us: Option<f64>,
    /// CPU seconds (user + system, from `/proc/PID/stat`) the server's processes used while
    /// the client ran; `null` when they could not be read. Absent from older reports.
    #[serde(default)]
    pub server_cpu_s: Option<f64>,
    /// Throughput per CPU-second of the server: work done (`throughput` x the measured
    /// duration, in the unit's amount: requests, connections, Gbit, packets) over
    /// `server_cpu_s`. Compares a busy-polling server with a sleeping one.
    #[serde(default)]
    pub per_cpu_s: Option<f64>,
    /// Frames per second on the veth pair, both directions (the two ends' `tx_packets` over
    /// the measured duration): what the raw ceiling is compared in.
    #[serde(default)]
    pub wire_fps: Option<f64>,
}

impl ResultRow {
    /// A row with throughput and latency only (the CPU and wire columns empty).
    pub fn new(
        workload: &str,
        server: &str,
        client: &str,
        throughput: f64,
        unit: &str,
        p50_us: Option<f64>,
        p99_us: Option<f64>,
    ) -> ResultRow {
        ResultRow {
            workload: workload.into(),
            server: server.into(),
            client: client.into(),
            throughput,
            unit: unit.into(),
            p50_us,
            p99_us,
            server_cpu_s: None,
            per_cpu_s: None,
            wire_fps: None,
        }
    }
}

/// The raw ceiling: how close the stack comes to the bare AF_XDP reflector, in frames per
/// second on the wire.
///
/// On a small guest both rows swing from run to run between two levels (the kernel's
/// copy-mode path on the veth), so one pair can say 0.56 or 1.50 where the median of nine
/// says 0.79 (docs/benchmarks.md, "The raw ceiling, run after run"): `bench lab` runs the
/// pair again (`--ceiling-rounds`), and the ceiling is the median of every pair's fraction.
#[derive(Debug, Clone, PartialEq)]
pub struct RawCeiling {
    /// `rr64x64`, xdptcp server and xdptcp client.
    pub xdptcp_fps: f64,
    /// `raw-xdp`, the reflector against the AF_XDP generator.
    pub reflector_fps: f64,
    /// The same two rows' frames per CPU-second of their server (the wire's frames in the
    /// measured duration over the server's CPU seconds), when both were measured: what a
    /// server core does with the time it gets, steadier than frames per second when other
    /// work shares the cores.
    pub per_cpu: Option<(f64, f64)>,
    /// The fraction of every pair measured, the table's rows first, then the pairs run
    /// again ([`Meta::ceiling_repeats`]) in the order they ran.
    pub fractions: Vec<f64>,
    /// The same per server CPU-second, for the pairs whose CPU time was measured.
    pub per_cpu_fractions: Vec<f64>,
}

impl RawCeiling {
    /// The stack's frames per second as a fraction of the reflector's: the median over
    /// every pair measured (the table's rows' pair when it is the only one).
    pub fn fraction(&self) -> f64 {
        median(&self.fractions).unwrap_or(self.xdptcp_fps / self.reflector_fps)
    }

    /// The stack's frames per server CPU-second as a fraction of the reflector's: the median
    /// over every pair, when every pair's CPU time was measured.
    pub fn per_cpu_fraction(&self) -> Option<f64> {
        if self.per_cpu_fractions.len() == self.fractions.len() {
            median(&self.per_cpu_fractions)
        } else {
            None
        }
    }

    /// How many pairs the fraction is the median of.
    pub fn pairs(&self) -> usize {
        self.fractions.len()
    }
}

/// One more run of the raw ceiling's two rows, one after the other: rr64x64 xdptcp ←
/// xdptcp, then raw-xdp xdp-reflector ← xdp-flood (`bench lab --ceiling-rounds`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CeilingPair {
    /// Frames per second on the wire: xdptcp's rr64x64, the reflector's.
    pub xdptcp_fps: f64,
    pub reflector_fps: f64,
    /// Frames per server CPU-second of each, when the server's CPU time was measured.
    pub xdptcp_per_cpu: Option<f64>,
    pub reflector_per_cpu: Option<f64>,
}

/// The raw ceiling's two rows, as (workload, server, client): xdptcp's rr64x64 and the
/// reflector's.
pub const CEILING_ROWS: [(&str, &str, &str); 2] =
    [("rr64x64", "xdptcp", "xdptcp"), ("raw-xdp", "xdp-reflector", XDP_GENERATOR)];

impl CeilingPair {
    /// The pair of xdptcp's row `x` and the reflector's `r`, each measured for `duration`
    /// seconds, when both counted their wire frames.
    pub fn of_rows(x: &ResultRow, r: &ResultRow, duration: f64) -> Option<CeilingPair> {
        // Frames in the measured duration over the server's CPU seconds.
        let per_cpu = |fps: f64, row: &ResultRow| {
            row.server_cpu_s.filter(|c| *c > 0.0).map(|c| fps * duration / c)
        };
        let (xdptcp_fps, reflector_fps) = (x.wire_fps?, r.wire_fps?);
        Some(CeilingPair {
            xdptcp_fps,
            reflector_fps,
            xdptcp_per_cpu: per_cpu(xdptcp_fps, x),
            reflector_per_cpu: per_cpu(reflector_fps, r),
        })
    }

    fn fraction(&self) -> Option<f64> {
        (self.reflector_fps > 0.0).then(|| self.xdptcp_fps / self.reflector_fps)
    }

    fn per_cpu_fraction(&self) -> Option<f64> {
        match (self.xdptcp_per_cpu, self.reflector_per_cpu) {
            (Some(x), Some(r)) if r > 0.0 => Some(x / r),
            _ => None,
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` if empty.
fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The client label of the AF_XDP generator in the `raw-xdp` rows.
pub const XDP_GENERATOR: &str = "xdp-flood";

/// A combination that has no number, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub workload: String,
    pub server: String,
    pub client: String,
    /// E.g. `not built yet`, or the one-line error of the attempt.
    pub reason: String,
}

/// Where and how the numbers were measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Meta {
    /// `uname -r`.
    pub kernel: String,
    /// `model name` of /proc/cpuinfo.
    pub cpu: String,
    /// UTC, RFC 3339.
    pub date: String,
    /// XDP attach mode of the AF_XDP runs (`native`, `generic`), or `n/a` if none ran.
    pub xdp_mode: String,
    /// AF_XDP bind mode (`copy`, `zero-copy`), or `n/a`.
    pub bind_mode: String,
    /// Who completed TCP/UDP transmit checksums of the stack's servers (`offload`,
    /// `software`, ...), or `n/a`; absent from reports made before it was recorded.
    #[serde(default)]
    pub tx_checksum: String,
    /// Idle policy of the xdptcp servers: `--idle-wait-after-us` (µs without a frame before
    /// sleeping in poll() on the socket), `off` for busy-polling; absent from older reports.
    #[serde(default)]
    pub xdp_server_idle: String,
    /// How the `xdptcp` binary that ran the lab was built: its profile and whether
    /// profile-guided optimisation trained it (`scripts/pgo-build.sh`); absent from older
    /// reports.
    #[serde(default)]
    pub build: String,
    /// Online cores of the machine.
    pub cores: usize,
    /// Core of the server and core of the client (`taskset -c`).
    pub server_core: usize,
    pub client_core: usize,
    /// Seconds each combination ran.
    pub duration_s: f64,
    /// Lab topology in one line.
    pub topology: String,
    /// Combinations without a number.
    pub missing: Vec<Missing>,
    /// The raw ceiling's pairs run again after the workloads (`--ceiling-rounds`); empty
    /// when the table's rows are the only pair, and in reports made before it was recorded.
    #[serde(default)]
    pub ceiling_repeats: Vec<CeilingPair>,
}

/// Latency quantiles of one row (quantile in 0..=1, microseconds), for the latency plot.
/// Not part of the JSON: only the clients that report several quantiles fill it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LatencyCurve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabReport {
    pub meta: Meta,
    pub results: Vec<ResultRow>,
}

impl LabReport {
    /// The row for a combination, if it was measured.
    pub fn row(&self, workload: &str, server: &str, client: &str) -> Option<&ResultRow> {
        self.results
            .iter()
            .find(|r| r.workload == workload && r.server == server && r.client == client)
    }

    /// The raw ceiling, if both rows were measured with their wire counters.
    pub fn raw_ceiling(&self) -> Option<RawCeiling> {
        let [x, r] = CEILING_ROWS.map(|(w, s, c)| self.row(w, s, c));
        let first = CeilingPair::of_rows(x?, r?, self.meta.duration_s)?;
        let pairs = || std::iter::once(&first).chain(&self.meta.ceiling_repeats);
        (first.reflector_fps > 0.0).then(|| RawCeiling {
            xdptcp_fps: first.xdptcp_fps,
            reflector_fps: first.reflector_fps,
            per_cpu: first.xdptcp_per_cpu.zip(first.reflector_per_cpu),
            fractions: pairs().filter_map(CeilingPair::fraction).collect(),
            per_cpu_fractions: pairs().filter_map(CeilingPair::per_cpu_fraction).collect(),
        })
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        // Plain data of strings and finite-or-null numbers: serialising cannot fail.
        serde_json::to_string_pretty(self).expect("a report serialises") + "\n"
    }
}

/// Checks that `value` has exactly the published shape: an object with exactly `meta`
/// (an object) and `results` (an array of objects with exactly the ten row fields, of the
/// right types). Returns what is wrong, first problem only.
pub fn check_shape(value: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    let obj = value.as_object().ok_or("the report is not a JSON object")?;
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["meta", "results"] {
        return Err(format!("top-level keys are {keys:?}, want [\"meta\", \"results\"]"));
    }
    if !obj["meta"].is_object() {
        return Err("meta is not an object".into());
    }
    let rows = obj["results"].as_array().ok_or("results is not an array")?;
    const FIELDS: [&str; 10] = [
        "client",
        "p50_us",
        "p99_us",
        "per_cpu_s",
        "server",
        "server_cpu_s",
        "throughput",
        "unit",
        "wire_fps",
        "workload",
    ];
    for (i, row) in rows.iter().enumerate() {
        let r = row.as_object().ok_or(format!("results[{i}] is not an object"))?;
        let mut keys: Vec<&str> = r.keys().map(String::as_str).collect();
        keys.sort_unstable();
        if keys != FIELDS {
            return Err(format!("results[{i}] has keys {keys:?}, want {FIELDS:?}"));
        }
        for k in ["workload", "server", "client", "unit"] {
            if !r[k].is_string() {
                return Err(format!("results[{i}].{k} is not a string"));
            }
        }
        if !r["throughput"].is_number() {
            return Err(format!("results[{i}].throughput is not a number"));
        }
        for k in ["p50_us", "p99_us", "server_cpu_s", "per_cpu_s", "wire_fps"] {
            if !matches!(r[k], Value::Null | Value::Number(_)) {
                return Err(format!("results[{i}].{k} is neither a number nor null"));
            }
        }
        let unit = r["unit"].as_str().unwrap_or_default();
        if !["rps", "cps", "gbps", "pps"].contains(&unit) {
            return Err(format!("results[{i}].unit is {unit:?}, want rps|cps|gbps|pps"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(w: &str, s: &str, c: &str, t: f64, unit: &str) -> ResultRow {
        ResultRow { server_cpu_s: Some(2.0), ..ResultRow::new(w, s, c, t, unit, Some(10.0), None) }
    }

    #[test]
    fn json_has_exactly_the_published_shape() {
        let report = LabReport {
            meta: Meta { kernel: "6.18".into(), cores: 2, ..Meta::default() },
            results: vec![row("rr64x1", "linux", "linux", 1234.5, "rps")],
        };
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        check_shape(&v).unwrap();
        assert_eq!(v["results"][0]["workload"], "rr64x1");
        assert_eq!(v["results"][0]["throughput"], 1234.5);
        assert_eq!(v["results"][0]["p50_us"], 10.0);
        assert!(v["results"][0]["p99_us"].is_null());
        assert_eq!(v["results"][0]["server_cpu_s"], 2.0);
        assert!(v["results"][0]["wire_fps"].is_null());
        assert_eq!(v["meta"]["kernel"], "6.18");
        // And it reads back to the same report.
        let back: LabReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn shape_check_rejects_deviations() {
        let good = serde_json::json!({"meta": {}, "results": [{"workload": "bulk", "server": "linux",
            "client": "linux", "throughput": 1.0, "unit": "gbps", "p50_us": null, "p99_us": null,
            "server_cpu_s": 2.1, "per_cpu_s": 0.95, "wire_fps": null}]});
        check_shape(&good).unwrap();
        let mut extra = good.clone();
        extra["results"][0]["conns"] = 1.into();
        assert!(check_shape(&extra).unwrap_err().contains("keys"));
        let mut top = good.clone();
        top["extra"] = 1.into();
        assert!(check_shape(&top).is_err());
        let mut s = good.clone();
        s["results"][0]["throughput"] = "1".into();
        assert!(check_shape(&s).unwrap_err().contains("throughput"));
        let mut u = good.clone();
        u["results"][0]["unit"] = "req/s".into();
        assert!(check_shape(&u).unwrap_err().contains("unit"));
        let mut p = good.clone();
        p["results"][0]["p99_us"] = "slow".into();
        assert!(check_shape(&p).is_err());
        let mut cpu = good.clone();
        cpu["results"][0]["server_cpu_s"] = "2 s".into();
        assert!(check_shape(&cpu).unwrap_err().contains("server_cpu_s"));
        let mut old = good;
        old["results"][0].as_object_mut().unwrap().remove("per_cpu_s");
        assert!(check_shape(&old).unwrap_err().contains("keys"), "the shape has all ten");
    }
}
