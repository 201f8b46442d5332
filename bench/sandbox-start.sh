#!/usr/bin/env bash
# What the workload sandbox adds to a job's start (target: < 20 ms), measured two ways in one
# run, medians:
#   1. the launcher alone: `plinth sandbox exec --plan P -- /bin/true` against `/bin/true`,
#      with a root plan (a uid of its own, mount/PID/IPC/UTS namespaces, Landlock) and, run as
#      an ordinary user, a user-namespace plan (hyperfine);
#   2. end to end: `plinth jobs run -- echo hi` until its first output line, against a server
#      with `runtime.local.isolation = "none"` and one with the sandbox (the default).
# Needs root (to switch users). Prints the load average before each part.
# Usage: bench/sandbox-start.sh [RUNS=41]   (builds the release binary if needed;
#        PLINTH_BENCH_BINARY=path uses that binary instead)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-41}"
[ "$(id -u)" = 0 ] || { echo "run as root: the user-namespace case runs as nobody" >&2; exit 1; }
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
target="${CARGO_TARGET_DIR:-target}"
source_binary="${PLINTH_BENCH_BINARY:-$target/release/plinth}"
[ -n "${PLINTH_BENCH_BINARY:-}" ] || cargo build --release --locked -q -p plinth
work=$(mktemp -d /var/tmp/plinth-sandbox-bench.XXXXXX)
chmod 755 "$work"
servers=()
trap 'for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null; done; rm -rf "$work"' EXIT
binary="$work/plinth"
cp "$source_binary" "$binary"
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

# --- 1. the launcher alone ---
plan() { # plan FILE IDENTITY_JSON OWNER
    local dir="$work/$(basename "$1" .json)"
    mkdir -p "$dir/data/work" "$dir/data/tmp"
    chown -R "$3" "$dir"
    cat >"$1" <<JSON
{"identity": $2, "namespaces": true, "landlock": true, "hostname": "bench",
 "work_dir": "$dir/data/work", "tmp_dir": "$dir/data/tmp", "log_file": null,
 "read_only": ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/opt", "/proc", "/sys"],
 "read_write": [], "devices": ["/dev/null", "/dev/zero", "/dev/urandom"],
 "hide": ["$dir/data"], "passwd": null, "group": null}
JSON
    chown "$3" "$1"
}
plan "$work/root.json" '{"kind": "user", "uid": 1500000000, "gid": 1500000000}' root
plan "$work/userns.json" '{"kind": "launcher"}' nobody
chown 1500000000 "$work/root/data/work" "$work/root/data/tmp"
echo "== 1. the launcher alone ($runs runs each; $(load))"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/launcher.json" \
    -n 'bare /bin/true' '/bin/true' \
    -n 'sandboxed, server as root' "$binary sandbox exec --plan $work/root.json -- /bin/true" \
    -n 'bare /bin/true as nobody' 'setpriv --reuid=65534 --regid=65534 --clear-groups /bin/true' \
    -n 'sandboxed, server as nobody (user namespace)' "setpriv --reuid=65534 --regid=65534 --clear-groups $binary sandbox exec --plan $work/userns.json -- /bin/true" \
    >/dev/null
python3 - "$work/launcher.json" <<'PY'
import json, statistics, sys
results = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(sys.argv[1]))["results"]}
for name, value in results.items():
    print(f"  {name:48s} median {value:6.2f} ms")
root = results["sandboxed, server as root"] - results["bare /bin/true"]
userns = results["sandboxed, server as nobody (user namespace)"] - results["bare /bin/true as nobody"]
print(f"  added by the sandbox: {root:.2f} ms as root, {userns:.2f} ms in a user namespace (target < 20 ms)")
PY

# --- 2. end to end ---
serve() { # serve NAME ISOLATION: starts a server, sets $port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # No default environment: this measures the sandbox alone (an environment's own cost at
    # a job's start is measured apart, with the environments).
    PLINTH_ADMIN_PASSWORD="bench-keeper-of-the-platform" PLINTH__RUNTIME__LOCAL__ISOLATION="$2" \
        PLINTH__ENVIRONMENTS__DEFAULT_ENVIRONMENT="" \
        "$binary" serve --listen "127.0.0.1:$port" --data-dir "$work/$1" >"$work/$1.out" 2>"$work/$1.log" &
    servers+=($!)
    until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
}
first_line() { # first_line PORT NAME
    local home="$work/home-$2"
    mkdir -p "$home" "$work/empty"
    (
        export HOME="$home" XDG_CONFIG_HOME="$home/.config"
        echo "bench-keeper-of-the-platform" | "$binary" login --url "http://127.0.0.1:$1" --username admin --password-stdin >/dev/null
        "$binary" orgs create bench >/dev/null
        "$binary" projects create bench/start >/dev/null
        "$binary" projects use bench/start >/dev/null
        cd "$work/empty"
        python3 - "$binary" "$runs" "$2" <<'PY'
import statistics, subprocess, sys, time
binary, runs, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = []
for _ in range(runs):
    start = time.perf_counter()
    job = subprocess.Popen([binary, "jobs", "run", "--no-snapshot", "--class", "small", "--", "echo", "hi"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = job.stdout.readline()
    times.append((time.perf_counter() - start) * 1000)
    job.wait()
    assert line == b"hi\n", line
print(f"{statistics.median(times):.2f}")
PY
    )
}
echo "== 2. plinth jobs run -- echo hi, to its first output line ($runs runs each; $(load))"
serve none none
none=$(first_line "$port" none)
serve sandbox sandbox
sandbox=$(first_line "$port" sandbox)
python3 - "$none" "$sandbox" <<'PY'
import sys
none, sandbox = float(sys.argv[1]), float(sys.argv[2])
print(f"  isolation = none     median {none:7.2f} ms")
print(f"  isolation = sandbox  median {sandbox:7.2f} ms")
print(f"  added by the sandbox: {sandbox - none:.2f} ms (target < 20 ms)")
PY
echo "== done ($(load))"
