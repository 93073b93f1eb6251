#!/usr/bin/env bash
# google's TCP packetdrill suite against Linux (the oracle) and through our POSIX adapter.
#
#   scripts/packetdrill.sh [--src DIR] [--ip-version 4|6|mapped] [--jobs N] [--timeout SECS]
#                          [--only GLOB] [--adapter-only]
#
# --ip-version picks the family every script runs over (default 4), as packetdrill's
# --ip_version does: 4 is IPv4 (AF_INET sockets); 6 is IPv6 (AF_INET6 sockets, IPv6 packets,
# with the addresses and the 1520-byte MTU of Linux's own packetdrill selftests,
# tools/testing/selftests/net/packetdrill/ksft_runner.sh, so that the MSS stays 1460); mapped
# is ipv4-mapped-ipv6 (AF_INET6 sockets speaking IPv4 through ::ffff:a.b.c.d addresses).
# Linux's selftests run every script over both IPv4 and IPv6; scripts/test.sh runs 4, then 6,
# then mapped with --adapter-only.
# Each family has its own lists: tests/packetdrill/linux-passes.txt and expected-pass.txt for
# 4, linux-passes-ipv6.txt and expected-pass-ipv6.txt for 6, and -mapped for mapped.
#
# 1. Builds packetdrill from DIR (default ../shared/packetdrill, next to the repository; see its
#    README) in a scratch directory: the project never copies packetdrill's files into its tree.
# 2. Runs every script of DIR/tcp against the Linux kernel, each in a fresh network namespace
#    of its own (so the script's defaults.sh changes that namespace's sysctls only), and writes
#    the scripts Linux passes to tests/packetdrill/linux-passes.txt (regenerated on every run,
#    never edited by hand; the kernel version is in its header). A script that fails is run a
#    second time, alone, before it counts as failed: on a loaded machine Linux misses the
#    suite's timing tolerances (a few ms) when scripts run side by side.
# 3. Runs the scripts Linux passes through target/release/libxdptcp_posix.so (packetdrill's
#    shared-object mode, virtual time), again each in a fresh namespace so that no shell line
#    of a script touches the host. There the script's defaults.sh and its own sysctl lines
#    run as under Linux, and the adapter reads the namespace's TCP sysctls when a socket
#    connects or listens (--so_flags=sysctls=/proc/sys/net/ipv4; without the flag it has the
#    suite's profile built in, xdptcp_posix::suite_profile). The namespace has an idle
#    tun device named tun0, so that shell lines configuring packetdrill's tun device (its qdisc)
#    succeed as they do under Linux; the adapter's packets never pass through it.
# 4. Prints both counts and exits non-zero if a script listed in
#    tests/packetdrill/expected-pass.txt (the family's list) fails through the adapter, or (IPv4
#    runs) if one of the project's own scripts (docs/packetdrill/*.pkt, which describe this
#    stack) fails.
#
# --adapter-only skips step 2 and takes the scripts from tests/packetdrill/linux-passes.txt (for
# quick runs while working on the adapter). --only GLOB runs only scripts whose path under tcp/ matches GLOB (e.g. 'close/*') and does
# not rewrite linux-passes.txt. Scripts run N at a time (default: 2 per CPU; most of their time
# is spent sleeping), each under a timeout (default 60 s). Logs: $PD_KEEP (if set, kept).
# Needs root (network namespaces), cc, make, bison and flex.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

src=$repo/../shared/packetdrill
jobs=$(($(nproc) * 2))
timeout_secs=60
only=""
adapter_only=""
family=4
usage() { echo "usage: $0 [--src DIR] [--ip-version 4|6|mapped] [--jobs N] [--timeout SECS] [--only GLOB] [--adapter-only]" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --src | --ip-version | --jobs | --timeout | --only)
            [[ $# -ge 2 && -n $2 ]] || { echo "packetdrill: $1 needs a value" >&2; exit 2; } ;;
    esac
    case $1 in
        --src) src=${2:?}; shift 2 ;;
        --ip-version) family=${2:?}; shift 2 ;;
        --jobs) jobs=${2:?}; shift 2 ;;
        --timeout) timeout_secs=${2:?}; shift 2 ;;
        --only) only=${2:?}; shift 2 ;;
        --adapter-only) adapter_only=1; shift ;;
        *) usage ;;
    esac
