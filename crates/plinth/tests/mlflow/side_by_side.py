"""Replays the same raw HTTP requests against MLflow's own server (`mlflow server`, SQLite) and
against Plinth, and compares what comes back: the status, MLflow's `error_code`, `message`,
`sqlstate` and `error_class`, and for answers that succeed the fields a case names. Ids and
names that differ between the two servers (experiment and run ids, model ids) are captured
from each server's own answers and replaced by a placeholder before comparing.

Run by crates/plinth/tests/it/mlflow.rs::mlflow_side_by_side with
  SBS_MLFLOW_URL   the MLflow server (no authentication)
  SBS_PLINTH_URL   Plinth
  SBS_PLINTH_TOKEN a token scoped to one project of Plinth
Exits non-zero listing every difference. Differences Plinth keeps by design are not in the
cases (see docs/design/tracking.md, "Differences from MLflow's server that stay").
"""

import json
import os
import re
import sys
import uuid

import requests

MLFLOW = os.environ["SBS_MLFLOW_URL"].rstrip("/")
PLINTH = os.environ["SBS_PLINTH_URL"].rstrip("/")
TOKEN = os.environ["SBS_PLINTH_TOKEN"]
VERBOSE = os.environ.get("SBS_VERBOSE") == "1"

# One suffix per replay, so the script can run again against the same servers.
U = uuid.uuid4().hex[:8]


class Server:
    def __init__(self, name, base, headers):
        self.name = name
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.vars = {"u": U}

    def subst(self, value):
        if isinstance(value, str):
            for key, replacement in self.vars.items():
                value = value.replace("{" + key + "}", str(replacement))
            return value
        if isinstance(value, list):
            return [self.subst(item) for item in value]
        if isinstance(value, dict):
            return {self.subst(k): self.subst(v) for k, v in value.items()}
        return value

    def send(self, case):
        method = case["method"]
        path = self.subst(case["path"])
        kwargs = {}
        if "json" in case:
            kwargs["json"] = self.subst(case["json"])
        if "raw" in case:
            kwargs["data"] = case["raw"]
            content_type = case.get("content_type", "application/json")
            kwargs["headers"] = {"Content-Type": content_type} if content_type else {}
        if "params" in case:
            kwargs["params"] = self.subst(case["params"])
        answer = self.session.request(method, self.base + path, timeout=30, **kwargs)
        return answer

    def normalise(self, text, field=None):
        # Longest values first, so that an id is not half-replaced by a shorter one it
        # contains; only whole words. A short id (an experiment's "3") is replaced only where
        # an id stands — the whole text, after "id=", "id " or "mlflow-artifacts:/" — never
        # in "start_step=3".
        for key, value in sorted(self.vars.items(), key=lambda kv: -len(str(kv[1]))):
            if key == "u" or value in (None, ""):
                continue
            value = str(value)
            if text == value and (field is None or "id" in field.lower()):
                return "<" + key + ">"
            if len(value) >= 8:
                pattern = r"(?<![0-9A-Za-z])" + re.escape(value) + r"(?![0-9A-Za-z])"
            else:
                pattern = (r"(?:(?<=id=)|(?<=id )|(?<=:/)|(?<=experiment ))" + re.escape(value)
                           + r"(?![0-9A-Za-z])")
            text = re.sub(pattern, "<" + key + ">", text)
        return text.replace(U, "<u>")


def pointer(document, path):
    for part in [p for p in path.split("/") if p]:
        if isinstance(document, list):
            part = int(part)
            if part >= len(document):
                return "<absent>"
            document = document[part]
        elif isinstance(document, dict):
            if part not in document:
                return "<absent>"
            document = document[part]
        else:
            return "<absent>"
    return document


def case(name, method, path, **options):
    return dict(name=name, method=method, path=path, **options)


def api(path):
    return "/api/2.0/mlflow/" + path


def ajax(path):
    return "/ajax-api/2.0/mlflow/" + path


def long_metric_batch():
    return [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]


