#!/usr/bin/env bash
# The pipeline benchmark of issue 16, in one run: chains of 1, 2 and 10 lightweight steps and
# a 50-wide ParallelFor (bench/pipelines/pipelines.py), run by kfp.local (SubprocessRunner,
# use_venv=False, its fastest configuration) and by a release `plinth serve` through the
# unmodified kfp.Client; median seconds per pipeline and per step, and the ratio. Also runs
# a collected list of ints into a `List[int]` input, which kfp.local hands over as doubles.
# Before each half: the 1-minute load average. Not part of CI's pass/fail.
# Usage: bench/pipelines.sh [REPEAT]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
repeat="${1:-3}"
venv="$HOME/.cache/plinth/kfp-bench-venv"
if ! "$venv/bin/python" -c 'import kfp' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q kfp==2.17.3
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
results="$work/results.jsonl"

echo "==> kfp.local (load $(cut -d' ' -f1 /proc/loadavg))" >&2
(cd "$work" && PATH="$venv/bin:$PATH" "$venv/bin/python" "$OLDPWD/bench/pipelines/kfp_local.py" \
    "$repeat" "$work/kfp-local" "$results" >"$work/kfp-local.log" 2>&1) || true

echo "==> Plinth (load $(cut -d' ' -f1 /proc/loadavg))" >&2
port=$(free_port)
url="http://127.0.0.1:$port"
export XDG_CONFIG_HOME="$work/config"
mkdir -p "$work/plinth"
(cd "$work/plinth" && PLINTH_ADMIN_PASSWORD=bench-keeper-passphrase-42 \
    PLINTH__ENVIRONMENTS__DEFAULT_ENVIRONMENT="" PLINTH__RUNTIME__LOCAL__WHEN_UNSANDBOXED=warn \
    PLINTH__PIPELINES__ENVIRONMENT=kfp \
    exec "$binary" serve --listen "127.0.0.1:$port" >"$work/plinth.log" 2>&1) &
pids+=($!)
until curl -sf -o /dev/null "$url/healthz"; do sleep 0.1; done
echo bench-keeper-passphrase-42 | "$binary" login --url "$url" --username admin --password-stdin >/dev/null
"$binary" orgs create bench >/dev/null
"$binary" projects create bench/pipes >/dev/null
# Tasks run in the environment `kfp` (pipelines.environment): built once, before timing.
"$binary" envs create kfp --python 3.11 --package kfp==2.17.3 --project bench/pipes >/dev/null
"$binary" envs build kfp --project bench/pipes >&2
token=$(sed -n 's/^token *= *"\(.*\)"/\1/p' "$XDG_CONFIG_HOME/plinth/credentials.toml" | head -n 1)
"$venv/bin/python" bench/pipelines/plinth_kfp.py "$repeat" "$url/projects/bench/pipes" "$token" "$work" "$results" \
    >"$work/plinth-client.log" 2>&1 || { tail -n 20 "$work/plinth-client.log" >&2; }

"$venv/bin/python" - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
by = {(r["system"], r["pipeline"]): r for r in rows}
steps = {"chain-1": 1, "chain-2": 2, "chain-10": 10, "fan-out-50": 51, "collected-ints": 4}
print("| pipeline | steps | kfp.local s | per step | Plinth s | per step | kfp.local ÷ Plinth |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, n in steps.items():
    k = by.get(("kfp.local", name), {}); p = by.get(("plinth", name), {})
    ks, ps = k.get("seconds"), p.get("seconds")
    cell = lambda s, r: f"{s:.2f}" if s is not None else f"failed: {r.get('error')}"
    per = lambda s: f"{s / n:.2f}" if s is not None else "–"
    ratio = f"{ks / ps:.1f}×" if ks and ps else "–"
    print(f"| {name} | {n} | {cell(ks, k)} | {per(ks)} | {cell(ps, p)} | {per(ps)} | {ratio} |")
PY
