//! The markdown table of a [`LabReport`]: one line per combination (measured or not), grouped
//! by workload, with the ratio of every xdptcp row to the same combination on Linux.
//!
//! The baseline of a row is the row of the same workload whose `server` and `client` are the
//! same except that each `xdptcp` is replaced by `linux` — xdptcp against Linux with
//! everything else held equal. Rows without `xdptcp` have no ratio; a row that is a baseline
//! of some measured xdptcp row is marked `ref`.

use super::{LabReport, ResultRow};

/// Workloads in the order the table shows them; others follow in order of appearance.
pub const WORKLOAD_ORDER: [&str; 10] = [
    "rr64x1",
    "rr64x64",
    "crr64",
    "bulk",
    "http",
    "proxy",
    "sockperf-pp",
    "sockperf-ul",
    "sockperf-udp",
    "raw-xdp",
];

fn linux_twin(name: &str) -> String {
    if name == "xdptcp" {
        "linux".into()
    } else {
        name.into()
    }
}

/// The baseline row of `row`, if `row` involves xdptcp and the baseline was measured.
pub fn baseline<'a>(report: &'a LabReport, row: &ResultRow) -> Option<&'a ResultRow> {
    if row.server != "xdptcp" && row.client != "xdptcp" {
        return None;
    }
    report.row(&row.workload, &linux_twin(&row.server), &linux_twin(&row.client))
}

/// `row`'s throughput over its baseline's.
pub fn ratio(report: &LabReport, row: &ResultRow) -> Option<f64> {
    let base = baseline(report, row)?;
    (base.throughput > 0.0).then(|| row.throughput / base.throughput)
}

fn is_reference(report: &LabReport, row: &ResultRow) -> bool {
    report.results.iter().any(|r| baseline(report, r).is_some_and(|b| std::ptr::eq(b, row)))
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), num)
}

enum Line<'a> {
    Row(&'a ResultRow),
    Missing(&'a super::Missing),
}

impl Line<'_> {
    fn workload(&self) -> &str {
        match self {
            Line::Row(r) => &r.workload,
            Line::Missing(m) => &m.workload,
        }
    }
}

/// The table, with a header; ends with a newline.
pub fn markdown(report: &LabReport) -> String {
    let mut lines: Vec<Line> = report.results.iter().map(Line::Row).collect();
    lines.extend(report.meta.missing.iter().map(Line::Missing));
    let mut seen: Vec<String> = Vec::new();
    for l in &lines {
        if !seen.iter().any(|w| w == l.workload()) {
            seen.push(l.workload().to_string());
        }
    }
    let rank = |w: &str| {
        WORKLOAD_ORDER
            .iter()
            .position(|x| *x == w)
            .unwrap_or_else(|| WORKLOAD_ORDER.len() + seen.iter().position(|x| x == w).unwrap_or(0))
    };
    // Stable: within a workload, measured rows keep their order, then the missing ones.
    lines.sort_by_key(|l| rank(l.workload()));
    let mut out = String::from(
        "| workload | server | client | throughput | unit | p50 us | p99 us | xdptcp/linux |\n\
         |---|---|---|---:|---|---:|---:|---:|\n",
    );
    for l in &lines {
        let line = match l {
            Line::Row(r) => {
                let ratio = match ratio(report, r) {
                    Some(x) => format!("{x:.2}x"),
                    None if is_reference(report, r) => "ref".into(),
                    None => String::new(),
                };
                format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.workload,
                    r.server,
                    r.client,
                    num(r.throughput),
                    r.unit,
                    opt(r.p50_us),
                    opt(r.p99_us),
                    ratio
                )
            }
            Line::Missing(m) => format!(
                "| {} | {} | {} | n/a ({}) | | | | |",
                m.workload,
                m.server,
                m.client,
                m.reason.replace('|', "/")
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The machine and modes under the table, as a markdown list.
pub fn meta_lines(report: &LabReport) -> String {
    let m = &report.meta;
    format!(
        "- date: {}\n- kernel: {}\n- cpu: {} ({} cores; server on core {}, client on core {})\n\
         - AF_XDP: xdp {}, bind {}, tx-checksum {}\n- {} s per combination\n- topology: {}\n",
        m.date,
        m.kernel,
        m.cpu,
        m.cores,
        m.server_core,
        m.client_core,
        m.xdp_mode,
        m.bind_mode,
        if m.tx_checksum.is_empty() { "n/a" } else { &m.tx_checksum },
        num(m.duration_s),
        m.topology
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Meta, Missing};
    use super::*;

    fn row(w: &str, s: &str, c: &str, t: f64) -> ResultRow {
        ResultRow {
            workload: w.into(),
            server: s.into(),
            client: c.into(),
            throughput: t,
            unit: "rps".into(),
            p50_us: Some(12.345),
            p99_us: None,
        }
    }

    fn report() -> LabReport {
        LabReport {
            meta: Meta {
                missing: vec![Missing {
                    workload: "rr64x1".into(),
                    server: "xdptcp".into(),
                    client: "xdptcp".into(),
                    reason: "not built yet".into(),
                }],
                ..Meta::default()
            },
            results: vec![
                row("raw-xdp", "xdp-reflector", "udp-flood", 700_000.0),
                row("rr64x1", "linux", "linux", 20_000.0),
                row("rr64x1", "xdptcp", "linux", 30_000.0),
                row("rr64x1", "nginx", "wrk", 5.0),
                row("bulk", "xdptcp", "linux", 4.0),
            ],
        }
    }

    #[test]
    fn ratios_compare_xdptcp_with_linux_for_the_same_client() {
        let r = report();
        assert_eq!(ratio(&r, &r.results[2]), Some(1.5));
        // Not an xdptcp row, or no Linux baseline measured.
        assert_eq!(ratio(&r, &r.results[1]), None);
        assert_eq!(ratio(&r, &r.results[3]), None);
        assert_eq!(ratio(&r, &r.results[4]), None);
        // A client-side xdptcp row compares with linux/linux too.
        let mut r2 = r.clone();
        r2.results.push(row("rr64x1", "linux", "xdptcp", 10_000.0));
        let last = r2.results.last().unwrap().clone();
        assert_eq!(ratio(&r2, &last), Some(0.5));
    }

    #[test]
    fn table_orders_workloads_and_marks_missing_and_reference_rows() {
        let t = markdown(&report());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2 + 6, "{t}");
        assert!(lines[2].starts_with("| rr64x1 | linux | linux | 20000 | rps | 12.3 | - | ref |"));
        assert!(lines[3].starts_with("| rr64x1 | xdptcp | linux | 30000 |"), "{t}");
        assert!(lines[3].ends_with("| 1.50x |"), "{t}");
        assert!(lines[4].ends_with("|  |"), "nginx/wrk has no ratio: {t}");
        assert!(lines[5].contains("n/a (not built yet)"), "{t}");
        assert!(lines[6].starts_with("| bulk | xdptcp | linux | 4.00 |"), "{t}");
        assert!(lines[7].starts_with("| raw-xdp |"), "raw-xdp last: {t}");
    }
}
