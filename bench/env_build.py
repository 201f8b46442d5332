"""Cold builds of one Python environment three ways, for bench/env-build.sh.

Each run of each way starts from an empty package cache (a fresh cache folder) and a new
environment folder, so every archive is downloaded and installed again:

  plinth      what Plinth runs (crates/plinth-envs/src/build.rs), with its pinned uv:
              `uv pip compile requirements.in --generate-hashes --no-header --python PY`,
              `uv venv --relocatable --python PY venv`,
              `UV_LINK_MODE=copy uv pip sync --require-hashes --python venv/bin/python lock`
  pip         what users do by hand: `python -m venv venv`, `venv/bin/pip install PACKAGES`
  mlflow      MLflow's own `virtualenv` env manager, run for real: mlflow's
              `_create_virtualenv(..., env_manager="virtualenv")` for a model whose
              python_env.yaml asks for the packages. pyenv (which that manager installs the
              interpreter with) is replaced by the host's interpreter, as if pyenv had it
              already, only when there is no pyenv (with pyenv, MLflow's
              `pyenv install --skip-existing VERSION` runs as it is). It then runs `python -m venv`, `pip install -r` of the
              build dependencies (pip) and `pip install -r` of the dependencies, as MLflow does.

The ways alternate within each round so that a change of the machine's load hits all of them.
Prints each time, the load average before each, the medians and the ratios.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def timed(argv_list, env, cwd=None):
    start = time.perf_counter()
    for argv in argv_list:
        result = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            sys.stderr.write(result.stdout.decode(errors="replace")[-4000:])
            raise SystemExit(f"failed: {' '.join(map(str, argv))}")
    return time.perf_counter() - start


def base_env(work):
    env = dict(os.environ)
    # The same package index for every way: the host's, without local wheel folders.
    for name in ("PIP_FIND_LINKS", "UV_FIND_LINKS", "PIP_NO_INDEX", "UV_OFFLINE"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def plinth_way(args, packages, run_dir):
    env = base_env(run_dir)
    env["UV_CACHE_DIR"] = os.path.join(run_dir, "uv-cache")
    env["UV_LINK_MODE"] = "copy"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    if env.get("PIP_INDEX_URL") and not env.get("UV_DEFAULT_INDEX"):
        env["UV_DEFAULT_INDEX"] = env["PIP_INDEX_URL"]
    if env.get("PIP_CERT") and not env.get("SSL_CERT_FILE"):
        env["SSL_CERT_FILE"] = env["PIP_CERT"]
    with open(os.path.join(run_dir, "requirements.in"), "w") as f:
        f.write("\n".join(packages) + "\n")
    venv = os.path.join(run_dir, "venv")
    return timed(
        [
            [args.uv, "pip", "compile", "requirements.in", "--generate-hashes", "--no-header",
             "--python", args.python, "--output-file", "requirements.lock", "--quiet"],
            [args.uv, "venv", "--relocatable", "--python", args.python, venv, "--quiet"],
            [args.uv, "pip", "sync", "--require-hashes", "--python", os.path.join(venv, "bin", "python"),
             "requirements.lock", "--quiet"],
        ],
        env,
        cwd=run_dir,
    )


def pip_way(args, packages, run_dir):
    env = base_env(run_dir)
    env["PIP_CACHE_DIR"] = os.path.join(run_dir, "pip-cache")
    venv = os.path.join(run_dir, "venv")
    return timed(
        [
            [args.python, "-m", "venv", venv],
            [os.path.join(venv, "bin", "pip"), "install", "--quiet", *packages],
        ],
        env,
    )


MLFLOW_DRIVER = r"""
import json, shutil, subprocess, sys
from pathlib import Path
import mlflow.utils.virtualenv as virtualenv
from mlflow.utils.environment import _PythonEnv

python, model_dir, env_dir, packages = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
python_version = subprocess.check_output(
    [python, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"], text=True
).strip()
if shutil.which("pyenv") is None:
    # No pyenv here: the interpreter is the host's, as if pyenv had installed it already.
    virtualenv._install_python = lambda version, pyenv_root=None, capture_output=False: python
env = _PythonEnv(python=python_version, build_dependencies=["pip"], dependencies=packages)
env.to_yaml(Path(model_dir) / "python_env.yaml")
virtualenv._create_virtualenv(
    local_model_path=Path(model_dir),
    python_env=env,
    env_dir=Path(env_dir),
    env_manager="virtualenv",
    capture_output=True,
)
"""


def mlflow_way(args, packages, run_dir):
    env = base_env(run_dir)
    env["PIP_CACHE_DIR"] = os.path.join(run_dir, "pip-cache")
    model = os.path.join(run_dir, "model")
    os.makedirs(model)
    driver = os.path.join(run_dir, "driver.py")
    with open(driver, "w") as f:
        f.write(MLFLOW_DRIVER)
    # The driver's own start (importing mlflow) is timed too: it is part of what MLflow does.
    return timed(
        [[args.mlflow_python, driver, args.python, model, os.path.join(run_dir, "env"), json.dumps(packages)]],
        env,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", required=True)
    parser.add_argument("--uv", required=True)
    parser.add_argument("--mlflow-python", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("packages", nargs="+")
    args = parser.parse_args()
    ways = {"plinth": plinth_way, "pip": pip_way, "mlflow": mlflow_way}
    times = {name: [] for name in ways}
    print(f"cold build of {{{', '.join(args.packages)}}} with {args.python} "
          f"({subprocess.check_output([args.python, '-V'], text=True).strip()}), {args.runs} runs each")
    for round_number in range(args.runs):
        for name, way in ways.items():
            run_dir = tempfile.mkdtemp(prefix=f"{name}-", dir=args.work)
            before = load()
            seconds = way(args, args.packages, run_dir)
            times[name].append(seconds)
            print(f"  run {round_number + 1} {name:7s} {seconds:7.1f} s   (load average before: {before})", flush=True)
            shutil.rmtree(run_dir, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"medians of {args.runs}: " + ", ".join(f"{name} {value:.1f} s" for name, value in medians.items()))
    print(f"  plinth is {medians['pip'] / medians['plinth']:.1f}x faster than venv + pip "
          f"(target >= 5x) and {medians['mlflow'] / medians['plinth']:.1f}x faster than MLflow's virtualenv manager")
    print(f"  load average after: {load()}")


if __name__ == "__main__":
    main()
