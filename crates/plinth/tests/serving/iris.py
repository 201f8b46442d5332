"""Model APIs with the real clients (crates/plinth/tests/it/serving.rs).

`iris.py log`: the unmodified mlflow client trains a scikit-learn LogisticRegression on iris,
converts it with skl2onnx and logs it with `mlflow.onnx.log_model(..., signature=...,
registered_model_name="iris")`, then points alias `champion` at it. Prints the rows to score
and scikit-learn's own answers for them, as JSON.

`iris.py score BASE_URL TOKEN VIEWER_TOKEN ANSWERS_FILE`: scores the deployment at BASE_URL
(`http://host/acme/churn/models/iris`) with `requests` over MLflow's scoring protocol
(dataframe_split, dataframe_records, instances, inputs, CSV) and with `tritonclient[http]`
over the Open Inference Protocol, and checks every answer against scikit-learn's, the bad
inputs' errors and the unauthenticated call.
"""

import json
import sys

import numpy as np


def log():
    import mlflow
    from mlflow.models import infer_signature
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris(as_frame=True)
    X, y = iris.data, iris.target
    model = LogisticRegression(max_iter=1000).fit(X, y)
    onnx_model = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, X.shape[1]]))])
    signature = infer_signature(X, model.predict(X))
    mlflow.set_experiment("iris-serving")
    with mlflow.start_run():
        info = mlflow.onnx.log_model(
            onnx_model, name="model", signature=signature, registered_model_name="iris"
        )
    client = mlflow.MlflowClient()
    version = info.registered_model_version
    client.set_registered_model_alias("iris", "champion", version)
    rows = X.iloc[[0, 1, 50, 51, 100, 149]]
    # The features as float32, as the ONNX graph sees them (the answers are compared on those).
    rows32 = rows.astype(np.float32).astype(np.float64)
    print(json.dumps({
        "version": int(version),
        "columns": list(X.columns),
        "rows": rows.values.tolist(),
        "labels": model.predict(rows32).tolist(),
        "probabilities": model.predict_proba(rows32).tolist(),
    }))


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def close(got, want, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    check(got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}")
    worst = float(np.max(np.abs(got - want)))
    check(worst < 1e-5, f"{what}: off by {worst}: {got.tolist()} vs {want.tolist()}")


def score(base, token, viewer_token, answers_file):
    import requests
    import tritonclient.http as triton

    answers = json.load(open(answers_file))
    columns, rows = answers["columns"], answers["rows"]
    labels, probabilities = answers["labels"], answers["probabilities"]
    auth = {"Authorization": f"Bearer {token}"}
    invocations = f"{base}/invocations"

    def predictions(body, what, headers=auth, **kwargs):
        answer = requests.post(invocations, json=body, headers=headers, timeout=30, **kwargs)
        check(answer.status_code == 200, f"{what}: {answer.status_code} {answer.text}")
        check(answer.headers["X-Content-Type-Options"] == "nosniff", f"{what}: headers {answer.headers}")
        check("sandbox" in answer.headers["Content-Security-Policy"], f"{what}: headers {answer.headers}")
        return answer.json()["predictions"]

    # skl2onnx's names for a classifier's outputs: the label, and the ZipMap of class
    # probabilities (answered as one list per row, in class order).
    label, proba = "output_label", "output_probability"

    def check_records(got, what):
        check(len(got) == len(rows), f"{what}: {len(got)} predictions for {len(rows)} rows: {got}")
        check([p[label] for p in got] == labels, f"{what}: labels {got} vs {labels}")
        close([p[proba] for p in got], probabilities, f"{what} probabilities")

    records = [dict(zip(columns, row)) for row in rows]
    bodies = {
        "dataframe_split": {"dataframe_split": {"columns": columns, "data": rows}},
        "dataframe_records": {"dataframe_records": records},
        "instances (rows)": {"instances": rows},
        "instances (records)": {"instances": records},
        "inputs (rows)": {"inputs": rows},
        "inputs (columns)": {"inputs": {c: [row[i] for row in rows] for i, c in enumerate(columns)}},
        "inputs (graph input)": {"inputs": {"X": rows}},
    }
    for what, body in bodies.items():
        check_records(predictions(body, what), what)
    # A viewer invokes too.
    check_records(
        predictions(bodies["dataframe_split"], "as a viewer", headers={"Authorization": f"Bearer {viewer_token}"}),
        "as a viewer",
    )
    # CSV.
    csv = ",".join(columns) + "\n" + "\n".join(",".join(repr(v) for v in row) for row in rows) + "\n"
    answer = requests.post(invocations, data=csv, headers={**auth, "Content-Type": "text/csv"}, timeout=30)
    check(answer.status_code == 200, f"csv: {answer.status_code} {answer.text}")
    check_records(answer.json()["predictions"], "csv")

    # Bad inputs: MLflow's error shape, naming the cause.
    def refused(status, body=None, what="", headers=auth, **kwargs):
        answer = requests.post(invocations, json=body, headers=headers, timeout=30, **kwargs) if body is not None \
            else requests.post(invocations, headers=headers, timeout=30, **kwargs)
        check(answer.status_code == status, f"{what}: expected {status}, got {answer.status_code} {answer.text}")
        check(answer.headers["Content-Type"].startswith("application/json"), f"{what}: {answer.headers}")
        error = answer.json()
        check(set(error) >= {"error_code", "message"}, f"{what}: {error}")
        return error

    missing = {"dataframe_split": {"columns": columns[:3], "data": [row[:3] for row in rows]}}
    error = refused(400, missing, "missing column")
    check(error["error_code"] == "BAD_REQUEST", f"missing column: {error}")
    check(f"missing column `{columns[3]}`" in error["message"], f"missing column: {error}")
    unknown = {"dataframe_records": [dict(records[0], colour="blue")]}
    error = refused(400, unknown, "unknown column")
    check("unknown column `colour`" in error["message"], f"unknown column: {error}")
    wrong_type = {"dataframe_split": {"columns": columns, "data": [[rows[0][0], "wide", rows[0][2], rows[0][3]]]}}
    error = refused(400, wrong_type, "wrong type")
    check(f"column `{columns[1]}`" in error["message"] and "wide" in error["message"], f"wrong type: {error}")
    error = refused(400, {"instances": [row[:3] for row in rows]}, "wrong shape")
    check("input `X`" in error["message"] and "[-1, 4]" in error["message"], f"wrong shape: {error}")
    error = refused(415, None, "content type", data="<p>hi</p>", headers={**auth, "Content-Type": "text/html"})
    check("text/html" in error["message"], f"content type: {error}")
    error = refused(401, bodies["instances (rows)"], "no credential", headers={})
    check(error["error_code"] == "UNAUTHENTICATED", f"no credential: {error}")
    error = refused(401, bodies["instances (rows)"], "bad token", headers={"Authorization": "Bearer plt_nonsense"})
    big = "[" + ",".join(["[1.0,2.0,3.0,4.0]"] * 1_200_000) + "]"
    answer = requests.post(invocations, data='{"instances": ' + big + "}",
                           headers={**auth, "Content-Type": "application/json"}, timeout=60)
    check(answer.status_code == 413, f"body over the limit: {answer.status_code} {answer.text[:200]}")
    for path in ["ping", "health", "version"]:
        answer = requests.get(f"{base}/{path}", headers=auth, timeout=30)
        check(answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}")

    # The Open Inference Protocol with Triton's own client (binary tensors by default).
    host_and_path = base.split("://", 1)[1]
    # A fresh dict each call: tritonclient adds `Inference-Header-Content-Length` to the one
    # it is given, which would then be stale on the next request.
    def triton_auth():
        return dict(auth)

    client = triton.InferenceServerClient(url=host_and_path)
    check(client.is_server_live(headers=triton_auth()), "v2 live")
    check(client.is_server_ready(headers=triton_auth()), "v2 ready")
    check(client.is_model_ready("iris", headers=triton_auth()), "v2 model ready")
    metadata = client.get_model_metadata("iris", headers=triton_auth())
    check(metadata["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}], f"metadata {metadata}")
    data = np.asarray(rows, dtype=np.float32)
    for binary in (True, False):
        tensor = triton.InferInput("X", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data, binary_data=binary)
        result = client.infer("iris", [tensor], headers=triton_auth(), request_id="r1")
        label_name = [o["name"] for o in metadata["outputs"]]
        check(result.get_response()["id"] == "r1", f"v2 id: {result.get_response()}")
        check(result.as_numpy(label_name[0]).tolist() == labels, f"v2 labels (binary={binary})")
        close(result.as_numpy(label_name[1]), probabilities, f"v2 probabilities (binary={binary})")
        outputs = [triton.InferRequestedOutput(label_name[1], binary_data=binary)]
        result = client.infer("iris", [tensor], outputs=outputs, model_version=str(answers["version"]), headers=triton_auth())
        close(result.as_numpy(label_name[1]), probabilities, f"v2 versioned (binary={binary})")
        check(result.as_numpy(label_name[0]) is None, "v2: only the requested output")
    # Errors are the protocol's `{"error": ...}`.
    bad = triton.InferInput("X", [1, 3], "FP32")
    bad.set_data_from_numpy(np.ones((1, 3), dtype=np.float32))
    try:
        client.infer("iris", [bad], headers=triton_auth())
        raise AssertionError("v2: a wrong shape was accepted")
    except triton.InferenceServerException as error:
        check("input `X`" in str(error) and "[-1, 4]" in str(error), f"v2 wrong shape: {error}")
    answer = requests.post(f"{base}/v2/models/iris/infer", json={"inputs": []}, timeout=30)
    check(answer.status_code == 401 and "error" in answer.json(), f"v2 unauthenticated: {answer.status_code} {answer.text}")
    answer = requests.post(f"{base}/v2/models/other/infer", headers=triton_auth(), timeout=30,
                           json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
    check(answer.status_code == 404 and "`other`" in answer.json()["error"], f"v2 other model: {answer.text}")
    # Sequential one-row predictions over one connection, for the record (not a benchmark:
    # the test builds are unoptimised; `bench/` is where targets are measured).
    import time
    session = requests.Session()
    one = {"dataframe_split": {"columns": columns, "data": rows[:1]}}
    times = []
    for _ in range(200):
        started = time.perf_counter()
        answer = session.post(invocations, json=one, headers=auth, timeout=30)
        times.append(time.perf_counter() - started)
        check(answer.status_code == 200, f"timing: {answer.status_code}")
    times.sort()
    print(f"200 sequential one-row predictions: median {times[100] * 1000:.2f} ms, p99 {times[197] * 1000:.2f} ms")
    print("scored: mlflow protocol (7 JSON forms, CSV), bad inputs, v2 with tritonclient")


if __name__ == "__main__":
    if sys.argv[1] == "log":
        log()
    else:
        score(*sys.argv[2:6])
