//! The runtime part of the metadata store: node pools, resource classes, project quotas,
//! workloads (the desired and observed state the reconciler works from) and the usage
//! ledger.

use async_trait::async_trait;
use plinth_types::{
    App, NodePool, ProjectQuota, ProjectUsageNow, ResourceClass, UsageRecord, Workload,
    WorkloadCommand, WorkloadEndpoint, WorkloadKind, WorkloadState,
};

use crate::StoreResult;

/// A workload to record.
#[derive(Clone, Debug)]
pub struct NewWorkload {
    /// Its id (also the backend's).
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Job, workspace or deployment.
    pub kind: WorkloadKind,
    /// A name for listings.
    pub name: String,
    /// The class, with its sizes copied (a later edit of the class does not change it).
    pub class: ResourceClass,
    /// What it runs.
    pub spec: WorkloadCommand,
    /// `queued` (batch work waiting for quota) or `starting` (admitted at once).
    pub state: WorkloadState,
    /// Why it is queued, if it is.
    pub reason: String,
    /// Who submits it.
    pub created_by: plinth_types::UserId,
    /// The workload it re-runs.
    pub rerun_of: Option<String>,
    /// The backend that will run it.
    pub backend: String,
    /// Submission time.
    pub created_at_ms: i64,
}

/// A change of a workload's observed state.
#[derive(Clone, Debug)]
pub struct WorkloadTransition {
    /// The new state.
    pub state: WorkloadState,
    /// Why, in words ("" when there is nothing to say).
    pub reason: String,
    /// The exit code, once ended.
    pub exit_code: Option<i32>,
    /// When the change was observed.
    pub at_ms: i64,
}

/// Which workloads to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct WorkloadQuery {
    /// Only these projects (`None`: every project — for platform admins and the reconciler).
    pub project_ids: Option<Vec<String>>,
    /// Only this kind.
    pub kind: Option<WorkloadKind>,
    /// Only these states.
    pub states: Vec<WorkloadState>,
    /// Keyset cursor: only workloads older than this `(created_at_ms, id)`.
    pub before: Option<(i64, String)>,
    /// Page size.
    pub limit: i64,
}

/// Usage to add to the ledger for one workload, one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageDelta {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Thousandths of a core × seconds.
    pub cpu_milli_seconds: i64,
    /// MiB × seconds.
    pub memory_mib_seconds: i64,
    /// GPUs × seconds.
    pub gpu_seconds: i64,
    /// Seconds.
    pub wall_seconds: i64,
}

/// Which part of the ledger to read.
#[derive(Clone, Debug, Default)]
pub struct UsageQuery {
    /// Only these projects (`None`: every project).
    pub project_ids: Option<Vec<String>>,
    /// First day, inclusive (`YYYY-MM-DD`).
    pub from_day: Option<String>,
    /// Last day, inclusive.
    pub to_day: Option<String>,
}

/// Stores the runtime's state.
#[async_trait]
pub trait RuntimeStore: Send + Sync {
    /// Every node pool, by name.
    async fn list_node_pools(&self) -> StoreResult<Vec<NodePool>>;

    /// One node pool; `NotFound` if there is none of that name.
    async fn get_node_pool(&self, name: &str) -> StoreResult<NodePool>;

    /// Creates or replaces a node pool.
    async fn put_node_pool(&self, pool: &NodePool) -> StoreResult<NodePool>;

    /// Deletes a node pool; `Conflict` while classes use it.
    async fn delete_node_pool(&self, name: &str) -> StoreResult<()>;

    /// Every resource class, by name.
    async fn list_resource_classes(&self) -> StoreResult<Vec<ResourceClass>>;

    /// One class; `NotFound` if there is none of that name.
    async fn get_resource_class(&self, name: &str) -> StoreResult<ResourceClass>;

    /// Creates or replaces a class; `NotFound` when its pool does not exist.
    async fn put_resource_class(&self, class: &ResourceClass) -> StoreResult<ResourceClass>;

    /// Deletes a class (workloads keep their copied sizes).
    async fn delete_resource_class(&self, name: &str) -> StoreResult<()>;

