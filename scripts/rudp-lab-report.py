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
    rows = {}
    for t, _ in TRANSPORTS:
        for loss in LOSSES:
            for size in SIZES:
                path = os.path.join(out, f"{t}-{loss}-{size}.json")
                if os.path.exists(path):
                    with open(path) as f:
                        rows[(t, loss, size)] = json.load(f)
    return rows


def fmt(v, unit=""):
    return "-" if v is None else (f"{v:,.0f}{unit}" if v >= 100 else f"{v:.1f}{unit}")


def table(rows):
    print("| size | loss % | transport | p50 µs | p99 µs | p99.9 µs | msg/s | timeouts |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for size in SIZES:
        for loss in LOSSES:
            for t, _ in TRANSPORTS:
                r = rows.get((t, loss, size))
                if r is None:
                    print(f"| {size} | {loss} | {t} | - | - | - | - | - |")
                    continue
                print(
                    f"| {size} | {loss} | {t} | {fmt(r['p50_us'])} | {fmt(r['p99_us'])} | "
                    f"{fmt(r['p999_us'])} | {fmt(r['throughput'])} | {r['errors']['timeout']} |"
                )


def svg(rows, path):
    w, h, pad = 900, 380, 60
    panel = (w - 3 * pad) / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>']
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
    svg(rows, os.path.join(sys.argv[1], "rudp-loss.svg"))


if __name__ == "__main__":
    main()
