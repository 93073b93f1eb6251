//! SVG plots of a [`LabReport`] with plotters' SVG backend (text stays `<text>` elements, so
//! no font files or system libraries are needed):
//!
//! - [`throughput`]: one horizontal bar per (server, client) of one workload;
//! - [`latency`]: latency against percentile (on a "nines" axis, so p50, p90, p99, p99.9 are
//!   equally spaced) for the rows whose client reported several quantiles.

use super::{LabReport, LatencyCurve};
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
            .x_label_formatter(&|v| {
                if max >= 100.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.2}")
                }
            })
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
            let label = format!("{} <- {}: {:.3} {}", r.server, r.client, r.throughput, r.unit);
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

/// "Nines" of a quantile: 0.9 -> 1, 0.99 -> 2, 0.5 -> 0.30.
fn nines(q: f64) -> f64 {
    -(1.0 - q.clamp(0.0, 0.999_999)).log10()
}

/// Latency against percentile, one line per curve; `None` without curves.
pub fn latency(title: &str, curves: &[LatencyCurve]) -> Result<Option<String>, String> {
    let curves: Vec<_> = curves.iter().filter(|c| !c.points.is_empty()).collect();
    if curves.is_empty() {
        return Ok(None);
    }
    let max_us = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)).fold(1.0f64, f64::max);
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
            .build_cartesian_2d(0f64..max_x * 1.05, 0f64..max_us * 1.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (us)")
            .x_label_formatter(&|x| format!("p{}", trim(100.0 * (1.0 - 10f64.powf(-x)))))
            .draw()
            .map_err(err)?;
        for (i, c) in curves.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let pts: Vec<(f64, f64)> = c.points.iter().map(|&(q, us)| (nines(q), us)).collect();
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

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::super::{Meta, ResultRow};
    use super::*;

    fn report() -> LabReport {
        let row = |s: &str, c: &str, t: f64| ResultRow {
            workload: "rr64x1".into(),
            server: s.into(),
            client: c.into(),
            throughput: t,
            unit: "rps".into(),
            p50_us: None,
            p99_us: None,
        };
        LabReport {
            meta: Meta::default(),
            results: vec![row("linux", "linux", 20_000.0), row("nginx", "wrk", 35_000.0)],
        }
    }

    #[test]
    fn throughput_svg_has_one_bar_and_label_per_row() {
        let svg = throughput(&report(), "rr64x1").unwrap().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("linux &lt;- linux: 20000.000 rps") || svg.contains("linux <- linux"));
        assert!(svg.contains("35000.000"));
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
    }
}
