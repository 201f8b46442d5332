"""Access through the real client: a viewer's token reads but cannot log, and a call
without a token is UNAUTHENTICATED. Run with MLFLOW_TRACKING_TOKEN set to a viewer's token."""

import os
import tempfile

import mlflow
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from requests import HTTPError

from common import banner, client, expect_error, unique

if __name__ == "__main__":
    banner("viewer")
    c = client()
    default = c.get_experiment("0")
    assert default.name == "Default"
    names = [e.name for e in c.search_experiments()]
    assert "Default" in names, names
    c.search_runs([default.experiment_id])
    expect_error("PERMISSION_DENIED", c.create_experiment, unique("nope"))
    expect_error("PERMISSION_DENIED", c.create_run, default.experiment_id)
    expect_error("PERMISSION_DENIED", c.set_experiment_tag, default.experiment_id, "k", "v")
    expect_error("PERMISSION_DENIED", c.create_registered_model, unique("nope"))
    runs = c.search_runs([default.experiment_id], max_results=1)
    if runs:
        expect_error("PERMISSION_DENIED", c.log_metric, runs[0].info.run_id, "m", 1.0)
        expect_error("PERMISSION_DENIED", c.log_param, runs[0].info.run_id, "p", "1")
    repo = get_artifact_repository(f"{default.artifact_location}/viewer/artifacts")
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write("x")
        f.flush()
        try:
            repo.log_artifact(f.name)
            raise AssertionError("a viewer uploaded an artifact")
        except HTTPError as error:
            assert error.response.status_code == 403, error.response.text
            assert error.response.json()["error_code"] == "PERMISSION_DENIED", error.response.text

    banner("anonymous")
    del os.environ["MLFLOW_TRACKING_TOKEN"]
    expect_error("UNAUTHENTICATED", client().search_experiments)
    print("permissions: all checks passed")
