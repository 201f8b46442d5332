//! Bodies and queries of the workload runtime's API: `/api/v1/runtime`, `/api/v1/pools`,
//! `/api/v1/classes`, `/api/v1/usage`, and per project `…/quota`, `…/usage` and `…/jobs`.
//! Jobs themselves (`JobRequest`, `JobView`) and snapshots (`SnapshotInfo`) are domain
//! types the runtime service takes and returns: they live in `plinth-types`.

use std::collections::BTreeMap;

use plinth_types::{JobView, PoolTaint, ProjectQuota, ProjectUsageNow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The runtime's backend and what it can do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuntimeInfo {
    /// `local` or `kubernetes`.
    pub backend: String,
    /// How per-class limits are enforced, in words.
    pub limits: String,
    /// GPUs the backend can hand out (local: those detected on this machine).
    pub gpus: Vec<GpuInfo>,
    /// How workloads are kept from the platform and from each other.
    pub isolation: IsolationInfo,
}

/// How workloads are kept from the platform's files, processes and secrets and from each
/// other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IsolationInfo {
    /// `full`, `partial` or `none`.
    pub level: String,
    /// One sentence.
    pub summary: String,
    /// Each mechanism and whether it holds.
    pub mechanisms: Vec<MechanismInfo>,
}

/// One isolation mechanism.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MechanismInfo {
    /// `identity`, `filesystem`, `processes`, `privileges`, `container`, `network`, `sandbox`.
    pub name: String,
    /// Whether it holds here.
    pub active: bool,
    /// What it does, or why it does not hold.
    pub detail: String,
}

/// One GPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GpuInfo {
    /// Its index.
    pub index: u32,
    /// Its model.
    pub name: String,
}

/// A node pool to create or replace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolRequest {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Labels the pool's nodes carry.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pool's nodes carry.
    #[serde(default)]
    pub taints: Vec<PoolTaint>,
}

/// A resource class to create or replace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassRequest {
    /// The pool its workloads run on.
    pub pool: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// CPU in thousandths of a core (`1500` = 1.5 cores).
    pub cpu_millis: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Whole GPUs.
    #[serde(default)]
    pub gpus: u32,
}

/// A project's quota and what it uses now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotaView {
    /// The limits (`null` = unlimited).
    pub quota: ProjectQuota,
    /// What admitted, unfinished workloads hold now, and how many jobs wait.
    pub usage: ProjectUsageNow,
}

/// Which part of the usage ledger to read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// First day, inclusive (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// Which jobs to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JobListQuery {
    /// Only jobs in these states, comma-separated (`queued,running`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Continue after this cursor (the `next` of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many (1–500, default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// A page of jobs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    /// Newest first.
    pub jobs: Vec<JobView>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

/// Which part of a job's output to read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Keep the response open and send output as it comes, until the job ends.
    #[serde(default)]
    pub follow: bool,
    /// Start this many bytes into the output (to resume).
    #[serde(default)]
    pub offset: u64,
    /// Only the last this many lines (before following).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<u32>,
}
