"""Helpers shared by the real-client scripts. Each script runs against a live `plinth serve`
with MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN set by the Rust driver
(crates/plinth/tests/it/mlflow.rs); a failed assert exits non-zero with a traceback."""

import os
import time
import uuid

import mlflow
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient


def client():
    return MlflowClient()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def expect_error(code, function, *args, **kwargs):
    """Calls `function` and asserts it fails with MLflow error `code`."""
    try:
        function(*args, **kwargs)
    except (MlflowException, RestException) as error:
        assert error.error_code == code, f"expected {code}, got {error.error_code}: {error}"
        return error
    raise AssertionError(f"expected {code}, but the call succeeded")


def now_ms():
    return int(time.time() * 1000)


def banner(name):
    print(f"--- {name} (tracking URI {os.environ.get('MLFLOW_TRACKING_URI')})", flush=True)