CASES = [
    # --- set-up: the objects later cases refer to (ids captured per server) ---
    case("create experiment", "POST", api("experiments/create"), json={"name": "sbs-{u}"},
         save={"exp": "/experiment_id"}),
    case("create run", "POST", api("runs/create"), json={"experiment_id": "{exp}", "run_name": "r1"},
         save={"run": "/run/info/run_id"}),
    case("create second run", "POST", api("runs/create"), json={"experiment_id": "{exp}"},
         save={"run2": "/run/info/run_id"}),

    # --- types checked as MLflow checks them ---
    case("experiment name is a number", "POST", api("experiments/create"), json={"name": 123}),
    case("experiment name is a list", "POST", api("experiments/create"), json={"name": ["a"]}),
    case("experiment name missing", "POST", api("experiments/create"), json={}),
    case("experiment name empty", "POST", api("experiments/create"), json={"name": ""}),
    case("experiment tags not a list", "POST", api("experiments/create"),
         json={"name": "x-{u}", "tags": {"a": "b"}}),
    case("experiment exists", "POST", api("experiments/create"), json={"name": "sbs-{u}"},
         message_prefix=True),
    case("log-metric key is a number", "POST", api("runs/log-metric"),
         json={"run_id": "{run}", "key": 31, "value": 1.0, "timestamp": 1}),
    case("log-metric value is a string", "POST", api("runs/log-metric"),
         json={"run_id": "{run}", "key": "k", "value": "abc", "timestamp": 1}),
    case("log-metric value missing", "POST", api("runs/log-metric"),
         json={"run_id": "{run}", "key": "k", "timestamp": 1}),
    case("log-metric timestamp missing", "POST", api("runs/log-metric"),
         json={"run_id": "{run}", "key": "k", "value": 1.5}),
    case("log-metric timestamp is text", "POST", api("runs/log-metric"),
         json={"run_id": "{run}", "key": "k", "value": 1.5, "timestamp": "soon"}),
    case("log-metric run_id missing", "POST", api("runs/log-metric"),
         json={"key": "k", "value": 1.5, "timestamp": 1}),
    case("log-metric run_id is a number", "POST", api("runs/log-metric"),
         json={"run_id": 123, "key": "k", "value": 1.5, "timestamp": 1}),
    case("log-metric NaN as a string", "POST", api("runs/log-metric"),
         json={"run_id": "{run}", "key": "nan", "value": "NaN", "timestamp": 1}),
    case("log-metric value as a numeric string", "POST", api("runs/log-metric"),
         json={"run_id": "{run}", "key": "s", "value": "2.5", "timestamp": 1}),
    case("log-parameter key is a number", "POST", api("runs/log-parameter"),
         json={"run_id": "{run}", "key": 31, "value": "v"}),
    case("log-parameter value is a number", "POST", api("runs/log-parameter"),
         json={"run_id": "{run}", "key": "p", "value": 5}),
    case("set-tag value is a number", "POST", api("runs/set-tag"),
         json={"run_id": "{run}", "key": "t", "value": 41}),
    case("set-tag key missing", "POST", api("runs/set-tag"), json={"run_id": "{run}", "value": "v"}),
    case("get run numeric run_id", "GET", api("runs/get"), params={"run_id": "123"}),
    case("get run with numeric run_id in a POST body", "POST", api("runs/delete"), json={"run_id": 123}),
    case("get run unknown", "GET", api("runs/get"), params={"run_id": "0" * 32}),
    case("get run without id", "GET", api("runs/get")),
    case("delete run unknown", "POST", api("runs/delete"), json={"run_id": "f" * 32}),
    case("create run start_time text", "POST", api("runs/create"),
         json={"experiment_id": "{exp}", "start_time": "later"}),
    case("create run experiment_id number", "POST", api("runs/create"), json={"experiment_id": 5}),
    case("create run unknown experiment", "POST", api("runs/create"), json={"experiment_id": "987654"}),
    case("get experiment unknown", "GET", api("experiments/get"), params={"experiment_id": "987654"}),
    case("get experiment not a number", "GET", api("experiments/get"), params={"experiment_id": "abc"}),
    case("get experiment by name unknown", "GET", api("experiments/get-by-name"),
         params={"experiment_name": "nope-{u}"}),
    case("delete experiment tag unknown", "POST", api("experiments/delete-experiment-tag"),
         json={"experiment_id": "{exp}", "key": "nope"}),
    case("delete run tag unknown", "POST", api("runs/delete-tag"), json={"run_id": "{run}", "key": "nope"}),
    case("update experiment without new_name", "POST", api("experiments/update"), json={"experiment_id": "{exp}"}),

    # --- log-batch: MLflow's names and order ---
    case("log-batch metric timestamp missing", "POST", api("runs/log-batch"),
         json={"run_id": "{run}", "metrics": [{"key": "a", "value": 1.0}]}),
    case("log-batch second metric key missing", "POST", api("runs/log-batch"),
         json={"run_id": "{run}", "metrics": [{"key": "a", "value": 1.0, "timestamp": 1},
                                              {"value": 2.0, "timestamp": 1}]}),
    case("log-batch param key missing", "POST", api("runs/log-batch"),
         json={"run_id": "{run}", "params": [{"value": "v"}]}),
    case("log-batch tag key missing", "POST", api("runs/log-batch"),
         json={"run_id": "{run}", "tags": [{"value": "v"}]}),
    case("log-batch metrics not a list", "POST", api("runs/log-batch"),
         json={"run_id": "{run}", "metrics": {"key": "a"}}),
    case("log-batch run_id missing", "POST", api("runs/log-batch"),
         json={"metrics": [{"key": "a", "value": 1.0, "timestamp": 1}]}),
    case("log-batch too many metrics", "POST", api("runs/log-batch"),
         json={"run_id": "{run}", "metrics": long_metric_batch()}),
    case("log-inputs run_id missing before datasets", "POST", api("runs/log-inputs"),
         json={"datasets": "nope"}),
    case("log-inputs datasets not a list", "POST", api("runs/log-inputs"),
         json={"run_id": "{run}", "datasets": "nope"}),

    # --- searches ---
    case("search runs max_results too large", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "max_results": 50001}),
    case("search runs max_results text", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "max_results": "many"}),
    case("search runs order_by not strings", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "order_by": [1]}),
    case("search runs bad filter", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "filter": "metrics.x >"}),
    case("search experiments max_results text", "POST", api("experiments/search"), json={"max_results": "x"}),
    case("search experiments max_results too large", "POST", api("experiments/search"),
         json={"max_results": 50001}),
    case("search experiments max_results zero", "POST", api("experiments/search"), json={"max_results": 0}),
    case("search experiments bad view type", "POST", api("experiments/search"), json={"view_type": "SOME"}),
    case("search runs max_results zero", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "max_results": 0}),
    case("search runs unknown experiment", "POST", api("runs/search"), json={"experiment_ids": ["abc"]}),
    case("search model versions max_results too large", "GET", api("model-versions/search"),
         params={"max_results": "200001"}),
    # MLflow answers an empty page with a token pointing at the same page (a client
    # following it never ends); Plinth refuses 0 as its version search does.
    case("search registered models max_results zero", "GET", api("registered-models/search"),
         params={"max_results": "0"}, statuses=(200, 400)),
    case("search model versions max_results zero", "GET", api("model-versions/search"),
         params={"max_results": "0"}),
    case("search experiments without max_results", "POST", api("experiments/search"), json={}),
    case("search runs max_results negative", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "max_results": -3}),
    case("search registered models max_results too large", "GET", api("registered-models/search"),
         params={"max_results": "1001"}),

    # --- metric history ---
    case("get-history without metric_key", "GET", api("metrics/get-history"), params={"run_id": "{run}"}),
    case("get-history unknown run", "GET", api("metrics/get-history"),
         params={"run_id": "0" * 32, "metric_key": "m"}),
    case("get-history max_results zero", "GET", api("metrics/get-history"),
         params={"run_id": "{run}", "metric_key": "m", "max_results": "0"}),
    case("bulk-interval without run_ids", "GET", ajax("metrics/get-history-bulk-interval"),
         params={"metric_key": "m"}),
    case("bulk-interval max_results too large", "GET", ajax("metrics/get-history-bulk-interval"),
         params={"run_ids": "{run}", "metric_key": "m", "max_results": "2501"}),
    case("bulk-interval start without end", "GET", ajax("metrics/get-history-bulk-interval"),
         params={"run_ids": "{run}", "metric_key": "m", "start_step": "1"}),
    case("bulk-interval start after end", "GET", ajax("metrics/get-history-bulk-interval"),
         params={"run_ids": "{run}", "metric_key": "m", "start_step": "5", "end_step": "1"}),
    case("bulk-interval too many runs", "GET", ajax("metrics/get-history-bulk-interval"),
         params={"run_ids": [f"{i:032x}" for i in range(101)], "metric_key": "m"}),
    case("log a metric to read in bulk", "POST", api("runs/log-metric"),
         json={"run_id": "{run}", "key": "m", "value": 0.25, "timestamp": 1000, "step": 3}),
    case("get-history-bulk without run_id", "GET", ajax("metrics/get-history-bulk"), params={"metric_key": "m"}),
    case("get-history-bulk without metric_key", "GET", ajax("metrics/get-history-bulk"),
         params={"run_id": "{run}"}),
    case("get-history-bulk too many runs", "GET", ajax("metrics/get-history-bulk"),
         params={"run_id": [f"{i:032x}" for i in range(101)], "metric_key": "m"}),
    case("get-history-bulk", "GET", ajax("metrics/get-history-bulk"),
         params={"run_id": ["{run}", "{run2}"], "metric_key": "m"}, compare=["/metrics"]),

    # --- artifacts through the tracking server ---
    case("upload-artifact without run_uuid", "POST", ajax("upload-artifact"), params={"path": "a.txt"},
         raw=b"hello", content_type="application/octet-stream"),
    case("upload-artifact without path", "POST", ajax("upload-artifact"), params={"run_uuid": "{run}"},
         raw=b"hello", content_type="application/octet-stream"),
    case("upload-artifact escaping path", "POST", ajax("upload-artifact"),
         params={"run_uuid": "{run}", "path": "../a.txt"}, raw=b"hello", content_type="application/octet-stream"),
    case("upload-artifact without data", "POST", ajax("upload-artifact"),
         params={"run_uuid": "{run}", "path": "a.txt"}, raw=b"", content_type="application/octet-stream"),
    case("upload-artifact unknown run", "POST", ajax("upload-artifact"),
         params={"run_uuid": "0" * 32, "path": "a.txt"}, raw=b"hello", content_type="application/octet-stream"),
    case("upload-artifact", "POST", ajax("upload-artifact"),
         params={"run_uuid": "{run}", "path": "notes/a.txt"}, raw=b"hello side by side",
         content_type="application/octet-stream"),
    case("get-artifact", "GET", "/get-artifact", params={"run_id": "{run}", "path": "notes/a.txt"}, body=True),
    case("get-artifact escaping path", "GET", "/get-artifact", params={"run_id": "{run}", "path": "../x"}),
    case("get-artifact absolute path", "GET", "/get-artifact", params={"run_id": "{run}", "path": "/etc/passwd"}),
    case("get-artifact encoded escape", "GET", "/get-artifact",
         params={"run_id": "{run}", "path": "notes/%2e%2e/%2e%2e/x"}),
    case("get-artifact unknown run", "GET", "/get-artifact", params={"run_id": "0" * 32, "path": "a.txt"}),
    case("list artifacts", "GET", api("artifacts/list"), params={"run_id": "{run}"}, compare=["/files"]),
    case("list artifacts escaping path", "GET", api("artifacts/list"), params={"run_id": "{run}", "path": "../x"}),

    # --- datasets ---
    case("search-datasets without experiment ids", "POST", ajax("experiments/search-datasets"), json={}),
    case("search-datasets too many experiment ids", "POST", ajax("experiments/search-datasets"),
         json={"experiment_ids": [str(i) for i in range(21)]}),
    case("log a dataset", "POST", api("runs/log-inputs"), json={
        "run_id": "{run}",
        "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}],
                      "dataset": {"name": "toy", "digest": "abc123", "source_type": "code",
                                  "source": "{}", "schema": "", "profile": ""}}]}),
    case("search-datasets", "POST", ajax("experiments/search-datasets"), json={"experiment_ids": ["{exp}"]},
         compare=["/dataset_summaries"]),

    # --- gateway proxy and prompt-lab runs ---
    case("gateway-proxy GET", "GET", ajax("gateway-proxy"), compare=[""]),
    case("gateway-proxy POST", "POST", ajax("gateway-proxy"), json={"gateway_path": "x"}, compare=[""]),
    case("promptlab run without experiment", "POST", ajax("runs/create-promptlab-run"), json={}),
    case("promptlab run without template", "POST", ajax("runs/create-promptlab-run"),
         json={"experiment_id": "{exp}"}),
    case("promptlab run without model_route", "POST", ajax("runs/create-promptlab-run"), json={
        "experiment_id": "{exp}", "prompt_template": "say {{x}}",
        "prompt_parameters": [{"key": "x", "value": "hi"}]}),

    # --- registry ---
    case("create registered model", "POST", api("registered-models/create"), json={"name": "rm-{u}"}),
    case("create registered model again", "POST", api("registered-models/create"), json={"name": "rm-{u}"},
         message_prefix=True),
    case("create registered model name is a number", "POST", api("registered-models/create"), json={"name": 7}),
    case("get registered model unknown", "GET", api("registered-models/get"), params={"name": "nope-{u}"}),
    case("rename registered model unknown", "POST", api("registered-models/rename"),
         json={"name": "nope-{u}", "new_name": "x-{u}"}),
    case("model version runs source without run_id", "POST", api("model-versions/create"),
         json={"name": "rm-{u}", "source": "runs:/{run}/model"}),
    case("model version runs source other run_id", "POST", api("model-versions/create"),
         json={"name": "rm-{u}", "source": "runs:/{run}/model", "run_id": "{run2}"}),
    case("model version relative source", "POST", api("model-versions/create"),
         json={"name": "rm-{u}", "source": "runs:/{run}/../model", "run_id": "{run}"}),
    case("model version", "POST", api("model-versions/create"),
         json={"name": "rm-{u}", "source": "runs:/{run}/model", "run_id": "{run}"},
         compare=["/model_version/version", "/model_version/description", "/model_version/run_link",
                  "/model_version/source", "/model_version/run_id", "/model_version/status",
                  "/model_version/current_stage"]),
    case("get model version", "GET", api("model-versions/get"), params={"name": "rm-{u}", "version": "1"},
         compare=["/model_version/description", "/model_version/run_link", "/model_version/tags",
                  "/model_version/aliases"]),
    case("get model version unknown", "GET", api("model-versions/get"), params={"name": "rm-{u}", "version": "99"}),
    case("get model version not a number", "GET", api("model-versions/get"),
         params={"name": "rm-{u}", "version": "x"}),
    case("get model version of unknown model", "GET", api("model-versions/get"),
         params={"name": "nope-{u}", "version": "1"}),
    case("model-versions get-artifact escaping path", "GET", "/model-versions/get-artifact",
         params={"name": "rm-{u}", "version": "1", "path": "../x"}),
    case("alias unknown", "GET", api("registered-models/alias"), params={"name": "rm-{u}", "alias": "nope"}),
    case("delete registered model unknown", "DELETE", api("registered-models/delete"), json={"name": "nope-{u}"}),

    # --- a run as MLflow's JSON writes it ---
    case("get run", "GET", api("runs/get"), params={"run_id": "{run}"},
         compare=["/run/data", "/run/inputs", "/run/outputs", "/run/info/status",
                  "/run/info/lifecycle_stage", "/run/info/artifact_uri", "/run/info/run_name",
                  "/run/info/experiment_id", "/run/info/run_uuid"]),
    case("search runs", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "filter": "attributes.run_name = 'r1'"},
         compare=["/runs/0/data", "/runs/0/inputs", "/next_page_token"]),
    case("search runs finds nothing", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "filter": "attributes.run_name = 'nobody'"}, compare=[""]),
    case("get-history", "GET", api("metrics/get-history"), params={"run_id": "{run}", "metric_key": "m"},
         compare=[""]),
    case("get-history of a metric never logged", "GET", api("metrics/get-history"),
         params={"run_id": "{run}", "metric_key": "never"}, compare=[""]),
    case("bulk-interval", "GET", ajax("metrics/get-history-bulk-interval"),
         params={"run_ids": ["{run}", "{run2}"], "metric_key": "m"}, compare=[""]),

    # --- the stores' refusals ---
    case("create a second experiment", "POST", api("experiments/create"), json={"name": "sbs2-{u}"},
         save={"exp2": "/experiment_id"}),
    # MLflow answers this one with its database's error text (BAD_REQUEST, "(sqlite3.
    # IntegrityError) UNIQUE constraint failed …"); Plinth with RESOURCE_ALREADY_EXISTS and
    # the words MLflow uses when creating such an experiment. Both refuse it with 400.
    case("rename to a taken name", "POST", api("experiments/update"),
         json={"experiment_id": "{exp2}", "new_name": "sbs-{u}"}, status_only=True),
    case("restore an active experiment", "POST", api("experiments/restore"), json={"experiment_id": "{exp2}"}),
    case("delete an experiment", "POST", api("experiments/delete"), json={"experiment_id": "{exp2}"}),
    case("delete it again", "POST", api("experiments/delete"), json={"experiment_id": "{exp2}"}),
    # INVALID_STATE is 500 in MLflow, which its client retries for minutes; Plinth answers
    # it with 400 (docs/design/tracking.md). The code and words are MLflow's.
    case("rename a deleted experiment", "POST", api("experiments/update"),
         json={"experiment_id": "{exp2}", "new_name": "x-{u}"}, statuses=(500, 400)),
    case("run in a deleted experiment", "POST", api("runs/create"), json={"experiment_id": "{exp2}"}),
    case("tag a deleted experiment", "POST", api("experiments/set-experiment-tag"),
         json={"experiment_id": "{exp2}", "key": "k", "value": "v"}),
    case("log a param", "POST", api("runs/log-parameter"), json={"run_id": "{run2}", "key": "p", "value": "1"}),
    case("change a param", "POST", api("runs/log-parameter"), json={"run_id": "{run2}", "key": "p", "value": "2"}),
    case("log the same param again", "POST", api("runs/log-parameter"),
         json={"run_id": "{run2}", "key": "p", "value": "1"}),
    case("delete a run", "POST", api("runs/delete"), json={"run_id": "{run2}"}),
    case("log to a deleted run", "POST", api("runs/log-metric"),
         json={"run_id": "{run2}", "key": "k", "value": 1, "timestamp": 1}),
    case("tag a deleted run", "POST", api("runs/set-tag"), json={"run_id": "{run2}", "key": "k", "value": "v"}),
    case("update a deleted run", "POST", api("runs/update"), json={"run_id": "{run2}", "status": "FINISHED"}),
    case("restore the run", "POST", api("runs/restore"), json={"run_id": "{run2}"}),
    case("update a run with a bad status", "POST", api("runs/update"), json={"run_id": "{run2}", "status": "DONE"}),
    case("metric with a negative timestamp", "POST", api("runs/log-metric"),
         json={"run_id": "{run2}", "key": "k", "value": 1, "timestamp": -5}),
    case("metric with a bad key", "POST", api("runs/log-metric"),
         json={"run_id": "{run2}", "key": "bad*key", "value": 1, "timestamp": 1}),
    case("param too long", "POST", api("runs/log-parameter"),
         json={"run_id": "{run2}", "key": "long", "value": "x" * 6001}),
    case("search with a bad order", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "order_by": ["metrics.m SIDEWAYS"]}),
    case("search with a bad filter key", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "filter": "nonsense.x = 1"}),
    case("search with a bad page token", "POST", api("runs/search"),
         json={"experiment_ids": ["{exp}"], "page_token": "nope"}, status_only=True),
    case("get unknown logged model", "GET", api("logged-models/m-" + "0" * 32)),
    case("finalize unknown logged model", "PATCH", api("logged-models/m-" + "0" * 32),
         json={"model_id": "m-" + "0" * 32, "status": "LOGGED_MODEL_READY"}),
    case("search logged models without experiments", "POST", api("logged-models/search"), json={}),
    case("registry: unknown model tag", "DELETE", api("registered-models/delete-tag"),
         json={"name": "rm-{u}", "key": "nope"}, status_only=True),
    case("registry: alias to an unknown version", "POST", api("registered-models/alias"),
         json={"name": "rm-{u}", "alias": "champ", "version": "42"}),
    case("registry: unknown stage", "POST", api("model-versions/transition-stage"),
         json={"name": "rm-{u}", "version": "1", "stage": "Heaven", "archive_existing_versions": False}),
    case("registry: latest versions of an unknown model", "POST", api("registered-models/get-latest-versions"),
         json={"name": "nope-{u}"}),
    case("registry: delete an unknown alias", "DELETE", api("registered-models/alias"),
         json={"name": "rm-{u}", "alias": "nope"}, status_only=True),
    case("registry: rename to a taken name", "POST", api("registered-models/create"), json={"name": "rm2-{u}"}),
    case("registry: rename onto another", "POST", api("registered-models/rename"),
         json={"name": "rm2-{u}", "new_name": "rm-{u}"}, message_prefix=True),
    case("registry: a bad model name", "POST", api("registered-models/create"), json={"name": "a/b"}),

    # --- prompt-lab runs ---
    case("promptlab run", "POST", ajax("runs/create-promptlab-run"), json={
        "experiment_id": "{exp}", "run_name": "prompt-{u}", "prompt_template": "say {{x}}",
        "prompt_parameters": [{"key": "x", "value": "hi"}], "model_route": "chat",
        "model_parameters": [{"key": "temperature", "value": "0.5"}], "model_input": "say hi",
        "model_output": "hi!", "mlflow_version": "3.17.2"},
         compare=["/run/info/status", "/run/info/run_name", "/run/data/params"],
         save={"prompt_run": "/run/info/run_id"}),
    case("promptlab run's evaluated example", "GET", "/get-artifact",
         params={"run_id": "{prompt_run}", "path": "eval_results_table.json"}, body=True),
    # MLflow also writes conda.yaml and python_env.yaml, naming its own server's Python;
    # Plinth runs no Python and names none (the model loads in the caller's environment).
    case("promptlab run's model files", "GET", api("artifacts/list"),
         params={"run_id": "{prompt_run}", "path": "model"}, compare=["/files"], keep=["path", "is_dir"],
         drop=["model/conda.yaml", "model/python_env.yaml"]),
    case("promptlab run's tags", "GET", api("runs/get"), params={"run_id": "{prompt_run}"},
         compare=["/run/data/tags"], keep=["key"]),
    case("promptlab run's input example", "GET", "/get-artifact",
         params={"run_id": "{prompt_run}", "path": "model/input_example.json"}, body=True),
    case("promptlab run's requirements", "GET", "/get-artifact",
         params={"run_id": "{prompt_run}", "path": "model/requirements.txt"}, body=True),

    # --- logged models promoted to registered versions ---
    case("create logged model", "POST", api("logged-models"),
         json={"experiment_id": "{exp}", "name": "lm-{u}", "source_run_id": "{run}"},
         save={"model": "/model/info/model_id"}),
    case("register the logged model", "POST", api("model-versions/create"),
         json={"name": "rm-{u}", "source": "models:/{model}", "model_id": "{model}"},
         compare=["/model_version/version", "/model_version/source", "/model_version/run_id",
                  "/model_version/description", "/model_version/run_link"]),
    case("the logged model lists its registration", "GET", api("logged-models/{model}"),
         compare=["/model/info/tags", "/model/info/status"]),
    case("model version of another logged model", "POST", api("model-versions/create"),
         json={"name": "rm-{u}", "source": "models:/m-0000", "model_id": "{model}"}),
    case("model version from a registered one", "POST", api("model-versions/create"),
         json={"name": "rm-{u}", "source": "models:/rm-{u}/1"},
         compare=["/model_version/source", "/model_version/run_id"]),
    case("model version from an unknown registered model", "POST", api("model-versions/create"),
         json={"name": "rm-{u}", "source": "models:/nope-{u}/1"}),
    case("model version from an artifact location of no run", "POST", api("model-versions/create"),
         json={"name": "rm-{u}", "source": "mlflow-artifacts:/{exp}/{run}/artifacts/model"}),

    # --- the request itself ---
    case("POST without a content type", "POST", api("experiments/create"),
         raw=b'{"name": "x"}', content_type=None),
    case("POST with a form content type", "POST", api("experiments/create"),
         raw=b'{"name": "x"}', content_type="text/plain"),
    case("a body that is not JSON", "POST", api("experiments/create"), raw=b'{"name": oops'),
    case("a body encoded twice", "POST", api("experiments/create"),
         raw=json.dumps(json.dumps({"name": "twice-{u}"})).replace("{u}", U).encode()),
    # Unknown paths and a missing `path`: MLflow answers an HTML page, Plinth MLflow's JSON
    # error; the statuses agree.
    case("unknown path", "GET", api("no-such-thing"), status_only=True),
    case("unknown ajax path", "POST", ajax("runs/no-such-thing"), json={}, status_only=True),
    case("gateway-proxy under /api", "GET", api("gateway-proxy"), status_only=True),
    case("get-artifact without a path", "GET", "/get-artifact", params={"run_id": "{run}"},
         status_only=True),

    # --- graphql: the queries MLflow's UI sends ---
    case("graphql test", "POST", "/graphql",
         json={"query": 'query { test(inputString: "abc") { output } }'}, compare=[""]),
    case("graphql test mutation", "POST", "/graphql",
         json={"query": 'mutation { testMutation(inputString: "abc") { output } }'}, compare=[""]),
    case("graphql experiment", "POST", "/graphql", json={
        "operationName": "MlflowGetExperimentQuery",
        "query": """query MlflowGetExperimentQuery($input: MlflowGetExperimentInput!)
            @component(name: "MLflow.ExperimentRunTracking") {
              mlflowGetExperiment(input: $input) {
                apiError { code message }
                experiment { artifactLocation creationTime effectiveTraceArchivalRetention
                             experimentId lastUpdateTime lifecycleStage name tags { key value } }
              }
            }""",
        "variables": {"input": {"experimentId": "{exp}"}}}, compare=[""]),
    case("graphql unknown experiment", "POST", "/graphql", json={
        "query": "query($input: MlflowGetExperimentInput!) { mlflowGetExperiment(input: $input) { experiment { name } } }",
        "variables": {"input": {"experimentId": "987654"}}}, compare=[""]),
    case("graphql run", "POST", "/graphql", json={
        "operationName": "GetRun",
        "query": """query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
            mlflowGetRun(input: $data) {
              apiError { helpUrl code message }
              run {
                info { runName status runUuid experimentId artifactUri endTime lifecycleStage startTime userId }
                experiment { experimentId name tags { key value } artifactLocation lifecycleStage lastUpdateTime }
                modelVersions { status version name source }
                data { metrics { key value step timestamp } params { key value } tags { key value } }
                inputs { datasetInputs { dataset { digest name profile schema source sourceType } tags { key value } }
                         modelInputs { modelId } }
                outputs { modelOutputs { modelId step } }
              }
            }
          }""",
        "variables": {"data": {"runId": "{run}"}}}, compare=[""]),
    case("graphql unknown run", "POST", "/graphql", json={
        "query": "query($data: MlflowGetRunInput!) { mlflowGetRun(input: $data) { run { info { runUuid } } } }",
        "variables": {"data": {"runId": "0" * 32}}}, compare=[""]),
    case("graphql runs search", "POST", "/graphql", json={
        "operationName": "SearchRuns",
        "query": """query SearchRuns($data: MlflowSearchRunsInput!) {
            mlflowSearchRuns(input: $data) {
              apiError { helpUrl code message }
              runs {
                info { runName status runUuid experimentId artifactUri endTime lifecycleStage startTime userId }
                experiment { experimentId name tags { key value } artifactLocation lifecycleStage lastUpdateTime }
                data { metrics { key value step timestamp } params { key value } tags { key value } }
                inputs { datasetInputs { dataset { digest name profile schema source sourceType } tags { key value } }
                         modelInputs { modelId } }
                outputs { modelOutputs { modelId step } }
                modelVersions { version name creationTimestamp status source }
              }
            }
          }""",
        "variables": {"data": {"filter": "attributes.run_name = 'r1'", "experimentIds": ["{exp}"]}}},
         compare=[""]),
    case("graphql metric history bulk interval", "POST", "/graphql", json={
        "operationName": "GetMetricHistoryBulkInterval",
        "query": """query GetMetricHistoryBulkInterval($data: MlflowGetMetricHistoryBulkIntervalInput!)
            @component(name: "MLflow.ExperimentRunTracking") {
              mlflowGetMetricHistoryBulkInterval(input: $data) {
                __typename
                metrics { timestamp step runId key value }
                apiError { code message }
              }
            }""",
        "variables": {"data": {"runIds": ["{run}", "{run2}"], "metricKey": "m", "maxResults": 5}}},
         compare=[""]),
    case("graphql artifacts list", "POST", "/graphql", json={
        "query": """query($data: MlflowListArtifactsInput) {
            mlflowListArtifacts(input: $data) { rootUri files { path isDir fileSize } apiError { code } } }""",
        "variables": {"data": {"runId": "{run}"}}}, compare=[""]),
    case("graphql datasets search", "POST", "/graphql", json={
        "query": """mutation($data: MlflowSearchDatasetsInput) {
            mlflowSearchDatasets(input: $data) { datasetSummaries { experimentId name digest context } } }""",
        "variables": {"data": {"experimentIds": ["{exp}"]}}}, compare=[""]),
    case("graphql datasets search without experiments", "POST", "/graphql", json={
        "query": "mutation { mlflowSearchDatasets(input: {experimentIds: []}) { datasetSummaries { name } } }"},
         compare=[""]),
    case("graphql too many root fields", "POST", "/graphql", json={
        "query": "query { " + " ".join(f"t{i}: test(inputString: \"x\") {{ output }}" for i in range(11)) + " }"},
         compare=[""]),
    case("graphql too deep", "POST", "/graphql", json={
        "query": "query { " + "a { " * 10 + "b" + " }" * 10 + " }"}, compare=[""]),
    # An unknown field: both refuse it (data null, one error), each in its library's words.
    case("graphql unknown field", "POST", "/graphql",
         json={"query": "query { test(inputString: \"x\") { nope } }"}, compare=["/data"]),
]


