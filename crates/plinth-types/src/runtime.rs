//! Wire types of the workload runtime: node pools, resource classes, project quotas,
//! workloads (jobs now; workspaces and deployments later), job submissions and views,
//! snapshots of working files and the usage ledger.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A taint on a pool's nodes; workloads placed on the pool tolerate it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct PoolTaint {
    /// The taint key, e.g. `plinth.dev/pool`.
    pub key: String,
    /// The taint value, e.g. `gpu`.
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// A group of machines workloads are placed on (`platform`, `compute`, `deployment`, `gpu`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodePool {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Labels the pool's nodes carry (Kubernetes `nodeSelector`).
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pool's nodes carry (workloads get matching tolerations).
    pub taints: Vec<PoolTaint>,
    /// Last change, ms since the epoch.
    pub updated_at_ms: i64,
}

/// A named size users pick instead of raw numbers (`small` = 1 CPU / 2 GiB on `compute`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResourceClass {
    /// Unique name.
    pub name: String,
    /// The pool its workloads run on.
    pub pool: String,
    /// Free text.
    pub description: String,
    /// CPU in thousandths of a core.
    pub cpu_millis: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Whole GPUs.
    pub gpus: u32,
    /// Last change, ms since the epoch.
    pub updated_at_ms: i64,
}

/// Limits on what one project may use at the same time; `None` is unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectQuota {
    /// CPU in thousandths of a core, over all running workloads.
    pub cpu_millis: Option<u64>,
    /// Memory in bytes, over all running workloads.
    pub memory_bytes: Option<u64>,
    /// GPUs, over all running workloads.
    pub gpus: Option<u32>,
    /// Running jobs.
    pub max_jobs: Option<u32>,
    /// Running workspaces.
    pub max_workspaces: Option<u32>,
    /// Running deployments.
    pub max_deployments: Option<u32>,
    /// Whether members may ask for sizes no class names.
    pub allow_custom_sizes: bool,
}

/// What a project's admitted workloads use now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectUsageNow {
    /// CPU in thousandths of a core.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// GPUs.
    pub gpus: u32,
    /// Running (or starting) jobs.
    pub jobs: u32,
    /// Running workspaces.
    pub workspaces: u32,
    /// Running deployments.
    pub deployments: u32,
    /// Jobs waiting in the queue.
    pub queued: u32,
}

/// What kind of work a workload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// Batch work that ends; waits in the queue when the quota is full.
    Job,
    /// An interactive notebook server; refused when the quota is full.
    Workspace,
    /// A model API or app; refused when the quota is full.
    Deployment,
}

impl WorkloadKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Job => "job",
            WorkloadKind::Workspace => "workspace",
            WorkloadKind::Deployment => "deployment",
        }
    }

    /// Parses the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "job" => Some(WorkloadKind::Job),
            "workspace" => Some(WorkloadKind::Workspace),
            "deployment" => Some(WorkloadKind::Deployment),
            _ => None,
        }
    }
}

/// Where a workload is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadState {
    /// Waiting for quota; `reason` says for what.
    Queued,
    /// Admitted; being handed to the backend.
    Starting,
    /// The backend has it but it does not run yet (scheduling, image pull).
    Pending,
    /// Running.
    Running,
    /// Ended with exit code 0.
    Succeeded,
    /// Ended otherwise; `reason` and `exit_code` say how.
    Failed,
    /// Stopped on request.
    Stopped,
    /// The backend lost track of it; `reason` says what is known.
    Lost,
}

