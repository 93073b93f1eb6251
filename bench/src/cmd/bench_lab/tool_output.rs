//! Reading what the real tools print: throughput and latency quantiles from wrk and sockperf,
//! and the one line of a failed process's output that says why.

/// Throughput and latency quantiles (quantile, microseconds) of a tool's output.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Parsed {
    pub(super) rps: f64,
    pub(super) latency: Vec<(f64, f64)>,
}

impl Parsed {
    pub(super) fn quantile(&self, q: f64) -> Option<f64> {
        self.latency.iter().find(|(x, _)| (x - q).abs() < 1e-9).map(|p| p.1)
    }
}

/// `123.45us` / `1.23ms` / `1.5s` in microseconds.
fn duration_us(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

/// wrk's `Requests/sec:` and its `--latency` distribution.
pub(super) fn parse_wrk(out: &str) -> Result<Parsed, String> {
    let mut rps = None;
    let mut latency = Vec::new();
    let mut errors = None;
    for line in out.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if line.starts_with("Non-2xx or 3xx responses:")
            || line.starts_with("Socket errors:")
        {
            errors = Some(line.to_string());
        } else if let Some((pct, value)) = line.split_once('%') {
            if let (Ok(p), Some(us)) = (pct.trim().parse::<f64>(), duration_us(value.trim())) {
                latency.push((p / 100.0, us));
            }
        }
    }
    let rps = rps.ok_or_else(|| format!("wrk printed no Requests/sec: {}", last_line(out)))?;
    if rps <= 0.0 {
        return Err(format!("wrk: 0 requests/s ({})", errors.unwrap_or_default()));
    }
    if let Some(e) = errors.filter(|e| e.starts_with("Non-2xx")) {
        return Err(format!("wrk: {e}"));
    }
    Ok(Parsed { rps, latency })
}

/// sockperf's `[Valid Duration] RunTime=..; ReceivedMessages=..` and percentile lines
/// (ANSI colour codes stripped).
pub(super) fn parse_sockperf(out: &str) -> Result<Parsed, String> {
    let clean = strip_ansi(out);
    let mut rps = None;
    let mut latency = Vec::new();
    for line in clean.lines() {
        if line.contains("[Valid Duration]") {
            let field = |k: &str| {
                line.split([';', ' '])
                    .find_map(|w| w.strip_prefix(k))
                    .and_then(|v| v.trim_end_matches("sec").parse::<f64>().ok())
            };
            if let (Some(t), Some(n)) = (field("RunTime="), field("ReceivedMessages=")) {
                if t > 0.0 {
                    rps = Some(n / t);
                }
            }
        } else if let Some(rest) = line.split("percentile").nth(1) {
            if let Some((p, v)) = rest.split_once('=') {
                if let (Ok(p), Ok(v)) = (p.trim().parse::<f64>(), v.trim().parse::<f64>()) {
                    latency.push((p / 100.0, v));
                }
            }
        }
    }
    let rps = rps.ok_or_else(|| format!("sockperf printed no valid run: {}", last_line(&clean)))?;
    if rps <= 0.0 {
        return Err("sockperf: no messages came back".into());
    }
    latency.sort_by(|a, b| a.0.total_cmp(&b.0));
    latency.retain(|&(q, _)| q >= 0.5);
    Ok(Parsed { rps, latency })
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... letter
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The line of a process's error output that says what went wrong: the last one mentioning
/// `error` (clap puts usage hints after it), else the last one.
pub(super) fn error_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| l.contains("error:"))
        .map(|l| l.trim_start_matches("xdptcp: ").trim_start_matches("error: ").to_string())
        .unwrap_or_else(|| last_line(s))
}

pub(super) fn last_line(s: &str) -> String {
    s.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("(no output)").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 1s test @ http://127.0.0.1:18080/\n  1 threads and 8 connections\n\
        \x20 Latency Distribution\n     50%   49.00us\n     75%   66.00us\n     90%   90.00us\n\
        \x20    99%    1.63ms\n  149188 requests in 1.10s, 29.88MB read\nRequests/sec: 135703.30\n\
        Transfer/sec:     27.18MB\n";

    #[test]
    fn wrk_output() {
        let p = parse_wrk(WRK).unwrap();
        assert!((p.rps - 135_703.30).abs() < 1e-6);
        assert_eq!(p.quantile(0.5), Some(49.0));
        assert_eq!(p.quantile(0.99), Some(1630.0));
        assert_eq!(p.latency.len(), 4);
        assert!(parse_wrk("unable to connect to 1.2.3.4:80 Connection refused").is_err());
        let non2xx = format!("{WRK}  Non-2xx or 3xx responses: 12\n");
        assert!(parse_wrk(&non2xx).unwrap_err().contains("Non-2xx"));
    }

    #[test]
    fn sockperf_output() {
        let out = "sockperf: [Total Run] RunTime=1.001 sec; Warm up time=400 msec; SentMessages=57490; ReceivedMessages=57489\n\
            sockperf: [Valid Duration] RunTime=0.550 sec; SentMessages=40505; ReceivedMessages=40505\n\
            sockperf: \u{1b}[2;35m====> avg-rtt=13.539 (std-dev=21.213)\u{1b}[0m\n\
            sockperf: ---> percentile 99.900 =  119.803\n\
            sockperf: ---> percentile 99.000 =   87.036\n\
            sockperf: ---> percentile 50.000 =    8.020\n\
            sockperf: ---> percentile 25.000 =    7.907\n";
        let p = parse_sockperf(out).unwrap();
        assert!((p.rps - 40505.0 / 0.55).abs() < 1e-6, "{}", p.rps);
        assert_eq!(p.quantile(0.5), Some(8.02));
        assert_eq!(p.quantile(0.99), Some(87.036));
        assert_eq!(p.latency.first().map(|x| x.0), Some(0.5), "sorted, below p50 dropped");
        assert!(parse_sockperf("sockperf: No messages were received from the server").is_err());
    }

    #[test]
    fn units_and_ansi() {
        assert_eq!(duration_us("1.5s"), Some(1.5e6));
        assert_eq!(duration_us("2ms"), Some(2000.0));
        assert_eq!(duration_us("7.00us"), Some(7.0));
        assert_eq!(duration_us("7"), None);
        assert_eq!(strip_ansi("a\u{1b}[2;35mb\u{1b}[0mc"), "abc");
    }
}