# Fields whose values differ by design: when something happened (a run created without a
# start time starts now in Plinth, at 0 in MLflow), and who did it (a run's user is the
# caller's Plinth login; MLflow's server records what the client claims).
TIME_KEYS = {"start_time", "end_time", "creation_time", "last_update_time", "creation_timestamp",
             "last_updated_timestamp", "creation_timestamp_ms", "last_updated_timestamp_ms",
             "startTime", "endTime", "creationTime", "lastUpdateTime", "creationTimestamp",
             "lastUpdatedTimestamp"}
USER_KEYS = {"user_id", "userId"}


def normalised(server, value, key=None):
    """A JSON value with the server's ids replaced by their names, times and users blanked,
    and lists of keyed entries (metrics, params, tags) in key order: MLflow lists a run's
    metrics in the order they were first logged, Plinth by key."""
    if key in TIME_KEYS and value is not None:
        return "<time>"
    if key in USER_KEYS:
        return "<user>"
    if isinstance(value, dict):
        return {k: normalised(server, v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [normalised(server, v) for v in value]
        if items and all(isinstance(item, dict) and "key" in item for item in items):
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    if isinstance(value, str):
        return server.normalise(value, key)
    return value


def compare(case, mlflow, plinth):
    problems = []
    expected = case.get("statuses", (mlflow.status_code, mlflow.status_code))
    if (mlflow.status_code, plinth.status_code) != expected:
        problems.append(f"status: MLflow {mlflow.status_code}, Plinth {plinth.status_code}")
    if min(expected) < 400 <= max(expected):
        return problems  # one answers, the other refuses, by design: nothing more to compare
    try:
        m_json = mlflow.json()
    except ValueError:
        m_json = None
    try:
        p_json = plinth.json()
    except ValueError:
        p_json = None
    if mlflow.status_code >= 400 or plinth.status_code >= 400:
        if case.get("status_only"):
            return problems
        if not isinstance(m_json, dict) or not isinstance(p_json, dict):
            problems.append(f"bodies: MLflow {mlflow.text[:300]!r}, Plinth {plinth.text[:300]!r}")
            return problems
        for field in ("error_code", "message", "sqlstate", "error_class"):
            m_value = m_servers[0].normalise(str(m_json.get(field)))
            p_value = m_servers[1].normalise(str(p_json.get(field)))
            if field == "message" and case.get("message_prefix"):
                m_value = m_value[: len(p_value)]
            if m_value != p_value:
                problems.append(f"{field}:\n      MLflow: {m_value}\n      Plinth: {p_value}")
        return problems
    if case.get("body"):
        if mlflow.content != plinth.content:
            problems.append(f"body: MLflow {mlflow.content[:100]!r}, Plinth {plinth.content[:100]!r}")
    def project(value):
        # `keep`: compare only these members of listed objects.
        keep = case.get("keep")
        if isinstance(value, list):
            value = [item for item in value
                     if not (isinstance(item, dict) and item.get("path") in case.get("drop", []))]
        if keep and isinstance(value, list):
            return [{k: v for k, v in item.items() if k in keep} if isinstance(item, dict) else item
                    for item in value]
        return value

    for path in case.get("compare", []):
        field = path.rsplit("/", 1)[-1] or None
        m_value = json.dumps(normalised(m_servers[0], project(pointer(m_json, path)), field),
                             sort_keys=True)
        p_value = json.dumps(normalised(m_servers[1], project(pointer(p_json, path)), field),
                             sort_keys=True)
        if m_value != p_value:
            problems.append(f"{path or '(body)'}:\n      MLflow: {m_value}\n      Plinth: {p_value}")
    return problems


m_servers = [
    Server("MLflow", MLFLOW, {}),
    Server("Plinth", PLINTH, {"Authorization": f"Bearer {TOKEN}"}),
]


def main():
    only = os.environ.get("SBS_ONLY")
    failures = 0
    for item in CASES:
        if only and only not in item["name"] and "save" not in item:
            continue
        answers = [server.send(item) for server in m_servers]
        for server, answer in zip(m_servers, answers):
            for var, path in item.get("save", {}).items():
                try:
                    server.vars[var] = pointer(answer.json(), path)
                except ValueError:
                    server.vars[var] = None
        problems = compare(item, *answers)
        if problems:
            failures += 1
            print(f"DIFFERS  {item['method']} {item['path']}  ({item['name']})")
            for problem in problems:
                print("    " + problem)
        elif VERBOSE:
            print(f"same     {item['name']}")
    print(f"{len(CASES) - failures} of {len(CASES)} cases answer alike")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
