#!/usr/bin/env bash
# The files S3 endpoint with boto3 (bench/s3.py): a large object up and down against the
# disk's write speed, small PUTs per second, a 1,000-key list page.
# Usage: bench/s3.sh [LARGE_MB=256] [SMALL=1000]
#   PLINTH_BENCH_BINARY  a plinth binary (default: builds the release binary)
#   PLINTH_TEST_VENV     a venv with boto3 (default: ~/.cache/plinth/test-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_LARGE_MB="${1:-256}" BENCH_SMALL="${2:-1000}"
python="${PLINTH_TEST_VENV:-$HOME/.cache/plinth/test-venv}/bin/python"
binary="${PLINTH_BENCH_BINARY:-}"
if [ -z "$binary" ]; then
    cargo build --release --locked -p plinth
    binary="${CARGO_TARGET_DIR:-target}/release/plinth"
fi
work=$(mktemp -d /var/tmp/plinth-s3-bench.XXXXXX)
pid=""
trap '[ -z "$pid" ] || { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }; [ "${PLINTH_BENCH_KEEP:-}" = 1 ] || rm -rf "$work"' EXIT
echo "S3 endpoint benchmark, $(date -u +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs; $binary"
port=$((20000 + RANDOM % 20000))
(cd "$work" && PLINTH_ADMIN_PASSWORD=bench-keeper-passphrase-77 PLINTH__ENVIRONMENTS__DEFAULT_ENVIRONMENT= \
    exec "$binary" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1) &
pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.2; done
json() { "$python" -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token=$(curl -sf "$url/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"bench-keeper-passphrase-77"}' | json '["token"]')
auth=(-H "authorization: Bearer $token" -H 'content-type: application/json')
curl -sf "$url/api/v1/orgs" "${auth[@]}" -d '{"name":"bench","owner":"admin"}' >/dev/null
curl -sf "$url/api/v1/orgs/bench/projects" "${auth[@]}" -d '{"name":"files"}' >/dev/null
key=$(curl -sf "$url/api/v1/me/s3-keys" "${auth[@]}" -d '{}')
S3_ENDPOINT=$(echo "$key" | json '["endpoint_url"]') \
S3_KEY=$(echo "$key" | json '["key"]["access_key_id"]') \
S3_SECRET=$(echo "$key" | json '["secret_access_key"]') \
S3_BUCKET=bench.files BENCH_DIR="$work" "$python" bench/s3.py
