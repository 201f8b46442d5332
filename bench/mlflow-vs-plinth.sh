#!/usr/bin/env bash
# The tracking benchmark of issue 4: starts `mlflow server` (SQLite backend,
# --serve-artifacts, 4 workers) and a release `plinth serve` (SQLite) on this machine, runs
# the same mlflow-client workload (bench/mlflow/workload.py) against each in turn, and
# prints every figure with the ratio MLflow/Plinth (higher is better for Plinth), plus
# server RSS idle and peak and start-to-healthy time. Not part of CI's pass/fail.
# Usage: bench/mlflow-vs-plinth.sh [--quick]   (--quick: 1/20 of the work, for a smoke run)
# Needs: python3; installs mlflow==3.17.2 into ~/.cache/plinth/bench-venv on first use.
# Both halves run (checked with --quick). Numbers go to bench/RESULTS.md from a full run on
# a quiet machine. Note: the mlflow client itself spends ~2-3 ms per call (it retries a
# failing `dbruntime` import on every request to detect Databricks), the same for both
# servers, so sequential ratios are bounded by MLflow's latency over that floor.
set -euo pipefail
cd "$(dirname "$0")/.."
quick="${1:-}"
venv="$HOME/.cache/plinth/bench-venv"
if [ ! -x "$venv/bin/mlflow" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q mlflow==3.17.2 psutil
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -q
binary="$(realpath "$target/release/plinth")"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_healthy() { # URL → milliseconds until it answers 200
    local start; start=$(date +%s%N)
    until curl -sf -o /dev/null "$1"; do sleep 0.01; done
    echo $(( ($(date +%s%N) - start) / 1000000 ))
}
rss_mib() { # total RSS of a process and its descendants, MiB
    "$venv/bin/python" -c 'import psutil,sys; p=psutil.Process(int(sys.argv[1])); print(round(sum(x.memory_info().rss for x in [p]+p.children(recursive=True))/2**20,1))' "$1"
}
watch_peak() { # PID FILE: samples RSS every 0.2 s into FILE (max)
    "$venv/bin/python" - "$1" "$2" <<'PY' &
import psutil, sys, time
p = psutil.Process(int(sys.argv[1])); peak = 0
while True:
    try:
        rss = sum(x.memory_info().rss for x in [p] + p.children(recursive=True))
    except psutil.Error:
        break
    peak = max(peak, rss)
    open(sys.argv[2], "w").write(str(round(peak / 2**20, 1)))
    time.sleep(0.2)
PY
    pids+=($!)
}

# MLflow.
mport=$(free_port)
mkdir -p "$work/mlflow"
(cd "$work/mlflow" && exec "$venv/bin/mlflow" server --backend-store-uri "sqlite:///$work/mlflow/mlflow.db" \
    --serve-artifacts --artifacts-destination "$work/mlflow/artifacts" --host 127.0.0.1 --port "$mport" --workers 4 \
    >"$work/mlflow.log" 2>&1) &
mpid=$!; pids+=($mpid)
m_healthy=$(wait_healthy "http://127.0.0.1:$mport/health")
sleep 2; m_idle=$(rss_mib $mpid)
watch_peak $mpid "$work/mlflow.peak"
m_out=$("$venv/bin/python" bench/mlflow/workload.py "http://127.0.0.1:$mport" $quick)

# Plinth.
pport=$(free_port)
PLINTH_ADMIN_PASSWORD=bench-keeper-of-the-platform "$binary" serve --listen "127.0.0.1:$pport" \
    --data-dir "$work/plinth" 2>"$work/plinth.log" &
ppid=$!; pids+=($ppid)
p_healthy=$(wait_healthy "http://127.0.0.1:$pport/readyz")
sleep 2; p_idle=$(rss_mib $ppid)
api() { curl -sf -H "authorization: Bearer $1" -H 'content-type: application/json' -d "$3" "http://127.0.0.1:$pport$2"; }
admin=$(curl -sf -H 'content-type: application/json' -d '{"username":"admin","password":"bench-keeper-of-the-platform"}' \
    "http://127.0.0.1:$pport/api/v1/auth/login" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
api "$admin" /api/v1/orgs '{"name":"bench"}' >/dev/null
api "$admin" /api/v1/orgs/bench/projects '{"name":"tracking"}' >/dev/null
token=$(api "$admin" /api/v1/me/tokens '{"name":"bench","project":"bench/tracking"}' \
    | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
watch_peak $ppid "$work/plinth.peak"
p_out=$(MLFLOW_TRACKING_TOKEN="$token" "$venv/bin/python" bench/mlflow/workload.py "http://127.0.0.1:$pport" $quick)

"$venv/bin/python" - "$m_out" "$p_out" "$m_idle" "$p_idle" "$(cat "$work/mlflow.peak")" "$(cat "$work/plinth.peak")" "$m_healthy" "$p_healthy" <<'PY'
import json, sys
m, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rows = [
    ("create_run x%d total s" % m["create_run"]["n"], m["create_run"]["total_s"], p["create_run"]["total_s"]),
    ("log_metric x%d total s" % m["log_metric"]["n"], m["log_metric"]["total_s"], p["log_metric"]["total_s"]),
    ("log_metric p50 ms", m["log_metric"]["p50_ms"], p["log_metric"]["p50_ms"]),
    ("log_metric p99 ms", m["log_metric"]["p99_ms"], p["log_metric"]["p99_ms"]),
    ("log_batch 1000 metrics x%d total s" % m["log_batch_1000"]["n"], m["log_batch_1000"]["total_s"], p["log_batch_1000"]["total_s"]),
    ("8 threads log_metric calls/s (inverse)", 1 / m["log_metric_8_threads"]["per_s"], 1 / p["log_metric_8_threads"]["per_s"]),
    ("8 threads log_metric p99 ms", m["log_metric_8_threads"]["p99_ms"], p["log_metric_8_threads"]["p99_ms"]),
    ("search filter (%d runs) p50 ms" % m["search_filter"]["runs"], m["search_filter"]["p50_ms"], p["search_filter"]["p50_ms"]),
    ("search order by metric p50 ms", m["search_order_by_metric"]["p50_ms"], p["search_order_by_metric"]["p50_ms"]),
    ("metric history %d points p50 ms" % m["metric_history"]["points"], m["metric_history"]["p50_ms"], p["metric_history"]["p50_ms"]),
    ("  the same as one raw GET, p50 ms", m["metric_history"]["raw_http_p50_ms"], p["metric_history"]["raw_http_p50_ms"]),
    ("RSS idle MiB", float(sys.argv[3]), float(sys.argv[4])),
    ("RSS peak MiB", float(sys.argv[5]), float(sys.argv[6])),
    ("start to healthy ms", float(sys.argv[7]), float(sys.argv[8])),
]
print(f"{'figure':44} {'mlflow':>12} {'plinth':>12} {'ratio':>8}")
for name, a, b in rows:
    ratio = a / b if b else float("inf")
    print(f"{name:44} {a:12.3f} {b:12.3f} {ratio:7.1f}x")
print(f"8 threads: mlflow {m['log_metric_8_threads']['per_s']:.0f}/s, plinth {p['log_metric_8_threads']['per_s']:.0f}/s; "
      f"search results: mlflow {m['search_filter']['results']}, plinth {p['search_filter']['results']}")
PY
