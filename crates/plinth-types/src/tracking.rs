//! Experiment tracking and the model registry, as the metastore returns them: experiments,
//! runs (info, data, inputs, outputs), metrics, logged models, registered models and their
//! versions. Field names follow MLflow's entities so the MLflow wire layer maps them one to
//! one; ids are typed (`experiment_id` and `version` are numbers here, strings on MLflow's
//! wire).

use serde::{Deserialize, Serialize};

/// Declares a closed set of stored names: `as_str`, `parse` and `ALL`.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and MLflow wire) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the stored name exactly.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|value| value.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

stored_enum!(
    /// Whether an experiment, run or logged model is in use or soft-deleted.
    LifecycleStage {
        /// In use.
        Active => "active",
        /// Soft-deleted; restorable.
        Deleted => "deleted",
    }
);

stored_enum!(
    /// Which lifecycle stages a search returns.
    ViewType {
        /// Only active objects (the default).
        ActiveOnly => "ACTIVE_ONLY",
        /// Only soft-deleted objects.
        DeletedOnly => "DELETED_ONLY",
        /// Both.
        All => "ALL",
    }
);

impl ViewType {
    /// The lifecycle stages this view shows.
    pub fn stages(self) -> &'static [LifecycleStage] {
        match self {
            ViewType::ActiveOnly => &[LifecycleStage::Active],
            ViewType::DeletedOnly => &[LifecycleStage::Deleted],
            ViewType::All => &[LifecycleStage::Active, LifecycleStage::Deleted],
        }
    }
}

#[allow(clippy::derivable_impls)] // the variants come from a macro
impl Default for ViewType {
    fn default() -> Self {
        ViewType::ActiveOnly
    }
}

stored_enum!(
    /// The status of a run, as MLflow names it.
    RunStatus {
        /// Running now.
        Running => "RUNNING",
        /// Scheduled to run later.
        Scheduled => "SCHEDULED",
        /// Ended successfully.
        Finished => "FINISHED",
        /// Ended with an error.
        Failed => "FAILED",
        /// Stopped before it ended.
        Killed => "KILLED",
    }
);

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_terminated(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Failed | RunStatus::Killed
        )
    }
}

stored_enum!(
    /// The upload status of a logged model (MLflow 3).
    LoggedModelStatus {
        /// Not said.
        Unspecified => "UNSPECIFIED",
        /// Created, artifacts still uploading.
        Pending => "PENDING",
        /// Finalized: the artifacts are complete.
        Ready => "READY",
        /// The upload failed.
        Failed => "FAILED",
    }
);

stored_enum!(
    /// The (legacy, still supported) stage of a model version.
    ModelVersionStage {
        /// No stage.
        None => "None",
        /// Being tested.
        Staging => "Staging",
        /// Serving.
        Production => "Production",
        /// Retired.
        Archived => "Archived",
    }
);

impl ModelVersionStage {
    /// Parses a stage name in any letter case, as MLflow does (`production` → `Production`).
    pub fn parse_any_case(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|stage| stage.as_str().eq_ignore_ascii_case(text))
    }
}

stored_enum!(
    /// The registration status of a model version. Plinth registers synchronously, so new
    /// versions are `READY` at once.
    ModelVersionStatus {
        /// Registration in progress.
        PendingRegistration => "PENDING_REGISTRATION",
        /// Registration failed.
        FailedRegistration => "FAILED_REGISTRATION",
        /// Ready to use.
        Ready => "READY",
    }
);

/// One page of a search, with the opaque token of the next page when there is one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page, in the requested order.
    pub items: Vec<T>,
    /// Pass this to get the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// A key/value tag on an experiment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentTag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// An experiment: a named group of runs in a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Experiment {
    /// The global numeric id (MLflow's wire carries it as a decimal string).
    pub experiment_id: i64,
    /// Unique within the project.
    pub name: String,
    /// Where its runs' artifacts go (`mlflow-artifacts:/{experiment_id}` by default).
    pub artifact_location: String,
    /// Active or deleted.
    pub lifecycle_stage: LifecycleStage,
    /// Creation time, ms since the epoch.
    pub creation_time: i64,
    /// Last change, ms since the epoch.
    pub last_update_time: i64,
    /// Tags, by key.
    pub tags: Vec<ExperimentTag>,
    /// Whether this is the project's default experiment (MLflow's experiment `0`).
    pub is_default: bool,
}

