//! The SQL of [`RuntimeStore`](crate::RuntimeStore), written once for SQLite and
//! PostgreSQL, and the row types it decodes.

use plinth_types::{
    NodePool, PoolTaint, ResourceClass, UsageRecord, Workload, WorkloadCommand, WorkloadKind,
    WorkloadState,
};

use crate::{StoreError, StoreResult};

pub(crate) const WORKLOAD_COLUMNS: &str =
    "w.id, w.project_id, w.kind, w.name, w.class, w.pool, w.cpu_millis, w.memory_bytes, w.gpus, \
     w.spec, w.state, w.reason, w.exit_code, w.stop_requested, w.created_by, \
     u.username AS created_by_username, w.rerun_of, w.backend, w.created_at_ms, \
     w.started_at_ms, w.finished_at_ms, w.accounted_until_ms";

pub(crate) const WORKLOAD_FROM: &str = "FROM workloads w JOIN users u ON u.id = w.created_by";

/// The states a workload can still leave, as an SQL list.
pub(crate) const ACTIVE_STATES: &str = "('queued', 'starting', 'pending', 'running')";

pub(crate) const APP_COLUMNS: &str =
    "project_id, name, host_label, workload_id, public, health_path, created_by, created_at_ms";

#[derive(sqlx::FromRow)]
pub(crate) struct EndpointRow {
    replica: i64,
    host: String,
    port: i64,
}

impl TryFrom<EndpointRow> for plinth_types::WorkloadEndpoint {
    type Error = StoreError;

    fn try_from(row: EndpointRow) -> StoreResult<Self> {
        Ok(plinth_types::WorkloadEndpoint {
            replica: to_u32(row.replica, "endpoint replica")?,
            port: u16::try_from(row.port).map_err(|_| corrupt("endpoint port", row.port))?,
            host: row.host,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AppRow {
    project_id: String,
    name: String,
    host_label: String,
    workload_id: String,
    public: bool,
    health_path: String,
    created_by: String,
    created_at_ms: i64,
}

impl From<AppRow> for plinth_types::App {
    fn from(row: AppRow) -> Self {
        plinth_types::App {
            project_id: row.project_id,
            name: row.name,
            host_label: row.host_label,
            workload_id: row.workload_id,
            public: row.public,
            health_path: row.health_path,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
        }
    }
}

pub(crate) const POOL_COLUMNS: &str = "name, description, node_selector, taints, updated_at_ms";

pub(crate) const CLASS_COLUMNS: &str =
    "name, pool, description, cpu_millis, memory_bytes, gpus, updated_at_ms";

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} cannot be read: {detail}").into())
}

fn to_u32(value: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(what, format!("{value} is out of range")))
}

fn to_u64(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| corrupt(what, format!("{value} is out of range")))
}

/// Converts an unsigned size into the signed integer the databases store.
pub(crate) fn to_i64(value: u64, field: &'static str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::InvalidArgument {
        field,
        reason: format!("{value} is too large"),
    })
}

#[derive(sqlx::FromRow)]
pub(crate) struct PoolRow {
    name: String,
    description: String,
    node_selector: String,
    taints: String,
    updated_at_ms: i64,
}

impl TryFrom<PoolRow> for NodePool {
    type Error = StoreError;

