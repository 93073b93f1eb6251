//! The whole run in one picture: for every xdptcp row that has a Linux baseline (see
//! [`table::baseline`]), three bars on one logarithmic axis centred on parity —
//!
//! - throughput, xdptcp ÷ Linux;
//! - p99 latency, Linux ÷ xdptcp (so that, like the others, right of 1 is better for xdptcp);
//! - throughput per CPU-second of the server, xdptcp ÷ Linux (a busy-polling server pays
//!   here what it gains above);
//!
//! each labelled with its value, and the raw ceiling under them. Written by hand rather than
//! with plotters: a diverging bar on a log axis with its own labels is a few rectangles, and
//! the builder stays small enough to test element by element.

use std::fmt::Write;

use super::{human, table, LabReport};

const WIDTH: f64 = 980.0;
/// Left edge of the plot (row labels to its left) and right edge.
const PLOT_LEFT: f64 = 300.0;
const PLOT_RIGHT: f64 = 900.0;
const TOP: f64 = 96.0;
const BAR: f64 = 11.0;
const GROUP: f64 = 3.0 * BAR + 14.0;

/// The three measures, their colours and legend names.
const MEASURES: [(&str, &str); 3] = [
    ("#d95f02", "throughput, xdptcp ÷ linux"),
    ("#7570b3", "p99 latency, linux ÷ xdptcp"),
    ("#1b9e77", "throughput per server CPU-second, xdptcp ÷ linux"),
];

/// One row of the figure: what is compared, and its three ratios (any may be missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub label: String,
    pub ratios: [Option<f64>; 3],
}

/// The rows of the figure, in table order: every xdptcp row with a measured baseline.
pub fn bars(report: &LabReport) -> Vec<Bars> {
    let mut rows: Vec<&super::ResultRow> =
        report.results.iter().filter(|r| table::ratio(report, r).is_some()).collect();
    let rank = |w: &str| table::WORKLOAD_ORDER.iter().position(|x| *x == w).unwrap_or(usize::MAX);
    rows.sort_by_key(|r| rank(&r.workload));
    rows.into_iter()
        .map(|r| Bars {
            label: format!("{}: {} ← {}", r.workload, r.server, r.client),
            ratios: [
                table::ratio(report, r),
                table::p99_gain(report, r),
                table::cpu_ratio(report, r),
            ],
        })
        .collect()
}

/// A logarithmic (base 2) axis from `lo` to `hi` mapped onto the plot's width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogAxis {
    lo: f64,
    hi: f64,
}

impl LogAxis {
    /// An axis holding every ratio and at least 0.5..2, in whole powers of two.
    pub fn fitting(ratios: impl Iterator<Item = f64>) -> LogAxis {
        let (mut lo, mut hi) = (0.5f64, 2.0f64);
        for r in ratios.filter(|r| r.is_finite() && *r > 0.0) {
            lo = lo.min(r);
            hi = hi.max(r);
        }
        // Whole powers of two, with room for the value label beside the longest bars; at
        // most 1/256..256.
        let lo = 2f64.powi((lo.log2() - 0.8).floor().max(-8.0) as i32);
        let hi = 2f64.powi((hi.log2() + 0.8).ceil().min(8.0) as i32);
        LogAxis { lo, hi }
    }

    /// The x pixel of ratio `r` (clamped to the axis).
    pub fn x(&self, r: f64) -> f64 {
        let r = r.clamp(self.lo, self.hi);
        let f = (r / self.lo).log2() / (self.hi / self.lo).log2();
        PLOT_LEFT + f * (PLOT_RIGHT - PLOT_LEFT)
    }

    /// Grid lines: every power of two of the axis.
    pub fn ticks(&self) -> Vec<f64> {
        let (a, b) = (self.lo.log2().round() as i32, self.hi.log2().round() as i32);
        (a..=b).map(|e| 2f64.powi(e)).collect()
    }
}

/// Escapes text for an SVG text node or attribute.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn tick_label(t: f64) -> String {
    if t >= 1.0 {
        format!("{t:.0}x")
    } else {
        format!("1/{:.0}", 1.0 / t)
    }
}

