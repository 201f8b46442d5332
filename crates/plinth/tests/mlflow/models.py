"""MLflow 3 logged models and the registry: mlflow.sklearn.log_model end to end, register,
aliases, loading `models:/name@alias` with pyfunc and predicting, search, rename, stages,
tags, descriptions, deletion."""

import numpy as np
import mlflow
import mlflow.pyfunc
import mlflow.sklearn
from mlflow.entities import LoggedModelStatus
from sklearn.linear_model import LogisticRegression

from common import banner, client, expect_error, unique


def train():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return LogisticRegression().fit(x, y), x


def logged_model(experiment_name):
    banner("sklearn log_model")
    mlflow.set_experiment(experiment_name)
    model, x = train()
    with mlflow.start_run() as run:
        mlflow.log_param("C", model.C)
        info = mlflow.sklearn.log_model(model, name="model", input_example=x[:3])
        mlflow.log_metric("accuracy", model.score(x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)), model_id=info.model_id)
    c = client()
    lm = c.get_logged_model(info.model_id)
    assert lm.status == LoggedModelStatus.READY, lm.status
    assert lm.source_run_id == run.info.run_id, lm
    assert lm.artifact_location.startswith("mlflow-artifacts:/"), lm.artifact_location
    outputs = c.get_run(run.info.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [info.model_id], outputs
    # Loading by the logged model's URI and by the run's URI both predict like the original.
    expected = model.predict(x[:10])
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/model"):
        loaded = mlflow.pyfunc.load_model(uri)
        assert (loaded.predict(x[:10]) == expected).all(), uri
    # Logged-model search, tags, params.
    found = mlflow.search_logged_models(experiment_ids=[lm.experiment_id], output_format="list")
    assert info.model_id in [m.model_id for m in found], found
    c.set_logged_model_tags(info.model_id, {"quality": "good"})
    assert c.get_logged_model(info.model_id).tags["quality"] == "good"
    c.delete_logged_model_tag(info.model_id, "quality")
    assert "quality" not in c.get_logged_model(info.model_id).tags
    artifacts = [f.path for f in c.list_logged_model_artifacts(info.model_id)]
    assert "MLmodel" in artifacts and "requirements.txt" in artifacts, artifacts
    return model, x, info, run


def registry(model, x, info, run):
    banner("registry")
    c = client()
    name = unique("churn-model")
    v1 = mlflow.register_model(info.model_uri, name)
    assert v1.version == "1", v1
    v2 = mlflow.register_model(f"runs:/{run.info.run_id}/model", name, tags={"origin": "run"})
    assert v2.version == "2", v2
    c.set_registered_model_alias(name, "champion", "1")
    by_alias = c.get_model_version_by_alias(name, "champion")
    assert by_alias.version == "1" and by_alias.aliases == ["champion"], by_alias
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert (loaded.predict(x[:10]) == model.predict(x[:10])).all()
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/2")
    assert (loaded.predict(x[:10]) == model.predict(x[:10])).all()

    # Descriptions, tags, stages.
    c.update_registered_model(name, description="predicts churn")
    c.set_registered_model_tag(name, "owner", "ml-team")
    c.update_model_version(name, "2", description="second")
    c.set_model_version_tag(name, "2", "validated", "yes")
    c.delete_model_version_tag(name, "2", "origin")
    v2 = c.get_model_version(name, "2")
    assert v2.description == "second" and v2.tags == {"validated": "yes"}, v2
    c.transition_model_version_stage(name, "1", "Staging")
    c.transition_model_version_stage(name, "2", "Production")
    latest = {v.current_stage: v.version for v in c.get_latest_versions(name)}
    assert latest == {"Staging": "1", "Production": "2"}, latest
    staged = mlflow.pyfunc.load_model(f"models:/{name}/Production")
    assert (staged.predict(x[:5]) == model.predict(x[:5])).all()
    rm = c.get_registered_model(name)
    assert rm.description == "predicts churn" and rm.tags == {"owner": "ml-team"} and rm.aliases == {"champion": "1"}, rm

    # Search.
    found = c.search_registered_models(filter_string=f"name = '{name}'")
    assert [m.name for m in found] == [name], found
    versions = c.search_model_versions(filter_string=f"name = '{name}'", order_by=["version_number DESC"])
    assert [v.version for v in versions] == ["2", "1"], versions
    assert c.get_model_version_download_uri(name, "1").startswith("mlflow-artifacts:/")

    # Rename keeps versions and aliases; deletes.
    new_name = f"{name}-renamed"
    c.rename_registered_model(name, new_name)
    expect_error("RESOURCE_DOES_NOT_EXIST", c.get_registered_model, name)
    assert c.get_model_version_by_alias(new_name, "champion").version == "1"
    c.delete_registered_model_alias(new_name, "champion")
    # MLflow answers a missing alias with INVALID_PARAMETER_VALUE.
    expect_error("INVALID_PARAMETER_VALUE", c.get_model_version_by_alias, new_name, "champion")
    c.delete_model_version(new_name, "1")
    expect_error("RESOURCE_DOES_NOT_EXIST", c.get_model_version, new_name, "1")
    c.delete_registered_model(new_name)
    expect_error("RESOURCE_DOES_NOT_EXIST", c.get_registered_model, new_name)


if __name__ == "__main__":
    model, x, info, run = logged_model(unique("models"))
    registry(model, x, info, run)
    print("models: all checks passed")
