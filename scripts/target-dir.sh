#!/usr/bin/env bash
# Prints cargo's target directory for this workspace (wherever CARGO_TARGET_DIR or a cargo
# config puts it), for scripts that must find a build's files themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
