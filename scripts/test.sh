#!/usr/bin/env bash
# The one command that passes the tests on a fresh machine: it installs what it needs, then
# runs every check CI runs. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
scripts/install-deps.sh

step "sans-IO check of stack/src"
scripts/check-sans-io.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test"
cargo test --workspace --all-features

step "fuzz targets, 20 s each (one 'skipped' line without cargo-fuzz)"
scripts/fuzz-ci.sh 20

step "packetdrill: google's TCP suite against Linux and through libxdptcp_posix.so, over IPv4 then IPv6"
if [[ ! -d ../shared/packetdrill ]]; then
    echo "packetdrill skipped: no ../shared/packetdrill next to the repository (packetdrill and its TCP suite)"
elif [[ $(id -u) -ne 0 ]]; then
    echo "packetdrill skipped: it needs root (a network namespace per script)"
else
    # Every script over each family, as Linux's own packetdrill selftests run them (the IPv6
    # pass adds about 3 minutes), then the dual-stack path (AF_INET6 sockets speaking IPv4)
    # through the adapter against the committed Linux list (about 1.5 minutes): docs/ipv6.md.
    scripts/packetdrill.sh --ip-version 4
    scripts/packetdrill.sh --ip-version 6
    scripts/packetdrill.sh --ip-version mapped --adapter-only
fi

step "criterion benches in quick mode (CI runs each one; it does not judge timings)"
cargo bench --workspace --benches -- --quick --noplot

echo
echo "all checks passed"
