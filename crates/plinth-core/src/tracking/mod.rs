//! Experiment tracking and the model registry as a domain service: what the MLflow wire
//! layer calls. It decides which project a caller acts in (a project-scoped token, or a
//! project named in the URI), who may read (Viewer) and write (Contributor), maps MLflow's
//! experiment `0` to the project's default experiment, keeps every artifact inside the
//! project's prefix of the object store (`projects/{project_id}/mlflow/…`), and refuses
//! artifact locations and model sources that could point elsewhere.
//!
//! The metastore enforces MLflow's own input rules and messages; this service adds the
//! platform's.

mod artifacts;
mod promptlab;
mod registry;
mod runs;

use std::sync::Arc;

use plinth_artifacts::ArtifactStore;
pub use plinth_metastore::MAX_EXPERIMENTS_PER_PAGE;
use plinth_metastore::{self as store, MetadataStore, NewExperiment};
use plinth_types::{Experiment, ExperimentTag, Page, Project, Role, ViewType};

pub use artifacts::{safe_relative_path, ArtifactFile, ArtifactListing, UploadParts};
pub use promptlab::PromptlabRun;
pub use registry::{
    NewModelVersion, NewRegisteredModel, RegisteredModelUpdate, RegistrySearch,
    MAX_MODEL_VERSIONS_PER_PAGE, MAX_REGISTERED_MODELS_PER_PAGE,
};
pub use runs::{
    BulkIntervalQuery, DatasetFilter, DatasetSummary, ExperimentKeys, ExperimentRunStats, LogBatch,
    LoggedModelOrderBy, LoggedModelSearch, MetricBucket, MetricChart, MetricChartQuery,
    MetricPoint, NewLoggedModel, RunRequest, RunSearch, RunUpdate, JOB_ID_TAG, MAX_CHART_BUCKETS,
    MAX_RUNS_PER_PAGE,
};

use serde_json::Value;

use crate::{Clock, CoreError, CoreResult, IdentityService, Principal};

/// Python's `json.dumps` with its default separators (`, ` and `: `, ASCII only), for
/// the files and tag values MLflow writes that way.
pub(crate) fn python_dumps(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_dumps)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(key, value)| format!(
                    "{}: {}",
                    python_dumps(&serde_json::json!(key)),
                    python_dumps(value)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(text) => {
            let mut out = String::from("\"");
            for unit in text.encode_utf16() {
                match unit {
                    0x22 => out.push_str("\\\""),
                    0x5c => out.push_str("\\\\"),
                    0x0a => out.push_str("\\n"),
                    0x0d => out.push_str("\\r"),
                    0x09 => out.push_str("\\t"),
                    0x20..=0x7e => out.push(char::from(unit as u8)),
                    other => out.push_str(&format!("\\u{other:04x}")),
                }
            }
            out.push('"');
            out
        }
        other => other.to_string(),
    }
}

/// A search over a project's experiments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExperimentSearch {
    /// Active, deleted or both.
    pub view_type: ViewType,
    /// MLflow's experiment filter (`name LIKE 'x%' AND tags.team = 'ml'`).
    pub filter: Option<String>,
    /// MLflow's `order_by` entries; empty: `creation_time DESC, experiment_id ASC`.
    pub order_by: Vec<String>,
    /// Page size, 1 to [`MAX_EXPERIMENTS_PER_PAGE`].
    pub max_results: i64,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl From<&ExperimentSearch> for store::ExperimentSearch {
    fn from(search: &ExperimentSearch) -> Self {
        store::ExperimentSearch {
            view_type: search.view_type,
            filter: search.filter.clone(),
            order_by: search.order_by.clone(),
            max_results: search.max_results,
            page_token: search.page_token.clone(),
        }
    }
}

/// Which project an MLflow call acts in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectSelector {
    /// The project the caller's token is scoped to (plain `/api/2.0/mlflow/…`).
    FromToken,
    /// The project named in the URI (`/projects/{organization}/{project}/api/2.0/mlflow/…`).
    Named {
        /// The organization's name.
        organization: String,
        /// The project's name.
        project: String,
    },
}

/// Proof that the caller may read a project's experiments, runs, models and artifacts, and
/// whether it may change them. Only [`TrackingService::authorize`] creates it.
#[derive(Clone, Debug)]
pub struct TrackingPass {
    project: Project,
    role: Role,
    read_only_token: bool,
    username: String,
    /// The project-scoped token of the call, if it came with one (a job's token makes its
    /// runs name the job).
    token_id: Option<String>,
}

