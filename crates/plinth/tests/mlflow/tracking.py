"""Experiments, runs, params, metrics, tags, batches, inputs, searches and metric history,
through the unmodified mlflow client."""

import math
import random
import struct

import mlflow
from mlflow.entities import Metric, Param, RunTag, ViewType

from common import banner, client, expect_error, now_ms, unique


def experiments(c):
    banner("experiments")
    base = unique("exp")
    ids = [c.create_experiment(f"{base}-{i}", tags={"team": "ml" if i % 2 else "ops", "i": str(i)}) for i in range(5)]
    assert all(isinstance(i, str) and i.isdigit() for i in ids), ids
    exp = c.get_experiment(ids[0])
    assert exp.name == f"{base}-0" and exp.lifecycle_stage == "active", exp
    assert exp.tags["team"] == "ops", exp.tags
    assert exp.artifact_location == f"mlflow-artifacts:/{ids[0]}", exp.artifact_location
    assert c.get_experiment_by_name(f"{base}-1").experiment_id == ids[1]
    assert c.get_experiment_by_name(unique("missing")) is None
    expect_error("RESOURCE_ALREADY_EXISTS", c.create_experiment, f"{base}-0")

    # The default experiment "0" is the project's own.
    default = c.get_experiment("0")
    assert default.name == "Default", default

    # Search: filter, order, pages.
    found = c.search_experiments(filter_string=f"name LIKE '{base}-%' AND tags.team = 'ml'", order_by=["name DESC"])
    assert [e.name for e in found] == [f"{base}-3", f"{base}-1"], [e.name for e in found]
    page1 = c.search_experiments(filter_string=f"name LIKE '{base}-%'", order_by=["name ASC"], max_results=2)
    assert [e.name for e in page1] == [f"{base}-0", f"{base}-1"] and page1.token, page1
    page2 = c.search_experiments(filter_string=f"name LIKE '{base}-%'", order_by=["name ASC"], max_results=2, page_token=page1.token)
    page3 = c.search_experiments(filter_string=f"name LIKE '{base}-%'", order_by=["name ASC"], max_results=2, page_token=page2.token)
    names = [e.name for e in page1] + [e.name for e in page2] + [e.name for e in page3]
    assert names == [f"{base}-{i}" for i in range(5)], names
    assert not page3.token

    # Update, tags, delete, restore.
    c.rename_experiment(ids[4], f"{base}-renamed")
    assert c.get_experiment(ids[4]).name == f"{base}-renamed"
    c.set_experiment_tag(ids[4], "stage", "dev")
    assert c.get_experiment(ids[4]).tags["stage"] == "dev"
    c.delete_experiment_tag(ids[4], "stage")
    assert "stage" not in c.get_experiment(ids[4]).tags
    c.delete_experiment(ids[4])
    assert c.get_experiment(ids[4]).lifecycle_stage == "deleted"
    deleted = c.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name LIKE '{base}-%'")
    assert [e.experiment_id for e in deleted] == [ids[4]], deleted
    c.restore_experiment(ids[4])
    assert c.get_experiment(ids[4]).lifecycle_stage == "active"
    expect_error("RESOURCE_DOES_NOT_EXIST", c.get_experiment, "999999999")
    return ids