impl WorkloadState {
    /// Every state.
    pub const ALL: [WorkloadState; 8] = [
        WorkloadState::Queued,
        WorkloadState::Starting,
        WorkloadState::Pending,
        WorkloadState::Running,
        WorkloadState::Succeeded,
        WorkloadState::Failed,
        WorkloadState::Stopped,
        WorkloadState::Lost,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadState::Queued => "queued",
            WorkloadState::Starting => "starting",
            WorkloadState::Pending => "pending",
            WorkloadState::Running => "running",
            WorkloadState::Succeeded => "succeeded",
            WorkloadState::Failed => "failed",
            WorkloadState::Stopped => "stopped",
            WorkloadState::Lost => "lost",
        }
    }

    /// Parses the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        WorkloadState::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
    }

    /// Whether the workload has ended for good.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            WorkloadState::Succeeded
                | WorkloadState::Failed
                | WorkloadState::Stopped
                | WorkloadState::Lost
        )
    }

    /// Whether the workload counts against its project's quota (admitted, not ended).
    pub fn holds_quota(self) -> bool {
        matches!(
            self,
            WorkloadState::Starting | WorkloadState::Pending | WorkloadState::Running
        )
    }
}

/// What a workload runs, as submitted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadCommand {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The snapshot of working files (SHA-256 of the archive), if any.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// The container image (Kubernetes backend).
    #[serde(default)]
    pub image: Option<String>,
    /// Named ports the workload listens on.
    #[serde(default)]
    pub ports: Vec<String>,
    /// The environment it runs in (`None`: the host's programs alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<WorkloadEnvironment>,
    /// A folder of the platform's the workload may write, as `PLINTH_TASK_DIR` (a pipeline
    /// task's inputs and outputs); never set through the jobs API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_dir: Option<String>,
}

/// The environment a workload runs in: which version and lock, and what the backend needs
/// to put it in the workload's view.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadEnvironment {
    /// The environment's name.
    pub name: String,
    /// The version that ran.
    pub version: u32,
    /// Whether it is a global environment (else the project's).
    #[serde(default)]
    pub global: bool,
    /// The hash of the lock that was installed.
    pub lock_hash: String,
    /// The exact Python version.
    pub python_version: String,
    /// Host paths the workload sees read-only: the built environment, a Python outside
    /// the system folders (local backend).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_only_paths: Vec<String>,
    /// Variables set for the workload: the environment's own, `VIRTUAL_ENV` and `PATH`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The image holding the environment, by digest (Kubernetes backend): the workload
    /// runs it unless it names its own image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl WorkloadEnvironment {
    /// `NAME:VERSION`, with `global/` before global environments' names.
    pub fn label(&self) -> String {
        let scope = if self.global { "global/" } else { "" };
        format!("{scope}{}:{}", self.name, self.version)
    }
}

/// A job, workspace or deployment as the platform records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Workload {
    /// Stable id (also the backend's workload id).
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Job, workspace or deployment.
    pub kind: WorkloadKind,
    /// A name for listings.
    pub name: String,
    /// The resource class.
    pub class: String,
    /// The pool it runs on.
    pub pool: String,
    /// CPU granted, thousandths of a core.
    pub cpu_millis: u32,
    /// Memory granted, bytes.
    pub memory_bytes: u64,
    /// GPUs granted.
    pub gpus: u32,
    /// What it runs.
    pub spec: WorkloadCommand,
    /// Where it is in its life.
    pub state: WorkloadState,
    /// Why it is in that state, in words (queue reason, scheduling problem, failure).
    pub reason: String,
    /// The exit code, once ended.
    pub exit_code: Option<i32>,
    /// A stop was requested.
    pub stop_requested: bool,
    /// Who submitted it (user id).
    pub created_by: String,
    /// Their login name.
    pub created_by_username: String,
    /// The workload this one re-runs.
    pub rerun_of: Option<String>,
    /// Submission time, ms since the epoch.
    pub created_at_ms: i64,
    /// When it started running.
    pub started_at_ms: Option<i64>,
    /// When it ended.
    pub finished_at_ms: Option<i64>,
    /// Usage is recorded in the ledger up to this time.
    pub accounted_until_ms: Option<i64>,
    /// The backend that runs it (`local`, `kubernetes`).
    pub backend: String,
}

