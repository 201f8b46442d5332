"""kfp.local's half of the pipeline benchmark: each pipeline run with the SubprocessRunner
(use_venv=False, the fastest configuration: no virtual environment per step), timed from
the call to its result, median of REPEAT runs; prints one JSON line per pipeline.
Usage: kfp_local.py REPEAT WORKDIR OUT.jsonl (kfp.local logs every step to stdout)"""
import json
import re
import os
import statistics
import sys
import time

from kfp import local

sys.path.insert(0, os.path.dirname(__file__))
from pipelines import PIPELINES, expected  # noqa: E402

repeat, workdir, out = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "a")
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=workdir)
for name, pipeline in PIPELINES.items():
    times, error = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            result = pipeline()
            value = result.output if hasattr(result, "output") else result
            assert value == expected(name), f"{name} gave {value}"
        except Exception as e:  # a feature kfp.local lacks is a result, not a crash
            error = re.sub(r"\x1b\[[0-9;]*m", "", f"{type(e).__name__}: {str(e).splitlines()[0][:160]}")
            break
        times.append(time.perf_counter() - start)
    out.write(json.dumps({"system": "kfp.local", "pipeline": name,
                          "seconds": round(statistics.median(times), 3) if times else None,
                          "error": error}) + "\n")
    out.flush()
