#!/usr/bin/env bash
# The main job until the AF_XDP driver lands: runs every criterion suite and prints one table
# with each result beside its reference implementation (ratios from the same run).
#   scripts/bench.sh            full criterion runs (minutes)
#   scripts/bench.sh --quick    criterion's quick mode (about a minute on 2 cores)
# The table is also written to results/criterion-<UTC timestamp>.md.
set -euo pipefail
cd "$(dirname "$0")/.."

extra=()
if [[ "${1:-}" == "--quick" ]]; then
  extra+=(--quick)
elif [[ -n "${1:-}" ]]; then
  echo "usage: scripts/bench.sh [--quick]" >&2
  exit 2
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo bench --workspace --benches -- "${extra[@]}" --noplot
mkdir -p results
out="results/criterion-$(date -u +%Y%m%dT%H%M%SZ).md"
cargo run -q --release -p xdptcp-bench -- report criterion --markdown "$out"
echo
echo "table written to $out"
