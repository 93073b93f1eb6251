#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/, each for a bounded time, and fails if any crashes.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  libFuzzer's -max_total_time for each target (default 60)
#   TARGET...           targets to run (default: every target `cargo fuzz list` prints)
# Environment:
#   FUZZ_SANITIZER      cargo-fuzz sanitizer (default: address; `none` runs faster)
#   FUZZ_QUIET          if set: keep libFuzzer's progress lines out of the output (one summary
#                       line per target; the last 150 lines of its log when it fails)
#   FUZZ_CARGO_TOOLCHAIN  a rustup toolchain to run cargo-fuzz with (e.g. nightly); default:
#                       the active one, with RUSTC_BOOTSTRAP=1
#
# cargo-fuzz passes nightly-only rustc flags (-Z...). This project builds on the stable
# toolchain, so RUSTC_BOOTSTRAP=1 lets stable accept them. Crash inputs land in
# fuzz/artifacts/<target>/ and the growing corpus in fuzz/corpus/<target>/ (both git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs=${1:-60}
if [ $# -gt 0 ]; then shift; fi
case "$secs" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}
cargo_tc=()
if [ -n "${FUZZ_CARGO_TOOLCHAIN:-}" ]; then
    cargo_tc=("+$FUZZ_CARGO_TOOLCHAIN")
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "no fuzz targets found" >&2
    exit 2
fi

run_one() {
    cargo "${cargo_tc[@]}" fuzz run --sanitizer "$sanitizer" --debug-assertions "$1" "corpus/$1" -- \
        -max_total_time="$secs" -max_len=4096 -print_final_stats=1
}

failed=()
for t in "${targets[@]}"; do
    echo "==> fuzzing $t for ${secs}s (sanitizer: $sanitizer)"
    mkdir -p "corpus/$t"
    ok=1
    if [ -n "${FUZZ_QUIET:-}" ]; then
        log=$(mktemp)
        if run_one "$t" >"$log" 2>&1; then
            grep -E '^(Done|stat::(new_units_added|peak_rss_mb))' "$log" | tr '\n' ' '
            echo
        else
            tail -n 150 "$log"
            ok=0
        fi
        rm -f "$log"
    elif ! run_one "$t"; then
        ok=0
    fi
    if [ "$ok" = 0 ]; then
        failed+=("$t")
        echo "!!! $t failed: see fuzz/artifacts/$t/" >&2
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that failed: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#targets[@]} fuzz targets ran ${secs}s without a crash"
