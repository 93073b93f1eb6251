#!/usr/bin/env python3
"""Turns the JSON reports of scripts/rudp-lab.sh into a markdown table (stdout) and an SVG
plot of p99 latency against loss (OUT_DIR/rudp-loss.svg). Standard library only."""
import json
import math
import os
import sys

LOSSES = [0, 1, 5, 10]
SIZES = [64, 4096]
TRANSPORTS = [("rudp", "#1f77b4"), ("tcp", "#d62728"), ("kcp", "#2ca02c")]


def load(out):
    """(transport, loss, size) -> the reports of that row: `NAME.json`, or the rounds
    `NAME-r1.json`, `NAME-r2.json`, ... of a run with ROUNDS > 1."""
    rows = {}
    names = sorted(os.listdir(out))
    for t, _ in TRANSPORTS:
        for loss in LOSSES:
            for size in SIZES:
                stem = f"{t}-{loss}-{size}"
                found = [n for n in names if n == f"{stem}.json"
                         or (n.startswith(f"{stem}-r") and n.endswith(".json"))]
                found.sort(key=lambda n: int(n[len(stem) + 2:-5]) if n != f"{stem}.json" else 0)
                if found:
                    rows[(t, loss, size)] = [json.load(open(os.path.join(out, n))) for n in found]
    return rows


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def merged(reports):
    """One row from its rounds: the median of each figure, timeouts summed."""
    keys = ["p50_us", "p99_us", "p999_us", "max_us", "throughput", "completed"]
    row = {k: median([r[k] for r in reports]) if all(r.get(k) is not None for r in reports)
           else None for k in keys}
    row["timeouts"] = sum(r["errors"]["timeout"] for r in reports)
    return row


def fmt(v, unit=""):
    return "-" if v is None else (f"{v:,.0f}{unit}" if v >= 100 else f"{v:.1f}{unit}")


def table(rows):
    """The table; with rounds, each figure is the median over them."""
    print("| size | loss % | transport | p50 µs | p99 µs | p99.9 µs | msg/s | timeouts |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for size in SIZES:
        for loss in LOSSES:
            for t, _ in TRANSPORTS:
                if (t, loss, size) not in rows:
                    continue
                r = merged(rows[(t, loss, size)])
                print(
                    f"| {size} | {loss} | {t} | {fmt(r['p50_us'])} | {fmt(r['p99_us'])} | "
                    f"{fmt(r['p999_us'])} | {fmt(r['throughput'])} | {r['timeouts']} |"
                )


def spread(rows):
    """For rows run in several rounds: each round's p99 and samples, and per round the ratio
    of rudp's p99 to TCP's and KCP's (the transports of one round shared its load)."""
    multi = sorted({(loss, size) for (t, loss, size), v in rows.items() if len(v) > 1})
    if not multi:
        return
    print()
    print("| size | loss % | transport | rounds | samples per round | p99 µs per round | "
          "p99 median (min-max) | max µs per round |")
    print("|---:|---:|---|---:|---|---|---|---|")
    for loss, size in sorted(multi, key=lambda k: (k[1], k[0])):
        for t, _ in TRANSPORTS:
            reps = rows.get((t, loss, size), [])
            if not reps:
                continue
            p99 = [r["p99_us"] for r in reps]
            print(f"| {size} | {loss} | {t} | {len(reps)} | "
                  f"{', '.join(format(r['completed'], ',') for r in reps)} | "
                  f"{', '.join(fmt(v) for v in p99)} | "
                  f"{fmt(median(p99))} ({fmt(min(p99))}-{fmt(max(p99))}) | "
                  f"{', '.join(fmt(r['max_us']) for r in reps)} |")
    print()
    print("| size | loss % | rudp p99 / tcp p99, per round | rudp p99 / kcp p99, per round |")
    print("|---:|---:|---|---|")
    for loss, size in sorted(multi, key=lambda k: (k[1], k[0])):
        rudp, tcp, kcp = (rows.get((t, loss, size), []) for t in ("rudp", "tcp", "kcp"))
        def ratios(other):
            return ", ".join(f"{a['p99_us'] / b['p99_us']:.2f}" for a, b in zip(rudp, other))
        print(f"| {size} | {loss} | {ratios(tcp)} | {ratios(kcp)} |")


def svg(rows, path):
    w, h, pad = 900, 380, 60
    panel = (w - 3 * pad) / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>']
    rows = {k: merged(v) for k, v in rows.items()}
    values = [r["p99_us"] for r in rows.values() if r.get("p99_us")]
    top = math.ceil(math.log10(max(values))) if values else 6
    bottom = math.floor(math.log10(min(values))) if values else 1
    span = max(top - bottom, 1)
    for i, size in enumerate(SIZES):
        x0 = pad + i * (panel + pad)
        y0, y1 = h - pad, pad
        parts.append(f'<text x="{x0 + panel / 2}" y="{pad - 25}" text-anchor="middle" font-size="14">p99 latency, {size} B messages</text>')
        parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x0 + panel}" y2="{y0}" stroke="black"/>')
        parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>')
        for d in range(bottom, top + 1):
            y = y0 - (d - bottom) / span * (y0 - y1)
            parts.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + panel}" y2="{y}" stroke="#ddd"/>')
            label = f"{10 ** d / 1000:g} ms" if d >= 3 else f"{10 ** d:g} µs"
            parts.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end">{label}</text>')
        for j, loss in enumerate(LOSSES):
            x = x0 + (j + 0.5) / len(LOSSES) * panel
            parts.append(f'<text x="{x}" y="{y0 + 18}" text-anchor="middle">{loss} %</text>')
        parts.append(f'<text x="{x0 + panel / 2}" y="{y0 + 36}" text-anchor="middle">loss each way</text>')
        for k, (t, color) in enumerate(TRANSPORTS):
            pts = []
            for j, loss in enumerate(LOSSES):
                r = rows.get((t, loss, size))
                if r and r.get("p99_us"):
                    x = x0 + (j + 0.5) / len(LOSSES) * panel
                    y = y0 - (math.log10(r["p99_us"]) - bottom) / span * (y0 - y1)
                    pts.append((x, y))
            if pts:
                parts.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
                    color, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
                for x, y in pts:
                    parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
            parts.append(f'<rect x="{x0 + 10}" y="{y1 + 8 + k * 16}" width="10" height="10" fill="{color}"/>')
            parts.append(f'<text x="{x0 + 25}" y="{y1 + 17 + k * 16}">{t}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    if len(sys.argv) != 2:
        print("usage: rudp-lab-report.py OUT_DIR", file=sys.stderr)
        sys.exit(2)
    rows = load(sys.argv[1])
    if not rows:
        print(f"no reports in {sys.argv[1]}", file=sys.stderr)
        sys.exit(1)
    table(rows)
    spread(rows)
    svg(rows, os.path.join(sys.argv[1], "rudp-loss.svg"))


if __name__ == "__main__":
    main()
