"""Data for the CLI's real-client test (crates/plinth/tests/it/cli_tracking.rs): a sweep of
five runs in experiment `cli-sweep` (params, a loss history, an artifact each) and an sklearn
model registered as `cli-model` with the alias `champion`."""

import os
import tempfile

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.linear_model import LogisticRegression

from common import banner, client

banner("cli data")
mlflow.set_experiment("cli-sweep")
for index, (loss, lr) in enumerate([(0.9, "0.01"), (0.3, "0.01"), (0.45, "0.1"), (0.1, "0.01"), (0.7, "0.01")]):
    with mlflow.start_run(run_name=f"sweep-{index}"):
        mlflow.log_param("lr", lr)
        for step, value in enumerate([loss * 3, loss * 2, loss]):
            mlflow.log_metric("loss", value, step=step)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "summary.txt")
            with open(path, "w") as file:
                file.write(f"run {index}: loss {loss}\n")
            mlflow.log_artifact(path, artifact_path="notes")

rng = np.random.default_rng(3)
x = rng.normal(size=(100, 4))
y = (x[:, 0] > 0).astype(int)
with mlflow.start_run(run_name="model"):
    info = mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="model")
version = mlflow.register_model(info.model_uri, "cli-model")
client().set_registered_model_alias("cli-model", "champion", version.version)
print("registered cli-model version", version.version)