done
# Per family: packetdrill's address flags (the same under Linux and through the adapter), the
# adapter's own flags, and the suffix of the family's lists under tests/packetdrill/.
case $family in
    4)
        family_args=() # packetdrill's defaults, as before --ip-version existed
        adapter_args=(--local_ip=192.168.0.1 --remote_ip=192.0.2.1)
        adapter_flags=""
        suffix=""
        ;;
    6)
        family_args=(--ip_version=ipv6 --mtu=1520 --local_ip=fd3d:0a0b:17d6::1
            --gateway_ip=fd3d:0a0b:17d6:8888::1 --remote_ip=fd3d:fa7b:d17d::1)
        adapter_args=()
        # The adapter's device gets the same MTU and address (packetdrill passes it neither).
        adapter_flags=",mtu=1520,local_ip=fd3d:0a0b:17d6::1"
        suffix="-ipv6"
        ;;
    mapped)
        family_args=(--ip_version=ipv4-mapped-ipv6)
        adapter_args=(--local_ip=192.168.0.1 --remote_ip=192.0.2.1)
        adapter_flags=""
        suffix="-mapped"
        ;;
    *) echo "packetdrill: --ip-version must be 4, 6 or mapped, not '$family'" >&2; exit 2 ;;
esac
family_name=$(case $family in 4) echo IPv4 ;; 6) echo IPv6 ;; mapped) echo IPv4-mapped IPv6 ;; esac)
linux_list=tests/packetdrill/linux-passes$suffix.txt
expected_list=tests/packetdrill/expected-pass$suffix.txt
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "packetdrill: --jobs must be a positive number" >&2; exit 2; }
[[ "$timeout_secs" =~ ^[1-9][0-9]*$ ]] || { echo "packetdrill: --timeout must be a positive number of seconds" >&2; exit 2; }
[[ -d "$src/packetdrill" && -d "$src/tcp" ]] || { echo "packetdrill: $src has no packetdrill/ and tcp/ (see --src)" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "packetdrill: needs root (a network namespace per script)" >&2; exit 1; }
for tool in cc make bison flex ip timeout; do
    command -v "$tool" >/dev/null || { echo "packetdrill: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/xdptcp-packetdrill.XXXXXX)
# Namespaces are named pd<pid>-<n>; the cleanup removes any a killed run left behind.
ns_prefix="pd$$-"
cleanup() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$ns_prefix" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    if [[ -n "${PD_KEEP:-}" ]]; then echo "packetdrill: logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "packetdrill: building from $src in $work"
cp -r "$src/packetdrill" "$work/"
(cd "$work/packetdrill" && ./configure >"$work/build.log" 2>&1 && make -j"$(nproc)" packetdrill >>"$work/build.log" 2>&1) ||
    { tail -20 "$work/build.log" >&2; echo "packetdrill: build failed (log above)" >&2; exit 1; }
pd=$work/packetdrill/packetdrill

echo "packetdrill: building libxdptcp_posix.so (cargo build --release -p xdptcp-posix)"
cargo build --release -q -p xdptcp-posix
so=$(scripts/target-dir.sh)/release/libxdptcp_posix.so
[[ -f "$so" ]] || { echo "packetdrill: $so was not built" >&2; exit 1; }

# Two working copies of the suite, writable (the source may be read-only). Scripts call
# ../common/defaults.sh, ../../common/defaults.sh or ../../../common/defaults.sh, which all
# must reach the profile: tcp/common/ is a link to ../../common upstream, which a plain copy
# may have turned into a text file, so both places get the file itself. Both copies run the
# real profile (in the script's own namespace), which the adapter reads back from it.
for mode in linux adapter; do
    mkdir -p "$work/$mode"
    cp -r "$src/tcp" "$src/common" "$work/$mode/"
    chmod -R u+w "$work/$mode"
    rm -f "$work/$mode/tcp/common/defaults.sh"
    cp "$work/$mode/common/defaults.sh" "$work/$mode/tcp/common/defaults.sh"
    chmod +x "$work/$mode/common/defaults.sh" "$work/$mode/tcp/common/defaults.sh"
done

# run_one MODE SCRIPT N: runs tcp/SCRIPT in a new namespace; prints "pass SCRIPT" or
# "fail SCRIPT"; its output goes to $work/logs/MODE/SCRIPT.log.
run_one() {
    local mode=$1 script=$2 ns="$ns_prefix$1-$3" rc
    local args=() adapter_args=()
    read -ra args <<<"$family_args_s"
    read -ra adapter_args <<<"$adapter_args_s"
    if [[ $mode == adapter ]]; then
        args+=("${adapter_args[@]}" --so_filename="$so" --so_flags="sysctls=/proc/sys/net/ipv4$adapter_flags")
    fi
    local log=$work/logs/$mode/$script.log
    mkdir -p "$(dirname "$log")"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    if [[ $mode == adapter ]]; then
        # Under Linux packetdrill creates tun0; here an idle one for the scripts' tc lines.
        ip -n "$ns" tuntap add dev tun0 mode tun && ip -n "$ns" link set tun0 up
    fi
    rc=0
    (cd "$work/$mode/tcp/$(dirname "$script")" &&
        timeout -k 5 "$timeout_secs" ip netns exec "$ns" "$pd" "${args[@]}" "$(basename "$script")") \
        >"$log" 2>&1 </dev/null || rc=$?
    ip netns del "$ns" 2>/dev/null || true
    [[ $rc -eq 124 || $rc -eq 137 ]] && echo "timed out after ${timeout_secs}s" >>"$log"
    if [[ $rc -eq 0 ]]; then echo "pass $script"; else echo "fail $script"; fi
}
export -f run_one
# Arrays cannot be exported: run_one gets them back from these strings (no element has a space).
family_args_s="${family_args[*]}" adapter_args_s="${adapter_args[*]}"
export work so pd ns_prefix timeout_secs family_args_s adapter_args_s adapter_flags

# run_all MODE < scripts: runs them $jobs at a time; prints the ones that passed, sorted.
run_all() {
    local mode=$1
    awk -v m="$mode" '{ print m, $0, NR }' |
        xargs -P "$jobs" -n 3 bash -c 'run_one "$0" "$1" "$2"' |
        awk '$1 == "pass" { print $2 }' | sort
}

(cd "$work/linux/tcp" && find . -name '*.pkt' | sed 's|^\./||' | sort) >"$work/all.txt"
if [[ -n "$only" ]]; then
    # shellcheck disable=SC2254
    while read -r s; do case $s in $only) echo "$s" ;; esac; done <"$work/all.txt" >"$work/sel.txt"
