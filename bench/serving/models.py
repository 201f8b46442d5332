"""Makes the serving benchmark's models and request bodies in WORK:
iris LogisticRegression and a 100-tree RandomForest, each as an MLflow sklearn model (for
`mlflow models serve`), a joblib file (for KServe's server) and an ONNX file (skl2onnx,
as users convert them); one-row request bodies in MLflow's `dataframe_split`, KServe v1
`instances` and Open Inference Protocol v2 forms; and the in-process onnxruntime floor
(microseconds per one-row `run`). With --plinth URL: logs the ONNX models to that Plinth
(MLFLOW_TRACKING_TOKEN from the environment) as registered models iris-lr and iris-rf.
Usage: models.py WORK [--plinth URL]"""
import json
import statistics
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

work = Path(sys.argv[1])
plinth = sys.argv[sys.argv.index("--plinth") + 1] if "--plinth" in sys.argv else None
X, y = load_iris(return_X_y=True, as_frame=True)
X = X.astype(np.float32)
X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
models = {
    "iris-lr": LogisticRegression(max_iter=500).fit(X, y),
    "iris-rf": RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y),
}
row = X.iloc[[7]]

if plinth:
    import mlflow
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(plinth)
    for name, model in models.items():
        onx = to_onnx(model, X[:1].to_numpy())
        with mlflow.start_run():
            mlflow.onnx.log_model(
                onx, name="model", registered_model_name=name,
                signature=infer_signature(X.to_numpy(), model.predict(X)),
                input_example=X[:2].to_numpy(),
            )
    sys.exit(0)

import mlflow.sklearn  # noqa: E402

floor = {}
for name, model in models.items():
    # MLflow 3 saves sklearn models with skops, which asks to trust the trees' node storage.
    mlflow.sklearn.save_model(model, work / f"mlflow-{name}",
                              skops_trusted_types=["sklearn.tree._tree.Tree"])
    joblib.dump(model, work / f"{name}.joblib")
    onx = to_onnx(model, X[:1].to_numpy())
    (work / f"{name}.onnx").write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(work / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: row.to_numpy()}
    for _ in range(200):
        session.run(None, feed)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(2000):
            session.run(None, feed)
        times.append((time.perf_counter() - start) / 2000 * 1e6)
    floor[name] = round(statistics.median(times), 1)

values = row.to_numpy().tolist()
(work / "body-split.json").write_text(json.dumps(
    {"dataframe_split": {"columns": list(X.columns), "data": values}}))
(work / "body-v1.json").write_text(json.dumps({"instances": values}))
(work / "body-v2.json").write_text(json.dumps({"inputs": [
    {"name": "X", "shape": [1, 4], "datatype": "FP32", "data": values[0]}]}))
(work / "floor.json").write_text(json.dumps(floor))
print(json.dumps(floor))
