#!/usr/bin/env bash
# Instructions of a busy-polling worker's turn and of a load-generator request on the lab's
# AF_XDP device, counted by callgrind (user space only; the kernel's side is not counted),
# where timing on a shared machine cannot tell a few per cent (docs/benchmarks.md, "A turn and
# a request on the AF_XDP device").
#
#   server idle turn:     `serve rr` busy-polling with no traffic
#   generator idle turn:  `load rr --conns 1 --rate 10` against a native `serve rr`
#   one-frame turns:      `load rr --conns 1` (one response a turn): a frame's work beyond the
#                         idle turn, and a request (that work plus one turn)
#   ten connections:      `load rr --conns 10`: a request with every turn counted
#
# Under callgrind the generator runs some 50 times slower than the server, so with many
# connections its turns would hold dozens of frames: one connection keeps them small.
#
# Usage: scripts/count-turns.sh BIN [SECONDS]   (root; valgrind; BIN: a built xdptcp, release)
set -euo pipefail
usage="usage: $0 BIN [SECONDS]"
bin=$(realpath "${1:?$usage}")
secs=${2:-3}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "$usage: SECONDS is a positive integer" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "count-turns: valgrind is not installed" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "count-turns: needs root (network namespaces, AF_XDP)" >&2; exit 2; }

work=$(mktemp -d)
lab="ct$$"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill -INT "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    "$bin" lab down "$lab" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

env_line=$("$bin" lab up "$lab" | grep '^STACK_NS=')
eval "$env_line"
client_ip="${STACK_IP%.*}.4"

# run_loop OUT: the worker loop's inclusive instructions in a callgrind file; fails when the
# loop is not a function of its own there.
run_loop() {
    local n
    n=$(callgrind_annotate --inclusive=yes --tree=none --auto=no --threshold=100 "$1" 2>/dev/null |
        awk '!found && /Worker<D,A>::run_loop \[/ { gsub(",", "", $1); print $1; found = 1 }')
    [[ -n "$n" ]] || { echo "count-turns: no Worker::run_loop in $bin's profile (a build optimised as one program, such as the lab profile's, inlines it: pass a --release build)" >&2; exit 1; }
    echo "$n"
}

# counters LOG: "TURNS FRAMES" from a worker's counters line; fails without one.
counters() {
    local c
    c=$(grep -o 'iterations: [0-9]*, rx_frames: [0-9]*' "$1" | tail -1 | grep -o '[0-9]*' | tr '\n' ' ')
    [[ -n "$c" ]] || { echo "count-turns: no worker counters in $1:" >&2; tail -5 "$1" >&2; exit 1; }
    echo "$c"
}

# need_frames N WHAT: fails when a run moved no frame.
need_frames() {
    [[ $1 -gt 0 ]] || { echo "count-turns: $2 moved no frame" >&2; exit 1; }
}

# load_counted NAME ARGS...: the load generator under callgrind against the native server.
load_counted() {
    local name=$1; shift
    ip netns exec "$KERNEL_NS" valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" \
        "$bin" load rr --target "$STACK_IP:7001" --size 64 --duration "$secs" --stack xdptcp \
        --iface "$KERNEL_IF" --ip "$client_ip/24" --local-ports 10000-65000 \
        --idle-wait-after-us off "$@" >"$work/$name.log" 2>&1
}

# 1. The server's idle turn.
ip netns exec "$STACK_NS" timeout -s INT "$secs" valgrind --tool=callgrind \
    --callgrind-out-file="$work/idle-server.out" "$bin" serve rr --stack xdptcp \
    --iface "$STACK_IF" --ip "$STACK_IP/24" --port 7001 --idle-wait-after-us off \
    >"$work/idle-server.log" 2>&1 || true
read -r turns _ <<<"$(counters "$work/idle-server.log")"
n=$(run_loop "$work/idle-server.out")
echo "server idle turn: $(( n / turns )) instructions ($turns turns)"

# 2. The generator, against a native server.
ip netns exec "$STACK_NS" "$bin" serve rr --stack xdptcp --iface "$STACK_IF" \
    --ip "$STACK_IP/24" --port 7001 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do
    grep -q "listening on" "$work/server.log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done

load_counted idle --conns 1 --rate 10
read -r idle_turns _ <<<"$(counters "$work/idle.log")"
n=$(run_loop "$work/idle.out")
idle=$(( n / idle_turns ))
echo "generator idle turn: $idle instructions ($idle_turns turns)"

load_counted one --conns 1
read -r turns frames <<<"$(counters "$work/one.log")"
need_frames "$frames" "load rr --conns 1"
n=$(run_loop "$work/one.out")
beyond=$(( (n - turns * idle) / frames ))
echo "one-frame turns: a frame's work beyond the turn $beyond, a request $(( beyond + idle )) instructions ($frames frames, $turns turns)"

load_counted ten --conns 10
read -r turns frames <<<"$(counters "$work/ten.log")"
need_frames "$frames" "load rr --conns 10"
n=$(run_loop "$work/ten.out")
echo "ten connections: a request $(( n / frames )) instructions ($frames frames, $turns turns)"