else
    cp "$work/all.txt" "$work/sel.txt"
fi
total=$(wc -l <"$work/sel.txt")
[[ $total -gt 0 ]] || { echo "packetdrill: no script matches '$only'" >&2; exit 2; }

start=$SECONDS
if [[ -n "$adapter_only" ]]; then
    [[ -f $linux_list ]] || { echo "packetdrill: no $linux_list: run once without --adapter-only" >&2; exit 2; }
    echo "packetdrill: Linux not run (--adapter-only): its passes from $linux_list"
    grep -v '^#' "$linux_list" | sort | comm -12 - "$work/sel.txt" >"$work/linux.txt"
else
    echo "packetdrill: $total scripts against Linux $(uname -r) over $family_name, $jobs at a time, ${timeout_secs} s each at most"
    run_all linux <"$work/sel.txt" >"$work/linux-1.txt"
    comm -23 "$work/sel.txt" "$work/linux-1.txt" >"$work/linux-retry.txt"
    jobs=1 run_all linux <"$work/linux-retry.txt" >"$work/linux-2.txt"
    sort -u "$work/linux-1.txt" "$work/linux-2.txt" >"$work/linux.txt"
fi
linux_n=$(wc -l <"$work/linux.txt")
if [[ -z "$only" && -z "$adapter_only" ]]; then
    {
        echo "# Scripts of google's packetdrill TCP suite that Linux passes over $family_name, one per line."
        echo "# Generated by scripts/packetdrill.sh --ip-version $family on Linux $(uname -r): do not edit by hand."
        cat "$work/linux.txt"
    } >"$linux_list"
