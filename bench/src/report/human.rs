//! Numbers rounded for people: three significant figures with a k/M/G prefix
//! (64.2 k rps, not 64225.958 rps), latencies in µs or ms, ratios as `1.34x`. The JSON keeps
//! full precision; only the table and the plots round.

/// `v` to three significant figures with an SI prefix: `64.2 k`, `442 k`, `1.23 M`, `10.2`,
/// `0.580`. Zero is `0`; a non-finite value is `-`.
pub fn si(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let (scaled, prefix) = match v.abs() {
        a if a >= 999.5e6 => (v / 1e9, " G"),
        a if a >= 999.5e3 => (v / 1e6, " M"),
        a if a >= 999.5 => (v / 1e3, " k"),
        _ => (v, ""),
    };
    format!("{}{prefix}", sig3(scaled))
}

/// Three significant figures without a prefix (`123`, `12.3`, `1.23`, `0.123`).
fn sig3(v: f64) -> String {
    let a = v.abs();
    // Round first, so 99.96 becomes `100`, not `100.0`.
    let digits = if a == 0.0 { 0 } else { a.log10().floor() as i32 };
    let decimals = (2 - digits).max(0) as usize;
    let rounded = format!("{v:.decimals$}");
    let r: f64 = rounded.parse().unwrap_or(v);
    let digits_after = if r.abs() == 0.0 { 0 } else { r.abs().log10().floor() as i32 };
    if digits_after > digits {
        let decimals = (2 - digits_after).max(0) as usize;
        format!("{r:.decimals$}")
    } else {
        rounded
    }
}

/// What one unit of throughput counts, for "per CPU-second" figures.
pub fn amount(unit: &str) -> &str {
    match unit {
        "rps" => "req",
        "cps" => "conn",
        "gbps" => "Gbit",
        "pps" => "pkt",
        other => other,
    }
}

/// A throughput for people: `64.2 k rps`, `10.2 Gbit/s`, `709 k pps`.
pub fn throughput(v: f64, unit: &str) -> String {
    match unit {
        "gbps" => format!("{} Gbit/s", sig3(v)),
        _ => format!("{} {unit}", si(v)),
    }
}

/// An amount of work per CPU-second: `31.0 k req`, `5.10 Gbit`.
pub fn per_cpu_s(v: f64, unit: &str) -> String {
    match unit {
        "gbps" => format!("{} Gbit", sig3(v)),
        _ => format!("{} {}", si(v), amount(unit)),
    }
}

/// A latency in microseconds for people: `4.85 µs`, `109 µs`, `1.64 ms`, `2.10 s`.
pub fn latency_us(us: f64) -> String {
    if !us.is_finite() {
        "-".into()
    } else if us >= 999_500.0 {
        format!("{} s", sig3(us / 1e6))
    } else if us >= 999.5 {
        format!("{} ms", sig3(us / 1e3))
    } else {
        format!("{} µs", sig3(us))
    }
}

/// A ratio: `1.34x`, `14.2x`, `0.580x`.
pub fn ratio(r: f64) -> String {
    format!("{}x", sig3(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_figures_with_prefixes() {
        assert_eq!(si(64_225.958), "64.2 k");
        assert_eq!(si(441_685.0), "442 k");
        assert_eq!(si(1_234_567.0), "1.23 M");
        assert_eq!(si(999_600.0), "1.00 M", "rounds up into the next prefix");
        assert_eq!(si(999.4), "999");
        assert_eq!(si(999.6), "1.00 k");
        assert_eq!(si(99.96), "100");
        assert_eq!(si(10.2), "10.2");
        assert_eq!(si(0.58), "0.580");
        assert_eq!(si(7.0), "7.00");
        assert_eq!(si(0.0), "0");
        assert_eq!(si(f64::NAN), "-");
        assert_eq!(si(2.5e9), "2.50 G");
    }

    #[test]
    fn units_for_people() {
        assert_eq!(throughput(64_225.958, "rps"), "64.2 k rps");
        assert_eq!(throughput(10.234, "gbps"), "10.2 Gbit/s");
        assert_eq!(per_cpu_s(31_020.0, "rps"), "31.0 k req");
        assert_eq!(per_cpu_s(5.1, "gbps"), "5.10 Gbit");
        assert_eq!(per_cpu_s(27_000.0, "cps"), "27.0 k conn");
        assert_eq!(latency_us(4.853), "4.85 µs");
        assert_eq!(latency_us(109.4), "109 µs");
        assert_eq!(latency_us(1638.0), "1.64 ms");
        assert_eq!(latency_us(2_100_000.0), "2.10 s");
        assert_eq!(ratio(1.3412), "1.34x");
        assert_eq!(ratio(14.17), "14.2x");
    }
}
