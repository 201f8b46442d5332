//! The workload runtime's domain service: node pools and resource classes (admins), project
//! quotas, jobs (submit, queue, stop, logs, re-run), working-file snapshots, the usage
//! ledger, and the reconciler that drives the executor toward the desired state kept in
//! the metadata store.
//!
//! Desired state lives in the `workloads` table; the executor only runs things. After a
//! restart the reconciler asks the executor about every unfinished workload: running ones
//! are adopted, finished ones recorded, unknown ones marked lost with a reason.

mod admin;
mod apps;
mod jobs;
mod reconcile;
mod snapshot;
mod usage;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plinth_artifacts::ArtifactStore;
use plinth_executor::Executor;
use plinth_metastore::MetadataStore;

pub use apps::{validate_app_name, AppRoute, AppsOrigin, APP_PORT, APP_VISITOR_ROLE};
pub use jobs::{CustomSize, JobRequest, JobView, LogStream};
pub use reconcile::ReconcileReport;
pub use snapshot::SnapshotInfo;
pub use usage::{split_by_day, usage_csv, UsageFilter};

use crate::{Clock, CoreError, CoreResult, IdentityService};

/// How the runtime behaves; from the `[runtime]` configuration.
#[derive(Clone, Debug)]
pub struct RuntimeSettings {
    /// The URL workloads reach the server at (`MLFLOW_TRACKING_URI`, `PLINTH_URL`).
    pub public_url: String,
    /// Where Apps are served, each on an origin of its own.
    pub apps_origin: AppsOrigin,
    /// Where the local backend's working folders are materialized.
    pub work_root: PathBuf,
    /// Longest life of a workload's token.
    pub workload_token_lifetime: Duration,
    /// Largest snapshot accepted, bytes.
    pub max_snapshot_bytes: u64,
    /// Between SIGTERM and SIGKILL on stop.
    pub stop_grace_period: Duration,
    /// Usage is written to the ledger at least this often for running workloads.
    pub usage_interval: Duration,
    /// What happens when the backend cannot fully sandbox workloads.
    pub when_unsandboxed: WhenUnsandboxed,
}

/// What happens when the backend cannot fully sandbox workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenUnsandboxed {
    /// Refuse while the platform has more than one user account, else warn.
    Auto,
    /// Refuse to run workloads.
    Refuse,
    /// Run them; every job page carries a warning.
    Warn,
}

impl RuntimeSettings {
    /// Settings for tests and small installs: everything under `work_root`.
    pub fn new(public_url: impl Into<String>, work_root: impl Into<PathBuf>) -> Self {
        let public_url = public_url.into();
        // `*.localhost` on the same scheme and port as the server itself.
        let apps_origin = AppsOrigin::parse(&public_url)
            .map(|origin| AppsOrigin::localhost(&origin.scheme, origin.port))
            .unwrap_or_else(|_| AppsOrigin::localhost("http", None));
        RuntimeSettings {
            apps_origin,
            public_url,
            work_root: work_root.into(),
            workload_token_lifetime: Duration::from_secs(24 * 3600),
            max_snapshot_bytes: 512 * 1024 * 1024,
            stop_grace_period: Duration::from_secs(10),
            usage_interval: Duration::from_secs(60),
            when_unsandboxed: WhenUnsandboxed::Warn,
        }
    }
}

/// Jobs, quotas, pools, classes and usage.
#[derive(Clone)]
pub struct RuntimeService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn MetadataStore>,
    identity: IdentityService,
    executor: Arc<dyn Executor>,
    objects: ArtifactStore,
    settings: RuntimeSettings,
    clock: Arc<dyn Clock>,
    /// Serializes admission decisions (request path and reconciler), so two submissions
    /// cannot both take the last free share of a quota.
    admission: tokio::sync::Mutex<()>,
    /// Workloads being handed to the executor by this process right now; the reconciler
    /// leaves them alone.
    launching: Mutex<HashSet<String>>,
    /// Workloads this process is stopping right now.
    stopping: Mutex<HashSet<String>>,
    /// Wakes the reconciler early (a job was queued, a stop requested).
    wake: tokio::sync::Notify,
    /// Prepares the environments workloads run in (`plinth-envs`), once set.
    environments: std::sync::OnceLock<Arc<dyn EnvironmentProvider>>,
}

