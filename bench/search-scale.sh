#!/usr/bin/env bash
# The search-scale benchmark of issue 20: starts a release `plinth serve` (SQLite, or
# PostgreSQL with --postgres), fills one experiment with 1k, 10k, 100k (and with --1m, 1M)
# runs of 5 params, 5 metrics and 1 tag each through MLflow's REST API, and at each size
# times the searches of a runs table (100 results, raw HTTP, 8 client threads, median of 7
# rounds of 8) and the UI's runs table sorted by a metric. Prints the table with the growth
# factor from each size to the next (bench/search_scale.py; every answer is checked).
# Usage: bench/search-scale.sh [--postgres] [--1m] [--sizes 1000,10000]
#   (PLINTH_BINARY=path: use that binary instead of building a release one)
# Needs: python3, curl; --postgres: PostgreSQL's binaries (scripts/lib/services.sh finds or
# installs them; the server runs with fsync off, as in the tests).
# The fill dominates: about 2 ms per run here (1M runs: about 40 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="1000,10000,100000"
postgres=""
while [ $# -gt 0 ]; do
    case "$1" in
        --postgres) postgres=1 ;;
        --1m) sizes="$sizes,1000000" ;;
        --sizes) sizes="$2"; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "${PLINTH_BINARY:-}" ]; then # a binary built already
    binary="$(realpath "$PLINTH_BINARY")"
else
    target="${CARGO_TARGET_DIR:-target}"
    cargo build --release --locked -q -p plinth
    binary="$(realpath "$target/release/plinth")"
fi
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -z "$postgres" ] || stop_services
    rm -rf "$work"
}
trap cleanup EXIT
if [ -n "$postgres" ]; then
    # shellcheck source=../scripts/lib/services.sh
    source scripts/lib/services.sh
    start_postgres
    export PLINTH__METASTORE__URL="$PLINTH_TEST_POSTGRES_URL"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
export PLINTH_ADMIN_PASSWORD=bench-keeper-of-the-platform
"$binary" serve --listen "127.0.0.1:$port" --data-dir "$work/plinth" 2>"$work/plinth.log" &
pids+=($!)
until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
api() { curl -sf -H "authorization: Bearer $1" -H 'content-type: application/json' -d "$3" "http://127.0.0.1:$port$2"; }
admin=$(curl -sf -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$PLINTH_ADMIN_PASSWORD\"}" \
    "http://127.0.0.1:$port/api/v1/auth/login" | json token)
api "$admin" /api/v1/orgs '{"name":"bench"}' >/dev/null
api "$admin" /api/v1/orgs/bench/projects '{"name":"scale"}' >/dev/null
token=$(api "$admin" /api/v1/me/tokens '{"name":"bench","project":"bench/scale"}' | json token)
echo "plinth serve on $([ -n "$postgres" ] && echo PostgreSQL || echo SQLite), sizes $sizes" >&2
python3 bench/search_scale.py "http://127.0.0.1:$port" "$token" bench/scale "$sizes"
