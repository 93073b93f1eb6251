//! SVG plots of a [`LabReport`] with plotters' SVG backend (text stays `<text>` elements, so
//! no font files or system libraries are needed):
//!
//! - [`throughput`]: one horizontal bar per (server, client) of one workload;
//! - [`latency`]: latency against percentile (on a "nines" axis, so p50, p90, p99, p99.9 are
//!   equally spaced) for the rows whose client reported several quantiles. The axis is ticked
//!   at exactly those percentiles ([`quantile_ticks`]), not at plotters' round positions,
//!   which on a nines axis read p68.377, p96.838.
//!
//! Labels are rounded for people ([`super::human`]).

use std::ops::Range;

use super::{human, LabReport, LatencyCurve};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

const WIDTH: u32 = 900;

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("plotting: {e}")
}

/// Bars of every measured row of `workload`; `None` if it has no rows.
pub fn throughput(report: &LabReport, workload: &str) -> Result<Option<String>, String> {
    let rows: Vec<_> = report.results.iter().filter(|r| r.workload == workload).collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let max = rows.iter().map(|r| r.throughput).fold(0.0f64, f64::max).max(1e-9);
    let unit = rows[0].unit.clone();
    let n = rows.len();
    let height = 90 + 44 * n as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{workload}: throughput ({unit})"), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(10)
            .build_cartesian_2d(0f64..max * 1.25, 0f64..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_labels(6)
            .x_label_formatter(&|v| human::si(*v))
            .draw()
            .map_err(err)?;
        let colour = |server: &str, client: &str| {
            if server == "xdptcp" || client == "xdptcp" {
                RGBColor(0xd9, 0x5f, 0x02)
            } else if server == "linux" {
                RGBColor(0x1b, 0x9e, 0x77)
            } else {
                RGBColor(0x75, 0x70, 0xb3)
            }
        };
        for (i, r) in rows.iter().enumerate() {
            // Top to bottom in table order.
            let y = (n - 1 - i) as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.15), (r.throughput, y + 0.85)],
                    colour(&r.server, &r.client).filled(),
                )))
                .map_err(err)?;
            let cpu = r.per_cpu_s.map_or_else(String::new, |v| {
                format!("  ({} per server CPU-second)", human::per_cpu_s(v, &r.unit))
            });
            let label = format!(
                "{} <- {}: {}{cpu}",
                r.server,
                r.client,
                human::throughput(r.throughput, &r.unit)
            );
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (max * 0.01, y + 0.62),
                    ("sans-serif", 14).into_font().color(&BLACK),
                )))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(Some(out))
}

/// Line colours of the latency plot: Dark2 (colorbrewer), distinct on white.
const CURVE_COLOURS: [RGBColor; 8] = [
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x75, 0x70, 0xb3),
    RGBColor(0xe7, 0x29, 0x8a),
    RGBColor(0x66, 0xa6, 0x1e),
    RGBColor(0xe6, 0xab, 0x02),
    RGBColor(0xa6, 0x76, 0x1d),
    RGBColor(0x66, 0x66, 0x66),
];

/// "Nines" of a quantile: 0.9 -> 1, 0.99 -> 2, 0.5 -> 0.30.
fn nines(q: f64) -> f64 {
    -(1.0 - q.clamp(0.0, 0.999_999)).log10()
}

/// The percentiles a latency axis is ticked at, as people name them.
const TICKS: [(f64, &str); 6] = [
    (0.5, "p50"),
    (0.9, "p90"),
    (0.99, "p99"),
    (0.999, "p99.9"),
    (0.9999, "p99.99"),
    (0.99999, "p99.999"),
];

/// Ticks of a nines axis that ends at `max_x` nines: (position in nines, label), at p50,
/// p90, p99, p99.9 ... up to the axis end.
pub fn quantile_ticks(max_x: f64) -> Vec<(f64, &'static str)> {
    TICKS.iter().map(|&(q, l)| (nines(q), l)).filter(|&(x, _)| x <= max_x + 1e-9).collect()
}

/// The label of a tick position, `p?` for a position that is no tick.
fn tick_label(x: f64) -> &'static str {
    TICKS.iter().find(|&&(q, _)| (nines(q) - x).abs() < 1e-9).map_or("p?", |&(_, l)| l)
}

/// A linear axis over 0..`max` nines whose key points are [`quantile_ticks`].
struct NinesAxis {
    max: f64,
}

