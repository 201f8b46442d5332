#!/usr/bin/env bash
# The tracking benchmark of issue 4: starts `mlflow server` (SQLite backend,
# --serve-artifacts, 4 workers) and a release `plinth serve` (SQLite) on this machine, runs
# the same mlflow-client workload (bench/mlflow/workload.py) against each in turn, and
# prints every figure with the ratio MLflow/Plinth (higher is better for Plinth), plus
# server RSS idle and peak and start-to-healthy time. Not part of CI's pass/fail.
# Usage: bench/mlflow-vs-plinth.sh [--quick]   (--quick: 1/20 of the work, for a smoke run)
# Needs: python3; installs mlflow==3.17.2 into ~/.cache/plinth/bench-venv on first use.
# Both halves run (checked with --quick). Numbers go to bench/RESULTS.md from a full run on
# a quiet machine.
# The floor column: the mlflow client itself spends ~2-3.5 ms per call (it retries a failing
# `dbruntime` import on every request to detect Databricks), whatever the server. After the
# Plinth pass, the workload runs twice more through bench/mlflow/replay.py: once to record
# Plinth's answers, then against the recordings, answered at once ("floor": the client's own
# cost). "max ratio" = MLflow/floor, the best any server could show through this client.
# "vs floor" = Plinth/floor, the yardstick that does not move with MLflow's speed (target
# ≤ 1.2×).
# Health (issue 20): before each phase the workload records each server's idle `GET /health`
# p50, the 1-minute load average and the fsync latency of the temporary folder. A ratio is
# not reported ("refused") when MLflow's idle p50 before its phase exceeds 3× its normal
# (MLFLOW_NORMAL_HEALTH_MS, default 1.2 ms: `mlflow server`, 4 workers, on a quiet machine
# here) — a slow competitor makes any ratio look good.
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
p_peak=$(cat "$work/plinth.peak") # before the floor passes below add their own load to Plinth

# The floor: the same workload through bench/mlflow/replay.py, first recording Plinth's
# answers (every call forwarded; not measured), then answered from the recordings at once.
rport=$(free_port)
"$venv/bin/python" bench/mlflow/replay.py --upstream "http://127.0.0.1:$pport" --port "$rport" 2>"$work/replay.log" &
pids+=($!)
wait_healthy "http://127.0.0.1:$rport/__replay_stats" >/dev/null
MLFLOW_TRACKING_TOKEN="$token" "$venv/bin/python" bench/mlflow/workload.py "http://127.0.0.1:$rport" $quick >/dev/null
curl -sf -d replay "http://127.0.0.1:$rport/__replay_mode" >/dev/null
f_out=$(MLFLOW_TRACKING_TOKEN="$token" "$venv/bin/python" bench/mlflow/workload.py "http://127.0.0.1:$rport" $quick)
f_stats=$(curl -sf "http://127.0.0.1:$rport/__replay_stats")