/// The figure; `None` when no xdptcp row has a Linux baseline.
pub fn summary(report: &LabReport) -> Option<String> {
    let rows = bars(report);
    if rows.is_empty() {
        return None;
    }
    let axis = LogAxis::fitting(rows.iter().flat_map(|b| b.ratios.iter().flatten().copied()));
    let height = TOP + GROUP * rows.len() as f64 + 70.0;
    let mut s = String::new();
    let w = &mut s;
    // Writing to a String cannot fail.
    let _ = writeln!(
        w,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(w, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let date = &report.meta.date;
    let title = if date.is_empty() {
        "xdptcp against Linux, every workload".to_string()
    } else {
        format!("xdptcp against Linux, every workload ({date})")
    };
    let _ = writeln!(
        w,
        r#"<text x="{}" y="26" font-size="19" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(&title)
    );
    for (i, (colour, name)) in MEASURES.iter().enumerate() {
        let x = 30.0 + [0.0, 260.0, 520.0][i];
        let _ = writeln!(
            w,
            r#"<rect x="{x}" y="42" width="14" height="11" fill="{colour}"/><text x="{}" y="52" font-size="12.5">{}</text>"#,
            x + 19.0,
            escape(name)
        );
    }
    let bottom = TOP + GROUP * rows.len() as f64;
    let _ = writeln!(
        w,
        r##"<text x="{}" y="78" font-size="12" fill="#555" text-anchor="middle">← xdptcp worse · better →</text>"##,
        axis.x(1.0)
    );
    // Every other row shaded across the whole width, under the grid.
    for i in (1..rows.len()).step_by(2) {
        let _ = writeln!(
            w,
            r##"<rect x="0" y="{}" width="{WIDTH}" height="{GROUP}" fill="#f4f4f4"/>"##,
            TOP + GROUP * i as f64 - 7.0
        );
    }
    for t in axis.ticks() {
        let x = axis.x(t);
        let (stroke, width) = if t == 1.0 { ("#333", 1.5) } else { ("#ddd", 1.0) };
        let _ = writeln!(
            w,
            r#"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}" stroke="{stroke}" stroke-width="{width}"/><text x="{x:.1}" y="{}" font-size="12" text-anchor="middle">{}</text>"#,
            TOP - 8.0,
            bottom + 16.0,
            tick_label(t)
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let y0 = TOP + GROUP * i as f64;
        let _ = writeln!(
            w,
            r#"<text x="{}" y="{}" font-size="13" text-anchor="end">{}</text>"#,
            PLOT_LEFT - 10.0,
            y0 + 1.5 * BAR + 4.0,
            escape(&row.label)
        );
        for (k, ratio) in row.ratios.iter().enumerate() {
            let y = y0 + BAR * k as f64;
            let Some(r) = ratio.filter(|r| r.is_finite() && *r > 0.0) else {
                let _ = writeln!(
                    w,
                    r##"<text x="{}" y="{}" font-size="10" fill="#999">n/a</text>"##,
                    axis.x(1.0) + 4.0,
                    y + BAR - 2.0
                );
                continue;
            };
            let (a, b) = (axis.x(1.0), axis.x(r));
            let (left, right) = (a.min(b), a.max(b));
            let _ = writeln!(
                w,
                r#"<rect class="bar" x="{left:.1}" y="{y:.1}" width="{:.1}" height="{}" fill="{}"/>"#,
                (right - left).max(1.0),
                BAR - 1.0,
                MEASURES[k].0
            );
            // The value beside the bar's end, outside it.
            let (tx, anchor) = if r >= 1.0 { (right + 4.0, "start") } else { (left - 4.0, "end") };
            let _ = writeln!(
                w,
                r#"<text x="{tx:.1}" y="{:.1}" font-size="10.5" text-anchor="{anchor}">{}</text>"#,
                y + BAR - 2.0,
                human::ratio(r)
            );
        }
    }
    let ceiling = match report.raw_ceiling() {
        Some(c) if c.pairs() > 1 => format!(
            "raw ceiling: rr64x64 xdptcp ← xdptcp's frames/s over the AF_XDP reflector's, median of {} pairs: {:.2}{}",
            c.pairs(),
            c.fraction(),
            c.per_cpu_fraction().map_or_else(String::new, |f| format!(" ({f:.2} per server CPU-second)"))
        ),
        Some(c) => format!(
            "raw ceiling: rr64x64 xdptcp ← xdptcp moved {} frames/s, {:.2} of the AF_XDP reflector's {} frames/s{}",
            human::si(c.xdptcp_fps),
            c.fraction(),
            human::si(c.reflector_fps),
            c.per_cpu_fraction().map_or_else(String::new, |f| format!(" ({f:.2} per server CPU-second)"))
        ),
        None => "raw ceiling: not measured in this run".into(),
    };
    let _ = writeln!(
        w,
        r#"<text x="{}" y="{}" font-size="13" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        bottom + 46.0,
        escape(&ceiling)
    );
    let _ = writeln!(w, "</svg>");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::super::{Meta, ResultRow};
    use super::*;

    fn row(w: &str, s: &str, c: &str, t: f64, p99: f64, per_cpu: Option<f64>) -> ResultRow {
        ResultRow { per_cpu_s: per_cpu, ..ResultRow::new(w, s, c, t, "rps", None, Some(p99)) }
    }

    fn report() -> LabReport {
        LabReport {
            meta: Meta { date: "2026-12-03T20:00:00Z".into(), ..Meta::default() },
            results: vec![
                row("rr64x64", "linux", "linux", 200_000.0, 500.0, Some(100_000.0)),
                row("rr64x64", "xdptcp", "linux", 300_000.0, 250.0, Some(150_000.0)),
                row("rr64x1", "linux", "linux", 14_000.0, 100.0, Some(30_000.0)),
                row("rr64x1", "xdptcp", "linux", 37_000.0, 50.0, Some(15_000.0)),
                row("rr64x1", "xdptcp", "xdptcp", 196_000.0, 8.0, None),
                row("http", "nginx", "wrk", 190_000.0, 200.0, None),
            ],
        }
    }

    #[test]
    fn one_group_per_xdptcp_row_with_a_baseline_in_table_order() {
        let b = bars(&report());
        let labels: Vec<&str> = b.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            ["rr64x1: xdptcp ← linux", "rr64x1: xdptcp ← xdptcp", "rr64x64: xdptcp ← linux"]
        );
        let r = b[0].ratios;
        assert!((r[0].unwrap() - 37.0 / 14.0).abs() < 1e-9);
        assert_eq!(r[1], Some(2.0), "p99 100 µs -> 50 µs");
        assert_eq!(r[2], Some(0.5), "half the work per CPU-second");
        assert_eq!(b[1].ratios[2], None, "no CPU measured");
        let none = LabReport { results: vec![report().results[5].clone()], ..report() };
        assert!(summary(&none).is_none());
    }

    #[test]
    fn the_log_axis_is_centred_on_parity_and_holds_every_ratio() {
        let axis = LogAxis::fitting([0.5, 14.0].into_iter());
        assert!(axis.x(1.0) > PLOT_LEFT && axis.x(1.0) < PLOT_RIGHT);
        // Equal factors are equal distances.
        assert!(((axis.x(2.0) - axis.x(1.0)) - (axis.x(1.0) - axis.x(0.5))).abs() < 1e-9);
        assert!(axis.x(14.0) < PLOT_RIGHT, "room for the label");
        assert_eq!(axis.x(1e6), PLOT_RIGHT, "clamped");
        let ticks = axis.ticks();
        assert!(ticks.contains(&1.0) && ticks.contains(&16.0) && ticks.contains(&0.25));
        assert_eq!(tick_label(0.25), "1/4");
        assert_eq!(tick_label(8.0), "8x");
        let narrow = LogAxis::fitting(std::iter::empty());
        assert!(narrow.ticks().len() >= 3);
    }

    #[test]
    fn the_figure_has_a_bar_and_a_rounded_value_per_ratio() {
        let svg = summary(&report()).expect("a figure");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // 3 + 2 + 3 ratios measured: one bar each, the missing one marked.
        assert_eq!(svg.matches(r#"class="bar""#).count(), 8, "{svg}");
        assert_eq!(svg.matches(">n/a<").count(), 1);
        for v in [">2.64x<", ">2.00x<", ">0.500x<", ">1.50x<"] {
            assert!(svg.contains(v), "{v} in {svg}");
        }
        assert!(svg.contains("rr64x1: xdptcp ← linux"));
        assert!(svg.contains("2026-12-03T20:00:00Z"));
        assert!(svg.contains("raw ceiling: not measured"));
        // A ratio below 1 is a bar that ends at parity; above 1, one that starts there.
        let axis = LogAxis::fitting([37.0 / 14.0, 2.0, 0.5, 1.5, 14.0, 12.5].into_iter());
        let parity = format!("{:.1}", axis.x(1.0));
        assert!(svg.contains(&format!(r#"<rect class="bar" x="{parity}""#)), "{svg}");
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
