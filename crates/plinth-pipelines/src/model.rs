//! The records of pipelines: experiments, pipelines and versions, runs and their tasks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A KFP experiment: a folder of runs in a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRecord {
    /// Its id.
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Its name (unique in the project).
    pub display_name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// `AVAILABLE` or `ARCHIVED`.
    pub storage_state: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
}

/// An uploaded pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineRecord {
    /// Its id.
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Its name (unique in the project).
    pub display_name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
}

/// A version of a pipeline: one compiled PipelineSpec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Its id.
    pub id: String,
    /// Its pipeline.
    pub pipeline_id: String,
    /// Its name (unique in the pipeline).
    pub display_name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// The PipelineSpec (JSON form).
    pub spec: Value,
    /// The PlatformSpec, if the upload had one.
    #[serde(default)]
    pub platform_spec: Option<Value>,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
}

/// The state of a run, in KFP's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum RunState {
    Pending,
    Running,
    Succeeded,
    Skipped,
    Failed,
    Canceling,
    Canceled,
}

impl RunState {
    /// KFP's string.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "PENDING",
            RunState::Running => "RUNNING",
            RunState::Succeeded => "SUCCEEDED",
            RunState::Skipped => "SKIPPED",
            RunState::Failed => "FAILED",
            RunState::Canceling => "CANCELING",
            RunState::Canceled => "CANCELED",
        }
    }

    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Skipped | RunState::Failed | RunState::Canceled
        )
    }
}

/// A run of a pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Its id.
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Its experiment.
    pub experiment_id: String,
    /// Its name.
    pub display_name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// The pipeline it was started from, if any.
    #[serde(default)]
    pub pipeline_id: Option<String>,
    /// The version it was started from, if any.
    #[serde(default)]
    pub pipeline_version_id: Option<String>,
    /// The PipelineSpec it runs (JSON form).
    pub spec: Value,
    /// The PlatformSpec, if any (ignored locally).
    #[serde(default)]
    pub platform_spec: Option<Value>,
    /// The arguments as given (`runtime_config.parameters`).
    pub arguments: BTreeMap<String, Value>,
    /// The root's inputs: arguments typed, defaults filled in.
    pub parameters: BTreeMap<String, Value>,
    /// Where it is.
    pub state: RunState,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// `AVAILABLE` or `ARCHIVED`.
    pub storage_state: String,
    /// Who started it (user id); its tasks run as this user.
    pub created_by: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
    /// When its first task started.
    #[serde(default)]
    pub started_at_ms: Option<i64>,
    /// When it ended.
    #[serde(default)]
    pub finished_at_ms: Option<i64>,
    /// A stop was asked for.
    #[serde(default)]
    pub terminate_requested: bool,
}

/// The state of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum TaskState {
    Pending,
    Running,
    Succeeded,
    Skipped,
    Failed,
    Canceled,
}

impl TaskState {
    /// KFP's string.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Running => "RUNNING",
            TaskState::Succeeded => "SUCCEEDED",
            TaskState::Skipped => "SKIPPED",
            TaskState::Failed => "FAILED",
            TaskState::Canceled => "CANCELED",
        }
    }

    /// Whether the task has ended.
    pub fn is_finished(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Running)
    }
}

/// An artifact a task wrote, kept in the object store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// Its name (the output's).
    pub name: String,
    /// `system.Dataset` …
    pub schema_title: String,
    /// Its key in the object store (a file, or a folder's prefix).
    pub key: String,
    /// The files under `key` (`[""]`: `key` is the file itself).
    pub files: Vec<String>,
    /// What the component recorded (`out.metadata[…]`).
    #[serde(default)]
    pub metadata: serde_json::Map<String, Value>,
}

/// A task of a run (also the DAG tasks that hold others), keyed by its path
/// (`make`, `condition-1/read-2`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Its run.
    pub run_id: String,
    /// Its path in the run.
    pub key: String,
    /// Its display name.
    pub name: String,
    /// Whether it is a DAG (its children are tasks of their own).
    pub is_dag: bool,
    /// Where it is.
    pub state: TaskState,
    /// The job that runs it.
    #[serde(default)]
    pub workload_id: Option<String>,
    /// Its input parameters, resolved.
    #[serde(default)]
    pub inputs: BTreeMap<String, Value>,
    /// Its output parameters.
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// Its output artifacts.
    #[serde(default)]
    pub artifacts: BTreeMap<String, ArtifactRecord>,
    /// Why it failed or was skipped.
    #[serde(default)]
    pub error: Option<String>,
    /// When it started.
    #[serde(default)]
    pub started_at_ms: Option<i64>,
    /// When it ended.
    #[serde(default)]
    pub finished_at_ms: Option<i64>,
}