    fn try_from(row: PoolRow) -> StoreResult<Self> {
        Ok(NodePool {
            node_selector: serde_json::from_str(&row.node_selector)
                .map_err(|error| corrupt("node selector", error))?,
            taints: serde_json::from_str::<Vec<PoolTaint>>(&row.taints)
                .map_err(|error| corrupt("taints", error))?,
            name: row.name,
            description: row.description,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClassRow {
    name: String,
    pool: String,
    description: String,
    cpu_millis: i64,
    memory_bytes: i64,
    gpus: i64,
    updated_at_ms: i64,
}

impl TryFrom<ClassRow> for ResourceClass {
    type Error = StoreError;

    fn try_from(row: ClassRow) -> StoreResult<Self> {
        Ok(ResourceClass {
            cpu_millis: to_u32(row.cpu_millis, "cpu")?,
            memory_bytes: to_u64(row.memory_bytes, "memory")?,
            gpus: to_u32(row.gpus, "gpus")?,
            name: row.name,
            pool: row.pool,
            description: row.description,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WorkloadRow {
    id: String,
    project_id: String,
    kind: String,
    name: String,
    class: String,
    pool: String,
    cpu_millis: i64,
    memory_bytes: i64,
    gpus: i64,
    spec: String,
    state: String,
    reason: String,
    exit_code: Option<i64>,
    stop_requested: bool,
    created_by: String,
    created_by_username: String,
    rerun_of: Option<String>,
    backend: String,
    created_at_ms: i64,
    started_at_ms: Option<i64>,
    finished_at_ms: Option<i64>,
    accounted_until_ms: Option<i64>,
}

impl TryFrom<WorkloadRow> for Workload {
    type Error = StoreError;

    fn try_from(row: WorkloadRow) -> StoreResult<Self> {
        Ok(Workload {
            kind: WorkloadKind::parse(&row.kind).ok_or_else(|| corrupt("kind", &row.kind))?,
            state: WorkloadState::parse(&row.state).ok_or_else(|| corrupt("state", &row.state))?,
            spec: serde_json::from_str::<WorkloadCommand>(&row.spec)
                .map_err(|error| corrupt("workload spec", error))?,
            cpu_millis: to_u32(row.cpu_millis, "cpu")?,
            memory_bytes: to_u64(row.memory_bytes, "memory")?,
            gpus: to_u32(row.gpus, "gpus")?,
            exit_code: row
                .exit_code
                .map(|code| i32::try_from(code).map_err(|_| corrupt("exit code", code)))
                .transpose()?,
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            class: row.class,
            pool: row.pool,
            reason: row.reason,
            stop_requested: row.stop_requested,
            created_by: row.created_by,
            created_by_username: row.created_by_username,
            rerun_of: row.rerun_of,
            backend: row.backend,
            created_at_ms: row.created_at_ms,
            started_at_ms: row.started_at_ms,
            finished_at_ms: row.finished_at_ms,
            accounted_until_ms: row.accounted_until_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UsageRow {
    day: String,
    project_id: String,
    user_id: String,
    username: String,
    class: String,
    cpu_milli_seconds: i64,
    memory_mib_seconds: i64,
    gpu_seconds: i64,
    wall_seconds: i64,
}

impl From<UsageRow> for UsageRecord {
    fn from(row: UsageRow) -> Self {
        const HOUR: f64 = 3600.0;
        UsageRecord {
            day: row.day,
            project_id: row.project_id,
            user_id: row.user_id,
            username: row.username,
            class: row.class,
            cpu_hours: row.cpu_milli_seconds as f64 / 1000.0 / HOUR,
            memory_gib_hours: row.memory_mib_seconds as f64 / 1024.0 / HOUR,
            gpu_hours: row.gpu_seconds as f64 / HOUR,
            wall_hours: row.wall_seconds as f64 / HOUR,
        }
    }
}

/// Checks a pool or class name: 1–40 of `a-z 0-9 -`, starting with a letter.
pub(crate) fn validate_runtime_name(field: &'static str, name: &str) -> StoreResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 40
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(StoreError::InvalidArgument {
            field,
            reason: format!(
                "`{}` must be 1–40 lower-case letters, digits or `-`, starting with a letter",
                name.escape_debug()
            ),
        });
    }
    Ok(())
}

pub(crate) fn json(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|error| StoreError::Backend(Box::new(error)))
}

/// Implements [`RuntimeStore`](crate::RuntimeStore) for `$store` (a struct with a sqlx
/// `pool` field of database `$db`) with SQL both backends accept.
macro_rules! impl_runtime_queries {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::RuntimeStore for $store {
            async fn list_node_pools(&self) -> $crate::StoreResult<Vec<plinth_types::NodePool>> {
                let sql = format!(
                    "SELECT {} FROM node_pools ORDER BY name",
                    $crate::runtime_sql::POOL_COLUMNS
                );
                let rows: Vec<$crate::runtime_sql::PoolRow> =
                    sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn get_node_pool(&self, name: &str) -> $crate::StoreResult<plinth_types::NodePool> {
                let sql = format!(
                    "SELECT {} FROM node_pools WHERE name = $1",
                    $crate::runtime_sql::POOL_COLUMNS
                );
                let row: Option<$crate::runtime_sql::PoolRow> =
                    sqlx::query_as(&sql).bind(name).fetch_optional(&self.pool).await?;
                row.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "node pool",
                    id: name.to_string(),
                })?
                .try_into()
            }

            async fn put_node_pool(
                &self,
                pool: &plinth_types::NodePool,
            ) -> $crate::StoreResult<plinth_types::NodePool> {
                $crate::runtime_sql::validate_runtime_name("name", &pool.name)?;
                sqlx::query(
                    "INSERT INTO node_pools (name, description, node_selector, taints, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
                     node_selector = excluded.node_selector, taints = excluded.taints, \
                     updated_at_ms = excluded.updated_at_ms",
                )
                .bind(&pool.name)
                .bind(&pool.description)
                .bind($crate::runtime_sql::json(&pool.node_selector)?)
                .bind($crate::runtime_sql::json(&pool.taints)?)
                .bind(pool.updated_at_ms)
                .execute(&self.pool)
                .await?;
                self.get_node_pool(&pool.name).await
            }

            async fn delete_node_pool(&self, name: &str) -> $crate::StoreResult<()> {
                let users: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM resource_classes WHERE pool = $1 ORDER BY name")
                        .bind(name)
                        .fetch_all(&self.pool)
                        .await?;
                if !users.is_empty() {
                    return Err($crate::StoreError::Conflict(format!(
                        "node pool `{name}` is used by the classes {}; move or delete them first",
                        users.join(", ")
                    )));
                }
                let result = sqlx::query("DELETE FROM node_pools WHERE name = $1")
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                $crate::identity_sql::found(result.rows_affected(), "node pool", name)
            }

            async fn list_resource_classes(
                &self,
            ) -> $crate::StoreResult<Vec<plinth_types::ResourceClass>> {
                let sql = format!(
                    "SELECT {} FROM resource_classes ORDER BY gpus, cpu_millis, memory_bytes, name",
                    $crate::runtime_sql::CLASS_COLUMNS
                );
                let rows: Vec<$crate::runtime_sql::ClassRow> =
                    sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn get_resource_class(
                &self,
                name: &str,
            ) -> $crate::StoreResult<plinth_types::ResourceClass> {
                let sql = format!(
                    "SELECT {} FROM resource_classes WHERE name = $1",
                    $crate::runtime_sql::CLASS_COLUMNS
                );
                let row: Option<$crate::runtime_sql::ClassRow> =
                    sqlx::query_as(&sql).bind(name).fetch_optional(&self.pool).await?;
                row.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "resource class",
                    id: name.to_string(),
                })?
                .try_into()
            }

            async fn put_resource_class(
                &self,
                class: &plinth_types::ResourceClass,
            ) -> $crate::StoreResult<plinth_types::ResourceClass> {
                $crate::runtime_sql::validate_runtime_name("name", &class.name)?;
                if class.cpu_millis == 0 {
                    return Err($crate::StoreError::InvalidArgument {
                        field: "cpu_millis",
                        reason: "must be more than 0".to_string(),
                    });
                }
                if class.memory_bytes == 0 {
                    return Err($crate::StoreError::InvalidArgument {
                        field: "memory_bytes",
                        reason: "must be more than 0".to_string(),
                    });
                }
                self.get_node_pool(&class.pool).await?;
                sqlx::query(
                    "INSERT INTO resource_classes (name, pool, description, cpu_millis, memory_bytes, gpus, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (name) DO UPDATE SET pool = excluded.pool, description = excluded.description, \
                     cpu_millis = excluded.cpu_millis, memory_bytes = excluded.memory_bytes, gpus = excluded.gpus, \
                     updated_at_ms = excluded.updated_at_ms",
                )
                .bind(&class.name)
                .bind(&class.pool)
                .bind(&class.description)
                .bind(i64::from(class.cpu_millis))
                .bind($crate::runtime_sql::to_i64(class.memory_bytes, "memory_bytes")?)
                .bind(i64::from(class.gpus))
                .bind(class.updated_at_ms)
                .execute(&self.pool)
                .await?;
                self.get_resource_class(&class.name).await
            }

            async fn delete_resource_class(&self, name: &str) -> $crate::StoreResult<()> {
                let result = sqlx::query("DELETE FROM resource_classes WHERE name = $1")
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                $crate::identity_sql::found(result.rows_affected(), "resource class", name)
            }

            async fn get_project_quota(
                &self,
                project_id: &str,
            ) -> $crate::StoreResult<plinth_types::ProjectQuota> {
                #[allow(clippy::type_complexity)]
                let row: Option<(Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>, bool)> =
                    sqlx::query_as(
                        "SELECT cpu_millis, memory_bytes, gpus, max_jobs, max_workspaces, max_deployments, \
                         allow_custom_sizes FROM project_quotas WHERE project_id = $1",
                    )
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some((cpu, memory, gpus, jobs, workspaces, deployments, custom)) = row else {
                    return Ok(plinth_types::ProjectQuota::default());
                };
                let small = |value: Option<i64>| value.map(|value| u32::try_from(value).unwrap_or(u32::MAX));
                let large = |value: Option<i64>| value.map(|value| u64::try_from(value).unwrap_or(0));
                Ok(plinth_types::ProjectQuota {
                    cpu_millis: large(cpu),
                    memory_bytes: large(memory),
                    gpus: small(gpus),
                    max_jobs: small(jobs),
                    max_workspaces: small(workspaces),
                    max_deployments: small(deployments),
                    allow_custom_sizes: custom,
                })
            }

            async fn set_project_quota(
                &self,
                project_id: &str,
                quota: &plinth_types::ProjectQuota,
                now_ms: i64,
            ) -> $crate::StoreResult<()> {
                let large = |value: Option<u64>, field: &'static str| {
                    value.map(|value| $crate::runtime_sql::to_i64(value, field)).transpose()
                };
                sqlx::query(
                    "INSERT INTO project_quotas (project_id, cpu_millis, memory_bytes, gpus, max_jobs, \
                     max_workspaces, max_deployments, allow_custom_sizes, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (project_id) DO UPDATE SET cpu_millis = excluded.cpu_millis, \
                     memory_bytes = excluded.memory_bytes, gpus = excluded.gpus, max_jobs = excluded.max_jobs, \
                     max_workspaces = excluded.max_workspaces, max_deployments = excluded.max_deployments, \
                     allow_custom_sizes = excluded.allow_custom_sizes, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(project_id)
                .bind(large(quota.cpu_millis, "cpu_millis")?)
                .bind(large(quota.memory_bytes, "memory_bytes")?)
                .bind(quota.gpus.map(i64::from))
                .bind(quota.max_jobs.map(i64::from))
                .bind(quota.max_workspaces.map(i64::from))
                .bind(quota.max_deployments.map(i64::from))
                .bind(quota.allow_custom_sizes)
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(|error| $crate::identity_sql::unique_violation(error, &[("project", "project", project_id)]))?;
                Ok(())
            }

            async fn project_usage_now(
                &self,
                project_id: &str,
            ) -> $crate::StoreResult<plinth_types::ProjectUsageNow> {
                let held = "state IN ('starting', 'pending', 'running')";
                let sql = format!(
                    "SELECT \
                     CAST(COALESCE(SUM(CASE WHEN {held} THEN cpu_millis ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN {held} THEN memory_bytes ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN {held} THEN gpus ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN {held} AND kind = 'job' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN {held} AND kind = 'workspace' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN {held} AND kind = 'deployment' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT) \
                     FROM workloads WHERE project_id = $1 AND state IN {}",
                    $crate::runtime_sql::ACTIVE_STATES
                );
                let (cpu, memory, gpus, jobs, workspaces, deployments, queued): (i64, i64, i64, i64, i64, i64, i64) =
                    sqlx::query_as(&sql).bind(project_id).fetch_one(&self.pool).await?;
                let count = |value: i64| u32::try_from(value).unwrap_or(u32::MAX);
                Ok(plinth_types::ProjectUsageNow {
                    cpu_millis: u64::try_from(cpu).unwrap_or(0),
                    memory_bytes: u64::try_from(memory).unwrap_or(0),
                    gpus: count(gpus),
                    jobs: count(jobs),
                    workspaces: count(workspaces),
                    deployments: count(deployments),
                    queued: count(queued),
                })
            }

            async fn create_workload(
                &self,
                workload: &$crate::NewWorkload,
            ) -> $crate::StoreResult<plinth_types::Workload> {
                sqlx::query(
                    "INSERT INTO workloads (id, project_id, kind, name, class, pool, cpu_millis, memory_bytes, \
                     gpus, spec, state, reason, created_by, rerun_of, backend, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(&workload.id)
                .bind(&workload.project_id)
                .bind(workload.kind.as_str())
                .bind(&workload.name)
                .bind(&workload.class.name)
                .bind(&workload.class.pool)
                .bind(i64::from(workload.class.cpu_millis))
                .bind($crate::runtime_sql::to_i64(workload.class.memory_bytes, "memory_bytes")?)
                .bind(i64::from(workload.class.gpus))
                .bind($crate::runtime_sql::json(&workload.spec)?)
                .bind(workload.state.as_str())
                .bind(&workload.reason)
                .bind(workload.created_by.as_str())
                .bind(&workload.rerun_of)
                .bind(&workload.backend)
                .bind(workload.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|error| $crate::identity_sql::unique_violation(error, &[("id", "workload", &workload.id)]))?;
                self.get_workload(&workload.id).await
            }

            async fn get_workload(&self, id: &str) -> $crate::StoreResult<plinth_types::Workload> {
                let sql = format!(
                    "SELECT {} {} WHERE w.id = $1",
                    $crate::runtime_sql::WORKLOAD_COLUMNS,
                    $crate::runtime_sql::WORKLOAD_FROM
                );
                let row: Option<$crate::runtime_sql::WorkloadRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?;
                row.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "workload",
                    id: id.to_string(),
                })?
                .try_into()
            }

            async fn delete_workload(&self, id: &str) -> $crate::StoreResult<()> {
                let result = sqlx::query("DELETE FROM workloads WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                $crate::identity_sql::found(result.rows_affected(), "workload", id)
            }

            async fn list_workloads(
                &self,
                query: &$crate::WorkloadQuery,
            ) -> $crate::StoreResult<Vec<plinth_types::Workload>> {
                let mut builder = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} {} WHERE 1 = 1",
                    $crate::runtime_sql::WORKLOAD_COLUMNS,
                    $crate::runtime_sql::WORKLOAD_FROM
                ));
                if let Some(projects) = &query.project_ids {
                    if projects.is_empty() {
                        return Ok(Vec::new());
                    }
                    builder.push(" AND w.project_id IN (");
                    let mut list = builder.separated(", ");
                    for project in projects {
                        list.push_bind(project.clone());
                    }
                    builder.push(")");
                }
                if let Some(kind) = query.kind {
                    builder.push(" AND w.kind = ").push_bind(kind.as_str());
                }
                if !query.states.is_empty() {
                    builder.push(" AND w.state IN (");
                    let mut list = builder.separated(", ");
                    for state in &query.states {
                        list.push_bind(state.as_str());
                    }
                    builder.push(")");
                }
                if let Some((created_at_ms, id)) = &query.before {
                    builder
                        .push(" AND (w.created_at_ms < ")
                        .push_bind(*created_at_ms)
                        .push(" OR (w.created_at_ms = ")
                        .push_bind(*created_at_ms)
                        .push(" AND w.id < ")
                        .push_bind(id.clone())
                        .push("))");
                }
                builder
                    .push(" ORDER BY w.created_at_ms DESC, w.id DESC LIMIT ")
                    .push_bind(query.limit.clamp(1, 1000));
                let rows: Vec<$crate::runtime_sql::WorkloadRow> =
                    builder.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn list_active_workloads(&self) -> $crate::StoreResult<Vec<plinth_types::Workload>> {
                let sql = format!(
                    "SELECT {} {} WHERE w.state IN {} ORDER BY w.created_at_ms, w.id",
                    $crate::runtime_sql::WORKLOAD_COLUMNS,
                    $crate::runtime_sql::WORKLOAD_FROM,
                    $crate::runtime_sql::ACTIVE_STATES
                );
                let rows: Vec<$crate::runtime_sql::WorkloadRow> =
                    sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn transition_workload(
                &self,
                id: &str,
                transition: &$crate::WorkloadTransition,
            ) -> $crate::StoreResult<Option<plinth_types::Workload>> {
                let state = transition.state.as_str();
                let result = sqlx::query(&format!(
                    "UPDATE workloads SET state = $2, reason = $3, exit_code = COALESCE($4, exit_code), \
                     started_at_ms = CASE WHEN $5 AND started_at_ms IS NULL THEN $6 ELSE started_at_ms END, \
                     finished_at_ms = CASE WHEN $7 THEN $6 ELSE finished_at_ms END \
                     WHERE id = $1 AND state IN {}",
                    $crate::runtime_sql::ACTIVE_STATES
                ))
                .bind(id)
                .bind(state)
                .bind(&transition.reason)
                .bind(transition.exit_code.map(i64::from))
                .bind(transition.state == plinth_types::WorkloadState::Running)
                .bind(transition.at_ms)
                .bind(transition.state.is_finished())
                .execute(&self.pool)
                .await?;
                let workload = self.get_workload(id).await?;
                Ok((result.rows_affected() > 0).then_some(workload))
            }

            async fn set_workload_reason(&self, id: &str, reason: &str) -> $crate::StoreResult<()> {
                let result = sqlx::query(&format!(
                    "UPDATE workloads SET reason = $2 WHERE id = $1 AND state IN {}",
                    $crate::runtime_sql::ACTIVE_STATES
                ))
                .bind(id)
                .bind(reason)
                .execute(&self.pool)
                .await?;
                if result.rows_affected() == 0 {
                    self.get_workload(id).await?;
                }
                Ok(())
            }

            async fn request_workload_stop(&self, id: &str) -> $crate::StoreResult<plinth_types::Workload> {
                let result = sqlx::query("UPDATE workloads SET stop_requested = TRUE WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                $crate::identity_sql::found(result.rows_affected(), "workload", id)?;
                self.get_workload(id).await
            }

            async fn set_workload_token(&self, id: &str, token_id: Option<&str>) -> $crate::StoreResult<()> {
                let result = sqlx::query("UPDATE workloads SET token_id = $2 WHERE id = $1")
                    .bind(id)
                    .bind(token_id)
                    .execute(&self.pool)
                    .await?;
                $crate::identity_sql::found(result.rows_affected(), "workload", id)
            }

            async fn workload_token(&self, id: &str) -> $crate::StoreResult<Option<String>> {
                let row: Option<Option<String>> =
                    sqlx::query_scalar("SELECT token_id FROM workloads WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                row.ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "workload",
                    id: id.to_string(),
                })
            }

            async fn workload_for_token(
                &self,
                project_id: &str,
                token_id: &str,
            ) -> $crate::StoreResult<Option<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT id FROM workloads WHERE token_id = $1 AND project_id = $2",
                )
                .bind(token_id)
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn accrue_usage(
                &self,
                workload: &plinth_types::Workload,
                until_ms: i64,
                deltas: &[$crate::UsageDelta],
            ) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin().await?;
                let moved = sqlx::query(
                    "UPDATE workloads SET accounted_until_ms = $2 WHERE id = $1 \
                     AND COALESCE(accounted_until_ms, -1) = COALESCE($3, -1)",
                )
                .bind(&workload.id)
                .bind(until_ms)
                .bind(workload.accounted_until_ms)
                .execute(&mut *transaction)
                .await?;
                if moved.rows_affected() == 0 {
                    // Someone accounted this interval already (or the workload is gone).
                    transaction.rollback().await?;
                    return Err($crate::StoreError::Conflict(format!(
                        "usage of workload `{}` was accounted concurrently; read it again",
                        workload.id
                    )));
                }
                for delta in deltas {
                    sqlx::query(
                        "INSERT INTO usage_daily (day, project_id, user_id, class, cpu_milli_seconds, \
                         memory_mib_seconds, gpu_seconds, wall_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (day, project_id, user_id, class) DO UPDATE SET \
                         cpu_milli_seconds = usage_daily.cpu_milli_seconds + excluded.cpu_milli_seconds, \
                         memory_mib_seconds = usage_daily.memory_mib_seconds + excluded.memory_mib_seconds, \
                         gpu_seconds = usage_daily.gpu_seconds + excluded.gpu_seconds, \
                         wall_seconds = usage_daily.wall_seconds + excluded.wall_seconds",
                    )
                    .bind(&delta.day)
                    .bind(&workload.project_id)
                    .bind(&workload.created_by)
                    .bind(&workload.class)
                    .bind(delta.cpu_milli_seconds)
                    .bind(delta.memory_mib_seconds)
                    .bind(delta.gpu_seconds)
                    .bind(delta.wall_seconds)
                    .execute(&mut *transaction)
                    .await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn usage_report(
                &self,
                query: &$crate::UsageQuery,
            ) -> $crate::StoreResult<Vec<plinth_types::UsageRecord>> {
                let mut builder = sqlx::QueryBuilder::<$db>::new(
                    "SELECT d.day, d.project_id, d.user_id, u.username, d.class, d.cpu_milli_seconds, \
                     d.memory_mib_seconds, d.gpu_seconds, d.wall_seconds \
                     FROM usage_daily d JOIN users u ON u.id = d.user_id WHERE 1 = 1",
                );
                if let Some(projects) = &query.project_ids {
                    if projects.is_empty() {
                        return Ok(Vec::new());
                    }
                    builder.push(" AND d.project_id IN (");
                    let mut list = builder.separated(", ");
                    for project in projects {
                        list.push_bind(project.clone());
                    }
                    builder.push(")");
                }
                if let Some(from) = &query.from_day {
                    builder.push(" AND d.day >= ").push_bind(from.clone());
                }
                if let Some(to) = &query.to_day {
                    builder.push(" AND d.day <= ").push_bind(to.clone());
                }
                builder.push(" ORDER BY d.day, d.project_id, u.username, d.class");
                let rows: Vec<$crate::runtime_sql::UsageRow> =
                    builder.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn set_workload_endpoints(
                &self,
                workload_id: &str,
                endpoints: &[plinth_types::WorkloadEndpoint],
            ) -> $crate::StoreResult<()> {
                let mut transaction = self.pool.begin().await?;
                sqlx::query("DELETE FROM workload_endpoints WHERE workload_id = $1")
                    .bind(workload_id)
                    .execute(&mut *transaction)
                    .await?;
                for endpoint in endpoints {
                    sqlx::query(
                        "INSERT INTO workload_endpoints (workload_id, replica, host, port) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(workload_id)
                    .bind(i64::from(endpoint.replica))
                    .bind(&endpoint.host)
                    .bind(i64::from(endpoint.port))
                    .execute(&mut *transaction)
                    .await
                    .map_err(|error| {
                        $crate::identity_sql::unique_violation(
                            error,
                            &[("replica", "endpoint", &endpoint.replica.to_string())],
                        )
                    })
                    .map_err(|error| match error {
                        $crate::StoreError::NotFound { .. } => $crate::StoreError::NotFound {
                            entity: "workload",
                            id: workload_id.to_string(),
                        },
                        other => other,
                    })?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn workload_endpoints(
                &self,
                workload_id: &str,
            ) -> $crate::StoreResult<Vec<plinth_types::WorkloadEndpoint>> {
                let rows: Vec<$crate::runtime_sql::EndpointRow> = sqlx::query_as(
                    "SELECT replica, host, port FROM workload_endpoints \
                     WHERE workload_id = $1 ORDER BY replica",
                )
                .bind(workload_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn put_app(&self, app: &plinth_types::App) -> $crate::StoreResult<plinth_types::App> {
                sqlx::query(
                    "INSERT INTO apps (project_id, name, host_label, workload_id, public, \
                     health_path, created_by, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (project_id, name) DO UPDATE SET \
                     host_label = excluded.host_label, workload_id = excluded.workload_id, \
                     public = excluded.public, health_path = excluded.health_path, \
                     created_by = excluded.created_by, created_at_ms = excluded.created_at_ms",
                )
                .bind(&app.project_id)
                .bind(&app.name)
                .bind(&app.host_label)
                .bind(&app.workload_id)
                .bind(app.public)
                .bind(&app.health_path)
                .bind(&app.created_by)
                .bind(app.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|error| {
                    $crate::identity_sql::unique_violation(
                        error,
                        &[("host_label", "app host", &app.host_label)],
                    )
                })?;
                self.get_app(&app.project_id, &app.name).await
            }

            async fn get_app(&self, project_id: &str, name: &str) -> $crate::StoreResult<plinth_types::App> {
                let row: Option<$crate::runtime_sql::AppRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM apps WHERE project_id = $1 AND name = $2",
                    $crate::runtime_sql::APP_COLUMNS
                ))
                .bind(project_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                row.map(Into::into).ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "app",
                    id: name.to_string(),
                })
            }

            async fn get_app_by_host(&self, host_label: &str) -> $crate::StoreResult<plinth_types::App> {
                let row: Option<$crate::runtime_sql::AppRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM apps WHERE host_label = $1",
                    $crate::runtime_sql::APP_COLUMNS
                ))
                .bind(host_label)
                .fetch_optional(&self.pool)
                .await?;
                row.map(Into::into).ok_or_else(|| $crate::StoreError::NotFound {
                    entity: "app",
                    id: host_label.to_string(),
                })
            }

            async fn list_apps(&self, project_id: &str) -> $crate::StoreResult<Vec<plinth_types::App>> {
                let rows: Vec<$crate::runtime_sql::AppRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM apps WHERE project_id = $1 ORDER BY name",
                    $crate::runtime_sql::APP_COLUMNS
                ))
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}

pub(crate) use impl_runtime_queries;
