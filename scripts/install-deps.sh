#!/usr/bin/env bash
# Installs the system packages xdptcp needs, and only those that are missing.
#
# - Build: the driver links libxdp/libbpf through xsk-rs (`use_cc_build`): libxdp-sys runs
#   bindgen (libclang) and compiles libxdp's BPF dispatcher with clang, which includes
#   <asm/types.h> from gcc-multilib; libbpf-sys builds its vendored libbpf with make and
#   pkg-config against libelf and zlib. driver/build.rs compiles our XDP program with clang.
# - packetdrill (scripts/packetdrill.sh builds it from ../shared/packetdrill): bison, flex.
# - Lab: iproute2 (ip netns, veth), ethtool (tx checksum offload off), nftables (netdev loss),
#   tcpdump (reading pcap files), ping, nc and python3 (traffic from the kernel side), hping3
#   (the SYN flood of bench/tests/lab_syn_flood.rs).
#
# Idempotent: a second run finds everything present and changes nothing. Debian/Ubuntu only.
# Usage: scripts/install-deps.sh [PACKAGE ...]   (as root, or with everything already
# installed); packages named here are needed besides the list below (scripts/pgo-build.sh
# asks for the llvm-N whose llvm-profdata matches rustc's LLVM).
set -euo pipefail

PACKAGES=(
    # build of xsk-rs / libxdp-sys / libbpf-sys and of driver/bpf/xdptcp.bpf.c
    clang libclang-dev libelf-dev zlib1g-dev gcc-multilib make pkg-config m4 binutils
    # the veth lab and its tests
    iproute2 ethtool nftables tcpdump iputils-ping netcat-openbsd python3
    # building packetdrill for scripts/packetdrill.sh
    bison flex
    # real peers for interop tests and the side-by-side benchmarks; hping3 floods SYNs
    curl wrk sockperf hping3
    # real servers of `xdptcp bench lab` (nginx, HAProxy in TCP mode in front of it)
    nginx-light haproxy
)
PACKAGES+=("$@")

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed, nothing to do"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: error: missing packages (${missing[*]}); run 'sudo scripts/install-deps.sh' or install them with apt-get" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: error: missing packages (${missing[*]}) and no apt-get on this system; install their equivalents by hand" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${#missing[@]} package(s): ${missing[*]}"