def runs(c, experiment_id):
    banner("runs")
    run = c.create_run(experiment_id, run_name="first", tags={"kind": "test"})
    run_id = run.info.run_id
    assert len(run_id) == 32 and run.info.run_name == "first", run.info
    assert run.info.status == "RUNNING"
    assert run.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts", run.info.artifact_uri
    c.log_param(run_id, "lr", "0.01")
    expect_error("INVALID_PARAMETER_VALUE", c.log_param, run_id, "lr", "0.02")
    t = now_ms()
    for step in range(10):
        c.log_metric(run_id, "loss", 1.0 / (step + 1), timestamp=t + step, step=step)
    c.log_metric(run_id, "weird", float("nan"), timestamp=t, step=0)
    c.log_metric(run_id, "big", float("inf"), timestamp=t, step=0)
    c.set_tag(run_id, "note", "hello")
    c.set_tag(run_id, "gone", "soon")
    c.delete_tag(run_id, "gone")
    c.log_batch(
        run_id,
        metrics=[Metric("acc", 0.5 + i / 100, t + i, i) for i in range(50)],
        params=[Param("batch", "32"), Param("opt", "adam")],
        tags=[RunTag("batched", "yes")],
    )
    fetched = c.get_run(run_id)
    data = fetched.data
    assert data.params == {"lr": "0.01", "batch": "32", "opt": "adam"}, data.params
    assert data.metrics["loss"] == 0.1, data.metrics
    assert math.isnan(data.metrics["weird"]), data.metrics
    assert data.metrics["big"] == float("inf"), data.metrics
    assert abs(data.metrics["acc"] - 0.99) < 1e-9, data.metrics
    assert data.tags["note"] == "hello" and "gone" not in data.tags and data.tags["batched"] == "yes", data.tags
    assert data.tags["mlflow.runName"] == "first", data.tags

    # History, paged.
    history = c.get_metric_history(run_id, "acc")
    assert [m.step for m in history] == list(range(50)), [m.step for m in history]
    paged = mlflow.tracking._tracking_service.utils._get_store().get_metric_history(run_id, "acc", max_results=20)
    assert len(paged) == 20 and paged.token, (len(paged), paged.token)
    rest = mlflow.tracking._tracking_service.utils._get_store().get_metric_history(run_id, "acc", max_results=40, page_token=paged.token)
    assert [m.step for m in list(paged) + list(rest)] == list(range(50))
    assert not rest.token

    # Bulk interval over two runs.
    other = c.create_run(experiment_id, run_name="second")
    for step in range(100):
        c.log_metric(other.info.run_id, "acc", step / 100, timestamp=t + step, step=step)
    sampled = c._tracking_client.store.get_metric_history_bulk_interval(
        run_ids=[run_id, other.info.run_id], metric_key="acc", max_results=10, start_step=None, end_step=None
    )
    by_run = {}
    for m in sampled:
        by_run.setdefault(m.run_id, []).append(m.step)
    # MLflow samples the steps of all runs together, keeping each run's first and last.
    assert by_run[run_id][0] == 0 and by_run[run_id][-1] == 49, by_run
    assert by_run[other.info.run_id][-1] == 99 and len(by_run[other.info.run_id]) <= 12, by_run

    # Inputs.
    import pandas as pd

    dataset = mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]}), name="toy", targets="y")
    with mlflow.start_run(run_id=run_id):
        mlflow.log_input(dataset, context="training")
    inputs = c.get_run(run_id).inputs.dataset_inputs
    assert inputs and inputs[0].dataset.name == "toy", inputs
    assert {t.key: t.value for t in inputs[0].tags}.get("mlflow.data.context") == "training", inputs[0].tags

    # Update, terminate, delete, restore.
    c.update_run(run_id, name="renamed")
    assert c.get_run(run_id).info.run_name == "renamed"
    c.set_terminated(run_id, status="FINISHED")
    info = c.get_run(run_id).info
    assert info.status == "FINISHED" and info.end_time, info
    c.delete_run(other.info.run_id)
    assert c.get_run(other.info.run_id).info.lifecycle_stage == "deleted"
    c.restore_run(other.info.run_id)
    assert c.get_run(other.info.run_id).info.lifecycle_stage == "active"
    expect_error("RESOURCE_DOES_NOT_EXIST", c.get_run, "0" * 32)
    return run_id


def search(c, experiment_id):
    banner("search runs")
    ids = []
    for i in range(12):
        r = c.create_run(experiment_id, run_name=f"grid-{i:02d}")
        c.log_param(r.info.run_id, "depth", str(i % 4))
        c.log_metric(r.info.run_id, "score", i / 10)
        c.set_tag(r.info.run_id, "family", "even" if i % 2 == 0 else "odd")
        ids.append(r.info.run_id)
    found = c.search_runs([experiment_id], "metrics.score > 0.5 AND tags.family = 'even'", order_by=["metrics.score DESC"])
    assert [r.info.run_name for r in found] == ["grid-10", "grid-08", "grid-06"], [r.info.run_name for r in found]
    found = c.search_runs([experiment_id], "params.depth = '3' and attributes.run_name LIKE 'grid-%'", order_by=["attributes.run_name ASC"])
    assert [r.info.run_name for r in found] == ["grid-03", "grid-07", "grid-11"], [r.info.run_name for r in found]
    seen = []
    token = None
    while True:
        page = c.search_runs([experiment_id], "attributes.run_name LIKE 'grid-%'", order_by=["metrics.score ASC"], max_results=5, page_token=token)
        seen.extend(r.info.run_name for r in page)
        token = page.token
        if not token:
            break
    assert seen == [f"grid-{i:02d}" for i in range(12)], seen
    expect_error("INVALID_PARAMETER_VALUE", c.search_runs, [experiment_id], "metrics.score >>> 1")
    # Fluent search across experiments, as a DataFrame.
    frame = mlflow.search_runs(experiment_ids=[experiment_id], filter_string="tags.family = 'odd'")
    assert len(frame) == 6, frame