    /// A project's quota; all `None` (unlimited) when none was set.
    async fn get_project_quota(&self, project_id: &str) -> StoreResult<ProjectQuota>;

    /// Sets a project's quota.
    async fn set_project_quota(
        &self,
        project_id: &str,
        quota: &ProjectQuota,
        now_ms: i64,
    ) -> StoreResult<()>;

    /// What a project's admitted, unfinished workloads hold, and how many wait.
    async fn project_usage_now(&self, project_id: &str) -> StoreResult<ProjectUsageNow>;

    /// Records a new workload.
    async fn create_workload(&self, workload: &NewWorkload) -> StoreResult<Workload>;

    /// One workload; `NotFound` if unknown.
    async fn get_workload(&self, id: &str) -> StoreResult<Workload>;

    /// Deletes a workload that never reached the backend (its start failed).
    async fn delete_workload(&self, id: &str) -> StoreResult<()>;

    /// Workloads, newest first, keyset-paged.
    async fn list_workloads(&self, query: &WorkloadQuery) -> StoreResult<Vec<Workload>>;

    /// Every unfinished workload of every project, oldest first: the reconciler's work list.
    async fn list_active_workloads(&self) -> StoreResult<Vec<Workload>>;

    /// Moves a workload to a new state. A finished workload never changes again: returns
    /// `None` (and changes nothing) when it already ended. Sets `started_at_ms` on the first
    /// move to `running`, `finished_at_ms` on a move to a finished state.
    async fn transition_workload(
        &self,
        id: &str,
        transition: &WorkloadTransition,
    ) -> StoreResult<Option<Workload>>;

    /// Updates the reason of a queued or pending workload without changing its state.
    async fn set_workload_reason(&self, id: &str, reason: &str) -> StoreResult<()>;

    /// Marks that a stop was requested; returns the workload.
    async fn request_workload_stop(&self, id: &str) -> StoreResult<Workload>;

    /// Records the id of the API token injected into the workload (to revoke when it
    /// ends); `None` clears it.
    async fn set_workload_token(&self, id: &str, token_id: Option<&str>) -> StoreResult<()>;

    /// The id of the API token injected into the workload, if any.
    async fn workload_token(&self, id: &str) -> StoreResult<Option<String>>;

    /// The workload of the project holding the API token `token_id`, if any (a run created
    /// with a job's token records the job).
    async fn workload_for_token(
        &self,
        project_id: &str,
        token_id: &str,
    ) -> StoreResult<Option<String>>;

    /// Adds usage to the ledger and moves the workload's `accounted_until_ms` to `until_ms`,
    /// in one transaction, so no interval is ever counted twice or lost.
    async fn accrue_usage(
        &self,
        workload: &Workload,
        until_ms: i64,
        deltas: &[UsageDelta],
    ) -> StoreResult<()>;

    /// The ledger, by day, project, user and class.
    async fn usage_report(&self, query: &UsageQuery) -> StoreResult<Vec<UsageRecord>>;

    /// Replaces where the replicas of server workload `workload_id` listen.
    async fn set_workload_endpoints(
        &self,
        workload_id: &str,
        endpoints: &[WorkloadEndpoint],
    ) -> StoreResult<()>;

    /// Where the replicas of workload `workload_id` listen, by replica (empty when none
    /// was recorded).
    async fn workload_endpoints(&self, workload_id: &str) -> StoreResult<Vec<WorkloadEndpoint>>;

    /// Records an App, or points an existing one of the same project and name at its new
    /// workload; a host label another App holds is `AlreadyExists`.
    async fn put_app(&self, app: &App) -> StoreResult<App>;

    /// One App of a project.
    async fn get_app(&self, project_id: &str, name: &str) -> StoreResult<App>;

    /// The App served under `host_label` (`{app}--{project}--{organization}`).
    async fn get_app_by_host(&self, host_label: &str) -> StoreResult<App>;

    /// A project's Apps, by name.
    async fn list_apps(&self, project_id: &str) -> StoreResult<Vec<App>>;
}
