//! `xdptcp report criterion`: reads criterion's JSON output and prints one table.
//!
//! Criterion keeps, for each benchmark, `new/benchmark.json` (identity and throughput) and
//! `new/estimates.json` (statistics in nanoseconds). Benchmarks in one group with the same
//! parameter are compared side by side: a function whose name marks it as the reference
//! (`reference`, `naive`, `std`, `heap`, `smoltcp`, `linux`) is the baseline, and every other
//! row shows its speed relative to it, so a reader sees ratios measured in one run.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Arguments of `xdptcp report criterion`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    pub dir: PathBuf,
    /// Write the table as markdown to this file as well.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// One benchmark's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub group: String,
    pub function: String,
    pub value: String,
    /// Median time per iteration, nanoseconds.
    pub median_ns: f64,
    pub throughput: Option<Throughput>,
}

/// Work done per iteration, as criterion records it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Throughput {
    Bytes(u64),
    Elements(u64),
}

impl Row {
    fn rate(&self) -> String {
        let per_sec = 1e9 / self.median_ns;
        match self.throughput {
            Some(Throughput::Bytes(b)) => format!("{:.2} GB/s", b as f64 * per_sec / 1e9),
            Some(Throughput::Elements(e)) => format!("{:.2} Melem/s", e as f64 * per_sec / 1e6),
            None => String::new(),
        }
    }
}

/// Whether a function name marks the reference implementation of its group.
pub fn is_reference(function: &str) -> bool {
    let f = function.to_ascii_lowercase();
    ["reference", "naive", "std", "heap", "smoltcp", "linux"].iter().any(|k| f.contains(k))
}

/// Runs the subcommand.
pub fn run(args: &Args) -> Result<(), String> {
    let rows = collect(&args.dir)?;
    if rows.is_empty() {
        return Err(format!(
            "no criterion results under {}; run `cargo bench` (or scripts/bench.sh) first",
            args.dir.display()
        ));
    }
    let table = render(&rows);
    print!("{table}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &table)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Reads every `*/new/benchmark.json` below `dir`.
pub fn collect(dir: &Path) -> Result<Vec<Row>, String> {
    if !dir.is_dir() {
        return Err(format!(
            "{} does not exist; run `cargo bench` (or scripts/bench.sh) first",
            dir.display()
        ));
    }
    let mut rows = Vec::new();
    walk(dir, &mut rows)?;
    rows.sort_by(|a, b| (&a.group, &a.value, &a.function).cmp(&(&b.group, &b.value, &b.function)));
    Ok(rows)
}

fn walk(dir: &Path, rows: &mut Vec<Row>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(row) = read_row(&path)? {
                rows.push(row);
            }
        } else if path.file_name().is_some_and(|n| n != "base" && n != "report") {
            walk(&path, rows)?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

fn read_row(new_dir: &Path) -> Result<Option<Row>, String> {
    let bench = new_dir.join("benchmark.json");
    let estimates = new_dir.join("estimates.json");
    if !bench.is_file() || !estimates.is_file() {
        return Ok(None);
    }
    let b = read_json(&bench)?;
    let e = read_json(&estimates)?;
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let median_ns = e["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("{} has no median estimate", estimates.display()))?;
    let throughput = match &b["throughput"] {
        Value::Object(m) => {
            if let Some(n) = m.get("Bytes").and_then(Value::as_u64) {
                Some(Throughput::Bytes(n))
            } else if let Some(n) = m.get("BytesDecimal").and_then(Value::as_u64) {
                Some(Throughput::Bytes(n))
            } else {
                m.get("Elements").and_then(Value::as_u64).map(Throughput::Elements)
            }
        }
        _ => None,
    };
    Ok(Some(Row {
        group: text(&b["group_id"]),
        function: text(&b["function_id"]),
        value: text(&b["value_str"]),
        median_ns,
        throughput,
    }))
}

fn fmt_time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Renders rows as a markdown table with a ratio column against the group's reference.
pub fn render(rows: &[Row]) -> String {
    let mut reference: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for r in rows.iter().filter(|r| is_reference(&r.function)) {
        reference.insert((&r.group, &r.value), r.median_ns);
    }
    let mut out = String::new();
    out.push_str(
        "| group | function | parameter | median time | throughput | speed vs reference |\n",
    );
    out.push_str("|---|---|---|---:|---:|---:|\n");
    for r in rows {
        let ratio = match reference.get(&(r.group.as_str(), r.value.as_str())) {
            Some(base) if !is_reference(&r.function) => format!("{:.2}×", base / r.median_ns),
            Some(_) => "1.00× (reference)".to_string(),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.group,
            r.function,
            r.value,
            fmt_time(r.median_ns),
            r.rate(),
            ratio
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(function: &str, ns: f64) -> Row {
        Row {
            group: "checksum".into(),
            function: function.into(),
            value: "1500".into(),
            median_ns: ns,
            throughput: Some(Throughput::Bytes(1500)),
        }
    }

    #[test]
    fn ratio_is_against_the_reference_of_the_same_group_and_value() {
        let t = render(&[row("naive", 300.0), row("fast", 100.0)]);
        assert!(t.contains("| fast | 1500 | 100.0 ns | 15.00 GB/s | 3.00× |"), "{t}");
        assert!(t.contains("1.00× (reference)"), "{t}");
    }

    #[test]
    fn reads_criterion_layout() {
        let dir = std::env::temp_dir().join(format!("xdptcp-report-{}", std::process::id()));
        let new = dir.join("g/f/64/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"g","function_id":"f","value_str":"64","throughput":{"Elements":2}}"#,
        )
        .unwrap();
        std::fs::write(new.join("estimates.json"), r#"{"median":{"point_estimate":50.0}}"#)
            .unwrap();
        let rows = collect(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].median_ns, 50.0);
        assert_eq!(rows[0].throughput, Some(Throughput::Elements(2)));
        assert_eq!(rows[0].rate(), "40.00 Melem/s");
    }

    #[test]
    fn missing_dir_is_a_clear_error() {
        let err = collect(Path::new("/nonexistent/criterion")).unwrap_err();
        assert!(err.contains("run `cargo bench`"), "{err}");
    }
}