/// Prepares the environment a workload runs in: resolves and builds it when needed and
/// says what the workload needs (paths, variables). Implemented by `plinth-envs`, which
/// depends on this crate; the runtime holds it as a trait object.
#[async_trait::async_trait]
pub trait EnvironmentProvider: Send + Sync + 'static {
    /// Returns what a workload of `pass`'s project needs to run in `reference`
    /// (`NAME` or `NAME:VERSION`), or in the default environment when `None` (`Ok(None)`:
    /// there is none). The caller has authorized the submission.
    async fn prepare(
        &self,
        pass: &crate::ProjectPass,
        reference: Option<&str>,
    ) -> CoreResult<Option<plinth_types::WorkloadEnvironment>>;
}

impl std::fmt::Debug for RuntimeService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RuntimeService")
            .field("backend", &self.inner.executor.backend())
            .finish_non_exhaustive()
    }
}

impl RuntimeService {
    /// Returns the service. Start [`RuntimeService::run_reconciler`] next to it.
    pub fn new(
        store: Arc<dyn MetadataStore>,
        identity: IdentityService,
        executor: Arc<dyn Executor>,
        objects: ArtifactStore,
        settings: RuntimeSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RuntimeService {
            inner: Arc::new(Inner {
                store,
                identity,
                executor,
                objects,
                settings,
                clock,
                admission: tokio::sync::Mutex::new(()),
                launching: Mutex::new(HashSet::new()),
                stopping: Mutex::new(HashSet::new()),
                wake: tokio::sync::Notify::new(),
                environments: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Lets jobs run in environments: `provider` prepares them at submission. Set once,
    /// at startup; later calls are ignored.
    pub fn set_environments(&self, provider: Arc<dyn EnvironmentProvider>) {
        let _ = self.inner.environments.set(provider);
    }

    /// The executor's backend name (`local`, `kubernetes`).
    pub fn backend(&self) -> &'static str {
        self.inner.executor.backend()
    }

    /// How the backend enforces limits and which GPUs it has.
    pub fn capabilities(&self) -> plinth_executor::Capabilities {
        self.inner.executor.capabilities()
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Refuses new workloads when the backend cannot fully sandbox them and the policy
    /// (`runtime.local.when_unsandboxed`) says so.
    pub(crate) async fn check_isolation(&self) -> CoreResult<()> {
        let isolation = self.capabilities().isolation;
        if isolation.level == plinth_executor::IsolationLevel::Full {
            return Ok(());
        }
        let refuse = match self.inner.settings.when_unsandboxed {
            WhenUnsandboxed::Refuse => true,
            WhenUnsandboxed::Warn => false,
            WhenUnsandboxed::Auto => self.inner.store.count_users().await? > 1,
        };
        if refuse {
            return Err(CoreError::Unavailable(format!(
                "workloads are refused: {}. With more than one user on the platform, a job could read other projects' data. `plinth sandbox check` on the server shows what is missing; an admin can run workloads anyway with runtime.local.when_unsandboxed = \"warn\"",
                isolation.summary
            )));
        }
        Ok(())
    }
}

/// Formats thousandths of a core for people: `1`, `1.5`, `0.25`.
pub fn format_cpu(cpu_millis: u64) -> String {
    let whole = cpu_millis / 1000;
    let rest = cpu_millis % 1000;
    if rest == 0 {
        whole.to_string()
    } else {
        let fraction = format!("{rest:03}");
        format!("{whole}.{}", fraction.trim_end_matches('0'))
    }
}

/// Formats bytes for people in binary units: `2 GiB`, `512 MiB`, `1.5 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if (value - value.round()).abs() < 0.05 {
        format!("{} {}", value.round(), UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests;
