#!/usr/bin/env python3
"""Which bytes of a connection's slab slot the server touches per frame, field by field.

A cache simulation counts misses but not which fields cause them; this counts the loads and
stores that valgrind's lackey sees on the slots of the `server_path` server, per measured
frame, and maps them onto the fields `-Zprint-type-sizes` lays out (docs/benchmarks.md,
"Where the hot run's bytes go"). Standard library only.

With `SERVER_COUNT_MARKS` set, `server_count` writes where the server's connection slots lie
(`SLAB <address> <slot size> <slots>`) and, before its measured iterations, how many frames
they hold (`MEASURE_START <frames>`):

    cargo build --release -p xdptcp-bench --example server_count
    SERVER_COUNT_MARKS=1 valgrind --tool=lackey --trace-mem=yes \
        target/release/examples/server_count 64 20 20 2>&1 | grep -v '^I' > trace.txt
    touch stack/src/lib.rs   # the sizes are printed only when the crate is compiled
    cargo +nightly rustc -p xdptcp-stack --lib --release -- -Zprint-type-sizes > sizes.txt
    scripts/touch-map.py trace.txt sizes.txt stack::socket::Socket
    scripts/touch-map.py trace.txt sizes.txt tcp::connection::Connection
    scripts/touch-map.py trace.txt sizes.txt tcp::recovery::LossRecovery 888

Arguments: the trace, the type sizes, a type and the offset of that type in the slot (0 for
the slot and the connection, which starts it).
Prints, per field: its offset (line:byte), size, the most and fewest touches a frame of any
of its bytes, and how many of its bytes were touched at all; then the slot's lines.
Exits non-zero with a one-line message on a missing file or a missing or malformed mark.
"""
import collections
import re
import sys

STRIDE_TYPE = "stack::socket::Socket"


def type_layout(sizes, name):
    """(field, offset, size) of `name` in -Zprint-type-sizes order (which is the layout's)."""
    fields, found, offset = [], False, 0
    for line in sizes:
        if line.startswith("print-type-size type: `" + name + "`"):
            found = True
            continue
        if not found:
            continue
        field = re.match(r"print-type-size     field `\.(\w+)`: (\d+) bytes", line)
        pad = re.match(r"print-type-size     (end )?padding: (\d+) bytes", line)
        if field:
            fields.append((field.group(1), offset, int(field.group(2))))
            offset += int(field.group(2))
        elif pad:
            offset += int(pad.group(2))
        elif line.startswith("print-type-size type:") or "variant" in line:
            break
    if not found:
        sys.exit(f"touch-map: type {name} not in the type sizes")
    return fields


def type_size(sizes, name):
    for line in sizes:
        m = re.match(r"print-type-size type: `" + re.escape(name) + r"`: (\d+) bytes", line)
        if m:
            return int(m.group(1))
    sys.exit(f"touch-map: type {name} not in the type sizes")


def mark(line, name, fields):
    """The integers after `name` on a mark line (the first one hexadecimal for SLAB)."""
    parts = line.split()
    try:
        if len(parts) != fields + 1:
            raise ValueError
        return [int(p, 16 if name == "SLAB" and i == 0 else 10) for i, p in enumerate(parts[1:])]
    except ValueError:
        sys.exit(f"touch-map: a malformed {name} mark: {line.strip()}")


def touches(trace):
    """Touches per byte offset of a slot, over the accesses after MEASURE_START; the slot
    size the SLAB mark gave; the frames MEASURE_START counted."""
    counts, slab, frames = collections.Counter(), None, None
    for line in trace:
        if line.startswith("SLAB "):
            slab = mark(line, "SLAB", 3)
            continue
        if line.startswith("MEASURE_START"):
            if slab is None:
                sys.exit("touch-map: no SLAB mark before MEASURE_START")
            (frames,) = mark(line, "MEASURE_START", 1)
            if frames == 0:
                sys.exit("touch-map: no frames measured")
            continue
        if frames is None:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("L", "S", "M"):
            continue
        addr, size = parts[1].split(",")
        addr, size = int(addr, 16), int(size)
        base, stride, slots = slab
        if base <= addr < base + stride * slots:
            off = (addr - base) % stride
            for i in range(size):
                counts[off + i] += 1
    if frames is None:
        sys.exit("touch-map: no MEASURE_START mark in the trace")
    return counts, slab[1], frames


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: touch-map.py TRACE TYPE-SIZES TYPE [OFFSET]")
    try:
        base = int(sys.argv[4]) if len(sys.argv) == 5 else 0
        if base < 0:
            raise ValueError
    except ValueError:
        sys.exit("touch-map: OFFSET must be a non-negative integer")
    try:
        with open(sys.argv[2]) as f:
            sizes = f.read().split("\n")
        with open(sys.argv[1]) as f:
            counts, stride, frames = touches(f)
    except OSError as e:
        sys.exit(f"touch-map: {e}")
    if stride != type_size(sizes, STRIDE_TYPE):
        sys.exit(f"touch-map: the trace's slots are {stride} bytes, the sizes' Socket is not")
    rate = {o: c / frames for o, c in counts.items()}
    for name, off, size in type_layout(sizes, sys.argv[3]):
        at = base + off
        rs = [rate.get(at + i, 0.0) for i in range(size)]
        print(
            f"{at:5} {at // 64:3}:{at % 64:2} {name:22} {size:4}  most {max(rs, default=0):6.2f}"
            f"  fewest {min(rs, default=0):6.2f}  bytes touched {sum(r > 0 for r in rs):4}"
        )
    print("lines of the slot touched (bytes touched, of them at least once a frame):")
    for line in range(stride // 64):
        rs = [rate.get(o, 0.0) for o in range(line * 64, line * 64 + 64)]
        if any(rs):
            print(f"  line {line:2}: {sum(r > 0 for r in rs):2}, {sum(r >= 1 for r in rs):2}")


if __name__ == "__main__":
    main()
