#!/usr/bin/env bash
# The test command's fuzzing step: runs every cargo-fuzz target in fuzz/ for a short, fixed
# time (default 20 s each, ~3 minutes for all of them plus one build) and fails if any
# crashes or breaks an invariant. Installs cargo-fuzz if it is missing; if it cannot be
# installed, or no toolchain can build the targets' instrumentation, it prints one line saying
# so and exits 0.
#
# Usage: scripts/fuzz-ci.sh [SECONDS_PER_TARGET]
# Environment:
#   FUZZ_SANITIZER  cargo-fuzz sanitizer (default here: none, the fastest; scripts/fuzz.sh
#                   defaults to address for longer runs)
#   FUZZ_QUIET      1 by default here: one line per target, the log's tail on a failure
#
# Toolchain: cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov-module...).
# The project builds on stable, which accepts them with RUSTC_BOOTSTRAP=1 (what
# scripts/fuzz.sh does); if that build fails and rustup has a nightly toolchain, nightly is
# used instead.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
case "$secs" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac
export FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
export FUZZ_QUIET=${FUZZ_QUIET:-1}

skip() {
    echo "fuzz targets skipped: $*"
    exit 0
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked >/dev/null 2>&1 ||
        skip "cargo-fuzz is not installed and could not be installed"
fi

# Build every target once; the runs below reuse the build.
toolchain=()
if ! (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer "$FUZZ_SANITIZER" \
    --debug-assertions >/dev/null 2>&1); then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        echo "==> stable with RUSTC_BOOTSTRAP=1 cannot build the fuzz targets; using nightly"
        toolchain=(+nightly)
        (cd fuzz && cargo "${toolchain[@]}" fuzz build --sanitizer "$FUZZ_SANITIZER" \
            --debug-assertions) || { echo "fuzz targets do not build" >&2; exit 1; }
    else
        # Tell a broken build from a missing toolchain: show the error, then skip.
        (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer "$FUZZ_SANITIZER" \
            --debug-assertions 2>&1 | tail -5) || true
        skip "stable with RUSTC_BOOTSTRAP=1 cannot build them and rustup has no nightly"
    fi
fi

if [ ${#toolchain[@]} -gt 0 ]; then
    FUZZ_CARGO_TOOLCHAIN=nightly exec scripts/fuzz.sh "$secs"
fi
exec scripts/fuzz.sh "$secs"