/// One logged value of a metric. `value` may be NaN or ±infinity; both round-trip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's name.
    pub key: String,
    /// The value.
    pub value: f64,
    /// When it was measured, ms since the epoch.
    pub timestamp: i64,
    /// The training step.
    pub step: i64,
    /// The dataset it was computed on (MLflow 3 model metrics), if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    /// That dataset's digest, if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    /// The logged model it belongs to (MLflow 3), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

impl Metric {
    /// A plain run metric.
    pub fn new(key: impl Into<String>, value: f64, timestamp: i64, step: i64) -> Self {
        Metric {
            key: key.into(),
            value,
            timestamp,
            step,
            dataset_name: None,
            dataset_digest: None,
            model_id: None,
        }
    }
}

/// A metric value together with the run it belongs to (bulk history answers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricWithRunId {
    /// The run.
    pub run_id: String,
    /// The metric's name.
    pub key: String,
    /// The value (NaN and ±infinity included).
    pub value: f64,
    /// When it was measured, ms since the epoch.
    pub timestamp: i64,
    /// The training step.
    pub step: i64,
}

/// A run parameter; once logged, its value never changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A run tag (`mlflow.runName`, `mlflow.user`, free tags …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// The fixed part of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// 32 lower-case hex digits (MLflow's `run_id` and `run_uuid`).
    pub run_id: String,
    /// The run's name (kept equal to its `mlflow.runName` tag).
    pub run_name: String,
    /// The experiment it belongs to.
    pub experiment_id: i64,
    /// Who started it, as the client says.
    pub user_id: String,
    /// Its status.
    pub status: RunStatus,
    /// Start, ms since the epoch.
    pub start_time: i64,
    /// End, ms since the epoch, once ended.
    pub end_time: Option<i64>,
    /// Where its artifacts go.
    pub artifact_uri: String,
    /// Active or deleted.
    pub lifecycle_stage: LifecycleStage,
}

/// What a run logged: the latest value of each metric, its params and its tags (each by key).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    /// The latest value of each metric (MLflow: greatest `(step, timestamp, value)`).
    pub metrics: Vec<Metric>,
    /// Parameters.
    pub params: Vec<Param>,
    /// Tags.
    pub tags: Vec<RunTag>,
}

/// A dataset a run used (MLflow `log-inputs`), unique per experiment by `(name, digest)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    /// Its name.
    pub name: String,
    /// Its content digest.
    pub digest: String,
    /// The kind of source (`local`, `s3`, `http` …).
    pub source_type: String,
    /// The source, as JSON text.
    pub source: String,
    /// The schema, as JSON text, if known.
    pub schema: Option<String>,
    /// The profile, as JSON text, if known.
    pub profile: Option<String>,
}

/// A tag on one use of a dataset (`mlflow.data.context` = `training` …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// One dataset a run used, with the tags of that use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInput {
    /// Tags of this use.
    pub tags: Vec<InputTag>,
    /// The dataset.
    pub dataset: Dataset,
}

/// A logged model a run used as input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInput {
    /// The logged model's id.
    pub model_id: String,
}

/// A logged model a run produced, at a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOutput {
    /// The logged model's id.
    pub model_id: String,
    /// The step it was produced at.
    pub step: i64,
}

/// What a run consumed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInputs {
    /// Datasets, in the order first logged.
    pub dataset_inputs: Vec<DatasetInput>,
    /// Logged models, by id.
    pub model_inputs: Vec<ModelInput>,
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutputs {
    /// Logged models, by step then id.
    pub model_outputs: Vec<ModelOutput>,
}

/// A run with everything it logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The fixed part.
    pub info: RunInfo,
    /// Metrics, params, tags.
    pub data: RunData,
    /// Datasets and models it used.
    pub inputs: RunInputs,
    /// Models it produced.
    pub outputs: RunOutputs,
}

