//! MLflow's REST API of one project, as Plinth serves it under
//! `/projects/{organization}/{project}/api/2.0/mlflow/…` (tracking and registry) and
//! `…/api/2.0/mlflow-artifacts/…` (the artifact proxy), with the client's bearer token.
//! Errors come back as [`ClientError::Api`] with MLflow's `error_code` as the code and the
//! server's message as is.

mod types;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use url::Url;

pub use types::{
    ArtifactListing, Dataset, DatasetInput, Experiment, ExperimentPage, FileInfo, Metric,
    ModelAlias, ModelRef, ModelVersion, ModelVersionPage, RegisteredModel, RegisteredModelPage,
    Run, RunData, RunInfo, RunInputs, RunOutputs, RunPage, Tag,
};

use crate::client::ByteStream;
use crate::{Client, ClientResult};

/// Which experiments or runs a search returns, by lifecycle stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ViewType {
    /// Active ones only.
    #[default]
    ActiveOnly,
    /// Deleted ones only.
    DeletedOnly,
    /// Both.
    All,
}

impl ViewType {
    fn as_str(self) -> &'static str {
        match self {
            ViewType::ActiveOnly => "ACTIVE_ONLY",
            ViewType::DeletedOnly => "DELETED_ONLY",
            ViewType::All => "ALL",
        }
    }
}

/// A search: MLflow's filter grammar, `order_by` clauses, a page size and token.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// The filter (`metrics.loss < 0.5 and params.lr = '0.01'`), when any.
    pub filter: Option<String>,
    /// Order clauses (`metrics.loss ASC`).
    pub order_by: Vec<String>,
    /// At most this many on the page.
    pub max_results: i64,
    /// The page to fetch; the first when absent.
    pub page_token: Option<String>,
}

impl Search {
    /// Returns the search as `(key, value)` query pairs; `order_by` repeats.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("max_results", self.max_results.to_string())];
        if let Some(filter) = &self.filter {
            pairs.push(("filter", filter.clone()));
        }
        pairs.extend(
            self.order_by
                .iter()
                .map(|order| ("order_by", order.clone())),
        );
        if let Some(token) = &self.page_token {
            pairs.push(("page_token", token.clone()));
        }
        pairs
    }
}

/// MLflow's API of one project (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub struct Mlflow<'a> {
    client: &'a Client,
    organization: &'a str,
    project: &'a str,
}

impl Client {
    /// Returns MLflow's API of the project `organization/project`.
    pub fn mlflow<'a>(&'a self, organization: &'a str, project: &'a str) -> Mlflow<'a> {
        Mlflow {
            client: self,
            organization,
            project,
        }
    }
}

