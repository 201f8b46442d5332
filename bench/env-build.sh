#!/usr/bin/env bash
# Environments, in one run (medians; the load average printed with each phase — numbers
# from a loaded machine are labelled so in bench/RESULTS.md):
#   1. Cold build of {mlflow, scikit-learn, pandas} (target: Plinth >= 5x faster than pip):
#      Plinth's uv commands (resolve with hashes, venv, sync of the lock; an empty uv cache)
#      vs `python -m venv` + `pip install` (an empty pip cache) vs MLflow's own `virtualenv`
#      env manager run for real (bench/env_build.py says exactly what each runs). N runs
#      each, alternating; builds are slow, so N is small.
#   2. A cached environment at a job's start (target: < 50 ms added): `plinth jobs run --
#      echo hi` until its first output line, in a built environment (`--env tiny`) vs in none
#      (the default environment switched off), against one release server (the measure of
#      bench/job-first-line.sh).
# Usage: bench/env-build.sh [N=3] [STARTS=11]
#   PLINTH_BENCH_PYTHON   the interpreter all three use (default: python3.11 or python3)
#   PLINTH_BENCH_MLFLOW_PYTHON  a Python with mlflow installed (default: the test venv's)
#   PLINTH_BENCH_BINARY   a plinth binary for part 2 (default: builds the release binary)
#   PLINTH_BENCH_SKIP_BUILDS=1 / PLINTH_BENCH_SKIP_STARTS=1  run one part only
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
starts="${2:-11}"
python="${PLINTH_BENCH_PYTHON:-$(command -v python3.11 || command -v python3)}"
python="$("$python" -c 'import sys; print(sys.executable)')"
mlflow_python="${PLINTH_BENCH_MLFLOW_PYTHON:-${PLINTH_TEST_VENV:-$HOME/.cache/plinth/test-venv}/bin/python}"
work=$(mktemp -d /var/tmp/plinth-env-bench.XXXXXX)
chmod 755 "$work"  # sandboxed jobs run as other users and must reach their folders
pid=""
trap '[ -z "$pid" ] || { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }; rm -rf "$work"' EXIT
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"; }
echo "environments benchmark, $(date -u +%FT%TZ); $(load)"
echo "note: numbers measured while the machine is shared (see the load averages) are noisy; rerun on a quiet machine"

if [ "${PLINTH_BENCH_SKIP_BUILDS:-}" != 1 ]; then
    "$mlflow_python" -c 'import mlflow' 2>/dev/null \
        || { echo "no mlflow in $mlflow_python (set PLINTH_BENCH_MLFLOW_PYTHON)" >&2; exit 1; }
    uv_version=$(sed -n 's/^pub const UV_VERSION: &str = "\(.*\)";/\1/p' crates/plinth-envs/src/uv.rs)
    # Plinth's pinned uv, installed as Plinth installs it (not timed).
    "$python" -m pip install -q --only-binary=:all: --no-deps --target "$work/uv" "uv==$uv_version"
    echo "== 1. cold build ($runs runs each; uv $uv_version; $(load))"
    "$python" bench/env_build.py --runs "$runs" --python "$python" --uv "$work/uv/bin/uv" \
        --mlflow-python "$mlflow_python" --work "$work" mlflow scikit-learn pandas
fi

if [ "${PLINTH_BENCH_SKIP_STARTS:-}" != 1 ]; then
    target="${CARGO_TARGET_DIR:-target}"
    if [ -z "${PLINTH_BENCH_BINARY:-}" ]; then cargo build --release --locked -q -p plinth; fi
    binary="$(realpath "${PLINTH_BENCH_BINARY:-$target/release/plinth}")"
    port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    password="bench-keeper-of-the-platform"
    # No default environment: a job that names none runs with the host's programs alone.
    PLINTH__ENVIRONMENTS__DEFAULT_ENVIRONMENT="" PLINTH_ADMIN_PASSWORD="$password" \
        "$binary" serve --listen "127.0.0.1:$port" --data-dir "$work/data" 2>"$work/log" &
    pid=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
    export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config"
    mkdir -p "$HOME" "$work/empty"
    echo "$password" | "$binary" login --url "http://127.0.0.1:$port" --username admin --password-stdin >/dev/null
    "$binary" orgs create bench >/dev/null
    "$binary" projects create bench/envs >/dev/null
    "$binary" projects use bench/envs >/dev/null
    "$binary" envs create tiny --python 3.11 --package six >/dev/null
    build_started=$(date +%s%N)
    "$binary" envs build tiny >/dev/null
    echo "== 2. a cached environment at a job's start ($starts runs each; $(load))"
    echo "  (binary: $binary; the environment's first build, uv installed on first use: $(( ($(date +%s%N) - build_started) / 1000000 )) ms)"
    cd "$work/empty"
    "$python" - "$binary" "$starts" <<'PY'
import statistics, subprocess, sys, time
binary, runs = sys.argv[1], int(sys.argv[2])
def first_line(extra, code):
    start = time.perf_counter()
    job = subprocess.Popen([binary, "jobs", "run", "--class", "small", *extra, "--", "python3", "-c", code],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = job.stdout.readline()
    elapsed = (time.perf_counter() - start) * 1000
    job.wait()
    return elapsed, line
times = {"no environment": [], "environment tiny": []}
probe = "import sys; print(sys.prefix)"
for _ in range(runs):
    for name, extra in (("no environment", []), ("environment tiny", ["--env", "tiny"])):
        elapsed, line = first_line(extra, probe)
        times[name].append(elapsed)
        if name == "environment tiny":
            assert b"/venvs/" in line, line  # it ran in the built environment
        else:
            assert b"/venvs/" not in line, line
medians = {name: statistics.median(values) for name, values in times.items()}
for name, value in medians.items():
    print(f"  jobs run -> first line, {name:17s} median {value:7.1f} ms  "
          f"(min {min(times[name]):.1f}, max {max(times[name]):.1f})")
print(f"  added by a cached environment: {medians['environment tiny'] - medians['no environment']:.1f} ms "
      f"(target < 50 ms)")
PY
    echo "  $(load)"
fi