/// A tag on a logged model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedModelTag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A parameter of a logged model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedModelParameter {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// An MLflow 3 logged model: `m-` + 32 hex, in an experiment, with its own artifacts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedModel {
    /// `m-` + 32 lower-case hex digits.
    pub model_id: String,
    /// The experiment it belongs to.
    pub experiment_id: i64,
    /// Its name (not unique).
    pub name: String,
    /// Where its artifacts go (MLflow's `artifact_uri`).
    pub artifact_location: String,
    /// Creation time, ms since the epoch.
    pub creation_timestamp: i64,
    /// Last change, ms since the epoch.
    pub last_updated_timestamp: i64,
    /// Upload status.
    pub status: LoggedModelStatus,
    /// Why it has that status, if said.
    pub status_message: Option<String>,
    /// A free-form type (`agent`, `sklearn` …), if said.
    pub model_type: Option<String>,
    /// The run that created it, if any.
    pub source_run_id: Option<String>,
    /// Active or deleted.
    pub lifecycle_stage: LifecycleStage,
    /// Tags, by key.
    pub tags: Vec<LoggedModelTag>,
    /// Parameters, by key.
    pub params: Vec<LoggedModelParameter>,
    /// Every metric logged for it, by key, step, timestamp.
    pub metrics: Vec<Metric>,
    /// The registered model versions promoted from it, by name and version.
    #[serde(default)]
    pub registrations: Vec<LoggedModelRegistration>,
}

/// A registered model version promoted from a logged model (MLflow's
/// `LoggedModelRegistrationInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedModelRegistration {
    /// The registered model's name.
    pub name: String,
    /// The version.
    pub version: i64,
}

/// A tag on a registered model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredModelTag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A tag on a model version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersionTag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A named pointer (`champion`) to one version of a registered model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredModelAlias {
    /// The alias.
    pub alias: String,
    /// The version it points to.
    pub version: i64,
}

/// A registered model: a name, unique per project, over numbered versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredModel {
    /// Unique within the project.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub creation_timestamp: i64,
    /// Last change (of it or a version), ms since the epoch.
    pub last_updated_timestamp: i64,
    /// Free text, if set.
    pub description: Option<String>,
    /// The newest version in each stage that has one.
    pub latest_versions: Vec<ModelVersion>,
    /// Tags, by key.
    pub tags: Vec<RegisteredModelTag>,
    /// Aliases, by alias.
    pub aliases: Vec<RegisteredModelAlias>,
    /// Who created it, if known.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The deployment job a client attached to it, if any.
    #[serde(default)]
    pub deployment_job_id: Option<String>,
}

/// One version of a registered model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// The registered model's name.
    pub name: String,
    /// 1, 2, 3 … per registered model; never reused, even after a deletion.
    pub version: i64,
    /// Creation time, ms since the epoch.
    pub creation_timestamp: i64,
    /// Last change, ms since the epoch.
    pub last_updated_timestamp: i64,
    /// Free text, if set.
    pub description: Option<String>,
    /// Who registered it, if known.
    pub user_id: Option<String>,
    /// Its stage.
    pub current_stage: ModelVersionStage,
    /// The artifact URI it was registered from.
    pub source: String,
    /// The run that produced it, if any.
    pub run_id: Option<String>,
    /// Registration status.
    pub status: ModelVersionStatus,
    /// Why it has that status, if said.
    pub status_message: Option<String>,
    /// Tags, by key.
    pub tags: Vec<ModelVersionTag>,
    /// A link to the run, if given.
    pub run_link: Option<String>,
    /// Aliases pointing at this version, sorted.
    pub aliases: Vec<String>,
    /// The logged model it was promoted from (MLflow 3), if any.
    pub model_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_match_mlflow() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(RunStatus::Finished.as_str(), "FINISHED");
        assert_eq!(
            serde_json::to_string(&LifecycleStage::Deleted).unwrap(),
            "\"deleted\""
        );
        assert_eq!(
            ModelVersionStage::parse_any_case("production"),
            Some(ModelVersionStage::Production)
        );
        assert_eq!(ModelVersionStage::parse_any_case("Deleted_Internal"), None);
        assert_eq!(ViewType::All.stages().len(), 2);
        assert!(RunStatus::Killed.is_terminated() && !RunStatus::Running.is_terminated());
    }
}
