#!/usr/bin/env bash
# A two-namespace veth lab for xdptcp.
#
#   scripts/lab.sh up NAME [--queues N [--rss [--rss-key microsoft|symmetric]]] [--loss-pct P] [--rate RATE] [--mtu MTU]
#   scripts/lab.sh down NAME
#
# `up` makes namespaces NAME-a (the stack side: runs xdptcp on its veth, which has no IPv4
# address of its own so the kernel stays out of the way) and NAME-k (the kernel side: a normal
# Linux host), joined by a veth pair NAME-a0 <-> NAME-k0. Addresses come from 198.18.0.0/15
# (RFC 2544 benchmarking space): kernel 198.18.X.1/24, stack 198.18.X.2/24, X derived from
# NAME. The kernel side has TX checksum offload off (else its frames carry partial checksums).
# --loss-pct P drops P % of frames each way with nftables netdev ingress/egress chains on the
# kernel-side veth; --rate RATE (e.g. 100mbit) adds a tc tbf bottleneck on the kernel side.
# --queues N gives both veth ends N RX and N TX queues (default 1): veth delivers a frame on
# the RX queue numbered like the TX queue the sender's kernel picked (its flow hash, XPS), so
# flows spread over the stack side's queues.
# --rss (with --queues N > 1) makes the kernel side pick the queue the way a NIC's RSS would
# for the stack side: the Toeplitz hash of each TCP or UDP frame's 4-tuple (IPv4, or IPv6
# without extension headers over its 36-byte tuple as NICs hash tcp6) with the Microsoft
# key and a 128-entry table of i % N (xdptcp_driver::rss::Rss::microsoft), by a tc egress
# classifier (scripts/lab/veth-rss.bpf.c, built with clang; `xdptcp lab up`, which runs this
# script from memory, hands its copy of that source in XDPTCP_LAB_RSS_SRC). Without it replies to the
# stack's active opens land on a queue the kernel chose at random. --rss-key symmetric hashes
# with the symmetric key instead (6d:5a repeated, xdptcp --rss-key symmetric), which an xdptcp
# peer on N queues of the kernel-side veth also agrees with.
# --mtu MTU (68..9216, default 1500) sets both veth ends' MTU: 9000 for jumbo frames, which
# xdptcp receives and sends as multi-buffer AF_XDP frames.
# `down` removes all of it and is safe to run twice. NAME: letters, digits, '-', at most 8
# characters (interface names are limited to 15).
set -euo pipefail

usage() { echo "usage: $0 up NAME [--queues N [--rss [--rss-key microsoft|symmetric]]] [--loss-pct P] [--rate RATE] [--mtu MTU] | down NAME" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd=$1 name=$2; shift 2
[[ "$name" =~ ^[A-Za-z0-9-]{1,8}$ ]] || { echo "lab: NAME must be 1-8 of [A-Za-z0-9-]" >&2; exit 2; }

ns_a="$name-a" ns_k="$name-k" if_a="$name-a0" if_k="$name-k0"
# Third octet from a hash of the name (1..254), so parallel labs get different subnets.
x=$(( $(printf '%s' "$name" | cksum | cut -d' ' -f1) % 254 + 1 ))
ip_k="198.18.$x.1" ip_a="198.18.$x.2"
ip6_k="2001:db8:$x::1" ip6_a="2001:db8:$x::2"

down() {
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_k" 2>/dev/null || true
    # Deleting a namespace deletes its veth end, and so the pair; this catches a pair left in
    # the root namespace by a failed `up`.
    ip link del "$if_a" 2>/dev/null || true
    ip link del "$if_k" 2>/dev/null || true
}

up() {
    local loss="" rate="" queues=1 rss="" rss_key=microsoft mtu=1500
    while [[ $# -gt 0 ]]; do
        case $1 in
            --queues) queues=${2:?}; shift 2 ;;
            --rss) rss=1; shift ;;
            --rss-key) rss_key=${2:?}; shift 2 ;;
            --loss-pct) loss=${2:?}; shift 2 ;;
            --rate) rate=${2:?}; shift 2 ;;
            --mtu) mtu=${2:?}; shift 2 ;;
            *) usage ;;
        esac
    done
    [[ "$queues" =~ ^[0-9]+$ && $queues -ge 1 && $queues -le 64 ]] || { echo "lab: --queues must be 1..64" >&2; exit 2; }
    [[ "$mtu" =~ ^[0-9]+$ && $mtu -ge 68 && $mtu -le 9216 ]] || { echo "lab: --mtu must be 68..9216" >&2; exit 2; }
    [[ -z "$rss" || $queues -gt 1 ]] || { echo "lab: --rss needs --queues N with N > 1" >&2; exit 2; }
    [[ $rss_key == microsoft || $rss_key == symmetric ]] || { echo "lab: --rss-key must be microsoft or symmetric" >&2; exit 2; }
    [[ -n "$rss" || $rss_key == microsoft ]] || { echo "lab: --rss-key needs --rss" >&2; exit 2; }
    [[ $(id -u) -eq 0 ]] || { echo "lab: needs root (ip netns, veth, nftables)" >&2; exit 1; }
    trap 'echo "lab: setup failed, removing $name" >&2; down' ERR
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
    ip netns add "$ns_a"
    ip netns add "$ns_k"
    ip link add "$if_a" netns "$ns_a" numtxqueues "$queues" numrxqueues "$queues" type veth \
        peer name "$if_k" netns "$ns_k" numtxqueues "$queues" numrxqueues "$queues"
    ip -n "$ns_a" link set lo up
    ip -n "$ns_k" link set lo up
    ip -n "$ns_a" link set "$if_a" mtu "$mtu"
    ip -n "$ns_k" link set "$if_k" mtu "$mtu"
    ip -n "$ns_a" link set "$if_a" up
    ip -n "$ns_k" addr add "$ip_k/24" dev "$if_k"
    ip -n "$ns_k" addr add "$ip6_k/64" dev "$if_k" nodad
    # The stack-side kernel keeps no IPv6 of its own: its link-local address would be the
    # stack's (both come from the one MAC).
    ip netns exec "$ns_a" sysctl -qw "net.ipv6.conf.$if_a.disable_ipv6=1"
    ip -n "$ns_k" link set "$if_k" up
    ip netns exec "$ns_k" ethtool -K "$if_k" tx off >/dev/null
    if [[ -n "$loss" ]]; then
        local n
        n=$(awk -v p="$loss" 'BEGIN { printf "%d", p * 10 }')  # per mille
        ip netns exec "$ns_k" nft -f - <<NFT