"$venv/bin/python" - "$m_out" "$p_out" "$f_out" "$f_stats" "$m_idle" "$p_idle" "$(cat "$work/mlflow.peak")" "$p_peak" "$m_healthy" "$p_healthy" <<'PY'
import json, os, sys
m, p, f, stats = (json.loads(a) for a in sys.argv[1:5])
normal = float(os.environ.get("MLFLOW_NORMAL_HEALTH_MS", "1.2"))
# (figure, phase whose health it depends on, mlflow, plinth, floor)
rows = [
    ("create_run x%d total s" % m["create_run"]["n"], "create_run", *(x["create_run"]["total_s"] for x in (m, p, f))),
    ("log_metric x%d total s" % m["log_metric"]["n"], "log_metric", *(x["log_metric"]["total_s"] for x in (m, p, f))),
    ("log_metric p50 ms", "log_metric", *(x["log_metric"]["p50_ms"] for x in (m, p, f))),
    ("log_metric p99 ms", "log_metric", *(x["log_metric"]["p99_ms"] for x in (m, p, f))),
    ("log_batch 1000 metrics x%d total s" % m["log_batch_1000"]["n"], "log_batch_1000", *(x["log_batch_1000"]["total_s"] for x in (m, p, f))),
    ("8 threads log_metric calls/s (inverse)", "log_metric_8_threads", *(1 / x["log_metric_8_threads"]["per_s"] for x in (m, p, f))),
    ("8 threads log_metric p99 ms", "log_metric_8_threads", *(x["log_metric_8_threads"]["p99_ms"] for x in (m, p, f))),
    ("search filter (%d runs) p50 ms" % m["search_filter"]["runs"], "search", *(x["search_filter"]["p50_ms"] for x in (m, p, f))),
    ("search order by metric p50 ms", "search", *(x["search_order_by_metric"]["p50_ms"] for x in (m, p, f))),
    ("metric history %d points p50 ms" % m["metric_history"]["points"], "metric_history", *(x["metric_history"]["p50_ms"] for x in (m, p, f))),
    ("  the same as one raw GET, p50 ms", "metric_history", *(x["metric_history"]["raw_http_p50_ms"] for x in (m, p, f))),
    ("RSS idle MiB", None, float(sys.argv[5]), float(sys.argv[6]), None),
    ("RSS peak MiB", None, float(sys.argv[7]), float(sys.argv[8]), None),
    ("start to healthy ms", None, float(sys.argv[9]), float(sys.argv[10]), None),
]

def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"

print("health before each phase: idle GET /health p50 ms (mlflow, plinth), 1-min load, fsync p50 ms")
print(f"{'phase':24} {'mlflow':>8} {'plinth':>8} {'load m/p':>11} {'fsync m/p':>11}")
for phase, mh in m["health"].items():
    ph = p["health"].get(phase, {})
    print(f"{phase:24} {fmt(mh['health_p50_ms']):>8} {fmt(ph.get('health_p50_ms')):>8} "
          f"{fmt(mh['load1']):>5}/{fmt(ph.get('load1')):<5} {fmt(mh['fsync_p50_ms']):>5}/{fmt(ph.get('fsync_p50_ms')):<5}")
print()

def healthy(phase):
    if phase is None:
        return True
    p50 = m["health"][phase]["health_p50_ms"]
    return p50 is not None and p50 <= 3 * normal

print(f"{'figure':40} {'mlflow':>12} {'plinth':>12} {'floor':>12} {'ratio':>8} {'max ratio':>10} {'vs floor':>9}")
for name, phase, a, b, c in rows:
    ratio = f"{a / b:7.1f}x" if b else "    inf"
    if not healthy(phase):
        ratio = "refused"
    floor, best, vs = ("-", "-", "-") if c is None else (f"{c:.3f}", f"{a / c:.1f}x" if c else "inf", f"{b / c:.2f}x" if c else "inf")
    if not healthy(phase):
        best = "refused"
    print(f"{name:40} {a:12.3f} {b:12.3f} {floor:>12} {ratio:>8} {best:>10} {vs:>9}")
refused = sorted({phase for _, phase, *_ in rows if not healthy(phase)})
if refused:
    print(f"refused: MLflow's idle /health p50 was above 3 x {normal} ms before {', '.join(refused)}; "
          "its figures there measure a sick server, not MLflow")
print(f"8 threads: mlflow {m['log_metric_8_threads']['per_s']:.0f}/s, plinth {p['log_metric_8_threads']['per_s']:.0f}/s, "
      f"floor {f['log_metric_8_threads']['per_s']:.0f}/s; search results: mlflow {m['search_filter']['results']}, "
      f"plinth {p['search_filter']['results']}, floor {f['search_filter']['results']}")
print(f"floor: {stats['hits']} of {stats['requests']} calls answered from the recordings, "
      f"{stats['misses']} forwarded to Plinth (should be 0 or a handful)")
PY
