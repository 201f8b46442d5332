"""The mlflow-client workload of the tracking benchmark (issue 4), run unchanged against
`mlflow server` and `plinth serve`. Prints one JSON object of measurements.

Usage: workload.py TRACKING_URI [--quick]   (MLFLOW_TRACKING_TOKEN for Plinth)
"""

import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

QUICK = "--quick" in sys.argv


def scaled(n):
    return max(1, n // 20) if QUICK else n


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def fsync_p50_ms():
    """The p50 of 20 writes of 4 KiB, each followed by fsync, in the temporary folder (where
    the benchmark keeps both servers' databases): what a synced commit costs right now."""
    latencies = []
    with tempfile.NamedTemporaryFile() as file:
        for _ in range(20):
            start = time.perf_counter()
            os.pwrite(file.fileno(), b"x" * 4096, 0)
            os.fsync(file.fileno())
            latencies.append((time.perf_counter() - start) * 1000)
    return pct(latencies, 0.5)


def health(base):
    """The server's and the machine's state just before a phase: the p50 of 20 sequential
    `GET /health` on an idle server, the 1-minute load average and the fsync latency. A
    ratio means little when the competitor is far from its normal idle latency."""
    session = requests.Session()
    latencies = []
    try:
        for _ in range(20):
            latencies.append(timed(lambda: session.get(f"{base}/health", timeout=10).raise_for_status()))
        p50 = pct(latencies, 0.5)
    except requests.RequestException:
        p50 = None
    with open("/proc/loadavg") as loadavg:
        load1 = float(loadavg.read().split()[0])
    return {"health_p50_ms": p50, "load1": load1, "fsync_p50_ms": fsync_p50_ms()}


def main():
    base = sys.argv[1]
    client = MlflowClient(tracking_uri=base)
    out = {"health": {}}
    experiment = client.create_experiment(f"bench-{time.time_ns()}")

    # create_run x1000, sequential.
    out["health"]["create_run"] = health(base)
    n = scaled(1000)
    latencies = [timed(lambda: client.create_run(experiment)) for _ in range(n)]
    out["create_run"] = {"n": n, "total_s": sum(latencies) / 1000, "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99)}

    # log_metric x10,000, sequential, one run.
    out["health"]["log_metric"] = health(base)
    run = client.create_run(experiment).info.run_id
    n = scaled(10_000)
    latencies = [timed(lambda i=i: client.log_metric(run, "loss", 1.0 / (i + 1), step=i)) for i in range(n)]
    out["log_metric"] = {"n": n, "total_s": sum(latencies) / 1000, "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99)}

    # log_batch of 1000 metrics x100.
    out["health"]["log_batch_1000"] = health(base)
    n = scaled(100)
    batch_run = client.create_run(experiment).info.run_id
    now = int(time.time() * 1000)
    latencies = []
    for b in range(n):
        metrics = [Metric("m", float(i), now, b * 1000 + i) for i in range(1000)]
        latencies.append(timed(lambda: client.log_batch(batch_run, metrics=metrics)))
    out["log_batch_1000"] = {"n": n, "total_s": sum(latencies) / 1000, "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99)}

    # 8 threads log_metric for 30 s.
    out["health"]["log_metric_8_threads"] = health(base)
    duration = 3 if QUICK else 30
    stop = time.perf_counter() + duration
    all_latencies = []
    lock = threading.Lock()

    def worker():
        own = MlflowClient(tracking_uri=sys.argv[1])
        run_id = own.create_run(experiment).info.run_id
        mine = []
        step = 0
        while time.perf_counter() < stop:
            mine.append(timed(lambda: own.log_metric(run_id, "x", float(step), step=step)))
            step += 1
        with lock:
            all_latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["log_metric_8_threads"] = {"seconds": duration, "calls": len(all_latencies), "per_s": len(all_latencies) / duration, "p99_ms": pct(all_latencies, 0.99)}

    # search_runs over 10,000 runs.
    search_experiment = client.create_experiment(f"search-{time.time_ns()}")
    n = scaled(10_000)

    def seed(i):
        run_id = client.create_run(search_experiment).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("loss", (i % 1000) / 1000.0, now, 0)],
            params=[Param("lr", "0.01" if i % 5 == 0 else "0.1")],
        )

    # Seeding is not measured: 8 threads fill the experiment sooner.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(seed, range(n)))
    query = "metrics.loss < 0.5 and params.lr = '0.01'"
    out["health"]["search"] = health(base)
    latencies = [timed(lambda: client.search_runs([search_experiment], query, max_results=100)) for _ in range(10)]
    found = len(client.search_runs([search_experiment], query, max_results=100))
    out["search_filter"] = {"runs": n, "results": found, "p50_ms": pct(latencies, 0.5)}
    latencies = [timed(lambda: client.search_runs([search_experiment], "", order_by=["metrics.loss DESC"], max_results=100)) for _ in range(10)]
    out["search_order_by_metric"] = {"runs": n, "p50_ms": pct(latencies, 0.5)}

    # get_metric_history of 100,000 points.
    history_run = client.create_run(experiment).info.run_id
    points = scaled(100_000)
    for start in range(0, points, 1000):
        client.log_batch(history_run, metrics=[Metric("h", float(i), now, i) for i in range(start, min(points, start + 1000))])
    out["health"]["metric_history"] = health(base)
    latencies = [timed(lambda: client.get_metric_history(history_run, "h")) for _ in range(5)]
    assert len(client.get_metric_history(history_run, "h")) == points
    # The same history as one raw GET, read to the last byte but not parsed: the server's
    # share of the time (the client spends more decoding 100k points than either server).
    session = requests.Session()
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    url = f"{sys.argv[1]}/api/2.0/mlflow/metrics/get-history"
    params = {"run_id": history_run, "metric_key": "h"}

    def raw():
        answer = session.get(url, params=params)
        answer.raise_for_status()
        assert len(answer.content) > points * 20

    raw_latencies = [timed(raw) for _ in range(5)]
    out["metric_history"] = {"points": points, "p50_ms": pct(latencies, 0.5), "raw_http_p50_ms": pct(raw_latencies, 0.5)}

    print(json.dumps(out))


if __name__ == "__main__":
    main()
