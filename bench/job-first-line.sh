#!/usr/bin/env bash
# Measures the overhead of `plinth jobs run` on the local backend: the time from starting
# `plinth jobs run -- echo hi` (snapshot of an empty folder, upload, submit, follow) until its
# first output line arrives on stdout. Starts a release `plinth serve` in a temporary
# folder, logs in, creates a project, and runs the command N times; prints the median.
# Usage: bench/job-first-line.sh [N=11]   (builds the release binary if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-11}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -q
binary="$(realpath "$target/release/plinth")"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password="bench-keeper-of-the-platform"
PLINTH_ADMIN_PASSWORD="$password" "$binary" serve --listen "127.0.0.1:$port" --data-dir "$work/data" 2>"$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config"
mkdir -p "$HOME" "$work/empty"
echo "$password" | "$binary" login --url "http://127.0.0.1:$port" --username admin --password-stdin >/dev/null
"$binary" orgs create bench >/dev/null
"$binary" projects create bench/latency >/dev/null
"$binary" projects use bench/latency >/dev/null
cd "$work/empty"
python3 - "$binary" "$runs" <<'PY'
import statistics, subprocess, sys, time
binary, runs = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(runs):
    start = time.perf_counter()
    job = subprocess.Popen([binary, "jobs", "run", "--class", "small", "--", "echo", "hi"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = job.stdout.readline()
    times.append((time.perf_counter() - start) * 1000)
    job.wait()
    assert line == b"hi\n", line
print(f"jobs run -> first line: {runs} runs  median: {statistics.median(times):.1f} ms  "
      f"min: {min(times):.1f} ms  max: {max(times):.1f} ms")
PY