fi

# Through the adapter: what Linux passed, and what is expected to pass even if Linux missed it
# this time (Linux fails a timing-sensitive script now and then on a loaded machine, which
# must not hide a regression of ours, nor report one).
if [[ -f $expected_list ]]; then
    grep -v '^#' "$expected_list" | sed '/^$/d' | sort | comm -12 - "$work/sel.txt" >"$work/expected.txt"
else
    echo "packetdrill: no $expected_list: nothing is expected to pass over $family_name yet"
    : >"$work/expected.txt"
fi
sort -u "$work/linux.txt" "$work/expected.txt" >"$work/adapter-sel.txt"
echo "packetdrill: through $(basename "$so"): the $linux_n scripts Linux passes (and any expected to pass)"
run_all adapter <"$work/adapter-sel.txt" >"$work/adapter.txt"
adapter_n=$(comm -12 "$work/adapter.txt" "$work/linux.txt" | wc -l)

echo "packetdrill: over $family_name, Linux passes $linux_n of $total; the adapter passes $adapter_n of those $linux_n ($((SECONDS - start)) s)"
sed 's/^/  pass /' "$work/adapter.txt"

# The project's own scripts describe this stack over IPv4: every one must pass (IPv4 runs only).
own_failed=()
n=0
[[ $family == 4 ]] && mkdir -p "$work/adapter/own" && cp docs/packetdrill/*.pkt "$work/adapter/own/"
for f in "$work"/adapter/own/*.pkt; do
    [[ -f $f ]] || continue
    n=$((n + 1))
    ns="${ns_prefix}own-$n"
    ip netns add "$ns"
    if ! (cd "$work/adapter/own" && timeout -k 5 "$timeout_secs" ip netns exec "$ns" "$pd" \
        --so_filename="$so" --local_ip=192.168.0.1 --remote_ip=192.0.2.1 "$(basename "$f")") \
        >"$work/own-$n.log" 2>&1 </dev/null; then
        own_failed+=("docs/packetdrill/$(basename "$f")")
        tail -5 "$work/own-$n.log" >&2
    fi
    ip netns del "$ns" 2>/dev/null || true
done
if [[ ${#own_failed[@]} -gt 0 ]]; then
    echo "packetdrill: FAILED: the project's own scripts: ${own_failed[*]}" >&2
    exit 1
fi
[[ $n -gt 0 ]] && echo "packetdrill: the project's $n own scripts (docs/packetdrill) pass"

# Regressions: listed as expected to pass (and selected), but failed.
comm -23 "$work/expected.txt" "$work/adapter.txt" >"$work/regressed.txt"
if [[ -s "$work/regressed.txt" ]]; then
    echo "packetdrill: FAILED: scripts listed in $expected_list that no longer pass:" >&2
    while read -r s; do
        echo "--- $s" >&2
        tail -5 "$work/logs/adapter/$s.log" >&2
    done <"$work/regressed.txt"
    exit 1
fi
echo "packetdrill: every script in $expected_list passed"