def fluent(experiment_name):
    banner("fluent API")
    mlflow.set_experiment(experiment_name)
    with mlflow.start_run(run_name="fluent") as run:
        mlflow.log_params({"a": 1, "b": "two"})
        mlflow.log_metrics({"m1": 1.5, "m2": 2.5}, step=3)
        mlflow.set_tags({"t": "v"})
    got = client().get_run(run.info.run_id)
    assert got.info.status == "FINISHED", got.info
    assert got.data.params == {"a": "1", "b": "two"} and got.data.metrics == {"m1": 1.5, "m2": 2.5}, got.data
    # Runs without an experiment go to the project's default experiment.
    mlflow.set_experiment(experiment_id="0")
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 1)
    assert client().get_run(run.info.run_id).info.experiment_id == client().get_experiment("0").experiment_id


def same_double(sent, read):
    if math.isnan(sent):
        return math.isnan(read)
    return struct.pack("<d", sent) == struct.pack("<d", read)


def exact_values(c, experiment_id):
    """Thousands of random doubles (every bit pattern: subnormals, extremes, negative zero,
    NaN and infinities among them) come back from the server exactly as logged (issue 20)."""
    banner("exact values")
    rng = random.Random(20)
    awkward = [-0.0, 0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
               -1.7976931348623157e308, 123456789.12345679, -1.5e-300, 0.1, 1e23,
               float("nan"), float("inf"), float("-inf")]
    values = awkward + [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
                        for _ in range(3000 - len(awkward))]
    run_id = c.create_run(experiment_id, run_name="exact").info.run_id
    t = now_ms()
    # The history of one metric, and 1000 metrics of one point each (the run's latest values).
    history = [Metric("exact", value, t + i, i) for i, value in enumerate(values)]
    latest = [Metric(f"k{i:04d}", value, t, rng.randrange(-2**63, 2**63)) for i, value in enumerate(values[:1000])]
    c.log_batch(run_id, metrics=history + latest)

    read = c.get_metric_history(run_id, "exact")
    assert len(read) == len(values), len(read)
    changed = [(m.step, values[m.step], m.value) for m in read if not same_double(values[m.step], m.value)]
    assert not changed, f"{len(changed)} of {len(values)} values changed, e.g. {changed[:5]}"
    assert [m.timestamp for m in sorted(read, key=lambda m: m.step)] == [t + i for i in range(len(values))]

    metrics = c.get_run(run_id).data.metrics
    changed = [(key, values[int(key[1:])], metrics[key]) for key in metrics
               if key.startswith("k") and not same_double(values[int(key[1:])], metrics[key])]
    assert len([key for key in metrics if key.startswith("k")]) == 1000, len(metrics)
    assert not changed, f"{len(changed)} latest values changed, e.g. {changed[:5]}"
    steps = {m.key: m.step for m in c.get_metric_history(run_id, "k0005")}
    assert steps == {"k0005": latest[5].step}, (steps, latest[5].step)

    # Through search too (the run's latest values).
    found = c.search_runs([experiment_id], f"attributes.run_id = '{run_id}'")
    assert len(found) == 1
    changed = [key for key, value in found[0].data.metrics.items()
               if key.startswith("k") and not same_double(values[int(key[1:])], value)]
    assert not changed, changed[:5]


if __name__ == "__main__":
    c = client()
    ids = experiments(c)
    runs(c, ids[0])
    search(c, ids[1])
    fluent(unique("fluent"))
    exact_values(c, ids[2])
    print("tracking: all checks passed")
