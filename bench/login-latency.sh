#!/usr/bin/env bash
# Measures the server-side latency of a password login (argon2id verification plus a token
# insert) on this machine: starts a release `plinth serve` in a temporary folder, logs in N
# times through POST /api/v1/auth/login and prints the median and p90 in milliseconds.
# Usage: bench/login-latency.sh [N=30]   (builds the release binary if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -q
binary="$target/release/plinth"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password="bench-keeper-of-the-platform"
PLINTH_ADMIN_PASSWORD="$password" "$binary" serve --listen "127.0.0.1:$port" --data-dir "$work/data" 2>"$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
for i in $(seq "$runs"); do
    curl -s -o /dev/null -w '%{time_total}\n' -H 'content-type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$password\",\"token_name\":\"bench-$i\"}" \
        "http://127.0.0.1:$port/api/v1/auth/login"
done | sort -n | awk '{ t[NR] = $1 * 1000 } END {
    printf "logins: %d  median: %.1f ms  p90: %.1f ms  min: %.1f ms  max: %.1f ms\n",
        NR, t[int((NR + 1) / 2)], t[int(NR * 0.9)], t[1], t[NR] }'
