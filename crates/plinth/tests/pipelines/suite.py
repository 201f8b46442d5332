"""Pipelines written with the real kfp SDK (kfp==2.17.3), compiled here, submitted to
Plinth with the unmodified kfp.Client, waited for with wait_for_run_completion, and their
outputs asserted; then bad submissions, which must be refused naming the field.

Environment: KFP_HOST (the server URL, or …/projects/ORG/NAME), KFP_TOKEN, KFP_TAG (a
suffix keeping names of two passes apart)."""

import json
import os
import sys
import tempfile
import time
import urllib.request

import kfp
import yaml
from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output

HOST = os.environ["KFP_HOST"].rstrip("/")
TOKEN = os.environ["KFP_TOKEN"]
TAG = os.environ.get("KFP_TAG", "a")
WORK = tempfile.mkdtemp()
client = kfp.Client(host=HOST, existing_token=TOKEN)


def raw(path):
    request = urllib.request.Request(
        f"{HOST}/apis/v2beta1{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


def compile_to(pipeline, name):
    path = os.path.join(WORK, f"{name}.yaml")
    compiler.Compiler().compile(pipeline, path)
    return path


def tasks_of(run_id):
    run = raw(f"/runs/{run_id}")
    return run, {task["display_name"]: task for task in run["run_details"]["task_details"]}


def finish(result, timeout=240):
    started = time.monotonic()
    run = client.wait_for_run_completion(result.run_id, timeout=timeout, sleep_duration=0.2)
    elapsed = time.monotonic() - started
    body, tasks = tasks_of(result.run_id)
    if run.state != "SUCCEEDED":
        print(json.dumps(body, indent=1)[:6000], file=sys.stderr)
    return run, tasks, elapsed


# ---- 1. A chain passing parameters of every type, an artifact, and dsl.If ----


@dsl.component
def make(n: int, x: float, tags: list, cfg: dict, name: str = "w") -> str:
    # Declared types are honored: whole numbers arrive as ints, also inside lists.
    assert type(n) is int, type(n)
    assert type(x) is float, type(x)
    assert all(type(t) is int for t in tags), tags
    assert type(cfg["a"]) is int, cfg
    return f"{name}|{n}|{x}|{sum(tags)}|{cfg['a']}"


@dsl.component
def stats(text: str) -> dict:
    return {"chars": len(text), "parts": text.split("|")}


@dsl.component
def write(text: str, out: Output[Dataset]) -> int:
    with open(out.path, "w") as f:
        f.write(text)
    out.metadata["chars"] = len(text)
    return len(text)


@dsl.component
def shout(data: Input[Dataset], parts: list, info: dict) -> str:
    with open(data.path) as f:
        text = f.read()
    assert data.metadata["chars"] == len(text), data.metadata
    assert info["chars"] == len(text), info
    return text.upper() + f" ({len(parts)} parts)"


@dsl.component
def flip() -> str:
    return "heads"


@dsl.component
def mark(text: str) -> str:
    return "marked " + text


@dsl.component
def peek(after: str) -> str:
    # A task sees its own folder, not its run's other tasks' (nor the server's data).
    import json
    import os

    mine = os.environ["PLINTH_TASK_DIR"]
    try:
        siblings = sorted(os.listdir(os.path.dirname(mine)))
    except OSError as error:
        siblings = [f"refused: {error.strerror}"]
    return json.dumps({"mine": os.path.basename(mine), "siblings": siblings, "after": after})


@dsl.pipeline(name="chain")
def chain(n: int = 3, x: float = 1.5, tags: list = [1, 2], cfg: dict = {"a": 1}, greeting: str = "hi"):
    made = make(n=n, x=x, tags=tags, cfg=cfg, name=f"{greeting}!")
    info = stats(text=made.output)
    written = write(text=made.output)
    shout(data=written.outputs["out"], parts=[made.output, "x"], info=info.output)
    peek(after=made.output).after(written)
    coin = flip()
    with dsl.If(coin.output == "heads"):
        mark(text=made.output).set_display_name("when-heads")
    with dsl.If(coin.output == "tails"):
        mark(text=made.output).set_display_name("when-tails")
    with dsl.If(written.outputs["Output"] > 100):
        mark(text="long").set_display_name("when-long")


chain_path = compile_to(chain, "chain")
result = client.create_run_from_pipeline_package(
    chain_path,
    arguments={"n": 4, "tags": [5, 6, 7], "cfg": {"a": 2}},
    run_name=f"chain-{TAG}",
    experiment_name=f"suite-{TAG}",
)
run, tasks, elapsed = finish(result)
assert run.state == "SUCCEEDED", run.state
outputs = {name: task["plinth_outputs"]["parameters"] for name, task in tasks.items()}
assert outputs["make"]["Output"] == "hi!|4|1.5|18|2", outputs["make"]
assert outputs["stats"]["Output"] == {"chars": 14, "parts": ["hi!", "4", "1.5", "18", "2"]}, outputs["stats"]
assert outputs["write"]["Output"] == 14, outputs["write"]
assert outputs["shout"]["Output"] == "HI!|4|1.5|18|2 (2 parts)", outputs["shout"]
assert tasks["when-heads"]["state"] == "SUCCEEDED", tasks["when-heads"]
assert outputs["when-heads"]["Output"] == "marked hi!|4|1.5|18|2"
# The conditions that were false: their DAGs are skipped, their tasks never ran.
skipped = [name for name, task in tasks.items() if task["state"] == "SKIPPED"]
assert "condition-2" in skipped and "condition-3" in skipped, skipped
assert "when-tails" not in tasks and "when-long" not in tasks, sorted(tasks)
peeked = json.loads(outputs["peek"]["Output"])
assert peeked["mine"] == "peek", peeked
assert not {"make", "write", "stats"} & set(peeked["siblings"]), peeked
artifact = tasks["write"]["plinth_outputs"]["artifacts"]["out"]
assert artifact["metadata"] == {"chars": 14}, artifact
assert artifact["key"].startswith("projects/"), artifact
print(f"chain: {len(tasks)} tasks in {elapsed:.1f} s; a task's view of its run folder: {peeked['siblings']}")

# The experiment exists and lists the run; an unknown name is an empty list.
experiment = client.get_experiment(experiment_name=f"suite-{TAG}")
runs = client.list_runs(experiment_id=experiment.experiment_id)
assert [r.run_id for r in runs.runs] == [result.run_id], runs
assert raw('/experiments?filter=' + urllib.parse.quote(json.dumps(
    {"predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": "nope"}]}))) == {}


