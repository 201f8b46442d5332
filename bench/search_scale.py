"""The search-scale probe of issue 20: fills one experiment of a running `plinth serve` with
N runs (5 params, 5 metrics, 1 tag each) through MLflow's REST API, and at each size times
the searches a runs table makes, with raw HTTP from 8 client threads. Prints a table with
the growth factor from one size to the next, and checks every answer (filters hold, order
is right, 100 results).

Usage: search_scale.py BASE_URL TOKEN ORG/PROJECT SIZES   (SIZES: 1000,10000,100000,…)
Stdlib only: runs with any python3.
"""

import http.client
import json
import random
import statistics
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

THREADS = 8
ROUNDS = 7
PAGE = 100

# (label, filter, order_by, check(run) -> bool for the filter)
SEARCHES = [
    ("default order", "", [], None),
    ("metrics.m1 > 0.99", "metrics.m1 > 0.99", [], lambda run: metric(run, "m1") > 0.99),
    (
        "params.p1 = '3' and tags.group = 'c'",
        "params.p1 = '3' and tags.group = 'c'",
        [],
        lambda run: param(run, "p1") == "3" and tag(run, "group") == "c",
    ),
    ("order by metrics.m2 DESC", "", ["metrics.m2 DESC"], None),
    (
        "params.p2 = '7' order by metrics.m3 ASC",
        "params.p2 = '7'",
        ["metrics.m3 ASC"],
        lambda run: param(run, "p2") == "7",
    ),
]


def metric(run, key):
    return next(m["value"] for m in run["data"].get("metrics", []) if m["key"] == key)


def param(run, key):
    return next((p["value"] for p in run["data"].get("params", []) if p["key"] == key), None)


def tag(run, key):
    return next((t["value"] for t in run["data"].get("tags", []) if t["key"] == key), None)


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, base, token, prefix):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.prefix = prefix
        self.local = threading.local()

    def connection(self):
        if not hasattr(self.local, "conn"):
            self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        return self.local.conn

    def request(self, method, path, body=None, headers=None):
        conn = self.connection()
        payload = None if body is None else json.dumps(body)
        conn.request(method, path, body=payload, headers=headers or self.headers)
        answer = conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:300]!r}")
        return data

    def mlflow(self, endpoint, body):
        return json.loads(self.request("POST", f"{self.prefix}/api/2.0/mlflow/{endpoint}", body))


def fill(client, experiment, start, end):
    """Adds runs start..end (exclusive): start times grow with the index."""

    def one(i):
        rng = random.Random(i)
        run = client.mlflow(
            "runs/create",
            {
                "experiment_id": experiment,
                "start_time": 1_700_000_000_000 + i,
                "tags": [{"key": "group", "value": rng.choice("abcde")}],
            },
        )["run"]["info"]["run_id"]
        client.mlflow(
            "runs/log-batch",
            {
                "run_id": run,
                "params": [{"key": f"p{k}", "value": str(rng.randrange(10))} for k in range(1, 6)],
                "metrics": [
                    {"key": f"m{k}", "value": rng.random(), "timestamp": 1_700_000_000_000, "step": 0}
                    for k in range(1, 6)
                ],
            },
        )

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, range(start, end), chunksize=64))


def check(label, runs, order_by, condition, size):
    expected = min(PAGE, size)
    if condition is None and len(runs) != expected:
        raise AssertionError(f"{label}: {len(runs)} runs, expected {expected}")
    if condition is not None and not runs:
        raise AssertionError(f"{label}: no runs")
    for run in runs:
        if condition is not None and not condition(run):
            raise AssertionError(f"{label}: run {run['info']['run_id']} does not match")
    if order_by:
        key, direction = order_by[0].split()
        values = [metric(run, key.removeprefix("metrics.")) for run in runs]
        wanted = sorted(values, reverse=direction == "DESC")
        if values != wanted:
            raise AssertionError(f"{label}: not in {order_by[0]} order")
    else:
        starts = [run["info"]["start_time"] for run in runs]
        if starts != sorted(starts, reverse=True):
            raise AssertionError(f"{label}: not newest first")


def timed_concurrently(fn):
    """ROUNDS rounds of THREADS concurrent calls: the median latency in ms."""
    latencies = []
    lock = threading.Lock()

    def call(_):
        start = time.perf_counter()
        fn()
        elapsed = (time.perf_counter() - start) * 1000
        with lock:
            latencies.append(elapsed)

    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(ROUNDS):
            list(pool.map(call, range(THREADS)))
    return statistics.median(latencies)


def main():
    base, token, project, sizes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    sizes = [int(size) for size in sizes.split(",")]
    org, name = project.split("/")
    client = Client(base, token, f"/projects/{org}/{name}")
    experiment = client.mlflow("experiments/create", {"name": f"scale-{time.time_ns()}"})["experiment_id"]
    session = ui_session(client, base)
    results = {}
    filled = 0
    for size in sizes:
        started = time.perf_counter()
        fill(client, experiment, filled, size)
        filled = size
        print(f"filled {size} runs ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        for label, query, order_by, condition in SEARCHES:
            body = {"experiment_ids": [experiment], "filter": query, "order_by": order_by, "max_results": PAGE}
            check(label, client.mlflow("runs/search", body).get("runs", []), order_by, condition, size)
            results[(label, size)] = timed_concurrently(lambda body=body: client.mlflow("runs/search", body))
        if session:
            page = f"/projects/{org}/{name}/experiments/{experiment}?order=" + urllib.parse.quote("metrics.m2 DESC")
            headers = {"Cookie": session}
            client.request("GET", page, headers=headers)
            results[("UI runs table by metrics.m2 DESC", size)] = timed_concurrently(
                lambda: client.request("GET", page, headers=headers)
            )
        print_table(results, sizes[: sizes.index(size) + 1])


def ui_session(client, base):
    """A browser session of the admin (PLINTH_ADMIN_PASSWORD in the environment), for the
    runs table page; None without it."""
    import os

    password = os.environ.get("PLINTH_ADMIN_PASSWORD")
    if not password:
        return None
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    body = urllib.parse.urlencode({"username": "admin", "password": password})
    conn.request("POST", "/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    answer = conn.getresponse()
    answer.read()
    cookie = answer.getheader("Set-Cookie") or ""
    return cookie.split(";")[0] or None


def print_table(results, sizes):
    labels = list(dict.fromkeys(label for label, _ in results))
    header = f"| search, {PAGE} results | " + " | ".join(
        f"{size:,}" + ("" if i == 0 else " | ×") for i, size in enumerate(sizes)
    )
    print()
    print(header + " |")
    print("|---|" + "---:|" * (2 * len(sizes) - 1))
    for label in labels:
        cells = []
        for i, size in enumerate(sizes):
            value = results.get((label, size))
            cells.append("–" if value is None else f"{value:.1f} ms")
            if i > 0:
                before = results.get((label, sizes[i - 1]))
                cells.append("–" if not (value and before) else f"{value / before:.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
