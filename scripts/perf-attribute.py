#!/usr/bin/env python3
"""Where a benchmark row's time goes, in ns a frame by function, two profiles side by side.

A `perf` profile of a criterion row also samples the harness: the bench's clients, the
setup that opens the connections, criterion's warm-up. This keeps only the samples whose
call chain passes through every pattern given (by default the measured loop of
`server_path`'s server: `iter_custom`, `Run<S>::step`, the server's `run_batch`) and none of the excluded ones, and
splits them by the function they were taken in (the leaf). Each profile's share of a
function times the row's ns a frame (from criterion's report) is that function's ns a
frame; the table lists them for both profiles and the difference, largest first
(docs/benchmarks.md, "A new machine, the targets measured again"). Standard library only.

    perf record -F 1999 --call-graph dwarf,8192 -o n1.data -- taskset -c 1 \\
        target/release/deps/server_path-* --bench --profile-time 6 'server_path/xdptcp/1$'
    perf record ... -o n100k.data ... 'server_path/xdptcp/100000$'
    scripts/perf-attribute.py n1.data 98 n100k.data 172

Samples perf could not unwind (no call chain: libc's `memmove` often) cannot be placed and
are left out; their count is printed, since they skew the shares of that profile.

Arguments: a profile and its row's ns a frame, then the other. Options: `--through P`
(repeatable; replaces the default patterns), `--not P` (repeatable), `--top N` (30).
Exits non-zero with a one-line message if `perf script` fails or no sample matches.
"""
import argparse
import collections
import re
import subprocess
import sys

DEFAULT_THROUGH = ["iter_custom", "Run<S>::step", "EchoServer>::run_batch"]


def leaves(path, through, exclude):
    """Samples of `path` matching the patterns, counted by leaf function, and their total."""
    try:
        out = subprocess.run(
            ["perf", "script", "-i", path, "-F", "ip,sym", "--no-inline"],
            capture_output=True, text=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"perf-attribute: perf script on {path} failed: {e}")
    counts = collections.Counter()
    total = 0
    chainless = 0
    for sample in out.split("\n\n"):
        frames = [l.strip() for l in sample.strip().splitlines() if l.strip()]
        if not frames:
            continue
        if len(frames) == 1:
            chainless += 1
            continue
        if not all(any(p in f for f in frames) for p in through):
            continue
        if any(any(p in f for f in frames) for p in exclude):
            continue
        leaf = frames[0].split(" ", 1)[-1]
        counts[re.sub(r"\+0x[0-9a-f]+$", "", leaf)] += 1
        total += 1
    if total == 0:
        sys.exit(f"perf-attribute: no sample of {path} passes through {through}")
    return counts, total, chainless


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("a_ns", type=float)
    ap.add_argument("b")
    ap.add_argument("b_ns", type=float)
    ap.add_argument("--through", action="append")
    ap.add_argument("--not", dest="exclude", action="append", default=[])
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    through = args.through or DEFAULT_THROUGH
    (ca, ta, na), (cb, tb, nb) = (leaves(p, through, args.exclude) for p in (args.a, args.b))
    # A sample perf could not unwind (libc's memmove, often) cannot be placed: say how many.
    print(f"{args.a}: {ta} samples ({na} without a call chain, left out); "
          f"{args.b}: {tb} samples ({nb} without a call chain, left out)")
    rows = []
    for f in set(ca) | set(cb):
        x, y = ca[f] / ta * args.a_ns, cb[f] / tb * args.b_ns
        rows.append((y - x, x, y, f))
    rows.sort(reverse=True)
    print(f"{'b - a':>8} {'a':>8} {'b':>8}  ns a frame by function")
    for d, x, y, f in rows[: args.top]:
        print(f"{d:8.1f} {x:8.1f} {y:8.1f}  {f[:110]}")


if __name__ == "__main__":
    main()
