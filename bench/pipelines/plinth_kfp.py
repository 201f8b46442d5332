"""Plinth's half of the pipeline benchmark: each pipeline compiled by the kfp SDK and
submitted with the unmodified kfp.Client to Plinth's KFP API, timed from the create call
until the run is seen SUCCEEDED (polled every 50 ms), median of REPEAT runs; one JSON line
per pipeline into OUT.jsonl.
Usage: plinth_kfp.py REPEAT HOST TOKEN WORKDIR OUT.jsonl
(HOST: the server URL with /projects/ORG/NAME; TOKEN: a personal token)"""
import json
import os
import statistics
import sys
import time

import kfp
from kfp import compiler

sys.path.insert(0, os.path.dirname(__file__))
from pipelines import PIPELINES  # noqa: E402

repeat, host, token, workdir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
out = open(sys.argv[5], "a")
client = kfp.Client(host=host, existing_token=token)
finished = {"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"}
for name, pipeline in PIPELINES.items():
    package = os.path.join(workdir, f"{name}.yaml")
    compiler.Compiler().compile(pipeline, package)
    times, error = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            run = client.create_run_from_pipeline_package(package, arguments={}, run_name=name)
        except Exception as e:  # a refusal at submit is a result, not a crash
            body = getattr(e, "body", None) or str(e)
            try:
                error = "refused: " + json.loads(body)["message"]
            except (ValueError, KeyError, TypeError):
                error = f"refused: {str(body)[:160]}"
            break
        while True:
            state = client.get_run(run.run_id).state
            if state in finished:
                break
            if time.perf_counter() - start > 600:
                state = "TIMEOUT"
                break
            time.sleep(0.05)
        if state != "SUCCEEDED":
            error = f"run {run.run_id} ended {state}"
            break
        times.append(time.perf_counter() - start)
    out.write(json.dumps({"system": "plinth", "pipeline": name,
                          "seconds": round(statistics.median(times), 3) if times else None,
                          "error": error}) + "\n")
    out.flush()
