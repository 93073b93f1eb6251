#!/usr/bin/env bash
# The main job: xdptcp against the Linux kernel, side by side, in a fresh veth lab.
#   scripts/bench.sh              `xdptcp bench lab --quick` (about two minutes; needs root)
#   scripts/bench.sh --full       `xdptcp bench lab` (10 s per combination, a few minutes)
#   scripts/bench.sh --criterion  every criterion suite in quick mode, as one table with each
#                                 result beside its reference implementation
# It installs what it needs (scripts/install-deps.sh), builds the `lab` profile (release
# optimised as one program, Cargo.toml), prints the table and writes
# results/<UTC timestamp>/ (results.json, table.md, SVG plots).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:---quick}
case "$mode" in
  --quick | --full | --criterion) ;;
  *) echo "usage: scripts/bench.sh [--quick|--full|--criterion]" >&2; exit 2 ;;
esac

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
# `cargo run` builds the lab profile and runs it from wherever the target directory is.
exec cargo run --profile lab -p xdptcp-bench --bin xdptcp -- "${lab[@]}"
