"""Artifacts through the server's proxy: log_artifact, log_artifacts (a folder), list,
download, delete, and (when PLINTH_MLFLOW_BIG_MB is set) a large file through the proxied
multipart upload."""

import filecmp
import hashlib
import os
import tempfile

import mlflow
from mlflow.artifacts import download_artifacts

from common import banner, client, unique


def small(c, experiment_id):
    banner("artifacts")
    run = c.create_run(experiment_id, run_name="artifacts")
    run_id = run.info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        single = os.path.join(tmp, "notes.txt")
        with open(single, "w") as f:
            f.write("hello artifacts\n")
        folder = os.path.join(tmp, "folder")
        os.makedirs(os.path.join(folder, "nested"))
        with open(os.path.join(folder, "a.json"), "w") as f:
            f.write('{"a": 1}')
        with open(os.path.join(folder, "nested", "b bin.dat"), "wb") as f:
            f.write(os.urandom(300_000))
        c.log_artifact(run_id, single)
        c.log_artifact(run_id, single, artifact_path="docs")
        c.log_artifacts(run_id, folder, artifact_path="data")

        top = c.list_artifacts(run_id)
        assert [(f.path, f.is_dir) for f in top] == [("data", True), ("docs", True), ("notes.txt", False)], top
        assert top[2].file_size == len("hello artifacts\n"), top[2]
        nested = c.list_artifacts(run_id, "data")
        assert [f.path for f in nested] == ["data/a.json", "data/nested"], nested
        assert c.list_artifacts(run_id, "notes.txt") == []

        out = os.path.join(tmp, "out")
        os.makedirs(out)
        local = c.download_artifacts(run_id, "data", out)
        assert filecmp.cmp(os.path.join(folder, "nested", "b bin.dat"), os.path.join(local, "nested", "b bin.dat"), shallow=False)
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/notes.txt")
        assert text == "hello artifacts\n", text
        uri_download = download_artifacts(artifact_uri=f"{run.info.artifact_uri}/docs/notes.txt", dst_path=out)
        assert open(uri_download).read() == "hello artifacts\n"

        # Fluent logging of a dict and a figure-free text.
        with mlflow.start_run(run_id=run_id):
            mlflow.log_dict({"k": [1, 2]}, "config/params.json")
            mlflow.log_text("plain", "text/plain.txt")
        assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config/params.json") == {"k": [1, 2]}

        # Delete (through the artifact repository, as the client does).
        repo = mlflow.store.artifact.artifact_repository_registry.get_artifact_repository(run.info.artifact_uri)
        repo.delete_artifacts("docs")
        assert [f.path for f in c.list_artifacts(run_id)] == ["config", "data", "notes.txt", "text"], c.list_artifacts(run_id)
    return run_id


def big(c, experiment_id, size_mb):
    banner(f"multipart upload of {size_mb} MB")
    run = c.create_run(experiment_id, run_name="big")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.bin")
        digest = hashlib.sha256()
        chunk = os.urandom(1024 * 1024)
        with open(path, "wb") as f:
            for i in range(size_mb):
                block = chunk[i % 7:] + chunk[: i % 7]
                digest.update(block)
                f.write(block)
        c.log_artifact(run.info.run_id, path, artifact_path="blobs")
        os.remove(path)
        listed = c.list_artifacts(run.info.run_id, "blobs")
        assert listed[0].file_size == size_mb * 1024 * 1024, listed
        local = c.download_artifacts(run.info.run_id, "blobs/big.bin", tmp)
        check = hashlib.sha256()
        with open(local, "rb") as f:
            while block := f.read(1024 * 1024):
                check.update(block)
        assert check.hexdigest() == digest.hexdigest(), "the downloaded file differs"
        # Nothing of the upload's parts remains visible.
        assert [f.path for f in c.list_artifacts(run.info.run_id)] == ["blobs"]


if __name__ == "__main__":
    c = client()
    experiment_id = c.create_experiment(unique("artifacts"))
    small(c, experiment_id)
    size_mb = int(os.environ.get("PLINTH_MLFLOW_BIG_MB", "0"))
    if size_mb:
        big(c, experiment_id, size_mb)
    print("artifacts: all checks passed")
