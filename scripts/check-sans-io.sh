#!/usr/bin/env bash
# Fails if the sans-IO core reads a clock, opens a socket or spawns a thread.
# The stack takes `now` and seeds as arguments; see docs/architecture.md.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='Instant::now|SystemTime::now|std::net::(TcpStream|TcpListener|UdpSocket)|thread::spawn|std::thread|rand::|thread_rng|getrandom'
if hits=$(grep -rnE "$pattern" stack/src); then
  echo "error: stack/src must stay sans-IO (no clock reads, sockets, threads or randomness):" >&2
  echo "$hits" >&2
  exit 1
fi
echo "stack/src is sans-IO"