impl TrackingPass {
    /// Returns the project.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Returns the caller's login name (recorded as the `user_id` of runs and versions).
    pub fn username(&self) -> &str {
        &self.username
    }

    fn project_id(&self) -> &str {
        &self.project.id
    }

    /// Fails unless the caller may change the project's tracking data (Contributor).
    fn require_write(&self) -> CoreResult<()> {
        if self.role < Role::Contributor {
            return Err(CoreError::Forbidden(format!(
                "needs the `contributor` role in project `{}/{}` to change experiments, runs \
                 or models; you have `{}`",
                self.project.organization, self.project.name, self.role
            )));
        }
        if self.read_only_token {
            return Err(CoreError::Forbidden("this token is read-only".to_string()));
        }
        Ok(())
    }
}

/// Experiments, runs, logged models, the registry and their artifacts, per project.
#[derive(Clone)]
pub struct TrackingService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn MetadataStore>,
    identity: IdentityService,
    objects: ArtifactStore,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TrackingService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TrackingService")
            .finish_non_exhaustive()
    }
}

/// The URI prefix of artifacts the server proxies.
pub const MLFLOW_ARTIFACTS_SCHEME: &str = "mlflow-artifacts:";

impl TrackingService {
    /// Returns the service over the metastore, identity and object store.
    pub fn new(
        store: Arc<dyn MetadataStore>,
        identity: IdentityService,
        objects: ArtifactStore,
        clock: Arc<dyn Clock>,
    ) -> Self {
        TrackingService {
            inner: Arc::new(Inner {
                store,
                identity,
                objects,
                clock,
            }),
        }
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn store(&self) -> &dyn MetadataStore {
        &*self.inner.store
    }

    /// Resolves the project of a call and checks that the caller may at least read it.
    /// Each write method then checks for Contributor itself.
    pub async fn authorize(
        &self,
        principal: &Principal,
        selector: &ProjectSelector,
    ) -> CoreResult<TrackingPass> {
        let pass = match selector {
            ProjectSelector::FromToken => {
                let Some(project_id) = principal.project_scope() else {
                    return Err(CoreError::InvalidArgument(
                        "no project: use a project-scoped token, or a tracking URI naming the \
                         project (`MLFLOW_TRACKING_URI=http://HOST/projects/ORG/PROJECT`)"
                            .to_string(),
                    ));
                };
                self.inner
                    .identity
                    .authorize_project_by_id(principal, project_id, Role::Viewer)
                    .await?
            }
            ProjectSelector::Named {
                organization,
                project,
            } => {
                match self
                    .inner
                    .identity
                    .authorize_project(principal, organization, project, Role::Viewer)
                    .await
                {
                    Err(CoreError::NotFound { .. }) if principal.project_scope().is_some() => {
                        return Err(CoreError::Forbidden(format!(
                            "this token is scoped to another project than `{organization}/{project}`"
                        )));
                    }
                    other => other?,
                }
            }
        };
        let role = if principal.user().is_admin {
            Role::Owner
        } else {
            pass.role().unwrap_or(Role::Viewer)
        };
        Ok(TrackingPass {
            project: pass.project().clone(),
            role,
            read_only_token: principal.is_read_only(),
            username: principal.user().username.to_string(),
            token_id: match principal.credential() {
                crate::Credential::Token {
                    token_id,
                    project_id: Some(_),
                    ..
                } => Some(token_id.clone()),
                _ => None,
            },
        })
    }

    /// Returns the numeric id of an experiment named on the wire: `0` is the project's
    /// default experiment (created on first use).
    pub async fn experiment_id(&self, pass: &TrackingPass, wire_id: &str) -> CoreResult<i64> {
        if wire_id == "0" {
            return Ok(self
                .store()
                .default_experiment_id(pass.project_id(), self.now())
                .await?);
        }
        wire_id.trim().parse::<i64>().map_err(|_| {
            CoreError::InvalidArgument(format!(
                "Invalid experiment ID '{wire_id}'. Experiment ID must be a valid integer."
            ))
        })
    }

    /// Returns the numeric ids of experiments named on the wire.
    pub async fn experiment_ids(
        &self,
        pass: &TrackingPass,
        wire_ids: &[String],
    ) -> CoreResult<Vec<i64>> {
        let mut ids = Vec::with_capacity(wire_ids.len());
        for wire_id in wire_ids {
            ids.push(self.experiment_id(pass, wire_id).await?);
        }
        Ok(ids)
    }

    // ---------- experiments ----------

    /// Creates an experiment. A given `artifact_location` must be an `mlflow-artifacts:`
    /// URI without a host, so the artifacts stay on this server, in this project.
    pub async fn create_experiment(
        &self,
        pass: &TrackingPass,
        name: &str,
        artifact_location: Option<&str>,
        tags: Vec<ExperimentTag>,
    ) -> CoreResult<Experiment> {
        pass.require_write()?;
        let artifact_location = match artifact_location.filter(|text| !text.is_empty()) {
            Some(location) => {
                artifacts::proxied_path(location).map_err(|reason| {
                    CoreError::InvalidArgument(format!(
                        "Invalid value '{location}' for parameter 'artifact_location': {reason}"
                    ))
                })?;
                Some(location.trim_end_matches('/').to_string())
            }
            None => None,
        };
        // The default experiment exists before any other, as in MLflow (id `0` first).
        self.store()
            .ensure_default_experiment(pass.project_id(), self.now())
            .await?;
        Ok(self
            .store()
            .create_experiment(
                pass.project_id(),
                &NewExperiment {
                    name: name.to_string(),
                    artifact_location,
                    tags,
                },
                self.now(),
            )
            .await?)
    }

    /// Returns an experiment (`0`: the default one).
    pub async fn get_experiment(
        &self,
        pass: &TrackingPass,
        wire_id: &str,
    ) -> CoreResult<Experiment> {
        let id = self.experiment_id(pass, wire_id).await?;
        Ok(self.store().get_experiment(pass.project_id(), id).await?)
    }

    /// Returns the experiment of that name.
    pub async fn get_experiment_by_name(
        &self,
        pass: &TrackingPass,
        name: &str,
    ) -> CoreResult<Experiment> {
        self.store()
            .ensure_default_experiment(pass.project_id(), self.now())
            .await?;
        Ok(self
            .store()
            .get_experiment_by_name(pass.project_id(), name)
            .await?)
    }

    /// Searches the project's experiments (the default one included).
    pub async fn search_experiments(
        &self,
        pass: &TrackingPass,
        search: &ExperimentSearch,
    ) -> CoreResult<Page<Experiment>> {
        self.store()
            .ensure_default_experiment(pass.project_id(), self.now())
            .await?;
        Ok(self
            .store()
            .search_experiments(pass.project_id(), &search.into())
            .await?)
    }

    /// Renames an experiment.
    pub async fn rename_experiment(
        &self,
        pass: &TrackingPass,
        wire_id: &str,
        new_name: &str,
    ) -> CoreResult<()> {
        pass.require_write()?;
        let id = self.experiment_id(pass, wire_id).await?;
        Ok(self
            .store()
            .rename_experiment(pass.project_id(), id, new_name, self.now())
            .await?)
    }

    /// Soft-deletes an experiment and its runs (artifacts stay, as in MLflow).
    pub async fn delete_experiment(&self, pass: &TrackingPass, wire_id: &str) -> CoreResult<()> {
        pass.require_write()?;
        let id = self.experiment_id(pass, wire_id).await?;
        Ok(self
            .store()
            .delete_experiment(pass.project_id(), id, self.now())
            .await?)
    }

    /// Restores a deleted experiment and its runs.
    pub async fn restore_experiment(&self, pass: &TrackingPass, wire_id: &str) -> CoreResult<()> {
        pass.require_write()?;
        let id = self.experiment_id(pass, wire_id).await?;
        Ok(self
            .store()
            .restore_experiment(pass.project_id(), id, self.now())
            .await?)
    }

    /// Sets a tag on an experiment.
    pub async fn set_experiment_tag(
        &self,
        pass: &TrackingPass,
        wire_id: &str,
        tag: &ExperimentTag,
    ) -> CoreResult<()> {
        pass.require_write()?;
        let id = self.experiment_id(pass, wire_id).await?;
        Ok(self
            .store()
            .set_experiment_tag(pass.project_id(), id, tag)
            .await?)
    }

    /// Removes a tag from an experiment.
    pub async fn delete_experiment_tag(
        &self,
        pass: &TrackingPass,
        wire_id: &str,
        key: &str,
    ) -> CoreResult<()> {
        pass.require_write()?;
        let id = self.experiment_id(pass, wire_id).await?;
        Ok(self
            .store()
            .delete_experiment_tag(pass.project_id(), id, key)
            .await?)
    }
}

#[cfg(test)]
mod tests;