table netdev xdptcp_lab {
    chain ingress { type filter hook ingress device "$if_k" priority 0; numgen random mod 1000 < $n drop; }
    chain egress { type filter hook egress device "$if_k" priority 0; numgen random mod 1000 < $n drop; }
}
NFT
    fi
    if [[ -n "$rate" ]]; then
        ip netns exec "$ns_k" tc qdisc add dev "$if_k" root tbf rate "$rate" burst 32kb latency 50ms
    fi
    if [[ -n "$rss" ]]; then
        rss_up "$queues" "$rss_key"
    fi
    trap - ERR
    local mac_a
    mac_a=$(ip netns exec "$ns_a" cat "/sys/class/net/$if_a/address" 2>/dev/null || ip -n "$ns_a" -br link show "$if_a" | awk '{print $3}')
    echo "lab $name up:"
    echo "  stack  side: netns $ns_a  iface $if_a  addr $ip_a/24 (for xdptcp, not the kernel)  mac $mac_a"
    echo "  kernel side: netns $ns_k  iface $if_k  addr $ip_k/24"
    [[ $queues -gt 1 ]] && echo "  queues: $queues RX and $queues TX on each end"
    [[ -n "$loss" ]] && echo "  loss: $loss % each way (nftables netdev on $if_k)"
    [[ -n "$rate" ]] && echo "  bottleneck: tbf $rate on $if_k egress"
    [[ $mtu -ne 1500 ]] && echo "  mtu: $mtu on both ends"
    [[ -n "$rss" ]] && echo "  rss: Toeplitz ($rss_key key) over $queues queues on $if_k egress"
    echo "  ipv6: stack $ip6_a/64 (for xdptcp), kernel $ip6_k/64"
    echo "STACK_NS=$ns_a STACK_IF=$if_a STACK_IP=$ip_a KERNEL_NS=$ns_k KERNEL_IF=$if_k KERNEL_IP=$ip_k QUEUES=$queues MTU=$mtu STACK_IP6=$ip6_a KERNEL_IP6=$ip6_k"
}

# The classifier computes each TCP or UDP frame's queue and sends it out on that TX queue, so veth
# delivers it on that RX queue (see scripts/lab/veth-rss.bpf.c for how).
rss_up() {
    local queues=$1 key=$2 dir def=""
    [[ $key == symmetric ]] && def=-DSYMMETRIC_KEY
    dir=$(mktemp -d)
    # Removed however this ends (clang or tc failing stops the script: set -e).
    trap "rm -rf '$dir'" EXIT
    if [[ -n "${XDPTCP_LAB_RSS_SRC:-}" ]]; then
        # `xdptcp lab up --rss`: the source compiled into the binary, on clang's stdin.
        clang -O2 -target bpf -Wall -Werror -DQUEUES="$queues" $def \
            -x c -c - -o "$dir/rss.o" <<<"$XDPTCP_LAB_RSS_SRC"
    else
        clang -O2 -target bpf -Wall -Werror -DQUEUES="$queues" $def \
            -c "$(dirname "$0")/lab/veth-rss.bpf.c" -o "$dir/rss.o"
    fi
    ip netns exec "$ns_k" tc qdisc add dev "$if_k" clsact
    ip netns exec "$ns_k" tc filter add dev "$if_k" egress bpf direct-action \
        obj "$dir/rss.o" sec classifier
}

case $cmd in
    up) up "$@" ;;
    down) down; echo "lab $name down" ;;
    *) usage ;;
esac