/// One row of the usage ledger: what one user used of one class in one project on one day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageRecord {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The project's id.
    pub project_id: String,
    /// The user's id.
    pub user_id: String,
    /// The user's login name.
    pub username: String,
    /// The resource class.
    pub class: String,
    /// CPU-hours.
    pub cpu_hours: f64,
    /// Memory in GiB-hours.
    pub memory_gib_hours: f64,
    /// GPU-hours.
    pub gpu_hours: f64,
    /// Wall-clock hours of the workloads.
    pub wall_hours: f64,
}

/// A job to submit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobRequest {
    /// A name for listings; defaults to the program's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The resource class (`plinth classes` lists them).
    pub class: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The SHA-256 of a snapshot uploaded to the project (`PUT …/snapshots/{sha256}`),
    /// unpacked as the job's working folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The container image (Kubernetes backend); the local backend ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A size no class names, on the class's pool; only where an admin allowed custom
    /// sizes for the project. Recorded (and accounted) as class `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_size: Option<CustomSize>,
    /// The environment to run in: `NAME` (its latest version) or `NAME:VERSION`, the
    /// project's or a global one; unset, the platform's default environment (if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// A custom size: what a class would otherwise grant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomSize {
    /// CPU in thousandths of a core.
    pub cpu_millis: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Whole GPUs.
    #[serde(default)]
    pub gpus: u32,
}

/// A job as users see it: the record plus its place in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// The recorded job.
    #[serde(flatten)]
    pub job: Workload,
    /// 1-based position in the project's queue while queued.
    pub queue_position: Option<u32>,
    /// Run time so far (or in total), in milliseconds.
    pub duration_ms: Option<i64>,
}

/// A stored snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotInfo {
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Where one replica of a server workload listens, as the runtime recorded it when the
/// backend started it: the local backend's `127.0.0.1` and allocated port, or a Kubernetes
/// Service's DNS name and port. The gateway routes to these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadEndpoint {
    /// The replica's index, from 0.
    pub replica: u32,
    /// The host name or address.
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

/// An App: a web app of a project, run as a server workload on the deployment pool and
/// served by the gateway on an origin of its own (never the UI's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct App {
    /// Its project's id.
    pub project_id: String,
    /// Its name, unique in the project.
    pub name: String,
    /// The first label of its host name: `{app}--{project}--{organization}`, unique on the
    /// platform.
    pub host_label: String,
    /// The server workload that runs it now.
    pub workload_id: String,
    /// Whether visitors need not sign in (else Viewers of the project and up).
    pub public: bool,
    /// The path the gateway probes before it sends traffic to a replica.
    pub health_path: String,
    /// Who created it (user id).
    pub created_by: String,
    /// When it was created or last redeployed, ms since the epoch.
    pub created_at_ms: i64,
}

/// Creates (or redeploys a stopped) App.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRequest {
    /// The App's name: 1–30 lower-case letters, digits or single `-`.
    pub name: String,
    /// The resource class (on the deployment pool, usually).
    pub class: String,
    /// The program and its arguments. It must listen on `$PORT` (also `$PLINTH_PORT_HTTP`)
    /// on all interfaces or `127.0.0.1`; `$PLINTH_APP_URL` is the URL visitors use.
    pub command: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The SHA-256 of a snapshot uploaded to the project, unpacked as the working folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The environment to run in: `NAME` or `NAME:VERSION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Serve visitors without signing in.
    #[serde(default)]
    pub public: bool,
    /// The path probed for readiness (default `/`); any answer below 500 counts as ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
}

/// An App as users see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppView {
    /// Its name.
    pub name: String,
    /// The URL visitors open.
    pub url: String,
    /// Whether visitors need not sign in.
    pub public: bool,
    /// The readiness path.
    pub health_path: String,
    /// The workload that runs it.
    pub workload_id: String,
    /// The workload's state.
    pub state: WorkloadState,
    /// Why it is in that state.
    pub reason: String,
    /// Who deployed it.
    pub created_by_username: String,
    /// When it was deployed.
    pub created_at_ms: i64,
}
