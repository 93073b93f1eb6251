#!/usr/bin/env bash
# The lab comparison of issue 15: message latency and rate of rudp, TCP and KCP under
# 0, 1, 5 and 10 % random loss each way, for 64 B and 4 KiB messages, one connection in
# closed loop (one message outstanding), the client on Linux.
#
#   rudp: `serve rudp-echo --stack xdptcp` (our stack on AF_XDP)  <- `load rudp` (kernel UDP)
#   tcp:  `serve rr --stack xdptcp`                                <- `load rr` (kernel TCP)
#   kcp:  `serve kcp-echo` (kernel UDP)                            <- `load kcp` (kernel UDP)
#
# Each loss rate gets its own two-namespace lab (`xdptcp lab up`, loss by nftables on the
# kernel-side veth, both directions). Writes one JSON report per run into OUT_DIR (and the
# client's per-second progress lines into client-*.log, which tell a stall from a tail) and
# prints the table (scripts/rudp-lab-report.py turns the JSON into the table and plot).
#
# Usage: scripts/rudp-lab.sh BIN OUT_DIR [SECONDS_PER_RUN]   (root; BIN: a built xdptcp)
#   ROUNDS=N     repeat the whole comparison N times (default 1). Within a round the three
#                transports run back to back for each loss rate and size, so they share the
#                machine's load of that moment; rounds write NAME-rK.json and the report
#                gives each row's median and spread over the rounds.
#   LOSSES="5"   the loss rates to run (default "0 1 5 10").
#   CONNS=N      connections per run, each closed loop (default 1): more samples per row.
set -euo pipefail
usage="usage: [ROUNDS=N] [LOSSES=\"0 1 5 10\"] [CONNS=N] $0 BIN OUT_DIR [SECONDS]"
bin=$(realpath "${1:?$usage}")
out=${2:?$usage}
secs=${3:-8}
rounds=${ROUNDS:-1}
losses=${LOSSES:-0 1 5 10}
conns=${CONNS:-1}
for n in "$secs" "$rounds" "$conns"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "$usage: SECONDS, ROUNDS and CONNS are positive integers" >&2; exit 2; }
done
for l in $losses; do
    [[ $l =~ ^[0-9]+$ && $l -le 100 ]] || { echo "$usage: LOSSES are percentages" >&2; exit 2; }
done
mkdir -p "$out"
server_pid=""
lab=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill -INT "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [[ -n "$lab" ]]; then "$bin" lab down "$lab" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# start_server NS LOG ARGS...: runs `xdptcp ARGS` in NS until its "listening on" line.
start_server() {
    local ns=$1 log=$2; shift 2
    : >"$log"
    ip netns exec "$ns" "$bin" "$@" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 150); do
        grep -q "listening on" "$log" && return 0
        kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; return 1; }
        sleep 0.1
    done
    echo "server did not start: $*" >&2
    cat "$log" >&2
    return 1
}

stop_server() {
    kill -INT "$server_pid"
    wait "$server_pid" || true
    server_pid=""
}

for round in $(seq 1 "$rounds"); do
suffix=""
[[ $rounds != 1 ]] && suffix="-r$round"
for loss in $losses; do
    lab="rudpl$loss"
    args=(lab up "$lab")
    [[ $loss != 0 ]] && args+=(--loss-pct "$loss")
    env_line=$("$bin" "${args[@]}" | grep '^STACK_NS=')
    eval "$env_line"
    for size in 64 4096; do
        start_server "$STACK_NS" "$out/server-rudp-$loss-$size$suffix.log" \
            serve rudp-echo --stack xdptcp --iface "$STACK_IF" --ip "$STACK_IP/24" --port 9000
        ip netns exec "$KERNEL_NS" "$bin" load rudp --target "$STACK_IP:9000" --duration "$secs" \
            --size "$size" --server-label xdptcp --conns "$conns" --json "$out/rudp-$loss-$size$suffix.json" \
            2>"$out/client-rudp-$loss-$size$suffix.log"
        stop_server

        start_server "$STACK_NS" "$out/server-tcp-$loss-$size$suffix.log" \
            serve rr --stack xdptcp --iface "$STACK_IF" --ip "$STACK_IP/24" --port 9001
        ip netns exec "$KERNEL_NS" "$bin" load rr --target "$STACK_IP:9001" --duration "$secs" \
            --size "$size" --server-label xdptcp --conns "$conns" --json "$out/tcp-$loss-$size$suffix.json" \
            2>"$out/client-tcp-$loss-$size$suffix.log"
        stop_server

        # KCP runs on kernel UDP at both ends: the stack side gets a kernel address for it.
        ip -n "$STACK_NS" addr add "$STACK_IP/24" dev "$STACK_IF"
        start_server "$STACK_NS" "$out/server-kcp-$loss-$size$suffix.log" \
            serve kcp-echo --listen "$STACK_IP:9002"
        ip netns exec "$KERNEL_NS" "$bin" load kcp --target "$STACK_IP:9002" --duration "$secs" \
            --size "$size" --server-label linux --conns "$conns" --json "$out/kcp-$loss-$size$suffix.json" \
            2>"$out/client-kcp-$loss-$size$suffix.log"
        stop_server
        ip -n "$STACK_NS" addr del "$STACK_IP/24" dev "$STACK_IF"
    done
    "$bin" lab down "$lab" >/dev/null
    lab=""
done
done
python3 "$(dirname "$0")/rudp-lab-report.py" "$out"
