#!/usr/bin/env bash
# The main job: xdptcp against the Linux kernel, side by side, in a fresh veth lab.
#   scripts/bench.sh              `xdptcp bench lab --quick` (about two minutes; needs root)
#   scripts/bench.sh --full       `xdptcp bench lab` (10 s per combination, a few minutes)
#   scripts/bench.sh --criterion  every criterion suite in quick mode, as one table with each
#                                 result beside its reference implementation
#   --no-pgo (with --quick or --full): the `lab` build without profile-guided optimisation
# It installs what it needs (scripts/install-deps.sh), builds the `lab` profile (release
# optimised as one program, Cargo.toml) trained on the lab's own workloads by
# scripts/pgo-build.sh (about five minutes the first time, then only when the sources
# change), prints the table and writes results/<UTC timestamp>/ (results.json, table.md, SVG
# plots). The table's `build` line says which build ran.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: scripts/bench.sh [--quick|--full|--criterion] [--no-pgo]" >&2
    exit 2
}
mode=
pgo=1
for arg in "$@"; do
    case "$arg" in
        --quick | --full | --criterion)
            [[ -z "$mode" ]] || { echo "bench.sh: error: $mode and $arg: one mode at a time" >&2; exit 2; }
            mode=$arg
            ;;
        --no-pgo) pgo=0 ;;
        *) usage ;;
    esac
done
mode=${mode:---quick}
if [[ "$mode" == "--criterion" && $pgo -eq 0 ]]; then
    echo "bench.sh: error: --no-pgo applies to the lab benchmark only; criterion suites are never built with PGO" >&2
    exit 2
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true

if [[ "$mode" == "--criterion" ]]; then
  cargo bench --workspace --benches -- --quick --noplot
  mkdir -p results
  out="results/criterion-$(date -u +%Y%m%dT%H%M%SZ).md"
  cargo run -q --release -p xdptcp-bench -- report criterion --markdown "$out"
  echo
  echo "table written to $out"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "bench.sh: error: the lab benchmark attaches XDP programs and makes network namespaces; run it as root (sudo scripts/bench.sh), or use --criterion" >&2
  exit 1
fi
scripts/install-deps.sh
lab=(bench lab)
[[ "$mode" == "--quick" ]] && lab+=(--quick)
if [[ $pgo -eq 1 ]]; then
    if bin=$(scripts/pgo-build.sh); then
        exec "$bin" "${lab[@]}"
    else
        rc=$?
        [[ $rc -eq 3 ]] || exit "$rc"
        echo "bench.sh: the lab build without PGO (scripts/pgo-build.sh found no llvm-profdata for rustc's LLVM)" >&2
    fi
fi
# `cargo run` builds the lab profile and runs it from wherever the target directory is.
export XDPTCP_BUILD="lab profile (release, fat LTO, one codegen unit), no PGO"
exec cargo run --profile lab -p xdptcp-bench --bin xdptcp -- "${lab[@]}"