impl Mlflow<'_> {
    /// Returns the URL of `/projects/{organization}/{project}/api/2.0/{family}/{rest…}`.
    fn url<'s>(&self, family: &'s str, rest: impl IntoIterator<Item = &'s str>) -> Url
    where
        Self: 's,
    {
        self.client.url(
            [
                "projects",
                self.organization,
                self.project,
                "api",
                "2.0",
                family,
            ]
            .into_iter()
            .chain(rest),
        )
    }

    /// `GET …/mlflow/{endpoint}` with query pairs (a repeated key is a list).
    async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
    ) -> ClientResult<T> {
        let url = self.url("mlflow", endpoint.split('/'));
        self.client
            .json(self.client.request_to(Method::GET, url).query(query))
            .await
    }

    /// `{method} …/mlflow/{endpoint}` with a JSON body.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        endpoint: &str,
        body: &impl Serialize,
    ) -> ClientResult<T> {
        let url = self.url("mlflow", endpoint.split('/'));
        self.client
            .json(self.client.request_to(method, url).json(body))
            .await
    }

    /// A call whose answer is `{}`.
    async fn call_empty(
        &self,
        method: Method,
        endpoint: &str,
        body: &impl Serialize,
    ) -> ClientResult<()> {
        self.call::<Value>(method, endpoint, body).await.map(drop)
    }

    // ---------- experiments ----------

    /// Searches the project's experiments.
    pub async fn search_experiments(
        &self,
        search: &Search,
        view: ViewType,
    ) -> ClientResult<ExperimentPage> {
        let mut query = search.query();
        query.push(("view_type", view.as_str().to_string()));
        self.get("experiments/search", &query).await
    }

    /// Returns an experiment by id.
    pub async fn get_experiment(&self, experiment_id: &str) -> ClientResult<Experiment> {
        let answer: ExperimentAnswer = self
            .get(
                "experiments/get",
                &[("experiment_id", experiment_id.to_string())],
            )
            .await?;
        Ok(answer.experiment)
    }

    /// Returns an experiment by name (deleted ones too).
    pub async fn get_experiment_by_name(&self, name: &str) -> ClientResult<Experiment> {
        let answer: ExperimentAnswer = self
            .get(
                "experiments/get-by-name",
                &[("experiment_name", name.to_string())],
            )
            .await?;
        Ok(answer.experiment)
    }

    /// Creates an experiment; returns its id.
    pub async fn create_experiment(&self, name: &str, tags: &[Tag]) -> ClientResult<String> {
        let answer: Value = self
            .call(
                Method::POST,
                "experiments/create",
                &json!({ "name": name, "tags": tags }),
            )
            .await?;
        Ok(answer["experiment_id"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Renames an experiment.
    pub async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> ClientResult<()> {
        self.call_empty(
            Method::POST,
            "experiments/update",
            &json!({ "experiment_id": experiment_id, "new_name": new_name }),
        )
        .await
    }

    /// Deletes an experiment (MLflow's soft delete: it can be restored).
    pub async fn delete_experiment(&self, experiment_id: &str) -> ClientResult<()> {
        self.call_empty(
            Method::POST,
            "experiments/delete",
            &json!({ "experiment_id": experiment_id }),
        )
        .await
    }

    /// Restores a deleted experiment.
    pub async fn restore_experiment(&self, experiment_id: &str) -> ClientResult<()> {
        self.call_empty(
            Method::POST,
            "experiments/restore",
            &json!({ "experiment_id": experiment_id }),
        )
        .await
    }

    /// Sets a tag of an experiment.
    pub async fn set_experiment_tag(
        &self,
        experiment_id: &str,
        key: &str,
        value: &str,
    ) -> ClientResult<()> {
        self.call_empty(
            Method::POST,
            "experiments/set-experiment-tag",
            &json!({ "experiment_id": experiment_id, "key": key, "value": value }),
        )
        .await
    }

    /// Deletes a tag of an experiment.
    pub async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> ClientResult<()> {
        self.call_empty(
            Method::POST,
            "experiments/delete-experiment-tag",
            &json!({ "experiment_id": experiment_id, "key": key }),
        )
        .await
    }

    // ---------- runs ----------

    /// Searches the runs of some experiments.
    pub async fn search_runs(
        &self,
        experiment_ids: &[String],
        search: &Search,
        view: ViewType,
    ) -> ClientResult<RunPage> {
        let body = json!({
            "experiment_ids": experiment_ids,
            "filter": search.filter,
            "order_by": search.order_by,
            "max_results": search.max_results,
            "page_token": search.page_token,
            "run_view_type": view.as_str(),
        });
        self.call(Method::POST, "runs/search", &body).await
    }

    /// Returns a run.
    pub async fn get_run(&self, run_id: &str) -> ClientResult<Run> {
        let answer: RunAnswer = self
            .get("runs/get", &[("run_id", run_id.to_string())])
            .await?;
        Ok(answer.run)
    }

    /// Deletes a run (it can be restored).
    pub async fn delete_run(&self, run_id: &str) -> ClientResult<()> {
        self.call_empty(Method::POST, "runs/delete", &json!({ "run_id": run_id }))
            .await
    }

    /// Restores a deleted run.
    pub async fn restore_run(&self, run_id: &str) -> ClientResult<()> {
        self.call_empty(Method::POST, "runs/restore", &json!({ "run_id": run_id }))
            .await
    }

    /// Lists one level of a run's artifacts under `path` (paths relative to the run's
    /// artifact root).
    pub async fn list_run_artifacts(
        &self,
        run_id: &str,
        path: &str,
    ) -> ClientResult<ArtifactListing> {
        let mut query = vec![("run_id", run_id.to_string())];
        if !path.is_empty() {
            query.push(("path", path.to_string()));
        }
        self.get("artifacts/list", &query).await
    }

    // ---------- the artifact proxy ----------

    /// Lists one level of the artifact proxy under `path` (e.g. `5/{run_id}/artifacts/dir`);
    /// entries are named by their base name.
    pub async fn list_artifacts(&self, path: &str) -> ClientResult<Vec<FileInfo>> {
        let url = self.url("mlflow-artifacts", ["artifacts"]);
        let listing: ArtifactListing = self
            .client
            .json(
                self.client
                    .request_to(Method::GET, url)
                    .query(&[("path", path)]),
            )
            .await?;
        Ok(listing.files)
    }

    /// Downloads an artifact from the proxy: its size (when the server says) and its bytes
    /// as a stream, without an overall time limit.
    pub async fn download_artifact(&self, path: &str) -> ClientResult<(Option<u64>, ByteStream)> {
        let url = self.url(
            "mlflow-artifacts",
            std::iter::once("artifacts").chain(path.split('/')),
        );
        let response = self
            .client
            .send(self.client.streaming_request_to(Method::GET, url))
            .await?;
        Ok((response.content_length(), self.client.byte_stream(response)))
    }

    // ---------- registry ----------

    /// Searches the project's registered models.
    pub async fn search_registered_models(
        &self,
        search: &Search,
    ) -> ClientResult<RegisteredModelPage> {
        self.get("registered-models/search", &search.query()).await
    }

    /// Returns a registered model.
    pub async fn get_registered_model(&self, name: &str) -> ClientResult<RegisteredModel> {
        let answer: RegisteredModelAnswer = self
            .get("registered-models/get", &[("name", name.to_string())])
            .await?;
        Ok(answer.registered_model)
    }

    /// Creates a registered model.
    pub async fn create_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &[Tag],
    ) -> ClientResult<RegisteredModel> {
        let answer: RegisteredModelAnswer = self
            .call(
                Method::POST,
                "registered-models/create",
                &json!({ "name": name, "description": description, "tags": tags }),
            )
            .await?;
        Ok(answer.registered_model)
    }

    /// Renames a registered model; its versions and aliases follow.
    pub async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> ClientResult<RegisteredModel> {
        let answer: RegisteredModelAnswer = self
            .call(
                Method::POST,
                "registered-models/rename",
                &json!({ "name": name, "new_name": new_name }),
            )
            .await?;
        Ok(answer.registered_model)
    }

    /// Deletes a registered model and all its versions.
    pub async fn delete_registered_model(&self, name: &str) -> ClientResult<()> {
        self.call_empty(
            Method::DELETE,
            "registered-models/delete",
            &json!({ "name": name }),
        )
        .await
    }

    /// Points an alias at a version.
    pub async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> ClientResult<()> {
        self.call_empty(
            Method::POST,
            "registered-models/alias",
            &json!({ "name": name, "alias": alias, "version": version }),
        )
        .await
    }

    /// Removes an alias.
    pub async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> ClientResult<()> {
        self.call_empty(
            Method::DELETE,
            "registered-models/alias",
            &json!({ "name": name, "alias": alias }),
        )
        .await
    }

    /// Returns the version an alias points at.
    pub async fn get_model_version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> ClientResult<ModelVersion> {
        let answer: ModelVersionAnswer = self
            .get(
                "registered-models/alias",
                &[("name", name.to_string()), ("alias", alias.to_string())],
            )
            .await?;
        Ok(answer.model_version)
    }

    /// Returns a model version.
    pub async fn get_model_version(&self, name: &str, version: &str) -> ClientResult<ModelVersion> {
        let answer: ModelVersionAnswer = self
            .get(
                "model-versions/get",
                &[("name", name.to_string()), ("version", version.to_string())],
            )
            .await?;
        Ok(answer.model_version)
    }

    /// Searches model versions.
    pub async fn search_model_versions(&self, search: &Search) -> ClientResult<ModelVersionPage> {
        self.get("model-versions/search", &search.query()).await
    }

    /// Moves a version to a stage (`None`, `Staging`, `Production`, `Archived`); with
    /// `archive_existing`, the versions in that stage move to `Archived`.
    pub async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing: bool,
    ) -> ClientResult<ModelVersion> {
        let answer: ModelVersionAnswer = self
            .call(
                Method::POST,
                "model-versions/transition-stage",
                &json!({
                    "name": name,
                    "version": version,
                    "stage": stage,
                    "archive_existing_versions": archive_existing,
                }),
            )
            .await?;
        Ok(answer.model_version)
    }

    /// Returns where a version's files are (`mlflow-artifacts:/…` or `runs:/…`).
    pub async fn get_model_version_download_uri(
        &self,
        name: &str,
        version: &str,
    ) -> ClientResult<String> {
        let answer: Value = self
            .get(
                "model-versions/get-download-uri",
                &[("name", name.to_string()), ("version", version.to_string())],
            )
            .await?;
        Ok(answer["artifact_uri"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }
}

#[derive(serde::Deserialize)]
struct ExperimentAnswer {
    experiment: Experiment,
}

#[derive(serde::Deserialize)]
struct RunAnswer {
    run: Run,
}

#[derive(serde::Deserialize)]
struct RegisteredModelAnswer {
    registered_model: RegisteredModel,
}

#[derive(serde::Deserialize)]
struct ModelVersionAnswer {
    model_version: ModelVersion,
}
