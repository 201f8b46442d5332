//! The backend-neutral description of a workload and its observed state.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Whether a workload is batch work that ends or a server that must stay up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// Runs to completion (jobs, pipeline steps, image builds): a Kubernetes `batch/v1` Job.
    #[default]
    Batch,
    /// Serves until stopped (workspaces, model APIs, apps): a Kubernetes Deployment and Service.
    Service,
}

/// What to do when the workload's process ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    /// Never restart (the default for batch work).
    #[default]
    Never,
    /// Restart after a failure (non-zero exit), up to the backend's retry limit.
    OnFailure,
    /// Always restart (servers).
    Always,
}

/// The resources a workload may use: what its resource class grants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resources {
    /// CPU in thousandths of a core (`1000` = one core); `0` = unlimited.
    pub cpu_millis: u32,
    /// Memory in bytes; `0` = unlimited.
    pub memory_bytes: u64,
    /// Whole GPUs.
    pub gpus: u32,
}

/// A taint a pool's nodes carry, which the workload must tolerate to land there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Taint {
    /// The taint key, e.g. `plinth.dev/pool`.
    pub key: String,
    /// The taint value, e.g. `gpu`.
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// Where a workload may run: its node pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The pool's name (`platform`, `compute`, `deployment`, `gpu`, …).
    pub pool: String,
    /// Node labels the workload's nodes must carry (Kubernetes `nodeSelector`).
    pub node_selector: BTreeMap<String, String>,
    /// Taints the workload tolerates (Kubernetes `tolerations`).
    pub tolerations: Vec<Taint>,
}

/// The working files a workload starts with: a snapshot archive (`.tar.gz`) the platform
/// serves. The local backend expects the caller to have unpacked it into `working_dir`;
/// the Kubernetes backend fetches it in an init container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingFiles {
    /// An HTTP(S) URL answering with the archive for `Authorization: Bearer $PLINTH_TOKEN`.
    pub url: String,
    /// The archive's SHA-256, hex, checked after download.
    pub sha256: String,
}

/// What to run. The same spec runs as a local process or a Kubernetes Job / Deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// The workload's id, chosen by the caller (the job or deployment id): submitting the
    /// same id twice is refused, so a retried submission can never start two copies.
    /// Lower-case letters, digits and `-`, at most 40 characters.
    pub id: String,
    /// A human name for logs and listings.
    pub name: String,
    /// The project the workload belongs to (its id); the Kubernetes backend runs it in
    /// that project's namespace.
    pub project: String,
    /// Batch work or a server.
    pub kind: WorkloadKind,
    /// The container image (Kubernetes); the local backend runs on the host and ignores it.
    pub image: Option<String>,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Environment variables, on top of a minimal inherited environment.
    pub env: BTreeMap<String, String>,
    /// Environment variables holding secrets (tokens): the Kubernetes backend puts them in
    /// a Secret instead of the pod spec; the local backend treats them like `env`.
    pub secret_env: BTreeMap<String, String>,
    /// The working directory (local backend); `None` means a fresh one the executor creates.
    pub working_dir: Option<PathBuf>,
    /// Working files to fetch before the command starts (Kubernetes backend).
    pub files: Option<WorkingFiles>,
    /// Named ports the workload listens on; each is allocated and handed over as
    /// `PLINTH_PORT_<NAME>` (upper case). Lower-case letters, digits and `-`.
    pub ports: Vec<String>,
    /// What the workload's resource class grants.
    pub resources: Resources,
    /// The node pool.
    pub placement: Placement,
    /// What happens when the process ends.
    pub restart: RestartPolicy,
    /// Labels for listings (project, kind, who).
    pub labels: BTreeMap<String, String>,
    /// Host paths the workload sees besides its working folder (local backend): a built
    /// environment read-only, a build's package cache read-write. The platform chooses
    /// them, never the user; each must be an absolute path without `..`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
}

/// A host path put into a workload's view at the same place.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mount {
    /// The absolute path (a folder or a file).
    pub path: PathBuf,
    /// Whether the workload may write to it.
    pub writable: bool,
}

