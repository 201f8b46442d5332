"""The escape suite: run as a job of one project by a Contributor, it tries every way around
the API it can think of — the platform's files, other projects' work, the server's process,
privileges — and prints one JSON line of outcomes. Every attempt must fail.

Standard library only: it runs on the system Python, inside the sandbox. What it aims at
comes in its environment (the test knows where the server keeps things; a real attacker
would guess the defaults): ESCAPE_DATA_DIR, ESCAPE_CONFIG_FILE, ESCAPE_KEY_FILE,
ESCAPE_OBJECTS_DIR, ESCAPE_SERVER_PID, ESCAPE_OTHER_JOB, ESCAPE_OTHER_PID, ESCAPE_SUID,
ESCAPE_OTHER_PROJECT (org/name).
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request

env = os.environ
results = []


def attempt(name, host_path=None):
    """Runs the decorated attempt: it returns a description of what it got when it
    escaped, or None; an OSError means it was blocked. A write that seems to succeed may
    have landed in the job's own private folders (where the sandbox rebuilt the path to
    its working folder): `host_path` names the file the test then looks for on the host."""

    def run(function):
        try:
            got = function()
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            results.append({"name": name, "escaped": False, "detail": f"{type(error).__name__}: {error}"})
            return function
        result = {"name": name, "escaped": got is not None, "detail": got or "nothing"}
        if got is not None and host_path:
            result["host_path"] = host_path
        results.append(result)
        return function

    return run


data = env["ESCAPE_DATA_DIR"]
server = int(env["ESCAPE_SERVER_PID"])
other_job = env["ESCAPE_OTHER_JOB"]
other_pid = int(env["ESCAPE_OTHER_PID"])


def read(path, size=4096):
    with open(path, "rb") as file:
        return file.read(size)


@attempt("read the server key")
def _():
    return f"read {len(read(env['ESCAPE_KEY_FILE']))} bytes"


@attempt("read the SQLite database")
def _():
    head = read(os.path.join(data, "plinth.db"), 64)
    return "read the database header" if head else None


@attempt("list the data directory")
def _():
    names = os.listdir(data)
    leaked = [name for name in names if name in ("plinth.db", "server.key", "objects", "plinth.toml")]
    return f"saw {leaked}" if leaked else None


@attempt("read another project's objects")
def _():
    for root, _dirs, files in os.walk(env["ESCAPE_OBJECTS_DIR"], onerror=lambda error: (_ for _ in ()).throw(error)):
        for name in files:
            read(os.path.join(root, name), 16)
            return f"read {os.path.join(root, name)}"
    if not os.path.isdir(env["ESCAPE_OBJECTS_DIR"]):
        raise FileNotFoundError("no object folder in view")
    return None


@attempt("list another workload's folder")
def _():
    return f"saw {os.listdir(os.path.join(data, 'runtime', 'work', other_job))}"


@attempt("read another workload's log")
def _():
    return f"read {read(os.path.join(data, 'runtime', 'executor', 'logs', other_job + '.log'))!r}"


@attempt("read the configuration file")
def _():
    return f"read {read(env['ESCAPE_CONFIG_FILE'])[:40]!r}"


@attempt("read the server's environment")
def _():
    return f"read {len(read(f'/proc/{server}/environ'))} bytes"


@attempt("read the server's memory")
def _():
    with open(f"/proc/{server}/mem", "rb") as mem:
        maps = read(f"/proc/{server}/maps").split(b"\n")[0]
        mem.seek(int(maps.split(b"-")[0], 16))
        return f"read {len(mem.read(16))} bytes"


@attempt("list the server's open files")
def _():
    return f"saw {len(os.listdir(f'/proc/{server}/fd'))} descriptors"


@attempt("signal the server")
def _():
    os.kill(server, 0)
    return "the server accepts signals"


@attempt("signal another workload")
def _():
    os.kill(other_pid, 0)
    return "the other workload accepts signals"


libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_DETACH = 16, 17


def ptrace(pid):
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) == 0:
        libc.ptrace(PTRACE_DETACH, pid, None, None)
        return f"attached to {pid}"
    errno = ctypes.get_errno()
    raise OSError(errno, os.strerror(errno))


@attempt("ptrace the server")
def _():
    return ptrace(server)


@attempt("ptrace another workload")
def _():
    return ptrace(other_pid)


@attempt("write into the data directory", os.path.join(data, "escaped"))
def _():
    with open(os.path.join(data, "escaped"), "w") as file:
        file.write("x")
    return "wrote a file"


@attempt("write into the runtime folder", os.path.join(data, "runtime", "escaped"))
def _():
    with open(os.path.join(data, "runtime", "escaped"), "w") as file:
        file.write("x")
    return "wrote a file"


@attempt("write into a system folder")
def _():
    with open("/etc/plinth-escaped", "w") as file:
        file.write("x")
    return "wrote /etc/plinth-escaped"


@attempt("read root's home")
def _():
    return f"saw {os.listdir('/root')}"


@attempt("raise privileges with a setuid-root binary")
def _():
    output = subprocess.run([env["ESCAPE_SUID"]], capture_output=True, text=True, timeout=10).stdout
    return f"ran as {output.strip()}" if "euid=0" in output else None


@attempt("see another workload's /tmp")
def _():
    return "found its marker" if os.path.exists("/tmp/other-workload-marker") else None


@attempt("see another workload's /dev/shm")
def _():
    return "found its marker" if os.path.exists("/dev/shm/other-workload-marker") else None


@attempt("connect to another workload's abstract socket")
def _():
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect("\0plinth-escape-other")
    return "connected"


@attempt("uncover the data directory from a new user namespace")
def _():
    script = f"umount -l {data} 2>/dev/null; ls {data}"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise OSError(done.returncode, done.stderr.strip() or "refused")
    return f"saw {done.stdout.split()}" if "plinth.db" in done.stdout else None


@attempt("mount over a system folder")
def _():
    done = subprocess.run(["mount", "-t", "tmpfs", "none", "/mnt"], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise OSError(done.returncode, done.stderr.strip() or "refused")
    return "mounted"


def api(path):
    request = urllib.request.Request(env["PLINTH_URL"] + path, headers={"Authorization": "Bearer " + env["PLINTH_TOKEN"]})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


@attempt("read another project through the API with the job's token")
def _():
    org, name = env["ESCAPE_OTHER_PROJECT"].split("/")
    try:
        return f"answered {api(f'/api/v1/orgs/{org}/projects/{name}/jobs')}"
    except urllib.error.HTTPError as error:
        raise OSError(error.code, f"HTTP {error.code}") from error


@attempt("read another project's runs through MLflow's API with the job's token")
def _():
    org, name = env["ESCAPE_OTHER_PROJECT"].split("/")
    try:
        return f"answered {api(f'/projects/{org}/{name}/api/2.0/mlflow/experiments/search?max_results=10')}"
    except urllib.error.HTTPError as error:
        raise OSError(error.code, f"HTTP {error.code}") from error


def secrets_in_view():
    """Every string that looks like a credential the job can find: its own environment aside,
    other processes' environments and command lines, and the platform's usual files."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        for part in ("environ", "cmdline"):
            try:
                text = read(f"/proc/{pid}/{part}", 1 << 20).decode(errors="replace")
            except OSError:
                continue
            found += [item for item in text.split("\0") if "postgres" in item or "PASSWORD" in item]
    for path in ("/etc/plinth/plinth.toml", "/etc/plinth.toml", env["ESCAPE_CONFIG_FILE"]):
        try:
            found.append(read(path).decode(errors="replace"))
        except OSError:
            pass
    return found


@attempt("find the server's credentials anywhere in view")
def _():
    found = secrets_in_view()
    return f"found {found}" if found else None


# The job still works: its own token answers, its folder is writable, /tmp is private.
own = {
    "uid": os.getuid(),
    "euid": os.geteuid(),
    "cwd": os.getcwd(),
    "token_ok": api("/api/v1/me") == 200,
    "tmp_writable": bool(open("/tmp/own-file", "w").write("x")),
    "cwd_writable": bool(open("own-file", "w").write("x")),
    "processes": sorted(int(pid) for pid in os.listdir("/proc") if pid.isdigit()),
}
print("ESCAPE-RESULTS " + json.dumps({"results": results, "own": own, "token": env["PLINTH_TOKEN"]}), flush=True)
