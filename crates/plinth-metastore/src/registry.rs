//! The model-registry part of the metastore, shaped after MLflow's registry: registered
//! models (unique names per project), numbered versions, stages, tags and aliases. Every
//! method takes the project and filters by it in SQL. Errors follow the conventions of
//! [`TrackingStore`](crate::TrackingStore).

use async_trait::async_trait;
use plinth_types::{
    ModelVersion, ModelVersionStage, ModelVersionTag, Page, RegisteredModel, RegisteredModelTag,
};

use crate::StoreResult;

/// The most registered models one search page may hold (MLflow's threshold).
pub const MAX_REGISTERED_MODELS_PER_PAGE: i64 = 1000;
/// The most model versions one search page may hold (MLflow's threshold).
pub const MAX_MODEL_VERSIONS_PER_PAGE: i64 = 200_000;

/// A registered model to create.
#[derive(Clone, Debug, Default)]
pub struct NewRegisteredModel {
    /// Unique within the project; no `/` or `:`.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Initial tags.
    pub tags: Vec<RegisteredModelTag>,
    /// Who creates it (the caller's login name).
    pub user_id: Option<String>,
    /// A deployment job the client attaches, if any.
    pub deployment_job_id: Option<String>,
}

/// A change of a registered model (MLflow's `registered-models/update`).
#[derive(Clone, Debug, Default)]
pub struct RegisteredModelUpdate {
    /// The new description (`None`: none).
    pub description: Option<String>,
    /// A new deployment job, when given (`None` keeps the one it has).
    pub deployment_job_id: Option<String>,
}

/// A model version to create.
#[derive(Clone, Debug, Default)]
pub struct NewModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The artifact URI (`models:/m-…` resolves to that logged model's artifacts).
    pub source: String,
    /// The run that produced it; defaults to the logged model's source run.
    pub run_id: Option<String>,
    /// The logged model it promotes (MLflow 3), of the same project.
    pub model_id: Option<String>,
    /// A link to the run.
    pub run_link: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Initial tags.
    pub tags: Vec<ModelVersionTag>,
    /// Who registers it.
    pub user_id: Option<String>,
}

/// A search over registered models or model versions.
#[derive(Clone, Debug)]
pub struct RegistrySearch {
    /// MLflow's filter (`name LIKE 'fraud%' AND tags.team = 'ml'`; versions also know
    /// `run_id`, `source_path`, `version_number`).
    pub filter: Option<String>,
    /// MLflow's `order_by` entries.
    pub order_by: Vec<String>,
    /// Page size (at least 1, at most the search's threshold).
    pub max_results: i64,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Stores registered models and their versions, per project.
#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// Creates a registered model; `AlreadyExists` when the project has one of that name.
    async fn create_registered_model(
        &self,
        project_id: &str,
        model: &NewRegisteredModel,
        now_ms: i64,
    ) -> StoreResult<RegisteredModel>;

    /// Returns a registered model with its latest version per stage, tags and aliases.
    async fn get_registered_model(
        &self,
        project_id: &str,
        name: &str,
    ) -> StoreResult<RegisteredModel>;

    /// Searches registered models (prompts excluded unless the filter asks for them).
    async fn search_registered_models(
        &self,
        project_id: &str,
        search: &RegistrySearch,
    ) -> StoreResult<Page<RegisteredModel>>;

    /// Renames a registered model; its versions, tags and aliases follow.
    async fn rename_registered_model(
        &self,
        project_id: &str,
        name: &str,
        new_name: &str,
        now_ms: i64,
    ) -> StoreResult<RegisteredModel>;

    /// Sets (or with `None` clears) a registered model's description.
    async fn update_registered_model(
        &self,
        project_id: &str,
        name: &str,
        update: &RegisteredModelUpdate,
        now_ms: i64,
    ) -> StoreResult<RegisteredModel>;

    /// Deletes a registered model with its versions, tags and aliases.
    async fn delete_registered_model(&self, project_id: &str, name: &str) -> StoreResult<()>;

    /// Sets a tag on a registered model.
    async fn set_registered_model_tag(
        &self,
        project_id: &str,
        name: &str,
        tag: &RegisteredModelTag,
    ) -> StoreResult<()>;

    /// Removes a tag (nothing happens when there is none of that key).
    async fn delete_registered_model_tag(
        &self,
        project_id: &str,
        name: &str,
        key: &str,
    ) -> StoreResult<()>;

    /// Points an alias at a version, moving it if it pointed elsewhere.
    async fn set_registered_model_alias(
        &self,
        project_id: &str,
        name: &str,
        alias: &str,
        version: i64,
    ) -> StoreResult<()>;

    /// Removes an alias (nothing happens when there is none).
    async fn delete_registered_model_alias(
        &self,
        project_id: &str,
        name: &str,
        alias: &str,
    ) -> StoreResult<()>;

    /// Returns the version an alias points to; `latest` is the highest live version.
    async fn get_model_version_by_alias(
        &self,
        project_id: &str,
        name: &str,
        alias: &str,
    ) -> StoreResult<ModelVersion>;

    /// Creates the next version (1, 2, … never reused), `READY` at once.
    async fn create_model_version(
        &self,
        project_id: &str,
        version: &NewModelVersion,
        now_ms: i64,
    ) -> StoreResult<ModelVersion>;

    /// Returns a version that is not deleted.
    async fn get_model_version(
        &self,
        project_id: &str,
        name: &str,
        version: i64,
    ) -> StoreResult<ModelVersion>;

    /// Sets (or with `None` clears) a version's description.
    async fn update_model_version(
        &self,
        project_id: &str,
        name: &str,
        version: i64,
        description: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<ModelVersion>;

    /// Moves a version to a stage; with `archive_existing_versions` (Staging or Production
    /// only) the other versions in that stage move to `Archived`.
    async fn transition_model_version_stage(
        &self,
        project_id: &str,
        name: &str,
        version: i64,
        stage: ModelVersionStage,
        archive_existing_versions: bool,
        now_ms: i64,
    ) -> StoreResult<ModelVersion>;

    /// Deletes a version: it disappears from reads, its aliases go, its number stays used.
    async fn delete_model_version(
        &self,
        project_id: &str,
        name: &str,
        version: i64,
        now_ms: i64,
    ) -> StoreResult<()>;

    /// The newest version in each of `stages` (all stages when empty) that has one.
    async fn get_latest_versions(
        &self,
        project_id: &str,
        name: &str,
        stages: &[ModelVersionStage],
    ) -> StoreResult<Vec<ModelVersion>>;

    /// Searches model versions of the project (prompts excluded unless asked for).
    async fn search_model_versions(
        &self,
        project_id: &str,
        search: &RegistrySearch,
    ) -> StoreResult<Page<ModelVersion>>;

    /// Sets a tag on a version.
    async fn set_model_version_tag(
        &self,
        project_id: &str,
        name: &str,
        version: i64,
        tag: &ModelVersionTag,
    ) -> StoreResult<()>;

    /// Removes a tag from a version (nothing happens when there is none of that key).
    async fn delete_model_version_tag(
        &self,
        project_id: &str,
        name: &str,
        version: i64,
        key: &str,
    ) -> StoreResult<()>;

    /// Where a version's artifacts are (its resolved storage location).
    async fn get_model_version_download_uri(
        &self,
        project_id: &str,
        name: &str,
        version: i64,
    ) -> StoreResult<String>;
}