impl WorkloadSpec {
    /// Checks what every backend needs; names the field at fault.
    pub fn validate(&self) -> Result<(), crate::ExecError> {
        let invalid =
            |field: &'static str, reason: String| crate::ExecError::InvalidSpec { field, reason };
        if !is_valid_workload_id(&self.id) {
            return Err(invalid(
                "id",
                format!(
                    "`{}` must be 1–40 lower-case letters, digits or `-`, not starting or ending with `-`",
                    self.id
                ),
            ));
        }
        if self
            .command
            .first()
            .is_none_or(|program| program.is_empty())
        {
            return Err(invalid("command", "must name a program".to_string()));
        }
        for name in &self.ports {
            if name.is_empty()
                || name.len() > 15
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(invalid(
                    "ports",
                    format!("`{name}` must be 1–15 lower-case letters, digits or `-`"),
                ));
            }
        }
        for mount in &self.mounts {
            let clean = mount.path.is_absolute()
                && mount.path.components().all(|component| {
                    !matches!(
                        component,
                        std::path::Component::ParentDir | std::path::Component::CurDir
                    )
                });
            if !clean || mount.path == std::path::Path::new("/") {
                return Err(invalid(
                    "mounts",
                    format!(
                        "`{}` must be an absolute path below `/` without `.` or `..`",
                        mount.path.display()
                    ),
                ));
            }
        }
        for name in self.env.keys().chain(self.secret_env.keys()) {
            if name.is_empty()
                || name.as_bytes()[0].is_ascii_digit()
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(invalid(
                    "env",
                    format!("`{name}` is not a valid variable name (letters, digits, `_`)"),
                ));
            }
        }
        Ok(())
    }
}

/// Returns whether `id` is a usable workload id: 1–40 lower-case letters, digits or `-`,
/// not starting or ending with `-` (so it is safe as a file or cgroup name).
pub(crate) fn is_valid_workload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 40
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// The environment variable carrying the port allocated for `name`.
pub fn port_variable(name: &str) -> String {
    format!("PLINTH_PORT_{}", name.replace('-', "_").to_uppercase())
}

/// Identifies a submitted workload on its backend.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkloadHandle {
    /// The workload's id (the spec's).
    pub id: String,
    /// The ports allocated, by name (local: host ports on 127.0.0.1; Kubernetes: the
    /// Service's ports).
    pub ports: BTreeMap<String, u16>,
}

/// A workload's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WorkloadStatus {
    /// Accepted but not running yet; the reason says what it waits for, in user words
    /// ("no node in pool gpu has a free GPU", "image cannot be pulled").
    Pending {
        /// Why it is not running.
        reason: String,
    },
    /// Running.
    Running {
        /// The process id (local backend).
        pid: Option<u32>,
    },
    /// Ended with exit code 0.
    Succeeded,
    /// Ended with a non-zero exit code or a signal.
    Failed {
        /// The exit code, when there is one.
        exit_code: Option<i32>,
        /// What happened, in words.
        reason: String,
    },
    /// Stopped on request.
    Stopped,
    /// The backend no longer knows what became of it (the server was down when it ended and
    /// it left no exit code, the node vanished, …).
    Lost {
        /// What is known.
        reason: String,
    },
}

impl WorkloadStatus {
    /// Returns whether the workload has ended (for good).
    pub fn is_finished(&self) -> bool {
        !matches!(
            self,
            WorkloadStatus::Running { .. } | WorkloadStatus::Pending { .. }
        )
    }

    /// The state's name: `pending`, `running`, `succeeded`, `failed`, `stopped`, `lost`.
    pub fn name(&self) -> &'static str {
        match self {
            WorkloadStatus::Pending { .. } => "pending",
            WorkloadStatus::Running { .. } => "running",
            WorkloadStatus::Succeeded => "succeeded",
            WorkloadStatus::Failed { .. } => "failed",
            WorkloadStatus::Stopped => "stopped",
            WorkloadStatus::Lost { .. } => "lost",
        }
    }
}

/// Which part of a workload's output to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep the stream open and send new output until the workload ends.
    pub follow: bool,
    /// Start this many bytes into the output (local backend; lets a client resume).
    pub from_offset: u64,
    /// Only the last this many lines (before following).
    pub tail_lines: Option<u32>,
}

/// How the backend enforces limits and which accelerators it has; shown on the status page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// `kubernetes`, `cgroups v2`, `rlimits` or `none`, with a word on why.
    pub limits: String,
    /// GPUs this backend can hand out (local: detected NVIDIA devices).
    pub gpus: Vec<Gpu>,
    /// How workloads are kept from the platform and from each other.
    pub isolation: Isolation,
}

/// How workloads are kept from the platform's files, processes and secrets and from each
/// other, mechanism by mechanism.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// How strong the whole is.
    pub level: IsolationLevel,
    /// One sentence for people.
    pub summary: String,
    /// Each mechanism, whether it holds here, and what it does.
    pub mechanisms: Vec<Mechanism>,
}

/// How strong a backend's isolation of workloads is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationLevel {
    /// Every mechanism holds: own identity, file system view and processes.
    Full,
    /// Some hold; what is missing is named.
    Partial,
    /// Workloads run with the server's rights.
    #[default]
    None,
}

/// One isolation mechanism.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mechanism {
    /// `identity`, `filesystem`, `processes`, `privileges`, `network`, `container`.
    pub name: String,
    /// Whether it holds on this backend.
    pub active: bool,
    /// What it does, or why it does not hold.
    pub detail: String,
}

/// One GPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    /// Its index, as `CUDA_VISIBLE_DEVICES` names it.
    pub index: u32,
    /// Its model name.
    pub name: String,
}
