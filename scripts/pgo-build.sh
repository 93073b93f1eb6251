#!/usr/bin/env bash
# Builds the lab tool `xdptcp` with profile-guided optimisation (PGO), and prints the
# optimised binary's path on its last line of output.
#
#   1. the `lab` profile (release, fat LTO, one codegen unit) instrumented
#      (`-Cprofile-generate`);
#   2. trained on the lab's own workloads: `xdptcp bench lab --quick --duration 1
#      --ceiling-rounds 1`, every workload, in a veth lab of its own (about a minute); each
#      instrumented process (servers, load generators, reflector) writes its counts;
#   3. the counts merged by `llvm-profdata` of rustc's own LLVM major version (the profile
#      format follows LLVM's; Debian's `llvm-N` is installed when it is missing);
#   4. the `lab` profile built again with them (`-Cprofile-use`).
#
# Why: the stack's per-segment path is long and flat (no function above a few per cent of a
# request), and on a busy-polling core the kernel's copy-mode AF_XDP work between two turns
# evicts it from the instruction cache. The profile tells the compiler which way each branch
# of the common segment goes and which code is cold, so the hot path is laid out straight and
# packed, and inlining follows the calls that happen: docs/benchmarks.md, "The lab's build
# trained on the lab (PGO)".
#
# The merged profile is kept with a stamp of the sources (commit, uncommitted changes,
# rustc): a later run with the same stamp skips steps 1-3. Files under <target>/pgo/: gen/
# (instrumented build), raw/ (counts), train/ (the training run's report and log),
# merged-<stamp>.profdata, use/ (the optimised build).
#
# Usage: scripts/pgo-build.sh   (as root: the training attaches XDP programs and makes
# network namespaces). Exit status 3: no llvm-profdata for rustc's LLVM could be found or
# installed (scripts/bench.sh then builds without PGO and says so).
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "pgo-build: error: $*" >&2
    exit 1
}
say() { echo "pgo-build: $*" >&2; }

[[ $# -eq 0 ]] || die "no arguments expected (usage: scripts/pgo-build.sh)"
[[ $(id -u) -eq 0 ]] || die "the training runs the lab benchmark (XDP programs, network namespaces): run it as root"

major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
[[ -n "$major" ]] || die "rustc -vV names no LLVM version"

# llvm-profdata whose LLVM major version is rustc's (an older one cannot read the counts).
find_profdata() {
    local c
    for c in "llvm-profdata-$major" "/usr/lib/llvm-$major/bin/llvm-profdata" llvm-profdata; do
        if command -v "$c" >/dev/null 2>&1 && "$c" --version 2>/dev/null | grep "LLVM version $major\." >/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}
profdata=$(find_profdata) || {
    # Debian's llvm-N, through the project's one installer (its output kept off stdout,
    # which carries the binary's path); a failed install is told below as no llvm-profdata.
    say "no llvm-profdata of LLVM $major: installing llvm-$major"
    scripts/install-deps.sh "llvm-$major" >&2 || true
    profdata=$(find_profdata) || {
        echo "pgo-build: no llvm-profdata of LLVM $major (rustc's) found or installable (Debian package llvm-$major)" >&2
        exit 3
    }
}

pgo=$(scripts/target-dir.sh)/pgo
profile_note="lab profile (release, fat LTO, one codegen unit)"
stamp=$(
    {
        git rev-parse HEAD 2>/dev/null || echo "no-git $(date +%s%N)"
        git diff HEAD 2>/dev/null || true
        git ls-files -z --others --exclude-standard 2>/dev/null | xargs -0r cat 2>/dev/null || true
        rustc -vV
    } | sha256sum | cut -c1-16
)
merged=$pgo/merged-$stamp.profdata

if [[ -f "$merged" ]]; then
    say "sources unchanged since the last training: reusing $merged"
else
    say "1/4 instrumented build ($pgo/gen)"
    rm -rf "$pgo/raw" "$pgo/train"
    mkdir -p "$pgo/raw" "$pgo/train"
    CARGO_TARGET_DIR=$pgo/gen RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$pgo/raw" \
        XDPTCP_BUILD="$profile_note, instrumented for PGO training" \
        cargo build -q --profile lab -p xdptcp-bench --bin xdptcp
    say "2/4 training: xdptcp bench lab --quick --duration 1 --ceiling-rounds 1 (log: $pgo/train/log)"
    "$pgo/gen/lab/xdptcp" bench lab --quick --duration 1 --ceiling-rounds 1 --out "$pgo/train" \
        >"$pgo/train/log" 2>&1 || {
        tail -20 "$pgo/train/log" >&2
        die "the training run failed (log above)"
    }
    shopt -s nullglob
    raw=("$pgo/raw"/*.profraw)
    [[ ${#raw[@]} -gt 0 ]] || die "the training wrote no profile into $pgo/raw"
    say "3/4 merging ${#raw[@]} profiles with $profdata"
    rm -f "$pgo"/merged-*.profdata
    "$profdata" merge -o "$merged" "${raw[@]}"
fi

say "4/4 optimised build ($pgo/use)"
# The profile's name carries the stamp, so a new training changes RUSTFLAGS and cargo builds
# again; the same training leaves the build as it is.
CARGO_TARGET_DIR=$pgo/use RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$merged" \
    XDPTCP_BUILD="$profile_note, PGO trained on bench lab --quick --duration 1 (scripts/pgo-build.sh)" \
    cargo build -q --profile lab -p xdptcp-bench --bin xdptcp
echo "$pgo/use/lab/xdptcp"