# ---- 2. Upload, versions, and a run of a version ----

pipeline = client.upload_pipeline(chain_path, pipeline_name=f"chain-{TAG}")
versions = client.list_pipeline_versions(pipeline.pipeline_id)
assert len(versions.pipeline_versions) == 1, versions
version = versions.pipeline_versions[0]
assert client.get_pipeline(pipeline.pipeline_id).display_name == f"chain-{TAG}"
listed = [p.display_name for p in client.list_pipelines().pipelines]
assert f"chain-{TAG}" in listed, listed
by_version = client.run_pipeline(
    experiment_id=experiment.experiment_id,
    job_name=f"from-version-{TAG}",
    params={"greeting": "yo"},
    pipeline_id=pipeline.pipeline_id,
    version_id=version.pipeline_version_id,
)
run, tasks, _ = finish(by_version)
assert run.state == "SUCCEEDED", run.state
assert tasks["make"]["plinth_outputs"]["parameters"]["Output"] == "yo!|3|1.5|3|1", tasks["make"]


# ---- 3. A failing component fails the run; terminate stops one ----


@dsl.component
def boom(code: int):
    import sys
    sys.exit(code)


@dsl.pipeline(name="failing")
def failing():
    boom(code=3)


run, tasks, _ = finish(client.create_run_from_pipeline_package(compile_to(failing, "failing"), arguments={}))
assert run.state == "FAILED", run.state
assert "exited with 3" in tasks["boom"]["error"]["message"], tasks["boom"]


@dsl.component
def sleepy(seconds: int):
    import time
    time.sleep(seconds)


@dsl.pipeline(name="slow")
def slow():
    sleepy(seconds=120)


slow_run = client.create_run_from_pipeline_package(compile_to(slow, "slow"), arguments={})
deadline = time.monotonic() + 60
while raw(f"/runs/{slow_run.run_id}")["run_details"]["task_details"] == []:
    assert time.monotonic() < deadline, "the slow task never started"
    time.sleep(0.2)
client.terminate_run(slow_run.run_id)
run = client.wait_for_run_completion(slow_run.run_id, timeout=60, sleep_duration=0.2)
assert run.state == "FAILED" and "terminated" in run.error.message, (run.state, run.error)


# ---- 4. Bad submissions: refused at once, naming the field ----


def refused(call, *words):
    try:
        call()
    except kfp_server_api.ApiException as error:
        assert error.status == 400, (error.status, error.body)
        body = json.loads(error.body)
        for word in words:
            assert word in body["message"], (word, body)
        return body["message"]
    raise AssertionError(f"not refused: {words}")


import kfp_server_api  # noqa: E402

refused(lambda: client.create_run_from_pipeline_package(chain_path, arguments={"n": "three"}),
        "runtime_config.parameters.n", "whole number")
refused(lambda: client.create_run_from_pipeline_package(chain_path, arguments={"x": [1]}),
        "runtime_config.parameters.x")
refused(lambda: client.create_run_from_pipeline_package(chain_path, arguments={"nope": 1}),
        "no parameter `nope`")


@dsl.pipeline(name="needs")
def needs(count: int):
    sleepy(seconds=count)


refused(lambda: client.create_run_from_pipeline_package(compile_to(needs, "needs"), arguments={}),
        "required parameter `count`")

with open(chain_path) as f:
    spec = yaml.safe_load(f)
spec["root"]["dag"]["tasks"]["make"]["dependentTasks"] = ["shout"]
cyclic = os.path.join(WORK, "cyclic.yaml")
with open(cyclic, "w") as f:
    yaml.safe_dump(spec, f)
refused(lambda: client.create_run_from_pipeline_package(cyclic, arguments={}), "cycle", "make")
refused(lambda: client.upload_pipeline(cyclic, pipeline_name=f"cyclic-{TAG}"), "cycle")

with open(chain_path) as f:
    spec = yaml.safe_load(f)
spec["deploymentSpec"]["executors"]["exec-flip"] = {"somethingElse": {}}
odd = os.path.join(WORK, "odd.yaml")
with open(odd, "w") as f:
    yaml.safe_dump(spec, f)
refused(lambda: client.create_run_from_pipeline_package(odd, arguments={}), "exec-flip", "unknown kind")

not_spec = os.path.join(WORK, "not.yaml")
with open(not_spec, "w") as f:
    f.write("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n")
refused(lambda: client.upload_pipeline(not_spec, pipeline_name=f"argo-{TAG}"), "not a PipelineSpec")

client.archive_experiment(experiment.experiment_id)
assert client.get_experiment(experiment_id=experiment.experiment_id).storage_state == "ARCHIVED"
print("pipelines suite passed")
