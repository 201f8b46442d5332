#!/usr/bin/env bash
# The Model API benchmark of issue 15, in one run on this machine: sklearn iris
# LogisticRegression and a 100-tree RandomForest served by
#   - Plinth's ONNX path (a release `plinth serve`, the model logged with the mlflow client
#     as an ONNX model and deployed with `plinth deployments create`),
#   - `mlflow models serve` (MLflow's own scoring server, --env-manager local),
#   - KServe's Python model server (kserve.Model with the sklearn model, as its docs do),
# each driven by wrk with one-row requests at concurrency 1, 8 and 64 (RPS, p50, p99,
# non-2xx), with the server's RSS after the load, plus the in-process onnxruntime floor
# (µs per one-row run from Python) and the gateway's own added latency: an App whose
# upstream answers a fixed 2 bytes, reached directly and through the gateway at c=1.
# Before each competitor's phase: its idle p50 (100 sequential requests) and the load
# average, printed with the table. Not part of CI's pass/fail.
# Usage: bench/serving.sh [--quick]   (--quick: 2 s per point instead of 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
[ "${1:-}" = "--quick" ] && seconds=2
venv="$HOME/.cache/plinth/serving-bench-venv"
kvenv="$HOME/.cache/plinth/kserve-bench-venv"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
if [ ! -x "$venv/bin/mlflow" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q mlflow==3.17.2 scikit-learn==1.6.1 skl2onnx==1.20.0 onnxruntime==1.23.2 psutil
fi
if [ ! -x "$kvenv/bin/python" ] || ! "$kvenv/bin/python" -c 'import kserve' 2>/dev/null; then
    python3 -m venv "$kvenv"
    "$kvenv/bin/pip" install -q kserve==0.21.0 scikit-learn==1.6.1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -q
binary="$(realpath "$target/release/plinth")"
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ok() { # URL [AUTH] → waits up to 120 s for a 200
    local i
    for i in $(seq 1200); do
        curl -sf -o /dev/null ${2:+-H "Authorization: $2"} "$1" && return 0
        sleep 0.1
    done
    echo "error: $1 never answered 200" >&2; return 1
}
rss_mib() {
    "$venv/bin/python" -c 'import psutil,sys; p=psutil.Process(int(sys.argv[1])); print(round(sum(x.memory_info().rss for x in [p]+p.children(recursive=True))/2**20,1))' "$1"
}
idle_p50() { # URL [AUTH] [BODY_FILE] → p50 ms of 100 sequential requests
    "$venv/bin/python" - "$@" <<'PY'
import statistics, sys, time, urllib.request
url, auth = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
body = open(sys.argv[3], "rb").read() if len(sys.argv) > 3 and sys.argv[3] else None
times = []
for _ in range(100):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    if auth:
        request.add_header("Authorization", auth)
    start = time.perf_counter()
    urllib.request.urlopen(request).read()
    times.append((time.perf_counter() - start) * 1000)
print(round(statistics.median(times), 2))
PY
}
results="$work/results.jsonl"
# point SYSTEM MODEL PROTOCOL URL BODY AUTH PID [HOST]
point() {
    local system=$1 model=$2 protocol=$3 url=$4 body=$5 auth=$6 pid=$7 host=${8:-}
    local health load c threads line
    health=$(idle_p50 "$url" "$auth" "$body")
    load=$(cut -d' ' -f1 /proc/loadavg)
    for c in 1 8 64; do
        threads=$(( c < 2 ? 1 : 2 ))
        line=$(BODY_FILE="$body" AUTH="$auth" HOST_HEADER="$host" wrk -t"$threads" -c"$c" -d"${seconds}s" \
            -s bench/serving/wrk.lua "$url" | tail -n 1)
        echo "{\"system\": \"$system\", \"model\": \"$model\", \"protocol\": \"$protocol\", \"c\": $c, \"idle_p50_ms\": $health, \"load\": $load, \"rss_mib\": $(rss_mib "$pid"), \"wrk\": $line}" >>"$results"
        echo "  $system $model c=$c: $line" >&2
    done
}

echo "==> models" >&2
"$venv/bin/python" bench/serving/models.py "$work" >"$work/floor.out"

echo "==> mlflow models serve" >&2
for model in iris-lr iris-rf; do
    port=$(free_port)
    # Two workers on two cores: the best a user would run here (the default is one). MLflow
    # starts uvicorn by name, so the venv's bin goes on the PATH.
    (cd "$work" && PATH="$venv/bin:$PATH" exec "$venv/bin/mlflow" models serve -m "$work/mlflow-$model" \
        --env-manager local -w 2 -h 127.0.0.1 -p "$port" >"$work/mlflow-$model.log" 2>&1) &
    pid=$!; pids+=("$pid")
    wait_ok "http://127.0.0.1:$port/ping"
    point mlflow "$model" scoring "http://127.0.0.1:$port/invocations" "$work/body-split.json" "" "$pid"
    kill "$pid"; wait "$pid" 2>/dev/null || true
done

echo "==> KServe Python model server" >&2
for model in iris-lr iris-rf; do
    port=$(free_port)
    "$kvenv/bin/python" bench/serving/kserve_server.py "$model" "$work/$model.joblib" "$port" \
        >"$work/kserve-$model.log" 2>&1 &
    pid=$!; pids+=("$pid")
    wait_ok "http://127.0.0.1:$port/v1/models/$model"
    point kserve "$model" v1 "http://127.0.0.1:$port/v1/models/$model:predict" "$work/body-v1.json" "" "$pid"
    kill "$pid"; wait "$pid" 2>/dev/null || true
done

echo "==> Plinth" >&2
port=$(free_port)
export XDG_CONFIG_HOME="$work/config"
mkdir -p "$work/plinth"
(cd "$work/plinth" && PLINTH_ADMIN_PASSWORD=bench-keeper-passphrase-42 \
    PLINTH__ENVIRONMENTS__DEFAULT_ENVIRONMENT="" PLINTH__RUNTIME__LOCAL__WHEN_UNSANDBOXED=warn \
    PLINTH__SERVING__ONNXRUNTIME_PATH="$("$venv/bin/python" -c 'import onnxruntime, glob, os; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[0])')" \
    exec "$binary" serve --listen "127.0.0.1:$port" >"$work/plinth.log" 2>&1) &
ppid=$!; pids+=("$ppid")
url="http://127.0.0.1:$port"
wait_ok "$url/healthz"
echo bench-keeper-passphrase-42 | "$binary" login --url "$url" --username admin --password-stdin >/dev/null
"$binary" orgs create bench >/dev/null
"$binary" projects create bench/serving >/dev/null
"$binary" projects use bench/serving >/dev/null
token=$(sed -n 's/^token *= *"\(.*\)"/\1/p' "$XDG_CONFIG_HOME/plinth/credentials.toml" | head -n 1)
MLFLOW_TRACKING_TOKEN="$token" "$venv/bin/python" bench/serving/models.py "$work" --plinth "$url/projects/bench/serving" >/dev/null
for model in iris-lr iris-rf; do
    endpoint=$("$binary" deployments create "$model" --model "$model/1" --wait | tail -n 1)
    wait_ok "$endpoint/ping" "Bearer $token"
    point plinth "$model" scoring "$endpoint/invocations" "$work/body-split.json" "Bearer $token" "$ppid"
    point plinth "$model" v2 "$endpoint/v2/models/$model/infer" "$work/body-v2.json" "Bearer $token" "$ppid"
done

echo "==> gateway overhead (trivial upstream)" >&2
"$binary" apps create echo --no-snapshot -- python3 -c "$(cat bench/serving/upstream.py)" >/dev/null
upstream_port=$(free_port)
python3 bench/serving/upstream.py "$upstream_port" &
pids+=($!)
wait_ok "http://127.0.0.1:$upstream_port/"
app_host="echo--serving--bench.localhost:$port"
for i in $(seq 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $app_host" -H "Authorization: Bearer $token" "$url/")
    [ "$code" = 200 ] && break
    sleep 0.1
done
for target_name in direct gateway; do
    if [ "$target_name" = direct ]; then
        line=$(BODY_FILE="" wrk -t1 -c1 -d"${seconds}s" -s bench/serving/wrk.lua "http://127.0.0.1:$upstream_port/" | tail -n 1)
    else
        line=$(BODY_FILE="" AUTH="Bearer $token" HOST_HEADER="$app_host" wrk -t1 -c1 -d"${seconds}s" \
            -s bench/serving/wrk.lua "$url/" | tail -n 1)
    fi
    echo "{\"system\": \"upstream-$target_name\", \"model\": \"-\", \"protocol\": \"http\", \"c\": 1, \"idle_p50_ms\": 0, \"load\": $(cut -d' ' -f1 /proc/loadavg), \"rss_mib\": 0, \"wrk\": $line}" >>"$results"
done
"$binary" apps stop echo >/dev/null || true

"$venv/bin/python" - "$results" "$work/floor.json" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
floor = json.load(open(sys.argv[2]))
print("| system | model | protocol | c | RPS | p50 ms | p99 ms | non-2xx | RSS MiB | idle p50 ms | load |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    if r["system"].startswith("upstream"):
        continue
    w = r["wrk"]
    print(f"| {r['system']} | {r['model']} | {r['protocol']} | {r['c']} | {w['rps']:,.0f} | {w['p50_ms']:.2f} | "
          f"{w['p99_ms']:.2f} | {w['non_2xx'] + w['socket_errors']} | {r['rss_mib']} | {r['idle_p50_ms']} | {r['load']} |")
print()
by = {(r["system"], r["model"], r["protocol"], r["c"]): r["wrk"] for r in rows}
print("| model | c | Plinth scoring RPS | ÷ mlflow | ÷ KServe | Plinth v2 RPS | ÷ KServe |")
print("|---|---:|---:|---:|---:|---:|---:|")
for model in ("iris-lr", "iris-rf"):
    for c in (1, 8, 64):
        p = by.get(("plinth", model, "scoring", c)); v2 = by.get(("plinth", model, "v2", c))
        m = by.get(("mlflow", model, "scoring", c)); k = by.get(("kserve", model, "v1", c))
        if not (p and m and k and v2):
            continue
        print(f"| {model} | {c} | {p['rps']:,.0f} | {p['rps'] / m['rps']:.1f}× | {p['rps'] / k['rps']:.1f}× | "
              f"{v2['rps']:,.0f} | {v2['rps'] / k['rps']:.1f}× |")
print()
print("in-process onnxruntime floor (Python, µs per one-row run):", floor)
d = by.get(("upstream-direct", "-", "http", 1)); g = by.get(("upstream-gateway", "-", "http", 1))
if d and g:
    print(f"gateway overhead at c=1: p50 {1000 * (g['p50_ms'] - d['p50_ms']):.0f} µs "
          f"(direct {d['p50_ms']:.3f} ms, through the gateway {g['p50_ms']:.3f} ms)")
PY