impl Ranged for NinesAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = f64::from(limit.1 - limit.0);
        limit.0 + (value / self.max * span).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        quantile_ticks(self.max).into_iter().map(|(x, _)| x).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.max
    }
}

/// Latency against percentile, one line per curve; `None` without curves.
pub fn latency(title: &str, curves: &[LatencyCurve]) -> Result<Option<String>, String> {
    let curves: Vec<_> = curves.iter().filter(|c| !c.points.is_empty()).collect();
    if curves.is_empty() {
        return Ok(None);
    }
    let max_us = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)).fold(1.0f64, f64::max);
    // Latencies span decades (a few µs at p50, milliseconds in the tail): a log axis keeps
    // the fast rows readable beside the slow ones.
    let min_us = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .filter(|v| *v > 0.0)
        .fold(max_us, f64::min);
    let max_x = curves.iter().flat_map(|c| c.points.iter().map(|p| nines(p.0))).fold(1.0, f64::max);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                NinesAxis { max: max_x * 1.05 },
                (min_us * 0.8..max_us * 1.25).log_scale(),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (log scale)")
            .x_label_formatter(&|x| tick_label(*x).to_string())
            .y_label_formatter(&|y| human::latency_us(*y))
            .draw()
            .map_err(err)?;
        for (i, c) in curves.iter().enumerate() {
            let colour = CURVE_COLOURS[i % CURVE_COLOURS.len()];
            let pts: Vec<(f64, f64)> =
                c.points.iter().filter(|p| p.1 > 0.0).map(|&(q, us)| (nines(q), us)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                .map_err(err)?
                .label(c.label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::super::{Meta, ResultRow};
    use super::*;

    fn report() -> LabReport {
        let row = |s: &str, c: &str, t: f64| ResultRow::new("rr64x1", s, c, t, "rps", None, None);
        LabReport {
            meta: Meta::default(),
            results: vec![row("linux", "linux", 20_000.0), row("nginx", "wrk", 35_000.0)],
        }
    }

    #[test]
    fn throughput_svg_has_one_bar_and_label_per_row() {
        let svg = throughput(&report(), "rr64x1").unwrap().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("linux &lt;- linux: 20.0 k rps"), "{svg}");
        assert!(svg.contains("nginx &lt;- wrk: 35.0 k rps"), "{svg}");
        assert!(!svg.contains("20000"), "rounded for people");
        assert!(throughput(&report(), "bulk").unwrap().is_none());
    }

    #[test]
    fn latency_svg_names_every_curve() {
        let c = |l: &str, k: f64| LatencyCurve {
            label: l.into(),
            points: vec![(0.5, 10.0 * k), (0.9, 12.0 * k), (0.99, 20.0 * k)],
        };
        let svg =
            latency("rr64x1", &[c("linux/linux", 1.0), c("xdptcp/linux", 0.5)]).unwrap().unwrap();
        assert!(svg.contains("linux/linux") && svg.contains("xdptcp/linux"));
        assert!(latency("x", &[]).unwrap().is_none());
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        // Ticked at the named percentiles only.
        // (plotters writes a text node's content on a line of its own)
        for t in ["\np50\n", "\np90\n", "\np99\n"] {
            assert!(svg.contains(t), "{t} in {svg}");
        }
        assert!(!svg.contains("\np99.9\n") && !svg.contains("p68"), "{svg}");
    }

    #[test]
    fn ticks_sit_on_the_named_percentiles_up_to_the_axis_end() {
        let t = quantile_ticks(3.0 * 1.05);
        let labels: Vec<&str> = t.iter().map(|x| x.1).collect();
        assert_eq!(labels, ["p50", "p90", "p99", "p99.9"]);
        assert!((t[0].0 - 2f64.log10()).abs() < 1e-12, "p50 at log10(2) nines");
        assert!((t[1].0 - 1.0).abs() < 1e-9 && (t[3].0 - 3.0).abs() < 1e-9);
        assert_eq!(quantile_ticks(2.0).len(), 3, "p99 at the very end is kept");
        assert_eq!(tick_label(t[2].0), "p99");
        assert_eq!(tick_label(1.5), "p?");
        // Equally spaced in pixels: p90 -> p99 is as wide as p99 -> p99.9.
        let axis = NinesAxis { max: 3.15 };
        let px = |x: f64| axis.map(&x, (0, 630));
        assert_eq!(px(2.0) - px(1.0), px(3.0) - px(2.0));
        assert_eq!(px(0.0), 0);
        assert_eq!(axis.key_points(5usize), t.iter().map(|x| x.0).collect::<Vec<_>>());
    }
}
