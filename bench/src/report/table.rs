//! The markdown table of a [`LabReport`]: one line per combination (measured or not), grouped
//! by workload, with the ratio of every xdptcp row to the same combination on Linux.
//!
//! The baseline of a row is the row of the same workload whose `server` and `client` are the
//! same except that each `xdptcp` is replaced by `linux` — xdptcp against Linux with
//! everything else held equal. Rows without `xdptcp` have no ratio; a row that is a baseline
//! of some measured xdptcp row is marked `ref`. The same baseline gives the ratio of the
//! throughput per CPU-second of the server. Numbers are rounded for people ([`human`]).

use super::{human, LabReport, ResultRow};

/// Workloads in the order the table shows them; others follow in order of appearance.
pub const WORKLOAD_ORDER: [&str; 12] = [
    "rr64x1",
    "rr64x64",
    "rr64x64-v6",
    "crr64",
    "bulk",
    "bulk-9k",
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

/// `row`'s throughput per CPU-second of the server over its baseline's.
pub fn cpu_ratio(report: &LabReport, row: &ResultRow) -> Option<f64> {
    let base = baseline(report, row)?.per_cpu_s?;
    let mine = row.per_cpu_s?;
    (base > 0.0).then(|| mine / base)
}

/// The baseline's p99 over `row`'s: above 1 when xdptcp's tail is shorter.
pub fn p99_gain(report: &LabReport, row: &ResultRow) -> Option<f64> {
    let base = baseline(report, row)?.p99_us?;
    let mine = row.p99_us?;
    (mine > 0.0).then(|| base / mine)
}

fn is_reference(report: &LabReport, row: &ResultRow) -> bool {
    report.results.iter().any(|r| baseline(report, r).is_some_and(|b| std::ptr::eq(b, row)))
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
        "| workload | server | client | throughput | p50 | p99 | xdptcp/linux | server CPU | \
         per CPU-s | xdptcp/linux per CPU-s | wire frames/s |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let base = |r: &ResultRow, x: Option<f64>| match x {
        Some(x) => human::ratio(x),
        None if is_reference(report, r) => "ref".into(),
        None => String::new(),
    };
    let lat = |v: Option<f64>| v.map_or("-".into(), human::latency_us);
    for l in &lines {
        let line = match l {
            Line::Row(r) => format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.workload,
                r.server,
                r.client,
                human::throughput(r.throughput, &r.unit),
                lat(r.p50_us),
                lat(r.p99_us),
                base(r, ratio(report, r)),
                r.server_cpu_s.map_or("-".into(), |s| format!("{} s", human::si(s))),
                r.per_cpu_s.map_or("-".into(), |v| human::per_cpu_s(v, &r.unit)),
                base(r, cpu_ratio(report, r)),
                r.wire_fps.map_or("-".into(), human::si),
            ),
            Line::Missing(m) => format!(
                "| {} | {} | {} | n/a ({}) | | | | | | | |",
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

/// The raw-ceiling line: xdptcp's rr64x64 frames per second as a fraction of the
/// reflector's, or why there is none.
pub fn ceiling_line(report: &LabReport) -> String {
    match report.raw_ceiling() {
        Some(c) => {
            let per_cpu = match (c.per_cpu, c.per_cpu_fraction()) {
                (Some((x, r)), Some(f)) => format!(
                    "; per server CPU-second {} against {} frames, {f:.2}",
                    human::si(x),
                    human::si(r)
                ),
                _ => String::new(),
            };
            if c.pairs() > 1 {
                let each: Vec<String> = c.fractions.iter().map(|f| format!("{f:.2}")).collect();
                let per_cpu = c
                    .per_cpu_fraction()
                    .map_or_else(String::new, |f| format!("; per server CPU-second {f:.2}"));
                return format!(
                    "- raw ceiling: rr64x64 xdptcp <- xdptcp's frames/s on the wire over the \
                     AF_XDP reflector's (raw-xdp, xdp-reflector <- {}), median of {} pairs run \
                     in turn: {:.2} (each: {}){per_cpu}; the table's rows: {} against {} \
                     frames/s\n",
                    super::XDP_GENERATOR,
                    c.pairs(),
                    c.fraction(),
                    each.join(", "),
                    human::si(c.xdptcp_fps),
                    human::si(c.reflector_fps),
                );
            }
            format!(
                "- raw ceiling: rr64x64 xdptcp <- xdptcp moved {} frames/s on the wire, {:.2} of \
                 the AF_XDP reflector's {} frames/s (raw-xdp, xdp-reflector <- {}){per_cpu}\n",
                human::si(c.xdptcp_fps),
                c.fraction(),
                human::si(c.reflector_fps),
                super::XDP_GENERATOR
            )
        }
        None => "- raw ceiling: n/a (rr64x64 xdptcp <- xdptcp or raw-xdp <- xdp-flood not \
                 measured)\n"
            .into(),
    }
}

/// The machine and modes under the table, as a markdown list.
pub fn meta_lines(report: &LabReport) -> String {
    let m = &report.meta;
    let ceiling = ceiling_line(report);
    format!(
        "- date: {}\n- kernel: {}\n- cpu: {} ({} cores; server on core {}, client on core {})\n\
         - build: {}\n- AF_XDP: xdp {}, bind {}, tx-checksum {}; xdptcp servers idle: {}\n\
         - {} s per combination\n- topology: {}\n{ceiling}",
        m.date,
        m.kernel,
        m.cpu,
        m.cores,
        m.server_core,
        m.client_core,
        if m.build.is_empty() { "n/a" } else { &m.build },
        m.xdp_mode,
        m.bind_mode,
        if m.tx_checksum.is_empty() { "n/a" } else { &m.tx_checksum },
        match m.xdp_server_idle.as_str() {
            "" => "n/a".to_string(),
            "off" => "busy-poll".to_string(),
            us => format!("poll() after {us} µs without a frame"),
        },
        human::si(m.duration_s),
        m.topology
    )
}

#[cfg(test)]
mod tests {
    use super::super::{CeilingPair, Meta, Missing, XDP_GENERATOR};
    use super::*;

    fn row(w: &str, s: &str, c: &str, t: f64) -> ResultRow {
        ResultRow::new(w, s, c, t, "rps", Some(12.345), None)
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
                ResultRow {
                    server_cpu_s: Some(1.2),
                    per_cpu_s: Some(33_333.3),
                    p99_us: Some(100.0),
                    ..row("rr64x1", "linux", "linux", 20_000.0)
                },
                ResultRow {
                    server_cpu_s: Some(2.0),
                    per_cpu_s: Some(30_000.0),
                    p99_us: Some(40.0),
                    wire_fps: Some(61_234.5),
                    ..row("rr64x1", "xdptcp", "linux", 30_000.0)
                },
                row("rr64x1", "nginx", "wrk", 5.0),
                row("bulk", "xdptcp", "linux", 4.0),
            ],
        }
    }

    #[test]
    fn ratios_compare_xdptcp_with_linux_for_the_same_client() {
        let r = report();
        assert_eq!(ratio(&r, &r.results[2]), Some(1.5));
        assert!((cpu_ratio(&r, &r.results[2]).unwrap() - 0.9).abs() < 1e-6);
        assert_eq!(p99_gain(&r, &r.results[2]), Some(2.5), "linux p99 / xdptcp p99");
        // Not an xdptcp row, or no Linux baseline measured.
        assert_eq!(ratio(&r, &r.results[1]), None);
        assert_eq!(ratio(&r, &r.results[3]), None);
        assert_eq!(ratio(&r, &r.results[4]), None);
        assert_eq!(cpu_ratio(&r, &r.results[4]), None);
        // A client-side xdptcp row compares with linux/linux too.
        let mut r2 = r.clone();
        r2.results.push(row("rr64x1", "linux", "xdptcp", 10_000.0));
        let last = r2.results.last().unwrap().clone();
        assert_eq!(ratio(&r2, &last), Some(0.5));
        assert_eq!(cpu_ratio(&r2, &last), None, "no CPU measured for it");
    }

    #[test]
    fn table_orders_workloads_rounds_for_people_and_marks_missing_and_reference_rows() {
        let t = markdown(&report());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2 + 6, "{t}");
        assert_eq!(
            lines[2],
            "| rr64x1 | linux | linux | 20.0 k rps | 12.3 µs | 100 µs | ref | 1.20 s | 33.3 k req \
             | ref | - |"
        );
        assert_eq!(
            lines[3],
            "| rr64x1 | xdptcp | linux | 30.0 k rps | 12.3 µs | 40.0 µs | 1.50x | 2.00 s | \
             30.0 k req | 0.900x | 61.2 k |"
        );
        assert!(lines[4].ends_with("|  | - | - |  | - |"), "nginx/wrk has no ratio: {t}");
        assert!(lines[5].contains("n/a (not built yet)"), "{t}");
        assert!(lines[6].starts_with("| bulk | xdptcp | linux | 4.00 rps |"), "{t}");
        assert!(lines[7].starts_with("| raw-xdp |"), "raw-xdp last: {t}");
        // Every line has the header's number of columns.
        let cols = |l: &str| l.matches('|').count();
        assert!(lines.iter().all(|l| cols(l) == cols(lines[0])), "{t}");
    }

    #[test]
    fn the_raw_ceiling_is_xdptcp_rr64x64_frames_over_the_reflector_s() {
        let mut r = report();
        assert!(ceiling_line(&r).contains("n/a"));
        r.results.push(ResultRow {
            wire_fps: Some(820_000.0),
            ..row("rr64x64", "xdptcp", "xdptcp", 410_000.0)
        });
        r.results.push(ResultRow {
            wire_fps: Some(1_000_000.0),
            ..row("raw-xdp", "xdp-reflector", XDP_GENERATOR, 500_000.0)
        });
        let c = r.raw_ceiling().expect("both rows");
        assert!((c.fraction() - 0.82).abs() < 1e-9);
        let line = ceiling_line(&r);
        assert!(
            line.contains("820 k frames/s") && line.contains("0.82 of") && line.contains("1.00 M"),
            "{line}"
        );
        assert!(meta_lines(&r).ends_with(&line));
    }

    #[test]
    fn the_build_line_names_the_build_or_says_it_is_not_known() {
        let mut r = report();
        assert!(meta_lines(&r).contains("\n- build: n/a\n"), "an older report");
        r.meta.build = "lab profile, PGO".into();
        assert!(meta_lines(&r).contains("\n- build: lab profile, PGO\n"), "{}", meta_lines(&r));
    }

    #[test]
    fn the_raw_ceiling_of_several_pairs_is_their_median() {
        let mut r = report();
        r.meta.duration_s = 2.0;
        r.results.push(ResultRow {
            wire_fps: Some(560_000.0),
            server_cpu_s: Some(2.0),
            ..row("rr64x64", "xdptcp", "xdptcp", 280_000.0)
        });
        r.results.push(ResultRow {
            wire_fps: Some(1_000_000.0),
            server_cpu_s: Some(2.0),
            ..row("raw-xdp", "xdp-reflector", XDP_GENERATOR, 500_000.0)
        });
        let pair = |x: f64, cpu: Option<f64>| CeilingPair {
            xdptcp_fps: x,
            reflector_fps: 1_000_000.0,
            xdptcp_per_cpu: cpu,
            reflector_per_cpu: cpu.map(|_| 1_000_000.0),
        };
        // 0.56 from the rows, then 1.50 and 0.79: the median is 0.79, not the first 0.56 nor
        // the mean 0.95.
        r.meta.ceiling_repeats =
            vec![pair(1_500_000.0, Some(1_500_000.0)), pair(790_000.0, Some(790_000.0))];
        let c = r.raw_ceiling().expect("both rows");
        assert_eq!(c.pairs(), 3);
        assert!((c.fraction() - 0.79).abs() < 1e-9, "{c:?}");
        assert!((c.per_cpu_fraction().unwrap() - 0.79).abs() < 1e-9, "{c:?}");
        let line = ceiling_line(&r);
        assert!(
            line.contains("median of 3 pairs run in turn: 0.79 (each: 0.56, 1.50, 0.79)")
                && line.contains("per server CPU-second 0.79")
                && line.contains("560 k against 1.00 M"),
            "{line}"
        );
        // An even count takes the middle two's mean; a pair without CPU times leaves the
        // per-CPU median out rather than take it over fewer pairs.
        r.meta.ceiling_repeats.push(pair(900_000.0, None));
        let c = r.raw_ceiling().expect("both rows");
        assert!((c.fraction() - 0.845).abs() < 1e-9, "{c:?}");
        assert_eq!(c.per_cpu_fraction(), None);
        assert!(!ceiling_line(&r).contains("per server CPU-second"));
    }
}
